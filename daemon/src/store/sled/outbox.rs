//! The sled engine's notification outbox: subscriptions (`N/`), one row per delivery owed
//! (`D/`), the events' sequence and each subscription's written counter (`M/`), and the
//! expiry index (`X/`, `Y/`).
//!
//! Events are written by the batch of the change that causes them, under the outbox's lock
//! (so sequences follow the order batches apply in), and become claimable only once that
//! batch's commit is durable. What claims need is kept in memory beside the rows
//! ([`Outbox`], rebuilt at open): per subscription and licence the deliveries owed, and a
//! due index holding only the oldest of each, by due time. A claim reads that index, never
//! the rows; its lease is kept in memory only (after a restart every unfinished delivery
//! is due again, which is what a lease that lapsed means).

use std::collections::{BTreeSet, HashMap};

use keys::UnixTime;
use serde::{Deserialize, Serialize};

use super::records::Batch;
use super::{SledStore, engine_error, layout};
use crate::domain::audit::AuditRecord;
use crate::domain::issue::CredentialRecord;
use crate::domain::notify::{self, Event, Subscription};
use crate::domain::registry::LicenceRecord;
use crate::store::copy_stream::CopiedDelivery;
use crate::store::{
    Delivery, DeliveryKey, DeliveryOutcome, OutboxFigures, Replay, StoreError, StoreResult,
};

/// A `D/` row: one event owed to one subscription.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Row {
    event: Event,
    attempts: u32,
    started: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    next_at: UnixTime,
    dead: bool,
}

impl Row {
    /// A `D/` row as the copy stream carries it.
    pub(super) fn copied(key: &[u8], value: &[u8]) -> StoreResult<CopiedDelivery> {
        let (subscription, sequence) = layout::parse_delivery(key)
            .ok_or_else(|| StoreError::Corrupt("a delivery's key".into()))?;
        let row: Row = layout::decode(value, "delivery")?;
        let (next_at, dead) = (row.next_at, row.dead);
        Ok(CopiedDelivery {
            delivery: row.delivery(DeliveryKey {
                subscription,
                sequence,
            }),
            next_at,
            dead,
        })
    }

    fn delivery(self, key: DeliveryKey) -> Delivery {
        Delivery {
            key,
            event: self.event,
            attempts: self.attempts,
            started: self.started,
            last_error: self.last_error,
        }
    }
}

/// What claims and figures need of a row, in memory.
#[derive(Clone, Debug)]
struct Owed {
    licence: String,
    /// When its event was written.
    at: UnixTime,
    /// When it is due (a claimed one: when its lease ends).
    next_at: u64,
    dead: bool,
    /// Whether the batch that wrote it is durable (only then may it be claimed).
    durable: bool,
}

/// (subscription, sequence).
type Key = (String, u64);

/// The outbox's state in memory, behind [`SledStore::outbox`].
#[derive(Default)]
pub(super) struct Outbox {
    /// The next event's sequence.
    next: u64,
    /// Oldest first.
    subscriptions: Vec<Subscription>,
    written: HashMap<String, u64>,
    rows: HashMap<Key, Owed>,
    /// Per (subscription, licence): the sequences owed and not dead.
    groups: HashMap<(String, String), BTreeSet<u64>>,
    /// (due time, sequence, subscription) of the oldest owed row of each group, when its
    /// batch is durable.
    due: BTreeSet<(u64, u64, String)>,
}

/// Deliveries staged into a batch, taken into memory once it applied.
pub(super) struct Staged {
    next: u64,
    rows: Vec<(Key, Owed)>,
    written: Vec<(String, u64)>,
}

impl Outbox {
    /// Restores the outbox from the database.
    pub(super) fn restore(db: &sled::Db) -> StoreResult<Outbox> {
        let mut outbox = Outbox {
            next: 1,
            ..Outbox::default()
        };
        if let Some(bytes) = db
            .get(layout::meta(layout::OUTBOX_SEQUENCE))
            .map_err(engine_error)?
        {
            outbox.next = layout::decode(&bytes, "outbox sequence")?;
        }
        for entry in db.scan_prefix(layout::SUBSCRIPTION) {
            let (_, v) = entry.map_err(engine_error)?;
            outbox
                .subscriptions
                .push(layout::decode(&v, "subscription")?);
        }
        outbox
            .subscriptions
            .sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let prefix = layout::written_prefix();
        for entry in db.scan_prefix(&prefix) {
            let (k, v) = entry.map_err(engine_error)?;
            let id = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            outbox
                .written
                .insert(id, layout::decode(&v, "written counter")?);
        }
        for entry in db.scan_prefix(layout::DELIVERY) {
            let (k, v) = entry.map_err(engine_error)?;
            let key = layout::parse_delivery(&k)
                .ok_or_else(|| StoreError::Corrupt("a delivery's key".into()))?;
            let row: Row = layout::decode(&v, "delivery")?;
            outbox.next = outbox.next.max(key.1 + 1);
            // A row is written only for a subscription that exists, and goes with it.
            if !outbox.subscriptions.iter().any(|s| s.id == key.0) {
                continue;
            }
            let owed = Owed {
                licence: row.event.licence.as_str().to_owned(),
                at: row.event.at,
                next_at: row.next_at.0,
                dead: row.dead,
                durable: true,
            };
            outbox.add(key, owed);
        }
        Ok(outbox)
    }

