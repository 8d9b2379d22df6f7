//! The layers every request passes, outermost first: `observe` (the request span, the
//! head limit, metrics per route, a request id, problem+json for any error answer), then
//! per route `authorize` (authentication and the role-by-endpoint table), `read_body`
//! (size and time limits, before the handler and before any issuance permit), and the
//! route's kind: `on_issuance` (the issuance runtime, shed at its bound) or `timed`
//! (verification latency).
//!
//! **Bad input.** A request's line and headers beyond `limits.header_bytes` get 431, a body
//! beyond the route's limit 413 (at once when `Content-Length` says so), a body not
//! received within `limits.body_timeout` 408; all as problem+json, and the connection is
//! closed after each of them.
//!
//! **Logs.** Each request runs in one `request` span (method, route pattern, request id,
//! client, role, status, latency) and ends with one `request` event: at debug, or warn for
//! a server error. Paths are logged only as their route pattern, never with the licence
//! numbers, tickets or ids in them; headers and bodies are never logged.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use tracing::Instrument;

use crate::domain::access::{Caller, Endpoint};
use crate::http::identity::PeerIdentity;
use crate::http::problem::Problem;
use crate::http::session::{Desk, check_forgery};
use crate::http::state::{AppState, Limits};
use crate::service::intake::{Limit, Refused};

/// Handlers of guarded routes take the `Caller` that [`authorize`] authenticated and
/// authorized; it is never absent there.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Caller, Problem> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(Problem::unauthenticated)
    }
}

