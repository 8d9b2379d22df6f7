//! Test support: an authority that signs real artefacts with the keys library, an HTTPS
//! fixture serving them by the docs/HTTP.md contract, and a terminal (config + cache in a
//! temporary folder) that runs `verifier::run` in-process.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use keys::licence::{LicenceClass, LicenceClasses, PhotoDigest, Validity};
use keys::status_list::{self, CredentialStatus, StatusList, StatusListClaims};
use keys::token::{self, CredentialClaims, CredentialId, LicenceDetails, StatusReference};
use keys::trust_list::TrustList;
use keys::{KeyUse, SigningKey, TrustedKey, UnixTime};
use time::macros::date;

/// The tests' "now": 2027-01-15T08:00:00Z.
pub(crate) const NOW: UnixTime = UnixTime(1_800_000_000);
pub(crate) const HOUR: u64 = 3600;
pub(crate) const DAY: u64 = 86_400;

/// An issuing authority with fixed keys.
pub(crate) struct Authority {
    pub(crate) root: SigningKey,
    pub(crate) credential: SigningKey,
    pub(crate) status: SigningKey,
    pub(crate) base_url: String,
    pub(crate) credential_key_revoked: bool,
}

impl Authority {
    pub(crate) fn new(base_url: &str) -> Authority {
        Authority {
            root: SigningKey::from_seed(&[1; 32]),
            credential: SigningKey::from_seed(&[2; 32]),
            status: SigningKey::from_seed(&[3; 32]),
            base_url: base_url.trim_end_matches('/').to_owned(),
            credential_key_revoked: false,
        }
    }

    pub(crate) fn list_uri(&self, n: u32) -> String {
        format!("{}/v1/status-lists/{n}", self.base_url)
    }

    pub(crate) fn trust_list(&self, sequence: u64) -> TrustList {
        let window = |key: &SigningKey, key_use, revoked| TrustedKey {
            public: key.public().clone(),
            key_use,
            not_before: NOW.minus(365 * DAY),
            not_after: NOW.plus(365 * DAY),
            revoked,
        };
        TrustList {
            sequence,
            issued_at: NOW.minus(DAY),
            next_update: NOW.plus(6 * DAY),
            issuer: "CN-11".into(),
            keys: vec![
                window(
                    &self.credential,
                    KeyUse::Credential,
                    self.credential_key_revoked,
                ),
                window(&self.status, KeyUse::Status, false),
            ],
            status_lists: vec![self.list_uri(0)],
        }
    }

    pub(crate) fn signed_trust_list(&self, sequence: u64) -> Vec<u8> {
        self.trust_list(sequence).sign(&self.root)
    }

    /// Status list 0 with `entries` set, signed `age` seconds before NOW by `key`.
    pub(crate) fn status_list_signed_by(
        &self,
        key: &SigningKey,
        entries: &[(u64, CredentialStatus)],
        age: u64,
    ) -> Vec<u8> {
        let mut list = StatusList::new(2, status_list::MIN_ENTRIES).unwrap();
        for &(index, status) in entries {
            list.set(index, status.value()).unwrap();
        }
        let issued_at = NOW.minus(age);
        status_list::sign(
            &StatusListClaims {
                uri: self.list_uri(0),
                issued_at,
                expires_at: issued_at.plus(2 * DAY),
                ttl: HOUR,
                list,
            },
            key,
        )
    }

    pub(crate) fn status_list(&self, entries: &[(u64, CredentialStatus)], age: u64) -> Vec<u8> {
        self.status_list_signed_by(&self.status, entries, age)
    }

    pub(crate) fn claims(&self, index: u64) -> CredentialClaims {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&index.to_be_bytes());
        id[15] = 0xed;
        CredentialClaims {
            issuer: "CN-11".into(),
            licence_number: "11010519491231002X".parse().unwrap(),
            credential_id: CredentialId(id),
            issued_at: NOW.minus(10 * DAY),
            not_before: NOW.minus(10 * DAY),
            expires_at: NOW.plus(20 * DAY),
            licence: LicenceDetails {
                name: "张三".into(),
                classes: LicenceClasses::new(&[LicenceClass::C1, LicenceClass::D]).unwrap(),
                validity: Validity::new(date!(2020 - 06 - 01), Some(date!(2030 - 06 - 01)))
                    .unwrap(),
                authority: "北京市公安局公安交通管理局".into(),
                photo: PhotoDigest::of(b"photo"),
            },
            status: StatusReference {
                index,
                uri: self.list_uri(0),
            },
        }
    }

    pub(crate) fn qr(&self, claims: &CredentialClaims) -> String {
        self.qr_signed_by(claims, &self.credential)
    }

    pub(crate) fn qr_signed_by(&self, claims: &CredentialClaims, key: &SigningKey) -> String {
        keys::qr::encode(&token::sign(claims, key))
    }

    pub(crate) fn credential_id(&self, index: u64) -> String {
        self.claims(index).credential_id.to_string()
    }
}

