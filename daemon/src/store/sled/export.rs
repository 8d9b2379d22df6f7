//! The sled engine as the source of `edld store copy`: its whole key space as the typed
//! record stream of `store::copy_stream`, in a fixed order, and the digest that identifies
//! it.
//!
//! Every table of `layout` goes somewhere: `K/` clients, `M/` meta values (the lanes'
//! `served/…` values become [`CopyRecord::Lane`]), `L/` licences, `A/` applications with
//! their `R/` (reviewing) and `P/` (before the opening) marks, `C/` credentials, `Q/` the
//! queue, `U/` the audit chain, `N/` subscriptions (with their `M/outbox-written/…`
//! counters), `D/` deliveries owed, `Y/` expiring notes, and `M/outbox-sequence`. `O/` (a
//! licence's latest application) is not a record: the stream gives each licence's
//! applications oldest first, so the latest is the last. Nor is `X/` (PostgreSQL indexes
//! the credentials by expiry itself).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::outbox::Row;
use super::{engine_error, layout};
use crate::domain::access::ApiClient;
use crate::domain::application::{Application, ApplicationState, Ticket};
use crate::domain::issue::CredentialRecord;
use crate::domain::notify::Subscription;
use crate::domain::queue::Lane;
use crate::store::copy_stream::{CopiedApplication, CopyError, CopyRecord, SourceId, Survey};
use crate::store::{StoreError, StoreResult, StoredClient};

/// A sled data directory opened for copying. It holds sled's lock while open, so no edld
/// can start on it and change it under the copy.
pub(crate) struct SledExport {
    db: sled::Db,
    /// The data directory.
    dir: PathBuf,
}

