//! The lookup log's record frames inside a segment. Pure: no IO.
//!
//! A segment is a zero-filled file of fixed size; records are written one after another
//! from its start, each as a frame:
//!
//! | bytes | meaning |
//! |---|---|
//! | 4 | `n`, the record's length, little-endian, 1 to [`MAX_RECORD`] |
//! | 4 | CRC-32 (IEEE) of the 4 length bytes and the record, little-endian |
//! | `n` | the stored audit record (its JSON, hash chain members included) |
//!
//! The first frame whose length is 0 (the zeros not yet written) or does not fit ends the
//! segment. A frame whose CRC does not check is a record altered in place when its record
//! holds no zero byte (a stored record is JSON: it never does), kept so that the chain
//! check reports it. Otherwise it is a write a crash tore (the parts that never reached
//! the disk are still zeros, and a length read from a torn header spans a following
//! header's zeros): it ends the segment. Such a write belongs to the last group, which
//! was never acknowledged, since a group is written only after the one before it is
//! durable.

/// Bytes before a record in its frame.
pub(crate) const HEADER: usize = 8;

/// The longest record a frame holds (a record is well under 2 KiB: a purpose is at most
/// 200 characters).
pub(crate) const MAX_RECORD: usize = 64 << 10;

/// `record` framed, appended to `out`.
pub(crate) fn frame(record: &[u8], out: &mut Vec<u8>) {
    let length = u32::try_from(record.len())
        .unwrap_or(u32::MAX)
        .to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&length);
    crc.update(record);
    out.extend_from_slice(&length);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(record);
}

/// The bytes `record` takes framed.
pub(crate) fn framed_len(record: &[u8]) -> usize {
    HEADER + record.len()
}

/// One frame found in a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    /// Where its record starts.
    pub start: usize,
    /// Where its record ends (and the next frame starts).
    pub end: usize,
    /// Whether its CRC checks.
    pub intact: bool,
}

/// What a segment holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Its records, in order.
    pub frames: Vec<Frame>,
    /// Where the next frame goes: the end of the last one.
    pub end: usize,
    /// Where the last byte that is not zero ends, at `end` or after it: beyond `end`, the
    /// remains of a torn write.
    pub dirty_until: usize,
}

impl Scan {
    /// The records' bytes.
    pub(crate) fn records<'a>(&'a self, bytes: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
        self.frames.iter().map(|f| &bytes[f.start..f.end])
    }
}

/// The frame at `at`, if its length fits.
fn frame_at(bytes: &[u8], at: usize) -> Option<Frame> {
    let header = bytes.get(at..at.checked_add(HEADER)?)?;
    let (length, crc) = header.split_at(4);
    let n = u32::from_le_bytes(length.try_into().ok()?) as usize;
    if n == 0 || n > MAX_RECORD {
        return None;
    }
    let start = at + HEADER;
    let end = start.checked_add(n)?;
    let record = bytes.get(start..end)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(length);
    hasher.update(record);
    let intact = hasher.finalize() == u32::from_le_bytes(crc.try_into().ok()?);
    Some(Frame { start, end, intact })
}

/// The frames of the segment `bytes`, up to its end (see the module's description).
pub(crate) fn scan(bytes: &[u8]) -> Scan {
    let mut frames = Vec::new();
    let mut at = 0;
    while let Some(frame) = frame_at(bytes, at) {
        if !frame.intact && bytes[frame.start..frame.end].contains(&0) {
            break;
        }
        frames.push(frame);
        at = frame.end;
    }
    let dirty_until = bytes
        .iter()
        .rposition(|b| *b != 0)
        .map_or(at, |last| (last + 1).max(at));
    Scan {
        frames,
        end: at,
        dirty_until,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(records: &[&[u8]], size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            frame(r, &mut out);
        }
        out.resize(size, 0);
        out
    }

    #[test]
    fn frames_are_read_back_up_to_the_zeros() {
        let bytes = segment(&[b"one", b"two", b"three"], 64);
        let scan = scan(&bytes);
        let records: Vec<&[u8]> = scan.records(&bytes).collect();
        assert_eq!(records, [&b"one"[..], b"two", b"three"]);
        assert_eq!(scan.end, 3 * HEADER + 11);
        assert_eq!(scan.dirty_until, scan.end);
        assert!(scan.frames.iter().all(|f| f.intact));
    }

    #[test]
    fn a_torn_last_write_ends_the_segment_and_is_reported_as_dirty() {
        let mut bytes = segment(&[b"one", b"two"], 64);
        // The second frame's record half written: its CRC fails, nothing intact follows.
        let second = HEADER + 3;
        bytes[second + HEADER + 1] = 0;
        let found = scan(&bytes);
        assert_eq!(found.frames.len(), 1);
        assert_eq!(found.end, second);
        assert_eq!(found.dirty_until, second + HEADER + 3);
        // A header alone, its record never written.
        let mut bytes = segment(&[b"one"], 64);
        bytes[second..second + 4].copy_from_slice(&3u32.to_le_bytes());
        let found = scan(&bytes);
        assert_eq!((found.frames.len(), found.end), (1, second));
        assert_eq!(found.dirty_until, second + 1);
    }

    #[test]
    fn a_record_altered_in_place_is_kept() {
        let mut bytes = segment(&[b"one", b"two", b"six"], 64);
        bytes[HEADER + 3 + HEADER] = b'T';
        let scan = scan(&bytes);
        let records: Vec<&[u8]> = scan.records(&bytes).collect();
        assert_eq!(records, [&b"one"[..], b"Two", b"six"]);
        assert_eq!(
            scan.frames.iter().map(|f| f.intact).collect::<Vec<_>>(),
            [true, false, true]
        );
    }

    #[test]
    fn an_altered_last_record_is_kept_for_the_chain_check_to_report() {
        let mut bytes = segment(&[b"one", b"two"], 64);
        bytes[2 * HEADER + 3] = b'T';
        let scan = scan(&bytes);
        assert_eq!(scan.frames.len(), 2);
        assert!(!scan.frames[1].intact);
        assert_eq!(scan.end, scan.dirty_until);
    }

    #[test]
    fn a_length_beyond_the_segment_or_the_limit_ends_it() {
        let mut bytes = segment(&[b"one"], 32);
        bytes[..4].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(scan(&bytes).frames.len(), 0);
        let mut big = vec![0u8; MAX_RECORD + 2 * HEADER];
        big[..4].copy_from_slice(&(MAX_RECORD as u32 + 1).to_le_bytes());
        assert_eq!(scan(&big).end, 0);
    }
}
