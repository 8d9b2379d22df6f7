//! `[store]` checked: which engine holds the daemon's state, and how to reach PostgreSQL.

use super::ConfigError;
use super::raw::RawStore;

/// Where the daemon's state lives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StoreConfig {
    /// sled in `<data_dir>/db`: one box, nothing else to run (the default).
    #[default]
    Sled,
    /// PostgreSQL, shared by several nodes.
    Postgres(PostgresConfig),
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
            StoreConfig::Sled => "sled",
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
            Ok(StoreConfig::Sled)
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
