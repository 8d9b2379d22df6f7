//! The route tables of both listeners: method, path (OpenAPI style), who may call it (the
//! endpoint of the role-by-endpoint table in `auth`), where it runs, and its handler. The
//! routers are built only from these tables, and the OpenAPI documents are checked against
//! them.

use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, patch, post, put};

use crate::domain::access::Endpoint;
use crate::http::handlers::{
    applications, console, credentials, licences, lists, operations, operators, pages, review,
    sessions, webhooks,
};
use crate::http::state::AppState;

/// What a route serves, which decides where it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Live status, status lists, trust list, JWKS: served on the public listener's
    /// connection threads (the admin listener's: the async workers), never behind issuance.
    Verification,
    /// Applications, review, refresh, registry: the issuance runtime, shed first.
    Issuance,
    /// Health, metrics, documents, operators.
    Operations,
}

/// One route.
pub(crate) struct Route {
    /// The HTTP method.
    pub method: Method,
    /// The path pattern.
    pub path: &'static str,
    /// Who may call it: the endpoint of the role-by-endpoint table (`auth::allowed`).
    pub endpoint: Endpoint,
    /// Where it runs.
    pub kind: Kind,
    /// The handler.
    pub handler: MethodRouter<AppState>,
}

/// One row of a route table.
fn route(
    method: Method,
    path: &'static str,
    endpoint: Endpoint,
    kind: Kind,
    handler: MethodRouter<AppState>,
) -> Route {
    Route {
        method,
        path,
        endpoint,
        kind,
        handler,
    }
}

/// Every route of the public listener.
#[rustfmt::skip]
pub(crate) fn public() -> Vec<Route> {
    use Endpoint::*;
    use Kind::*;
    const GET: Method = Method::GET;
    const POST: Method = Method::POST;
    const PUT: Method = Method::PUT;
    vec![
        route(GET,  "/healthz",                              Open,              Operations,   get(operations::healthz)),
        route(GET,  "/readyz",                               Open,              Operations,   get(operations::readyz)),
        route(GET,  "/metrics",                              Open,              Operations,   get(operations::metrics)),
        route(GET,  "/openapi.json",                         Open,              Operations,   get(operations::openapi_public)),
        route(GET,  "/v1/trust-list",                        Open,              Verification, get(lists::trust_list)),
        route(GET,  "/.well-known/jwks.json",                Open,              Verification, get(lists::jwks)),
        route(GET,  "/v1/status-lists",                      Open,              Verification, get(lists::status_lists)),
        route(GET,  "/v1/status-lists/{n}",                  Open,              Verification, get(lists::status_list)),
        route(GET,  "/v1/credentials/{id}/status",           LiveStatus,        Verification, get(credentials::live_status)),
        route(POST, "/v1/applications",                      Apply,             Issuance,     post(applications::apply)),
        route(GET,  "/v1/applications/{ticket}",             Apply,             Issuance,     get(applications::application)),
        route(GET,  "/v1/applications/{ticket}/qr.png",      Apply,             Issuance,     get(applications::qr_png)),
        route(GET,  "/v1/applications/{ticket}/qr.svg",      Apply,             Issuance,     get(applications::qr_svg)),
        route(GET,  "/v1/applications/{ticket}/photo",       Review,            Issuance,     get(review::photo)),
        route(POST, "/v1/applications/{ticket}/approve",     Review,            Issuance,     post(review::approve)),
        route(POST, "/v1/applications/{ticket}/reject",      Review,            Issuance,     post(review::reject)),
        route(GET,  "/v1/reviews",                           Review,            Issuance,     get(review::reviews)),
        route(POST, "/v1/credentials/{id}/refresh",          Refresh,           Issuance,     post(credentials::refresh)),
        route(GET,  "/v1/licences/{number}",                 RegistryRead,      Issuance,     get(licences::licence)),
        route(PUT,  "/v1/licences/{number}",                 RegistryWrite,     Issuance,     put(licences::put_licence)),
        route(POST, "/v1/licences/{number}/state",           RegistryWrite,     Issuance,     post(licences::licence_state)),
        route(PUT,  "/v1/licences/{number}/points",          RegistryWrite,     Issuance,     put(licences::licence_points)),
        route(GET,  "/v1/licences/{number}/credential",      LicenceCredential, Issuance,     get(credentials::current)),
        route(GET,  "/v1/licences/{number}/credential/qr.png", LicenceCredential, Issuance,   get(credentials::current_qr_png)),
        route(GET,  "/v1/licences/{number}/credential/qr.svg", LicenceCredential, Issuance,   get(credentials::current_qr_svg)),
        route(GET,  "/v1/licences/{number}/lookups",         LicenceLookups,    Issuance,     get(licences::lookups)),
        route(POST, "/v1/sessions",                          Open,              Operations,   post(sessions::review_sign_in)),
        route(GET,  "/v1/sessions/current",                  Open,              Operations,   get(sessions::review_current)),
        route(Method::DELETE, "/v1/sessions/current",        Review,            Operations,   delete(sessions::review_sign_out)),
        route(GET,  "/review/",                              Open,              Operations,   get(pages::review_page)),
        route(GET,  "/review/{asset}",                       Open,              Operations,   get(pages::review_asset)),
    ]
}

