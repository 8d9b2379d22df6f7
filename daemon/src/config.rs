//! The daemon's configuration: the TOML file as written (`RawConfig`, unknown keys
//! rejected) and the checked `Config` that the rest of the daemon trusts.
//!
//! **Invariant:** a `Config` only comes from `Config::try_from(RawConfig)`, which checks
//! addresses, TLS, paths and durations once; nothing downstream re-checks them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::auth::Role;
use crate::domain::throttle::settings::ThrottleSettings;

/// The embedded default configuration `edld` runs on without `--config`.
pub const DEFAULT_TOML: &str = r#"
# edld development defaults: loopback only, plain HTTP, state in ./edl-data,
# development keys and one API key per role created on first start.
listen = "127.0.0.1:8080"
admin_listen = "127.0.0.1:8081"
data_dir = "./edl-data"
issuer = "EDL-DEV"
dev_keys = true
dev_clients = true
"#;

/// Overrides from the command line (`--listen`, `--admin-listen`, `--data`), applied
/// before the checks so they are checked too.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--admin-listen`.
    pub admin_listen: Option<String>,
    /// `--data`.
    pub data_dir: Option<PathBuf>,
}

/// The configuration file as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Public API address.
    pub listen: String,
    /// Admin API address (loopback only).
    pub admin_listen: String,
    /// State directory (sled database, photos, development keys).
    pub data_dir: PathBuf,
    /// Base URL of the public API as clients reach it; status list URIs derive from it.
    /// Defaults to the listen address with `http` or `https`.
    #[serde(default)]
    pub public_base_url: Option<String>,
    /// The credential `iss`: the issuing authority's URI or code.
    pub issuer: String,
    /// Create root, credential and status keys in `<data>/keys` on first start.
    #[serde(default)]
    pub dev_keys: bool,
    /// Create one API key per role on first start, written to `<data>/dev-clients.txt`.
    #[serde(default)]
    pub dev_clients: bool,
    /// Key files, for production (`dev_keys = false`).
    #[serde(default)]
    pub keys: Option<RawKeys>,
    /// TLS certificate chain and key (PEM) for the public listener.
    #[serde(default)]
    pub tls: Option<RawTls>,
    /// Credential settings.
    #[serde(default)]
    pub credentials: RawCredentials,
    /// Status list settings.
    #[serde(default)]
    pub status_lists: RawStatusLists,
    /// Issuance settings.
    #[serde(default)]
    pub issuance: RawIssuance,
    /// Request limits.
    #[serde(default)]
    pub limits: RawLimits,
    /// Throttle settings at first start, as `[throttle.drain] rate = 1000` and so on (the
    /// names of `edld throttle set`, dotted names as tables). Once operators change them,
    /// the stored settings win over these.
    #[serde(default)]
    pub throttle: Option<toml::Table>,
}

/// `[keys]`: PKCS#8 v1 PEM private key files, mode 0600, and either the root key (edld
/// signs its own trust list) or, in production, a trust list signed offline with the root
/// public keys to check it against. A path may start with `$CREDENTIALS_DIRECTORY/`
/// (systemd's `LoadCredential=`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeys {
    /// Root key: edld signs the trust list itself (not for production).
    #[serde(default)]
    pub root: Option<PathBuf>,
    /// Credential signing key.
    pub credential: PathBuf,
    /// Status list signing key.
    pub status: PathBuf,
    /// A trust list signed offline with `edl-keys trust-list sign` (COSE), served as-is.
    #[serde(default)]
    pub trust_list: Option<PathBuf>,
    /// The pinned root public keys (SPKI PEM) the trust list must verify against.
    #[serde(default)]
    pub root_public: Vec<PathBuf>,
}

/// `[tls]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// Certificate chain, PEM.
    pub cert: PathBuf,
    /// Private key, PEM (PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
    /// CA certificates (PEM) that sign client certificates. With it, clients may
    /// authenticate with a certificate (mTLS); clients without one still may use API keys.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// `[[tls.clients]]`: which client and role a client certificate stands for.
    #[serde(default)]
    pub clients: Vec<RawCertClient>,
}

