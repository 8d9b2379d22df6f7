//! The daemon's operations over its state: applications, review, the drain step that
//! signs queued applications, refresh, registry changes, live status, status lists and
//! the trust list. HTTP handlers and the CLI call these; pure decisions live in
//! `application`, `issue`, `registry` and `queue`.
//!
//! **Concurrency.** Everything that reads and then writes one licence's records (its
//! registry entry, open application, credentials) holds that licence's stripe lock, so a
//! batch is built from a consistent view; batches are atomic in sled. **Durability.** An
//! operation answers only after a group commit that began after its batch was applied.
//! The drain step marks what it issued as pending until its commit is durable, and
//! readers show pending applications as still queued, so no client ever sees a credential
//! that a crash could take back.

pub mod signing;
pub mod status_lists;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keys::licence::{LicenceNumber, LicenceState, PhotoDigest, Points};
use keys::token::StatusReference;
use keys::{KeyUse, UnixTime};
use rand_core::{OsRng, RngCore};

use crate::audit::{Audit, LookupLog, Purpose};
use crate::auth::{ApiClients, Caller, Role};
use crate::clock::{Clock, Monotonic};
use crate::config::Config;
use crate::domain::application::{
    Application, ApplicationState, Channel, Photo, PhotoFormat, PhotoSource, Ticket, check_photo,
};
use crate::domain::issue::{self, CredentialRecord, IssueInput, LiveStatus};
use crate::domain::queue::{self, Lane, LaneRestore, Lanes};
use crate::domain::registry::{self, LicenceRecord, RegistryLine, StateAction};
use crate::domain::throttle::admission::{LimitName, Verdict};
use crate::domain::throttle::control::Throttle;
use crate::domain::throttle::estimate::WaitEstimate;
use crate::domain::throttle::settings::ThrottleSettings;
use crate::domain::trust::{self, SignedTrust, TrustError, TrustInput};
use crate::error::ApiError;
use crate::keyfiles::{KeySet, Root};
use crate::metrics::Metrics;
use crate::service::status_lists::StatusLists;
use crate::store::{Batch, Committer, CommitterTask, Store, StoreError, key, prefix};

const STRIPES: usize = 1024;

/// Settings the operations need, from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `iss`.
    pub issuer: String,
    /// Credential lifetime cap.
    pub credential_lifetime: u64,
    /// Largest photo.
    pub max_photo_bytes: usize,
    /// Status list `ttl`.
    pub status_ttl: u64,
    /// Status list validity.
    pub status_validity: u64,
    /// Signing key validity.
    pub key_validity: u64,
    /// Trust list validity.
    pub trust_list_validity: u64,
    /// Where uploaded photos are kept.
    pub photos_dir: PathBuf,
}

/// A request to apply.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// The licence number.
    pub licence_number: String,
    /// `app` or `window`; must match the caller's role when given.
    #[serde(default)]
    pub channel: Option<Channel>,
    /// Where the photo comes from.
    pub photo_source: PhotoSource,
    /// The uploaded photo (base64, standard or URL-safe), for camera and album.
    #[serde(default)]
    pub photo: Option<String>,
}

/// The answer to an application or a ticket lookup.
#[derive(Clone, Debug)]
pub struct ApplicationView {
    /// The application (shown as queued while its issuance is not yet durable).
    pub application: Application,
    /// Position when queued (1 = next).
    pub position: Option<u64>,
    /// Wait estimate when queued.
    pub estimate: Option<WaitEstimate>,
    /// The credential when issued.
    pub credential: Option<CredentialRecord>,
    /// Whether an open application already existed (idempotent apply).
    pub existing: bool,
    /// When queued before the opening time: the opening (Unix seconds); the application
    /// gets its place in random order then.
    pub opening_at: Option<u64>,
}

/// A refusal by admission, for the client: 429 or 503 with `Retry-After`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Throttled {
    /// 429 or 503.
    pub status: u16,
    /// Which limit refused (`client`, `licence`, `intake`, `queue`, `overload`).
    pub limit: &'static str,
    /// Whole seconds before a retry can succeed.
    pub retry_after: u64,
    /// For a full queue: when its backlog is expected to clear (Unix seconds).
    pub clears_at: Option<u64>,
}

/// The answer to a live status lookup.
#[derive(Clone, Debug)]
pub struct StatusView {
    /// The credential.
    pub credential: CredentialRecord,
    /// Its licence.
    pub licence: LicenceRecord,
    /// Its status.
    pub status: LiveStatus,
    /// When it was checked.
    pub checked_at: UnixTime,
}

/// The outcome of a registry change.
#[derive(Clone, Debug)]
pub struct LicenceChange {
    /// The record now.
    pub record: LicenceRecord,
    /// Whether it was created.
    pub created: bool,
    /// The re-issue application queued because the credential was superseded.
    pub reissue: Option<Ticket>,
}

/// What a drain step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Credentials issued.
    pub issued: usize,
    /// Applications rejected (licence not issuable).
    pub rejected: usize,
    /// Queue entries taken, per lane (issued, rejected or stale).
    pub taken: [u64; 3],
}

/// A drain step applied to the store whose commit is under way: its credentials stay
/// hidden (shown as queued) until [`Service::finish_step`] sees the commit succeed.
pub struct InFlight {
    /// Answers once the step is durable.
    pub done: tokio::sync::oneshot::Receiver<Result<(), StoreError>>,
    /// The applications it issued.
    pub issued: Vec<Ticket>,
    /// What it did.
    pub report: DrainReport,
}

/// What a drain step does once its batch is applied.
#[derive(Default)]
struct After {
    served: Vec<(Lane, u64)>,
    list_values: Vec<(u32, u32, keys::status_list::CredentialStatus)>,
    opened_list: bool,
}

/// A wake-up signal for the drain thread.
#[derive(Default)]
pub struct Wakeup {
    flag: Mutex<bool>,
    cv: Condvar,
}

impl Wakeup {
    /// Wakes the waiter.
    pub fn notify(&self) {
        *self.flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }

    /// Waits for a notification or `timeout`.
    pub fn wait(&self, timeout: Duration) {
        let guard = self.flag.lock().unwrap_or_else(|p| p.into_inner());
        let (mut guard, _) = self
            .cv
            .wait_timeout_while(guard, timeout, |flag| !*flag)
            .unwrap_or_else(|p| p.into_inner());
        *guard = false;
    }
}

/// The daemon's state and operations.
pub struct Service {
    /// The store.
    pub store: Store,
    /// Group commits.
    pub committer: Committer,
    /// API clients.
    pub clients: ApiClients,
    /// Audit records.
    pub audit: Audit,
    /// Queue counters.
    pub lanes: Lanes,
    /// Admission, pacing, lanes and wait estimates, tuned live by operators.
    pub throttle: Mutex<Throttle<Monotonic>>,
    /// Monotonic time for the throttle.
    pub monotonic: Monotonic,
    /// The durable log of relying-party lookups.
    pub lookups: LookupLog,
    /// Applications signed and not yet durable.
    pub in_flight: AtomicU64,
    /// Status lists.
    pub status_lists: StatusLists,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Settings.
    pub settings: Settings,
    /// Wakes the drain thread when work arrives.
    pub queue_wakeup: Wakeup,
    /// Asks for the trust list to be re-signed (a status list opened).
    pub trust_changed: tokio::sync::Notify,
    /// Set once shutting down.
    pub stopping: AtomicBool,
    /// Why signing is held back, if it is: by key use, and for want of a status list.
    signing_held: Mutex<HashMap<&'static str, String>>,
    /// The pre-signed trust list file's content last examined (offline root).
    trust_file_seen: Mutex<Vec<u8>>,
    keys: KeySet,
    /// Held (shared) by applications deciding whether they arrive before the opening;
    /// held (exclusive) while the last of those are put in order.
    opening_gate: RwLock<()>,
    /// Serializes operator changes to the throttle.
    throttle_change: tokio::sync::Mutex<()>,
    trust: RwLock<Arc<SignedTrust>>,
    stripes: Vec<Mutex<()>>,
    pending: Mutex<HashSet<Ticket>>,
}

