//! The configuration file as written: `RawConfig` and its tables, deserialized with
//! unknown keys refused, the embedded development defaults, and command-line overrides.
//! Nothing here is checked beyond its type: `Config::try_from` does that.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;
use crate::domain::access::Role;

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
    /// `--store URL`: a `postgresql://` URL selects the PostgreSQL engine.
    pub store: Option<String>,
    /// `--migrate`: apply the store's schema migrations at start.
    pub migrate: bool,
    /// `--node NAME`: this node's name among the nodes on one PostgreSQL database.
    pub node: Option<String>,
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
    /// `[photo]`: the bounds the automatic pre-checks of an uploaded photo hold it
    /// against (each explained on `domain::photo::Thresholds`); the defaults follow the
    /// authority's rules.
    #[serde(default)]
    pub photo: crate::domain::photo::Thresholds,
    /// Where the state lives.
    #[serde(default)]
    pub store: RawStore,
    /// `[webhooks]`: how notifications reach their subscribers.
    #[serde(default)]
    pub webhooks: super::RawWebhooks,
}

/// `[store]`: the storage engine. sled in `<data_dir>/db` unless `engine = "postgres"`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// `sled` (default) or `postgres`.
    #[serde(default)]
    pub engine: Option<String>,
    /// The PostgreSQL URL (libpq form; several hosts and `target_session_attrs` allowed).
    #[serde(default)]
    pub url: Option<String>,
    /// This node's name, unique among the nodes on one database.
    #[serde(default)]
    pub node: Option<String>,
    /// Connections in the pool (default 16).
    #[serde(default)]
    pub pool_size: Option<usize>,
    /// sled: MiB of decoded records kept for live-status lookups (default 128).
    #[serde(default)]
    pub record_cache_mib: Option<u64>,
    /// Apply the schema migrations at start.
    #[serde(default)]
    pub migrate: bool,
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
        if let Some(url) = &overrides.store {
            if url.starts_with("postgresql://") || url.starts_with("postgres://") {
                self.store.engine = Some("postgres".into());
                self.store.url = Some(url.clone());
            } else {
                self.store.engine = Some(url.clone());
            }
        }
        self.store.migrate |= overrides.migrate;
        if let Some(node) = &overrides.node {
            self.store.node = Some(node.clone());
        }
        self
    }
}

/// The rest of a path that starts with `$CREDENTIALS_DIRECTORY`.
pub(super) fn credentials_relative(path: &Path) -> Option<PathBuf> {
    let mut components = path.components();
    let first = components.next()?.as_os_str();
    (first == "$CREDENTIALS_DIRECTORY" || first == "${CREDENTIALS_DIRECTORY}")
        .then(|| components.as_path().to_owned())
}
