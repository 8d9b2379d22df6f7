//! The issuance threads' scheduling priority: lowered so that verification keeps the
//! cores under an issuance flood.

/// The slice an issuance thread asks the kernel for: the shortest it grants. Once the
/// scheduler picks a thread, a woken thread cannot take the core from it before it has
/// run its slice (Linux's EEVDF protects a running slice); nice decides how often a
/// thread is picked, not for how long. At the default slice (1.4 ms on the two-core
/// machine measured), an issuance thread that took a core while the connection threads
/// waited for their clients' next requests kept it for up to that long, and the lookups
/// woken meanwhile waited behind it. Measured: see [`yield_cpu_to_verification`].
const ISSUANCE_SLICE_NS: u64 = 100_000;

/// Lowers the calling thread's scheduling priority to nice 19, the lowest, under
/// `SCHED_BATCH` (treated as CPU-bound: it never preempts interactive work), with the
/// shortest slice, 0.1 ms (`ISSUANCE_SLICE_NS`). The issuance threads (the drain, the
/// issuance runtime's workers and blocking threads, and sled's, which start from them) run
/// so: under CPU saturation the kernel gives verification the cores first (a nice-19
/// thread weighs about 1/70 of a nice-0 one), and a connection thread woken while one
/// runs can take the core once it has run 0.1 ms.
///
/// Measured with `tests/bench/status-vs-nginx --flood`:
/// - nice 19 against nice 10 (two runs each way): live status under a 10x issuance flood
///   kept 18 600 to 18 900 officer requests/s instead of 15 400 to 15 600 and its p99
///   rose 2.1 to 2.3x instead of 2.7 to 2.9x, while the flood's accepted applications fell
///   13 % and the drain still emptied the queue in the same time;
/// - the 0.1 ms slice against the default (runs interleaved in one session): the registry
///   role's live-status p99 under the flood 4.3 to 6.3 ms in seven runs, instead of 8.5
///   to 15.3 ms in three (1.20 to 2.60x its p99 without the flood, instead of 2.21 to
///   5.45x); the officer's about the same (7.4 to 9.2 ms in five runs, against 7.2 to 7.9
///   ms). The flood, which gets the cores in shorter pieces, had fewer applications
///   accepted while the lookups saturated them (median 38 000 a run against 45 000; the
///   ranges overlap).
///
/// Not `SCHED_IDLE`: that starved intake for seconds at a time, and an idle-class thread
/// preempted while holding a lock the lookups also take would stall them. Best effort: on
/// failure the thread runs at normal priority and a warning is logged; a kernel before
/// 6.12 ignores the slice.
pub fn yield_cpu_to_verification() {
    if let Err(e) = batch(19, ISSUANCE_SLICE_NS) {
        tracing::warn!(error = %e, "could not lower an issuance thread's priority");
    }
}