impl Service {
    /// Opens the store and restores every counter, list and the trust list.
    pub fn open(
        config: &Config,
        keys: KeySet,
        clock: Arc<dyn Clock>,
        base_url: String,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<(Service, CommitterTask)> {
        use anyhow::Context;
        let store = Store::open(&config.data_dir)
            .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
        let photos_dir = config.data_dir.join("photos");
        std::fs::create_dir_all(&photos_dir)
            .with_context(|| format!("creating {}", photos_dir.display()))?;
        let (committer, task) = Committer::new(store.clone(), metrics.clone());
        let clients = ApiClients::load(&store)?;
        if clients.is_empty() && config.dev_clients {
            let path = config.data_dir.join("dev-clients.txt");
            crate::auth::create_dev_clients(&clients, &store, &path, clock.now())?;
            tracing::info!(path = %path.display(), "created one development API key per role");
        }
        let audit = Audit::restore(&store)?;
        let lanes = restore_lanes(&store)?;
        let lookups = LookupLog::open(&config.data_dir.join("audit"))?;
        let throttle_settings = store
            .get::<ThrottleSettings>(&throttle_key())?
            .unwrap_or(config.throttle);
        let monotonic = Monotonic::start();
        metrics.set_limits(&throttle_settings);
        let status_lists = restore_status_lists(&store, base_url)?;
        let settings = Settings {
            issuer: config.issuer.clone(),
            credential_lifetime: config.credential_lifetime,
            max_photo_bytes: config.max_photo_bytes,
            status_ttl: config.status_ttl,
            status_validity: config.status_validity,
            key_validity: config.key_validity,
            trust_list_validity: config.trust_list_validity,
            photos_dir,
        };
        let placeholder = Arc::new(SignedTrust::empty());
        let service = Service {
            store,
            committer,
            clients,
            audit,
            lanes,
            throttle: Mutex::new(Throttle::new(
                throttle_settings,
                monotonic,
                monotonic.elapsed(),
            )),
            monotonic,
            lookups,
            in_flight: AtomicU64::new(0),
            status_lists,
            metrics,
            clock,
            settings,
            queue_wakeup: Wakeup::default(),
            trust_changed: tokio::sync::Notify::new(),
            stopping: AtomicBool::new(false),
            signing_held: Mutex::new(HashMap::new()),
            trust_file_seen: Mutex::new(Vec::new()),
            keys,
            opening_gate: RwLock::new(()),
            throttle_change: tokio::sync::Mutex::new(()),
            trust: RwLock::new(placeholder),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            pending: Mutex::new(HashSet::new()),
        };
        match &service.keys.root {
            Root::Key(_) => service.resign_trust_list()?,
            Root::Offline { .. } => {
                service.load_trust_list(true)?;
            }
        }
        service.sign_status_lists(true);
        service.store.sync(&mut HashSet::new())?;
        Ok((service, task))
    }

    fn now(&self) -> UnixTime {
        self.clock.now()
    }

    fn stripe_index(&self, licence: &LicenceNumber) -> usize {
        let hash = <sha2::Sha256 as sha2::Digest>::digest(licence.as_str().as_bytes());
        usize::from(u16::from_be_bytes([hash[0], hash[1]])) % STRIPES
    }

    fn stripe(&self, licence: &LicenceNumber) -> MutexGuard<'_, ()> {
        // `stripe_index` is below STRIPES and `stripes` has STRIPES entries.
        self.stripes[self.stripe_index(licence)]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn pending(&self) -> MutexGuard<'_, HashSet<Ticket>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The throttle (held briefly: every operation on it is O(1) or O(cells)).
    pub fn throttle(&self) -> MutexGuard<'_, Throttle<Monotonic>> {
        self.throttle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Caps one drain step at `cap` applications.
    pub fn throttle_step_cap(&self, cap: u64) {
        self.throttle().set_step_cap(cap);
    }

    /// The throttle settings in force.
    pub fn throttle_settings(&self) -> ThrottleSettings {
        self.throttle().settings()
    }

    /// Waits for a durable commit of everything applied so far.
    pub async fn commit(&self) -> Result<(), StoreError> {
        self.committer.commit().await
    }

    // ----- trust list and status lists -----

    /// The current signed trust list.
    pub fn trust_list(&self) -> Arc<SignedTrust> {
        self.trust.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether the trust list is signed offline (and read from a file) rather than here.
    pub fn trust_is_offline(&self) -> bool {
        matches!(self.keys.root, Root::Offline { .. })
    }

    /// Re-signs the trust list with the next sequence number, which is made durable first
    /// (blocking). With an offline root there is nothing to sign here.
    pub fn resign_trust_list(&self) -> Result<(), StoreError> {
        let Root::Key(root) = &self.keys.root else {
            return Ok(());
        };
        let now = self.now();
        let seq_key = key(prefix::META, &[b"trust-sequence"]);
        let sequence = self.store.get::<u64>(&seq_key)?.unwrap_or(0) + 1;
        let mut batch = Batch::default();
        batch.put(seq_key, &sequence);
        let mut windows = Vec::new();
        for (signing_key, key_use) in [
            (&self.keys.credential, KeyUse::Credential),
            (&self.keys.status, KeyUse::Status),
        ] {
            let window_key = key(
                prefix::META,
                &[b"key-window/", signing_key.key_id().to_string().as_bytes()],
            );
            let not_before = match self.store.get::<u64>(&window_key)? {
                Some(t) => UnixTime(t),
                None => {
                    // Tolerate verifiers whose clocks run a little behind.
                    let t = now.minus(keys::token::DEFAULT_CLOCK_SKEW);
                    batch.put(window_key, &t.0);
                    t
                }
            };
            windows.push((signing_key, key_use, not_before));
        }
        self.store.apply(batch)?;
        self.store.sync(&mut HashSet::new())?;
        let signed = trust::sign(
            TrustInput {
                sequence,
                now,
                validity: self.settings.trust_list_validity,
                issuer: &self.settings.issuer,
                keys: windows,
                key_validity: self.settings.key_validity,
                status_lists: self.status_lists.uris(),
            },
            root,
        );
        *self.trust.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(signed);
        Ok(())
    }

    /// Reads the trust list signed offline from its file and serves it as-is if it is new
    /// (blocking): it must verify against the pinned roots, be for this issuer and be no
    /// older than the last list served (whose sequence is kept durably). `starting`: it
    /// must also name this daemon's credential and status keys, unrevoked and with signing
    /// windows covering now, and every status list in use, or the daemon does not start.
    /// Later (a reload), a list that verifies is served even when it revokes or ends this
    /// daemon's keys: it must reach verifiers, and signing with those keys stops. Returns
    /// whether a new list is served.
    pub fn load_trust_list(&self, starting: bool) -> anyhow::Result<bool> {
        use anyhow::Context;
        let Root::Offline {
            trust_list: path,
            pinned,
        } = &self.keys.root
        else {
            return Ok(false);
        };
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading the trust list {}", path.display()))?;
        {
            let mut seen = self
                .trust_file_seen
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if *seen == bytes {
                return Ok(false);
            }
            seen.clone_from(&bytes);
        }
        let seq_key = key(prefix::META, &[b"trust-sequence"]);
        let served = self.store.get::<u64>(&seq_key)?;
        let signed = trust::check_offline(&bytes, pinned, served, &self.settings.issuer)
            .with_context(|| format!("trust list {}", path.display()))?;
        if signed.bytes == self.trust_list().bytes {
            return Ok(false);
        }
        let now = self.now();
        let mut problems: Vec<TrustError> = [
            (&self.keys.credential, KeyUse::Credential),
            (&self.keys.status, KeyUse::Status),
        ]
        .into_iter()
        .filter_map(|(k, key_use)| trust::may_sign(&signed.list, key_use, k.public(), now).err())
        .collect();
        let named = trust::named_status_lists(&signed.list, |n| self.status_lists.uri(n));
        if let Some(n) = (named..self.status_lists.count()).next() {
            problems.push(TrustError::StatusList {
                sequence: signed.sequence,
                uri: self.status_lists.uri(n),
            });
        }
        if starting && let Some(problem) = problems.first() {
            return Err(problem.clone()).with_context(|| format!("trust list {}", path.display()));
        }
        // A new list changes which keys every verifier trusts: it is audited like any
        // change (a restart with the list served before is not a change).
        let newer = served.is_none_or(|s| s < signed.sequence);
        if newer || !starting {
            let mut batch = Batch::default();
            if newer {
                batch.put(seq_key, &signed.sequence);
            }
            let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&signed.bytes));
            let detail = format!(
                "sequence {}, sha256 {digest}, from {}",
                signed.sequence,
                path.display()
            );
            let daemon = Caller {
                client: "edld".into(),
                role: Role::Operator,
            };
            self.audit.record(
                &mut batch,
                &daemon,
                now,
                "keys.trust_list",
                None,
                Some(&detail),
            );
            self.store.apply(batch)?;
            self.store.sync(&mut HashSet::new())?;
        }
        self.status_lists.set_max_lists(named);
        for problem in &problems {
            tracing::error!(path = %path.display(), problem = %problem, "the new trust list holds back signing");
        }
        if signed.next_update < now {
            tracing::warn!(
                path = %path.display(),
                sequence = signed.sequence,
                next_update = %signed.next_update,
                "the trust list is past its next_update: sign and install a newer one"
            );
        }
        tracing::info!(
            path = %path.display(),
            sequence = signed.sequence,
            status_lists = named,
            "serving the trust list signed offline"
        );
        *self.trust.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(signed);
        Ok(true)
    }

