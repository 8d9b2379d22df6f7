//! The drain: one dedicated thread that ticks every few milliseconds, asks the throttle
//! how many applications it may sign now (pacer, lane weights, cap on work in flight),
//! signs that many in one step with one group commit, and signs the next step while that
//! commit runs. Before the opening time it issues nothing; at it, it first puts the
//! applications accepted before it in random order.
//!
//! Why a thread and ticks: signing must never occupy the async workers that serve
//! verification, and a ticked pacer drains at its rate where waiting for one cell at a time
//! under-drains (see `throttle::pacer`).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::oneshot::error::TryRecvError;

use crate::service::{InFlight, Service};
use crate::store::StoreError;

/// How often rested clients are forgotten by the admission limits.
const PURGE_EVERY: Duration = Duration::from_secs(10);
/// Applications accepted before the opening put in order per tick.
const ORDER_PER_TICK: usize = 10_000;
/// The longest sleep while nothing waits (arrivals wake the thread sooner).
const IDLE: Duration = Duration::from_millis(100);

/// Nice value of the issuance threads (the drain, the issuance runtime's workers and
/// blocking threads): under CPU saturation the kernel gives verification the cores first
/// (a nice-10 thread weighs about a tenth of a nice-0 one).
pub const ISSUANCE_NICE: i32 = 10;

/// Lowers the calling thread's scheduling priority to [`ISSUANCE_NICE`] under
/// `SCHED_BATCH` (treated as CPU-bound: it never preempts interactive work). Best effort:
/// on failure the thread runs at normal priority and a warning is logged.
pub fn yield_cpu_to_verification() {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    // thread-priority maps its 0..=99 onto nice 19..=-20 as
    // nice = floor(39 × (1 − value/99)) − 20: value 21 is nice 10.
    let result = match ThreadPriorityValue::try_from(21u8) {
        Ok(value) => set_thread_priority_and_policy(
            thread_native_id(),
            ThreadPriority::Crossplatform(value),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
        )
        .map_err(|e| format!("{e:?}")),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not lower an issuance thread's priority");
    }
}

/// Runs until the service is stopping and every step in flight is durable.
pub fn run(service: &Service) {
    yield_cpu_to_verification();
    let mut flights: VecDeque<InFlight> = VecDeque::new();
    let mut purged = Instant::now();
    loop {
        finish_done(service, &mut flights);
        if service.stopping.load(Ordering::SeqCst) {
            // Stop taking; wait for the commits under way.
            match flights.pop_front() {
                None => return,
                Some(step) => {
                    let result = step
                        .done
                        .blocking_recv()
                        .unwrap_or(Err(StoreError::Stopped));
                    service.finish_step(&step.issued, step.report, result);
                }
            }
            continue;
        }
        if purged.elapsed() >= PURGE_EVERY {
            service.purge_admission();
            purged = Instant::now();
        }
        if let Some(seconds) = service.opening_ahead() {
            service
                .queue_wakeup
                .wait(Duration::from_secs(seconds).min(Duration::from_secs(1)));
            continue;
        }
        if service.lanes.unordered() > 0
            && let Err(e) = service.order_opening(ORDER_PER_TICK)
        {
            tracing::error!(error = %e, "ordering the applications accepted before the opening failed");
            service.queue_wakeup.wait(Duration::from_millis(200));
            continue;
        }
        let now = service.monotonic.elapsed();
        let depths = service.lanes.depths();
        let in_flight = service.in_flight.load(Ordering::SeqCst);
        let (take, tick, paused) = {
            let mut throttle = service.throttle();
            let take = throttle.take(now, &depths, in_flight);
            (take, throttle.tick(), throttle.is_paused())
        };
        let mut drained = [0; 3];
        if take.iter().any(|n| *n > 0) {
            match service.drain_step(take) {
                Ok(Some(step)) => {
                    drained = step.report.taken;
                    flights.push_back(step);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "drain step failed");
                    service.queue_wakeup.wait(Duration::from_millis(200));
                    continue;
                }
            }
        }
        let after = service.lanes.depths();
        let next_cell = {
            let mut throttle = service.throttle();
            throttle.record(now, &drained, &after);
            throttle.next_cell_in(service.monotonic.elapsed())
        };
        let backlog = !paused && after.iter().any(|d| *d > 0);
        match next_cell {
            // Credit is waiting (the step cap or the cap on work in flight held this step
            // back): go on at once.
            Some(wait) if backlog && wait.is_zero() && !at_in_flight_cap(service) => {}
            _ if backlog || !flights.is_empty() => std::thread::sleep(tick),
            _ => service.queue_wakeup.wait(IDLE),
        }
    }
}

/// Whether the cap on work in flight is reached: then only a commit answering frees room.
fn at_in_flight_cap(service: &Service) -> bool {
    let cap = u64::from(service.throttle_settings().max_in_flight);
    service.in_flight.load(Ordering::SeqCst) >= cap
}

/// Finishes the steps whose commits answered, oldest first.
fn finish_done(service: &Service, flights: &mut VecDeque<InFlight>) {
    while let Some(front) = flights.front_mut() {
        let result = match front.done.try_recv() {
            Ok(result) => result,
            Err(TryRecvError::Empty) => return,
            Err(TryRecvError::Closed) => Err(StoreError::Stopped),
        };
        if let Some(step) = flights.pop_front() {
            service.finish_step(&step.issued, step.report, result);
        }
    }
}
