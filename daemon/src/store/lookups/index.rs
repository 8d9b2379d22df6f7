//! The lookup log's index by licence: where each relying-party lookup of a licence's
//! credentials is stored (record number, segment offset, length), so that a holder's
//! "who checked me" reads that licence's records and nothing else.
//!
//! It lives in memory. The syncer adds a group's lookups after the group is durable and
//! its waiters are answered (never before: the answer waits for no index work), in the
//! order groups are answered; at start a thread of its own rebuilds it from the segments
//! for the records already there. A reader waits until every lookup answered before it
//! asked is indexed and the rebuild is done, so it sees its own lookups.
//!
//! Memory: about 24 bytes a lookup plus one key a licence (≈ 240 MB for ten million
//! lookups); a closed segment's records could be dropped from memory and read from a file
//! written at close, should a node ever hold that many.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::files::{Closed, Layout, SegmentDir};
use super::segment;
use crate::domain::audit::chain;
use crate::domain::audit::{AuditRecord, LOOKUP_ACTION};
use crate::store::StoreError;

/// Where one record is stored: its number, and its bytes' place in its segment (which the
/// number names: the first closed segment whose last record is at or after it, else the
/// one being written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Position {
    /// The record's number (its `seq`).
    pub number: u64,
    /// Where its bytes start in its segment.
    pub offset: u64,
    /// How many bytes.
    pub len: u32,
}

/// Whether `record` goes into the index: a relying-party lookup of a licence's credential.
pub(crate) fn indexed(record: &AuditRecord) -> Option<&str> {
    (record.action == LOOKUP_ACTION)
        .then_some(record.licence.as_deref())
        .flatten()
}

/// The index and its progress.
pub(crate) struct LicenceIndex {
    state: Mutex<State>,
    changed: Condvar,
    /// The last record number whose group was answered as durable; the index has it once
    /// `State::through` reaches it.
    answered: AtomicU64,
}

struct State {
    /// Each licence's lookups, oldest first.
    by_licence: HashMap<String, Vec<Position>>,
    /// Every record up to this number that belongs in the index is in it, apart from the
    /// ones the rebuild is still reading.
    through: u64,
    /// The rebuild of the records there at start: running, done, or failed.
    rebuild: Rebuild,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Rebuild {
    Running,
    Done,
    Failed(String),
}

/// One page of a licence's lookups, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Page {
    /// The records, newest first, each with its number.
    pub records: Vec<(u64, AuditRecord)>,
    /// Whether older ones remain (ask again with `before` = the last number here).
    pub more: bool,
}

impl LicenceIndex {
    /// An index of the log whose records up to `through` are in its segments already
    /// (the rebuild reads them; see [`LicenceIndex::rebuild`]).
    pub(crate) fn new(through: u64) -> LicenceIndex {
        LicenceIndex {
            state: Mutex::new(State {
                by_licence: HashMap::new(),
                through,
                rebuild: if through == 0 {
                    Rebuild::Done
                } else {
                    Rebuild::Running
                },
            }),
            changed: Condvar::new(),
            answered: AtomicU64::new(through),
        }
    }

    /// Records up to `last` were answered as durable (called before their waiters are
    /// answered).
    pub(crate) fn answered(&self, last: u64) {
        self.answered.fetch_max(last, Ordering::SeqCst);
    }

    /// Adds a group's lookups, whose records end at number `last`; groups come in order.
    pub(crate) fn add(&self, entries: Vec<(String, Position)>, last: u64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for (licence, position) in entries {
            state.by_licence.entry(licence).or_default().push(position);
        }
        state.through = state.through.max(last);
        drop(state);
        self.changed.notify_all();
    }

    /// Reads the records numbered 1 to `through` (those there at start) from `segments`
    /// into the index, ahead of what the syncer added meanwhile.
    pub(crate) fn rebuild(&self, segments: &dyn SegmentDir, through: u64) {
        let found = scan_all(segments, through);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match found {
            Ok(mut found) => {
                for (licence, mut live) in std::mem::take(&mut state.by_licence) {
                    found.entry(licence).or_default().append(&mut live);
                }
                state.by_licence = found;
                state.rebuild = Rebuild::Done;
            }
            Err(e) => {
                tracing::error!(error = %e, "indexing the lookup log failed; lookup listings are refused until edld restarts");
                state.rebuild = Rebuild::Failed(e.to_string());
            }
        }
        drop(state);
        self.changed.notify_all();
    }

