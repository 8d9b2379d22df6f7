//! `[webhooks]` checked: how notifications are delivered to subscribers (timeouts, the
//! retry schedule and its horizon, how far ahead of `exp` a credential's expiry is
//! announced, how many deliveries are in flight) and which extra CAs subscribers' TLS
//! certificates may chain to.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use crate::domain::notify::RetryPolicy;

/// `[webhooks]` as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawWebhooks {
    /// Seconds one delivery attempt may take: connect, TLS, request and answer.
    pub timeout_secs: u64,
    /// The first retry waits up to this many seconds (full jitter); each retry doubles
    /// the ceiling.
    pub retry_base_secs: u64,
    /// The largest retry ceiling, seconds.
    pub retry_cap_secs: u64,
    /// Deliveries of an event are tried for this long after it happened; then it is a
    /// dead letter (`edld webhooks replay` sends it again).
    pub horizon_secs: u64,
    /// `credential.expiring` is sent this long before a credential's `exp`; 0 sends none.
    pub expiring_before_secs: u64,
    /// Deliveries in flight at once, all subscribers together.
    pub concurrency: usize,
    /// Deliveries in flight at once to one subscriber, so a slow one never takes every
    /// slot from the others.
    pub per_subscription: usize,
    /// PEM files of CA certificates trusted for subscribers besides Mozilla's roots (an
    /// authority's private CA).
    pub extra_roots: Vec<PathBuf>,
}

impl Default for RawWebhooks {
    fn default() -> Self {
        RawWebhooks {
            timeout_secs: 5,
            retry_base_secs: 5,
            retry_cap_secs: 3_600,
            horizon_secs: 3 * 86_400,
            expiring_before_secs: 14 * 86_400,
            concurrency: 64,
            per_subscription: 8,
            extra_roots: Vec::new(),
        }
    }
}

/// `[webhooks]` checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhooks {
    /// One attempt's timeout.
    pub timeout: Duration,
    /// Backoff and horizon.
    pub retry: RetryPolicy,
    /// How long before `exp` a credential's expiry is announced (`None`: never).
    pub expiring_before: Option<u64>,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Deliveries in flight to one subscriber.
    pub per_subscription: usize,
    /// Extra CA files.
    pub extra_roots: Vec<PathBuf>,
}

/// Checks `[webhooks]`.
pub(super) fn check(raw: &RawWebhooks) -> Result<Webhooks, ConfigError> {
    let range = |setting, value: u64, lo: u64, hi: u64, expected| {
        if (lo..=hi).contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError::Range {
                setting,
                value,
                expected,
            })
        }
    };
    let timeout = range("webhooks.timeout_secs", raw.timeout_secs, 1, 60, "1 to 60")?;
    let base = range(
        "webhooks.retry_base_secs",
        raw.retry_base_secs,
        1,
        3_600,
        "1 to 3600",
    )?;
    let cap = range(
        "webhooks.retry_cap_secs",
        raw.retry_cap_secs,
        base,
        86_400,
        "retry_base_secs to 86400",
    )?;
    let horizon = range(
        "webhooks.horizon_secs",
        raw.horizon_secs,
        timeout,
        30 * 86_400,
        "timeout_secs to 30 days",
    )?;
    let concurrency = range(
        "webhooks.concurrency",
        raw.concurrency as u64,
        1,
        4_096,
        "1 to 4096",
    )? as usize;
    let per_subscription = range(
        "webhooks.per_subscription",
        raw.per_subscription as u64,
        1,
        concurrency as u64,
        "1 to concurrency",
    )? as usize;
    for root in &raw.extra_roots {
        if !root.exists() {
            return Err(ConfigError::MissingFile {
                setting: "webhooks.extra_roots",
                path: root.clone(),
            });
        }
    }
    Ok(Webhooks {
        timeout: Duration::from_secs(timeout),
        retry: RetryPolicy { base, cap, horizon },
        expiring_before: (raw.expiring_before_secs > 0).then_some(raw.expiring_before_secs),
        concurrency,
        per_subscription,
        extra_roots: raw.extra_roots.clone(),
    })
}