/// `[[tls.clients]]`: certificates matching one name, and the client and role they carry.
/// Give exactly one of `cn` (the subject's common name), `ou` (one of the subject's
/// organisational units) or `dns` (a subjectAltName DNS name). The first entry that
/// matches a certificate decides.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCertClient {
    /// Match the subject's common name exactly.
    #[serde(default)]
    pub cn: Option<String>,
    /// Match one of the subject's organisational units exactly.
    #[serde(default)]
    pub ou: Option<String>,
    /// Match one of the subjectAltName DNS names exactly (case-insensitive).
    #[serde(default)]
    pub dns: Option<String>,
    /// The role these certificates carry.
    pub role: Role,
    /// The client id recorded for them (throttles, audit); default `cert:` followed by
    /// the certificate's common name (or its first DNS name).
    #[serde(default)]
    pub client: Option<String>,
}

/// `[credentials]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCredentials {
    /// Longest credential lifetime in seconds; `exp` is the earlier of this and the
    /// licence's end of validity.
    pub lifetime_secs: u64,
    /// Signing key validity written in the trust list, in days from first use.
    pub key_validity_days: u64,
    /// Trust list `next_update`, seconds after signing.
    pub trust_list_validity_secs: u64,
}

impl Default for RawCredentials {
    fn default() -> Self {
        Self {
            lifetime_secs: 30 * 86_400,
            key_validity_days: 730,
            trust_list_validity_secs: 86_400,
        }
    }
}

/// `[status_lists]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStatusLists {
    /// The `ttl` claim: seconds a fetched list may be used before fetching again.
    pub ttl_secs: u64,
    /// Seconds from `iat` to `exp` of each signed list.
    pub validity_secs: u64,
    /// Every list is re-signed at this cadence even without changes.
    pub resign_every_secs: u64,
    /// Changes are collected for this long before the changed lists are re-signed.
    pub coalesce_ms: u64,
}

impl Default for RawStatusLists {
    fn default() -> Self {
        Self {
            ttl_secs: 300,
            validity_secs: 86_400,
            resign_every_secs: 3_600,
            coalesce_ms: 1_000,
        }
    }
}

/// `[issuance]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawIssuance {
    /// Most applications signed per drain step (one durable commit each step).
    pub batch: usize,
}

impl Default for RawIssuance {
    fn default() -> Self {
        Self { batch: 256 }
    }
}

/// `[limits]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLimits {
    /// Largest uploaded photo, in bytes (decoded).
    pub max_photo_bytes: usize,
    /// Seconds a client has to send its request headers (per request, and while a kept-
    /// alive connection is idle).
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request body once its headers arrived.
    pub body_timeout_secs: u64,
    /// Seconds a client has to finish its TLS handshake.
    pub handshake_timeout_secs: u64,
    /// Seconds an answer may wait for the client to read it (a write that cannot go on
    /// for this long closes the connection).
    pub write_timeout_secs: u64,
    /// Largest request line and headers together, in bytes (431 beyond).
    pub max_header_bytes: usize,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            max_photo_bytes: 512 * 1024,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            handshake_timeout_secs: 10,
            write_timeout_secs: 30,
            max_header_bytes: 16 * 1024,
        }
    }
}

/// Where the signing keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// Development keys in `<data>/keys`, created on first start.
    Development,
    /// Configured key files.
    Files {
        /// Root key.
        root: PathBuf,
        /// Credential key.
        credential: PathBuf,
        /// Status key.
        status: PathBuf,
    },
    /// Configured signing keys and a trust list signed offline: edld never holds the
    /// root private key.
    OfflineRoot {
        /// Credential key.
        credential: PathBuf,
        /// Status key.
        status: PathBuf,
        /// The signed trust list.
        trust_list: PathBuf,
        /// The pinned root public keys. Never empty.
        root_public: Vec<PathBuf>,
    },
}

/// TLS files for the public listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
    /// Client certificates: the CA that signs them and what each stands for.
    pub clients: Option<ClientCertificates>,
}

/// Client certificate authentication (mTLS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertificates {
    /// CA certificates, PEM.
    pub ca: PathBuf,
    /// Which client and role a certificate carries; the first match decides. Never empty.
    pub map: Vec<CertClient>,
}

/// One `[[tls.clients]]` entry, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertClient {
    /// What it matches.
    pub matches: CertMatch,
    /// The role.
    pub role: Role,
    /// The client id, when configured.
    pub client: Option<String>,
}