impl SledExport {
    /// Opens the sled database of `data_dir` (`<data_dir>/db`); refuses one a running edld
    /// holds and a directory without one.
    pub(crate) fn open(data_dir: &Path) -> Result<SledExport, CopyError> {
        let dir = data_dir.join("db");
        // sled creates a database where there is none; a copy of nothing is a mistake.
        if !dir.join("conf").is_file() {
            return Err(CopyError::NoSource(data_dir.display().to_string()));
        }
        let db = sled::Config::new()
            .path(&dir)
            .cache_capacity(256 << 20)
            .open()
            .map_err(|e| match e {
                // As in `SledStore::open`: sled reports another process's lock only in
                // its message.
                sled::Error::Io(io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("could not acquire lock") =>
                {
                    CopyError::InUse(data_dir.display().to_string())
                }
                other => CopyError::Store(engine_error(other)),
            })?;
        Ok(SledExport {
            db,
            dir: data_dir.to_path_buf(),
        })
    }

    /// Reads the whole database once: its digest and the size of its stream.
    pub(crate) fn survey(&self) -> StoreResult<Survey> {
        let mut digest = Sha256::new();
        let (mut records, mut licences, mut credentials) = (0u64, 0u64, 0u64);
        for entry in self.db.iter() {
            let (k, v) = entry.map_err(engine_error)?;
            digest.update((k.len() as u64).to_be_bytes());
            digest.update(&k);
            digest.update((v.len() as u64).to_be_bytes());
            digest.update(&v);
            let prefix = k.get(..2).unwrap_or(&[]);
            if prefix == layout::LICENCE {
                licences += 1;
            } else if prefix == layout::CREDENTIAL {
                credentials += 1;
            }
            let is_record = [
                layout::CLIENT,
                layout::LICENCE,
                layout::APPLICATION,
                layout::CREDENTIAL,
                layout::QUEUE,
                layout::AUDIT,
                layout::SUBSCRIPTION,
                layout::DELIVERY,
                layout::EXPIRY_NOTED,
            ]
            .contains(&prefix)
                || (prefix == layout::META && copied_meta(&k));
            records += u64::from(is_record);
        }
        Ok(Survey {
            source: SourceId {
                digest: digest.finalize().into(),
                location: self.dir.display().to_string(),
            },
            // One record per lane and the outbox's sequence besides.
            records: records + Lane::ALL.len() as u64 + 1,
            licences,
            credentials,
        })
    }

    /// Hands every record of the stream after the first `skip` to `sink`, in order.
    /// Records before `skip` are still walked (the stream's order depends on them) but
    /// not decoded where that can be avoided.
    pub(crate) fn export(
        &self,
        skip: u64,
        sink: &mut dyn FnMut(CopyRecord) -> Result<(), CopyError>,
    ) -> Result<(), CopyError> {
        let mut out = Emitter { at: 0, skip, sink };

        for entry in self.db.scan_prefix(layout::CLIENT) {
            let (k, v) = entry.map_err(engine_error)?;
            out.next(|| {
                let key_hash: [u8; 32] = k[layout::CLIENT.len()..]
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("a client's key".into()))?;
                let client: ApiClient = layout::decode(&v, "client")?;
                Ok(CopyRecord::Client(StoredClient { key_hash, client }))
            })?;
        }

        for entry in self.db.scan_prefix(layout::META) {
            let (k, v) = entry.map_err(engine_error)?;
            if !copied_meta(&k) {
                continue;
            }
            out.next(|| {
                let name = String::from_utf8(k[layout::META.len()..].to_vec())
                    .map_err(|_| StoreError::Corrupt("a meta name".into()))?;
                let value: serde_json::Value = layout::decode(&v, "meta value")?;
                Ok(CopyRecord::Meta { name, value })
            })?;
        }

        for entry in self.db.scan_prefix(layout::LICENCE) {
            let (_, v) = entry.map_err(engine_error)?;
            out.next(|| Ok(CopyRecord::Licence(layout::decode(&v, "licence")?)))?;
        }

        // Applications and credentials: first those on no licence's chain (none, in a
        // sound store), then each licence's chain from its first application to its
        // latest, each issued application followed by its credential.
        let mut on_chains: HashSet<Ticket> = HashSet::new();
        let mut chains: Vec<Ticket> = Vec::new();
        for entry in self.db.scan_prefix(layout::OPEN) {
            let (_, v) = entry.map_err(engine_error)?;
            let mut chain = Vec::new();
            let mut next = Some(layout::ticket(&v)?);
            while let Some(ticket) = next {
                if !on_chains.insert(ticket) {
                    return Err(StoreError::Corrupt(format!(
                        "the application chain loops at {ticket}"
                    ))
                    .into());
                }
                chain.push(ticket);
                next = self.application(ticket)?.and_then(|a| a.previous);
            }
            chains.extend(chain.into_iter().rev());
        }
        let mut orphans = Vec::new();
        for entry in self.db.scan_prefix(layout::APPLICATION) {
            let (k, _) = entry.map_err(engine_error)?;
            let ticket = layout::ticket(&k[layout::APPLICATION.len()..])?;
            if !on_chains.contains(&ticket) {
                orphans.push(ticket);
            }
        }
        drop(on_chains);
        let first = -(orphans.len() as i64);
        let mut credentials_on_chains: HashSet<String> = HashSet::new();
        for (n, ticket) in orphans.into_iter().chain(chains).enumerate() {
            // Orphans take -k..=-1, the chains 1, 2, …
            let place = first + n as i64;
            let place = if place >= 0 { place + 1 } else { place };
            let Some(application) = self.application(ticket)? else {
                continue;
            };
            let issued = match &application.state {
                ApplicationState::Issued { credential_id } => Some(credential_id.clone()),
                _ => None,
            };
            out.next(|| {
                let reviewing = self
                    .db
                    .contains_key(layout::review(application.created_at, ticket))
                    .map_err(engine_error)?;
                let preopen = self
                    .db
                    .get(layout::preopen(ticket))
                    .map_err(engine_error)?
                    .and_then(|v| v.first().copied().and_then(layout::lane_from_byte));
                Ok(CopyRecord::Application(CopiedApplication {
                    application,
                    reviewing,
                    preopen,
                    order: place,
                }))
            })?;
            if let Some(id) = issued
                && let Some(record) = self.credential(&id)?
                && credentials_on_chains.insert(id)
            {
                out.next(|| {
                    Ok(CopyRecord::Credential {
                        record,
                        order: place,
                    })
                })?;
            }
        }
        // Credentials no chain names (none, in a sound store) still hold their status
        // list indices: they come last, before every other in their licence's order.
        let mut stray = first - 1;
        for entry in self.db.scan_prefix(layout::CREDENTIAL) {
            let (_, v) = entry.map_err(engine_error)?;
            let record: CredentialRecord = layout::decode(&v, "credential")?;
            if credentials_on_chains.contains(&record.id) {
                continue;
            }
            stray -= 1;
            out.next(|| {
                Ok(CopyRecord::Credential {
                    record,
                    order: stray,
                })
            })?;
        }

        let mut last = [0u64; 3];
        for entry in self.db.scan_prefix(layout::QUEUE) {
            let (k, v) = entry.map_err(engine_error)?;
            let (lane, sequence) =
                layout::parse_queue(&k).ok_or_else(|| StoreError::Corrupt("a queue key".into()))?;
            last[lane.index()] = last[lane.index()].max(sequence);
            out.next(|| {
                Ok(CopyRecord::Queued {
                    lane,
                    sequence,
                    ticket: layout::ticket(&v)?,
                })
            })?;
        }
        for lane in Lane::ALL {
            let served: u64 = match self.db.get(layout::served(lane)).map_err(engine_error)? {
                Some(bytes) => layout::decode(&bytes, "lane progress")?,
                None => 0,
            };
            out.next(|| {
                Ok(CopyRecord::Lane {
                    lane,
                    served,
                    last: last[lane.index()].max(served),
                })
            })?;
        }

        for entry in self.db.scan_prefix(layout::AUDIT) {
            let (k, v) = entry.map_err(engine_error)?;
            out.next(|| {
                let position = layout::audit_position(&k)
                    .ok_or_else(|| StoreError::Corrupt("an audit record's key".into()))?;
                Ok(CopyRecord::Audit {
                    position,
                    bytes: v.to_vec(),
                })
            })?;
        }

        let mut subscriptions: Vec<Subscription> = Vec::new();
        for entry in self.db.scan_prefix(layout::SUBSCRIPTION) {
            let (_, v) = entry.map_err(engine_error)?;
            subscriptions.push(layout::decode(&v, "subscription")?);
        }
        subscriptions.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        for subscription in subscriptions {
            out.next(|| {
                let written = match self
                    .db
                    .get(layout::written(&subscription.id))
                    .map_err(engine_error)?
                {
                    Some(bytes) => layout::decode(&bytes, "written counter")?,
                    None => 0,
                };
                Ok(CopyRecord::Subscription {
                    subscription,
                    written,
                })
            })?;
        }
        let mut next_event = 1;
        for entry in self.db.scan_prefix(layout::DELIVERY) {
            let (k, v) = entry.map_err(engine_error)?;
            if let Some((_, sequence)) = layout::parse_delivery(&k) {
                next_event = next_event.max(sequence + 1);
            }
            out.next(|| Ok(CopyRecord::Delivery(Row::copied(&k, &v)?)))?;
        }
        for entry in self.db.scan_prefix(layout::EXPIRY_NOTED) {
            let (k, _) = entry.map_err(engine_error)?;
            out.next(|| {
                Ok(CopyRecord::ExpiringNoted {
                    credential: hex::encode(&k[layout::EXPIRY_NOTED.len()..]),
                })
            })?;
        }
        if let Some(bytes) = self
            .db
            .get(layout::meta(layout::OUTBOX_SEQUENCE))
            .map_err(engine_error)?
        {
            next_event = next_event.max(layout::decode(&bytes, "outbox sequence")?);
        }
        out.next(|| Ok(CopyRecord::OutboxSequence { next: next_event }))?;
        Ok(())
    }

