//! The trust list served, and whether the signing keys may sign by it: re-signing it here
//! (development, or `[keys] root`) with a growing sequence number, or serving one signed
//! offline once it verifies against the pinned roots. The pure checks are
//! `domain::trust`'s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use keys::KeyUse;

use crate::domain::access::{Caller, Role};
use crate::domain::audit::AuditRecord;
use crate::domain::trust::{self, SignedTrust, TrustError, TrustInput};
use crate::keyfiles::{KeySet, Root};
use crate::service::Service;
use crate::store::StoreError;

/// The trust list side of the daemon's state.
pub struct TrustState {
    /// The signing keys and where the trust list comes from.
    pub keys: KeySet,
    /// The list served; replaced whole, never edited.
    served: RwLock<Arc<SignedTrust>>,
    /// The offline list file's content last examined, so an unchanged file is not checked
    /// again every poll.
    file_seen: Mutex<Vec<u8>>,
    /// Asks for the list to be re-signed (a status list opened).
    pub changed: tokio::sync::Notify,
    /// Why signing is held back, by what is held: logged once when it starts and ends.
    held: Mutex<HashMap<&'static str, String>>,
}

impl TrustState {
    /// Nothing served yet.
    pub fn new(keys: KeySet) -> TrustState {
        TrustState {
            keys,
            served: RwLock::new(Arc::new(SignedTrust::empty())),
            file_seen: Mutex::new(Vec::new()),
            changed: tokio::sync::Notify::new(),
            held: Mutex::new(HashMap::new()),
        }
    }

