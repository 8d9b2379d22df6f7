//! The HTTP APIs: the route tables of the public and admin listeners (the routers are built
//! only from them, and the OpenAPI test checks them against the documents), the handlers
//! that decode requests, call `Service` and encode replies, and `problem`, the one place
//! where errors become status codes and RFC 9457 bodies.
//!
//! **Access.** Every route names an [`Endpoint`]; before its handler runs, the router
//! authenticates the caller (client certificate or API key: 401 without) and applies the
//! role-by-endpoint table in `auth` (403 when the role may not), so a handler never sees a
//! caller it should not serve. Only then is the body read.
//!
//! **Bad input.** A request's line and headers beyond `limits.max_header_bytes` get 431,
//! a body beyond the route's limit 413 (at once when `Content-Length` says so), a body
//! not received within `limits.body_timeout_secs` 408; all as problem+json, and the
//! connection is closed after each of them.
//!
//! **Isolation.** Every route has a [`Kind`]. Issuance routes run on the issuance runtime
//! (its own small thread budget), behind a bound on how many may be in progress at once:
//! past it they are shed at once with 503. Verification routes (live status, status lists,
//! trust list, JWKS) run on the serving runtime and never wait for either.
//!
//! **Logs.** Each request runs in one `request` span (method, route pattern, request id,
//! client, role, status, latency) and ends with one `request` event: at debug, or warn for
//! a server error. Paths are logged only as their route pattern, never with the licence
//! numbers, tickets or ids in them; headers and bodies are never logged.

pub mod openapi;
pub mod render;
pub mod server;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::BodyExt;
use keys::licence::{LicenceNumber, Points};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tracing::Instrument;

use crate::auth::{Caller, Endpoint, LicenceField, PeerIdentity, Role, licence_fields};
use crate::domain::application::{Application, ApplicationState, Ticket};
use crate::domain::registry::{LicenceRecord, RegistryLine, StateAction};
use crate::domain::throttle::estimate::WaitEstimate;
use crate::error::ApiError;
use crate::metrics::{RequestLabels, RouteLabels};
use crate::service::{ApplicationView, ApplyRequest, LicenceChange, Service, Throttled};

/// Shared state of every handler: one `Arc`, because every request clones and drops it
/// in each layer it passes, and each clone of a shared counter is a cache line the two
/// cores pass back and forth.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// The state.
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    /// The daemon's operations.
    pub service: Arc<Service>,
    /// The runtime issuance routes run on.
    pub issuance: tokio::runtime::Handle,
    /// Issuance requests that may be in progress at once; past it, 503 at once.
    pub intake: Arc<tokio::sync::Semaphore>,
}

/// What a listener accepts from a request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest body (413 beyond).
    pub body_bytes: usize,
    /// Time to receive the body once the headers arrived (408 beyond).
    pub body_timeout: Duration,
    /// Largest request line and headers (431 beyond).
    pub header_bytes: usize,
}

/// What a route serves, which decides where it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Live status, status lists, trust list, JWKS: never wait behind issuance.
    Verification,
    /// Applications, review, refresh, registry: the issuance runtime, shed first.
    Issuance,
    /// Health, metrics, documents, operators.
    Operations,
}

/// One route: method, path pattern (OpenAPI style), who may call it, handler.
pub struct Route {
    /// The HTTP method.
    pub method: Method,
    /// The path pattern.
    pub path: &'static str,
    /// What it serves, for the role-by-endpoint table (`auth::allowed`).
    pub endpoint: Endpoint,
    /// The handler.
    pub handler: MethodRouter<AppState>,
    /// Where it runs.
    pub kind: Kind,
}

fn route(
    method: Method,
    path: &'static str,
    endpoint: Endpoint,
    handler: MethodRouter<AppState>,
) -> Route {
    let kind = if path.starts_with("/v1/trust-list")
        || path.starts_with("/v1/status-lists")
        || path == "/.well-known/jwks.json"
        || path == "/v1/credentials/{id}/status"
    {
        Kind::Verification
    } else if path.starts_with("/v1/") {
        Kind::Issuance
    } else {
        Kind::Operations
    };
    Route {
        method,
        path,
        endpoint,
        handler,
        kind,
    }
}

