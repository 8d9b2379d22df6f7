//! A power cut under load: segments on a file layer that keeps, for every file, what was
//! written and what was made durable, and on a cut drops every write not yet
//! `fdatasync`ed, except a random choice of its 512-byte sectors (a disk persists sectors
//! in any order). No lookup answered before the cut may be missing from the log read
//! back, and the chain must check.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::super::files::{ACTIVE, Closed, Layout, SegmentDir, SegmentFile, segment_name};
use super::super::{LookupLog, records};
use super::{clock, officer};
use crate::domain::audit::LOOKUP_ACTION;
use crate::domain::audit::chain;

const SECTOR: usize = 512;

#[derive(Default)]
struct Disk {
    /// Inode: (written, durable).
    files: BTreeMap<u64, (Vec<u8>, Vec<u8>)>,
    /// Name to inode; changes are durable at once (the real layer syncs the directory).
    names: BTreeMap<String, u64>,
    next_inode: u64,
    off: bool,
    rng: u64,
}

impl Disk {
    fn random(&mut self) -> u64 {
        // xorshift64
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn check_on(&self) -> io::Result<()> {
        if self.off {
            Err(io::Error::other("the power is off"))
        } else {
            Ok(())
        }
    }
}

/// The file layer that loses power.
#[derive(Clone)]
struct PowerCutDir(Arc<Mutex<Disk>>);

struct PowerCutFile {
    disk: Arc<Mutex<Disk>>,
    inode: u64,
}

impl PowerCutDir {
    fn new(seed: u64) -> PowerCutDir {
        PowerCutDir(Arc::new(Mutex::new(Disk {
            rng: seed | 1,
            ..Disk::default()
        })))
    }

    fn disk(&self) -> std::sync::MutexGuard<'_, Disk> {
        self.0.lock().unwrap()
    }

    /// Cuts the power: each file keeps what was durable and a random choice of the
    /// sectors written since.
    fn cut(&self) {
        let mut disk = self.disk();
        disk.off = true;
        let inodes: Vec<u64> = disk.files.keys().copied().collect();
        for inode in inodes {
            let (written, durable) = disk.files[&inode].clone();
            let mut kept = durable.clone();
            for (i, sector) in written.chunks(SECTOR).enumerate() {
                let at = i * SECTOR;
                if durable[at..at + sector.len()] != *sector && disk.random().is_multiple_of(2) {
                    kept[at..at + sector.len()].copy_from_slice(sector);
                }
            }
            disk.files.insert(inode, (kept.clone(), kept));
        }
    }

    fn power_on(&self) {
        self.disk().off = false;
    }
}

impl SegmentFile for PowerCutFile {
    fn read_all(&self) -> io::Result<Vec<u8>> {
        let disk = self.disk.lock().unwrap();
        disk.check_on()?;
        Ok(disk.files[&self.inode].0.clone())
    }

    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        let mut disk = self.disk.lock().unwrap();
        disk.check_on()?;
        let written = &mut disk.files.get_mut(&self.inode).unwrap().0;
        let at = offset as usize;
        let place = written
            .get_mut(at..at + bytes.len())
            .ok_or_else(|| io::Error::other("a write beyond the segment's end"))?;
        place.copy_from_slice(bytes);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut disk = self.disk.lock().unwrap();
        disk.check_on()?;
        let file = disk.files.get_mut(&self.inode).unwrap();
        file.1 = file.0.clone();
        Ok(())
    }

    fn capacity(&self) -> io::Result<u64> {
        Ok(self.disk.lock().unwrap().files[&self.inode].0.len() as u64)
    }
}

impl SegmentDir for PowerCutDir {
    fn active(&self) -> io::Result<Option<Box<dyn SegmentFile>>> {
        let disk = self.disk();
        disk.check_on()?;
        Ok(disk.names.get(ACTIVE).map(|inode| {
            Box::new(PowerCutFile {
                disk: self.0.clone(),
                inode: *inode,
            }) as Box<dyn SegmentFile>
        }))
    }

    fn start_active(&self, bytes: u64) -> io::Result<Box<dyn SegmentFile>> {
        let mut disk = self.disk();
        disk.check_on()?;
        let inode = disk.next_inode;
        disk.next_inode += 1;
        let zeros = vec![0; bytes as usize];
        disk.files.insert(inode, (zeros.clone(), zeros));
        disk.names.insert(ACTIVE.into(), inode);
        Ok(Box::new(PowerCutFile {
            disk: self.0.clone(),
            inode,
        }))
    }

