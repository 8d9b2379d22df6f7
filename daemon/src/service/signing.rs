//! The drain: one dedicated thread that ticks every few milliseconds, asks the throttle
//! how many applications it may sign now (pacer, lane weights, cap on work in flight),
//! claims that many from the store, signs them in one step, and completes the step in one
//! atomic, durable store command, which runs while the next step is signed. Before the
//! opening time it issues nothing; at it, it first puts the applications accepted before it
//! in random order. The [`Signer`] owns what is in flight and the thread's wake-up.
//!
//! Why a thread and ticks: signing must never occupy the threads that serve
//! verification, and a ticked pacer drains at its rate where waiting for one cell at a time
//! under-drains (see `domain::throttle::pacer`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keys::KeyUse;
use keys::token::StatusReference;
use rand_core::{OsRng, RngCore};

use crate::domain::application::{Photo, Ticket};
use crate::domain::issue::{self, CredentialRecord, IssueInput, StatusEntry};
use crate::domain::queue::Lane;
use crate::service::Service;
use crate::store::{Claim, Claimed, CompletedStep, Issuance, Rejection, StoreError};

/// How often rested clients are forgotten by the admission limits.
const PURGE_EVERY: Duration = Duration::from_secs(10);
/// Applications accepted before the opening put in order per tick.
const ORDER_PER_TICK: usize = 10_000;
/// The longest sleep while nothing waits (arrivals wake the thread sooner).
const IDLE: Duration = Duration::from_millis(100);
/// The pause after a failed step before the next try.
const AFTER_FAILURE: Duration = Duration::from_millis(200);

/// The drain's state: steps signed and not yet durable, and its wake-up.
pub struct Signer {
    /// Applications signed whose step is not yet durable.
    in_flight: AtomicU64,
    wakeup: Wakeup,
    stopping: AtomicBool,
}

impl Signer {
    /// A signer with nothing in flight.
    pub fn new() -> Signer {
        Signer {
            in_flight: AtomicU64::new(0),
            wakeup: Wakeup::default(),
            stopping: AtomicBool::new(false),
        }
    }

    /// Wakes the drain: work arrived or settings changed.
    pub fn wake(&self) {
        self.wakeup.notify();
    }

    /// Applications signed whose step is not yet durable.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Stops the drain loop (checked between steps).
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wakeup.notify();
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

impl Default for Signer {
    fn default() -> Self {
        Signer::new()
    }
}

/// A wake-up signal for the drain thread.
#[derive(Default)]
struct Wakeup {
    flag: Mutex<bool>,
    cv: Condvar,
}

impl Wakeup {
    fn notify(&self) {
        *self.flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }

    fn wait(&self, timeout: Duration) {
        let guard = self.flag.lock().unwrap_or_else(|p| p.into_inner());
        let (mut guard, _) = self
            .cv
            .wait_timeout_while(guard, timeout, |flag| !*flag)
            .unwrap_or_else(|p| p.into_inner());
        *guard = false;
    }
}

/// A step whose completion runs on the issuance runtime.
struct InFlight {
    done: tokio::task::JoinHandle<()>,
}

/// Runs the drain until the signer is stopped and every step in flight is durable. Store
/// commands run on `runtime` (the issuance runtime); this thread signs.
pub(crate) fn run(service: &Arc<Service>, runtime: &tokio::runtime::Handle) {
    crate::priority::yield_cpu_to_verification();
    let mut flights: VecDeque<InFlight> = VecDeque::new();
    let mut purged = service.clock.monotonic();
    loop {
        while flights.front().is_some_and(|f| f.done.is_finished()) {
            flights.pop_front();
        }
        if service.signer.stopping() {
            // Stop taking; wait for the completions under way.
            for step in flights.drain(..) {
                let _ = runtime.block_on(step.done);
            }
            return;
        }
        if service.clock.monotonic().saturating_sub(purged) >= PURGE_EVERY {
            service.throttles.lock().purge();
            purged = service.clock.monotonic();
        }
        if let Some(ahead) = service.opening_ahead() {
            service
                .signer
                .wakeup
                .wait(ahead.min(Duration::from_secs(1)));
            continue;
        }
        if service.store.queue().unordered_total() > 0
            && let Err(e) = runtime.block_on(service.store.order_opening(ORDER_PER_TICK))
        {
            tracing::error!(error = %e, "ordering the applications accepted before the opening failed");
            service.signer.wakeup.wait(AFTER_FAILURE);
            continue;
        }
        let now = service.throttles.now();
        let depths = service.store.queue().depth;
        let (take, tick, paused) = {
            let mut throttle = service.throttles.lock();
            let take = throttle.take(now, &depths, service.signer.in_flight());
            (take, throttle.tick(), throttle.is_paused())
        };
        let mut drained = [0; 3];
        if take.iter().any(|n| *n > 0) {
            match step(service, runtime, take) {
                Ok(Some((taken, flight))) => {
                    drained = taken;
                    flights.push_back(flight);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "drain step failed");
                    service.signer.wakeup.wait(AFTER_FAILURE);
                    continue;
                }
            }
        }
        let after = service.store.queue().depth;
        let next_cell = {
            let mut throttle = service.throttles.lock();
            throttle.record(now, &drained, &after);
            throttle.next_cell_in(service.throttles.now())
        };
        let backlog = !paused && after.iter().any(|d| *d > 0);
        let at_cap =
            service.signer.in_flight() >= u64::from(service.throttles.settings().max_in_flight);
        match next_cell {
            // Credit is waiting (the step cap or the cap on work in flight held this step
            // back): go on at once.
            Some(wait) if backlog && wait.is_zero() && !at_cap => {}
            _ if backlog || !flights.is_empty() => std::thread::sleep(tick),
            _ => service.signer.wakeup.wait(IDLE),
        }
    }
}