/// How the fixture's live status endpoint behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LiveMode {
    Answer,
    Error500,
    Hang,
}

/// What the fixture serves; tests change it between calls.
pub(crate) struct ServerState {
    pub(crate) trust_list: Vec<u8>,
    pub(crate) status_lists: HashMap<u32, Vec<u8>>,
    pub(crate) status_list_error: bool,
    pub(crate) live: HashMap<String, &'static str>,
    pub(crate) live_mode: LiveMode,
    pub(crate) server_time: UnixTime,
    pub(crate) api_key: Option<String>,
    /// (path, If-None-Match, status) per request.
    pub(crate) requests: Vec<(String, Option<String>, u16)>,
}

/// An HTTPS server on 127.0.0.1 with a self-signed certificate.
pub(crate) struct Server {
    pub(crate) url: String,
    pub(crate) ca_pem: String,
    pub(crate) state: Arc<Mutex<ServerState>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub(crate) fn start() -> Server {
        Server::start_with(true)
    }

    /// Plain HTTP, as the daemon's development default on loopback.
    pub(crate) fn start_plain() -> Server {
        Server::start_with(false)
    }

    fn start_with(use_tls: bool) -> Server {
        let certified = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .unwrap();
        let ca_pem = certified.cert.pem();
        let cert_der = certified.cert.der().clone();
        let key_der =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der], key_der)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let scheme = if use_tls { "https" } else { "http" };
        let url = format!(
            "{scheme}://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        let state = Arc::new(Mutex::new(ServerState {
            trust_list: Vec::new(),
            status_lists: HashMap::new(),
            status_list_error: false,
            live: HashMap::new(),
            live_mode: LiveMode::Answer,
            server_time: NOW,
            api_key: None,
            requests: Vec::new(),
        }));
        let (shutdown, mut stop) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (stream, _) = tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok(a) => a,
                            Err(_) => continue,
                        },
                        _ = &mut stop => return,
                    };
                    let acceptor = acceptor.clone();
                    let state = shared.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            let state = state.clone();
                            async move {
                                Ok::<_, std::convert::Infallible>(handle(&state, request).await)
                            }
                        });
                        let http = hyper::server::conn::http1::Builder::new();
                        if !use_tls {
                            let io = hyper_util::rt::TokioIo::new(stream);
                            let _ = http.serve_connection(io, service).await;
                            return;
                        }
                        let Ok(stream) = acceptor.accept(stream).await else {
                            return;
                        };
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let _ = http.serve_connection(io, service).await;
                    });
                }
            });
        });
        Server {
            url,
            ca_pem,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut ServerState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    pub(crate) fn requests(&self) -> Vec<(String, Option<String>, u16)> {
        self.with(|s| s.requests.clone())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn etag(bytes: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

async fn handle(
    state: &Mutex<ServerState>,
    request: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let if_none_match = request
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (response, hang) = {
        let state = &mut *state.lock().unwrap();
        let date = httpdate(state.server_time);
        let signed = |bytes: &[u8], content_type: &str| {
            let tag = etag(bytes);
            if if_none_match.as_deref() == Some(tag.as_str()) {
                return reply(StatusCode::NOT_MODIFIED, content_type, Vec::new(), &date)
                    .with_etag(&tag);
            }
            reply(StatusCode::OK, content_type, bytes.to_vec(), &date).with_etag(&tag)
        };
        let mut hang = false;
        let response = if path == "/v1/trust-list" {
            signed(&state.trust_list, "application/edl-trust-list+cose")
        } else if let Some(n) = path.strip_prefix("/v1/status-lists/") {
            match n
                .parse::<u32>()
                .ok()
                .and_then(|n| state.status_lists.get(&n))
            {
                _ if state.status_list_error => problem(StatusCode::INTERNAL_SERVER_ERROR, &date),
                Some(bytes) => signed(bytes, status_list::TYP),
                None => problem(StatusCode::NOT_FOUND, &date),
            }
        } else if let Some(id) = path
            .strip_prefix("/v1/credentials/")
            .and_then(|p| p.strip_suffix("/status"))
        {
            let authorised = match &state.api_key {
                None => true,
                Some(key) => authorization.as_deref() == Some(&format!("Bearer {key}")),
            };
            match (state.live_mode, state.live.get(id)) {
                _ if !authorised => problem(StatusCode::UNAUTHORIZED, &date),
                (LiveMode::Error500, _) => problem(StatusCode::INTERNAL_SERVER_ERROR, &date),
                (LiveMode::Hang, _) => {
                    hang = true;
                    problem(StatusCode::SERVICE_UNAVAILABLE, &date)
                }
                (LiveMode::Answer, Some(status)) => {
                    let body = serde_json::json!({
                        "credential_id": id,
                        "status": status,
                        "checked_at": state.server_time.0,
                        "licence": {},
                    });
                    reply(
                        StatusCode::OK,
                        "application/json",
                        body.to_string().into_bytes(),
                        &date,
                    )
                }
                (LiveMode::Answer, None) => problem(StatusCode::NOT_FOUND, &date),
            }
        } else {
            problem(StatusCode::NOT_FOUND, &date)
        };
        state
            .requests
            .push((path, if_none_match, response.status().as_u16()));
        (response, hang)
    };
    if hang {
        tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    }
    response
}

trait WithEtag {
    fn with_etag(self, tag: &str) -> Self;
}

impl WithEtag for Response<Full<Bytes>> {
    fn with_etag(mut self, tag: &str) -> Self {
        self.headers_mut().insert("etag", tag.parse().unwrap());
        self
    }
}

fn reply(
    status: StatusCode,
    content_type: &str,
    body: Vec<u8>,
    date: &str,
) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("date", date)
        .header("cache-control", "public, max-age=3600")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn problem(status: StatusCode, date: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "detail": format!("fixture answered {}", status.as_u16()),
    });
    reply(
        status,
        "application/problem+json",
        body.to_string().into_bytes(),
        date,
    )
}

fn httpdate(t: UnixTime) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(t.0 as i64).unwrap();
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(format).unwrap()
}