    fn close_active(&self, last: u64, end: u64) -> io::Result<()> {
        let mut disk = self.disk();
        disk.check_on()?;
        let inode = disk.names.remove(ACTIVE).unwrap();
        disk.names.insert(segment_name(last, Layout::Framed), inode);
        let file = disk.files.get_mut(&inode).unwrap();
        file.0.truncate(end as usize);
        file.1.truncate(end as usize);
        Ok(())
    }

    fn closed(&self) -> io::Result<Vec<Closed>> {
        let disk = self.disk();
        let mut out: Vec<Closed> = disk
            .names
            .keys()
            .filter(|n| n.as_str() != ACTIVE)
            .map(|name| {
                let number = &name["lookups.".len()..name.len() - ".log".len()];
                Closed {
                    last: number.parse().unwrap(),
                    name: name.clone(),
                    layout: Layout::Framed,
                }
            })
            .collect();
        out.sort_by_key(|c| c.last);
        Ok(out)
    }

    fn read_closed(&self, closed: &Closed) -> io::Result<Vec<u8>> {
        let disk = self.disk();
        Ok(disk.files[&disk.names[&closed.name]].0.clone())
    }

    fn read_active(&self) -> io::Result<Vec<u8>> {
        let disk = self.disk();
        Ok(disk
            .names
            .get(ACTIVE)
            .map(|inode| disk.files[inode].0.clone())
            .unwrap_or_default())
    }
}

/// Credential ids of the records in `dir`, after checking the chain.
fn recorded(dir: &PowerCutDir) -> Vec<String> {
    let all: Vec<(u64, Vec<u8>)> = records(Box::new(dir.clone()))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let head = chain::check(all.iter().cloned().map(Ok::<_, ()>))
        .unwrap()
        .unwrap_or_else(|b| panic!("the chain breaks: {b}"));
    assert_eq!(head.next, all.len() as u64 + 1);
    all.iter()
        .map(|(_, bytes)| chain::decode(bytes).unwrap().detail.unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answered_lookup_is_lost_in_a_power_cut() {
    for round in 0..12u64 {
        let dir = PowerCutDir::new(0x9e37_79b9_7f4a_7c15 ^ round);
        let open = || {
            LookupLog::open_in(Box::new(dir.clone()), ACTIVE.into(), clock(), 4096, None)
                .map(Arc::new)
        };
        let log = open().unwrap();
        let answered = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        // The cut comes after 40 to 400 answers, with 16 lookups in flight.
        let cut_after = 40 + (round as usize * 37) % 360;
        let mut tasks = Vec::new();
        for task in 0..16 {
            let (log, answered, count, dir) =
                (log.clone(), answered.clone(), count.clone(), dir.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let id = format!("c{task}-{i}");
                    let at = keys::UnixTime(i);
                    if log
                        .record(&officer(), at, "L1", &id, LOOKUP_ACTION, None)
                        .await
                        .is_err()
                    {
                        break;
                    }
                    answered.lock().unwrap().push(id);
                    if count.fetch_add(1, Ordering::SeqCst) + 1 == cut_after {
                        dir.cut();
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        log.stop();
        dir.power_on();

        let after_cut: HashSet<String> = recorded(&dir).into_iter().collect();
        let answered = answered.lock().unwrap().clone();
        assert!(answered.len() >= cut_after, "round {round}");
        let missing: Vec<&String> = answered
            .iter()
            .filter(|id| !after_cut.contains(*id))
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: answered but not in the log: {missing:?}"
        );
        assert!(
            dir.closed().unwrap().len() > 1,
            "round {round}: segments were closed"
        );
        // The log opens again on what the cut left, and the chain goes on.
        let log = open().unwrap();
        log.record(
            &officer(),
            keys::UnixTime(0),
            "L1",
            "after",
            LOOKUP_ACTION,
            None,
        )
        .await
        .unwrap();
        log.stop();
        let ids = recorded(&dir);
        assert_eq!(ids.last().map(String::as_str), Some("after"));
        assert_eq!(ids.len(), after_cut.len() + 1, "round {round}");
    }
}