/// Every route of the public listener, and who may call it.
pub fn public_routes() -> Vec<Route> {
    use Endpoint::*;
    vec![
        route(Method::GET, "/healthz", Open, get(healthz)),
        route(Method::GET, "/readyz", Open, get(readyz)),
        route(Method::GET, "/metrics", Open, get(metrics)),
        route(Method::GET, "/openapi.json", Open, get(openapi_public)),
        route(Method::GET, "/v1/trust-list", Open, get(trust_list)),
        route(Method::GET, "/.well-known/jwks.json", Open, get(jwks)),
        route(Method::GET, "/v1/status-lists", Open, get(status_lists)),
        route(Method::GET, "/v1/status-lists/{n}", Open, get(status_list)),
        route(Method::POST, "/v1/applications", Apply, post(apply)),
        route(
            Method::GET,
            "/v1/applications/{ticket}",
            Apply,
            get(application),
        ),
        route(
            Method::GET,
            "/v1/applications/{ticket}/qr.png",
            Apply,
            get(qr_png),
        ),
        route(
            Method::GET,
            "/v1/applications/{ticket}/qr.svg",
            Apply,
            get(qr_svg),
        ),
        route(
            Method::GET,
            "/v1/applications/{ticket}/photo",
            Review,
            get(photo),
        ),
        route(
            Method::POST,
            "/v1/applications/{ticket}/approve",
            Review,
            post(approve),
        ),
        route(
            Method::POST,
            "/v1/applications/{ticket}/reject",
            Review,
            post(reject),
        ),
        route(Method::GET, "/v1/reviews", Review, get(reviews)),
        route(
            Method::GET,
            "/v1/credentials/{id}/status",
            LiveStatus,
            get(live_status),
        ),
        route(
            Method::POST,
            "/v1/credentials/{id}/refresh",
            Refresh,
            post(refresh),
        ),
        route(
            Method::GET,
            "/v1/licences/{number}",
            RegistryRead,
            get(licence),
        ),
        route(
            Method::PUT,
            "/v1/licences/{number}",
            RegistryWrite,
            put(put_licence),
        ),
        route(
            Method::POST,
            "/v1/licences/{number}/state",
            RegistryWrite,
            post(licence_state),
        ),
        route(
            Method::PUT,
            "/v1/licences/{number}/points",
            RegistryWrite,
            put(licence_points),
        ),
    ]
}

/// Every route of the admin listener (loopback only), and who may call it.
pub fn admin_routes() -> Vec<Route> {
    use Endpoint::*;
    vec![
        route(Method::GET, "/healthz", Open, get(healthz)),
        route(Method::GET, "/metrics", Open, get(metrics)),
        route(Method::GET, "/openapi.json", Open, get(openapi_admin)),
        route(Method::GET, "/admin/v1/queue", Open, get(queue)),
        route(
            Method::GET,
            "/admin/v1/throttle",
            Operate,
            get(throttle_show),
        ),
        route(
            Method::PATCH,
            "/admin/v1/throttle",
            Operate,
            patch(throttle_set),
        ),
        route(
            Method::POST,
            "/admin/v1/throttle/pause",
            Operate,
            post(throttle_pause),
        ),
        route(
            Method::POST,
            "/admin/v1/throttle/resume",
            Operate,
            post(throttle_resume),
        ),
        route(Method::GET, "/admin/v1/clients", Operate, get(clients_list)),
        route(
            Method::POST,
            "/admin/v1/clients",
            Operate,
            post(clients_add),
        ),
        route(
            Method::DELETE,
            "/admin/v1/clients/{name}",
            Operate,
            delete(clients_revoke),
        ),
        route(Method::GET, "/admin/v1/audit", Operate, get(audit_query)),
        route(
            Method::GET,
            "/admin/v1/audit/verify",
            Operate,
            get(audit_verify),
        ),
    ]
}

