//! The real `edld`'s threads run at the scheduling classes that keep live status first
//! (read from `/proc/<pid>/task/*/stat`, as `ps -L -o cls,ni,comm` shows them): the
//! connection threads at normal priority; the issuance threads (the drain, the issuance
//! runtime) and sled's (committer, flusher, I/O threads: lookups read the records kept,
//! not sled) under `SCHED_BATCH` at nice 19; the lookup log's syncer, which audited lookups
//! wait on, under `SCHED_BATCH` at nice 0, so that waking it preempts nobody.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tests::{RealDaemon, edld_binary};

/// `SCHED_OTHER` and `SCHED_BATCH` in `/proc/<pid>/task/<tid>/stat`.
const OTHER: u32 = 0;
const BATCH: u32 = 3;

/// Each thread of `pid` by name: its (policy, nice), in the order they were listed.
fn threads(pid: u32) -> BTreeMap<String, Vec<(u32, i32)>> {
    let mut out: BTreeMap<String, Vec<(u32, i32)>> = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let Ok(stat) = std::fs::read_to_string(task.unwrap().path().join("stat")) else {
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
        out.entry(name).or_default().push((policy, nice));
    }
    out
}

/// Every thread whose name starts with `prefix`: there is one at least, and each runs
/// under `policy` at `nice`.
fn check_class(
    threads: &BTreeMap<String, Vec<(u32, i32)>>,
    prefix: &str,
    policy: u32,
    nice: i32,
) -> Result<(), String> {
    let found: Vec<_> = threads
        .iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .flat_map(|(name, classes)| classes.iter().map(move |c| (name, *c)))
        .collect();
    if found.is_empty() {
        return Err(format!("no thread named {prefix}*"));
    }
    match found.iter().find(|(_, class)| *class != (policy, nice)) {
        Some((name, class)) => Err(format!(
            "{name}: (policy, nice) {class:?}, not {:?}",
            (policy, nice)
        )),
        None => Ok(()),
    }
}

fn check(threads: &BTreeMap<String, Vec<(u32, i32)>>) -> Result<(), String> {
    check_class(threads, "edld-conn", OTHER, 0)?;
    check_class(threads, "edld-main", OTHER, 0)?;
    for name in [
        "edld-drain",
        "edld-issuance",
        "sled-io-",
        "log flusher",
        "edld-commit",
    ] {
        check_class(threads, name, BATCH, 19)?;
    }
    check_class(threads, "edld-lookup-syn", BATCH, 0)?;
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