    /// Whether the key of `key_use` may sign now, by the trust list being served.
    pub fn may_sign(&self, key_use: KeyUse) -> Result<(), TrustError> {
        let key = match key_use {
            KeyUse::Status => &self.keys.status,
            _ => &self.keys.credential,
        };
        trust::may_sign(&self.trust_list().list, key_use, key.public(), self.now())
    }

    /// Records whether `what` may go ahead, logging only when that changes; returns it.
    fn signing_allowed(&self, what: &'static str, check: Result<(), String>) -> bool {
        let mut held = self.signing_held.lock().unwrap_or_else(|p| p.into_inner());
        match check {
            Ok(()) => {
                if held.remove(what).is_some() {
                    tracing::info!(what, "signing resumes");
                }
                true
            }
            Err(reason) => {
                if held.get(what) != Some(&reason) {
                    tracing::error!(what, reason = %reason, "signing held back");
                    held.insert(what, reason);
                }
                false
            }
        }
    }

    /// Why signing is held back now, if it is: the trust list served does not let a key
    /// sign, or names no status list with room left (for operators: `GET /admin/v1/queue`).
    pub fn signing_held(&self) -> Vec<String> {
        let mut held: Vec<String> = [KeyUse::Credential, KeyUse::Status]
            .into_iter()
            .filter_map(|key_use| self.may_sign(key_use).err())
            .map(|e| e.to_string())
            .collect();
        if self.status_lists.room() == 0 {
            held.push(self.no_status_list_room());
        }
        held
    }

    fn no_status_list_room(&self) -> String {
        let count = self.status_lists.count();
        format!(
            "the trust list names no status list after {}: install one that names {}",
            self.status_lists.uri(count.saturating_sub(1)),
            self.status_lists.uri(count)
        )
    }

    /// Signs changed status lists (or all); returns how many. None while the trust list
    /// does not let the status key sign.
    pub fn sign_status_lists(&self, all: bool) -> usize {
        let allowed = self.may_sign(KeyUse::Status).map_err(|e| e.to_string());
        if !self.signing_allowed("status lists", allowed) {
            return 0;
        }
        let n = self.status_lists.sign(
            &self.keys.status,
            self.now(),
            self.settings.status_ttl,
            self.settings.status_validity,
            all,
        );
        self.metrics.status_lists_signed.inc_by(n as u64);
        n
    }

    // ----- applications -----

    /// Accepts an application, or returns the open one for the licence. Answers once the
    /// application is durable.
    pub async fn apply(
        &self,
        caller: &Caller,
        request: ApplyRequest,
    ) -> Result<ApplicationView, ApiError> {
        let channel = match caller.role {
            Role::Gateway => Channel::App,
            Role::Window => Channel::Window,
            _ => return Err(ApiError::Forbidden),
        };
        if request.channel.is_some_and(|c| c != channel) {
            return Err(ApiError::Unprocessable(format!(
                "channel does not match the client's role {}",
                caller.role.as_str()
            )));
        }
        let number: LicenceNumber = request
            .licence_number
            .parse()
            .map_err(|e| ApiError::BadRequest(format!("licence_number: {e}")))?;
        let lane = match channel {
            Channel::Window => Lane::Window,
            _ => Lane::First,
        };
        self.admit(caller, &number, lane)?;
        let upload = match (request.photo_source, request.photo.as_deref()) {
            (PhotoSource::OnFile, None) => None,
            (PhotoSource::OnFile, Some(_)) => {
                return Err(ApiError::BadRequest(
                    "photo: not allowed with photo_source on_file".into(),
                ));
            }
            (source, Some(encoded)) => {
                let bytes = decode_base64(encoded)
                    .ok_or_else(|| ApiError::BadRequest("photo: not base64".into()))?;
                let format = check_photo(&bytes, self.settings.max_photo_bytes)
                    .map_err(|e| ApiError::Unprocessable(format!("photo: {e}")))?;
                Some((bytes, format, source))
            }
            (_, None) => {
                return Err(ApiError::BadRequest(
                    "photo: required with photo_source camera or album".into(),
                ));
            }
        };
        // The photo file is durable before any record points at it.
        let photo = match &upload {
            None => Photo::OnFile,
            Some((bytes, format, source)) => {
                let digest = PhotoDigest::of(bytes);
                let path = self.photo_path(&digest, *format);
                if !path.exists() {
                    let bytes = bytes.clone();
                    let p = path.clone();
                    tokio::task::spawn_blocking(move || {
                        crate::store::write_file_durably(&p, &bytes)
                    })
                    .await
                    .map_err(|e| ApiError::Internal(e.to_string()))??;
                }
                Photo::Uploaded {
                    digest,
                    format: *format,
                    source: *source,
                }
            }
        };
        let view = self.apply_locked(caller, channel, number, photo)?;
        self.commit().await?;
        if !view.existing {
            self.metrics.applications_accepted.inc();
            if matches!(view.application.state, ApplicationState::Queued { .. }) {
                self.queue_wakeup.notify();
            }
        }
        Ok(view)
    }

