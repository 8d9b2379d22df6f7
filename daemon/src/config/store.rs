//! `[store]` checked: which engine holds the daemon's state, and how to reach PostgreSQL.

use super::ConfigError;
use super::raw::RawStore;

/// Where the daemon's state lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreConfig {
    /// sled in `<data_dir>/db`: one box, nothing else to run (the default).
    Sled(SledConfig),
    /// PostgreSQL, shared by several nodes.
    Postgres(PostgresConfig),
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig::Sled(SledConfig::default())
    }
}

/// The embedded engine's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SledConfig {
    /// MiB of decoded credentials and licences kept for live-status lookups; 0 keeps none.
    pub record_cache_mib: u64,
}

/// MiB of records kept unless `[store] record_cache_mib` says otherwise: about 120 000
/// credentials with their licences.
pub const DEFAULT_RECORD_CACHE_MIB: u64 = 128;

impl Default for SledConfig {
    fn default() -> SledConfig {
        SledConfig {
            record_cache_mib: DEFAULT_RECORD_CACHE_MIB,
        }
    }
}

/// How a node reaches its PostgreSQL database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresConfig {
    /// A libpq URL: `postgresql://user@host1:5432,host2:5432/edl?target_session_attrs=read-write`.
    pub url: String,
    /// This node's name, unique among the nodes on one database.
    pub node: String,
    /// Connections in the pool (live-status lookups have two more of their own).
    pub pool_size: usize,
    /// Apply the schema migrations at start (otherwise a database whose schema is not
    /// this edld's is refused).
    pub migrate: bool,
}

/// Connections in the pool unless `[store] pool_size` says otherwise.
pub const DEFAULT_POOL_SIZE: usize = 16;

impl StoreConfig {
    /// The engine's name, as `[store] engine` writes it.
    pub fn engine(&self) -> &'static str {
        match self {
            StoreConfig::Sled(_) => "sled",
            StoreConfig::Postgres(_) => "postgres",
        }
    }
}

/// Checks `[store]`.
pub(super) fn check(raw: &RawStore) -> Result<StoreConfig, ConfigError> {
    match raw.engine.as_deref().unwrap_or("sled") {
        "sled" => {
            if raw.url.is_some() {
                return Err(ConfigError::Invalid {
                    setting: "store.url",
                    reason: "is for engine = \"postgres\"",
                });
            }
            let record_cache_mib = raw.record_cache_mib.unwrap_or(DEFAULT_RECORD_CACHE_MIB);
            if record_cache_mib > 1 << 20 {
                return Err(ConfigError::Range {
                    setting: "store.record_cache_mib",
                    value: record_cache_mib,
                    expected: "0 to 1048576",
                });
            }
            Ok(StoreConfig::Sled(SledConfig { record_cache_mib }))
        }
        "postgres" => {
            let Some(url) = raw.url.clone() else {
                return Err(ConfigError::Invalid {
                    setting: "store.url",
                    reason: "is needed with engine = \"postgres\" (postgresql://…)",
                });
            };
            if !(url.starts_with("postgresql://") || url.starts_with("postgres://"))
                || url.parse::<tokio_postgres::Config>().is_err()
            {
                return Err(ConfigError::Invalid {
                    setting: "store.url",
                    reason: "must be a postgresql:// URL libpq accepts",
                });
            }
            if raw.record_cache_mib.is_some() {
                return Err(ConfigError::Invalid {
                    setting: "store.record_cache_mib",
                    reason: "is for engine = \"sled\" (other nodes change PostgreSQL's rows)",
                });
            }
            let pool_size = raw.pool_size.unwrap_or(DEFAULT_POOL_SIZE);
            if !(2..=1_000).contains(&pool_size) {
                return Err(ConfigError::Range {
                    setting: "store.pool_size",
                    value: pool_size as u64,
                    expected: "2 to 1000",
                });
            }
            let node = raw.node.clone().unwrap_or_else(|| "edld".into());
            if node.is_empty() || node.len() > 64 {
                return Err(ConfigError::Invalid {
                    setting: "store.node",
                    reason: "must be 1 to 64 characters",
                });
            }
            Ok(StoreConfig::Postgres(PostgresConfig {
                url,
                node,
                pool_size,
                migrate: raw.migrate,
            }))
        }
        _ => Err(ConfigError::Invalid {
            setting: "store.engine",
            reason: "must be \"sled\" or \"postgres\"",
        }),
    }
}
