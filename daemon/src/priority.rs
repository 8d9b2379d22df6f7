//! The issuance threads' scheduling priority: lowered so that verification keeps the
//! cores under an issuance flood.

/// Lowers the calling thread's scheduling priority to nice 19, the lowest, under
/// `SCHED_BATCH` (treated as CPU-bound: it never preempts interactive work). The issuance
/// threads (the drain, the issuance runtime's workers and blocking threads) run so: under
/// CPU saturation the kernel gives verification the cores first (a nice-19 thread weighs
/// about 1/70 of a nice-0 one). Measured with `tests/bench/status-vs-nginx --flood` (two
/// runs each way): against nice 10, live status under a 10x issuance flood kept 18 600 to
/// 18 900 officer requests/s instead of 15 400 to 15 600 and its p99 rose 2.1 to 2.3x
/// instead of 2.7 to 2.9x, while the flood's accepted applications fell 13 % and the drain
/// still emptied the queue in the same time. Not `SCHED_IDLE`: that starved intake for
/// seconds at a time, and an idle-class thread preempted while holding a lock the lookups
/// also take would stall them. Best effort: on failure the thread runs at normal priority
/// and a warning is logged.
pub fn yield_cpu_to_verification() {
    // thread-priority maps its 0..=99 onto nice 19..=-20 as
    // nice = floor(39 × (1 − value/99)) − 20: value 0 is nice 19.
    if let Err(e) = batch_at(0) {
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
    // Value 48 is nice 0 (see `yield_cpu_to_verification`).
    if let Err(e) = batch_at(48) {
        tracing::warn!(error = %e, "could not set a thread's scheduling policy");
    }
}

/// Runs the calling thread under `SCHED_BATCH` at thread-priority's cross-platform
/// `value`.
fn batch_at(value: u8) -> Result<(), String> {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let value = ThreadPriorityValue::try_from(value)?;
    set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Crossplatform(value),
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
    )
    .map_err(|e| format!("{e:?}"))
}