/// Authenticates the caller of a guarded route and applies the role-by-endpoint table;
/// the handler finds the [`Caller`] in the request's extensions.
pub(crate) async fn authorize(
    State((state, endpoint, desk)): State<(AppState, Endpoint, Desk)>,
    mut request: Request,
    next: Next,
) -> Response {
    if endpoint == Endpoint::Open {
        return next.run(request).await;
    }
    let caller = match crate::http::identity::authenticate(
        request.headers(),
        request.extensions().get::<PeerIdentity>(),
        &state.service.clients,
    ) {
        Ok(caller) => caller,
        Err(_) => match session_caller(&state, &request, desk) {
            Ok(caller) => caller,
            Err(problem) => return problem.into_response(),
        },
    };
    let span = tracing::Span::current();
    span.record("client", caller.client.as_str());
    span.record("role", caller.role.as_str());
    if !crate::domain::access::allowed(caller.role, endpoint) {
        return Problem::forbidden().into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The caller of a request that presents no API key and no client certificate: the
/// signed-in session its cookie names at this listener's desk, if the request is not a
/// forgery (a change needs the CSRF token, from this origin).
fn session_caller(state: &AppState, request: &Request, desk: Desk) -> Result<Caller, Problem> {
    let headers = request.headers();
    if headers.contains_key(header::AUTHORIZATION)
        || request.extensions().get::<PeerIdentity>().is_some()
    {
        return Err(Problem::unauthenticated());
    }
    let session = state
        .sessions
        .find(
            headers,
            desk,
            &state.service.clients,
            state.service.clock.now(),
        )
        .ok_or_else(Problem::unauthenticated)?;
    check_forgery(request.method(), headers, &session).map_err(|_| Problem::forgery())?;
    Ok(session.caller)
}

/// Reads the whole body within the size and time limits before the handler runs, so a
/// slow or endless body never holds a handler (or an issuance permit).
pub(crate) async fn read_body(
    State(limits): State<Limits>,
    request: Request,
    next: Next,
) -> Response {
    // A request without a body (most GETs: no Content-Length, no chunks) has nothing to
    // wait for: no timer is armed for it.
    if axum::body::HttpBody::is_end_stream(request.body()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.body_bytes as u64) {
        return Problem::payload_too_large().into_response();
    }
    let limited = http_body_util::Limited::new(body, limits.body_bytes);
    let bytes = match tokio::time::timeout(limits.body_timeout, limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Problem::payload_too_large().into_response();
        }
        Ok(Err(_)) => {
            return Problem::bad_request("the request body could not be read")
                .closing()
                .into_response();
        }
        Err(_) => return Problem::request_timeout().into_response(),
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Runs an issuance request on the issuance runtime, or sheds it at once with 503 when
/// the bound on issuance requests in progress is reached.
pub(crate) async fn on_issuance(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(permit) = state.intake.clone().try_acquire_owned() else {
        state
            .service
            .metrics
            .decision("overload", "reject", "enforce");
        return Problem::throttled(Refused {
            limit: Limit::Overload,
            retry_after: 1,
            clears_at: None,
        })
        .into_response();
    };
    // The request span goes along to the issuance runtime.
    let span = tracing::Span::current();
    let task = state.issuance.spawn(
        async move {
            let response = next.run(request).await;
            drop(permit);
            response
        }
        .instrument(span),
    );
    match task.await {
        Ok(response) => response,
        Err(e) => Problem::internal(format!("issuance task: {e}")).into_response(),
    }
}

/// The live-status route, whose latency the operator console charts.
pub(crate) const LIVE_STATUS: &str = "/v1/credentials/{id}/status";

/// Times a verification request.
pub(crate) async fn timed(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = state.service.clock.monotonic();
    let route = route(&request);
    let response = next.run(request).await;
    verified(&state, &route, started);
    response
}

/// Counts a verification request of `route` that started at `started` (monotonic), for
/// the operator console and the metrics.
pub(crate) fn verified(state: &AppState, route: &str, started: std::time::Duration) {
    let elapsed = state.service.clock.monotonic().saturating_sub(started);
    let metrics = &state.service.metrics;
    if route == LIVE_STATUS {
        metrics.tally.live_status(elapsed.as_micros() as u64);
        metrics
            .live_status
            .verified(metrics, route, elapsed.as_secs_f64());
    } else {
        metrics.verified(route, elapsed.as_secs_f64());
    }
}

/// The request's span and its closing event, the head limit, metrics per route, a request
/// id (`X-Request-Id`), and problem+json for any error response that is not one yet (from
/// extractors or the framework).
pub(crate) async fn observe(
    State((state, limits)): State<(AppState, Limits)>,
    request: Request,
    next: Next,
) -> Response {
    let observed = Observed::start(&state, route(&request).into(), request.method().clone());
    let response = if head_bytes(&request) > limits.header_bytes {
        Problem::headers_too_large().into_response()
    } else {
        next.run(request).instrument(observed.span.clone()).await
    };
    observed.finish(&state, response)
}

/// A request being observed: its route pattern, method, id, span and start.
pub(crate) struct Observed {
    route: Cow<'static, str>,
    method: Method,
    request_id: RequestId,
    started: std::time::Duration,
    /// The request's span: what serves the request runs in it.
    pub span: tracing::Span,
}

impl Observed {
    /// Starts observing a request of `route` (its pattern) with `method`.
    pub(crate) fn start(state: &AppState, route: Cow<'static, str>, method: Method) -> Observed {
        let request_id = RequestId::next();
        let span = tracing::info_span!(
            "request",
            method = %method,
            route = %route,
            request_id = %request_id,
            client = tracing::field::Empty,
            role = tracing::field::Empty,
            status = tracing::field::Empty,
            latency_us = tracing::field::Empty,
        );
        Observed {
            route,
            method,
            request_id,
            started: state.service.clock.monotonic(),
            span,
        }
    }

    /// The answer as sent: problem+json for an error that is not one yet, the request id;
    /// then the closing event and the metrics.
    pub(crate) fn finish(self, state: &AppState, mut response: Response) -> Response {
        let Observed {
            route,
            method,
            request_id,
            started,
            span,
        } = self;
        let status = response.status();
        let is_problem = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
        if (status.is_client_error() || status.is_server_error()) && !is_problem {
            let closes = response.headers().get(header::CONNECTION).cloned();
            response = Problem::status(status).into_response();
            if let Some(v) = closes {
                response.headers_mut().insert(header::CONNECTION, v);
            }
        }
        response
            .headers_mut()
            .insert(X_REQUEST_ID, request_id.header_value());
        let elapsed = state.service.clock.monotonic().saturating_sub(started);
        span.record("status", status.as_u16());
        span.record("latency_us", elapsed.as_micros() as u64);
        span.in_scope(|| {
            if status.is_server_error() {
                tracing::warn!(target: "request", "request");
            } else {
                tracing::debug!(target: "request", "request");
            }
        });
        let metrics = &state.service.metrics;
        let (method, status, seconds) = (method.as_str(), status.as_u16(), elapsed.as_secs_f64());
        if route == LIVE_STATUS {
            metrics
                .live_status
                .answered(metrics, &route, method, status, seconds);
        } else {
            metrics.answered(&route, method, status, seconds);
        }
        response
    }
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The route pattern a request matched.
fn route(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned()
}

/// The size of a request's line and headers as sent (within a few bytes).
pub(crate) fn head_bytes<B>(request: &axum::http::Request<B>) -> usize {
    let line = request.method().as_str().len()
        + request
            .uri()
            .path_and_query()
            .map_or(1, |p| p.as_str().len())
        + 12;
    request.headers().iter().fold(line, |n, (name, value)| {
        n + name.as_str().len() + value.len() + 4
    })
}

/// A request id: unique within the process (a random prefix per start and a counter), so
/// a client's report can be found in the log. Written as hex digits: the prefix's eight,
/// then the counter's, at least eight.
#[derive(Clone, Copy)]
struct RequestId {
    prefix: u32,
    count: u64,
}

impl RequestId {
    fn next() -> RequestId {
        static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let prefix = *PREFIX.get_or_init(|| {
            use rand_core::RngCore;
            rand_core::OsRng.next_u32()
        });
        RequestId {
            prefix,
            count: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The id's digits, on the stack (every answer carries its id).
    fn digits(&self) -> ([u8; 24], usize) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0u8; 24];
        let counted = 8.max(16 - self.count.leading_zeros() as usize / 4);
        let mut nibbles = (0..8)
            .rev()
            .map(|i| (u64::from(self.prefix) >> (4 * i)) & 0xf)
            .chain((0..counted).rev().map(|i| (self.count >> (4 * i)) & 0xf));
        for digit in &mut text[..8 + counted] {
            *digit = HEX[nibbles.next().unwrap_or_default() as usize];
        }
        (text, 8 + counted)
    }

    fn header_value(&self) -> HeaderValue {
        let (text, length) = self.digits();
        HeaderValue::from_bytes(&text[..length]).unwrap_or(HeaderValue::from_static("-"))
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (text, length) = self.digits();
        f.write_str(std::str::from_utf8(&text[..length]).map_err(|_| std::fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_written_as_before_beyond_eight_digits_of_count() {
        for count in [
            0,
            1,
            0xabc,
            0xffff_ffff,
            0x1_0000_0000,
            0x1234_5678_9abc,
            u64::MAX,
        ] {
            let id = RequestId {
                prefix: 0x0e5d_9a01,
                count,
            };
            let expected = format!("{:08x}{count:08x}", 0x0e5d_9a01u32);
            assert_eq!(id.to_string(), expected);
            assert_eq!(id.header_value(), expected.as_str());
        }
    }
}