    /// Admission: every limit in force decides, shadow refusals are counted, an enforced
    /// refusal becomes a 429 or 503.
    fn admit(&self, caller: &Caller, number: &LicenceNumber, lane: Lane) -> Result<(), ApiError> {
        let now = self.monotonic.elapsed();
        let depths = self.lanes.backlog();
        let (verdict, settings) = {
            let mut throttle = self.throttle();
            let verdict = throttle.admit(now, &caller.client, number.as_str(), lane, &depths);
            (verdict, throttle.settings())
        };
        self.metrics.admission(&verdict, &settings.admission);
        match verdict {
            Verdict::Admit { .. } => Ok(()),
            Verdict::Refuse { refusal, .. } => Err(ApiError::Throttled(Throttled {
                status: refusal.limit.status(),
                limit: refusal.limit.as_str(),
                retry_after: refusal.retry_after,
                clears_at: match refusal.limit {
                    LimitName::Queue => refusal.clears_in.map(|s| self.now().0 + s),
                    _ => None,
                },
            })),
        }
    }

    /// Whether an application accepted now waits for the opening: before the opening time,
    /// and until every application accepted before it has been put in order.
    fn before_opening(&self, now: UnixTime) -> bool {
        self.throttle_settings()
            .opening_at
            .is_some_and(|t| now.0 < t)
            || self.lanes.unordered() > 0
    }

    /// Whether the opening time is still ahead (nothing is issued before it).
    pub fn opening_ahead(&self) -> Option<u64> {
        let now = self.now().0;
        self.throttle_settings()
            .opening_at
            .filter(|t| now < *t)
            .map(|t| t - now)
    }

    /// Puts applications accepted before the opening in order: the next `limit` in ticket
    /// order (tickets are random, so this is a random order), or all that remain when that
    /// is no more than `limit`, holding the opening gate so no newcomer slips ahead.
    /// Returns how many were put in order. Blocking: the drain thread calls it.
    pub fn order_opening(&self, limit: usize) -> Result<u64, StoreError> {
        let last = self.lanes.unordered() <= limit as u64;
        let _gate = last.then(|| self.opening_gate.write().unwrap_or_else(|p| p.into_inner()));
        let take = if last { usize::MAX } else { limit };
        let mut batch = Batch::default();
        let mut ordered = [0u64; 3];
        for entry in self.store.scan(prefix::PREOPEN).take(take) {
            let (k, v) = entry?;
            batch.remove(k.to_vec());
            let Some(lane) = v.first().copied().and_then(queue::lane_from_byte) else {
                continue;
            };
            ordered[lane.index()] += 1;
            let ticket = &k[prefix::PREOPEN.len()..];
            let app_key = key(prefix::APPLICATION, &[ticket]);
            let Some(mut app) = self.store.get::<Application>(&app_key)? else {
                continue;
            };
            if app.state != (ApplicationState::Queued { lane, sequence: 0 }) {
                continue;
            }
            let sequence = self.lanes.next_sequence(lane);
            app.state = ApplicationState::Queued { lane, sequence };
            batch.put(app_key, &app);
            batch.put_raw(queue::entry_key(lane, sequence), ticket);
        }
        self.store.apply(batch)?;
        self.lanes.ordered(ordered);
        Ok(ordered.iter().sum())
    }

    /// Applies operator changes (`name`, `value` text) to the throttle: checked, written
    /// with an audit record of who, when, old and new, made durable, then put in force.
    /// Returns the settings before and after.
    pub async fn change_throttle(
        &self,
        caller: &Caller,
        changes: &[(String, String)],
    ) -> Result<(ThrottleSettings, ThrottleSettings), ApiError> {
        let _serial = self.throttle_change.lock().await;
        let old = self.throttle_settings();
        let mut new = old;
        for (name, value) in changes {
            new = new
                .change(name, value)
                .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
        }
        let before: HashMap<&str, String> = old.entries().into_iter().collect();
        let diff: serde_json::Map<String, serde_json::Value> = new
            .entries()
            .into_iter()
            .filter(|(name, value)| before.get(name) != Some(value))
            .map(|(name, value)| {
                (
                    name.to_owned(),
                    serde_json::json!({"old": before.get(name), "new": value}),
                )
            })
            .collect();
        if diff.is_empty() {
            return Ok((old, new));
        }
        let detail = serde_json::Value::Object(diff).to_string();
        let mut batch = Batch::default();
        batch.put(throttle_key(), &new);
        self.audit.record(
            &mut batch,
            caller,
            self.now(),
            "throttle.set",
            None,
            Some(&detail),
        );
        self.store.apply(batch)?;
        self.commit().await?;
        self.throttle().retune(self.monotonic.elapsed(), new);
        self.metrics.set_limits(&new);
        self.queue_wakeup.notify();
        tracing::info!(client = %caller.client, changes = %detail, "throttle changed");
        Ok((old, new))
    }

    // ----- API clients -----

    /// Adds an API client; its key, returned once, works as soon as this returns (it is
    /// durable and audited by then).
    pub async fn add_client(
        &self,
        caller: &Caller,
        name: &str,
        role: Role,
    ) -> Result<(crate::auth::ApiClient, String), ApiError> {
        let now = self.now();
        let mut batch = Batch::default();
        let api_key = self
            .clients
            .add(name, role, now, &mut batch)
            .map_err(client_error)?;
        let detail = format!("{name} {}", role.as_str());
        self.audit
            .record(&mut batch, caller, now, "client.add", None, Some(&detail));
        self.store.apply(batch)?;
        self.commit().await?;
        tracing::info!(client = %caller.client, name, role = role.as_str(), "API client added");
        let client = crate::auth::ApiClient {
            name: name.to_owned(),
            role,
            created_at: Some(now),
        };
        Ok((client, api_key))
    }

