//! Routers from route tables: every route behind its layers, the OpenAPI documents built
//! from the same tables.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;

use crate::http::handlers::operations;
use crate::http::layers;
use crate::http::openapi;
use crate::http::routes::{self, Kind, Route};
use crate::http::session::Desk;
use crate::http::state::{AppState, Documents, Limits};

/// Both OpenAPI documents, from the route tables.
pub(crate) fn documents(public: &[Route], admin: &[Route]) -> Documents {
    Documents {
        public: openapi::public_document(&routes::described(public)).to_string(),
        admin: openapi::admin_document(&routes::described(admin)).to_string(),
    }
}

/// A router from a route table (of the listener whose pages are `desk`): every route behind the access check, the body limits and
/// its kind's runtime; around them all, the request span, metrics, the head limit and
/// problem+json for every error.
pub(crate) fn router(routes: Vec<Route>, state: AppState, limits: Limits, desk: Desk) -> Router {
    let mut router = Router::new();
    for r in routes {
        let handler = match r.kind {
            Kind::Issuance => r.handler.layer(middleware::from_fn_with_state(
                state.clone(),
                layers::on_issuance,
            )),
            Kind::Verification => r
                .handler
                .layer(middleware::from_fn_with_state(state.clone(), layers::timed)),
            Kind::Operations => r.handler,
        };
        // Layers run outermost last: the access check, then the body, then the handler.
        let handler = handler
            .layer(middleware::from_fn_with_state(limits, layers::read_body))
            .layer(middleware::from_fn_with_state(
                (state.clone(), r.endpoint, desk),
                layers::authorize,
            ));
        router = router.route(r.path, handler);
    }
    router
        .fallback(operations::not_found)
        .method_not_allowed_fallback(operations::method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .layer(middleware::from_fn_with_state(
            (state.clone(), limits),
            layers::observe,
        ))
        .with_state(state)
}
