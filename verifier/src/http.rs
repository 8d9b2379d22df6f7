//! The HTTPS client: rustls with the ring provider (aws-lc-rs costs ~30 ms of CPU at start),
//! the configured `ca` or else the system's CA certificates as roots,
//! TCP_NODELAY on every connection, one whole-request timeout, no proxy from the
//! environment. Three calls: a conditional GET for signed files, the live status query,
//! and reading the server's `Date`.

use std::sync::Arc;
use std::time::Duration;

use keys::UnixTime;
use keys::token::CredentialId;
use ureq::tls::{Certificate, ClientCert, PemItem, RootCerts, TlsConfig, TlsProvider};

use crate::config::{Config, Credentials};
use crate::verdict::StatusValue;

/// Signed files are small (a status list of 131 072 entries is ~32 KiB before
/// compression); anything far larger is refused.
const MAX_BODY: u64 = 16 << 20;

/// An HTTP(S) client for one server's credentials.
pub struct Client {
    agent: ureq::Agent,
    bearer: Option<String>,
    purpose: Option<String>,
}

/// The answer to a conditional GET.
#[derive(Debug)]
pub enum Fetched {
    /// 304: the copy we have is current.
    NotModified {
        /// The server's `Date`.
        date: Option<UnixTime>,
    },
    /// 200 with the body.
    Body {
        /// The bytes.
        bytes: Vec<u8>,
        /// The `ETag`, if any.
        etag: Option<String>,
        /// The server's `Date`.
        date: Option<UnixTime>,
    },
}

/// The live status service's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveAnswer {
    /// The status.
    pub status: StatusValue,
    /// The server's clock when it answered.
    pub checked_at: UnixTime,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The client could not be set up (bad CA or client certificate).
    #[error("TLS setup: {0}")]
    Setup(String),
    /// The API key file could not be read.
    #[error("{0}")]
    Credentials(String),
    /// Connection, TLS or timeout.
    #[error("{url}: {message}")]
    Transport {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The server answered with an unexpected status.
    #[error("{url}: HTTP {status}{detail}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The problem+json `detail`/`title`, prefixed with ": ", or empty.
        detail: String,
    },
    /// The body is not what the contract says.
    #[error("{url}: {message}")]
    Body {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}

