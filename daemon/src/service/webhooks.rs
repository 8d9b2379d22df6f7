//! Notifications: operators' subscriptions (added, listed, removed, replayed, all audited)
//! and the delivery loop that drains the store's outbox to the subscribers.
//!
//! The events themselves are written by the store, in the same atomic step as the change
//! that causes them; this loop only claims what is due, signs it (Standard Webhooks),
//! sends it and records the outcome. A delivery is claimed with a lease, so a node that
//! dies mid-send loses nothing: the lease runs out and the delivery is due again (at
//! least once; receivers deduplicate by `webhook-id`).
//!
//! **Isolation.** The loop runs on the issuance runtime, never on the workers that answer
//! live status. A slow or dead subscriber holds at most `per_subscription` of the
//! `concurrency` slots, each for at most the timeout. What a claim hands out beyond a
//! subscriber's share stays leased and comes back when the lease runs out, so the next
//! claim finds the others' deliveries: a stalled subscriber delays them by one round at
//! most. A failing one backs off (full jitter), so its deliveries are not due meanwhile.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use keys::UnixTime;
use rand_core::{OsRng, RngCore};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::sync::{Semaphore, watch};

use crate::config::Webhooks;
use crate::domain::access::Caller;
use crate::domain::audit::AuditRecord;
use crate::domain::notify::{self, EventKind, Retry, Secret, Subscription, Target, UrlError};
use crate::service::Service;
use crate::service::delivery::{Outgoing, Sender};
use crate::store::{Delivery, DeliveryOutcome, OutboxFigures, Replay, StoreError};

/// How often the loop looks for due deliveries when the last claim found none.
const IDLE: Duration = Duration::from_millis(200);
/// How often credentials close to expiry are looked for.
const EXPIRING_EVERY: Duration = Duration::from_secs(60);
/// Most `credential.expiring` events written per store call.
const EXPIRING_BATCH: usize = 5_000;
/// How long the subscriptions read from the store are reused before reading them again.
const SUBSCRIPTIONS_FRESH: Duration = Duration::from_secs(2);

