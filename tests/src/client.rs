//! A small async HTTP/1.1 client over one kept-alive connection, plain or TLS 1.3 with an
//! optional client certificate, for the end-to-end tests and the load harness: they need
//! to hold one connection open, present certificates and send many requests from tokio
//! tasks, which a blocking client (ureq, as edld's command line uses) does not do.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A reply.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: hyper::HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "{} answered {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One connection.
pub struct Client {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    connection: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// A TLS client configuration trusting `roots` (PEM certificates), TLS 1.3, ring.
pub fn tls_config(ca_pem: &[u8]) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    tls_config_with(ca_pem, None)
}

/// As [`tls_config`], presenting a client certificate: its chain and private key, PEM.
pub fn tls_config_with(
    ca_pem: &[u8],
    client: Option<(&[u8], &[u8])>,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.context("CA certificate PEM")?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => {
            let chain = CertificateDer::pem_slice_iter(chain)
                .collect::<Result<Vec<_>, _>>()
                .context("client certificate PEM")?;
            let key = PrivateKeyDer::from_pem_slice(key).context("client key PEM")?;
            builder.with_client_auth_cert(chain, key)?
        }
    };
    Ok(Arc::new(config))
}

impl Client {
    /// Connects to `addr`; with `tls`, verifies the server as `server_name`.
    pub async fn connect(
        addr: SocketAddr,
        tls: Option<(Arc<rustls::ClientConfig>, &str)>,
    ) -> anyhow::Result<Client> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        tcp.set_nodelay(true)?;
        let (io, host): (Box<dyn Io>, String) = match tls {
            None => (Box::new(tcp), addr.to_string()),
            Some((config, name)) => {
                let server_name = ServerName::try_from(name.to_owned())?;
                let stream = tokio_rustls::TlsConnector::from(config)
                    .connect(server_name, tcp)
                    .await
                    .context("TLS handshake")?;
                (Box::new(stream), format!("{name}:{}", addr.port()))
            }
        };
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
        let connection = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Client {
            sender,
            host,
            connection,
        })
    }

    /// Sends one request.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> anyhow::Result<Reply> {
        let authorization = bearer.map(|key| ("authorization", format!("Bearer {key}")));
        self.send_with(method, path, authorization.as_slice(), body)
            .await
    }

    /// Sends one request with `headers` as given, in order, repeated names included.
    pub async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Option<(&str, Vec<u8>)>,
    ) -> anyhow::Result<Reply> {
        self.sender.ready().await?;
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.host);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let body = match body {
            Some((content_type, bytes)) => {
                request = request.header(hyper::header::CONTENT_TYPE, content_type);
                Bytes::from(bytes)
            }
            None => Bytes::new(),
        };
        let response = self
            .sender
            .send_request(request.body(Full::new(body))?)
            .await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// GET.
    pub async fn get(&mut self, path: &str, bearer: Option<&str>) -> anyhow::Result<Reply> {
        self.send(Method::GET, path, bearer, None).await
    }

    /// A request with a JSON body.
    pub async fn json(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: &serde_json::Value,
    ) -> anyhow::Result<Reply> {
        self.send(
            method,
            path,
            bearer,
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }
}