impl HttpError {
    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl Client {
    /// A client with `config`'s trust anchors and credentials, every request bounded by
    /// `timeout` from start to last byte.
    pub fn new(config: &Config, timeout: Duration) -> Result<Client, HttpError> {
        let certs = match &config.ca {
            Some(pem) => {
                let certs = certificates(pem)?;
                if certs.is_empty() {
                    return Err(HttpError::Setup("the ca file holds no certificate".into()));
                }
                certs
            }
            None => system_roots()?,
        };
        let mut tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .root_certs(RootCerts::new_with_certs(&certs));
        let mut bearer = None;
        match &config.credentials {
            Credentials::None => {}
            Credentials::ApiKey(key) => bearer = Some(format!("Bearer {key}")),
            Credentials::ApiKeyFile {
                path,
                empty_is_none,
            } => {
                bearer = crate::config::read_api_key_file(path, *empty_is_none)
                    .map_err(|e| HttpError::Credentials(e.to_string()))?
                    .map(|key| format!("Bearer {key}"));
            }
            Credentials::ClientCert { chain, key } => {
                let chain = certificates(chain)?;
                let key = ureq::tls::PrivateKey::from_pem(key)
                    .map_err(|e| HttpError::Setup(format!("client key: {e}")))?;
                tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
            }
        }
        let agent_config = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .no_delay(true)
            .proxy(None)
            .user_agent(concat!("edl-verify/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent: ureq::Agent::new_with_config(agent_config),
            bearer,
            purpose: None,
        })
    }

    /// Declares `purpose` with every live status lookup.
    pub fn with_purpose(mut self, purpose: Option<String>) -> Client {
        self.purpose = purpose;
        self
    }

    /// GET `url`, with `If-None-Match: etag` when given.
    pub fn fetch(&self, url: &str, accept: &str, etag: Option<&str>) -> Result<Fetched, HttpError> {
        self.fetch_with(url, accept, etag, None)
    }

    fn fetch_with(
        &self,
        url: &str,
        accept: &str,
        etag: Option<&str>,
        purpose: Option<&str>,
    ) -> Result<Fetched, HttpError> {
        let mut request = self.agent.get(url).header("Accept", accept);
        if let Some(etag) = etag {
            request = request.header("If-None-Match", etag);
        }
        if let Some(purpose) = purpose {
            request = request.header("X-Edl-Purpose", purpose);
        }
        if let Some(bearer) = &self.bearer {
            request = request.header("Authorization", bearer);
        }
        let mut response = request.call().map_err(|e| transport(url, e))?;
        let date = header(&response, "date").and_then(|d| parse_http_date(&d));
        match response.status().as_u16() {
            304 => Ok(Fetched::NotModified { date }),
            200 => {
                let etag = header(&response, "etag");
                let bytes = response
                    .body_mut()
                    .with_config()
                    .limit(MAX_BODY)
                    .read_to_vec()
                    .map_err(|e| transport(url, e))?;
                Ok(Fetched::Body { bytes, etag, date })
            }
            status => Err(status_error(url, status, &mut response)),
        }
    }

    /// The live status URL of `id`, and the purpose header: the purpose travels in a
    /// header when it is plain ASCII, else in the query.
    fn status_url(&self, server: &str, id: &CredentialId) -> (String, Option<&str>) {
        let mut url = format!("{server}/v1/credentials/{id}/status");
        let mut header = None;
        if let Some(purpose) = &self.purpose {
            if purpose.is_ascii() {
                header = Some(purpose.as_str());
            } else {
                url.push_str("?purpose=");
                url.push_str(&percent_encode(purpose));
            }
        }
        (url, header)
    }

    /// `GET {server}/v1/credentials/{id}/status` with `Accept: application/cwt`: a signed
    /// status receipt (docs/HTTP.md), not yet verified.
    pub fn receipt(&self, server: &str, id: &CredentialId) -> Result<Vec<u8>, HttpError> {
        let (url, header) = self.status_url(server, id);
        match self.fetch_with(&url, "application/cwt", None, header)? {
            Fetched::Body { bytes, .. } => Ok(bytes),
            Fetched::NotModified { .. } => Err(body_error(&url, "304 to an unconditional request")),
        }
    }

    /// `GET {server}/v1/credentials/{id}/status` (docs/HTTP.md).
    pub fn live_status(&self, server: &str, id: &CredentialId) -> Result<LiveAnswer, HttpError> {
        let (url, header) = self.status_url(server, id);
        let bytes = match self.fetch_with(&url, "application/json", None, header)? {
            Fetched::Body { bytes, .. } => bytes,
            Fetched::NotModified { .. } => {
                return Err(body_error(&url, "304 to an unconditional request"));
            }
        };
        #[derive(serde::Deserialize)]
        struct Body {
            credential_id: String,
            status: String,
            checked_at: u64,
        }
        let body: Body = serde_json::from_slice(&bytes)
            .map_err(|e| body_error(&url, &format!("not a live status body: {e}")))?;
        if body.credential_id != id.to_string() {
            return Err(body_error(&url, "the answer is about another credential"));
        }
        let status = StatusValue::from_live(&body.status)
            .ok_or_else(|| body_error(&url, &format!("unknown status {:?}", body.status)))?;
        Ok(LiveAnswer {
            status,
            checked_at: UnixTime(body.checked_at),
        })
    }
}

/// The system's CA certificates, for a server in the web PKI: read when a client is made
/// (never on an offline check) rather than a copy of Mozilla's roots built into the binary,
/// so the terminal build stays small and the roots follow the system's updates.
///
/// One bundle file, read with one call: `SSL_CERT_FILE`, else the one openssl-probe finds
/// (Debian's `/etc/ssl/certs/ca-certificates.crt`). rustls-native-certs would also read
/// every file of the certificate directories, the same certificates again (~17 million
/// instructions against ~2 million); it is used only when `SSL_CERT_DIR` is set or no
/// bundle file exists.
fn system_roots() -> Result<Vec<Certificate<'static>>, HttpError> {
    let bundle = std::env::var_os("SSL_CERT_DIR")
        .is_none()
        .then(|| openssl_probe::probe().cert_file)
        .flatten()
        .and_then(|path| std::fs::read(path).ok());
    let (certs, why) = match bundle {
        Some(pem) => (bundle_certificates(&pem), None),
        None => {
            let found = rustls_native_certs::load_native_certs();
            let certs = found
                .certs
                .iter()
                .map(|der| Certificate::from_der(der.as_ref()).to_owned())
                .collect();
            (certs, found.errors.first().map(ToString::to_string))
        }
    };
    if certs.is_empty() {
        let why = why.unwrap_or_else(|| "none found".to_owned());
        return Err(HttpError::Setup(format!(
            "no system CA certificates ({why}): install ca-certificates or set `ca` in the configuration"
        )));
    }
    Ok(certs)
}

