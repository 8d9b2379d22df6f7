//! Where the lookup log's segments live: [`SegmentDir`], the few file operations the
//! writer needs, and [`FsSegments`], its implementation on a directory.
//!
//! A segment is created once at its full size and filled with zeros (real zeros, not
//! `fallocate`'s unwritten extents, whose first write is a metadata change), synced with
//! its directory entry, and only then made the one being written. From then on a write
//! lands inside the file and never changes its size, so `fdatasync` writes data blocks
//! alone: no inode, no journal (ext4 without a journal is the exception: it writes the
//! inode with the first sync of each clock tick, for its change time). The next segment
//! is prepared ahead on a thread of its own while the current one fills, a chunk at a time,
//! each made durable before the next (see [`SPARE_CHUNK`]), so that the syncs the lookups
//! wait on never queue behind a flush of the whole segment; a closed segment's unused
//! zeros are cut off on that thread too.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread::JoinHandle;

use crate::store::files::sync_dir;

/// The segment being written, in the lookup log's directory.
pub(crate) const ACTIVE: &str = "lookups.log";
/// The next segment, zero-filled ahead of time.
const SPARE: &str = "lookups.spare";
/// The segment being written by versions that appended JSON lines: closed on open.
pub(crate) const LEGACY_ACTIVE: &str = "lookups.jsonl";

/// One segment file, written in place.
pub(crate) trait SegmentFile: Send + Sync {
    /// Its whole content.
    fn read_all(&self) -> io::Result<Vec<u8>>;
    /// Writes `bytes` at `offset` (inside the file: its size does not change).
    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()>;
    /// Makes what was written durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// Its size.
    fn capacity(&self) -> io::Result<u64>;
}

/// How a closed segment stores its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Frames (see `segment`), then zeros.
    Framed,
    /// One JSON record per line (segments written before frames).
    Lines,
}

/// A closed segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Closed {
    /// The number of its last record.
    pub last: u64,
    /// Its file name.
    pub name: String,
    /// How it stores its records.
    pub layout: Layout,
}

/// The segments of one lookup log.
pub(crate) trait SegmentDir: Send + Sync {
    /// The segment being written, if there is one.
    fn active(&self) -> io::Result<Option<Box<dyn SegmentFile>>>;
    /// Makes a new zero-filled segment of `bytes` the one being written, durably. There
    /// must be none (see [`SegmentDir::close_active`]).
    fn start_active(&self, bytes: u64) -> io::Result<Box<dyn SegmentFile>>;
    /// Closes the segment being written, durably, under the number of its last record;
    /// its records end at `end`.
    fn close_active(&self, last: u64, end: u64) -> io::Result<()>;
    /// The closed segments, oldest first.
    fn closed(&self) -> io::Result<Vec<Closed>>;
    /// A closed segment's bytes (empty if it is gone).
    fn read_closed(&self, closed: &Closed) -> io::Result<Vec<u8>>;
    /// The bytes of the segment being written (empty if there is none).
    fn read_active(&self) -> io::Result<Vec<u8>>;
    /// Waits until nothing it started in the background (preparing the next segment,
    /// trimming a closed one) is still changing the directory.
    fn settle(&self) {}
    /// `len` bytes at `offset` of the closed segment `closed`, or of the one being written
    /// if `None` (fewer if it ends first).
    fn read_range(&self, closed: Option<&Closed>, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let bytes = match closed {
            Some(closed) => self.read_closed(closed)?,
            None => self.read_active()?,
        };
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let end = start.saturating_add(len).min(bytes.len());
        Ok(bytes[start..end].to_vec())
    }
}

/// A closed segment's file name: `lookups.<its last record number, 20 digits>.log`, so
/// that names sort in record order (`.jsonl` for segments of JSON lines).
pub(crate) fn segment_name(last: u64, layout: Layout) -> String {
    match layout {
        Layout::Framed => format!("lookups.{last:020}.log"),
        Layout::Lines => format!("lookups.{last:020}.jsonl"),
    }
}

fn parse_name(name: &str) -> Option<Closed> {
    let rest = name.strip_prefix("lookups.")?;
    let (number, layout) = if let Some(n) = rest.strip_suffix(".log") {
        (n, Layout::Framed)
    } else {
        (rest.strip_suffix(".jsonl")?, Layout::Lines)
    };
    if number.len() != 20 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Closed {
        last: number.parse().ok()?,
        name: name.to_owned(),
        layout,
    })
}