/// The certificate name a `[[tls.clients]]` entry matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertMatch {
    /// The subject's common name.
    CommonName(String),
    /// One of the subject's organisational units.
    OrganisationalUnit(String),
    /// One of the subjectAltName DNS names (stored lowercase).
    DnsName(String),
}

/// The checked configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Public listener.
    pub listen: SocketAddr,
    /// Admin listener, loopback.
    pub admin_listen: SocketAddr,
    /// State directory.
    pub data_dir: PathBuf,
    /// Public base URL, when configured; otherwise derived from the bound address.
    pub public_base_url: Option<String>,
    /// Credential `iss`.
    pub issuer: String,
    /// Key source.
    pub keys: KeySource,
    /// Create per-role development API keys on first start.
    pub dev_clients: bool,
    /// TLS for the public listener.
    pub tls: Option<TlsFiles>,
    /// Credential lifetime cap, seconds.
    pub credential_lifetime: u64,
    /// Signing key validity, seconds.
    pub key_validity: u64,
    /// Trust list validity, seconds.
    pub trust_list_validity: u64,
    /// Status list `ttl`, seconds.
    pub status_ttl: u64,
    /// Status list validity, seconds.
    pub status_validity: u64,
    /// Re-sign cadence.
    pub status_resign_every: Duration,
    /// Coalescing delay after a change.
    pub status_coalesce: Duration,
    /// Drain step size.
    pub issuance_batch: usize,
    /// Largest photo.
    pub max_photo_bytes: usize,
    /// Header read timeout.
    pub header_timeout: Duration,
    /// Request body timeout.
    pub body_timeout: Duration,
    /// TLS handshake timeout.
    pub handshake_timeout: Duration,
    /// How long a write may wait for the client to read.
    pub write_timeout: Duration,
    /// Largest request line and headers.
    pub max_header_bytes: usize,
    /// Throttle settings at first start.
    pub throttle: ThrottleSettings,
}

/// Why a configuration was refused. Each message names the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TOML syntax, a missing or unknown key, or a wrong type.
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    /// An address that does not parse.
    #[error("{setting} = {value:?} is not an IP address with a port")]
    Address {
        /// The setting.
        setting: &'static str,
        /// Its value.
        value: String,
    },
    /// A public address other than loopback without TLS.
    #[error("listen = {0} is not a loopback address; configure [tls] to serve beyond this machine")]
    PlainTextBeyondLoopback(SocketAddr),
    /// The admin listener must stay on loopback.
    #[error("admin_listen = {0} must be a loopback address")]
    AdminNotLoopback(SocketAddr),
    /// Neither development keys nor key files.
    #[error(
        "set dev_keys = true, or give [keys] credential and status files with trust_list and root_public (or root)"
    )]
    NoKeys,
    /// A path naming `$CREDENTIALS_DIRECTORY` when it is not set.
    #[error(
        "{setting}: {path} names $CREDENTIALS_DIRECTORY, which is not set (systemd sets it for a unit with LoadCredential=); set it or give the file's path"
    )]
    CredentialsDirectory {
        /// The setting.
        setting: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// Both development keys and key files.
    #[error("dev_keys = true and [keys] are mutually exclusive")]
    BothKeySources,
    /// A zero or out-of-range number.
    #[error("{setting} = {value} is out of range ({expected})")]
    Range {
        /// The setting.
        setting: &'static str,
        /// Its value.
        value: u64,
        /// What is allowed.
        expected: &'static str,
    },
    /// A configured file that does not exist.
    #[error("{setting}: {path} does not exist")]
    MissingFile {
        /// The setting.
        setting: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// A throttle setting that does not parse.
    #[error("throttle.{0}")]
    Throttle(String),
    /// An empty or malformed text setting.
    #[error("{setting}: {reason}")]
    Invalid {
        /// The setting.
        setting: &'static str,
        /// Why.
        reason: &'static str,
    },
}

impl RawConfig {
    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<RawConfig, ConfigError> {
        Ok(toml::from_str(text)?)
    }

    /// Reads and parses a file.
    pub fn read(path: &Path) -> Result<RawConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        RawConfig::parse(&text)
    }

    /// The embedded defaults.
    pub fn embedded() -> RawConfig {
        // The embedded text is a constant checked by a unit test.
        #[allow(clippy::expect_used)]
        RawConfig::parse(DEFAULT_TOML).expect("the embedded configuration parses")
    }

    /// Resolves a leading `$CREDENTIALS_DIRECTORY` (or `${CREDENTIALS_DIRECTORY}`) in the
    /// key and TLS file paths to `dir`, the directory systemd's `LoadCredential=` fills.
    /// Without `dir` the paths stay as written, and the checks refuse them by name.
    pub fn with_credentials_directory(mut self, dir: Option<&Path>) -> RawConfig {
        let Some(dir) = dir else {
            return self;
        };
        let resolve = |path: &mut PathBuf| {
            if let Some(rest) = credentials_relative(path) {
                *path = dir.join(rest);
            }
        };
        if let Some(keys) = &mut self.keys {
            keys.root
                .iter_mut()
                .chain(keys.trust_list.iter_mut())
                .chain(keys.root_public.iter_mut())
                .chain([&mut keys.credential, &mut keys.status])
                .for_each(resolve);
        }
        if let Some(tls) = &mut self.tls {
            resolve(&mut tls.cert);
            resolve(&mut tls.key);
        }
        self
    }

    /// Applies command-line overrides.
    pub fn with_overrides(mut self, overrides: &Overrides) -> RawConfig {
        if let Some(listen) = &overrides.listen {
            self.listen.clone_from(listen);
        }
        if let Some(admin) = &overrides.admin_listen {
            self.admin_listen.clone_from(admin);
        }
        if let Some(data) = &overrides.data_dir {
            self.data_dir.clone_from(data);
        }
        self
    }
}