/// One step: claims up to `take[i]` entries of each lane `i`, signs what can be issued,
/// and starts its completion on `runtime`. Returns how many it took per lane, or `None`
/// when signing is held back or nothing was waiting.
fn step(
    service: &Arc<Service>,
    runtime: &tokio::runtime::Handle,
    take: [u64; 3],
) -> Result<Option<([u64; 3], InFlight)>, StoreError> {
    // Nothing is taken while the trust list does not let the credential key sign, or
    // names no status list with room left: applications wait in the queue.
    let allowed = service
        .may_sign(KeyUse::Credential)
        .map_err(|e| e.to_string());
    if !service.trust.signing_allowed("credentials", allowed) {
        return Ok(None);
    }
    let max_lists = service.status_lists.max_lists();
    let mut room = service.store.index_room(max_lists);
    let has_room = if room == 0 {
        Err(service.no_status_list_room())
    } else {
        Ok(())
    };
    if !service.trust.signing_allowed("status list room", has_room) {
        return Ok(None);
    }
    let take = Lane::ALL.map(|lane| {
        let n = take[lane.index()].min(room);
        room -= n;
        n
    });
    let claim = runtime.block_on(service.store.claim_step(take))?;
    if claim.entries.is_empty() {
        return Ok(None);
    }
    let mut taken = [0u64; 3];
    for entry in &claim.entries {
        taken[entry.lane.index()] += 1;
    }
    let tickets: Vec<Ticket> = claim.entries.iter().map(|e| e.ticket).collect();
    let signed =
        sign(service, runtime, claim).inspect_err(|_| service.store.release_claim(&tickets))?;
    let count = signed.step.issued.len() as u64;
    service.signer.in_flight.fetch_add(count, Ordering::SeqCst);
    let done = runtime.spawn(complete(service.clone(), signed, count));
    Ok(Some((taken, InFlight { done })))
}

/// A signed step, ready to complete.
struct Signed {
    step: CompletedStep,
    /// The status list values the step sets once it is written (its superseded
    /// credentials), per issuance, by ticket.
    superseded: Vec<(Ticket, Vec<StatusEntry>)>,
}

