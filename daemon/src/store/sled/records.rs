//! Credentials and licences as live-status lookups read them, decoded once and shared.
//!
//! A lookup read two records from sled and decoded their JSON: on a roadside lookup that
//! was about a fifth of edld's CPU (sled's tree walk and page cache, then the credential's
//! token and the licence's strings scanned and copied). Lookups ask for the same
//! credentials far more often than they change, so the records they read are kept here,
//! in a bounded concurrent cache (`quick_cache`: sharded, read-locked on a hit, evicting by
//! weight), and a lookup that finds both answers without touching sled.
//!
//! **Coherence.** Every batch the store applies is a [`Batch`], which notes the credential
//! and licence keys it writes; once sled has applied it, the store calls
//! [`Records::changed`] before the command returns, so a change is never acknowledged while
//! the old record can still be read here. A lookup that read sled while a batch applied
//! could put the old record back after it was forgotten; so a change first counts itself
//! (`changes`) and then forgets its keys, and a lookup that misses notes the count before
//! it reads sled and takes its record back out if the count moved before it was put in:
//! either the change forgot it after it was put, or the lookup sees the count moved.
//! Only records that exist are kept: a credential not found is read again next time.
//! Only this process writes the database (sled holds its lock), so nothing else can
//! change a record behind the cache. The PostgreSQL engine keeps no such cache: other
//! nodes change the rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::Weighter;
use quick_cache::sync::Cache;

use super::layout::{self, Changed};
use crate::domain::issue::CredentialRecord;
use crate::domain::registry::LicenceRecord;
use crate::store::{KeptRecords, StoreResult};

/// What the two caches may hold together, in bytes of records (approximately: see
/// [`Weight`]). A credential weighs about 800 bytes, a licence about 400.
pub(super) const DEFAULT_BYTES: u64 = crate::config::DEFAULT_RECORD_CACHE_MIB << 20;

/// A sled batch that knows which cached records it changes. The store applies nothing
/// else at run time (`SledStore::apply`).
#[derive(Default)]
pub(super) struct Batch {
    writes: sled::Batch,
    changed: Vec<Changed>,
}

impl Batch {
    /// Sets `key` to `value`.
    pub(super) fn insert(&mut self, key: impl Into<sled::IVec>, value: impl Into<sled::IVec>) {
        let key = key.into();
        self.note(&key);
        self.writes.insert(key, value);
    }

    /// Removes `key`.
    pub(super) fn remove(&mut self, key: impl Into<sled::IVec>) {
        let key = key.into();
        self.note(&key);
        self.writes.remove(key);
    }

    fn note(&mut self, key: &[u8]) {
        if let Some(changed) = layout::cached(key) {
            self.changed.push(changed);
        }
    }

    /// The sled batch, and the cached records it changes.
    pub(super) fn into_parts(self) -> (sled::Batch, Vec<Changed>) {
        (self.writes, self.changed)
    }
}

/// What a record weighs in the cache: its strings' bytes and a fixed part for the rest
/// (the struct, the `Arc`, the cache's entry). Computed from the record, as the weighter
/// must give the same weight every time it is asked.
#[derive(Clone, Copy, Default)]
struct Weight;

const FIXED: u64 = 256;

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Weighter<[u8; 16], Arc<CredentialRecord>> for Weight {
    fn weight(&self, _: &[u8; 16], c: &Arc<CredentialRecord>) -> u64 {
        FIXED + as_u64(c.id.len() + c.token.len() + c.licence.as_str().len())
    }
}

impl Weighter<Vec<u8>, Arc<LicenceRecord>> for Weight {
    fn weight(&self, number: &Vec<u8>, l: &Arc<LicenceRecord>) -> u64 {
        FIXED + as_u64(2 * number.len() + l.name.len() + l.authority.len())
    }
}

/// The shared records.
pub(super) struct Records {
    credentials: Cache<[u8; 16], Arc<CredentialRecord>, Weight>,
    licences: Cache<Vec<u8>, Arc<LicenceRecord>, Weight>,
    /// Batches that changed a cached kind of record, ever.
    changes: AtomicU64,
}

impl Records {
    /// Caches of `bytes` in all: three quarters for credentials, the rest for licences.
    /// Zero keeps nothing (every lookup reads sled).
    pub(super) fn new(bytes: u64) -> Records {
        let for_credentials = bytes / 4 * 3;
        let for_licences = bytes - for_credentials;
        let items =
            |bytes: u64, each: u64| usize::try_from(bytes / each).unwrap_or(usize::MAX).max(1);
        Records {
            credentials: Cache::with_weighter(items(for_credentials, 800), for_credentials, Weight),
            licences: Cache::with_weighter(items(for_licences, 400), for_licences, Weight),
            changes: AtomicU64::new(0),
        }
    }