impl TryFrom<RawConfig> for Config {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Config, ConfigError> {
        let listen = address("listen", &raw.listen)?;
        let admin_listen = address("admin_listen", &raw.admin_listen)?;
        let tls = raw.tls.map(tls_files).transpose()?;
        if let Some(tls) = &tls {
            existing("tls.cert", &tls.cert)?;
            existing("tls.key", &tls.key)?;
        } else if !listen.ip().is_loopback() {
            return Err(ConfigError::PlainTextBeyondLoopback(listen));
        }
        if !admin_listen.ip().is_loopback() {
            return Err(ConfigError::AdminNotLoopback(admin_listen));
        }
        let keys = match (raw.dev_keys, raw.keys) {
            (true, None) => KeySource::Development,
            (false, Some(k)) => key_files(k, raw.public_base_url.is_some())?,
            (false, None) => return Err(ConfigError::NoKeys),
            (true, Some(_)) => return Err(ConfigError::BothKeySources),
        };
        if raw.issuer.trim().is_empty() {
            return Err(ConfigError::Invalid {
                setting: "issuer",
                reason: "must not be empty",
            });
        }
        if let Some(url) = &raw.public_base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                setting: "public_base_url",
                reason: "must start with http:// or https://",
            });
        }
        if raw.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                setting: "data_dir",
                reason: "must not be empty",
            });
        }
        let c = &raw.credentials;
        positive("credentials.lifetime_secs", c.lifetime_secs)?;
        positive("credentials.key_validity_days", c.key_validity_days)?;
        positive(
            "credentials.trust_list_validity_secs",
            c.trust_list_validity_secs,
        )?;
        let s = &raw.status_lists;
        positive("status_lists.ttl_secs", s.ttl_secs)?;
        positive("status_lists.resign_every_secs", s.resign_every_secs)?;
        if s.validity_secs <= s.resign_every_secs {
            return Err(ConfigError::Range {
                setting: "status_lists.validity_secs",
                value: s.validity_secs,
                expected: "more than resign_every_secs, so a list never expires between signings",
            });
        }
        let batch = raw.issuance.batch;
        if !(1..=10_000).contains(&batch) {
            return Err(ConfigError::Range {
                setting: "issuance.batch",
                value: batch as u64,
                expected: "1 to 10000",
            });
        }
        let l = &raw.limits;
        if !(1024..=16 << 20).contains(&l.max_photo_bytes) {
            return Err(ConfigError::Range {
                setting: "limits.max_photo_bytes",
                value: l.max_photo_bytes as u64,
                expected: "1 KiB to 16 MiB",
            });
        }
        positive("limits.header_timeout_secs", l.header_timeout_secs)?;
        positive("limits.body_timeout_secs", l.body_timeout_secs)?;
        positive("limits.handshake_timeout_secs", l.handshake_timeout_secs)?;
        positive("limits.write_timeout_secs", l.write_timeout_secs)?;
        // hyper's own limit on the head sits at 64 KiB (see `server`); ours must be below.
        if !(1024..=MAX_HEADER_BYTES_CAP).contains(&l.max_header_bytes) {
            return Err(ConfigError::Range {
                setting: "limits.max_header_bytes",
                value: l.max_header_bytes as u64,
                expected: "1 KiB to 60 KiB",
            });
        }
        let mut throttle = ThrottleSettings::default();
        if let Some(table) = &raw.throttle {
            let mut entries = Vec::new();
            flatten("", table, &mut entries);
            for (name, value) in entries {
                throttle = throttle
                    .change(&name, &value)
                    .map_err(|e| ConfigError::Throttle(e.to_string()))?;
            }
        }
        Ok(Config {
            listen,
            admin_listen,
            data_dir: raw.data_dir,
            public_base_url: raw
                .public_base_url
                .map(|u| u.trim_end_matches('/').to_owned()),
            issuer: raw.issuer,
            keys,
            dev_clients: raw.dev_clients,
            tls,
            credential_lifetime: c.lifetime_secs,
            key_validity: c.key_validity_days.saturating_mul(86_400),
            trust_list_validity: c.trust_list_validity_secs,
            status_ttl: s.ttl_secs,
            status_validity: s.validity_secs,
            status_resign_every: Duration::from_secs(s.resign_every_secs),
            status_coalesce: Duration::from_millis(s.coalesce_ms),
            issuance_batch: batch,
            max_photo_bytes: l.max_photo_bytes,
            header_timeout: Duration::from_secs(l.header_timeout_secs),
            body_timeout: Duration::from_secs(l.body_timeout_secs),
            handshake_timeout: Duration::from_secs(l.handshake_timeout_secs),
            write_timeout: Duration::from_secs(l.write_timeout_secs),
            max_header_bytes: l.max_header_bytes,
            throttle,
        })
    }
}

