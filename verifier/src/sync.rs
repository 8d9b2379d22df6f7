//! `edl-verify sync`: fetch the trust list and every status list it names, verify them,
//! and replace the cache atomically.
//!
//! Rules: the trust list must verify against a pinned root and its sequence number must not
//! be lower than the cached one (rollback); each status list must verify against the new
//! trust list's status keys, name its own URI as `sub` and not be past `exp`. A list whose
//! `ttl` has not run out since it was fetched is not asked for again (unless forced), and
//! every request is conditional (`If-None-Match`). Nothing is written unless everything
//! checked out; then [`cache::commit`] swaps the whole set in at once.

use keys::UnixTime;
use keys::status_list::{self, VerifiedStatusList};
use keys::token::VerifyPolicy;
use keys::trust_list::{self, TrustList};
use keys::{PublicKey, trust_list::TrustListError};

use crate::Failure;
use crate::cache::{self, Cache, Generation, ListMeta, Meta, TrustListMeta};
use crate::config::check_url;
use crate::http::{Client, Fetched};

/// What a sync did, for the report.
#[derive(Debug)]
pub struct SyncReport {
    /// The trust list's sequence number now cached.
    pub sequence: u64,
    /// Whether a new trust list was fetched (otherwise 304).
    pub trust_list_changed: bool,
    /// Per status list: its URI and what happened.
    pub lists: Vec<(String, ListOutcome)>,
    /// The terminal's clock against the server's `Date`, when off by more than the
    /// tolerance: server minus terminal, seconds.
    pub clock_offset: Option<i64>,
}

/// What happened to one status list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListOutcome {
    /// A new copy was fetched and verified.
    Fetched,
    /// The server said 304: the cached copy is current.
    NotModified,
    /// Not asked for: the cached copy is within its `ttl`.
    WithinTtl,
}

/// What sync needs.
pub struct SyncRequest<'a> {
    /// The server's base URL.
    pub server: &'a str,
    /// Pinned roots.
    pub roots: &'a [PublicKey],
    /// The cache folder.
    pub cache_dir: &'a std::path::Path,
    /// Refetch lists even within their `ttl`.
    pub force: bool,
    /// Clock differences above this many seconds are reported.
    pub clock_tolerance: u64,
}

