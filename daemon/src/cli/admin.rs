//! Calls to a running daemon's admin listener (plain HTTP on loopback) with an operator's
//! API key, for `edld throttle`, `edld clients` and `edld audit`. Blocking, through ureq
//! (the verifier's HTTP client): TCP_NODELAY, no proxy from the environment, one timeout
//! per call.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use ureq::http::Method;

/// No admin call takes long: the slowest, `GET /admin/v1/audit/verify`, reads both logs.
const TIMEOUT: Duration = Duration::from_secs(300);
/// The largest answer read: an audit query of a licence checked very often.
const MAX_BODY: u64 = 256 << 20;

/// Where the admin API is and the key to call it with.
#[derive(Clone, Debug)]
pub struct Admin {
    /// The admin listener.
    pub addr: SocketAddr,
    /// An API key of the operator role.
    pub key: String,
}

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Nothing answered, or the connection broke.
    #[error("the admin listener at {addr}: {message}")]
    Transport {
        /// The admin listener.
        addr: SocketAddr,
        /// What went wrong.
        message: String,
    },
    /// The daemon refused the call (the problem+json `detail`, else the body).
    #[error("{status}: {detail}")]
    Refused {
        /// The HTTP status.
        status: ureq::http::StatusCode,
        /// Why.
        detail: String,
    },
    /// The answer is not the JSON the admin API documents.
    #[error("the admin listener at {addr} answered {status} with no JSON body: {message}")]
    Body {
        /// The admin listener.
        addr: SocketAddr,
        /// The HTTP status.
        status: u16,
        /// What went wrong.
        message: String,
    },
}

impl Admin {
    /// Sends `method path` with `body` as JSON, if any; the JSON answer of a 2xx.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, AdminError> {
        let transport = |e: ureq::Error| AdminError::Transport {
            addr: self.addr,
            message: e.to_string(),
        };
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .no_delay(true)
            .proxy(None)
            .user_agent(concat!("edld/", env!("CARGO_PKG_VERSION")))
            .build();
        let agent = ureq::Agent::new_with_config(config);
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .header("Authorization", format!("Bearer {}", self.key));
        let built = match body {
            Some(body) => request
                .header("Content-Type", "application/json")
                .body(body.to_string().into_bytes()),
            None => request.body(Vec::new()),
        };
        let request = built.map_err(|e| AdminError::Transport {
            addr: self.addr,
            message: e.to_string(),
        })?;
        let mut response = agent.run(request).map_err(transport)?;
        let status = response.status();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(transport)?;
        let json: Result<Value, _> = serde_json::from_slice(&bytes);
        if !status.is_success() {
            let detail = match &json {
                Ok(problem) => problem["detail"]
                    .as_str()
                    .or(problem["title"].as_str())
                    .unwrap_or("refused")
                    .to_owned(),
                Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
            };
            return Err(AdminError::Refused { status, detail });
        }
        json.map_err(|e| AdminError::Body {
            addr: self.addr,
            status: status.as_u16(),
            message: e.to_string(),
        })
    }

    /// `GET path`, decoded as `T`.
    pub fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, AdminError> {
        let value = self.call(Method::GET, path, None)?;
        serde_json::from_value(value).map_err(|e| AdminError::Body {
            addr: self.addr,
            status: 200,
            message: e.to_string(),
        })
    }
}
