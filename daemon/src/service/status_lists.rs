//! Status lists in memory: the two-bit value of every credential's index, and the signed
//! Status List Tokens served at `GET /v1/status-lists/{n}`, re-signed when values change
//! (coalesced) and on a fixed cadence. Which indices are taken is the store's (see
//! `domain::status_index`); a list exists here once the store opened it.
//!
//! **Invariants:** every list has `LIST_ENTRIES` entries; a value changes only after the
//! change that causes it applied; a list is signed only while the trust list lets the
//! status key sign.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use keys::status_list::{self, CredentialStatus, StatusList, StatusListClaims};
use keys::{KeyUse, SigningKey, UnixTime};

pub(crate) use crate::domain::status_index::LIST_ENTRIES;
use crate::service::Service;
use crate::store::{StatusCursor, StatusEntry, StoreError};

/// One signed list as served.
#[derive(Debug)]
pub struct SignedList {
    /// The token bytes.
    pub token: Vec<u8>,
    /// Its `iat`.
    pub issued_at: UnixTime,
    /// A strong ETag.
    pub etag: String,
}

struct List {
    values: StatusList,
    dirty: bool,
}

impl List {
    fn new() -> List {
        List {
            // Two bits per entry and a fixed length: cannot fail.
            values: StatusList::new(2, LIST_ENTRIES as usize)
                .unwrap_or_else(|_| unreachable_list()),
            dirty: true,
        }
    }
}

fn unreachable_list() -> StatusList {
    // `StatusList::new(2, _)` only fails for a bit width other than 1, 2, 4 or 8.
    #[allow(clippy::expect_used)]
    StatusList::new(1, 8).expect("one-bit lists exist")
}

/// Every list.
pub struct StatusLists {
    lists: Mutex<Vec<List>>,
    signed: RwLock<Vec<Arc<SignedList>>>,
    base_url: String,
    changed: tokio::sync::Notify,
    /// How many lists may exist (the trust list names them); `u32::MAX`: any number.
    max_lists: AtomicU32,
}

impl StatusLists {
    /// Lists rebuilt from the store: `count` lists, with the value of every allocated
    /// index in `entries`.
    pub fn restore(
        base_url: String,
        entries: impl IntoIterator<Item = StatusEntry>,
        count: u32,
    ) -> StatusLists {
        let mut lists: Vec<List> = (0..count.max(1)).map(|_| List::new()).collect();
        for entry in entries {
            while lists.len() <= entry.list as usize {
                lists.push(List::new());
            }
            if let Some(l) = lists.get_mut(entry.list as usize) {
                let _ = l.values.set(u64::from(entry.index), entry.value.value());
            }
        }
        StatusLists {
            lists: Mutex::new(lists),
            signed: RwLock::new(Vec::new()),
            base_url,
            changed: tokio::sync::Notify::new(),
            max_lists: AtomicU32::new(u32::MAX),
        }
    }

    /// How many lists exist.
    pub fn count(&self) -> u32 {
        self.lock().len() as u32
    }

    /// Opens lists until `count` exist (the store opened them).
    pub fn open_through(&self, count: u32) {
        let mut lists = self.lock();
        while (lists.len() as u32) < count {
            lists.push(List::new());
        }
    }

    /// Allows only `max` lists (lists 0 to `max - 1`): those the trust list names.
    pub fn set_max_lists(&self, max: u32) {
        self.max_lists.store(max, Ordering::SeqCst);
    }

    /// How many lists may exist (`u32::MAX`: any number).
    pub fn max_lists(&self) -> u32 {
        self.max_lists.load(Ordering::SeqCst)
    }

    /// The URI of list `n`, as credentials and the trust list name it.
    pub fn uri(&self, list: u32) -> String {
        format!("{}/v1/status-lists/{list}", self.base_url)
    }