/// A router from a route table: every route behind the access check, the body limits and
/// its kind's runtime; around them all, the request span, metrics, the head limit and
/// problem+json for every error.
pub fn router(routes: Vec<Route>, state: AppState, limits: Limits) -> Router {
    let mut router = Router::new();
    for r in routes {
        let handler = match r.kind {
            Kind::Issuance => r
                .handler
                .layer(middleware::from_fn_with_state(state.clone(), on_issuance)),
            Kind::Verification => r
                .handler
                .layer(middleware::from_fn_with_state(state.clone(), timed)),
            Kind::Operations => r.handler,
        };
        // Layers run outermost last: the access check, then the body, then the handler.
        let handler = handler
            .layer(middleware::from_fn_with_state(limits, read_body))
            .layer(middleware::from_fn_with_state(
                (state.clone(), r.endpoint),
                authorize,
            ));
        router = router.route(r.path, handler);
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .layer(middleware::from_fn_with_state(
            (state.clone(), limits),
            observe,
        ))
        .with_state(state)
}

/// Authenticates the caller of a guarded route and applies the role-by-endpoint table;
/// the handler finds the [`Caller`] in the request's extensions.
async fn authorize(
    State((state, endpoint)): State<(AppState, Endpoint)>,
    mut request: Request,
    next: Next,
) -> Response {
    if endpoint == Endpoint::Open {
        return next.run(request).await;
    }
    let caller = match crate::auth::authenticate(
        request.headers(),
        request.extensions().get::<PeerIdentity>(),
        &state.service.clients,
    ) {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let span = tracing::Span::current();
    span.record("client", caller.client.as_str());
    span.record("role", caller.role.as_str());
    if !crate::auth::allowed(caller.role, endpoint) {
        return ApiError::Forbidden.into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// Reads the whole body within the size and time limits before the handler runs, so a
/// slow or endless body never holds a handler (or an issuance permit).
async fn read_body(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.body_bytes as u64) {
        return closing(ApiError::PayloadTooLarge.into_response());
    }
    let limited = http_body_util::Limited::new(body, limits.body_bytes);
    let bytes = match tokio::time::timeout(limits.body_timeout, limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return closing(ApiError::PayloadTooLarge.into_response());
        }
        Ok(Err(_)) => {
            return closing(
                ApiError::BadRequest("the request body could not be read".into()).into_response(),
            );
        }
        Err(_) => return closing(ApiError::RequestTimeout.into_response()),
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Marks a response as the connection's last: what remains of the request is not read.
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Runs an issuance request on the issuance runtime, or sheds it at once with 503 when
/// the bound on issuance requests in progress is reached.
async fn on_issuance(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Ok(permit) = state.intake.clone().try_acquire_owned() else {
        state
            .service
            .metrics
            .decision("overload", "reject", "enforce");
        return throttled(&Throttled {
            status: 503,
            limit: "overload",
            retry_after: 1,
            clears_at: None,
        });
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
        Err(e) => ApiError::Internal(format!("issuance task: {e}")).into_response(),
    }
}

/// Times a verification request.
async fn timed(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let response = next.run(request).await;
    state
        .service
        .metrics
        .verification_seconds
        .get_or_create(&RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The request's span and its closing event, the head limit, metrics per route, a request
/// id (`X-Request-Id`), and problem+json for any error response that is not one yet (from
/// extractors or the framework).
async fn observe(
    State((state, limits)): State<(AppState, Limits)>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let method = request.method().as_str().to_owned();
    let request_id = next_request_id();
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
    let mut response = if head_bytes(&request) > limits.header_bytes {
        closing(ApiError::HeadersTooLarge.into_response())
    } else {
        next.run(request).instrument(span.clone()).await
    };
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if (status.is_client_error() || status.is_server_error()) && !is_problem {
        let closes = response.headers().get(header::CONNECTION).cloned();
        response = problem_response(
            status,
            status.canonical_reason().unwrap_or("error"),
            None,
            None,
        );
        if let Some(v) = closes {
            response.headers_mut().insert(header::CONNECTION, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let elapsed = started.elapsed();
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
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route: route.clone(),
            method,
            status: status.as_u16(),
        })
        .inc();
    metrics
        .request_seconds
        .get_or_create(&RouteLabels { route })
        .observe(elapsed.as_secs_f64());
    response
}

/// The size of a request's line and headers as sent (within a few bytes).
fn head_bytes(request: &Request) -> usize {
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
/// a client's report can be found in the log.
fn next_request_id() -> String {
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        use rand_core::RngCore;
        rand_core::OsRng.next_u32()
    });
    format!("{prefix:08x}{:08x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

// ----- errors -----

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        problem(&self)
    }
}

/// The one mapping from errors to HTTP: status, stable title, detail for the client;
/// internal causes go to the log only.
pub fn problem(error: &ApiError) -> Response {
    let (status, detail, retry_after) = match error {
        ApiError::BadRequest(d) => (StatusCode::BAD_REQUEST, Some(d.clone()), None),
        ApiError::Unauthenticated => (
            StatusCode::UNAUTHORIZED,
            Some(
                "authenticate with an API key (Authorization: Bearer <key>) or a client certificate, not both"
                    .to_owned(),
            ),
            None,
        ),
        ApiError::Forbidden => (
            StatusCode::FORBIDDEN,
            Some("this client's role may not use this endpoint".to_owned()),
            None,
        ),
        ApiError::NotFound(what) => (
            StatusCode::NOT_FOUND,
            Some(format!("{what} not found")),
            None,
        ),
        ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, None, None),
        ApiError::Conflict(d) => (StatusCode::CONFLICT, Some(d.clone()), None),
        ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, None, None),
        ApiError::HeadersTooLarge => (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, None, None),
        ApiError::RequestTimeout => (
            StatusCode::REQUEST_TIMEOUT,
            Some("the request body did not arrive in time".to_owned()),
            None,
        ),
        ApiError::Unprocessable(d) => (StatusCode::UNPROCESSABLE_ENTITY, Some(d.clone()), None),
        ApiError::Unavailable { retry_after } => {
            (StatusCode::SERVICE_UNAVAILABLE, None, Some(*retry_after))
        }
        ApiError::Throttled(t) => return throttled(t),
        ApiError::Store(e) => {
            tracing::error!(error = %e, "store failure");
            (StatusCode::SERVICE_UNAVAILABLE, None, Some(1))
        }
        ApiError::Internal(e) => {
            tracing::error!(error = %e, "internal error");
            (StatusCode::INTERNAL_SERVER_ERROR, None, None)
        }
    };
    let mut response = problem_response(
        status,
        status.canonical_reason().unwrap_or("error"),
        detail,
        retry_after,
    );
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"edl\""),
        );
    }
    response
}

/// A 429 or 503 refusal by admission: `Retry-After`, and a problem body naming the limit,
/// with the same `retry_after`, and for a full queue the time its backlog should clear.
pub fn throttled(t: &Throttled) -> Response {
    let status = StatusCode::from_u16(t.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let title = status.canonical_reason().unwrap_or("error");
    let detail = match (t.limit, t.clears_at) {
        ("client", _) => "this client is over its application rate".to_owned(),
        ("licence", _) => "too many applications for this licence".to_owned(),
        ("intake", _) => "applications arrive faster than the service takes them".to_owned(),
        ("overload", _) => "the service is saturated: issuance is shed first".to_owned(),
        (_, Some(at)) => format!(
            "the queue is full; its backlog should clear by {}",
            http_date(keys::UnixTime(at))
        ),
        _ => "the queue is full".to_owned(),
    };
    let mut body = json!({
        "type": format!("https://edl.invalid/problems/{}", t.limit),
        "title": title,
        "status": t.status,
        "detail": detail,
        "reason": t.limit,
        "retry_after": t.retry_after,
    });
    if let (Some(at), Some(map)) = (t.clears_at, body.as_object_mut()) {
        map.insert("clears_at".into(), json!(at));
    }
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    headers.insert(header::RETRY_AFTER, HeaderValue::from(t.retry_after));
    response
}

fn problem_response(
    status: StatusCode,
    title: &str,
    detail: Option<String>,
    retry_after: Option<u64>,
) -> Response {
    let mut body = json!({
        "type": format!("https://edl.invalid/problems/{}", status.as_u16()),
        "title": title,
        "status": status.as_u16(),
        "detail": detail.unwrap_or_else(|| title.to_owned()),
    });
    if let (Some(seconds), Some(map)) = (retry_after, body.as_object_mut()) {
        map.insert("retry_after".into(), json!(seconds));
    }
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::NotFound("resource")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest(r.body_text())
        }
    })
}