/// Why a subscription command was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WebhooksError {
    /// The URL is malformed, plain HTTP beyond loopback, or points at edld itself.
    #[error("url: {0}")]
    Url(#[from] UrlError),
    /// The secret is not `whsec_` and base64.
    #[error("secret: {0}")]
    Secret(#[from] notify::BadSecret),
    /// No events, or an unknown one.
    #[error("events: {0}")]
    Events(String),
    /// A client name that cannot be one.
    #[error("client: not a client name")]
    Client,
    /// No subscription by that id.
    #[error("no subscription {0:?}")]
    Unknown(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an operator asks for when subscribing.
#[derive(Clone, Debug)]
pub(crate) struct NewSubscription {
    /// The receiver.
    pub url: String,
    /// The event names.
    pub events: Vec<String>,
    /// Only the events of this client's applications.
    pub client: Option<String>,
    /// `whsec_…`.
    pub secret: String,
}

/// The notifier's running state: the sender, the settings, and what it has in flight.
pub struct Notifier {
    settings: Webhooks,
    sender: Sender,
    /// The daemon's own listeners, refused as subscriber addresses (set once bound).
    own: OnceLock<Vec<SocketAddr>>,
    /// Deliveries in flight, all subscribers.
    slots: Arc<Semaphore>,
    /// Claimed deliveries waiting for a slot of their subscription, and the slots taken.
    queues: Mutex<Queues>,
    /// The subscriptions last read, and when (monotonic).
    cached: Mutex<(Duration, Arc<HashMap<String, Ready>>)>,
}

/// A subscription ready to send to: its parsed URL and secret.
#[derive(Clone)]
struct Ready {
    target: Target,
    secret: Secret,
}

impl Notifier {
    /// The notifier for `settings`: reads the extra CA files.
    pub fn new(settings: &Webhooks) -> anyhow::Result<Notifier> {
        let mut roots = Vec::new();
        for path in &settings.extra_roots {
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| anyhow::anyhow!("webhooks.extra_roots: {}: {e}", path.display()))?
            {
                roots.push(cert.map_err(|e| {
                    anyhow::anyhow!("webhooks.extra_roots: {}: {e}", path.display())
                })?);
            }
        }
        Ok(Notifier {
            sender: Sender::new(roots, settings.timeout)?,
            settings: settings.clone(),
            own: OnceLock::new(),
            slots: Arc::new(Semaphore::new(settings.concurrency)),
            queues: Mutex::new(Queues::default()),
            cached: Mutex::new((Duration::ZERO, Arc::new(HashMap::new()))),
        })
    }

    /// Tells the notifier where the daemon listens, so subscriptions to it are refused.
    pub fn listening_on(&self, addresses: Vec<SocketAddr>) {
        let _ = self.own.set(addresses);
    }

    fn own(&self) -> &[SocketAddr] {
        self.own.get().map_or(&[], Vec::as_slice)
    }

    fn queues(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long a claimed delivery may wait for its slot: its lease, less one attempt and
    /// a margin, so it is never sent after the lease ran out (when the loop may claim it
    /// again).
    fn wait_limit(&self) -> Duration {
        Duration::from_secs(self.lease_secs())
            .saturating_sub(self.settings.timeout + Duration::from_secs(3))
    }

    /// A claim's lease: the attempt's timeout, the name lookup and recording the outcome,
    /// and time to wait for a slot.
    fn lease_secs(&self) -> u64 {
        self.settings.timeout.as_secs() * 3 + 10
    }
}

/// Claimed deliveries by subscription, waiting for one of its slots.
#[derive(Default)]
struct Queues {
    /// Per subscription: waiting deliveries with when they were claimed (monotonic).
    waiting: HashMap<String, VecDeque<(Delivery, Duration)>>,
    /// Waiting, all subscriptions.
    waiting_total: usize,
    /// Per subscription: workers sending (each holds a slot).
    busy: HashMap<String, usize>,
}

impl Queues {
    fn push(&mut self, delivery: Delivery, claimed: Duration) {
        self.waiting
            .entry(delivery.key.subscription.clone())
            .or_default()
            .push_back((delivery, claimed));
        self.waiting_total += 1;
    }

    /// The next delivery of `subscription` still within its lease (`claimed` after
    /// `fresh_since`); older ones are dropped, and come back when their lease runs out.
    fn pop(&mut self, subscription: &str, fresh_since: Duration) -> Option<Delivery> {
        let queue = self.waiting.get_mut(subscription)?;
        let mut found = None;
        while let Some((delivery, claimed)) = queue.pop_front() {
            self.waiting_total -= 1;
            if claimed >= fresh_since {
                found = Some(delivery);
                break;
            }
        }
        if queue.is_empty() {
            self.waiting.remove(subscription);
        }
        found
    }
}

/// Resolves a target's host and checks the addresses against the URL policy.
async fn resolve(target: &Target, own: &[SocketAddr]) -> Result<Vec<SocketAddr>, UrlError> {
    let host = (target.host.as_str(), target.port);
    let resolved: Vec<SocketAddr> =
        match tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host(host)).await {
            Ok(Ok(addresses)) => addresses.collect(),
            _ => Vec::new(),
        };
    target.check_addresses(&resolved, own)?;
    Ok(resolved)
}

/// A new subscription id: 16 lowercase hex digits.
fn new_id() -> String {
    format!("{:016x}", OsRng.next_u64())
}

impl Service {
    /// Adds a subscription: the URL checked for its form and where it resolves now, the
    /// secret for its form; durable and audited when this returns.
    pub(crate) async fn add_subscription(
        &self,
        caller: &Caller,
        new: NewSubscription,
    ) -> Result<Subscription, WebhooksError> {
        let target = Target::parse(&new.url)?;
        let secret = Secret::parse(&new.secret)?;
        let events = parse_events(&new.events)?;
        if let Some(client) = &new.client
            && (client.is_empty() || client.len() > 128 || client.chars().any(char::is_control))
        {
            return Err(WebhooksError::Client);
        }
        resolve(&target, self.notifier.own()).await?;
        let subscription = Subscription {
            id: new_id(),
            url: new.url,
            events,
            client: new.client,
            secret: secret.encoded(),
            created_at: self.now(),
        };
        let detail = describe(&subscription);
        let audit = AuditRecord::change(caller, self.now(), "webhook.add", None, Some(&detail));
        self.store
            .add_subscription(subscription.clone(), audit)
            .await?;
        self.forget_subscriptions();
        tracing::info!(client = %caller.client, subscription = %subscription.id, url = %subscription.url, "webhook subscription added");
        Ok(subscription)
    }

    /// Removes a subscription and every delivery still owed to it.
    pub(crate) async fn remove_subscription(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Subscription, WebhooksError> {
        let subscription = self
            .store
            .subscriptions()
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| WebhooksError::Unknown(id.to_owned()))?;
        let detail = describe(&subscription);
        let audit = AuditRecord::change(caller, self.now(), "webhook.remove", None, Some(&detail));
        if !self.store.remove_subscription(id, audit).await? {
            return Err(WebhooksError::Unknown(id.to_owned()));
        }
        self.forget_subscriptions();
        tracing::info!(client = %caller.client, subscription = id, "webhook subscription removed");
        Ok(subscription)
    }

    /// Every subscription with its outbox figures.
    pub(crate) async fn subscriptions(
        &self,
    ) -> Result<Vec<(Subscription, Option<OutboxFigures>)>, WebhooksError> {
        let subscriptions = self.store.subscriptions().await?;
        let mut figures: HashMap<String, OutboxFigures> = self
            .store
            .outbox_figures()
            .await?
            .into_iter()
            .map(|f| (f.subscription.clone(), f))
            .collect();
        Ok(subscriptions
            .into_iter()
            .map(|s| {
                let f = figures.remove(&s.id);
                (s, f)
            })
            .collect())
    }

    /// Dead letters, oldest first.
    pub(crate) async fn dead_letters(
        &self,
        subscription: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Delivery>, WebhooksError> {
        Ok(self.store.dead_letters(subscription, limit).await?)
    }

    /// Makes the dead letters of events since `since` due again; returns how many.
    pub(crate) async fn replay(
        &self,
        caller: &Caller,
        subscription: Option<String>,
        since: UnixTime,
    ) -> Result<u64, WebhooksError> {
        if let Some(id) = &subscription
            && !self
                .store
                .subscriptions()
                .await?
                .iter()
                .any(|s| s.id == *id)
        {
            return Err(WebhooksError::Unknown(id.clone()));
        }
        let now = self.now();
        let detail = format!(
            "{} since {}",
            subscription.as_deref().unwrap_or("all"),
            since.0
        );
        let audit = AuditRecord::change(caller, now, "webhook.replay", None, Some(&detail));
        let replay = Replay {
            subscription,
            since,
            now,
        };
        let n = self.store.replay(replay, audit).await?;
        tracing::info!(client = %caller.client, replayed = n, "webhook dead letters replayed");
        Ok(n)
    }

    /// Sets the webhook gauges from the store's figures, before a scrape.
    pub(crate) async fn refresh_webhook_gauges(&self) {
        match self.store.outbox_figures().await {
            Ok(figures) => self.metrics.webhooks.set(&figures, self.now()),
            Err(e) => tracing::warn!(error = %e, "reading the outbox figures"),
        }
    }

    fn forget_subscriptions(&self) {
        let mut cached = self
            .notifier
            .cached
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cached.0 = Duration::ZERO;
    }

    /// The subscriptions ready to send to, read again when older than a moment.
    async fn ready_subscriptions(&self) -> Result<Arc<HashMap<String, Ready>>, StoreError> {
        let now = self.clock.monotonic();
        {
            let cached = self
                .notifier
                .cached
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if cached.0 != Duration::ZERO && now.saturating_sub(cached.0) < SUBSCRIPTIONS_FRESH {
                return Ok(cached.1.clone());
            }
        }
        let mut map = HashMap::new();
        for s in self.store.subscriptions().await? {
            // Stored subscriptions were checked when added; one that no longer parses is
            // skipped (its deliveries wait, and show as pending).
            match (Target::parse(&s.url), Secret::parse(&s.secret)) {
                (Ok(target), Ok(secret)) => {
                    map.insert(s.id, Ready { target, secret });
                }
                _ => tracing::error!(subscription = %s.id, "a stored subscription does not parse"),
            }
        }
        let map = Arc::new(map);
        *self
            .notifier
            .cached
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = (now.max(Duration::from_nanos(1)), map.clone());
        Ok(map)
    }

    /// One delivery attempt and its outcome, recorded in the store.
    async fn attempt(&self, ready: &Ready, delivery: Delivery) {
        let key = delivery.key.clone();
        let id = notify::message_id(key.sequence);
        let timestamp = self.now().0;
        let body = notify::body(&delivery.event, key.sequence);
        let outgoing = Outgoing {
            signature: ready.secret.sign(&id, timestamp, &body),
            id,
            timestamp,
            body,
        };
        let started = self.clock.monotonic();
        let result = match resolve(&ready.target, self.notifier.own()).await {
            Ok(addresses) => {
                let mut last = Err(String::from("no address"));
                for address in addresses {
                    last = self
                        .notifier
                        .sender
                        .send(&ready.target, address, &outgoing)
                        .await
                        .map_err(|e| e.to_string());
                    // A connection refused on one address may be answered on the next.
                    if last.is_ok() || !last.as_ref().is_err_and(|e| e.contains("refused")) {
                        break;
                    }
                }
                last
            }
            Err(e) => Err(e.to_string()),
        };
        let took = self.clock.monotonic().saturating_sub(started);
        let now = self.now();
        let metrics = &self.metrics.webhooks;
        metrics.attempt(&key.subscription, took);
        let outcome = match result {
            Ok(_) => {
                metrics.delivered(&key.subscription, now.0.saturating_sub(delivery.event.at.0));
                DeliveryOutcome::Delivered
            }
            Err(error) => {
                let attempts = delivery.attempts.saturating_add(1);
                match self.notifier.settings.retry.after_failure(
                    attempts,
                    delivery.started,
                    now,
                    OsRng.next_u64(),
                ) {
                    Retry::At(at) => {
                        metrics.retried(&key.subscription);
                        DeliveryOutcome::Retry { at, error }
                    }
                    Retry::Dead => {
                        metrics.dead(&key.subscription);
                        tracing::warn!(subscription = %key.subscription, event = key.sequence, error = %error, "webhook delivery dead-lettered");
                        DeliveryOutcome::Dead { error }
                    }
                }
            }
        };
        if let Err(e) = self.store.finish_delivery(key, outcome).await {
            // The lease runs out and the delivery is sent again: at least once.
            tracing::warn!(error = %e, "recording a webhook delivery's outcome");
        }
    }

    /// Writes `credential.expiring` for the credentials now inside the configured notice.
    async fn note_expiring(&self) {
        let Some(before) = self.notifier.settings.expiring_before else {
            return;
        };
        let now = self.now();
        loop {
            match self
                .store
                .note_expiring(UnixTime(now.0.saturating_add(before)), now, EXPIRING_BATCH)
                .await
            {
                Ok(n) if n as usize >= EXPIRING_BATCH => continue,
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "looking for credentials close to expiry");
                    return;
                }
            }
        }
    }
}

/// The delivery loop, until `stop`: claim what is due, send each on its own task within
/// the slots, record the outcomes; look for credentials close to expiry every minute.
pub(crate) async fn run(service: Arc<Service>, mut stop: watch::Receiver<bool>) {
    let notifier = &service.notifier;
    let mut last_expiring: Option<Duration> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        let mono = service.clock.monotonic();
        if last_expiring.is_none_or(|t| mono.saturating_sub(t) >= EXPIRING_EVERY) {
            last_expiring = Some(mono);
            service.note_expiring().await;
        }
        let claimed = send_due(&service).await;
        if claimed == 0 {
            tokio::select! {
                _ = tokio::time::sleep(IDLE) => {}
                _ = stop.changed() => {}
            }
        } else if notifier.slots.available_permits() == 0 {
            // Every slot busy: wait for one to free (or the idle tick).
            tokio::select! {
                permit = notifier.slots.clone().acquire_owned() => drop(permit),
                _ = tokio::time::sleep(IDLE) => {}
                _ = stop.changed() => {}
            }
        }
    }
    // Let the deliveries in flight finish (each within its timeout); the rest are leased
    // and come back after their lease.
    let _ = tokio::time::timeout(
        notifier.settings.timeout + Duration::from_secs(1),
        notifier
            .slots
            .acquire_many(notifier.settings.concurrency as u32),
    )
    .await;
}

