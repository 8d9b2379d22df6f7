//! Status lists in memory: the two-bit values of every credential, which indices are
//! taken, random allocation of new indices, and the signed Status List Tokens served at
//! `GET /v1/status-lists/{n}`.
//!
//! **Invariants:** every list has [`LIST_ENTRIES`] entries (at least the 131 072 the
//! format asks for); an index once allocated is never handed out again, even if the
//! credential that got it was never stored (the store's `I/` table is the record); a new
//! list opens once the newest is half full, which keeps random allocation to two tries on
//! average and every list's population large. With a trust list signed offline, only the
//! lists it names may open: the newest then fills up to three quarters ([`StatusLists::room`]
//! says how far), and issuing waits for a trust list naming the next one.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use keys::status_list::{self, CredentialStatus, StatusList, StatusListClaims};
use keys::{SigningKey, UnixTime};
use rand_core::RngCore;

/// Entries per list.
pub const LIST_ENTRIES: u32 = keys::status_list::MIN_ENTRIES as u32;

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
    allocated: Vec<u64>,
    used: u32,
    dirty: bool,
}

impl List {
    fn new() -> List {
        List {
            // Two bits per entry and a fixed length: cannot fail.
            values: StatusList::new(2, LIST_ENTRIES as usize)
                .unwrap_or_else(|_| unreachable_list()),
            allocated: vec![0; (LIST_ENTRIES as usize).div_ceil(64)],
            used: 0,
            dirty: true,
        }
    }

    fn is_allocated(&self, index: u32) -> bool {
        let i = index as usize;
        self.allocated
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn mark(&mut self, index: u32) {
        let i = index as usize;
        if let Some(w) = self.allocated.get_mut(i / 64)
            && *w & (1 << (i % 64)) == 0
        {
            *w |= 1 << (i % 64);
            self.used += 1;
        }
    }
}

fn unreachable_list() -> StatusList {
    // `StatusList::new(2, _)` only fails for a bit width other than 1, 2, 4 or 8.
    #[allow(clippy::expect_used)]
    StatusList::new(1, 8).expect("one-bit lists exist")
}

/// All lists.
pub struct StatusLists {
    lists: Mutex<Vec<List>>,
    signed: RwLock<Vec<Arc<SignedList>>>,
    base_url: String,
    changed: tokio::sync::Notify,
    /// How many lists may exist (the trust list names them); `u32::MAX`: any number.
    max_lists: AtomicU32,
}

/// A fresh index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// The list.
    pub list: u32,
    /// The index.
    pub index: u32,
    /// A new list was opened for it: the trust list must name it.
    pub opened_list: bool,
}

impl StatusLists {
    /// Lists rebuilt from the store: `entries` gives (list, index, value) for every
    /// allocated index.
    pub fn restore(
        base_url: String,
        entries: impl IntoIterator<Item = (u32, u32, CredentialStatus)>,
    ) -> StatusLists {
        let mut lists: Vec<List> = Vec::new();
        for (list, index, value) in entries {
            while lists.len() <= list as usize {
                lists.push(List::new());
            }
            if let Some(l) = lists.get_mut(list as usize) {
                l.mark(index);
                let _ = l.values.set(u64::from(index), value.value());
            }
        }
        if lists.is_empty() {
            lists.push(List::new());
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

    /// Allows only `max` lists (lists 0 to `max - 1`): those the trust list names.
    pub fn set_max_lists(&self, max: u32) {
        self.max_lists.store(max, Ordering::SeqCst);
    }

    /// How many indices may still be allocated without opening a list beyond the allowed
    /// ones: unbounded while a new list may open, else what is left of the newest list
    /// below three quarters (random allocation stays at four tries on average).
    pub fn room(&self) -> u64 {
        let lists = self.lock();
        if (lists.len() as u32) < self.max_lists.load(Ordering::SeqCst) {
            return u64::MAX;
        }
        lists.last().map_or(0, |l| {
            u64::from((LIST_ENTRIES / 4 * 3).saturating_sub(l.used))
        })
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

    /// Allocates a random unused index in the newest list, opening a new list when it is
    /// half full and another may open. Callers stay within [`StatusLists::room`].
    pub fn allocate(&self, rng: &mut impl RngCore) -> Allocation {
        let mut lists = self.lock();
        let mut opened_list = false;
        let may_open = (lists.len() as u32) < self.max_lists.load(Ordering::SeqCst);
        if lists.is_empty()
            || (may_open && lists.last().is_some_and(|l| l.used >= LIST_ENTRIES / 2))
        {
            lists.push(List::new());
            opened_list = true;
        }
        let list = (lists.len() - 1) as u32;
        let l = lists.last_mut();
        let mut index = 0;
        if let Some(l) = l {
            loop {
                index = rng.next_u32() % LIST_ENTRIES;
                if !l.is_allocated(index) {
                    l.mark(index);
                    break;
                }
            }
        }
        Allocation {
            list,
            index,
            opened_list,
        }
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

#[cfg(test)]
mod tests;
