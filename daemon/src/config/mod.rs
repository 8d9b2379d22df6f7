//! The daemon's configuration: the TOML file as written (`RawConfig`, unknown keys
//! rejected) and the checked `Config` that the rest of the daemon trusts.
//!
//! **Invariant:** a `Config` only comes from `Config::try_from(RawConfig)`, which checks
//! addresses, TLS, paths and durations once; nothing downstream re-checks them.

mod raw;
mod store;
mod webhooks;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use self::raw::credentials_relative;
pub use self::raw::{
    DEFAULT_TOML, Overrides, RawCertClient, RawConfig, RawCredentials, RawIssuance, RawKeys,
    RawLimits, RawStatusLists, RawStore, RawTls,
};
pub use self::store::{
    DEFAULT_POOL_SIZE, DEFAULT_RECORD_CACHE_MIB, PostgresConfig, SledConfig, StoreConfig,
};
pub use self::webhooks::{RawWebhooks, Webhooks};
use crate::domain::access::Role;
use crate::domain::photo::{Thresholds, ThresholdsError};
use crate::domain::throttle::settings::{Given, Setting, ThrottleSettings};

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
    /// The storage engine.
    pub store: StoreConfig,
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
    /// The photo pre-checks' bounds, checked.
    pub photo: Thresholds,
    /// How notifications are delivered.
    pub webhooks: Webhooks,
}

/// Why a configuration was refused. Each message names the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A `[photo]` bound out of range or on the wrong side of its pair.
    #[error(transparent)]
    Photo(#[from] ThresholdsError),
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
        raw.photo.check_bounds()?;
        let mut throttle = ThrottleSettings::default();
        if let Some(table) = &raw.throttle {
            let mut entries = Vec::new();
            flatten("", table, &mut entries);
            for (name, value) in entries {
                throttle = throttle
                    .with(setting(&name, value)?)
                    .map_err(|e| ConfigError::Throttle(e.to_string()))?;
            }
        }
        let store = store::check(&raw.store)?;
        let webhooks = webhooks::check(&raw.webhooks)?;
        Ok(Config {
            listen,
            admin_listen,
            data_dir: raw.data_dir,
            store,
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
            photo: raw.photo,
            webhooks,
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
fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (key, value) in table {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(t) => flatten(&name, t, out),
            other => out.push((name, other.clone())),
        }
    }
}

/// One `[throttle]` value, typed as TOML gave it (a number stays a number).
fn setting(name: &str, value: toml::Value) -> Result<Setting, ConfigError> {
    let text;
    let given = match &value {
        toml::Value::String(s) => Given::Text(s),
        toml::Value::Integer(n) => Given::Integer(i128::from(*n)),
        toml::Value::Float(x) => Given::Float(*x),
        toml::Value::Boolean(b) => Given::Bool(*b),
        toml::Value::Datetime(d) => {
            text = d.to_string();
            Given::Text(&text)
        }
        toml::Value::Array(_) | toml::Value::Table(_) => {
            return Err(ConfigError::Throttle(format!(
                "{name}: a number, text, true/false or a date"
            )));
        }
    };
    Setting::new(name, given).map_err(|e| ConfigError::Throttle(e.to_string()))
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