impl SegmentFile for File {
    fn read_all(&self) -> io::Result<Vec<u8>> {
        let len = usize::try_from(self.metadata()?.len())
            .map_err(|_| io::Error::other("segment too large"))?;
        let mut bytes = vec![0u8; len];
        self.read_exact_at(&mut bytes, 0)?;
        Ok(bytes)
    }

    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        self.write_all_at(bytes, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }

    fn capacity(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

/// The segments in a directory.
pub(crate) struct FsSegments {
    dir: PathBuf,
    /// Preparing the next segment and trimming the closed one.
    preparing: Mutex<Option<JoinHandle<()>>>,
}

impl FsSegments {
    /// The segments in `dir` (nothing is created or changed until written).
    pub(crate) fn new(dir: &Path) -> FsSegments {
        FsSegments {
            dir: dir.to_owned(),
            preparing: Mutex::new(None),
        }
    }

    /// Waits for the preparation under way, if any.
    fn wait_prepared(&self) {
        let handle = self
            .preparing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    /// Starts preparing a spare segment of `bytes` and trimming `trim` on a thread.
    fn prepare(&self, bytes: u64, trim: Option<(PathBuf, u64)>) {
        self.wait_prepared();
        let dir = self.dir.clone();
        let spawned = std::thread::Builder::new()
            .name("edld-lookup-prep".into())
            .spawn(move || {
                if let Some((path, end)) = trim
                    && let Err(e) = trim_segment(&path, end)
                {
                    tracing::warn!(error = %e, path = %path.display(), "trimming a closed lookup segment failed");
                }
                if let Err(e) = spare(&dir, bytes) {
                    tracing::warn!(error = %e, "preparing the next lookup segment failed");
                }
            });
        match spawned {
            Ok(handle) => {
                *self.preparing.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
            }
            Err(e) => tracing::warn!(error = %e, "preparing the next lookup segment failed"),
        }
    }

    /// A segment of JSON lines left by an earlier version becomes a closed segment, so
    /// the chain goes on in frames after it.
    fn close_legacy(&self) -> io::Result<()> {
        let path = self.dir.join(LEGACY_ACTIVE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        // A last line without its newline was never acknowledged: readers skip it.
        let lines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
        if lines == 0 {
            std::fs::remove_file(&path)?;
        } else {
            let before = self.closed()?.last().map_or(0, |c| c.last);
            let name = segment_name(before + lines, Layout::Lines);
            std::fs::rename(&path, self.dir.join(name))?;
        }
        sync_dir(&self.dir)
    }
}

impl Drop for FsSegments {
    fn drop(&mut self) {
        self.wait_prepared();
    }
}

impl SegmentDir for FsSegments {
    fn active(&self) -> io::Result<Option<Box<dyn SegmentFile>>> {
        self.close_legacy()?;
        match OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.dir.join(ACTIVE))
        {
            Ok(file) => Ok(Some(Box::new(file))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn start_active(&self, bytes: u64) -> io::Result<Box<dyn SegmentFile>> {
        self.wait_prepared();
        let spare_path = self.dir.join(SPARE);
        let ready = std::fs::metadata(&spare_path).is_ok_and(|m| m.len() == bytes);
        if !ready {
            spare(&self.dir, bytes).or_else(|e| again_if_raced(e, || spare(&self.dir, bytes)))?;
        }
        std::fs::rename(&spare_path, self.dir.join(ACTIVE)).or_else(|e| {
            again_if_raced(e, || {
                spare(&self.dir, bytes)?;
                std::fs::rename(&spare_path, self.dir.join(ACTIVE))
            })
        })?;
        sync_dir(&self.dir)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.dir.join(ACTIVE))?;
        self.prepare(bytes, None);
        Ok(Box::new(file))
    }

    fn close_active(&self, last: u64, end: u64) -> io::Result<()> {
        let closed = self.dir.join(segment_name(last, Layout::Framed));
        std::fs::rename(self.dir.join(ACTIVE), &closed)?;
        // Before anything else becomes the active segment: the two renames must not be
        // reordered by a power cut.
        sync_dir(&self.dir)?;
        let bytes = std::fs::metadata(&closed)?.len();
        self.wait_prepared();
        self.prepare(bytes, Some((closed, end)));
        Ok(())
    }

    fn settle(&self) {
        self.wait_prepared();
    }

    fn closed(&self) -> io::Result<Vec<Closed>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in entries {
            if let Some(closed) = entry?.file_name().to_str().and_then(parse_name) {
                out.push(closed);
            }
        }
        out.sort_by_key(|c| c.last);
        Ok(out)
    }

    fn read_closed(&self, closed: &Closed) -> io::Result<Vec<u8>> {
        read_if_there(&self.dir.join(&closed.name))
    }

    fn read_active(&self) -> io::Result<Vec<u8>> {
        read_if_there(&self.dir.join(ACTIVE))
    }

    fn read_range(&self, closed: Option<&Closed>, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let name = closed.map_or(ACTIVE, |c| c.name.as_str());
        let file = match File::open(self.dir.join(name)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut bytes = vec![0u8; len];
        let mut read = 0;
        while read < len {
            match file.read_at(&mut bytes[read..], offset + read as u64)? {
                0 => break,
                n => read += n,
            }
        }
        bytes.truncate(read);
        Ok(bytes)
    }
}

fn read_if_there(path: &Path) -> io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        other => other,
    }
}

/// Runs `again` once when `e` says a file vanished under us: the preparer of a log
/// closed just before on the same directory may still be renaming its spare (its own
/// failure is only a warning), and the spare is simply made again.
fn again_if_raced(e: io::Error, again: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        again()
    } else {
        Err(e)
    }
}

/// The zeros of a spare segment written and made durable at a time, with a pause of
/// [`SPARE_PAUSE`] after each. Written whole and then synced once, a 64 MiB segment was
/// one flush of 64 MiB while the audit log's syncs, which every officer's answer waits
/// for, queued behind it on the same disk. With `tests/bench/status-vs-nginx --profile`,
/// that `fsync` took up to 33 ms and the audit log's longest `fdatasync` 30 ms; a chunk
/// at a time, each chunk's `fdatasync` took 1 ms (1.9 ms at most) and the audit log's
/// longest 4.3 ms, and an officer's live-status p99 fell from 6.1 and 6.4 ms to 2.6 and
/// 3.1 ms (medians of three rounds, two runs each way, requests/s unchanged).
const SPARE_CHUNK: usize = 1 << 20;
/// The pause after each chunk of a spare segment, in which the audit log's syncs have the
/// disk to themselves. 64 chunks and their pauses take about 0.2 s, while a segment takes
/// seconds to fill at the highest lookup rates measured.
const SPARE_PAUSE: std::time::Duration = std::time::Duration::from_millis(2);

/// Writes `<dir>/lookups.spare`: `bytes` zeros, a chunk at a time, each synced before the
/// next, then synced with its directory entry. One that is there at that size already is
/// kept.
fn spare(dir: &Path, bytes: u64) -> io::Result<()> {
    let path = dir.join(SPARE);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes) {
        return Ok(());
    }
    let tmp = dir.join(format!("{SPARE}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    let zeros = vec![0u8; SPARE_CHUNK];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n])?;
        file.sync_data()?;
        left -= n as u64;
        if left > 0 {
            std::thread::sleep(SPARE_PAUSE);
        }
    }
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, &path)?;
    sync_dir(dir)
}

/// Cuts a closed segment's unused zeros off.
fn trim_segment(path: &Path, end: u64) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    if file.metadata()?.len() > end {
        file.set_len(end)?;
        file.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spare_is_written_whole_in_chunks_and_one_of_the_right_size_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SPARE);
        // Two whole chunks and part of a third.
        let bytes = (2 * SPARE_CHUNK + SPARE_CHUNK / 3) as u64;
        spare(dir.path(), bytes).unwrap();
        let written = std::fs::read(&path).unwrap();
        assert_eq!(written.len() as u64, bytes);
        assert!(written.iter().all(|b| *b == 0));
        assert!(!dir.path().join(format!("{SPARE}.tmp")).exists());

        // One there at the size asked is kept as it is; one of another size is made again.
        std::fs::write(&path, vec![7u8; 100]).unwrap();
        spare(dir.path(), 100).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), vec![7u8; 100]);
        spare(dir.path(), 1000).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), vec![0u8; 1000]);
    }
}
