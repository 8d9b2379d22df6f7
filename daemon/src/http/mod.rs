//! The HTTP APIs: route tables (`routes`), the layers every request passes (`layers`:
//! access, body limits, the runtime a route runs on, the request span and metrics), the
//! handlers per area (`handlers`), the codecs between JSON and the service's values
//! (`codec`), and `problem`, the one place where errors become status codes and RFC 9457
//! bodies. `server` runs the listeners (TLS, timeouts, connections), `openapi` writes the
//! documents, `render` draws QR images.
//!
//! **Access.** Every route names an `Endpoint`; before its handler runs, the router
//! authenticates the caller (client certificate or API key, or the session cookie of the
//! listener's page with its CSRF token on a change, `session`: 401 without, 403 for a
//! forged change) and applies the role-by-endpoint table in `auth` (403 when the role may
//! not), so a handler never sees a caller it should not serve. Only then is the body read.
//!
//! **Isolation.** Every route has a `Kind`, a column of its table. Issuance routes run on
//! the issuance runtime (its own small thread budget), behind a bound on how many may be in
//! progress at once: past it they are shed at once with 503. Verification routes run on the
//! serving runtime and never wait for either.

pub(crate) mod accept;
pub(crate) mod codec;
pub(crate) mod date;
pub(crate) mod first_request;
pub(crate) mod handlers;
pub(crate) mod identity;
pub(crate) mod layers;
pub(crate) mod live;
pub(crate) mod openapi;
pub(crate) mod problem;
pub(crate) mod render;
pub(crate) mod router;
pub(crate) mod routes;
pub(crate) mod server;
pub(crate) mod session;
pub(crate) mod state;