/// Claims due deliveries (as many as there is room for), queues them by subscription and
/// starts a worker for each subscription with waiting deliveries, a free share and a free
/// slot; returns how many deliveries were claimed.
async fn send_due(service: &Arc<Service>) -> usize {
    let notifier = &service.notifier;
    let in_flight = notifier.settings.concurrency - notifier.slots.available_permits();
    let room = notifier
        .settings
        .concurrency
        .saturating_sub(in_flight + notifier.queues().waiting_total);
    let mut claimed = 0;
    if room > 0 {
        let subscriptions = match service.ready_subscriptions().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "reading the webhook subscriptions");
                return 0;
            }
        };
        if subscriptions.is_empty() {
            return 0;
        }
        let now = service.now();
        let deliveries = match service
            .store
            .claim_deliveries(
                now,
                UnixTime(now.0.saturating_add(notifier.lease_secs())),
                room,
            )
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "claiming webhook deliveries");
                return 0;
            }
        };
        claimed = deliveries.len();
        let at = service.clock.monotonic();
        let mut queues = notifier.queues();
        for delivery in deliveries {
            // A subscription removed meanwhile took its deliveries with it.
            if subscriptions.contains_key(&delivery.key.subscription) {
                queues.push(delivery, at);
            }
        }
    }
    start_workers(service);
    claimed
}