    fn head(&self, group: &(String, String)) -> Option<u64> {
        self.groups.get(group).and_then(|g| g.first().copied())
    }

    /// Takes the group's oldest row out of the due index (before the group changes).
    fn unindex(&mut self, group: &(String, String)) {
        if let Some(head) = self.head(group)
            && let Some(owed) = self.rows.get(&(group.0.clone(), head))
        {
            self.due.remove(&(owed.next_at, head, group.0.clone()));
        }
    }

    /// Puts the group's oldest row in the due index, if it may be claimed (after the
    /// group changed).
    fn index(&mut self, group: &(String, String)) {
        if let Some(head) = self.head(group)
            && let Some(owed) = self.rows.get(&(group.0.clone(), head))
            && owed.durable
            && !owed.dead
        {
            self.due.insert((owed.next_at, head, group.0.clone()));
        }
    }

    /// Changes one row (and the group it is in) with `change`, keeping the index right.
    fn change(&mut self, key: &Key, change: impl FnOnce(&mut Outbox, &Key)) {
        let Some(owed) = self.rows.get(key) else {
            return;
        };
        let group = (key.0.clone(), owed.licence.clone());
        self.unindex(&group);
        change(self, key);
        if self.groups.get(&group).is_some_and(BTreeSet::is_empty) {
            self.groups.remove(&group);
        }
        self.index(&group);
    }

    fn add(&mut self, key: Key, owed: Owed) {
        let group = (key.0.clone(), owed.licence.clone());
        self.unindex(&group);
        if !owed.dead {
            self.groups.entry(group.clone()).or_default().insert(key.1);
        }
        self.rows.insert(key, owed);
        self.index(&group);
    }

    fn set_due(&mut self, key: &Key, at: u64) {
        self.change(key, |o, k| {
            if let Some(owed) = o.rows.get_mut(k) {
                owed.next_at = at;
            }
        });
    }

    fn set_dead(&mut self, key: &Key) {
        self.change(key, |o, k| {
            if let Some(owed) = o.rows.get_mut(k) {
                owed.dead = true;
                let group = (k.0.clone(), owed.licence.clone());
                if let Some(g) = o.groups.get_mut(&group) {
                    g.remove(&k.1);
                }
            }
        });
    }

    fn revive(&mut self, key: &Key, at: u64) {
        self.change(key, |o, k| {
            if let Some(owed) = o.rows.get_mut(k) {
                owed.dead = false;
                owed.next_at = at;
                let group = (k.0.clone(), owed.licence.clone());
                o.groups.entry(group).or_default().insert(k.1);
            }
        });
    }

    fn remove(&mut self, key: &Key) {
        self.change(key, |o, k| {
            if let Some(owed) = o.rows.remove(k)
                && let Some(g) = o.groups.get_mut(&(k.0.clone(), owed.licence))
            {
                g.remove(&k.1);
            }
        });
    }

    /// The rows of `events` for the subscriptions that want them, staged into `batch`
    /// with the new sequence and counters: sequences are taken in order, one per event.
    pub(super) fn stage(&self, batch: &mut Batch, events: &[Event]) -> Staged {
        let mut staged = Staged {
            next: self.next,
            rows: Vec::new(),
            written: Vec::new(),
        };
        if events.is_empty() {
            return staged;
        }
        let mut written: HashMap<&str, u64> = HashMap::new();
        for event in events {
            let sequence = staged.next;
            staged.next += 1;
            for s in self.subscriptions.iter().filter(|s| s.wants(event)) {
                let row = Row {
                    event: event.clone(),
                    attempts: 0,
                    started: event.at,
                    last_error: None,
                    next_at: event.at,
                    dead: false,
                };
                batch.insert(layout::delivery(&s.id, sequence), layout::encode(&row));
                let owed = Owed {
                    licence: event.licence.as_str().to_owned(),
                    at: event.at,
                    next_at: event.at.0,
                    dead: false,
                    durable: false,
                };
                staged.rows.push(((s.id.clone(), sequence), owed));
                *written
                    .entry(s.id.as_str())
                    .or_insert_with(|| self.written.get(&s.id).copied().unwrap_or(0)) += 1;
            }
        }
        batch.insert(
            layout::meta(layout::OUTBOX_SEQUENCE),
            layout::encode(&staged.next),
        );
        for (id, n) in written {
            batch.insert(layout::written(id), layout::encode(&n));
            staged.written.push((id.to_owned(), n));
        }
        staged
    }

