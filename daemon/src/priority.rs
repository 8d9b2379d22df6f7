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

/// Runs the calling thread under `SCHED_BATCH` at normal priority (nice 0): it gets its
/// fair share of the CPU, but waking it never preempts the thread that woke it. For the
/// lookup log's threads, which every audited lookup wakes: a connection thread that wakes
/// the writer goes on serving its other connections instead of being preempted and
/// queued behind every runnable thread. Measured with `tests/bench/status-vs-nginx
/// --flood` (two rounds each): officer p99 under the flood 1.78x its p99 without,
/// against 2.23x, registry 1.54x against 1.93x; officer 34 600 requests/s without the
/// flood against 29 300. Best effort, like the above.
pub(crate) fn no_wakeup_preemption() {
    if let Err(e) = batch(0, 0) {
        tracing::warn!(error = %e, "could not set a thread's scheduling policy");
    }
}

/// Runs the calling thread under `SCHED_BATCH` at `nice`, with a slice of `slice_ns`
/// (0: the kernel's default).
///
/// `sched_setattr(2)` is the one call that sets a fair-class thread's slice (its
/// `sched_runtime`, Linux 6.12 and later; earlier kernels ignore it). No crate makes it:
/// libc declares it without a wrapper, and thread-priority sets `sched_runtime` only for
/// `SCHED_DEADLINE`. Raising nice needs no privilege; lowering it does, which no thread
/// here asks.
#[allow(unsafe_code)]
fn batch(nice: i32, slice_ns: u64) -> std::io::Result<()> {
    let attr = libc::sched_attr {
        size: std::mem::size_of::<libc::sched_attr>() as u32,
        sched_policy: libc::SCHED_BATCH as u32,
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