/// A terminal: a config file and a cache folder in a temporary directory.
pub(crate) struct Terminal {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) config: PathBuf,
}

/// What one run printed and returned.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: u8,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {self:?}"))
    }
}

impl Terminal {
    /// A terminal pinning `authority`'s root, talking to `server` if given.
    pub(crate) fn new(authority: &Authority, server: Option<&Server>, extra: &str) -> Terminal {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("root.pem"),
            authority.root.public().to_spki_pem(),
        )
        .unwrap();
        let mut config = String::from("roots = [\"root.pem\"]\ncache_dir = \"cache\"\n");
        if let Some(server) = server {
            std::fs::write(dir.path().join("ca.pem"), &server.ca_pem).unwrap();
            config.push_str(&format!("server = \"{}\"\nca = \"ca.pem\"\n", server.url));
        }
        config.push_str(extra);
        let path = dir.path().join("verify.toml");
        std::fs::write(&path, config).unwrap();
        Terminal { dir, config: path }
    }

    pub(crate) fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    pub(crate) fn run(&self, args: &[&str], now: UnixTime) -> Run {
        self.run_with_stdin(args, now, "")
    }

    pub(crate) fn run_with_stdin(&self, args: &[&str], now: UnixTime, stdin: &str) -> Run {
        let config = self.config.to_str().unwrap();
        let mut argv = vec!["edl-verify", "--config", config];
        argv.extend_from_slice(args);
        let mut input = stdin.as_bytes();
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let env = |_: &str| None;
        let mut io = verifier::Io {
            stdin: &mut input,
            stdout: &mut stdout,
            stderr: &mut stderr,
            env: &env,
            stdout_is_terminal: false,
        };
        let code = verifier::run(argv, &mut io, now);
        Run {
            code,
            stdout: String::from_utf8(stdout).unwrap(),
            stderr: String::from_utf8(stderr).unwrap(),
        }
    }

    /// Writes a cache directly (as a sync would have), without a server.
    pub(crate) fn seed_cache(
        &self,
        authority: &Authority,
        sequence: u64,
        status_list: &[u8],
        fetched_at: UnixTime,
    ) {
        let trust = authority.signed_trust_list(sequence);
        let verified = keys::status_list::verify(
            status_list,
            &authority.trust_list(sequence).keyring(),
            &keys::VerifyPolicy::at(UnixTime(u64::MAX / 2)),
            None,
        );
        let issued_at = match verified {
            Ok(v) => v.claims.issued_at.0,
            // Expired or refused lists are seeded anyway: the verifier must cope.
            Err(_) => NOW.0,
        };
        let meta = verifier::cache::Meta {
            version: 1,
            server: authority.base_url.clone(),
            synced_at: fetched_at.0,
            server_time: Some(fetched_at.0),
            trust_list: verifier::cache::TrustListMeta {
                sequence,
                etag: None,
                fetched_at: fetched_at.0,
            },
            status_lists: vec![verifier::cache::ListMeta {
                uri: authority.list_uri(0),
                file: verifier::cache::list_file(0),
                etag: None,
                fetched_at: fetched_at.0,
                ttl: HOUR,
                issued_at,
            }],
        };
        verifier::cache::commit(
            &self.cache_dir(),
            &verifier::cache::Generation {
                meta,
                trust_list: &trust,
                lists: vec![status_list],
            },
        )
        .unwrap();
    }
}

/// Serves `authority`'s artefacts from `server`.
pub(crate) fn publish(server: &Server, authority: &Authority, sequence: u64, status_list: Vec<u8>) {
    server.with(|s| {
        s.trust_list = authority.signed_trust_list(sequence);
        s.status_lists.insert(0, status_list);
    });
}

pub(crate) fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")
}