/// Starts a worker for each subscription with deliveries waiting, while it has a share
/// and there is a slot.
fn start_workers(service: &Arc<Service>) {
    let notifier = &service.notifier;
    let mut queues = notifier.queues();
    let ready: Vec<String> = queues.waiting.keys().cloned().collect();
    for subscription in ready {
        loop {
            let busy = queues.busy.get(&subscription).copied().unwrap_or(0);
            if busy >= notifier.settings.per_subscription
                || !queues.waiting.contains_key(&subscription)
            {
                break;
            }
            let Ok(permit) = notifier.slots.clone().try_acquire_owned() else {
                return;
            };
            *queues.busy.entry(subscription.clone()).or_default() += 1;
            let (service, subscription) = (service.clone(), subscription.clone());
            tokio::spawn(async move {
                work(&service, &subscription).await;
                drop(permit);
            });
        }
    }
}

/// A worker: sends its subscription's waiting deliveries one after another, then gives
/// back its share.
async fn work(service: &Arc<Service>, subscription: &str) {
    let notifier = &service.notifier;
    loop {
        let fresh_since = service
            .clock
            .monotonic()
            .saturating_sub(notifier.wait_limit());
        let next = {
            let mut queues = notifier.queues();
            let next = queues.pop(subscription, fresh_since);
            if next.is_none()
                && let Some(n) = queues.busy.get_mut(subscription)
            {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    queues.busy.remove(subscription);
                }
            }
            next
        };
        let Some(delivery) = next else {
            return;
        };
        // The subscription as read now: a removed one's deliveries are dropped.
        let ready = match service.ready_subscriptions().await {
            Ok(s) => s.get(subscription).cloned(),
            Err(_) => None,
        };
        if let Some(ready) = ready {
            service.attempt(&ready, delivery).await;
        }
    }
}

