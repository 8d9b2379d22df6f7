//! Intake: an application is admitted by the throttles, its uploaded photo made durable,
//! then stored with its place in the queue (or for review) and answered with its position
//! and a wait estimate. Also reading an application back by ticket, which only the client
//! that made it (or its delegate) may do.

use std::path::PathBuf;
use std::time::Duration;

use keys::UnixTime;
use keys::jwk::HolderJwk;
use keys::licence::{LicenceNumber, LicenceState, PhotoDigest};
use rand_core::{OsRng, RngCore};

use crate::domain::access::{Caller, Role, applicant_channel};
use crate::domain::application::{
    Application, ApplicationState, Channel, Photo, PhotoError, PhotoFormat, PhotoSource, Ticket,
    check_photo,
};
use crate::domain::issue::CredentialRecord;
use crate::domain::photo::{Finding, Outcome};
use crate::domain::queue::Lane;
use crate::domain::throttle::admission::{LimitName, Refusal, Verdict};
use crate::domain::throttle::estimate::WaitEstimate;
use crate::service::Service;
use crate::store::{Admit, AdmitError, Admitted, StoreError};

/// An application as the edge parsed it: the licence number checked, the photo decoded.
#[derive(Clone, Debug)]
pub struct ApplyRequest {
    /// The licence.
    pub licence: LicenceNumber,
    /// The channel the body named, if any (it must match the caller's role).
    pub channel: Option<Channel>,
    /// The photo.
    pub photo: PhotoInput,
    /// The holder's device key (checked, in its minimal form) to bind the credential to.
    pub holder_key: Option<HolderJwk>,
}

/// Where an application's photo comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PhotoInput {
    /// The compliant photo on file.
    OnFile,
    /// An upload, decoded.
    Upload {
        /// The image bytes.
        bytes: Vec<u8>,
        /// Camera or album.
        source: PhotoSource,
    },
}

/// Which limit refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// This client is over its rate (429).
    Client,
    /// Too many applications for this licence (429).
    Licence,
    /// Applications arrive faster than the service takes them (503).
    Intake,
    /// The queue's expected wait is beyond the bound (503).
    Queue,
    /// The issuance side is saturated: shed before any work (503).
    Overload,
}

impl Limit {
    /// The lowercase name, as problem bodies and metrics give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Client => "client",
            Limit::Licence => "licence",
            Limit::Intake => "intake",
            Limit::Queue => "queue",
            Limit::Overload => "overload",
        }
    }
}

impl From<LimitName> for Limit {
    fn from(name: LimitName) -> Limit {
        match name {
            LimitName::Client => Limit::Client,
            LimitName::Licence => Limit::Licence,
            LimitName::Intake => Limit::Intake,
            LimitName::Queue => Limit::Queue,
        }
    }
}

/// A refusal by admission, with an honest `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// Which limit.
    pub limit: Limit,
    /// Whole seconds before a retry can succeed.
    pub retry_after: u64,
    /// For a full queue: when its backlog is expected to clear.
    pub clears_at: Option<UnixTime>,
}

