//! What every handler and layer shares: the service, the issuance runtime and its bound,
//! the documents served, and the limits a listener puts on requests.

use std::sync::Arc;
use std::time::Duration;

use crate::service::Service;

/// Shared state of every handler: one `Arc`, because every request clones and drops it
/// in each layer it passes, and each clone of a shared counter is a cache line the two
/// cores pass back and forth.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

impl AppState {
    /// The state.
    pub(crate) fn new(shared: Shared) -> AppState {
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
pub(crate) struct Shared {
    /// The daemon's operations.
    pub service: Arc<Service>,
    /// The runtime issuance routes run on.
    pub issuance: tokio::runtime::Handle,
    /// Issuance requests that may be in progress at once; past it, 503 at once.
    pub intake: Arc<tokio::sync::Semaphore>,
    /// The OpenAPI documents, serialized once at start.
    pub documents: Documents,
    /// Browser sessions of the reviewer desk and the operator console.
    pub sessions: crate::http::session::Sessions,
    /// Whether the public listener serves TLS (session cookies are then `Secure`).
    pub public_tls: bool,
}

/// The OpenAPI documents of both listeners, as served.
pub(crate) struct Documents {
    /// The public listener's.
    pub public: String,
    /// The admin listener's.
    pub admin: String,
}

/// What a listener accepts from a request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Largest body (413 beyond).
    pub body_bytes: usize,
    /// Time to receive the body once the headers arrived (408 beyond).
    pub body_timeout: Duration,
    /// Largest request line and headers (431 beyond).
    pub header_bytes: usize,
}
