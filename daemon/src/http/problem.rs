//! The one mapping from errors to HTTP: each operation's error type becomes a [`Problem`]
//! here (status, a stable title, a detail for the client, `Retry-After` where a retry
//! helps), the way rustls turns its errors into alerts. Internal causes (a store failure, a
//! bug) are logged here and never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::access::ClientError;
use crate::http::date::http_date;
use crate::service::clients::ClientsError;
use crate::service::intake::{ApplyError, Limit, ReadError, Refused};
use crate::service::licences::RegistryError;
use crate::service::lookup::LookupError;
use crate::service::operators::ThrottleError;
use crate::service::receipt::ReceiptError;
use crate::service::refresh::RefreshError;
use crate::service::review::ReviewError;
use crate::service::webhooks::WebhooksError;
use crate::store::StoreError;

/// An error answer: an RFC 9457 problem+json body.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    detail: Option<String>,
    retry_after: Option<u64>,
    refused: Option<Refused>,
    /// The connection closes after it (what remains of the request is not read).
    closing: bool,
    /// Extension members (RFC 9457 section 3.2) added to the body.
    extensions: serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    fn new(status: StatusCode, detail: Option<String>) -> Problem {
        Problem {
            status,
            detail,
            retry_after: None,
            refused: None,
            closing: false,
            extensions: serde_json::Map::new(),
        }
    }

    /// Adds an extension member to the body.
    pub fn with(mut self, name: &str, value: serde_json::Value) -> Problem {
        self.extensions.insert(name.to_owned(), value);
        self
    }

    /// 400: malformed input.
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, Some(detail.into()))
    }

    /// 401: no, unknown or ambiguous credentials.
    pub fn unauthenticated() -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            Some(
                "authenticate with an API key (Authorization: Bearer <key>) or a client certificate, not both"
                    .to_owned(),
            ),
        )
    }

    /// 403: the role may not use this endpoint.
    pub fn forbidden() -> Problem {
        Problem::new(
            StatusCode::FORBIDDEN,
            Some("this client's role may not use this endpoint".to_owned()),
        )
    }

    /// 403: a change made with a session cookie without its CSRF token, or from another
    /// site.
    pub fn forgery() -> Problem {
        Problem::new(
            StatusCode::FORBIDDEN,
            Some("a change with a session needs its X-CSRF-Token, from this origin".to_owned()),
        )
    }

    /// 404.
    pub fn not_found(what: &str) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, Some(format!("{what} not found")))
    }

    /// 405.
    pub fn method_not_allowed() -> Problem {
        Problem::new(StatusCode::METHOD_NOT_ALLOWED, None)
    }

    /// 406: no representation the client accepts.
    pub fn not_acceptable(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_ACCEPTABLE, Some(detail.into()))
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::CONFLICT, Some(detail.into()))
    }

    /// 413, closing the connection.
    pub fn payload_too_large() -> Problem {
        Problem::new(StatusCode::PAYLOAD_TOO_LARGE, None).closing()
    }

    /// 431, closing the connection.
    pub fn headers_too_large() -> Problem {
        Problem::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, None).closing()
    }

    /// 408, closing the connection.
    pub fn request_timeout() -> Problem {
        Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            Some("the request body did not arrive in time".to_owned()),
        )
        .closing()
    }

    /// 422: well-formed but not acceptable.
    pub fn unprocessable(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, Some(detail.into()))
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(retry_after: u64) -> Problem {
        Problem {
            retry_after: Some(retry_after),
            ..Problem::new(StatusCode::SERVICE_UNAVAILABLE, None)
        }
    }

    /// 503 with `Retry-After` and the reason.
    pub fn unavailable_because(retry_after: u64, detail: impl Into<String>) -> Problem {
        Problem {
            retry_after: Some(retry_after),
            ..Problem::new(StatusCode::SERVICE_UNAVAILABLE, Some(detail.into()))
        }
    }

    /// 429 or 503 from admission, naming the limit.
    pub fn throttled(refused: Refused) -> Problem {
        let status = match refused.limit {
            Limit::Client | Limit::Licence => StatusCode::TOO_MANY_REQUESTS,
            Limit::Intake | Limit::Queue | Limit::Overload => StatusCode::SERVICE_UNAVAILABLE,
        };
        Problem {
            retry_after: Some(refused.retry_after),
            refused: Some(refused),
            ..Problem::new(status, None)
        }
    }

    /// 503: the store failed; logged, and the client may retry.
    pub fn store(error: &StoreError) -> Problem {
        tracing::error!(error = %error, "store failure");
        Problem::unavailable(1)
    }

    /// 500: a bug or an unexpected failure; logged, not shown.
    pub fn internal(error: impl std::fmt::Display) -> Problem {
        tracing::error!(error = %error, "internal error");
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, None)
    }

    /// The problem for a bare status (from the framework or an extractor).
    pub fn status(status: StatusCode) -> Problem {
        Problem::new(status, None)
    }

    /// The connection closes after this answer.
    pub fn closing(mut self) -> Problem {
        self.closing = true;
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("error");
        let mut body = match self.refused {
            Some(refused) => refused_body(self.status, &refused),
            None => json!({
                "type": format!("https://edl.invalid/problems/{}", self.status.as_u16()),
                "title": title,
                "status": self.status.as_u16(),
                "detail": self.detail.unwrap_or_else(|| title.to_owned()),
            }),
        };
        if let (Some(seconds), Some(map), None) =
            (self.retry_after, body.as_object_mut(), self.refused)
        {
            map.insert("retry_after".into(), json!(seconds));
        }
        if let Some(map) = body.as_object_mut() {
            map.extend(self.extensions);
        }
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"edl\""),
            );
        }
        if self.closing {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// 422 for a photo the pre-checks refuse: `type` names the photo problem, `reasons`
/// lists each finding that did not pass (failed ones first) with its code, verdict,
/// measurement, bound and the message in English and Chinese the app shows the holder.
fn photo_refused(findings: &[crate::domain::photo::Finding]) -> Problem {
    let problems: Vec<_> = findings
        .iter()
        .filter(|f| f.verdict != crate::domain::photo::Verdict::Pass)
        .collect();
    let detail = problems
        .iter()
        .filter_map(|f| f.message.as_ref().map(|m| m.en.to_string()))
        .collect::<Vec<_>>()
        .join(" ");
    Problem::unprocessable(detail)
        .with("type", json!("https://edl.invalid/problems/photo"))
        .with("reasons", json!(problems))
}

/// A refusal's body: the limit, the same `retry_after` as the header, and for a full queue
/// the time its backlog should clear.
fn refused_body(status: StatusCode, refused: &Refused) -> serde_json::Value {
    let detail = match (refused.limit, refused.clears_at) {
        (Limit::Client, _) => "this client is over its application rate".to_owned(),
        (Limit::Licence, _) => "too many applications for this licence".to_owned(),
        (Limit::Intake, _) => "applications arrive faster than the service takes them".to_owned(),
        (Limit::Overload, _) => "the service is saturated: issuance is shed first".to_owned(),
        (Limit::Queue, Some(at)) => format!(
            "the queue is full; its backlog should clear by {}",
            http_date(at)
        ),
        (Limit::Queue, None) => "the queue is full".to_owned(),
    };
    let mut body = json!({
        "type": format!("https://edl.invalid/problems/{}", refused.limit.as_str()),
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "detail": detail,
        "reason": refused.limit.as_str(),
        "retry_after": refused.retry_after,
    });
    if let (Some(at), Some(map)) = (refused.clears_at, body.as_object_mut()) {
        map.insert("clears_at".into(), json!(at));
    }
    body
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        Problem::store(&e)
    }
}

