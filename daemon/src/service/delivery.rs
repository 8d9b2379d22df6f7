//! Sending one webhook delivery: a signed POST (Standard Webhooks headers) to a subscriber
//! over HTTPS with rustls, or plain HTTP on loopback, the whole exchange under one timeout.
//!
//! **Why hyper's own client connection.** `hyper::client::conn::http1` over `tokio-rustls`
//! uses only crates the daemon already serves with (hyper, tokio-rustls with the ring
//! provider), so no second HTTP stack or TLS configuration comes in (reqwest would bring
//! its own pool, resolver and TLS setup). A delivery is one request on one connection; the
//! caller resolves the host and checks the addresses against the URL policy
//! (`domain::notify::Target::check_addresses`) just before sending, so a name that now
//! resolves elsewhere (DNS rebinding) is refused rather than followed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::domain::notify::Target;

/// A delivery ready to send: its Standard Webhooks headers and body.
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp` (Unix seconds).
    pub timestamp: u64,
    /// `webhook-signature`.
    pub signature: String,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// Why a delivery was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Connecting, TLS or HTTP failed.
    #[error("{0}")]
    Failed(String),
    /// The subscriber answered with a status other than 2xx.
    #[error("the subscriber answered {0}")]
    Status(u16),
}

/// Sends deliveries: the TLS client configuration (Mozilla's roots and the operator's
/// extra roots) and the timeout.
#[derive(Clone)]
pub(crate) struct Sender {
    tls: tokio_rustls::TlsConnector,
    timeout: Duration,
}

impl Sender {
    /// A sender trusting Mozilla's roots and `extra_roots`, giving up after `timeout`.
    pub(crate) fn new(
        extra_roots: Vec<CertificateDer<'static>>,
        timeout: Duration,
    ) -> Result<Sender, rustls::Error> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for root in extra_roots {
            roots.add(root)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Sender {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            timeout,
        })
    }

    /// POSTs `outgoing` to `target` at `address` (resolved and checked by the caller);
    /// `Ok` only for a 2xx answer within the timeout.
    pub(crate) async fn send(
        &self,
        target: &Target,
        address: SocketAddr,
        outgoing: &Outgoing,
    ) -> Result<u16, SendError> {
        match tokio::time::timeout(self.timeout, self.exchange(target, address, outgoing)).await {
            Ok(result) => result,
            Err(_) => Err(SendError::Timeout(self.timeout)),
        }
    }

    async fn exchange(
        &self,
        target: &Target,
        address: SocketAddr,
        outgoing: &Outgoing,
    ) -> Result<u16, SendError> {
        let failed = |e: &dyn std::fmt::Display| SendError::Failed(e.to_string());
        let tcp = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| failed(&e))?;
        tcp.set_nodelay(true).map_err(|e| failed(&e))?;
        if target.https {
            let name = ServerName::try_from(target.host.clone()).map_err(|e| failed(&e))?;
            let tls = self.tls.connect(name, tcp).await.map_err(|e| failed(&e))?;
            post(TokioIo::new(tls), target, outgoing).await
        } else {
            post(TokioIo::new(tcp), target, outgoing).await
        }
    }
}

/// One request on a fresh HTTP/1.1 connection over `io`.
async fn post<I>(io: I, target: &Target, outgoing: &Outgoing) -> Result<u16, SendError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let failed = |e: &dyn std::fmt::Display| SendError::Failed(e.to_string());
    let (mut request_sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| failed(&e))?;
    // The connection is driven beside the request and ends with it (dropped on timeout).
    let driver = tokio::spawn(connection);
    let host = if target.host.contains(':') {
        format!("[{}]:{}", target.host, target.port)
    } else {
        format!("{}:{}", target.host, target.port)
    };
    let request = http::Request::post(target.path.as_str())
        .header(http::header::HOST, host)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, "edld")
        .header("webhook-id", outgoing.id.as_str())
        .header("webhook-timestamp", outgoing.timestamp.to_string())
        .header("webhook-signature", outgoing.signature.as_str())
        .body(Full::new(Bytes::from(outgoing.body.clone())))
        .map_err(|e| failed(&e))?;
    let result = async {
        let response = request_sender
            .send_request(request)
            .await
            .map_err(|e| failed(&e))?;
        let status = response.status().as_u16();
        // Read (and drop) the answer, so the subscriber is not cut off mid-write.
        let _ = response.into_body().collect().await;
        if (200..300).contains(&status) {
            Ok(status)
        } else {
            Err(SendError::Status(status))
        }
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests;
