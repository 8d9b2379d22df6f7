//! The signed documents any cache may serve: the trust list, its JWKS mirror, and the
//! status lists.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::http::codec::{cached_bytes, json_response};
use crate::http::problem::Problem;
use crate::http::state::AppState;

/// `GET /v1/trust-list`.
pub(crate) async fn trust_list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let signed = state.service.trust_list();
    cached_bytes(
        &headers,
        &signed.etag,
        "application/edl-trust-list+cose",
        300,
        None,
        signed.bytes.clone(),
    )
}

/// `GET /.well-known/jwks.json`.
pub(crate) async fn jwks(State(state): State<AppState>) -> Response {
    let signed = state.service.trust_list();
    let mut response = signed.jwks.clone().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    response
}

/// `GET /v1/status-lists`.
pub(crate) async fn status_lists(State(state): State<AppState>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"status_lists": state.service.status_lists.uris()}),
    )
}

/// `GET /v1/status-lists/{n}`.
pub(crate) async fn status_list(
    State(state): State<AppState>,
    Path(n): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let n: u32 = n.parse().map_err(|_| Problem::not_found("status list"))?;
    let signed = state
        .service
        .status_lists
        .signed(n)
        .ok_or_else(|| Problem::not_found("status list"))?;
    Ok(cached_bytes(
        &headers,
        &signed.etag,
        keys::status_list::TYP,
        state.service.settings.status_ttl,
        Some(signed.issued_at),
        signed.token.clone(),
    ))
}