    /// Takes staged rows in once their batch applied (not yet claimable): their keys.
    pub(super) fn take(&mut self, staged: Staged) -> Vec<DeliveryKey> {
        self.next = self.next.max(staged.next);
        for (id, n) in staged.written {
            self.written.insert(id, n);
        }
        let mut keys = Vec::with_capacity(staged.rows.len());
        for (key, owed) in staged.rows {
            keys.push(DeliveryKey {
                subscription: key.0.clone(),
                sequence: key.1,
            });
            self.add(key, owed);
        }
        keys
    }

    /// Rows whose batch is now durable: claimable.
    pub(super) fn durable(&mut self, keys: &[DeliveryKey]) {
        for k in keys {
            let key = (k.subscription.clone(), k.sequence);
            self.change(&key, |o, k| {
                if let Some(owed) = o.rows.get_mut(k) {
                    owed.durable = true;
                }
            });
        }
    }
}

impl SledStore {
    pub(super) fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `batch` with its audit records and the events it causes (one row per
    /// subscription that wants each): the keys of the rows, claimable once the batch's
    /// commit is durable ([`SledStore::outbox_durable`]).
    pub(super) fn apply_events(
        &self,
        mut batch: Batch,
        audit: Vec<AuditRecord>,
        events: &[Event],
    ) -> StoreResult<Vec<DeliveryKey>> {
        if events.is_empty() {
            self.apply(batch, audit)?;
            return Ok(Vec::new());
        }
        let mut outbox = self.outbox();
        let staged = outbox.stage(&mut batch, events);
        self.apply(batch, audit)?;
        Ok(outbox.take(staged))
    }

    /// The rows of a batch whose commit is durable may be claimed.
    pub(super) fn outbox_durable(&self, keys: &[DeliveryKey]) {
        if !keys.is_empty() {
            self.outbox().durable(keys);
        }
    }

    /// The client that made the licence's latest application (empty when none).
    pub(super) fn latest_client(&self, number: &str) -> StoreResult<String> {
        Ok(match self.latest(number)? {
            Some(ticket) => self
                .stored_application(ticket)?
                .map(|a| a.client)
                .unwrap_or_default(),
            None => String::new(),
        })
    }

    fn stored_row(&self, key: &DeliveryKey) -> StoreResult<Option<Row>> {
        self.get(
            &layout::delivery(&key.subscription, key.sequence),
            "delivery",
        )
    }

    pub(super) fn add_subscription_applied(
        &self,
        subscription: Subscription,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let mut outbox = self.outbox();
        if outbox.subscriptions.iter().any(|s| s.id == subscription.id) {
            return Err(StoreError::Engine(format!(
                "a subscription with id {} exists",
                subscription.id
            )));
        }
        let mut batch = Batch::default();
        batch.insert(
            layout::subscription(&subscription.id),
            layout::encode(&subscription),
        );
        self.apply(batch, vec![audit])?;
        outbox.subscriptions.push(subscription);
        Ok(())
    }

    pub(super) fn remove_subscription_applied(
        &self,
        id: &str,
        audit: AuditRecord,
    ) -> StoreResult<bool> {
        let mut outbox = self.outbox();
        if !outbox.subscriptions.iter().any(|s| s.id == id) {
            return Ok(false);
        }
        let mut batch = Batch::default();
        batch.remove(layout::subscription(id));
        batch.remove(layout::written(id));
        let mut owed = Vec::new();
        for entry in self.db.scan_prefix(layout::deliveries_of(id)) {
            let (k, _) = entry.map_err(engine_error)?;
            if let Some(key) = layout::parse_delivery(&k) {
                owed.push(key);
            }
            batch.remove(k);
        }
        self.apply(batch, vec![audit])?;
        outbox.subscriptions.retain(|s| s.id != id);
        outbox.written.remove(id);
        for key in &owed {
            outbox.remove(key);
        }
        Ok(true)
    }

    pub(super) fn subscriptions_now(&self) -> Vec<Subscription> {
        self.outbox().subscriptions.clone()
    }

    pub(super) fn claim_deliveries_now(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        let mut keys: Vec<Key> = {
            let mut outbox = self.outbox();
            let keys: Vec<Key> = outbox
                .due
                .range(..(now.0.saturating_add(1), 0, String::new()))
                .take(limit)
                .map(|(_, sequence, id)| (id.clone(), *sequence))
                .collect();
            for key in &keys {
                outbox.set_due(key, lease_until.0);
            }
            keys
        };
        keys.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        let mut out = Vec::with_capacity(keys.len());
        for (subscription, sequence) in keys {
            let key = DeliveryKey {
                subscription,
                sequence,
            };
            if let Some(row) = self.stored_row(&key)? {
                out.push(row.delivery(key));
            }
        }
        Ok(out)
    }

    pub(super) fn finish_delivery_applied(
        &self,
        key: DeliveryKey,
        outcome: DeliveryOutcome,
    ) -> StoreResult<()> {
        let mut outbox = self.outbox();
        let Some(mut row) = self.stored_row(&key)? else {
            return Ok(());
        };
        let db_key = layout::delivery(&key.subscription, key.sequence);
        let mem_key = (key.subscription, key.sequence);
        let mut batch = Batch::default();
        match outcome {
            DeliveryOutcome::Delivered => {
                batch.remove(db_key);
                self.apply(batch, Vec::new())?;
                outbox.remove(&mem_key);
            }
            DeliveryOutcome::Retry { at, error } => {
                row.attempts = row.attempts.saturating_add(1);
                row.next_at = at;
                row.last_error = Some(error);
                batch.insert(db_key, layout::encode(&row));
                self.apply(batch, Vec::new())?;
                outbox.set_due(&mem_key, at.0);
            }
            DeliveryOutcome::Dead { error } => {
                row.attempts = row.attempts.saturating_add(1);
                row.dead = true;
                row.last_error = Some(error);
                batch.insert(db_key, layout::encode(&row));
                self.apply(batch, Vec::new())?;
                outbox.set_dead(&mem_key);
            }
        }
        Ok(())
    }

    /// The dead letters' keys, oldest event first.
    fn dead_keys(outbox: &Outbox, subscription: Option<&str>, since: Option<UnixTime>) -> Vec<Key> {
        let mut keys: Vec<Key> = outbox
            .rows
            .iter()
            .filter(|(k, o)| {
                o.dead
                    && subscription.is_none_or(|s| s == k.0)
                    && since.is_none_or(|since| o.at >= since)
            })
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        keys
    }

    pub(super) fn dead_letters_now(
        &self,
        subscription: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        let mut out = Vec::new();
        let keys = Self::dead_keys(&self.outbox(), subscription, None);
        for (subscription, sequence) in keys {
            if out.len() == limit {
                break;
            }
            let key = DeliveryKey {
                subscription,
                sequence,
            };
            if let Some(row) = self.stored_row(&key)? {
                out.push(row.delivery(key));
            }
        }
        Ok(out)
    }

    pub(super) fn replay_applied(&self, replay: Replay, audit: AuditRecord) -> StoreResult<u64> {
        let mut outbox = self.outbox();
        let keys = Self::dead_keys(&outbox, replay.subscription.as_deref(), Some(replay.since));
        let mut batch = Batch::default();
        let mut revived = Vec::new();
        for (subscription, sequence) in keys {
            let key = DeliveryKey {
                subscription,
                sequence,
            };
            let Some(mut row) = self.stored_row(&key)? else {
                continue;
            };
            if !row.dead {
                continue;
            }
            row.dead = false;
            row.attempts = 0;
            row.started = replay.now;
            row.next_at = replay.now;
            batch.insert(
                layout::delivery(&key.subscription, key.sequence),
                layout::encode(&row),
            );
            revived.push((key.subscription, key.sequence));
        }
        self.apply(batch, vec![audit])?;
        for key in &revived {
            outbox.revive(key, replay.now.0);
        }
        Ok(revived.len() as u64)
    }

    pub(super) fn outbox_figures_now(&self) -> Vec<OutboxFigures> {
        let outbox = self.outbox();
        let mut figures: Vec<OutboxFigures> = outbox
            .subscriptions
            .iter()
            .map(|s| OutboxFigures {
                subscription: s.id.clone(),
                written: outbox.written.get(&s.id).copied().unwrap_or(0),
                pending: 0,
                dead: 0,
                oldest_pending: None,
            })
            .collect();
        let index: HashMap<&str, usize> = outbox
            .subscriptions
            .iter()
            .enumerate()
            .map(|(n, s)| (s.id.as_str(), n))
            .collect();
        for ((id, _), owed) in &outbox.rows {
            let Some(f) = index.get(id.as_str()).and_then(|&n| figures.get_mut(n)) else {
                continue;
            };
            if owed.dead {
                f.dead += 1;
            } else {
                f.pending += 1;
                f.oldest_pending = Some(f.oldest_pending.map_or(owed.at, |t| t.min(owed.at)));
            }
        }
        figures
    }

    /// [`crate::store::Store::note_expiring`] up to its commit: the keys of the rows
    /// written.
    pub(super) fn note_expiring_applied(
        &self,
        until: UnixTime,
        now: UnixTime,
        limit: usize,
    ) -> StoreResult<(u64, Vec<DeliveryKey>)> {
        let _serial = self.expiry_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut batch = Batch::default();
        // Candidates, read without locks, then checked again under their licences'.
        let mut candidates: Vec<(Vec<u8>, CredentialRecord)> = Vec::new();
        let end = layout::expiry_from(UnixTime(until.0.saturating_add(1)));
        for entry in self.db.range(layout::expiry_from(UnixTime(now.0 + 1))..end) {
            if candidates.len() == limit {
                break;
            }
            let (k, _) = entry.map_err(engine_error)?;
            let Some(id) = layout::expiry_credential(&k) else {
                continue;
            };
            match self.stored_credential(&id)? {
                Some(c) if !c.superseded => {
                    let licence = self.stored_licence(c.licence.as_str())?;
                    if licence.is_some_and(|l| in_force(&l)) {
                        candidates.push((k.to_vec(), c));
                    }
                }
                // Superseded or gone: never to be noted.
                _ => batch.remove(k),
            }
        }
        let mut stripes: Vec<usize> = candidates
            .iter()
            .map(|(_, c)| Self::stripe_index(c.licence.as_str()))
            .collect();
        stripes.sort_unstable();
        stripes.dedup();
        let guards: Vec<_> = stripes.iter().map(|&n| self.stripe_at(n)).collect();
        let mut events = Vec::new();
        for (index_key, c) in candidates {
            let Some(noted) = layout::expiry_noted(&c.id) else {
                continue;
            };
            if self.db.contains_key(&noted).map_err(engine_error)? {
                batch.remove(index_key);
                continue;
            }
            let current = self.stored_credential(&c.id)?;
            let licence = self.stored_licence(c.licence.as_str())?;
            let Some(current) = current.filter(|c| !c.superseded) else {
                continue;
            };
            if !licence.is_some_and(|l| in_force(&l)) {
                continue;
            }
            let client = self.latest_client(current.licence.as_str())?;
            events.push(notify::expiring(&current, &client, now));
            batch.insert(noted, &[][..]);
            batch.remove(index_key);
        }
        let keys = self.apply_events(batch, Vec::new(), &events)?;
        drop(guards);
        Ok((events.len() as u64, keys))
    }
}

/// Whether a licence is in force (its credentials may be noted as expiring).
fn in_force(licence: &LicenceRecord) -> bool {
    licence.state == keys::licence::LicenceState::Normal
}

/// Builds the `X/` expiry index once, for a database written before it existed: every
/// current credential, with the marker in the same batch.
pub(super) fn index_expiry(db: &sled::Db) -> StoreResult<()> {
    if db
        .get(layout::meta(layout::EXPIRY_INDEXED))
        .map_err(engine_error)?
        .is_some()
    {
        return Ok(());
    }
    /// What the index needs of a credential record.
    #[derive(serde::Deserialize)]
    struct Entry {
        id: String,
        expires_at: UnixTime,
        superseded: bool,
    }
    let mut batch = sled::Batch::default();
    for entry in db.scan_prefix(layout::CREDENTIAL) {
        let (_, v) = entry.map_err(engine_error)?;
        let c: Entry = layout::decode(&v, "credential")?;
        if !c.superseded
            && let Some(key) = layout::expiry(c.expires_at, &c.id)
        {
            batch.insert(key, &[][..]);
        }
    }
    batch.insert(layout::meta(layout::EXPIRY_INDEXED), &[1u8][..]);
    db.apply_batch(batch).map_err(engine_error)
}