impl From<ApplyError> for Problem {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Throttled(refused) => Problem::throttled(refused),
            ApplyError::NotAnApplicant(_) => Problem::forbidden(),
            ApplyError::ChannelMismatch(_)
            | ApplyError::UnknownLicence
            | ApplyError::NotInForce(_)
            | ApplyError::NoPhotoOnFile
            | ApplyError::HolderKeyMismatch
            | ApplyError::Photo(_) => Problem::unprocessable(e.to_string()),
            ApplyError::PhotoRefused(findings) => photo_refused(&findings),
            ApplyError::Store(e) => Problem::store(&e),
        }
    }
}

impl From<ReadError> for Problem {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::NotFound => Problem::not_found("application"),
            ReadError::NotIssued => Problem::not_found("credential for this application"),
            ReadError::Store(e) => Problem::store(&e),
        }
    }
}

impl From<ReviewError> for Problem {
    fn from(e: ReviewError) -> Self {
        match e {
            ReviewError::NotFound(what) => Problem::not_found(what),
            ReviewError::NotWaiting(_) => Problem::conflict(e.to_string()),
            ReviewError::Photo(e) => Problem::internal(format!("reading photo: {e}")),
            ReviewError::Store(e) => Problem::store(&e),
        }
    }
}

impl From<LookupError> for Problem {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::PurposeRequired(_) => Problem::bad_request(e.to_string()),
            LookupError::NotFound => Problem::not_found("credential"),
            LookupError::UnknownLicence => Problem::not_found("licence"),
            LookupError::Store(e) => Problem::store(&e),
        }
    }
}

impl From<ReceiptError> for Problem {
    fn from(e: ReceiptError) -> Self {
        match e {
            ReceiptError::NotAudited(_) => Problem::not_acceptable(e.to_string()),
            ReceiptError::SigningHeld(_) => Problem::unavailable_because(60, e.to_string()),
            ReceiptError::Lookup(e) => e.into(),
        }
    }
}

impl From<RefreshError> for Problem {
    fn from(e: RefreshError) -> Self {
        match e {
            RefreshError::NotFound => Problem::not_found("credential"),
            RefreshError::Superseded | RefreshError::NotIssuable(_) | RefreshError::Contended => {
                Problem::conflict(e.to_string())
            }
            RefreshError::SigningHeld(_) => Problem::unavailable(60),
            RefreshError::Store(e) => Problem::store(&e),
        }
    }
}

impl From<RegistryError> for Problem {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::NotFound => Problem::not_found("licence"),
            RegistryError::Transition(_) => Problem::conflict(e.to_string()),
            RegistryError::Store(e) => Problem::store(&e),
        }
    }
}

impl From<ThrottleError> for Problem {
    fn from(e: ThrottleError) -> Self {
        match e {
            ThrottleError::Invalid(_) => Problem::unprocessable(e.to_string()),
            ThrottleError::Store(e) => Problem::store(&e),
        }
    }
}

impl From<ClientsError> for Problem {
    fn from(e: ClientsError) -> Self {
        match e {
            ClientsError::Client(ClientError::Exists(_)) => Problem::conflict(e.to_string()),
            ClientsError::Client(ClientError::Unknown(_)) => Problem::not_found("client"),
            ClientsError::Client(ClientError::BadName) => Problem::unprocessable(e.to_string()),
            ClientsError::Store(e) => Problem::store(&e),
        }
    }
}

impl From<WebhooksError> for Problem {
    fn from(e: WebhooksError) -> Self {
        match e {
            WebhooksError::Unknown(_) => Problem::not_found("subscription"),
            WebhooksError::Store(e) => Problem::store(&e),
            WebhooksError::Url(_)
            | WebhooksError::Secret(_)
            | WebhooksError::Events(_)
            | WebhooksError::Client => Problem::unprocessable(e.to_string()),
        }
    }
}