    /// Revokes an API client's key: refused at once, durable and audited when this returns.
    pub async fn revoke_client(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<crate::auth::ApiClient, ApiError> {
        let mut batch = Batch::default();
        let client = self
            .clients
            .revoke(name, &mut batch)
            .map_err(client_error)?;
        let detail = format!("{name} {}", client.role.as_str());
        self.audit.record(
            &mut batch,
            caller,
            self.now(),
            "client.revoke",
            None,
            Some(&detail),
        );
        self.store.apply(batch)?;
        self.commit().await?;
        tracing::info!(client = %caller.client, name, "API client revoked");
        Ok(client)
    }

    /// The ticket of the licence's latest application (`O/`), if it ever had one.
    fn latest_application(&self, number: &LicenceNumber) -> Result<Option<Ticket>, StoreError> {
        let Some(ticket) = self
            .store
            .get_raw(&key(prefix::OPEN, &[number.as_str().as_bytes()]))?
        else {
            return Ok(None);
        };
        let ticket = ticket
            .as_ref()
            .try_into()
            .map_err(|_| StoreError::Corrupt("latest application".into()))?;
        Ok(Some(Ticket(ticket)))
    }

    /// The application `latest` names, while it is still open (queued or in review; an
    /// issuance not yet durable still counts as queued, as it shows). The caller holds the
    /// licence's stripe.
    fn open_application(
        &self,
        latest: Option<Ticket>,
    ) -> Result<Option<ApplicationView>, StoreError> {
        let Some(ticket) = latest else {
            return Ok(None);
        };
        Ok(self
            .view(ticket)?
            .filter(|view| view.application.state.is_open()))
    }

    fn apply_locked(
        &self,
        caller: &Caller,
        channel: Channel,
        number: LicenceNumber,
        photo: Photo,
    ) -> Result<ApplicationView, ApiError> {
        let _guard = self.stripe(&number);
        let latest = self.latest_application(&number)?;
        if let Some(mut view) = self.open_application(latest)? {
            view.existing = true;
            return Ok(view);
        }
        let open_key = key(prefix::OPEN, &[number.as_str().as_bytes()]);
        let licence: LicenceRecord = self
            .store
            .get(&key(prefix::LICENCE, &[number.as_str().as_bytes()]))?
            .ok_or_else(|| {
                self.metrics.rejected("unknown_licence");
                ApiError::Unprocessable("no licence with this number in the registry".into())
            })?;
        if licence.state != LicenceState::Normal {
            self.metrics.rejected("licence_not_in_force");
            return Err(ApiError::Unprocessable(format!(
                "the licence is {}",
                licence.state
            )));
        }
        if photo == Photo::OnFile && licence.photo.is_none() {
            self.metrics.rejected("no_photo_on_file");
            return Err(ApiError::Unprocessable(
                "no compliant photo on file: upload one (photo_source camera or album)".into(),
            ));
        }
        let now = self.now();
        let mut ticket = [0u8; 16];
        OsRng.fill_bytes(&mut ticket);
        let reissue = channel == Channel::App && !self.credentials_from(latest)?.is_empty();
        let mut application = Application {
            ticket: Ticket(ticket),
            licence: number.clone(),
            channel,
            client: caller.client.clone(),
            photo,
            state: ApplicationState::Reviewing,
            created_at: now,
            updated_at: now,
            reissue,
            quoted: None,
            previous: latest,
        };
        let mut batch = Batch::default();
        // Held until the batch is applied: the last step of ordering the applications
        // accepted before the opening cannot run in between.
        let _gate = self.opening_gate.read().unwrap_or_else(|p| p.into_inner());
        let mut unordered = None;
        if photo == Photo::OnFile {
            let lane = application.lane();
            if self.before_opening(now) {
                application.state = ApplicationState::Queued { lane, sequence: 0 };
                batch.put_raw(
                    key(prefix::PREOPEN, &[&ticket]),
                    &[queue::lane_byte(lane)][..],
                );
                unordered = Some(lane);
            } else {
                let sequence = self.lanes.next_sequence(lane);
                application.state = ApplicationState::Queued { lane, sequence };
                let position = self.lanes.position(lane, sequence);
                let quote = self.quote(lane, position);
                if let WaitEstimate::Range { low, high } = quote {
                    application.quoted = Some((low.as_secs(), high.as_secs_f64().ceil() as u64));
                }
                batch.put_raw(queue::entry_key(lane, sequence), &ticket[..]);
            }
        } else {
            batch.put_raw(key(prefix::REVIEW, &[&ticket]), &[][..]);
        }
        batch.put(key(prefix::APPLICATION, &[&ticket]), &application);
        batch.put_raw(open_key, &ticket[..]);
        self.store.apply(batch)?;
        if let Some(lane) = unordered {
            self.lanes.add_unordered(lane);
        }
        Ok(self.decorate(application, false))
    }

    /// The wait quoted for `position` in `lane` now.
    fn quote(&self, lane: Lane, position: u64) -> WaitEstimate {
        let depths = self.lanes.depths();
        self.throttle()
            .estimate(self.monotonic.elapsed(), lane, position, &depths)
    }

    fn decorate(&self, application: Application, existing: bool) -> ApplicationView {
        let mut opening_at = None;
        let (position, estimate) = match application.state {
            ApplicationState::Queued { sequence: 0, .. } => {
                opening_at = self.throttle_settings().opening_at;
                (None, Some(WaitEstimate::Unknown))
            }
            ApplicationState::Queued { lane, sequence } => {
                let position = self.lanes.position(lane, sequence);
                (Some(position), Some(self.quote(lane, position)))
            }
            _ => (None, None),
        };
        ApplicationView {
            application,
            position,
            estimate,
            credential: None,
            existing,
            opening_at,
        }
    }

    /// An application by ticket.
    pub fn view(&self, ticket: Ticket) -> Result<Option<ApplicationView>, StoreError> {
        let Some(mut application) = self
            .store
            .get::<Application>(&key(prefix::APPLICATION, &[&ticket.0]))?
        else {
            return Ok(None);
        };
        if let ApplicationState::Issued { credential_id } = &application.state {
            if self.pending().contains(&ticket) {
                // Issued, but not durable yet: still queued as far as anyone can tell.
                let lane = application.lane();
                application.state = ApplicationState::Queued { lane, sequence: 0 };
                let mut view = self.decorate(application, false);
                view.position = Some(1);
                view.estimate = Some(self.quote(lane, 1));
                view.opening_at = None;
                return Ok(Some(view));
            }
            let credential = self.credential(credential_id)?;
            let mut view = self.decorate(application, false);
            view.credential = credential;
            return Ok(Some(view));
        }
        Ok(Some(self.decorate(application, false)))
    }

    /// A credential record by id (hex).
    pub fn credential(&self, id: &str) -> Result<Option<CredentialRecord>, StoreError> {
        let Ok(bytes) = hex::decode(id) else {
            return Ok(None);
        };
        self.store.get(&key(prefix::CREDENTIAL, &[&bytes]))
    }

    fn photo_path(&self, digest: &PhotoDigest, format: PhotoFormat) -> PathBuf {
        let ext = match format {
            PhotoFormat::Jpeg => "jpg",
            PhotoFormat::Png => "png",
        };
        self.settings.photos_dir.join(format!("{digest}.{ext}"))
    }

    // ----- review -----

    /// Applications waiting for review, oldest ticket order, at most `limit`.
    pub fn reviews(&self, limit: usize) -> Result<Vec<Application>, StoreError> {
        let mut out = Vec::new();
        for entry in self.store.scan(prefix::REVIEW).take(limit) {
            let (k, _) = entry?;
            if let Some(app) = self
                .store
                .get::<Application>(&key(prefix::APPLICATION, &[&k[prefix::REVIEW.len()..]]))?
            {
                out.push(app);
            }
        }
        Ok(out)
    }

    /// The uploaded photo of an application.
    pub fn photo(&self, ticket: Ticket) -> Result<Option<(Vec<u8>, PhotoFormat)>, ApiError> {
        let app = self
            .store
            .get::<Application>(&key(prefix::APPLICATION, &[&ticket.0]))?
            .ok_or(ApiError::NotFound("application"))?;
        match app.photo {
            Photo::OnFile => Ok(None),
            Photo::Uploaded { digest, format, .. } => {
                let bytes = std::fs::read(self.photo_path(&digest, format))
                    .map_err(|e| ApiError::Internal(format!("reading photo: {e}")))?;
                Ok(Some((bytes, format)))
            }
        }
    }

    /// A reviewer's decision: `Ok(reason)` rejects, `None` approves.
    pub async fn review(
        &self,
        caller: &Caller,
        ticket: Ticket,
        rejection: Option<String>,
    ) -> Result<ApplicationView, ApiError> {
        let view = {
            let app = self
                .store
                .get::<Application>(&key(prefix::APPLICATION, &[&ticket.0]))?
                .ok_or(ApiError::NotFound("application"))?;
            let _guard = self.stripe(&app.licence);
            let mut app = self
                .store
                .get::<Application>(&key(prefix::APPLICATION, &[&ticket.0]))?
                .ok_or(ApiError::NotFound("application"))?;
            if app.state != ApplicationState::Reviewing {
                return Err(ApiError::Conflict(format!(
                    "the application is {}, not waiting for review",
                    app.state.name()
                )));
            }
            let now = self.now();
            let mut batch = Batch::default();
            batch.remove(key(prefix::REVIEW, &[&ticket.0]));
            let action = match &rejection {
                Some(reason) => {
                    app.reject(reason.clone(), now)
                        .map_err(|e| ApiError::Conflict(e.to_string()))?;
                    self.metrics.rejected("photo_rejected");
                    "review.reject"
                }
                None => {
                    let lane = app.lane();
                    let sequence = self.lanes.next_sequence(lane);
                    app.approve(sequence, now)
                        .map_err(|e| ApiError::Conflict(e.to_string()))?;
                    batch.put_raw(queue::entry_key(lane, sequence), &ticket.0[..]);
                    "review.approve"
                }
            };
            batch.put(key(prefix::APPLICATION, &[&ticket.0]), &app);
            let ticket_text = ticket.to_string();
            self.audit.record(
                &mut batch,
                caller,
                now,
                action,
                Some(app.licence.as_str()),
                Some(&ticket_text),
            );
            self.store.apply(batch)?;
            self.decorate(app, false)
        };
        self.commit().await?;
        self.queue_wakeup.notify();
        Ok(view)
    }

    // ----- drain -----

    /// Signs `take[i]` queued applications from the front of each lane `i` and applies the
    /// whole step as one atomic batch, then asks for its commit without waiting: the
    /// returned [`InFlight`] answers when it is durable, and until then its credentials are
    /// pending (shown as queued). `None` when nothing was waiting. Blocking: runs on the
    /// drain thread, which the pacer tells how many to take.
    pub fn drain_step(&self, take: [u64; 3]) -> Result<Option<InFlight>, StoreError> {
        // Nothing is taken while the trust list does not let the credential key sign, or
        // names no status list with room left: applications wait in the queue.
        let allowed = self.may_sign(KeyUse::Credential).map_err(|e| e.to_string());
        if !self.signing_allowed("credentials", allowed) {
            return Ok(None);
        }
        let mut room = self.status_lists.room();
        let has_room = if room == 0 {
            Err(self.no_status_list_room())
        } else {
            Ok(())
        };
        if !self.signing_allowed("status list room", has_room) {
            return Ok(None);
        }
        let mut entries = Vec::new();
        for lane in Lane::ALL {
            let n = take[lane.index()].min(room);
            room -= n;
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            if n == 0 {
                continue;
            }
            for entry in self.store.scan(&queue::lane_prefix(lane)).take(n) {
                let (k, v) = entry?;
                if let (Some((lane, sequence)), Ok(ticket)) =
                    (queue::parse_entry_key(&k), <[u8; 16]>::try_from(v.as_ref()))
                {
                    entries.push((lane, sequence, Ticket(ticket)));
                }
            }
        }
        if entries.is_empty() {
            return Ok(None);
        }
        // Each application is read once, before its licence is locked: only this thread
        // moves an application out of `Queued { lane, sequence }` (intake creates them,
        // review moves them into the queue), so what is read here is still current under
        // the lock. The licence record is read under the lock.
        let mut apps = Vec::with_capacity(entries.len());
        for (lane, sequence, ticket) in entries {
            let app = self
                .store
                .get::<Application>(&key(prefix::APPLICATION, &[&ticket.0]))?;
            apps.push((lane, sequence, ticket, app));
        }
        // Lock every licence of the step, each stripe once and in order (no other thread
        // holds two stripes, so this cannot deadlock).
        let mut stripes: Vec<usize> = apps
            .iter()
            .filter_map(|(_, _, _, app)| app.as_ref().map(|a| self.stripe_index(&a.licence)))
            .collect();
        stripes.sort_unstable();
        stripes.dedup();
        let guards: Vec<MutexGuard<'_, ()>> = stripes
            .iter()
            .map(|&n| self.stripes[n].lock().unwrap_or_else(|p| p.into_inner()))
            .collect();
        let mut report = DrainReport::default();
        let mut issued = Vec::new();
        let mut batch = Batch::default();
        let mut after = After::default();
        for (lane, sequence, ticket, app) in apps {
            report.taken[lane.index()] += 1;
            batch.remove(queue::entry_key(lane, sequence));
            after.served.push((lane, sequence));
            // The application's state decides, not the queue entry.
            let Some(app) =
                app.filter(|a| a.state == (ApplicationState::Queued { lane, sequence }))
            else {
                continue;
            };
            if self.issue_one(ticket, app, &mut batch, &mut after)? {
                report.issued += 1;
                issued.push(ticket);
            } else {
                report.rejected += 1;
            }
        }
        for lane in Lane::ALL {
            let served = after.served.iter().filter(|(l, _)| *l == lane);
            if let Some(sequence) = served.map(|(_, s)| *s).max() {
                batch.put(
                    key(prefix::META, &[b"served/", lane.as_str().as_bytes()]),
                    &sequence,
                );
            }
        }
        self.pending().extend(issued.iter().copied());
        self.in_flight
            .fetch_add(issued.len() as u64, Ordering::SeqCst);
        self.store.apply(batch)?;
        drop(guards);
        for (lane, sequence) in after.served {
            self.lanes.served(lane, sequence);
        }
        for (list, index, value) in after.list_values {
            self.status_lists.set(list, index, value);
        }
        if after.opened_list {
            self.trust_changed.notify_one();
        }
        let done = self.committer.commit_later()?;
        Ok(Some(InFlight {
            done,
            issued,
            report,
        }))
    }

    /// A drain step's commit answered: on success its credentials become visible.
    pub fn finish_step(
        &self,
        issued: &[Ticket],
        report: DrainReport,
        result: Result<(), StoreError>,
    ) {
        self.in_flight
            .fetch_sub(issued.len() as u64, Ordering::SeqCst);
        if let Err(e) = result {
            // Its credentials stay pending (shown as queued); the restart that a dead
            // committer calls for finds them either durable or still queued.
            tracing::error!(error = %e, "a drain step's commit failed");
            return;
        }
        {
            let mut pending = self.pending();
            for ticket in issued {
                pending.remove(ticket);
            }
        }
        self.metrics.credentials_issued.inc_by(report.issued as u64);
        if report.rejected > 0 {
            self.metrics
                .applications_rejected
                .get_or_create(&crate::metrics::ReasonLabels {
                    reason: "not_issuable".into(),
                })
                .inc_by(report.rejected as u64);
        }
    }

    /// Adds the issuing (`true`) or rejection (`false`) of one queued application to
    /// `batch`. The caller holds the licence's stripe and applies the batch.
    fn issue_one(
        &self,
        ticket: Ticket,
        mut app: Application,
        batch: &mut Batch,
        after: &mut After,
    ) -> Result<bool, StoreError> {
        let app_key = key(prefix::APPLICATION, &[&ticket.0]);
        let now = self.now();
        let number = app.licence.clone();
        let licence_key = key(prefix::LICENCE, &[number.as_str().as_bytes()]);
        let licence: Option<LicenceRecord> = self.store.get(&licence_key)?;
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
                issuer: &self.settings.issuer,
                credential_id,
                status: StatusReference {
                    index: 0,
                    uri: String::new(),
                },
                now,
                lifetime: self.settings.credential_lifetime,
            })
            .map_err(|e| e.to_string()),
        };
        let (mut claims, mut licence) = match (checked, licence) {
            (Ok(c), Some(l)) => (c, l),
            (checked, _) => {
                let reason = checked.err().unwrap_or_else(|| "not issuable".into());
                // The application cannot be issued: reject it with the reason.
                let _ = app.reject(reason, now);
                batch.put(app_key, &app);
                return Ok(false);
            }
        };
        let allocation = self.status_lists.allocate(&mut OsRng);
        after.opened_list |= allocation.opened_list;
        claims.status = StatusReference {
            index: u64::from(allocation.index),
            uri: self.status_lists.uri(allocation.list),
        };
        let signing = Instant::now();
        let token = keys::token::sign(&claims, &self.keys.credential);
        self.metrics
            .signing_seconds
            .observe(signing.elapsed().as_secs_f64());
        let id_hex = hex::encode(credential_id);
        let record = CredentialRecord {
            id: id_hex.clone(),
            licence: number.clone(),
            ticket,
            list: allocation.list,
            index: allocation.index,
            issued_at: now,
            expires_at: claims.expires_at,
            superseded: false,
            token: URL_SAFE_NO_PAD.encode(&token),
            photo: claims.licence.photo,
        };
        // Supersede the licence's earlier credentials.
        for mut old in self.credentials_from(app.previous)? {
            if !old.superseded {
                old.superseded = true;
                batch.put(credential_key(&old.id), &old);
                after.list_values.push((
                    old.list,
                    old.index,
                    issue::list_status(true, licence.state),
                ));
            }
        }
        if let Photo::Uploaded { digest, .. } = app.photo {
            licence.photo = Some(digest);
            batch.put(licence_key, &licence);
        }
        self.metrics
            .waited(now.0.saturating_sub(app.created_at.0), app.quoted);
        let _ = app.issue(id_hex.clone(), now);
        batch.put(app_key, &app);
        batch.put(credential_key(&id_hex), &record);
        Ok(true)
    }

    /// Every credential of a licence, newest first.
    pub fn licence_credentials(
        &self,
        number: &LicenceNumber,
    ) -> Result<Vec<CredentialRecord>, StoreError> {
        self.credentials_from(self.latest_application(number)?)
    }

    /// The credentials issued to the applications on the chain from `latest` back
    /// (see [`Application::previous`]), newest first.
    fn credentials_from(
        &self,
        latest: Option<Ticket>,
    ) -> Result<Vec<CredentialRecord>, StoreError> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut next = latest;
        while let Some(ticket) = next {
            if !seen.insert(ticket) {
                return Err(StoreError::Corrupt(format!(
                    "the application chain loops at {ticket}"
                )));
            }
            let Some(app) = self
                .store
                .get::<Application>(&key(prefix::APPLICATION, &[&ticket.0]))?
            else {
                break;
            };
            if let ApplicationState::Issued { credential_id } = &app.state
                && let Some(c) = self.credential(credential_id)?
            {
                out.push(c);
            }
            next = app.previous;
        }
        Ok(out)
    }

    // ----- refresh and status -----

    /// Re-signs a credential with a new expiry; same id, same status index.
    pub async fn refresh(&self, caller: &Caller, id: &str) -> Result<CredentialRecord, ApiError> {
        let allowed = self.may_sign(KeyUse::Credential).map_err(|e| e.to_string());
        if !self.signing_allowed("credentials", allowed) {
            return Err(ApiError::Unavailable { retry_after: 60 });
        }
        let record = self
            .credential(id)?
            .ok_or(ApiError::NotFound("credential"))?;
        let refreshed = {
            let _guard = self.stripe(&record.licence);
            let mut record = self
                .credential(id)?
                .ok_or(ApiError::NotFound("credential"))?;
            if record.superseded {
                return Err(ApiError::Conflict(
                    "the credential is superseded: use the newer one".into(),
                ));
            }
            let licence: LicenceRecord = self
                .store
                .get(&key(prefix::LICENCE, &[record.licence.as_str().as_bytes()]))?
                .ok_or(ApiError::NotFound("licence"))?;
            let now = self.now();
            let credential_id: [u8; 16] = hex::decode(&record.id)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| StoreError::Corrupt("credential id".into()))?;
            let claims = issue::claims(&IssueInput {
                licence: &licence,
                photo: Some(record.photo),
                issuer: &self.settings.issuer,
                credential_id,
                status: StatusReference {
                    index: u64::from(record.index),
                    uri: self.status_lists.uri(record.list),
                },
                now,
                lifetime: self.settings.credential_lifetime,
            })
            .map_err(|e| ApiError::Conflict(format!("cannot refresh: {e}")))?;
            let token = keys::token::sign(&claims, &self.keys.credential);
            record.issued_at = now;
            record.expires_at = claims.expires_at;
            record.token = URL_SAFE_NO_PAD.encode(&token);
            let mut batch = Batch::default();
            batch.put(credential_key(&record.id), &record);
            self.audit.record(
                &mut batch,
                caller,
                now,
                "credential.refresh",
                Some(record.licence.as_str()),
                Some(&record.id),
            );
            self.store.apply(batch)?;
            record
        };
        self.commit().await?;
        self.metrics.credentials_refreshed.inc();
        Ok(refreshed)
    }

    /// Live status; relying-party lookups are audited durably, with the purpose the caller
    /// declared, before the answer. Roles that must declare a purpose are refused without
    /// one, before anything is looked up.
    pub async fn live_status(
        &self,
        caller: &Caller,
        id: &str,
        purpose: Option<&Purpose>,
    ) -> Result<StatusView, ApiError> {
        if purpose.is_none() && crate::audit::purpose_required(caller.role) {
            return Err(ApiError::BadRequest(format!(
                "the {} role must declare the purpose of a lookup: send the X-Edl-Purpose header or a purpose query parameter",
                caller.role.as_str()
            )));
        }
        let credential = self
            .credential(id)?
            .ok_or(ApiError::NotFound("credential"))?;
        if self.pending().contains(&credential.ticket) {
            return Err(ApiError::NotFound("credential"));
        }
        let licence: LicenceRecord = self
            .store
            .get(&key(
                prefix::LICENCE,
                &[credential.licence.as_str().as_bytes()],
            ))?
            .ok_or(ApiError::NotFound("credential"))?;
        let now = self.now();
        let status = issue::live_status(&credential, &licence, now);
        if caller.role.is_relying_party() {
            self.lookups
                .record(
                    caller,
                    now,
                    licence.number.as_str(),
                    &credential.id,
                    purpose,
                )
                .await?;
        }
        Ok(StatusView {
            credential,
            licence,
            status,
            checked_at: now,
        })
    }

    // ----- registry -----

    /// A licence record.
    pub fn licence(&self, number: &LicenceNumber) -> Result<Option<LicenceRecord>, StoreError> {
        self.store
            .get(&key(prefix::LICENCE, &[number.as_str().as_bytes()]))
    }

    /// Creates or replaces a record (API).
    pub async fn put_licence(
        &self,
        caller: &Caller,
        number: &str,
        line: RegistryLine,
    ) -> Result<LicenceChange, ApiError> {
        let record = line
            .into_record(Some(number))
            .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
        let change = self.put_licence_uncommitted(caller, record)?;
        self.commit().await?;
        if change.reissue.is_some() {
            self.queue_wakeup.notify();
        }
        Ok(change)
    }

    /// Creates or replaces a record without waiting for durability (the import CLI
    /// commits in groups itself).
    pub fn put_licence_uncommitted(
        &self,
        caller: &Caller,
        record: LicenceRecord,
    ) -> Result<LicenceChange, StoreError> {
        let _guard = self.stripe(&record.number);
        let old = self.licence(&record.number)?;
        let action = if old.is_some() {
            "licence.update"
        } else {
            "licence.create"
        };
        self.change_licence_locked(caller, old, record, action)
    }

    /// Suspends, revokes, cancels or reinstates.
    pub async fn change_state(
        &self,
        caller: &Caller,
        number: &LicenceNumber,
        action: StateAction,
    ) -> Result<LicenceChange, ApiError> {
        let name = match action {
            StateAction::Suspend => "licence.suspend",
            StateAction::Revoke => "licence.revoke",
            StateAction::Cancel => "licence.cancel",
            StateAction::Reinstate => "licence.reinstate",
        };
        self.modify_licence(caller, number, name, |record| {
            record.state = registry::transition(record.state, action)
                .map_err(|e| ApiError::Conflict(e.to_string()))?;
            Ok(())
        })
        .await
    }

    /// Sets the points.
    pub async fn set_points(
        &self,
        caller: &Caller,
        number: &LicenceNumber,
        points: Points,
    ) -> Result<LicenceChange, ApiError> {
        self.modify_licence(caller, number, "licence.points", |record| {
            record.points = points;
            Ok(())
        })
        .await
    }

    /// Applies `change` to an existing licence record under its stripe, records it as
    /// `action`, and waits until it is durable.
    async fn modify_licence(
        &self,
        caller: &Caller,
        number: &LicenceNumber,
        action: &str,
        change: impl FnOnce(&mut LicenceRecord) -> Result<(), ApiError>,
    ) -> Result<LicenceChange, ApiError> {
        let done = {
            let _guard = self.stripe(number);
            let old = self.licence(number)?.ok_or(ApiError::NotFound("licence"))?;
            let mut new = old.clone();
            change(&mut new)?;
            self.change_licence_locked(caller, Some(old), new, action)?
        };
        self.commit().await?;
        Ok(done)
    }

    /// Writes a changed record with its consequences: a changed credential content
    /// supersedes the current credential and queues a re-issue in the priority lane; a
    /// changed state updates the status lists. Holds the licence's stripe.
    fn change_licence_locked(
        &self,
        caller: &Caller,
        old: Option<LicenceRecord>,
        new: LicenceRecord,
        action: &str,
    ) -> Result<LicenceChange, StoreError> {
        let now = self.now();
        let number = new.number.clone();
        let mut batch = Batch::default();
        batch.put(key(prefix::LICENCE, &[number.as_str().as_bytes()]), &new);
        self.audit
            .record(&mut batch, caller, now, action, Some(number.as_str()), None);
        let mut reissue = None;
        let mut list_updates = Vec::new();
        if let Some(old) = &old {
            let effect = registry::change_effect(old, &new);
            if effect.supersede || effect.state_changed {
                let latest = self.latest_application(&number)?;
                let credentials = self.credentials_from(latest)?;
                let had_current = credentials.iter().any(|c| !c.superseded);
                for mut c in credentials {
                    if effect.supersede && !c.superseded {
                        c.superseded = true;
                        batch.put(credential_key(&c.id), &c);
                    }
                    list_updates.push((
                        c.list,
                        c.index,
                        issue::list_status(c.superseded, new.state),
                    ));
                }
                if effect.supersede
                    && had_current
                    && new.state == LicenceState::Normal
                    && self.open_application(latest)?.is_none()
                {
                    let open_key = key(prefix::OPEN, &[number.as_str().as_bytes()]);
                    let mut ticket = [0u8; 16];
                    OsRng.fill_bytes(&mut ticket);
                    let lane = Lane::Reissue;
                    let sequence = self.lanes.next_sequence(lane);
                    let application = Application {
                        ticket: Ticket(ticket),
                        licence: number.clone(),
                        channel: Channel::Registry,
                        client: caller.client.clone(),
                        photo: Photo::OnFile,
                        state: ApplicationState::Queued { lane, sequence },
                        created_at: now,
                        updated_at: now,
                        reissue: true,
                        quoted: None,
                        previous: latest,
                    };
                    batch.put(key(prefix::APPLICATION, &[&ticket]), &application);
                    batch.put_raw(open_key, &ticket[..]);
                    batch.put_raw(queue::entry_key(lane, sequence), &ticket[..]);
                    reissue = Some(Ticket(ticket));
                }
            }
        }
        self.store.apply(batch)?;
        for (list, index, value) in list_updates {
            self.status_lists.set(list, index, value);
        }
        Ok(LicenceChange {
            record: new,
            created: old.is_none(),
            reissue,
        })
    }

    /// Updates the gauges (before a metrics scrape): depth and oldest age per lane,
    /// work in flight, measured and target drain rates.
    pub fn refresh_gauges(&self) {
        let now = self.now();
        let mono = self.monotonic.elapsed();
        for lane in Lane::ALL {
            let oldest = self
                .store
                .scan(&queue::lane_prefix(lane))
                .next()
                .and_then(Result::ok)
                .and_then(|(_, ticket)| {
                    self.store
                        .get::<Application>(&key(prefix::APPLICATION, &[ticket.as_ref()]))
                        .ok()
                        .flatten()
                })
                .map_or(0, |app| now.0.saturating_sub(app.created_at.0));
            self.metrics.lane(lane, self.lanes.depth(lane), oldest);
        }
        let throttle = self.throttle();
        self.metrics.drain(
            self.in_flight.load(Ordering::SeqCst),
            self.lanes.unordered(),
            throttle.measured_rate(mono),
            if throttle.is_paused() {
                0.0
            } else {
                throttle.settings().drain.rate
            },
        );
    }

    /// Forgets rested clients and licences in the admission limits (bounded memory).
    pub fn purge_admission(&self) {
        self.throttle().purge();
    }
}