/// The `CERTIFICATE` blocks of a PEM bundle, decoded with the ordinary base64 decoder.
/// Written here because the PEM readers at hand (rustls-pki-types, under ureq's and
/// rustls-native-certs') decode in constant time, as private keys need: 5.7 million
/// instructions, ~2 ms, for Debian's 220 KB bundle, on every online start. Certificates
/// are public. A block that does not decode is skipped, as rustls skips a certificate it
/// cannot parse.
fn bundle_certificates(pem: &[u8]) -> Vec<Certificate<'static>> {
    use base64::Engine as _;
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let mut certs = Vec::new();
    let mut base64 = Vec::new();
    let mut inside = false;
    for line in pem.split(|&b| b == b'\n').map(<[u8]>::trim_ascii) {
        if !inside {
            inside = line == BEGIN;
            base64.clear();
        } else if line == END {
            inside = false;
            if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(&base64) {
                certs.push(Certificate::from_der(&der).to_owned());
            }
        } else {
            base64.extend_from_slice(line);
        }
    }
    certs
}

fn certificates(pem: &[u8]) -> Result<Vec<Certificate<'static>>, HttpError> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item.map_err(|e| HttpError::Setup(e.to_string()))? {
            PemItem::Certificate(cert) => certs.push(cert),
            _ => continue,
        }
    }
    Ok(certs)
}

/// Percent-encodes everything but RFC 3986 unreserved characters (UTF-8 bytes).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn status_error(
    url: &str,
    status: u16,
    response: &mut ureq::http::Response<ureq::Body>,
) -> HttpError {
    // A problem+json body (RFC 9457) says why; show its detail, or its title.
    let detail = response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_vec()
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| {
            v.get("detail")
                .or_else(|| v.get("title"))
                .and_then(|d| d.as_str())
                .map(|d| format!(": {d}"))
        })
        .unwrap_or_default();
    HttpError::Status {
        url: url.to_owned(),
        status,
        detail,
    }
}

fn transport(url: &str, error: ureq::Error) -> HttpError {
    let message = match error {
        ureq::Error::Timeout(_) => "timed out".to_owned(),
        ureq::Error::Io(e) => e.to_string(),
        other => other.to_string(),
    };
    HttpError::Transport {
        url: url.to_owned(),
        message,
    }
}

fn body_error(url: &str, message: &str) -> HttpError {
    HttpError::Body {
        url: url.to_owned(),
        message: message.to_owned(),
    }
}

/// Reads an IMF-fixdate (RFC 9110 section 5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
/// `httpdate` also reads the obsolete RFC 850 and asctime forms; a `Date` is only taken
/// when it is the preferred form exactly (it formats back to the same text, weekday
/// included), as servers have sent for decades.
pub fn parse_http_date(text: &str) -> Option<UnixTime> {
    let text = text.trim();
    let time = httpdate::parse_http_date(text).ok()?;
    if httpdate::fmt_http_date(time) != text {
        return None;
    }
    time.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|since| UnixTime(since.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_date() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(UnixTime(784_111_777))
        );
    }

    #[test]
    fn http_date_garbage() {
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(parse_http_date(""), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37"), None);
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT trailing"),
            None
        );
    }

    #[test]
    fn a_bundle_reads_as_the_pem_reader_reads_it() {
        let made: Vec<_> = ["a.example", "b.example", "c.example"]
            .into_iter()
            .map(|name| rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap())
            .collect();
        // As bundles are written: comments, CRLF or LF, a key block, a damaged block.
        let mut bundle = String::from("# comment: CN=a\n");
        bundle.push_str(&made[0].cert.pem());
        bundle.push_str("\n# another\r\n");
        bundle.push_str(&made[1].cert.pem().replace('\n', "\r\n"));
        bundle.push_str(&made[2].signing_key.serialize_pem());
        bundle.push_str("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n");
        bundle.push_str(&made[2].cert.pem());
        let ours: Vec<Vec<u8>> = bundle_certificates(bundle.as_bytes())
            .iter()
            .map(|c| c.der().to_vec())
            .collect();
        let expected: Vec<Vec<u8>> = made.iter().map(|m| m.cert.der().to_vec()).collect();
        assert_eq!(ours, expected);
        let theirs: Vec<Vec<u8>> = ureq::tls::parse_pem(bundle.as_bytes())
            .filter_map(|item| match item {
                Ok(PemItem::Certificate(cert)) => Some(cert.der().to_vec()),
                _ => None,
            })
            .collect();
        assert_eq!(ours, theirs);
        assert!(bundle_certificates(b"").is_empty());
        assert!(bundle_certificates(b"-----BEGIN CERTIFICATE-----\nMIIB").is_empty());
    }

    #[test]
    fn http_date_only_the_preferred_form() {
        // RFC 850 and asctime: obsolete, refused.
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), None);
        // The weekday must match the date; other time zones are not IMF-fixdate.
        assert_eq!(parse_http_date("Mon, 06 Nov 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"), None);
        assert_eq!(parse_http_date("Sun, 6 Nov 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 24:49:37 GMT"), None);
        // Surrounding whitespace is not part of a field value (RFC 9110 section 5.5).
        assert_eq!(
            parse_http_date(" Sat, 05 Dec 2026 06:59:41 GMT "),
            Some(UnixTime(1_796_453_981))
        );
    }
}
