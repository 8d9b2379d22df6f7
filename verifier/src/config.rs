//! The verifier's configuration: a small TOML file read once at start. `RawConfig` is what
//! the file says; [`Config`] is what it means, checked once (roots parsed, URL scheme
//! allowed, durations read), so nothing downstream re-checks it.
//!
//! ```toml
//! server = "https://edl.example.gov:8443"   # live status and sync; optional
//! roots = ["root.pem"]                      # pinned root keys: SPKI PEM paths or inline PEM
//! api_key_file = "api-key"                  # or api_key = "…", or client_cert + client_key
//! ca = "server-ca.pem"                      # extra TLS trust anchors for the server
//! cache_dir = "/var/cache/edl-verify"
//! max_status_age = "24h"
//! clock_tolerance = "5m"
//! require_holder_binding = false            # refuse holder-bound credentials shown as DL1:
//! presentation_skew = "30s"                 # DL2: slot may lie this far from the clock
//! purpose = "motor insurance claims"
//! scan_log = "scans.jsonl"
//! [timeouts]
//! live_status = "2s"
//! sync = "30s"
//! ```
//!
//! Relative paths are relative to the configuration file's folder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use keys::PublicKey;
use serde::Deserialize;

/// Where the configuration is looked for when `--config` and `EDL_VERIFY_CONFIG` are not
/// given. A missing file here is not an error: defaults apply.
pub const DEFAULT_PATH: &str = "/etc/edl/verify.toml";

/// Names a file that holds the API key instead of the configuration's `api_key` or
/// `api_key_file`. `edl-verify-sync.service` sets it to the copy systemd makes of
/// `/etc/edl/verify-api-key` (`LoadCredential=`), which the service's dynamic user can read
/// while the original stays readable by root only.
pub const API_KEY_FILE_ENV: &str = "EDL_VERIFY_API_KEY_FILE";

/// Status older than this is not trusted for a VALID verdict by default: one day.
pub const DEFAULT_MAX_STATUS_AGE: u64 = 24 * 3600;

/// A terminal clock further off than this from the server's is reported: five minutes.
pub const DEFAULT_CLOCK_TOLERANCE: u64 = 300;

/// The live status query's whole budget by default.
pub const DEFAULT_LIVE_TIMEOUT: Duration = Duration::from_secs(2);

/// A sync's budget per request by default.
pub const DEFAULT_SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// The configuration file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Base URL of the daemon's public API.
    pub server: Option<String>,
    /// Pinned root public keys: SPKI PEM file paths, or PEM text inline.
    #[serde(default)]
    pub roots: Vec<String>,
    /// Bearer API key.
    pub api_key: Option<String>,
    /// File holding the bearer API key (first line).
    pub api_key_file: Option<PathBuf>,
    /// TLS client certificate chain (PEM).
    pub client_cert: Option<PathBuf>,
    /// TLS client private key (PEM).
    pub client_key: Option<PathBuf>,
    /// Extra trust anchors (PEM certificates) for the server's TLS certificate. When set,
    /// only these are trusted; otherwise the system's CA certificates (read when a request
    /// is made).
    pub ca: Option<PathBuf>,
    /// Where synced trust and status lists live.
    pub cache_dir: Option<PathBuf>,
    /// Maximum age of a status for a VALID verdict, e.g. `"24h"`.
    pub max_status_age: Option<String>,
    /// Clock difference from the server beyond which a warning is shown, e.g. `"5m"`.
    pub clock_tolerance: Option<String>,
    /// Refuse a holder-bound credential shown alone (`DL1:`); default false.
    #[serde(default)]
    pub require_holder_binding: bool,
    /// How far a presentation's (`DL2:`) time slot may lie outside the terminal's clock,
    /// either side, e.g. `"30s"` (the default, `keys::presentation::DEFAULT_SLOT_SKEW`).
    pub presentation_skew: Option<String>,
    /// The purpose declared with every live status lookup (insurers, rental firms and
    /// employers must declare one; the daemon records it in its audit log).
    pub purpose: Option<String>,
    /// Where `scan` logs its checks.
    pub scan_log: Option<PathBuf>,
    /// Network timeouts.
    #[serde(default)]
    pub timeouts: RawTimeouts,
}