/// The scheduling class of a thread at normal priority (nice 0) that is woken by two
/// kinds of event and should preempt for one of them only: the lookup log's syncer, woken
/// by the connection threads that hand it lookups and by the disk when its `fdatasync` is
/// done. The kernel decides whether a woken thread takes the core from the running one by
/// the woken thread's class at that moment, so the syncer sets its class before each wait:
///
/// - **Waiting for lookups: `SCHED_BATCH`.** Waking it never preempts the thread that woke
///   it: a connection thread that hands it the first lookup of a group goes on serving its
///   other connections. Measured with `tests/bench/status-vs-nginx --flood` (two rounds
///   each): officer p99 under the flood 1.78x its p99 without, against 2.23x, registry
///   1.54x against 1.93x; officer 34 600 requests/s without the flood against 29 300.
/// - **Waiting for the disk: `SCHED_OTHER`.** Every audited lookup of the group waits for
///   this wake-up, and a `SCHED_BATCH` thread woken never preempts the running thread, not
///   even a nice-19 issuance thread: it waited for that thread to sleep or for the
///   scheduler's next tick (4 ms at 250 Hz), and under an issuance flood the issuance
///   threads run whenever the connection threads leave a core. As a normal thread it takes
///   the core from them at once. Measured with `tests/bench/status-vs-nginx --flood`,
///   runs interleaved (two of this build, three of one that changed class around every
///   sync): the officer's p99 under the flood 5.07 to 5.58 ms in five runs (1.96 to 2.21x
///   its p99 without), against 6.47 to 8.29 ms in four under `SCHED_BATCH` throughout
///   (2.55 to 3.59x), and 31 700 to 36 600 lookups/s under the flood against 26 700 to
///   32 900; without the flood, the same (plain runs of this build, two each way
///   interleaved: 43 700 and 44 300 officer requests/s, against 42 600 and 44 900).
///
/// The class changes only when the next wait is of the other kind: under load the syncer
/// finds lookups waiting after each sync and takes them without a change. Each change is
/// one `sched_setattr` (about 3 µs, measured on a loaded two-core machine). Best effort:
/// after a failed change it stays as it is and logs a warning, once.
pub(crate) struct Waits {
    /// Whether the thread is under `SCHED_OTHER` now (woken, it preempts); None once a
    /// change failed, after which none is tried.
    preempting: Option<bool>,
}

impl Waits {
    /// Puts the calling thread under `SCHED_BATCH` at nice 0, as it waits for lookups.
    pub(crate) fn start() -> Waits {
        // A new thread is a normal one: the change to `SCHED_BATCH` is made.
        let mut waits = Waits {
            preempting: Some(true),
        };
        waits.for_lookups();
        waits
    }

    /// Before the thread waits for a connection thread to wake it: `SCHED_BATCH`.
    pub(crate) fn for_lookups(&mut self) {
        self.set(false);
    }

    /// Before the thread waits for the disk: `SCHED_OTHER`.
    pub(crate) fn for_the_disk(&mut self) {
        self.set(true);
    }

    fn set(&mut self, preempting: bool) {
        if self.preempting != Some(!preempting) {
            return;
        }
        let policy = if preempting {
            libc::SCHED_OTHER
        } else {
            libc::SCHED_BATCH
        };
        match set_class(policy, 0, 0) {
            Ok(()) => self.preempting = Some(preempting),
            Err(e) => {
                tracing::warn!(error = %e, "could not set a thread's scheduling policy; it stays as it is");
                self.preempting = None;
            }
        }
    }
}

/// Runs the calling thread under `SCHED_BATCH` at `nice`, with a slice of `slice_ns`
/// (0: the kernel's default).
fn batch(nice: i32, slice_ns: u64) -> std::io::Result<()> {
    set_class(libc::SCHED_BATCH, nice, slice_ns)
}

/// Runs the calling thread under `policy` (a fair one: `SCHED_OTHER` or `SCHED_BATCH`) at
/// `nice`, with a slice of `slice_ns` (0: the kernel's default).
///
/// `sched_setattr(2)` is the one call that sets a fair-class thread's slice (its
/// `sched_runtime`, Linux 6.12 and later; earlier kernels ignore it). No crate makes it:
/// libc declares it without a wrapper, and thread-priority sets `sched_runtime` only for
/// `SCHED_DEADLINE`. Raising nice needs no privilege; lowering it does, which no thread
/// here asks.
#[allow(unsafe_code)]
fn set_class(policy: i32, nice: i32, slice_ns: u64) -> std::io::Result<()> {
    let attr = libc::sched_attr {
        size: std::mem::size_of::<libc::sched_attr>() as u32,
        sched_policy: policy as u32,
        sched_flags: 0,
        sched_nice: nice,
        sched_priority: 0,
        sched_runtime: slice_ns,
        sched_deadline: 0,
        sched_period: 0,
    };
    // SAFETY: `attr` is a whole `struct sched_attr` that outlives the call, and its `size`
    // tells the kernel how many bytes of it to read; pid 0 is the calling thread and the
    // flags must be 0.
    let done = unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0,
            &attr as *const libc::sched_attr,
            0,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