    fn application(&self, ticket: Ticket) -> StoreResult<Option<Application>> {
        match self
            .db
            .get(layout::application(ticket))
            .map_err(engine_error)?
        {
            Some(bytes) => layout::decode(&bytes, "application").map(Some),
            None => Ok(None),
        }
    }

    fn credential(&self, id: &str) -> StoreResult<Option<CredentialRecord>> {
        let Some(key) = layout::credential(id) else {
            return Ok(None);
        };
        match self.db.get(key).map_err(engine_error)? {
            Some(bytes) => layout::decode(&bytes, "credential").map(Some),
            None => Ok(None),
        }
    }
}

/// Whether an `M/` value goes as a meta record: not the lanes' progress (lane records),
/// the markers of the sled engine's own indices, or the outbox's counters (they go with
/// the outbox's records).
fn copied_meta(key: &[u8]) -> bool {
    let own = [
        layout::meta(layout::OPERATOR_CHANGES_INDEXED),
        layout::meta(layout::EXPIRY_INDEXED),
        layout::meta(layout::OUTBOX_SEQUENCE),
    ];
    !key.starts_with(&layout::meta("served/"))
        && !key.starts_with(&layout::written_prefix())
        && !own.iter().any(|k| k.as_slice() == key)
}

/// Counts the stream's records and hands on those past the checkpoint.
struct Emitter<'a> {
    at: u64,
    skip: u64,
    sink: &'a mut dyn FnMut(CopyRecord) -> Result<(), CopyError>,
}

impl Emitter<'_> {
    /// The stream's next record, built by `make` only when it is past the checkpoint.
    fn next(
        &mut self,
        make: impl FnOnce() -> Result<CopyRecord, StoreError>,
    ) -> Result<(), CopyError> {
        self.at += 1;
        if self.at <= self.skip {
            return Ok(());
        }
        (self.sink)(make()?)
    }
}