fn json_body<T: for<'de> Deserialize<'de>>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body_bytes(body)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut response = (status, value.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn parse_ticket(text: &str) -> Result<Ticket, ApiError> {
    text.parse().map_err(|()| ApiError::NotFound("application"))
}

fn parse_number(text: &str) -> Result<LicenceNumber, ApiError> {
    text.parse()
        .map_err(|e| ApiError::BadRequest(format!("licence number: {e}")))
}

// ----- operations -----

async fn healthz() -> Response {
    json_response(StatusCode::OK, &json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> Response {
    let service = &state.service;
    let ready = !service.trust_list().bytes.is_empty() && service.status_lists.signed_count() > 0;
    if ready {
        json_response(StatusCode::OK, &json!({"status": "ready"}))
    } else {
        ApiError::Unavailable { retry_after: 1 }.into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    state.service.refresh_gauges();
    let mut response = state.service.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

async fn openapi_public() -> Response {
    json_response(StatusCode::OK, &crate::http::openapi::public_document())
}

async fn openapi_admin() -> Response {
    json_response(StatusCode::OK, &crate::http::openapi::admin_document())
}

async fn queue(State(state): State<AppState>) -> Response {
    json_response(StatusCode::OK, &queue_json(&state.service))
}

fn queue_json(s: &Service) -> Value {
    let now = s.monotonic.elapsed();
    let throttle = s.throttle();
    let lanes: Map<String, Value> = crate::domain::queue::Lane::ALL
        .into_iter()
        .map(|l| {
            (
                l.as_str().to_owned(),
                json!({"depth": s.lanes.depth(l), "drain_rate_per_second": throttle.lane_rate(now, l)}),
            )
        })
        .collect();
    json!({
        "depth": s.lanes.total_depth(),
        "waiting_for_opening": s.lanes.unordered(),
        "lanes": lanes,
        "drain_rate_per_second": throttle.measured_rate(now),
        "paused": throttle.is_paused(),
        "signing_held": s.signing_held(),
        "in_flight": s.in_flight.load(std::sync::atomic::Ordering::SeqCst),
        "issued": s.metrics.credentials_issued.get(),
        "accepted": s.metrics.applications_accepted.get(),
    })
}

// ----- throttle (admin listener, operator role) -----

fn throttle_json(state: &AppState) -> Value {
    let settings = state.service.throttle_settings();
    let flat: Map<String, Value> = settings
        .entries()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), json!(value)))
        .collect();
    json!({
        "settings": settings,
        "values": flat,
        "queue": queue_json(&state.service),
    })
}

async fn throttle_show(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, &throttle_json(&state)))
}