/// Decides and signs every claimed entry: an issuable application gets a credential with
/// a fresh status list index and supersedes the licence's earlier ones; one that cannot be
/// issued is rejected with the reason; a stale entry is only served.
fn sign(
    service: &Arc<Service>,
    runtime: &tokio::runtime::Handle,
    claim: Claim,
) -> Result<Signed, StoreError> {
    let now = service.clock.now();
    let mut step = CompletedStep::default();
    let mut superseded_values = Vec::new();
    let mut issuable = Vec::new();
    for entry in claim.entries {
        step.served.push((entry.lane, entry.sequence, entry.ticket));
        let Claimed {
            application,
            licence,
            credentials,
            ..
        } = entry;
        let Some(mut app) = application else {
            continue;
        };
        let photo = match app.photo {
            Photo::OnFile => licence.as_ref().and_then(|l| l.photo),
            Photo::Uploaded { digest, .. } => Some(digest),
        };
        let mut credential_id = [0u8; 16];
        OsRng.fill_bytes(&mut credential_id);
        let checked = match &licence {
            None => Err("the licence is no longer in the registry".to_owned()),
            Some(l) => issue::claims(&IssueInput {
                licence: l,
                photo,
                issuer: &service.settings.issuer,
                credential_id,
                status: StatusReference {
                    index: 0,
                    uri: String::new(),
                },
                now,
                lifetime: service.settings.credential_lifetime,
            })
            .map_err(|e| e.to_string()),
        };
        match (checked, licence) {
            (Ok(claims), Some(licence)) => {
                issuable.push((app, claims, licence, credentials, credential_id));
            }
            (checked, licence) => {
                let reason = checked.err().unwrap_or_else(|| "not issuable".into());
                let _ = app.reject(reason, now);
                step.rejected.push(Rejection {
                    application: app,
                    licence,
                });
            }
        }
    }
    let allocations = runtime.block_on(
        service
            .store
            .allocate_indices(issuable.len(), service.status_lists.max_lists()),
    )?;
    service
        .status_lists
        .open_through(service.store.list_count());
    if allocations.opened_list {
        service.trust.changed.notify_one();
    }
    // Without an index an application stays queued for a later step.
    let mut unallocated = Vec::new();
    for (n, (app, mut claims, licence, credentials, credential_id)) in
        issuable.into_iter().enumerate()
    {
        let Some(&(list, index)) = allocations.indices.get(n) else {
            unallocated.push(app.ticket);
            continue;
        };
        claims.status = StatusReference {
            index: u64::from(index),
            uri: service.status_lists.uri(list),
        };
        let started = service.clock.monotonic();
        let token = match app.bound_to()? {
            Some(holder) => {
                keys::token::sign_bound(&claims, &holder, &service.trust.keys.credential)
            }
            None => keys::token::sign(&claims, &service.trust.keys.credential),
        };
        service.metrics.signing_seconds.observe(
            service
                .clock
                .monotonic()
                .saturating_sub(started)
                .as_secs_f64(),
        );
        let id = hex::encode(credential_id);
        let credential = CredentialRecord {
            id: id.clone(),
            licence: app.licence.clone(),
            ticket: app.ticket,
            list,
            index,
            issued_at: now,
            expires_at: claims.expires_at,
            superseded: false,
            token: URL_SAFE_NO_PAD.encode(&token),
            photo: claims.licence.photo,
        };
        let mut values = Vec::new();
        let superseded: Vec<CredentialRecord> = credentials
            .into_iter()
            .filter(|c| !c.superseded)
            .map(|mut c| {
                c.superseded = true;
                values.push(StatusEntry {
                    list: c.list,
                    index: c.index,
                    value: issue::list_status(true, licence.state),
                });
                c
            })
            .collect();
        let new_licence = match app.photo {
            Photo::Uploaded { digest, .. } => {
                let mut l = licence.clone();
                l.photo = Some(digest);
                Some(l)
            }
            Photo::OnFile => None,
        };
        service
            .metrics
            .waited(now.0.saturating_sub(app.created_at.0), app.quoted);
        let mut application = app;
        let _ = application.issue(id, now);
        superseded_values.push((application.ticket, values));
        step.issued.push(Issuance {
            application,
            credential,
            superseded,
            licence,
            new_licence,
        });
    }
    if !unallocated.is_empty() {
        step.served.retain(|(_, _, t)| !unallocated.contains(t));
        service.store.release_claim(&unallocated);
    }
    Ok(Signed {
        step,
        superseded: superseded_values,
    })
}

/// Completes a signed step on the issuance runtime: one atomic, durable store command;
/// then its status list values and metrics. Until it is durable its issuances read as
/// queued.
async fn complete(service: Arc<Service>, signed: Signed, count: u64) {
    let Signed { step, superseded } = signed;
    let rejected = step.rejected.len() as u64;
    let result = service.store.complete_step(step).await;
    service.signer.in_flight.fetch_sub(count, Ordering::SeqCst);
    match result {
        Ok(completed) => {
            for (ticket, values) in &superseded {
                if !completed.requeued.contains(ticket) {
                    service.set_list_values(values);
                }
            }
            service
                .metrics
                .credentials_issued
                .inc_by(completed.issued as u64);
            if rejected > 0 {
                service
                    .metrics
                    .applications_rejected
                    .get_or_create(&crate::metrics::ReasonLabels {
                        reason: "not_issuable".into(),
                    })
                    .inc_by(rejected);
            }
            if !completed.requeued.is_empty() {
                tracing::info!(
                    count = completed.requeued.len(),
                    "licences changed while their credentials were signed: signing them again"
                );
                service.signer.wake();
            }
        }
        // Its issuances stay hidden (read as queued); the restart that a failed commit
        // calls for finds them either durable or still queued.
        Err(e) => tracing::error!(error = %e, "a drain step's completion failed"),
    }
}