    /// The credential `id`, from the cache or else from `read` (which reads sled).
    pub(super) fn credential(
        &self,
        id: [u8; 16],
        read: impl FnOnce() -> StoreResult<Option<CredentialRecord>>,
    ) -> StoreResult<Option<Arc<CredentialRecord>>> {
        self.read_through(&self.credentials, &id, || id, read)
    }

    /// The licence `number`, from the cache or else from `read`.
    pub(super) fn licence(
        &self,
        number: &str,
        read: impl FnOnce() -> StoreResult<Option<LicenceRecord>>,
    ) -> StoreResult<Option<Arc<LicenceRecord>>> {
        let key = number.as_bytes();
        self.read_through(&self.licences, key, || key.to_vec(), read)
    }

    /// A kept record, else `read`'s, kept. A lookup does not wait for a shard's lock to
    /// read or keep: the batches that write records forget them on the thread that
    /// applied them, an issuance thread at nice 19 that the kernel may preempt holding
    /// that lock. So a shard held by a writer is read around (sled, nothing kept). The one
    /// wait left is taking back a record that a change may have overlapped: correctness
    /// needs it out, and it happens only when a batch that changes any credential or
    /// licence applies while a lookup reads sled after a miss.
    fn read_through<K, Q, V>(
        &self,
        cache: &Cache<K, Arc<V>, Weight>,
        key: &Q,
        owned: impl FnOnce() -> K,
        read: impl FnOnce() -> StoreResult<Option<V>>,
    ) -> StoreResult<Option<Arc<V>>>
    where
        K: Eq + std::hash::Hash + Clone + std::borrow::Borrow<Q>,
        Q: Eq + std::hash::Hash + ?Sized,
        Weight: Weighter<K, Arc<V>>,
    {
        let keep = match cache.try_get(key) {
            Ok(Some(kept)) => return Ok(Some(kept)),
            Ok(None) => true,
            Err(_) => false,
        };
        let before = self.changes.load(Ordering::SeqCst);
        let Some(record) = read()?.map(Arc::new) else {
            return Ok(None);
        };
        if keep
            && cache.try_insert(owned(), record.clone()).is_ok()
            && self.changes.load(Ordering::SeqCst) != before
        {
            // A batch applied while sled was read: what was read may be older than it.
            cache.remove(key);
        }
        Ok(Some(record))
    }