/// Runs one sync.
pub fn sync(
    request: &SyncRequest<'_>,
    client: &Client,
    now: UnixTime,
) -> Result<SyncReport, Failure> {
    if request.roots.is_empty() {
        return Err(Failure::Config(
            "no pinned root keys: set `roots` in the configuration".into(),
        ));
    }
    let old = Cache::open(request.cache_dir).map_err(|e| Failure::Io(e.to_string()))?;
    // The cached list must itself verify, or its sequence number means nothing.
    let old_list = old
        .as_ref()
        .and_then(|c| trust_list::verify(&c.trust_list, request.roots, None).ok());
    let seen_sequence = old_list.as_ref().map(|l| l.sequence);

    let url = format!("{}/v1/trust-list", request.server);
    let old_etag = old
        .as_ref()
        .filter(|_| old_list.is_some())
        .and_then(|c| c.meta.trust_list.etag.as_deref());
    let fetched = client
        .fetch(&url, "application/edl-trust-list+cose", old_etag)
        .map_err(|e| Failure::Unavailable(e.to_string()))?;
    let (trust_bytes, etag, server_time, changed) = match (fetched, &old) {
        (Fetched::NotModified { date }, Some(old)) if old_list.is_some() => (
            old.trust_list.clone(),
            old.meta.trust_list.etag.clone(),
            date,
            false,
        ),
        (Fetched::NotModified { .. }, _) => {
            return Err(Failure::Unavailable(format!(
                "{url}: 304 Not Modified although no valid trust list is cached"
            )));
        }
        (Fetched::Body { bytes, etag, date }, _) => (bytes, etag, date, true),
    };
    let trust_list = trust_list::verify(&trust_bytes, request.roots, seen_sequence)
        .map_err(|e| refused_trust_list(&url, e))?;
    let keyring = trust_list.keyring();

    let mut outcomes = Vec::new();
    let mut metas = Vec::new();
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    for (i, uri) in trust_list.status_lists.iter().enumerate() {
        let previous = old
            .as_ref()
            .and_then(|c| c.status_list(uri).ok().flatten())
            .and_then(|(meta, bytes)| {
                // A cached copy counts only if it still verifies under the new trust list.
                verify_list(&bytes, &keyring, uri, now)
                    .ok()
                    .map(|verified| (meta.clone(), bytes, verified))
            });
        let file = cache::list_file(i);
        if let Some((meta, bytes, _)) = &previous
            && !request.force
            && now.0 < meta.fetched_at.saturating_add(meta.ttl)
        {
            metas.push(ListMeta {
                file,
                ..meta.clone()
            });
            bodies.push(bytes.clone());
            outcomes.push((uri.clone(), ListOutcome::WithinTtl));
            continue;
        }
        check_url(uri)
            .map_err(|e| Failure::Unavailable(format!("status list URI refused: {e}")))?;
        let etag = previous.as_ref().and_then(|(m, _, _)| m.etag.as_deref());
        let fetched = client
            .fetch(uri, status_list::TYP, etag)
            .map_err(|e| Failure::Unavailable(e.to_string()))?;
        let (bytes, etag, verified, outcome) = match (fetched, previous) {
            (Fetched::NotModified { .. }, Some((meta, bytes, verified))) => {
                (bytes, meta.etag, verified, ListOutcome::NotModified)
            }
            (Fetched::NotModified { .. }, None) => {
                return Err(Failure::Unavailable(format!(
                    "{uri}: 304 Not Modified although no valid copy is cached"
                )));
            }
            (Fetched::Body { bytes, etag, .. }, _) => {
                let verified = verify_list(&bytes, &keyring, uri, now)
                    .map_err(|e| Failure::Unavailable(format!("{uri}: refused: {e}")))?;
                (bytes, etag, verified, ListOutcome::Fetched)
            }
        };
        metas.push(ListMeta {
            uri: uri.clone(),
            file,
            etag,
            fetched_at: now.0,
            ttl: verified.claims.ttl,
            issued_at: verified.claims.issued_at.0,
        });
        bodies.push(bytes);
        outcomes.push((uri.clone(), outcome));
    }

    let meta = Meta {
        version: 1,
        server: request.server.to_owned(),
        synced_at: now.0,
        server_time: server_time.map(|t| t.0),
        trust_list: TrustListMeta {
            sequence: trust_list.sequence,
            etag,
            fetched_at: now.0,
        },
        status_lists: metas,
    };
    let generation = Generation {
        meta,
        trust_list: &trust_bytes,
        lists: bodies.iter().map(Vec::as_slice).collect(),
    };
    cache::commit(request.cache_dir, &generation).map_err(|e| Failure::Io(e.to_string()))?;
    let tolerance = i64::try_from(request.clock_tolerance).unwrap_or(i64::MAX);
    let clock_offset = server_time
        .map(|t| t.0 as i64 - now.0 as i64)
        .filter(|offset| offset.abs() > tolerance);
    Ok(SyncReport {
        sequence: trust_list.sequence,
        trust_list_changed: changed,
        lists: outcomes,
        clock_offset,
    })
}

fn verify_list(
    bytes: &[u8],
    keyring: &keys::Keyring,
    uri: &str,
    now: UnixTime,
) -> Result<VerifiedStatusList, status_list::StatusListError> {
    status_list::verify(bytes, keyring, &VerifyPolicy::at(now), Some(uri))
}

fn refused_trust_list(url: &str, error: TrustListError) -> Failure {
    Failure::Unavailable(format!("{url}: trust list refused: {error}"))
}

/// A human summary of a sync.
pub fn describe(report: &SyncReport, trust_list: Option<&TrustList>) -> String {
    let mut out = format!(
        "trust list sequence {} ({})\n",
        report.sequence,
        if report.trust_list_changed {
            "fetched"
        } else {
            "unchanged"
        }
    );
    if let Some(list) = trust_list {
        out.push_str(&format!(
            "  issuer {}, {} keys, next update {}\n",
            list.issuer,
            list.keys.len(),
            list.next_update
        ));
    }
    for (uri, outcome) in &report.lists {
        let what = match outcome {
            ListOutcome::Fetched => "fetched",
            ListOutcome::NotModified => "unchanged (304)",
            ListOutcome::WithinTtl => "kept (within ttl)",
        };
        out.push_str(&format!("status list {uri}: {what}\n"));
    }
    if let Some(seconds) = report.clock_offset {
        out.push_str(&format!(
            "warning: {}\n",
            crate::verdict::describe_clock(crate::verdict::ClockOffset {
                seconds,
                reference: crate::verdict::ClockReference::LiveStatus,
            })
        ));
    }
    out
}
