//! The real `edld`'s threads run at the scheduling classes that keep live status first
//! (read from `/proc/<pid>/task/*/stat`, as `ps -L -o cls,ni,comm` shows them, and the
//! slice from `/proc/<pid>/task/*/sched`): the connection threads at normal priority with
//! the kernel's default slice; the issuance threads (the drain, the issuance runtime) and
//! sled's (committer, flusher, I/O threads: lookups read the records kept, not sled) under
//! `SCHED_BATCH` at nice 19 with the shortest slice, 0.1 ms; the lookup log's syncer,
//! which audited lookups wait on, idle under `SCHED_BATCH` at nice 0, so that the lookup
//! that wakes it is not preempted by it (it waits for its `fdatasync` as a normal thread:
//! the lookup log's own tests check that).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tests::{RealDaemon, edld_binary};

/// `SCHED_OTHER` and `SCHED_BATCH` in `/proc/<pid>/task/<tid>/stat`.
const OTHER: u32 = 0;
const BATCH: u32 = 3;

/// The slice the issuance threads ask for, in nanoseconds.
const ISSUANCE_SLICE: u64 = 100_000;

/// A thread's class: (policy, nice, slice in ns).
type Class = (u32, i32, u64);

/// Each thread of `pid` by name: its class, in the order they were listed.
fn threads(pid: u32) -> BTreeMap<String, Vec<Class>> {
    let mut out: BTreeMap<String, Vec<Class>> = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let (Ok(stat), Ok(sched)) = (
            std::fs::read_to_string(task.join("stat")),
            std::fs::read_to_string(task.join("sched")),
        ) else {
            continue; // the thread ended
        };
        // `tid (comm) state …`: the name may hold spaces and parentheses; the fields
        // after it are numbered from 3 (state).
        let open = stat.find('(').unwrap();
        let close = stat.rfind(')').unwrap();
        let name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let nice: i32 = fields[19 - 3].parse().unwrap();
        let policy: u32 = fields[41 - 3].parse().unwrap();
        // `se.slice   :   1400000`
        let slice: u64 = sched
            .lines()
            .find_map(|line| line.strip_prefix("se.slice"))
            .and_then(|rest| rest.trim_start_matches([' ', ':']).trim().parse().ok())
            .unwrap_or_else(|| panic!("no se.slice in {}/sched:\n{sched}", task.display()));
        out.entry(name).or_default().push((policy, nice, slice));
    }
    out
}

/// Whether `slice` is the one asked for: `Some(ns)`, exactly that; `None`, the kernel's
/// default, which is anything but the issuance threads' short one.
fn slice_is(slice: u64, asked: Option<u64>) -> bool {
    match asked {
        Some(ns) => slice == ns,
        None => slice != ISSUANCE_SLICE,
    }
}

/// Every thread whose name starts with `prefix`: there is one at least, and each runs
/// under `policy` at `nice` with the `slice` asked (see [`slice_is`]).
fn check_class(
    threads: &BTreeMap<String, Vec<Class>>,
    prefix: &str,
    (policy, nice, slice): (u32, i32, Option<u64>),
) -> Result<(), String> {
    let found: Vec<_> = threads
        .iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .flat_map(|(name, classes)| classes.iter().map(move |c| (name, *c)))
        .collect();
    if found.is_empty() {
        return Err(format!("no thread named {prefix}*"));
    }
    let wrong = found
        .iter()
        .find(|(_, (p, n, s))| (*p, *n) != (policy, nice) || !slice_is(*s, slice));
    match wrong {
        Some((name, class)) => Err(format!(
            "{name}: (policy, nice, slice) {class:?}, not {:?}",
            (policy, nice, slice)
        )),
        None => Ok(()),
    }
}

fn check(threads: &BTreeMap<String, Vec<Class>>) -> Result<(), String> {
    check_class(threads, "edld-conn", (OTHER, 0, None))?;
    check_class(threads, "edld-main", (OTHER, 0, None))?;
    for name in [
        "edld-drain",
        "edld-issuance",
        "sled-io-",
        "log flusher",
        "edld-commit",
    ] {
        check_class(threads, name, (BATCH, 19, Some(ISSUANCE_SLICE)))?;
    }
    check_class(threads, "edld-lookup-syn", (BATCH, 0, None))?;
    Ok(())
}

/// On a new database, then again on the same one reopened.
#[test]
fn threads_run_at_the_classes_that_keep_live_status_first() {
    let edld = edld_binary().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for database in ["new", "reopened"] {
        let running = RealDaemon::on_loopback(&edld, &dir.path().join("data"), &[]).unwrap();
        // Each thread sets its own class as it starts, which may be just after edld is
        // ready.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let threads = threads(running.child.id());
            match check(&threads) {
                Ok(()) => break,
                Err(e) if Instant::now() > deadline => {
                    panic!("{database} database: {e}\n{threads:?}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        running.stop().unwrap();
    }
}