fn client_error(e: crate::auth::ClientError) -> ApiError {
    use crate::auth::ClientError;
    match e {
        ClientError::Exists(_) => ApiError::Conflict(e.to_string()),
        ClientError::Unknown(_) => ApiError::NotFound("client"),
        ClientError::BadName => ApiError::Unprocessable(e.to_string()),
    }
}

fn throttle_key() -> Vec<u8> {
    key(prefix::META, &[b"throttle"])
}

fn credential_key(id_hex: &str) -> Vec<u8> {
    key(
        prefix::CREDENTIAL,
        &[&hex::decode(id_hex).unwrap_or_default()],
    )
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    let text = text.trim();
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .ok()
}

fn restore_lanes(store: &Store) -> Result<Lanes, StoreError> {
    let mut per_lane = [LaneRestore::default(); 3];
    for lane in Lane::ALL {
        let served: u64 = store
            .get(&key(prefix::META, &[b"served/", lane.as_str().as_bytes()]))?
            .unwrap_or(0);
        let mut restore = LaneRestore {
            last: served,
            ..LaneRestore::default()
        };
        for entry in store.scan(&queue::lane_prefix(lane)) {
            let (k, _) = entry?;
            if let Some((_, sequence)) = queue::parse_entry_key(&k) {
                restore.first_waiting.get_or_insert(sequence);
                restore.last = restore.last.max(sequence);
                restore.depth += 1;
            }
        }
        per_lane[lane.index()] = restore;
    }
    let mut unordered = [0u64; 3];
    for entry in store.scan(prefix::PREOPEN) {
        let (_, v) = entry?;
        if let Some(lane) = v.first().copied().and_then(queue::lane_from_byte) {
            unordered[lane.index()] += 1;
        }
    }
    Ok(Lanes::restore(per_lane, unordered))
}