    /// The positions of `licence`'s lookups numbered before `before` (all if `None`),
    /// newest first, at most `limit` + 1 of them (the extra one says whether more
    /// remain). Waits until every lookup answered before the call is indexed.
    pub(crate) fn positions(
        &self,
        licence: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Position>, StoreError> {
        let wanted = self.answered.load(Ordering::SeqCst);
        let state = self
            .changed
            .wait_while(self.state.lock().unwrap_or_else(|p| p.into_inner()), |s| {
                s.rebuild == Rebuild::Running || s.through < wanted
            })
            .unwrap_or_else(|p| p.into_inner());
        if let Rebuild::Failed(e) = &state.rebuild {
            return Err(StoreError::Io(format!("the lookup log's index: {e}")));
        }
        let Some(all) = state.by_licence.get(licence) else {
            return Ok(Vec::new());
        };
        let end = match before {
            Some(before) => all.partition_point(|p| p.number < before),
            None => all.len(),
        };
        Ok(all[..end].iter().rev().take(limit + 1).copied().collect())
    }
}

/// Reads a page of `licence`'s lookups from `segments` through `index`.
pub(crate) fn page(
    index: &LicenceIndex,
    segments: &dyn SegmentDir,
    licence: &str,
    before: Option<u64>,
    limit: usize,
) -> Result<Page, StoreError> {
    let mut positions = index.positions(licence, before, limit)?;
    let more = positions.len() > limit;
    positions.truncate(limit);
    let mut records = Vec::with_capacity(positions.len());
    let mut closed = segments.closed()?;
    for position in positions {
        records.push((position.number, read(segments, &mut closed, position)?));
    }
    Ok(Page { records, more })
}

/// The record at `position`. The segment being written may be closed (renamed) at any
/// moment: a record that is not where the listing of closed segments said is looked for
/// again after listing them anew.
fn read(
    segments: &dyn SegmentDir,
    closed: &mut Vec<Closed>,
    position: Position,
) -> Result<AuditRecord, StoreError> {
    for _ in 0..3 {
        let source = closed.iter().find(|c| c.last >= position.number);
        let bytes = segments.read_range(source, position.offset, position.len as usize)?;
        // An altered record is still listed (`edld audit verify` reports it); a record
        // that is not the one numbered here was read from the wrong segment.
        match chain::decode(&bytes) {
            Ok(record) if record.seq == position.number => return Ok(record),
            _ => *closed = segments.closed()?,
        }
    }
    Err(StoreError::Io(format!(
        "lookup record {} is not where the index says",
        position.number
    )))
}

/// Every lookup numbered up to `through` in `segments`, by licence, oldest first; read
/// again if a segment was closed meanwhile (its records would have moved).
fn scan_all(
    segments: &dyn SegmentDir,
    through: u64,
) -> Result<HashMap<String, Vec<Position>>, StoreError> {
    let mut closed = segments.closed()?;
    loop {
        let found = scan_once(segments, &closed, through)?;
        let after = segments.closed()?;
        if after == closed {
            return Ok(found);
        }
        closed = after;
    }
}

fn scan_once(
    segments: &dyn SegmentDir,
    closed: &[Closed],
    through: u64,
) -> Result<HashMap<String, Vec<Position>>, StoreError> {
    let mut found: HashMap<String, Vec<Position>> = HashMap::new();
    let mut number = 0u64;
    let sources = closed.iter().map(Some).chain(std::iter::once(None));
    for source in sources {
        if number >= through {
            break;
        }
        let (bytes, layout) = match source {
            Some(c) => (segments.read_closed(c)?, c.layout),
            None => (segments.read_active()?, Layout::Framed),
        };
        for (start, end) in spans(&bytes, layout) {
            number += 1;
            if number > through {
                break;
            }
            let Some(record) = chain::decode_intact(&bytes[start..end]) else {
                continue;
            };
            if let Some(licence) = indexed(&record) {
                found.entry(licence.to_owned()).or_default().push(Position {
                    number: record.seq,
                    offset: start as u64,
                    len: (end - start) as u32,
                });
            }
        }
    }
    Ok(found)
}

/// Where each record of a segment's bytes starts and ends.
fn spans(bytes: &[u8], layout: Layout) -> Vec<(usize, usize)> {
    match layout {
        Layout::Framed => segment::scan(bytes)
            .frames
            .iter()
            .map(|f| (f.start, f.end))
            .collect(),
        Layout::Lines => {
            let mut out = Vec::new();
            let mut start = 0;
            for (i, b) in bytes.iter().enumerate() {
                if *b == b'\n' {
                    out.push((start, i));
                    start = i + 1;
                }
            }
            out
        }
    }
}

/// A shareable handle for reading pages off the async workers.
#[derive(Clone)]
pub(crate) struct Reader {
    pub(crate) index: Arc<LicenceIndex>,
    pub(crate) segments: Arc<dyn SegmentDir>,
}

impl Reader {
    /// A page of `licence`'s lookups (see [`page`]).
    pub(crate) fn page(
        &self,
        licence: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        page(&self.index, self.segments.as_ref(), licence, before, limit)
    }
}
