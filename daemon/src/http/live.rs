//! Live status without the router: the service every connection of a listener is served
//! by. A live-status lookup as relying parties send it (`GET` of the route, no query, no
//! body, JSON, a caller the route admits by API key or client certificate) is answered
//! here by the same handler code, in the same request span, with the same metrics, request
//! id and problem+json as through the router; every other request goes to the router.
//!
//! Written here because the router is what a lookup spends most of its own time in: each
//! of its layers boxes a future and clones the route's service, and the extractors copy
//! the headers, all per request, for the one route that carries nearly all the traffic.
//! Whatever this does not take is what the router refuses or answers differently (a
//! caller it must find by session cookie, or refuse with 401 or 403; a signed receipt; a
//! purpose in the query; an oversized head), so nothing here decides those.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::{Method, Request};
use axum::response::{IntoResponse, Response};
use hyper::body::{Body, Incoming};
use tower::ServiceExt;
use tracing::Instrument;

use crate::domain::access::{self, Caller, Endpoint};
use crate::http::accept::{StatusMedia, status_media};
use crate::http::handlers::credentials::{json_status, lookup_purpose};
use crate::http::identity::{PeerIdentity, authenticate};
use crate::http::layers::{LIVE_STATUS, Observed, head_bytes, verified};
use crate::http::state::{AppState, Limits};

/// What answers live status on a listener: its state and limits.
#[derive(Clone)]
pub(crate) struct LiveStatus {
    /// The handlers' state.
    pub state: AppState,
    /// The listener's limits (the head limit).
    pub limits: Limits,
}

/// The service of one connection: live-status lookups answered here when `live` is
/// given, everything else by the router, which finds the connection's client certificate
/// (`peer`) among the request's extensions.
#[derive(Clone)]
pub(crate) struct Serve<S> {
    connection: Arc<Connection>,
    router: S,
}

struct Connection {
    live: Option<LiveStatus>,
    peer: Option<PeerIdentity>,
}

impl<S> Serve<S> {
    /// Serves a connection whose client certificate stands for `peer`.
    pub(crate) fn new(router: S, live: Option<LiveStatus>, peer: Option<PeerIdentity>) -> Self {
        Serve {
            connection: Arc::new(Connection { live, peer }),
            router,
        }
    }
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> tower::Service<Request<Incoming>> for Serve<S>
where
    S: tower::Service<Request<Incoming>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<Incoming>) -> Answer {
        let connection = &self.connection;
        if let Some(live) = &connection.live
            && let Some((caller, id)) = taken(live, connection.peer.as_ref(), &request)
        {
            return Box::pin(answer(live.state.clone(), caller, id, request));
        }
        if let Some(peer) = &connection.peer {
            request.extensions_mut().insert(peer.clone());
        }
        Box::pin(self.router.clone().oneshot(request))
    }
}

/// The caller and credential id of a lookup answered here, or None for the router.
fn taken(
    live: &LiveStatus,
    peer: Option<&PeerIdentity>,
    request: &Request<Incoming>,
) -> Option<(Caller, String)> {
    if request.method() != Method::GET || request.uri().query().is_some() {
        return None;
    }
    let id = credential_id(request.uri().path())?;
    if !request.body().is_end_stream() || head_bytes(request) > live.limits.header_bytes {
        return None;
    }
    let headers = request.headers();
    if status_media(headers) != StatusMedia::Json {
        return None;
    }
    let caller = authenticate(headers, peer, &live.state.service.clients).ok()?;
    access::allowed(caller.role, Endpoint::LiveStatus).then(|| (caller, id.to_owned()))
}

/// The `{id}` of `/v1/credentials/{id}/status`, when it needs no percent-decoding (a
/// credential id is hex: anything else is the router's to decode and refuse).
fn credential_id(path: &str) -> Option<&str> {
    let id = path
        .strip_prefix("/v1/credentials/")?
        .strip_suffix("/status")?;
    let plain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
    (!id.is_empty() && id.bytes().all(plain)).then_some(id)
}

/// Answers a lookup as the router's layers and handler would.
async fn answer(
    state: AppState,
    caller: Caller,
    id: String,
    request: Request<Incoming>,
) -> Result<Response, Infallible> {
    let observed = Observed::start(&state, LIVE_STATUS.into(), Method::GET);
    observed.span.record("client", caller.client.as_str());
    observed.span.record("role", caller.role.as_str());
    let started = state.service.clock.monotonic();
    let response = async {
        let answer = match lookup_purpose(request.headers(), None) {
            Ok(purpose) => json_status(&state, &caller, &id, purpose.as_ref()).await,
            Err(problem) => Err(problem),
        };
        answer.into_response()
    }
    .instrument(observed.span.clone())
    .await;
    verified(&state, LIVE_STATUS, started);
    Ok(observed.finish(&state, response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_of_the_route_are_taken() {
        assert_eq!(credential_id("/v1/credentials/0a1b/status"), Some("0a1b"));
        for path in [
            "/v1/credentials//status",
            "/v1/credentials/0a1b/status/",
            "/v1/credentials/0a%31b/status",
            "/v1/credentials/0a/1b/status",
            "/v1/credentials/0a1b",
            "/v2/credentials/0a1b/status",
            "//v1/credentials/0a1b/status",
        ] {
            assert_eq!(credential_id(path), None, "{path}");
        }
    }
}
