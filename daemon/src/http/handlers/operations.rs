//! Health, readiness, metrics, the OpenAPI documents, and the fallbacks for unknown paths
//! and methods.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::http::codec::json_response;
use crate::http::problem::Problem;
use crate::http::state::AppState;

/// `GET /healthz`: the process answers.
pub(crate) async fn healthz() -> Response {
    json_response(StatusCode::OK, &json!({"status": "ok"}))
}

/// `GET /readyz`: the trust list and status lists are signed, and the store can make
/// writes durable (for PostgreSQL: the database answers and holds this edld's schema).
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let service = &state.service;
    let ready = !service.trust_list().bytes.is_empty()
        && service.status_lists.signed_count() > 0
        && service.store.healthy();
    if ready {
        json_response(
            StatusCode::OK,
            &json!({"status": "ready", "store": service.store.readiness()}),
        )
    } else {
        Problem::unavailable(1).into_response()
    }
}

/// `GET /metrics`: the Prometheus text format, gauges refreshed first.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    state.service.refresh_gauges().await;
    state.service.refresh_review_gauges().await;
    state.service.refresh_trust_gauges();
    state.service.refresh_webhook_gauges().await;
    let mut response = state.service.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// `GET /openapi.json` on the public listener.
pub(crate) async fn openapi_public(State(state): State<AppState>) -> Response {
    document(&state.documents.public)
}

/// `GET /openapi.json` on the admin listener.
pub(crate) async fn openapi_admin(State(state): State<AppState>) -> Response {
    document(&state.documents.admin)
}

fn document(text: &str) -> Response {
    let mut response = text.to_owned().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Any path no route serves.
pub(crate) async fn not_found() -> Problem {
    Problem::not_found("resource")
}

/// A method the path is not served with.
pub(crate) async fn method_not_allowed() -> Problem {
    Problem::method_not_allowed()
}