/// `PATCH /admin/v1/throttle` with `{"drain.rate": 500, "client.mode": "shadow", …}`:
/// names as `edld throttle set` takes them; values as JSON strings, numbers, booleans or
/// null (none).
async fn throttle_set(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let changes: Map<String, Value> = json_body(body)?;
    let changes: Vec<(String, String)> = changes
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s,
                Value::Null => "none".to_owned(),
                // 10.0 is the count 10.
                Value::Number(n) => match (n.as_u64(), n.as_f64()) {
                    (Some(whole), _) => whole.to_string(),
                    (None, Some(f)) if f.fract() == 0.0 && (0.0..1e15).contains(&f) => {
                        (f as u64).to_string()
                    }
                    _ => n.to_string(),
                },
                other => other.to_string(),
            };
            (name, text)
        })
        .collect();
    change_throttle(&state, &caller, &changes).await
}

async fn throttle_pause(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    change_throttle(&state, &caller, &[("paused".into(), "true".into())]).await
}

async fn throttle_resume(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    change_throttle(&state, &caller, &[("paused".into(), "false".into())]).await
}

async fn change_throttle(
    state: &AppState,
    caller: &Caller,
    changes: &[(String, String)],
) -> Result<Response, ApiError> {
    let (old, new) = state.service.change_throttle(caller, changes).await?;
    let old: std::collections::HashMap<_, _> = old.entries().into_iter().collect();
    let changed: Map<String, Value> = new
        .entries()
        .into_iter()
        .filter(|(name, value)| old.get(name) != Some(value))
        .map(|(name, value)| (name.to_owned(), json!({"old": old.get(name), "new": value})))
        .collect();
    let mut body = throttle_json(state);
    if let Some(map) = body.as_object_mut() {
        map.insert("changed".into(), Value::Object(changed));
    }
    Ok(json_response(StatusCode::OK, &body))
}

// ----- API clients (admin listener, operator role) -----

fn client_json(client: &crate::auth::ApiClient) -> Value {
    json!({
        "name": client.name,
        "role": client.role.as_str(),
        "created_at": client.created_at,
    })
}

async fn clients_list(State(state): State<AppState>) -> Response {
    let clients: Vec<Value> = state
        .service
        .clients
        .list()
        .iter()
        .map(client_json)
        .collect();
    json_response(StatusCode::OK, &json!({ "clients": clients }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClient {
    name: String,
    role: String,
}

/// `POST /admin/v1/clients` `{"name": …, "role": …}`: 201 with the new API key, which is
/// shown this once (only its hash is kept).
async fn clients_add(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: NewClient = json_body(body)?;
    let role = Role::from_name(&body.role).ok_or_else(|| {
        ApiError::Unprocessable(format!(
            "role: one of {}",
            Role::ALL.map(Role::as_str).join(", ")
        ))
    })?;
    let (client, api_key) = state.service.add_client(&caller, &body.name, role).await?;
    let mut reply = client_json(&client);
    if let Some(map) = reply.as_object_mut() {
        map.insert("api_key".into(), json!(api_key));
    }
    let mut response = json_response(StatusCode::CREATED, &reply);
    // The key must not linger in caches between here and the operator.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

async fn clients_revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let client = state.service.revoke_client(&caller, &name).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "revoked": client_json(&client) }),
    ))
}

// ----- audit (admin listener, operator role) -----

/// `?licence=` of `GET /admin/v1/audit`.
#[derive(Deserialize)]
struct AuditQuery {
    licence: String,
}