    /// Every list's URI.
    pub fn uris(&self) -> Vec<String> {
        let count = self.lock().len() as u32;
        (0..count).map(|n| self.uri(n)).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<List>> {
        self.lists.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets an entry's value; the list is re-signed soon.
    pub fn set(&self, list: u32, index: u32, value: CredentialStatus) {
        let mut lists = self.lock();
        if let Some(l) = lists.get_mut(list as usize)
            && l.values.get(u64::from(index)) != Some(value.value())
        {
            let _ = l.values.set(u64::from(index), value.value());
            l.dirty = true;
            drop(lists);
            self.changed.notify_one();
        }
    }

    /// The value of an entry in memory (tests and diagnostics).
    pub fn value(&self, list: u32, index: u32) -> Option<u8> {
        self.lock().get(list as usize)?.values.get(u64::from(index))
    }

    /// Waits until some entry changed.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Signs the changed lists, or all of them with `all`.
    pub fn sign(
        &self,
        key: &SigningKey,
        now: UnixTime,
        ttl: u64,
        validity: u64,
        all: bool,
    ) -> usize {
        // Copy the values out under the lock, sign outside it.
        let todo: Vec<(u32, StatusList)> = {
            let mut lists = self.lock();
            lists
                .iter_mut()
                .enumerate()
                .filter(|(_, l)| all || l.dirty)
                .map(|(n, l)| {
                    l.dirty = false;
                    (n as u32, l.values.clone())
                })
                .collect()
        };
        let count = todo.len();
        for (n, values) in todo {
            let claims = StatusListClaims {
                uri: self.uri(n),
                issued_at: now,
                expires_at: now.plus(validity),
                ttl,
                list: values,
            };
            let token = status_list::sign(&claims, key);
            let digest = <sha2::Sha256 as sha2::Digest>::digest(&token);
            let signed = Arc::new(SignedList {
                etag: format!("\"{}\"", hex::encode(&digest[..16])),
                token,
                issued_at: now,
            });
            let mut all_signed = self.signed.write().unwrap_or_else(|p| p.into_inner());
            while all_signed.len() <= n as usize {
                all_signed.push(signed.clone());
            }
            if let Some(slot) = all_signed.get_mut(n as usize) {
                *slot = signed;
            }
        }
        count
    }

    /// The signed list `n`.
    pub fn signed(&self, list: u32) -> Option<Arc<SignedList>> {
        self.signed
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(list as usize)
            .cloned()
    }

    /// How many lists are signed.
    pub fn signed_count(&self) -> usize {
        self.signed.read().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Service {
    /// Signs the changed status lists (or all); returns how many. None while the trust
    /// list does not let the status key sign.
    pub fn sign_status_lists(&self, all: bool) -> usize {
        let allowed = self.may_sign(KeyUse::Status).map_err(|e| e.to_string());
        if !self.trust.signing_allowed("status lists", allowed) {
            return 0;
        }
        let n = self.status_lists.sign(
            &self.trust.keys.status,
            self.now(),
            self.settings.status_ttl,
            self.settings.status_validity,
            all,
        );
        self.metrics.status_lists_signed.inc_by(n as u64);
        n
    }

    /// Applies changed status list values (after the change that causes them applied).
    pub(crate) fn set_list_values(&self, entries: &[StatusEntry]) {
        for e in entries {
            self.status_lists.set(e.list, e.index, e.value);
        }
    }

    /// On a store several nodes write: applies the status values any node changed since
    /// `since` and opens the lists other nodes opened (the trust list then names them);
    /// returns where the next read starts, or `None` when the store has no other writers.
    ///
    /// The values read are those at the read, so one read before a change of this node's
    /// may briefly set an older value over it; the next read, which includes every
    /// transaction unfinished at this one, puts it right.
    pub async fn follow_status_changes(
        &self,
        since: Option<StatusCursor>,
    ) -> Result<Option<Option<StatusCursor>>, StoreError> {
        let Some(changes) = self.store.status_changes(since).await? else {
            return Ok(None);
        };
        if changes.lists > self.status_lists.count() {
            self.status_lists.open_through(changes.lists);
            self.trust.changed.notify_one();
        }
        self.set_list_values(&changes.entries);
        Ok(Some(changes.cursor))
    }
}

#[cfg(test)]
mod tests;
