//! Gauges of what signing depends on: the trust list served (issued, next update), the
//! daemon's signing keys' windows in it, the latest token of each status list (issued,
//! expiry), and whether signing is held back and why. Set before each scrape from the
//! service's state; the alert rules in ops/ watch them.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels as name-value pairs (one of them is `use`, which no Rust field can be named).
pub(crate) type Labels = Vec<(&'static str, String)>;

type Timestamp = Gauge<f64, AtomicU64>;

/// The gauges.
pub struct TrustGauges {
    /// `issued_at` of the trust list served.
    pub trust_list_issued: Timestamp,
    /// `next_update` of the trust list served.
    pub trust_list_next_update: Timestamp,
    /// End of each signing key's window, by `use` and `kid`.
    pub key_not_after: Family<Labels, Timestamp>,
    /// `iat` of each status list's latest token, by `list`.
    pub status_list_issued: Family<Labels, Timestamp>,
    /// `exp` of each status list's latest token, by `list`.
    pub status_list_expiry: Family<Labels, Timestamp>,
    /// 1 while signing of a kind is held back, by `what`.
    pub signing_held: Family<Labels, Gauge>,
}

impl TrustGauges {
    /// Registers the gauges in `registry`.
    pub(crate) fn register(registry: &mut Registry) -> TrustGauges {
        let g = TrustGauges {
            trust_list_issued: Timestamp::default(),
            trust_list_next_update: Timestamp::default(),
            key_not_after: Family::default(),
            status_list_issued: Family::default(),
            status_list_expiry: Family::default(),
            signing_held: Family::default(),
        };
        registry.register(
            "trust_list_issued_timestamp_seconds",
            "issued_at of the trust list served, Unix seconds",
            g.trust_list_issued.clone(),
        );
        registry.register(
            "trust_list_next_update_timestamp_seconds",
            "next_update of the trust list served, Unix seconds",
            g.trust_list_next_update.clone(),
        );
        registry.register(
            "signing_key_not_after_timestamp_seconds",
            "End of the window of the daemon's signing key in the trust list served, Unix seconds",
            g.key_not_after.clone(),
        );
        registry.register(
            "status_list_issued_timestamp_seconds",
            "iat of the latest token signed for each status list, Unix seconds",
            g.status_list_issued.clone(),
        );
        registry.register(
            "status_list_expiry_timestamp_seconds",
            "exp of the latest token signed for each status list, Unix seconds",
            g.status_list_expiry.clone(),
        );
        registry.register(
            "signing_held",
            "1 while signing of this kind is held back (credentials, status_lists, status_list_room)",
            g.signing_held.clone(),
        );
        g
    }
}