/// Reads event names; at least one, none unknown, no repeats.
fn parse_events(names: &[String]) -> Result<Vec<EventKind>, WebhooksError> {
    let mut events = Vec::new();
    for name in names.iter().flat_map(|n| n.split(',')).map(str::trim) {
        if name.is_empty() {
            continue;
        }
        if name == "*" || name == "all" {
            events.extend(EventKind::ALL);
            continue;
        }
        let kind: EventKind = name
            .parse()
            .map_err(|e: notify::UnknownEvent| WebhooksError::Events(e.to_string()))?;
        events.push(kind);
    }
    events.sort();
    events.dedup();
    if events.is_empty() {
        return Err(WebhooksError::Events(format!(
            "name at least one of {}",
            EventKind::ALL.map(EventKind::as_str).join(", ")
        )));
    }
    Ok(events)
}

/// A subscription as the audit trail records it (never its secret).
fn describe(s: &Subscription) -> String {
    let events: Vec<&str> = s.events.iter().map(|e| e.as_str()).collect();
    format!(
        "{} {} events={} client={}",
        s.id,
        s.url,
        events.join(","),
        s.client.as_deref().unwrap_or("*")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lists_read_commas_repeats_and_all() {
        let names = vec![
            "application.issued, credential.revoked".to_owned(),
            "application.issued".to_owned(),
        ];
        assert_eq!(
            parse_events(&names).unwrap(),
            vec![EventKind::ApplicationIssued, EventKind::CredentialRevoked]
        );
        assert_eq!(
            parse_events(&["*".to_owned()]).unwrap(),
            EventKind::ALL.to_vec()
        );
        assert!(matches!(parse_events(&[]), Err(WebhooksError::Events(_))));
        assert!(matches!(
            parse_events(&["application.issued,credential.exploded".to_owned()]),
            Err(WebhooksError::Events(e)) if e.contains("credential.exploded")
        ));
    }

    #[test]
    fn the_audit_trail_never_holds_the_secret() {
        let s = Subscription {
            id: "00000000000000ab".into(),
            url: "https://app.example/hooks".into(),
            events: vec![EventKind::ApplicationRejected],
            client: Some("gateway".into()),
            secret: "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2Vj".into(),
            created_at: UnixTime(1),
        };
        let d = describe(&s);
        assert_eq!(
            d,
            "00000000000000ab https://app.example/hooks events=application.rejected client=gateway"
        );
        assert!(!d.contains("whsec"));
    }

    #[tokio::test]
    async fn subscriber_addresses_are_checked_where_they_resolve() {
        let own: Vec<SocketAddr> = vec!["0.0.0.0:8443".parse().unwrap()];
        let t = Target::parse("http://127.0.0.1:8443/x").unwrap();
        assert!(matches!(
            resolve(&t, &own).await,
            Err(UrlError::OwnListener(_))
        ));
        let t = Target::parse("http://localhost:9/x").unwrap();
        assert!(resolve(&t, &own).await.is_ok());
        let t = Target::parse("https://name.invalid/x").unwrap();
        assert!(matches!(resolve(&t, &own).await, Err(UrlError::Unresolved)));
    }
}