/// `[timeouts]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    /// Whole budget of one live status query.
    pub live_status: Option<String>,
    /// Budget of each sync request.
    pub sync: Option<String>,
}

/// How the verifier authenticates to the daemon.
#[derive(Clone)]
pub enum Credentials {
    /// No credentials: only public endpoints work.
    None,
    /// `Authorization: Bearer …`.
    ApiKey(String),
    /// `Authorization: Bearer …` with the key on the first line of this file, read only
    /// when a request is made: an offline check never needs it, and officers' shells need
    /// not be able to read it (mode 0600).
    ApiKeyFile {
        /// The file.
        path: PathBuf,
        /// Whether a blank file (empty, or only white space) means "no API key": the file
        /// systemd hands over through [`API_KEY_FILE_ENV`], where a terminal enrolled
        /// without a key gets a blank fallback.
        empty_is_none: bool,
    },
    /// A TLS client certificate chain and key, PEM.
    ClientCert {
        /// The certificate chain, PEM.
        chain: Vec<u8>,
        /// The private key, PEM.
        key: Vec<u8>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret itself.
        f.write_str(match self {
            Credentials::None => "none",
            Credentials::ApiKey(_) => "api key",
            Credentials::ApiKeyFile { .. } => "api key file",
            Credentials::ClientCert { .. } => "client certificate",
        })
    }
}

/// The checked configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it came from, if any.
    pub source: Option<PathBuf>,
    /// Base URL of the daemon's public API, without a trailing slash.
    pub server: Option<String>,
    /// Pinned root keys.
    pub roots: Vec<PublicKey>,
    /// Authentication to the daemon.
    pub credentials: Credentials,
    /// Extra TLS trust anchors (PEM), replacing the built-in roots.
    pub ca: Option<Vec<u8>>,
    /// The cache folder.
    pub cache_dir: PathBuf,
    /// Maximum status age for a VALID verdict, seconds.
    pub max_status_age: u64,
    /// Clock difference that triggers a warning, seconds.
    pub clock_tolerance: u64,
    /// Refuse holder-bound credentials shown alone (`DL1:`).
    pub require_holder_binding: bool,
    /// Seconds a presentation's slot may lie outside the terminal's clock.
    pub slot_skew: u64,
    /// The purpose declared with live status lookups.
    pub purpose: Option<String>,
    /// Where `scan` logs its checks.
    pub scan_log: PathBuf,
    /// Whole budget of one live status query.
    pub live_timeout: Duration,
    /// Budget of each sync request.
    pub sync_timeout: Duration,
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A field that parses but is not acceptable.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