/// Why an application was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Admission refused it.
    #[error("throttled by the {} limit", .0.limit.as_str())]
    Throttled(Refused),
    /// The caller's role does not apply for holders.
    #[error("the {} role does not apply", .0.as_str())]
    NotAnApplicant(Role),
    /// The body named a channel other than the caller's.
    #[error("channel does not match the client's role {}", .0.as_str())]
    ChannelMismatch(Role),
    /// The registry holds no such licence.
    #[error("no licence with this number in the registry")]
    UnknownLicence,
    /// The licence is not in force.
    #[error("the licence is {0}")]
    NotInForce(LicenceState),
    /// An on-file photo was asked for and there is none.
    #[error("no compliant photo on file: upload one (photo_source camera or album)")]
    NoPhotoOnFile,
    /// The licence's open application is bound to another device key (or to none).
    #[error(
        "an application for this licence is open with another holder_key: wait until it is \
         issued or rejected, then apply again with the new key"
    )]
    HolderKeyMismatch,
    /// The uploaded photo is not acceptable.
    #[error("photo: {0}")]
    Photo(#[from] PhotoError),
    /// The photo pre-checks found a clear failure: these findings (the failed ones first)
    /// tell the holder why.
    #[error("the photo does not meet the rules")]
    PhotoRefused(Vec<Finding>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The findings that did not pass, failed ones first; the passed ones after them.
fn worst_first(mut findings: Vec<Finding>) -> Vec<Finding> {
    findings.sort_by_key(|f| std::cmp::Reverse(f.verdict));
    findings
}

/// Why an application could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No such application, or it is not the caller's to read (the same answer, so tickets
    /// cannot be probed).
    #[error("application not found")]
    NotFound,
    /// It is not issued (for its QR images).
    #[error("no credential issued for this application")]
    NotIssued,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An application as its client sees it.
#[derive(Clone, Debug)]
pub struct ApplicationView {
    /// The application (shown as queued while its issuance is not yet durable).
    pub application: Application,
    /// Position when queued (1 = next).
    pub position: Option<u64>,
    /// Wait estimate when queued (computed once, here).
    pub estimate: Option<WaitEstimate>,
    /// The credential when issued.
    pub credential: Option<CredentialRecord>,
    /// Whether an open application already existed (idempotent apply).
    pub existing: bool,
    /// When queued before the opening time: the opening (Unix seconds); the application
    /// gets its place in random order then.
    pub opening_at: Option<u64>,
}

impl Service {
    /// Accepts an application, or returns the open one for the licence. Answers once the
    /// application is durable.
    pub async fn apply(
        &self,
        caller: &Caller,
        request: ApplyRequest,
    ) -> Result<ApplicationView, ApplyError> {
        let channel =
            applicant_channel(caller.role).ok_or(ApplyError::NotAnApplicant(caller.role))?;
        if request.channel.is_some_and(|c| c != channel) {
            return Err(ApplyError::ChannelMismatch(caller.role));
        }
        let lane = match channel {
            Channel::Window => Lane::Window,
            _ => Lane::First,
        };
        let shadowed = self.admit(caller, &request.licence, lane)?;
        let (client, licence) = (caller.client.clone(), request.licence.clone());
        let accepted = self.accept(caller, channel, request).await;
        if let Err(ApplyError::Store(_)) = &accepted {
            // Never accepted: a retry once the store is back must not meet a 429 for it.
            self.throttles.refund(&client, licence.as_str(), &shadowed);
            self.metrics.intake.refunded();
        }
        accepted
    }

    /// Stores an admitted application (its photo first), or returns the open one for the
    /// licence.
    async fn accept(
        &self,
        caller: &Caller,
        channel: Channel,
        request: ApplyRequest,
    ) -> Result<ApplicationView, ApplyError> {
        let photo = match request.photo {
            PhotoInput::OnFile => Photo::OnFile,
            PhotoInput::Upload { bytes, source } => {
                let format = check_photo(&bytes, self.settings.max_photo_bytes)?;
                let (bytes, outcome) = self.precheck(bytes).await?;
                if let Outcome::Refuse(findings) = outcome {
                    self.metrics.rejected("photo_refused");
                    self.metrics.intake.photo_outcome("refuse");
                    return Err(ApplyError::PhotoRefused(worst_first(findings)));
                }
                self.metrics.intake.photo_outcome(match outcome {
                    Outcome::Review(_) => "review",
                    _ => "pass",
                });
                let digest = PhotoDigest::of(&bytes);
                self.keep_photo(&digest, format, bytes, &outcome).await?;
                Photo::Uploaded {
                    digest,
                    format,
                    source,
                }
            }
        };
        let mut ticket = [0u8; 16];
        OsRng.fill_bytes(&mut ticket);
        let quote = |lane: Lane, position: u64| match self.quote(lane, position) {
            WaitEstimate::Range { low, high } => {
                Some((low.as_secs(), high.as_secs_f64().ceil() as u64))
            }
            WaitEstimate::Unknown => None,
        };
        let admitted = self
            .store
            .admit(Admit {
                ticket: Ticket(ticket),
                licence: request.licence,
                channel,
                client: caller.client.clone(),
                photo,
                holder_key: request.holder_key.clone(),
                at: self.now(),
                before_opening: self.opening_ahead().is_some(),
                quote: &quote,
            })
            .await
            .map_err(|e| {
                let (reason, error) = match e {
                    AdmitError::UnknownLicence => ("unknown_licence", ApplyError::UnknownLicence),
                    AdmitError::NotInForce(s) => {
                        ("licence_not_in_force", ApplyError::NotInForce(s))
                    }
                    AdmitError::NoPhotoOnFile => ("no_photo_on_file", ApplyError::NoPhotoOnFile),
                    AdmitError::Store(e) => return ApplyError::Store(e),
                };
                self.metrics.rejected(reason);
                error
            })?;
        Ok(match admitted {
            // The open application answers a repeated request; one with another device key
            // must wait for it to finish (the credential is bound to one key).
            Admitted::Existing(app) if app.holder_key != request.holder_key => {
                return Err(ApplyError::HolderKeyMismatch);
            }
            Admitted::Existing(app) => self.decorate(app, None, true),
            Admitted::New(app) => {
                self.metrics.applications_accepted.inc();
                if let Some((low, high)) = app.quoted {
                    self.metrics.quoted(low, high);
                }
                if matches!(app.state, ApplicationState::Queued { .. }) {
                    self.signer.wake();
                }
                self.decorate(app, None, false)
            }
        })
    }

    /// Admission: every limit in force decides, shadow refusals are counted, an enforced
    /// refusal is returned; an admission returns its shadow refusals.
    fn admit(
        &self,
        caller: &Caller,
        number: &LicenceNumber,
        lane: Lane,
    ) -> Result<Vec<Refusal>, ApplyError> {
        let backlog = self.store.queue().backlog();
        let (verdict, settings) =
            self.throttles
                .admit(&caller.client, number.as_str(), lane, &backlog);
        self.metrics.admission(&verdict, &settings.admission);
        match verdict {
            Verdict::Admit { shadowed } => Ok(shadowed),
            Verdict::Refuse { refusal, .. } => Err(ApplyError::Throttled(Refused {
                limit: refusal.limit.into(),
                retry_after: refusal.retry_after,
                clears_at: match refusal.limit {
                    LimitName::Queue => refusal.clears_in.map(|s| self.now().plus(s)),
                    _ => None,
                },
            })),
        }
    }

    /// Whether the opening time is still ahead (nothing is issued before it): how long.
    pub fn opening_ahead(&self) -> Option<Duration> {
        let now = self.now().0;
        self.throttles
            .settings()
            .opening_at
            .filter(|t| now < *t)
            .map(|t| Duration::from_secs(t - now))
    }

    /// The wait quoted for `position` in `lane` now.
    fn quote(&self, lane: Lane, position: u64) -> WaitEstimate {
        self.throttles
            .quote(lane, position, &self.store.queue().depth)
    }

    /// An application as its client sees it: position and wait when queued (computed
    /// once), the credential when issued.
    pub(crate) fn decorate(
        &self,
        application: Application,
        credential: Option<CredentialRecord>,
        existing: bool,
    ) -> ApplicationView {
        let mut opening_at = None;
        let (position, estimate) = match application.state {
            ApplicationState::Queued { sequence: 0, .. } => {
                opening_at = self.throttles.settings().opening_at;
                (None, Some(WaitEstimate::Unknown))
            }
            ApplicationState::Queued { lane, sequence } => {
                let position = self.store.queue().position(lane, sequence);
                (Some(position), Some(self.quote(lane, position)))
            }
            _ => (None, None),
        };
        ApplicationView {
            application,
            position,
            estimate,
            credential,
            existing,
            opening_at,
        }
    }

    /// An application by ticket, for the client that made it or its delegate; anyone else
    /// gets [`ReadError::NotFound`], as for an unknown ticket.
    pub async fn view(
        &self,
        caller: &Caller,
        ticket: Ticket,
    ) -> Result<ApplicationView, ReadError> {
        let application = self
            .store
            .application(ticket)
            .await?
            .filter(|a| self.clients.may_act_for(caller, &a.client))
            .ok_or(ReadError::NotFound)?;
        let credential = match &application.state {
            ApplicationState::Issued { credential_id } => {
                self.store.credential(credential_id).await?
            }
            _ => None,
        };
        Ok(self.decorate(application, credential, false))
    }

    /// The issued credential of an application, for its client or delegate.
    pub async fn issued(
        &self,
        caller: &Caller,
        ticket: Ticket,
    ) -> Result<CredentialRecord, ReadError> {
        self.view(caller, ticket)
            .await?
            .credential
            .ok_or(ReadError::NotIssued)
    }

    /// Where an uploaded photo is kept.
    pub(crate) fn photo_path(&self, digest: &PhotoDigest, format: PhotoFormat) -> PathBuf {
        let ext = match format {
            PhotoFormat::Jpeg => "jpg",
            PhotoFormat::Png => "png",
        };
        self.settings.photos_dir.join(format!("{digest}.{ext}"))
    }

    /// Where the pre-check findings of an uploaded photo are kept: beside the photo,
    /// named by its digest, since the same bytes always give the same findings under the
    /// thresholds in force when it arrived.
    pub(crate) fn findings_path(&self, digest: &PhotoDigest) -> PathBuf {
        self.settings
            .photos_dir
            .join(format!("{digest}.findings.json"))
    }

    /// Runs the photo pre-checks off the async workers: decoding and measuring a photo
    /// takes milliseconds of CPU.
    async fn precheck(&self, bytes: Vec<u8>) -> Result<(Vec<u8>, Outcome), StoreError> {
        let thresholds = self.settings.photo.clone();
        tokio::task::spawn_blocking(move || {
            let outcome = crate::domain::photo::check(&bytes, &thresholds);
            (bytes, outcome)
        })
        .await
        .map_err(|e| StoreError::Io(format!("checking the photo: {e}")))
    }

    /// Makes an uploaded photo and its pre-check findings durable before any record
    /// points at them.
    async fn keep_photo(
        &self,
        digest: &PhotoDigest,
        format: PhotoFormat,
        bytes: Vec<u8>,
        outcome: &Outcome,
    ) -> Result<(), StoreError> {
        let path = self.photo_path(digest, format);
        let findings_path = self.findings_path(digest);
        let findings = serde_json::to_vec(outcome)
            .map_err(|e| StoreError::Io(format!("encoding the findings: {e}")))?;
        tokio::task::spawn_blocking(move || {
            if !findings_path.exists() {
                crate::store::files::write_durably(&findings_path, &findings, 0o600)?;
            }
            if path.exists() {
                return Ok(());
            }
            crate::store::files::write_durably(&path, &bytes, 0o600)
        })
        .await
        .map_err(|e| StoreError::Io(format!("storing the photo: {e}")))??;
        Ok(())
    }
}