fn restore_status_lists(store: &Store, base_url: String) -> Result<StatusLists, StoreError> {
    // Every allocated index belongs to a stored credential: the index is allocated in
    // memory and written with its credential in one batch, and a credential is never
    // shown before that batch is durable. So the credentials alone restore every index
    // taken, and an index lost in a crash was never seen outside.
    /// What a status list needs of a credential record: the token and the rest are
    /// skipped, not copied.
    #[derive(serde::Deserialize)]
    struct ListEntry {
        licence: LicenceNumber,
        list: u32,
        index: u32,
        superseded: bool,
    }
    let mut states: HashMap<String, LicenceState> = HashMap::new();
    let mut entries = Vec::new();
    for entry in store.scan(prefix::CREDENTIAL) {
        let (_, v) = entry?;
        let c: ListEntry =
            serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt("credential".into()))?;
        let state = match states.get(c.licence.as_str()) {
            Some(s) => *s,
            None => {
                let s = store
                    .get::<LicenceRecord>(&key(prefix::LICENCE, &[c.licence.as_str().as_bytes()]))?
                    .map_or(LicenceState::Revoked, |l| l.state);
                states.insert(c.licence.as_str().to_owned(), s);
                s
            }
        };
        entries.push((c.list, c.index, issue::list_status(c.superseded, state)));
    }
    Ok(StatusLists::restore(base_url, entries))
}

/// Stops the drain loop (checked between steps).
pub fn request_stop(service: &Service) {
    service.stopping.store(true, Ordering::SeqCst);
    service.queue_wakeup.notify();
}