/// The environment lookups the configuration needs, passed in rather than read.
pub trait Environment {
    /// The value of variable `name`, if set.
    fn var(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Environment for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

impl Config {
    /// Loads the configuration: `explicit` (from `--config`), else `EDL_VERIFY_CONFIG`,
    /// else [`DEFAULT_PATH`] if it exists, else the defaults.
    pub fn load(explicit: Option<&Path>, env: &dyn Environment) -> Result<Config, ConfigError> {
        let path = explicit
            .map(Path::to_path_buf)
            .or_else(|| env.var("EDL_VERIFY_CONFIG").map(PathBuf::from))
            .or_else(|| Some(PathBuf::from(DEFAULT_PATH)).filter(|p| p.exists()));
        let Some(path) = path else {
            return Config::from_raw(RawConfig::default(), None, env);
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let raw: RawConfig = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
            path: path.clone(),
            message: e.message().to_owned(),
        })?;
        Config::from_raw(raw, Some(path), env)
    }

    /// Checks `raw`, resolving relative paths against `source`'s folder.
    pub fn from_raw(
        raw: RawConfig,
        source: Option<PathBuf>,
        env: &dyn Environment,
    ) -> Result<Config, ConfigError> {
        let base = source
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let server = raw
            .server
            .as_deref()
            .map(|s| check_url(s).map_err(|reason| invalid("server", reason)))
            .transpose()?;
        let roots = raw
            .roots
            .iter()
            .map(|root| {
                let pem = if root.trim_start().starts_with("-----BEGIN") {
                    root.clone()
                } else {
                    let path = resolve(Path::new(root));
                    std::fs::read_to_string(&path)
                        .map_err(|e| invalid("roots", format!("reading {}: {e}", path.display())))?
                };
                PublicKey::from_spki_pem(&pem).map_err(|e| invalid("roots", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let read = |field: &'static str, p: &Path| {
            let path = resolve(p);
            std::fs::read(&path)
                .map_err(|e| invalid(field, format!("reading {}: {e}", path.display())))
        };
        let key_file_from_env = env
            .var(API_KEY_FILE_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let credentials = match (
            &raw.api_key,
            &raw.api_key_file,
            &raw.client_cert,
            &raw.client_key,
        ) {
            (None | Some(_), None, None, None) | (None, Some(_), None, None)
                if key_file_from_env.is_some() =>
            {
                Credentials::ApiKeyFile {
                    path: key_file_from_env.unwrap_or_default(),
                    empty_is_none: true,
                }
            }
            (None, None, None, None) => Credentials::None,
            (Some(key), None, None, None) => Credentials::ApiKey(check_api_key(key)?),
            (None, Some(file), None, None) => Credentials::ApiKeyFile {
                path: resolve(file),
                empty_is_none: false,
            },
            (None, None, Some(cert), Some(key)) => Credentials::ClientCert {
                chain: read("client_cert", cert)?,
                key: read("client_key", key)?,
            },
            (None, None, Some(_), None) | (None, None, None, Some(_)) => {
                return Err(invalid(
                    "client_cert",
                    "client_cert and client_key go together".into(),
                ));
            }
            _ => {
                return Err(invalid(
                    "api_key",
                    "give one of api_key, api_key_file or client_cert + client_key".into(),
                ));
            }
        };
        let ca = raw.ca.as_deref().map(|p| read("ca", p)).transpose()?;
        let cache_dir = match &raw.cache_dir {
            Some(dir) => resolve(dir),
            None => default_cache_dir(env),
        };
        let seconds = |field, value: &Option<String>, default| match value {
            None => Ok(default),
            Some(text) => parse_duration(text)
                .map(|d| d.as_secs())
                .map_err(|reason| invalid(field, reason)),
        };
        let timeout = |field, value: &Option<String>, default| match value {
            None => Ok(default),
            Some(text) => parse_duration(text)
                .and_then(|d| {
                    if d.is_zero() {
                        Err("a timeout must be more than zero".into())
                    } else {
                        Ok(d)
                    }
                })
                .map_err(|reason| invalid(field, reason)),
        };
        Ok(Config {
            source,
            server,
            roots,
            credentials,
            ca,
            cache_dir,
            max_status_age: seconds(
                "max_status_age",
                &raw.max_status_age,
                DEFAULT_MAX_STATUS_AGE,
            )?,
            clock_tolerance: seconds(
                "clock_tolerance",
                &raw.clock_tolerance,
                DEFAULT_CLOCK_TOLERANCE,
            )?,
            require_holder_binding: raw.require_holder_binding,
            slot_skew: seconds(
                "presentation_skew",
                &raw.presentation_skew,
                keys::presentation::DEFAULT_SLOT_SKEW,
            )?,
            purpose: match raw.purpose.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(p) if p.chars().count() > 200 || p.chars().any(char::is_control) => {
                    return Err(invalid(
                        "purpose",
                        "must be at most 200 characters, without control characters".into(),
                    ));
                }
                Some(p) => Some(p.to_owned()),
            },
            scan_log: raw
                .scan_log
                .as_deref()
                .map_or_else(|| default_scan_log(env), resolve),
            live_timeout: timeout(
                "timeouts.live_status",
                &raw.timeouts.live_status,
                DEFAULT_LIVE_TIMEOUT,
            )?,
            sync_timeout: timeout("timeouts.sync", &raw.timeouts.sync, DEFAULT_SYNC_TIMEOUT)?,
        })
    }
}

/// The cache folder when the configuration names none: `$XDG_CACHE_HOME/edl-verify`,
/// `$HOME/.cache/edl-verify`, or `/var/cache/edl-verify` for a system service.
fn default_cache_dir(env: &dyn Environment) -> PathBuf {
    if let Some(xdg) = env.var("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("edl-verify");
    }
    if let Some(home) = env.var("HOME").filter(|v| !v.is_empty() && v != "/") {
        return PathBuf::from(home).join(".cache").join("edl-verify");
    }
    PathBuf::from("/var/cache/edl-verify")
}

/// The scan log when the configuration names none: `$XDG_STATE_HOME/edl-verify/`,
/// `$HOME/.local/state/edl-verify/`, or `/var/lib/edl-verify/` for a system account.
fn default_scan_log(env: &dyn Environment) -> PathBuf {
    let dir = if let Some(xdg) = env.var("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        PathBuf::from(xdg).join("edl-verify")
    } else if let Some(home) = env.var("HOME").filter(|v| !v.is_empty() && v != "/") {
        PathBuf::from(home).join(".local/state/edl-verify")
    } else {
        PathBuf::from("/var/lib/edl-verify")
    };
    dir.join("scans.jsonl")
}

/// Accepts `https://…`, and `http://…` only for a loopback host (the daemon's development
/// default): credentials and status answers never cross a network in clear text.
pub fn check_url(url: &str) -> Result<String, String> {
    let url = url.trim_end_matches('/');
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not an absolute URL"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    match scheme {
        "https" => Ok(url.to_owned()),
        "http" if is_loopback(host) => Ok(url.to_owned()),
        "http" => Err(format!(
            "{url:?}: plain http is only allowed to a loopback address; use https"
        )),
        other => Err(format!("{url:?}: scheme {other:?} is not http(s)")),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Reads the API key from the first line of `path`; `None` for a blank file when
/// `empty_is_none`.
pub fn read_api_key_file(path: &Path, empty_is_none: bool) -> Result<Option<String>, ConfigError> {
    let field = "api_key_file";
    let bytes = std::fs::read(path)
        .map_err(|e| invalid(field, format!("reading {}: {e}", path.display())))?;
    let text = String::from_utf8(bytes).map_err(|_| invalid(field, "not UTF-8".into()))?;
    if empty_is_none && text.trim().is_empty() {
        return Ok(None);
    }
    check_api_key(text.lines().next().unwrap_or_default()).map(Some)
}

fn check_api_key(key: &str) -> Result<String, ConfigError> {
    let key = key.trim();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            "api_key",
            "must be non-empty printable ASCII without spaces".into(),
        ));
    }
    Ok(key.to_owned())
}

/// Reads `"90"`, `"1500ms"`, `"2s"`, `"5m"`, `"36h"`, `"7d"` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 5m, 24h or 7d"))?;
    let seconds = |factor: u64| {
        number
            .checked_mul(factor)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("{text:?} is too long"))
    };
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(number)),
        "" | "s" => seconds(1),
        "m" | "min" => seconds(60),
        "h" => seconds(3600),
        "d" => seconds(86_400),
        _ => Err(format!(
            "{text:?} is not a duration like 90s, 5m, 24h or 7d"
        )),
    }
}

fn invalid(field: &'static str, reason: String) -> ConfigError {
    ConfigError::Invalid { field, reason }
}

#[cfg(test)]
mod tests;