/// Every route of the admin listener (loopback only).
#[rustfmt::skip]
pub(crate) fn admin() -> Vec<Route> {
    use Endpoint::*;
    use Kind::*;
    const GET: Method = Method::GET;
    const POST: Method = Method::POST;
    vec![
        route(GET,            "/healthz",                         Open,    Operations, get(operations::healthz)),
        route(GET,            "/metrics",                         Open,    Operations, get(operations::metrics)),
        route(GET,            "/openapi.json",                    Open,    Operations, get(operations::openapi_admin)),
        route(GET,            "/admin/v1/queue",                  Open,    Operations, get(operators::queue)),
        route(GET,            "/admin/v1/throttle",               Operate, Operations, get(operators::throttle_show)),
        route(Method::PATCH,  "/admin/v1/throttle",               Operate, Operations, patch(operators::throttle_set)),
        route(POST,           "/admin/v1/throttle/pause",         Operate, Operations, post(operators::throttle_pause)),
        route(POST,           "/admin/v1/throttle/resume",        Operate, Operations, post(operators::throttle_resume)),
        route(GET,            "/admin/v1/clients",                Operate, Operations, get(operators::clients_list)),
        route(POST,           "/admin/v1/clients",                Operate, Operations, post(operators::clients_add)),
        route(Method::DELETE, "/admin/v1/clients/{name}",         Operate, Operations, delete(operators::clients_revoke)),
        route(Method::PUT,    "/admin/v1/clients/{name}/delegates", Operate, Operations, put(operators::clients_delegates)),
        route(GET,            "/admin/v1/webhooks",               Operate, Operations, get(webhooks::list)),
        route(POST,           "/admin/v1/webhooks",               Operate, Operations, post(webhooks::add)),
        route(Method::DELETE, "/admin/v1/webhooks/{id}",          Operate, Operations, delete(webhooks::remove)),
        route(GET,            "/admin/v1/webhooks/dead-letters",  Operate, Operations, get(webhooks::dead_letters)),
        route(POST,           "/admin/v1/webhooks/replay",        Operate, Operations, post(webhooks::replay)),
        route(GET,            "/admin/v1/audit",                  Operate, Operations, get(operators::audit_query)),
        route(GET,            "/admin/v1/audit/verify",           Operate, Operations, get(operators::audit_verify)),
        route(POST,           "/admin/v1/throttle/simulate",      Operate, Operations, post(console::simulate)),
        route(GET,            "/admin/v1/history",                Operate, Operations, get(console::history)),
        route(GET,            "/admin/v1/nodes",                  Operate, Operations, get(console::nodes)),
        route(POST,           "/admin/v1/sessions",               Open,    Operations, post(sessions::console_sign_in)),
        route(GET,            "/admin/v1/sessions/current",       Open,    Operations, get(sessions::console_current)),
        route(Method::DELETE, "/admin/v1/sessions/current",       Operate, Operations, delete(sessions::console_sign_out)),
        route(GET,            "/console/",                        Open,    Operations, get(pages::console_page)),
        route(GET,            "/console/{asset}",                 Open,    Operations, get(pages::console_asset)),
    ]
}

/// What the OpenAPI documents need of a table: method, path and endpoint of each route.
pub(crate) fn described(routes: &[Route]) -> Vec<(Method, &'static str, Endpoint)> {
    routes
        .iter()
        .map(|r| (r.method.clone(), r.path, r.endpoint))
        .collect()
}

#[cfg(test)]
mod tests;