    /// What is kept, for the metrics.
    pub(super) fn figures(&self) -> Vec<KeptRecords> {
        fn of<K, V>(kind: &'static str, cache: &Cache<K, V, Weight>) -> KeptRecords
        where
            K: Eq + std::hash::Hash,
            V: Clone,
            Weight: Weighter<K, V>,
        {
            KeptRecords {
                kind,
                hits: cache.hits(),
                misses: cache.misses(),
                records: as_u64(cache.len()),
                bytes: cache.weight(),
                capacity: cache.capacity(),
            }
        }
        vec![
            of("credential", &self.credentials),
            of("licence", &self.licences),
        ]
    }

    /// Forgets the records a batch just applied changed (see the module's doc for the
    /// order).
    pub(super) fn changed(&self, changed: &[Changed]) {
        if changed.is_empty() {
            return;
        }
        self.changes.fetch_add(1, Ordering::SeqCst);
        for record in changed {
            match record {
                Changed::Credential(id) => {
                    self.credentials.remove(id);
                }
                Changed::Licence(number) => {
                    self.licences.remove(number);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::domain::application::Ticket;
    use crate::store::conformance::{AT, number, record};

    fn a_credential(id: u8) -> CredentialRecord {
        CredentialRecord {
            id: hex::encode([id; 16]),
            licence: number(1),
            ticket: Ticket([id; 16]),
            list: 0,
            index: u32::from(id),
            issued_at: AT,
            expires_at: AT.plus(86_400),
            superseded: false,
            token: "dG9rZW4".repeat(40),
            photo: keys::licence::PhotoDigest::of(b"photo"),
        }
    }

    /// Reads through `records` with a reader that counts its calls and answers `value`.
    fn read(records: &Records, id: u8, reads: &Cell<u32>, value: &CredentialRecord) -> String {
        let got = records
            .credential([id; 16], || {
                reads.set(reads.get() + 1);
                Ok(Some(value.clone()))
            })
            .unwrap()
            .unwrap();
        got.token.clone()
    }

    #[test]
    fn a_batch_notes_the_credentials_and_licences_it_writes() {
        let mut batch = Batch::default();
        batch.insert(layout::credential_at(&[7; 16]), &b"{}"[..]);
        batch.insert(layout::licence("N1"), &b"{}"[..]);
        batch.insert(layout::meta("throttle"), &b"{}"[..]);
        batch.insert(layout::application(Ticket([7; 16])), &b"{}"[..]);
        batch.remove(layout::credential_at(&[8; 16]));
        batch.remove(layout::licence("N2"));
        let (_, changed) = batch.into_parts();
        assert_eq!(
            changed,
            [
                Changed::Credential([7; 16]),
                Changed::Licence(b"N1".to_vec()),
                Changed::Credential([8; 16]),
                Changed::Licence(b"N2".to_vec()),
            ]
        );
    }

    #[test]
    fn a_record_is_read_once_until_a_change_forgets_it() {
        let records = Records::new(1 << 20);
        let reads = Cell::new(0);
        let mut c = a_credential(1);
        assert_eq!(read(&records, 1, &reads, &c), c.token);
        assert_eq!(read(&records, 1, &reads, &c), c.token);
        assert_eq!(reads.get(), 1);
        // Another record's change leaves it kept.
        records.changed(&[
            Changed::Credential([2; 16]),
            Changed::Licence(b"N".to_vec()),
        ]);
        assert_eq!(read(&records, 1, &reads, &c), c.token);
        assert_eq!(reads.get(), 1);
        c.token = "bmV3".into();
        records.changed(&[Changed::Credential([1; 16])]);
        assert_eq!(read(&records, 1, &reads, &c), "bmV3");
        assert_eq!(reads.get(), 2);

        let licences = Cell::new(0);
        let l = record(3, "C1", true);
        let number = l.number.to_string();
        for _ in 0..2 {
            let got = records
                .licence(&number, || {
                    licences.set(licences.get() + 1);
                    Ok(Some(l.clone()))
                })
                .unwrap()
                .unwrap();
            assert_eq!(*got, l);
        }
        assert_eq!(licences.get(), 1);
        records.changed(&[Changed::Licence(number.as_bytes().to_vec())]);
        records.licence(&number, || Ok(Some(l.clone()))).unwrap();
        records
            .licence(&number, || panic!("kept after it was read again"))
            .unwrap();
    }

    /// A batch that applies while a lookup reads sled: what the lookup read may be the
    /// record before the batch, and must not be kept.
    #[test]
    fn a_read_overlapping_a_change_is_not_kept() {
        let records = Records::new(1 << 20);
        let old = a_credential(1);
        let got = records
            .credential([1; 16], || {
                records.changed(&[Changed::Credential([1; 16])]);
                Ok(Some(old.clone()))
            })
            .unwrap()
            .unwrap();
        assert_eq!(*got, old);
        let reads = Cell::new(0);
        let mut new = old.clone();
        new.token = "bmV3".into();
        assert_eq!(read(&records, 1, &reads, &new), "bmV3");
        assert_eq!(reads.get(), 1);
    }

    #[test]
    fn what_is_not_found_and_what_fails_is_not_kept() {
        let records = Records::new(1 << 20);
        assert!(records.credential([1; 16], || Ok(None)).unwrap().is_none());
        assert!(
            records
                .credential([1; 16], || Err(crate::store::StoreError::Stopped))
                .is_err()
        );
        let reads = Cell::new(0);
        read(&records, 1, &reads, &a_credential(1));
        assert_eq!(reads.get(), 1);
    }

    #[test]
    fn no_bytes_keep_nothing_and_the_bound_holds() {
        let none = Records::new(0);
        let reads = Cell::new(0);
        let c = a_credential(1);
        read(&none, 1, &reads, &c);
        read(&none, 1, &reads, &c);
        assert_eq!(reads.get(), 2);

        let small = Records::new(64 << 10);
        for id in 0..=255u8 {
            read(&small, id, &reads, &a_credential(id));
        }
        let bound = 64 << 10;
        assert!(
            small.credentials.weight() <= bound / 4 * 3,
            "{}",
            small.credentials.weight()
        );
        assert!(small.credentials.len() < 256);
    }
}