/// `GET /admin/v1/audit?licence=N`: who looked up the licence (client, role, purpose,
/// time) and every change made to it, from both audit logs.
async fn audit_query(
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    let number = parse_number(&query.licence)?;
    let service = state.service.clone();
    let report = tokio::task::spawn_blocking(move || {
        crate::audit::inspect::query(&service.store, service.lookups.path(), number.as_str())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    let body = serde_json::to_value(&report).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /admin/v1/audit/verify`: both hash chains checked from the first record; the
/// first break, if any. Reads both logs whole.
async fn audit_verify(State(state): State<AppState>) -> Result<Response, ApiError> {
    let service = state.service.clone();
    let report = tokio::task::spawn_blocking(move || {
        crate::audit::inspect::verify(&service.store, service.lookups.path())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    let body = serde_json::to_value(&report).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(json_response(StatusCode::OK, &body))
}

// ----- trust and status lists -----

async fn trust_list(State(state): State<AppState>, headers: HeaderMap) -> Response {
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

async fn jwks(State(state): State<AppState>) -> Response {
    let signed = state.service.trust_list();
    let mut response = signed.jwks.clone().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    response
}

async fn status_lists(State(state): State<AppState>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"status_lists": state.service.status_lists.uris()}),
    )
}

async fn status_list(
    State(state): State<AppState>,
    Path(n): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let n: u32 = n.parse().map_err(|_| ApiError::NotFound("status list"))?;
    let signed = state
        .service
        .status_lists
        .signed(n)
        .ok_or(ApiError::NotFound("status list"))?;
    Ok(cached_bytes(
        &headers,
        &signed.etag,
        keys::status_list::TYP,
        state.service.settings.status_ttl,
        Some(signed.issued_at),
        signed.token.clone(),
    ))
}

fn cached_bytes(
    request: &HeaderMap,
    etag: &str,
    content_type: &'static str,
    max_age: u64,
    last_modified: Option<keys::UnixTime>,
    bytes: Vec<u8>,
) -> Response {
    let not_modified = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Body::from(bytes).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    if let Some(Ok(v)) = last_modified.map(|t| HeaderValue::from_str(&http_date(t))) {
        h.insert(header::LAST_MODIFIED, v);
    }
    response
}

/// An IMF-fixdate (RFC 9110), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: keys::UnixTime) -> String {
    let Ok(dt) = time::OffsetDateTime::from_unix_timestamp(i64::try_from(t.0).unwrap_or(0)) else {
        return String::new();
    };
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[usize::from(dt.weekday().number_days_from_monday())],
        dt.day(),
        MONTHS[usize::from(u8::from(dt.month()) - 1)],
        dt.year(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

// ----- applications -----

async fn apply(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: ApplyRequest = json_body(body)?;
    let view = state.service.apply(&caller, request).await?;
    let ticket = view.application.ticket;
    let status = if view.existing {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let mut response = json_response(status, &application_json(&view));
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/applications/{ticket}")) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(poll_hint(&view)));
    Ok(response)
}

/// Seconds until polling is worthwhile: a quarter of the expected wait, jittered so that
/// clients accepted together do not poll together.
fn poll_hint(view: &ApplicationView) -> u64 {
    use rand_core::RngCore;
    let expected = view.estimate.and_then(WaitEstimate::midpoint);
    let jitter = f64::from(rand_core::OsRng.next_u32()) / f64::from(u32::MAX);
    crate::domain::throttle::lanes::poll_after(expected, jitter)
}

/// A wait estimate as JSON: `{"kind": "unknown"}` or a range in whole seconds.
fn estimate_json(estimate: WaitEstimate) -> Value {
    match estimate {
        WaitEstimate::Unknown => json!({"kind": "unknown"}),
        WaitEstimate::Range { low, high } => json!({
            "kind": "range",
            "low": low.as_secs(),
            "high": high.as_secs() + u64::from(high.subsec_nanos() > 0),
        }),
    }
}

fn application_json(view: &ApplicationView) -> Value {
    let app: &Application = &view.application;
    let ticket = app.ticket;
    let mut body = json!({
        "ticket": ticket.to_string(),
        "licence_number": app.licence.as_str(),
        "channel": app.channel,
        "state": app.state.name(),
        "created_at": app.created_at,
        "updated_at": app.updated_at,
    });
    let Some(map) = body.as_object_mut() else {
        return body;
    };
    if let Some(position) = view.position {
        map.insert("position".into(), json!(position));
    }
    if let Some(estimate) = view.estimate {
        map.insert("wait_seconds".into(), estimate_json(estimate));
    }
    if let ApplicationState::Queued { lane, .. } = &app.state {
        map.insert("lane".into(), json!(lane));
    }
    if let Some(opening) = view.opening_at {
        map.insert("opening_at".into(), json!(opening));
    }
    if let ApplicationState::Rejected { reason } = &app.state {
        map.insert("reason".into(), json!(reason));
    }
    if let Some(c) = &view.credential {
        let qr_text = URL_SAFE_NO_PAD
            .decode(&c.token)
            .map(|bytes| keys::qr::encode(&bytes))
            .unwrap_or_default();
        map.insert(
            "credential".into(),
            json!({
                "id": c.id,
                "token": c.token,
                "qr_text": qr_text,
                "qr_png": format!("/v1/applications/{ticket}/qr.png"),
                "qr_svg": format!("/v1/applications/{ticket}/qr.svg"),
                "issued_at": c.issued_at,
                "expires_at": c.expires_at,
                "superseded": c.superseded,
            }),
        );
    }
    body
}

async fn application(
    State(state): State<AppState>,
    Path(ticket): Path<String>,
) -> Result<Response, ApiError> {
    let view = state
        .service
        .view(parse_ticket(&ticket)?)?
        .ok_or(ApiError::NotFound("application"))?;
    let mut response = json_response(StatusCode::OK, &application_json(&view));
    if view.application.state.is_open() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(poll_hint(&view)));
    }
    Ok(response)
}

fn issued_qr_text(state: &AppState, ticket: &str) -> Result<String, ApiError> {
    let view = state
        .service
        .view(parse_ticket(ticket)?)?
        .ok_or(ApiError::NotFound("application"))?;
    let credential = view
        .credential
        .ok_or(ApiError::NotFound("credential for this application"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(&credential.token)
        .map_err(|e| ApiError::Internal(format!("stored token: {e}")))?;
    Ok(keys::qr::encode(&bytes))
}

async fn qr_png(
    State(state): State<AppState>,
    Path(ticket): Path<String>,
) -> Result<Response, ApiError> {
    let text = issued_qr_text(&state, &ticket)?;
    let png = crate::http::render::png(&text).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

async fn qr_svg(
    State(state): State<AppState>,
    Path(ticket): Path<String>,
) -> Result<Response, ApiError> {
    let text = issued_qr_text(&state, &ticket)?;
    let svg = crate::http::render::svg(&text).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

// ----- review -----

#[derive(Deserialize)]
struct ReviewQuery {
    #[serde(default)]
    limit: Option<usize>,
}

async fn reviews(
    State(state): State<AppState>,
    Query(q): Query<ReviewQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let apps = state.service.reviews(limit)?;
    let items: Vec<Value> = apps
        .iter()
        .map(|a| {
            json!({
                "ticket": a.ticket.to_string(),
                "licence_number": a.licence.as_str(),
                "created_at": a.created_at,
                "photo": format!("/v1/applications/{}/photo", a.ticket),
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "reviews": items })))
}

async fn photo(
    State(state): State<AppState>,
    Path(ticket): Path<String>,
) -> Result<Response, ApiError> {
    let (bytes, format) = state
        .service
        .photo(parse_ticket(&ticket)?)?
        .ok_or(ApiError::NotFound("uploaded photo"))?;
    Ok(([(header::CONTENT_TYPE, format.media_type())], bytes).into_response())
}

async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(ticket): Path<String>,
) -> Result<Response, ApiError> {
    let view = state
        .service
        .review(&caller, parse_ticket(&ticket)?, None)
        .await?;
    Ok(json_response(StatusCode::OK, &application_json(&view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    reason: String,
}

async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path(ticket): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: RejectBody = json_body(body)?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::Unprocessable(
            "reason: 1 to 500 characters".into(),
        ));
    }
    let view = state
        .service
        .review(&caller, parse_ticket(&ticket)?, Some(reason.to_owned()))
        .await?;
    Ok(json_response(StatusCode::OK, &application_json(&view)))
}

// ----- credentials -----

/// `?purpose=` on a live status lookup.
#[derive(Deserialize)]
struct LookupQuery {
    #[serde(default)]
    purpose: Option<String>,
}

async fn live_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<LookupQuery>,
) -> Result<Response, ApiError> {
    let purpose = lookup_purpose(&headers, query.purpose)?;
    let view = state
        .service
        .live_status(&caller, &id, purpose.as_ref())
        .await?;
    let licence = licence_view(&view.licence, licence_fields(caller.role));
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "credential_id": view.credential.id,
            "status": view.status.as_str(),
            "checked_at": view.checked_at,
            "licence": licence,
        }),
    ))
}

/// The purpose a lookup declares: the `X-Edl-Purpose` header, else the `purpose` query
/// parameter (the header is for programs, the parameter for people with a browser). What
/// `audit::Purpose` refuses is a 400 wherever it is, even in a parameter the header
/// overrides; so are a header that is not visible ASCII and more than one header. axum's
/// `Query` decodes percent-escapes that are not UTF-8 into U+FFFD, which `Purpose`
/// refuses: invalid encodings never reach the audit log.
fn lookup_purpose(
    headers: &HeaderMap,
    query: Option<String>,
) -> Result<Option<crate::audit::Purpose>, ApiError> {
    let parse = |text: &str| {
        text.parse::<crate::audit::Purpose>()
            .map_err(|e| ApiError::BadRequest(e.to_string()))
    };
    let from_query = query.as_deref().map(parse).transpose()?;
    let mut values = headers.get_all("x-edl-purpose").iter();
    match (values.next(), values.next()) {
        (Some(_), Some(_)) => Err(ApiError::BadRequest(
            "X-Edl-Purpose: one header, not several".into(),
        )),
        (Some(value), None) => value
            .to_str()
            .map_err(|_| ApiError::BadRequest("X-Edl-Purpose: not visible ASCII".into()))
            .and_then(parse)
            .map(Some),
        (None, _) => Ok(from_query),
    }
}

/// The licence fields a role may see.
pub fn licence_view(record: &LicenceRecord, fields: &[LicenceField]) -> Value {
    let mut map = Map::new();
    for field in fields {
        match field {
            LicenceField::Number => {
                map.insert("number".into(), json!(record.number));
            }
            LicenceField::Name => {
                map.insert("name".into(), json!(record.name));
            }
            LicenceField::Classes => {
                map.insert("classes".into(), json!(record.classes));
            }
            LicenceField::Validity => {
                map.insert("validity".into(), json!(record.validity));
            }
            LicenceField::Authority => {
                map.insert("authority".into(), json!(record.authority));
            }
            LicenceField::State => {
                map.insert("state".into(), json!(record.state));
            }
            LicenceField::Points => {
                map.insert("points".into(), json!(record.points));
            }
            LicenceField::Photo => {
                map.insert("photo".into(), json!(record.photo));
            }
        }
    }
    Value::Object(map)
}

async fn refresh(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = state.service.refresh(&caller, &id).await?;
    let qr_text = URL_SAFE_NO_PAD
        .decode(&record.token)
        .map(|bytes| keys::qr::encode(&bytes))
        .unwrap_or_default();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "id": record.id,
            "token": record.token,
            "qr_text": qr_text,
            "issued_at": record.issued_at,
            "expires_at": record.expires_at,
        }),
    ))
}

// ----- registry -----

/// A registry change's answer: the record, the licence's credentials, any re-issue.
fn change_response(
    state: &AppState,
    status: StatusCode,
    change: &LicenceChange,
) -> Result<Response, ApiError> {
    Ok(json_response(status, &change_json(state, change)?))
}

fn change_json(state: &AppState, change: &LicenceChange) -> Result<Value, ApiError> {
    let credentials: Vec<Value> = state
        .service
        .licence_credentials(&change.record.number)?
        .iter()
        .map(|c| json!({"id": c.id, "superseded": c.superseded, "expires_at": c.expires_at}))
        .collect();
    let mut body = json!({
        "licence": change.record,
        "credentials": credentials,
    });
    if let (Some(t), Some(map)) = (change.reissue, body.as_object_mut()) {
        map.insert("reissue_ticket".into(), json!(t.to_string()));
    }
    Ok(body)
}

async fn licence(
    State(state): State<AppState>,
    Path(number): Path<String>,
) -> Result<Response, ApiError> {
    let number = parse_number(&number)?;
    let record = state
        .service
        .licence(&number)?
        .ok_or(ApiError::NotFound("licence"))?;
    let change = LicenceChange {
        record,
        created: false,
        reissue: None,
    };
    change_response(&state, StatusCode::OK, &change)
}

async fn put_licence(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let line: RegistryLine = json_body(body)?;
    let change = state.service.put_licence(&caller, &number, line).await?;
    let status = if change.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    change_response(&state, status, &change)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateBody {
    action: StateAction,
}

async fn licence_state(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let number = parse_number(&number)?;
    let body: StateBody = json_body(body)?;
    let change = state
        .service
        .change_state(&caller, &number, body.action)
        .await?;
    change_response(&state, StatusCode::OK, &change)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PointsBody {
    points: Points,
}

async fn licence_points(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let number = parse_number(&number)?;
    let body: PointsBody = json_body(body)?;
    let change = state
        .service
        .set_points(&caller, &number, body.points)
        .await?;
    change_response(&state, StatusCode::OK, &change)
}
