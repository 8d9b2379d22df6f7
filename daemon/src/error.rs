//! The errors request handlers return. `http::problem` is the one place that turns them
//! into status codes and RFC 9457 bodies; internal causes are logged there, never sent.

use crate::service::Throttled;
use crate::store::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed input.
    #[error("{0}")]
    BadRequest(String),
    /// No or unknown credentials.
    #[error("authentication required")]
    Unauthenticated,
    /// Authenticated, but the role may not do this.
    #[error("not allowed for this client's role")]
    Forbidden,
    /// Nothing there.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The method is not served on this path.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The body is too large.
    #[error("request body too large")]
    PayloadTooLarge,
    /// The request line and headers are too large.
    #[error("request headers too large")]
    HeadersTooLarge,
    /// The body did not arrive in time.
    #[error("request body timed out")]
    RequestTimeout,
    /// Well-formed but not acceptable.
    #[error("{0}")]
    Unprocessable(String),
    /// Try again later.
    #[error("service unavailable")]
    Unavailable {
        /// Seconds until a retry can succeed.
        retry_after: u64,
    },
    /// Refused by admission: 429 (one caller over its limit) or 503 (full).
    #[error("throttled by the {} limit", .0.limit)]
    Throttled(Throttled),
    /// The store failed; the client may retry.
    #[error("storage failure")]
    Store(#[from] StoreError),
    /// A bug or an unexpected failure.
    #[error("internal error")]
    Internal(String),
}