impl Config {
    /// Reads, overrides and checks in one step: what `edld check-config` runs.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let raw = match path {
            Some(path) => RawConfig::read(path)?,
            None => RawConfig::embedded(),
        };
        let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        Config::try_from(
            raw.with_overrides(overrides)
                .with_credentials_directory(credentials.as_deref()),
        )
    }

    /// The base URL for a public listener bound at `bound`.
    pub fn base_url(&self, bound: SocketAddr) -> String {
        match &self.public_base_url {
            Some(url) => url.clone(),
            None => {
                let scheme = if self.tls.is_some() { "https" } else { "http" };
                format!("{scheme}://{bound}")
            }
        }
    }
}

/// The largest `limits.max_header_bytes`.
pub const MAX_HEADER_BYTES_CAP: usize = 60 * 1024;

/// Checks `[tls]`: client certificates need both a CA and at least one mapping, and each
/// mapping names exactly one certificate name.
fn tls_files(raw: RawTls) -> Result<TlsFiles, ConfigError> {
    let clients = match (raw.client_ca, raw.clients.is_empty()) {
        (None, true) => None,
        (None, false) => {
            return Err(ConfigError::Invalid {
                setting: "tls.clients",
                reason: "needs tls.client_ca, the CA that signs client certificates",
            });
        }
        (Some(_), true) => {
            return Err(ConfigError::Invalid {
                setting: "tls.client_ca",
                reason: "needs at least one [[tls.clients]] entry giving certificates a role",
            });
        }
        (Some(ca), false) => {
            existing("tls.client_ca", &ca)?;
            let map = raw
                .clients
                .into_iter()
                .map(cert_client)
                .collect::<Result<_, _>>()?;
            Some(ClientCertificates { ca, map })
        }
    };
    Ok(TlsFiles {
        cert: raw.cert,
        key: raw.key,
        clients,
    })
}