    /// The list served.
    pub fn list(&self) -> Arc<SignedTrust> {
        self.served
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn serve(&self, signed: SignedTrust) {
        *self.served.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(signed);
    }

    /// Whether the trust list is signed offline (and read from a file) rather than here.
    pub fn is_offline(&self) -> bool {
        matches!(self.keys.root, Root::Offline { .. })
    }

    /// Records whether `what` may go ahead, logging only when that changes; returns it.
    pub fn signing_allowed(&self, what: &'static str, check: Result<(), String>) -> bool {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
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
}

impl Service {
    /// The trust list served.
    pub fn trust_list(&self) -> Arc<SignedTrust> {
        self.trust.list()
    }

    /// Re-signs the trust list with the next sequence number, which is durable first.
    /// With an offline root there is nothing to sign here.
    pub async fn resign_trust_list(&self) -> Result<(), StoreError> {
        let Root::Key(root) = &self.trust.keys.root else {
            return Ok(());
        };
        let now = self.now();
        let keys = [
            (&self.trust.keys.credential, KeyUse::Credential),
            (&self.trust.keys.status, KeyUse::Status),
        ];
        let ids: Vec<String> = keys.iter().map(|(k, _)| k.key_id().to_string()).collect();
        // Tolerate verifiers whose clocks run a little behind.
        let first_use = now.minus(keys::token::DEFAULT_CLOCK_SKEW);
        let stamp = self.store.next_trust_list(&ids, first_use).await?;
        let windows = keys
            .into_iter()
            .zip(stamp.first_use)
            .map(|((key, key_use), not_before)| (key, key_use, not_before))
            .collect();
        let signed = trust::sign(
            TrustInput {
                sequence: stamp.sequence,
                now,
                validity: self.settings.trust_list_validity,
                issuer: &self.settings.issuer,
                keys: windows,
                key_validity: self.settings.key_validity,
                status_lists: self.status_lists.uris(),
            },
            root,
        );
        self.trust.serve(signed);
        Ok(())
    }

    /// Reads the trust list signed offline from its file and serves it as-is if it is new:
    /// it must verify against the pinned roots, be for this issuer and be no older than
    /// the last list served (whose sequence is kept durably). `starting`: it must also name
    /// this daemon's credential and status keys, unrevoked and with signing windows
    /// covering now, and every status list in use, or the daemon does not start. Later (a
    /// reload), a list that verifies is served even when it revokes or ends this daemon's
    /// keys: it must reach verifiers, and signing with those keys stops. Returns whether a
    /// new list is served.
    pub async fn load_trust_list(&self, starting: bool) -> anyhow::Result<bool> {
        let Root::Offline {
            trust_list: path,
            pinned,
        } = &self.trust.keys.root
        else {
            return Ok(false);
        };
        let bytes = {
            let file = path.clone();
            tokio::task::spawn_blocking(move || std::fs::read(file))
                .await?
                .with_context(|| format!("reading the trust list {}", path.display()))?
        };
        {
            let mut seen = self
                .trust
                .file_seen
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if *seen == bytes {
                return Ok(false);
            }
            seen.clone_from(&bytes);
        }
        let served = self.store.trust_sequence().await?;
        let signed = trust::check_offline(&bytes, pinned, served, &self.settings.issuer)
            .with_context(|| format!("trust list {}", path.display()))?;
        if signed.bytes == self.trust.list().bytes {
            return Ok(false);
        }
        let now = self.now();
        let mut problems: Vec<TrustError> = [
            (&self.trust.keys.credential, KeyUse::Credential),
            (&self.trust.keys.status, KeyUse::Status),
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
            let audit = AuditRecord::change(&daemon, now, "keys.trust_list", None, Some(&detail));
            self.store
                .serve_trust_list(newer.then_some(signed.sequence), audit)
                .await?;
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
        self.trust.serve(signed);
        Ok(true)
    }

    /// Whether the key of `key_use` may sign now, by the trust list being served.
    pub fn may_sign(&self, key_use: KeyUse) -> Result<(), TrustError> {
        let key = match key_use {
            KeyUse::Status => &self.trust.keys.status,
            _ => &self.trust.keys.credential,
        };
        trust::may_sign(&self.trust.list().list, key_use, key.public(), self.now())
    }

    /// Why signing is held back now, if it is: the trust list served does not let a key
    /// sign, or names no status list with room left (for operators: `GET /admin/v1/queue`).
    pub fn signing_held(&self) -> Vec<String> {
        let mut held: Vec<String> = [KeyUse::Credential, KeyUse::Status]
            .into_iter()
            .filter_map(|key_use| self.may_sign(key_use).err())
            .map(|e| e.to_string())
            .collect();
        if self.store.index_room(self.status_lists.max_lists()) == 0 {
            held.push(self.no_status_list_room());
        }
        held
    }

    /// Sets the gauges of what signing depends on (before a metrics scrape): the trust
    /// list's times, this daemon's keys' windows in it, each status list's latest token,
    /// and which kinds of signing are held back.
    pub fn refresh_trust_gauges(&self) {
        let g = &self.metrics.trust;
        let served = self.trust_list();
        g.trust_list_issued.set(served.list.issued_at.0 as f64);
        g.trust_list_next_update.set(served.next_update.0 as f64);
        for (key_use, key, name) in [
            (
                KeyUse::Credential,
                &self.trust.keys.credential,
                "credential",
            ),
            (KeyUse::Status, &self.trust.keys.status, "status"),
        ] {
            let not_after = served
                .list
                .keys
                .iter()
                .filter(|k| k.key_use == key_use && k.public == *key.public() && !k.revoked)
                .map(|k| k.not_after.0)
                .max();
            if let Some(not_after) = not_after {
                g.key_not_after
                    .get_or_create(&vec![
                        ("use", name.to_owned()),
                        ("kid", key.public().key_id().to_string()),
                    ])
                    .set(not_after as f64);
            }
        }
        for list in 0..self.status_lists.count() {
            if let Some(signed) = self.status_lists.signed(list) {
                let labels = vec![("list", list.to_string())];
                g.status_list_issued
                    .get_or_create(&labels)
                    .set(signed.issued_at.0 as f64);
                g.status_list_expiry
                    .get_or_create(&labels)
                    .set(signed.issued_at.plus(self.settings.status_validity).0 as f64);
            }
        }
        let room = self.store.index_room(self.status_lists.max_lists()) > 0;
        for (what, held) in [
            ("credentials", self.may_sign(KeyUse::Credential).is_err()),
            ("status_lists", self.may_sign(KeyUse::Status).is_err()),
            ("status_list_room", !room),
        ] {
            g.signing_held
                .get_or_create(&vec![("what", what.to_owned())])
                .set(i64::from(held));
        }
    }

    /// Why issuing waits when no status list has room left.
    pub(crate) fn no_status_list_room(&self) -> String {
        let count = self.status_lists.count();
        format!(
            "the trust list names no status list after {}: install one that names {}",
            self.status_lists.uri(count.saturating_sub(1)),
            self.status_lists.uri(count)
        )
    }
}
