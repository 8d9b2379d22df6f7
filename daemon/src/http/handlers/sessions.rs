//! Sign-in for the pages: `POST …/sessions` exchanges an API key of the desk's role for a
//! session cookie and a CSRF token; `GET …/sessions/current` gives a signed-in page its
//! CSRF token again; `DELETE …/sessions/current` signs out. The public listener's are the
//! reviewer desk's, the admin listener's the operator console's (`http::session`).

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::domain::access::Caller;
use crate::http::codec::{json_body, json_response};
use crate::http::problem::Problem;
use crate::http::session::{Desk, Session, SessionError, set_cookie};
use crate::http::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    api_key: String,
}

/// `POST /v1/sessions`: the reviewer desk's sign-in.
pub(crate) async fn review_sign_in(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    sign_in(&state, Desk::Review, body)
}

/// `POST /admin/v1/sessions`: the operator console's sign-in.
pub(crate) async fn console_sign_in(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    sign_in(&state, Desk::Console, body)
}

/// `GET /v1/sessions/current`.
pub(crate) async fn review_current(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    current(&state, Desk::Review, &headers)
}

/// `GET /admin/v1/sessions/current`.
pub(crate) async fn console_current(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    current(&state, Desk::Console, &headers)
}

/// `DELETE /v1/sessions/current`.
pub(crate) async fn review_sign_out(
    State(state): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
) -> Response {
    sign_out(&state, Desk::Review, &headers)
}

/// `DELETE /admin/v1/sessions/current`.
pub(crate) async fn console_sign_out(
    State(state): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
) -> Response {
    sign_out(&state, Desk::Console, &headers)
}

fn sign_in(
    state: &AppState,
    desk: Desk,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body: SignIn = json_body(body)?;
    // An unknown key and a key of another role get the same answer: the sign-in form
    // does not tell which keys exist.
    let caller = state
        .service
        .clients
        .authenticate(body.api_key.trim())
        .filter(|c| c.role == desk.role())
        .ok_or_else(|| {
            Problem::unprocessable(format!(
                "api_key: not an API key of the {} role",
                desk.role().as_str()
            ))
        })?;
    let signed = state
        .sessions
        .open(caller, desk, state.service.clock.now())
        .map_err(|e| match e {
            SessionError::Full => Problem::unavailable(60),
            SessionError::Forgery => Problem::forgery(),
        })?;
    tracing::info!(client = %signed.session.caller.client, desk = desk.cookie(), "signed in");
    let mut response = json_response(StatusCode::CREATED, &session_json(&signed.session));
    let cookie = set_cookie(desk, Some(&signed.token), secure(state, desk));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The session the cookie names, or `{"signed_in": false}`: a page asks this first, and a
/// page not signed in is not an error.
fn current(state: &AppState, desk: Desk, headers: &HeaderMap) -> Result<Response, Problem> {
    let session = state.sessions.find(
        headers,
        desk,
        &state.service.clients,
        state.service.clock.now(),
    );
    let body = match &session {
        Some(session) => session_json(session),
        None => json!({"signed_in": false}),
    };
    let mut response = json_response(StatusCode::OK, &body);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn sign_out(state: &AppState, desk: Desk, headers: &HeaderMap) -> Response {
    state.sessions.close(headers, desk);
    let mut response = json_response(StatusCode::OK, &json!({"signed_out": true}));
    if let Ok(value) = HeaderValue::from_str(&set_cookie(desk, None, secure(state, desk))) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Cookies are `Secure` on a listener that serves TLS (the admin listener never does: it
/// is loopback only).
fn secure(state: &AppState, desk: Desk) -> bool {
    desk == Desk::Review && state.public_tls
}

fn session_json(session: &Session) -> serde_json::Value {
    json!({
        "signed_in": true,
        "client": session.caller.client,
        "role": session.caller.role.as_str(),
        "csrf_token": session.csrf,
        "expires_at": session.expires_at,
    })
}