fn cert_client(raw: RawCertClient) -> Result<CertClient, ConfigError> {
    let matches = match (raw.cn, raw.ou, raw.dns) {
        (Some(cn), None, None) => CertMatch::CommonName(cn),
        (None, Some(ou), None) => CertMatch::OrganisationalUnit(ou),
        (None, None, Some(dns)) => CertMatch::DnsName(dns.to_ascii_lowercase()),
        _ => {
            return Err(ConfigError::Invalid {
                setting: "tls.clients",
                reason: "give exactly one of cn, ou or dns in each entry",
            });
        }
    };
    let empty = match &matches {
        CertMatch::CommonName(s) | CertMatch::OrganisationalUnit(s) | CertMatch::DnsName(s) => {
            s.trim().is_empty()
        }
    };
    if empty || raw.client.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err(ConfigError::Invalid {
            setting: "tls.clients",
            reason: "names must not be empty",
        });
    }
    Ok(CertClient {
        matches,
        role: raw.role,
        client: raw.client,
    })
}

/// Dotted names and text values of a (nested) TOML table.
fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<(String, String)>) {
    for (key, value) in table {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(t) => flatten(&name, t, out),
            toml::Value::String(s) => out.push((name, s.clone())),
            toml::Value::Datetime(d) => out.push((name, d.to_string())),
            other => out.push((name, other.to_string())),
        }
    }
}

fn address(setting: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| ConfigError::Address {
        setting,
        value: value.to_owned(),
    })
}

/// `[keys]` with `dev_keys = false`: either the root key, or an offline root's signed
/// trust list and pinned public keys (which need a fixed `public_base_url`, since the list
/// names the status list URIs).
fn key_files(k: RawKeys, base_url_fixed: bool) -> Result<KeySource, ConfigError> {
    existing("keys.credential", &k.credential)?;
    existing("keys.status", &k.status)?;
    match (k.root, k.trust_list) {
        (Some(root), None) => {
            existing("keys.root", &root)?;
            if !k.root_public.is_empty() {
                return Err(ConfigError::Invalid {
                    setting: "keys.root_public",
                    reason: "pins the roots a pre-signed keys.trust_list is checked against; it does not go with keys.root",
                });
            }
            Ok(KeySource::Files {
                root,
                credential: k.credential,
                status: k.status,
            })
        }
        (None, Some(trust_list)) => {
            existing("keys.trust_list", &trust_list)?;
            if k.root_public.is_empty() {
                return Err(ConfigError::Invalid {
                    setting: "keys.root_public",
                    reason: "a pre-signed keys.trust_list needs the root public keys to check it against",
                });
            }
            for path in &k.root_public {
                existing("keys.root_public", path)?;
            }
            if !base_url_fixed {
                return Err(ConfigError::Invalid {
                    setting: "public_base_url",
                    reason: "required with keys.trust_list: the signed list names the status list URIs, which derive from it",
                });
            }
            Ok(KeySource::OfflineRoot {
                credential: k.credential,
                status: k.status,
                trust_list,
                root_public: k.root_public,
            })
        }
        (Some(_), Some(_)) => Err(ConfigError::Invalid {
            setting: "keys",
            reason: "give either root (edld signs its own trust list) or trust_list (signed offline), not both",
        }),
        (None, None) => Err(ConfigError::Invalid {
            setting: "keys",
            reason: "give trust_list and root_public (the root key stays offline), or root",
        }),
    }
}

/// The rest of a path that starts with `$CREDENTIALS_DIRECTORY`.
fn credentials_relative(path: &Path) -> Option<PathBuf> {
    let mut components = path.components();
    let first = components.next()?.as_os_str();
    (first == "$CREDENTIALS_DIRECTORY" || first == "${CREDENTIALS_DIRECTORY}")
        .then(|| components.as_path().to_owned())
}

fn existing(setting: &'static str, path: &Path) -> Result<(), ConfigError> {
    if credentials_relative(path).is_some() {
        return Err(ConfigError::CredentialsDirectory {
            setting,
            path: path.to_owned(),
        });
    }
    if path.exists() {
        Ok(())
    } else {
        Err(ConfigError::MissingFile {
            setting,
            path: path.to_owned(),
        })
    }
}

fn positive(setting: &'static str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::Range {
            setting,
            value,
            expected: "greater than zero",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
