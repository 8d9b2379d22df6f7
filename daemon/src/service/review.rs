//! Review: the uploads waiting for a reviewer, their photos, and the decision that queues
//! or rejects an application, with its audit record.

use crate::domain::access::Caller;
use crate::domain::application::{Application, Photo, PhotoFormat, Ticket};
use crate::domain::photo::Outcome;
use crate::domain::registry::LicenceRecord;
use crate::service::Service;
use crate::service::intake::ApplicationView;
use crate::store::{Actor, DecideError, ReviewDecision, StoreError};

/// Why a review operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// No such application (or no uploaded photo to show).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The application is not waiting for review.
    #[error("the application is {0}, not waiting for review")]
    NotWaiting(&'static str),
    /// The photo file could not be read.
    #[error("reading the photo: {0}")]
    Photo(std::io::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The most waiting uploads a scrape counts: reviewers work through hundreds a day, and
/// the alert fires long before this many.
const REVIEWS_COUNTED: usize = 10_000;

/// An application waiting for review, with what the reviewer judges it against.
#[derive(Clone, Debug)]
pub struct ReviewItem {
    /// The application.
    pub application: Application,
    /// Its licence record, when the registry still holds it.
    pub licence: Option<LicenceRecord>,
    /// The pre-checks' outcome and findings at intake; absent for uploads accepted before
    /// the pre-checks ran at intake.
    pub precheck: Option<Outcome>,
}

impl Service {
    /// Applications waiting for review, oldest first, at most `limit`, each with its
    /// licence record and pre-check findings.
    pub async fn reviews(&self, limit: usize) -> Result<Vec<ReviewItem>, StoreError> {
        // The store reads them oldest first through its index, only as many as asked.
        let applications = self.store.reviews(limit).await?;
        let mut items = Vec::with_capacity(applications.len());
        for application in applications {
            let licence = self.store.licence(&application.licence).await?;
            let precheck = match &application.photo {
                Photo::Uploaded { digest, .. } => self.precheck_findings(digest).await,
                Photo::OnFile => None,
            };
            items.push(ReviewItem {
                application,
                licence,
                precheck,
            });
        }
        Ok(items)
    }

    /// Updates the review gauges (before a metrics scrape): how many uploads wait, counted
    /// up to [`REVIEWS_COUNTED`], and the oldest one's age.
    pub async fn refresh_review_gauges(&self) {
        let Ok(waiting) = self.store.reviews(REVIEWS_COUNTED).await else {
            return;
        };
        // Oldest first: the first is the oldest.
        let oldest = waiting
            .first()
            .map_or(0, |a| self.now().0.saturating_sub(a.created_at.0));
        self.metrics.intake.reviews(waiting.len() as u64, oldest);
    }

    /// The findings kept beside an uploaded photo; none when absent or unreadable (the
    /// reviewer then judges the photo alone).
    async fn precheck_findings(&self, digest: &keys::licence::PhotoDigest) -> Option<Outcome> {
        let path = self.findings_path(digest);
        let bytes = tokio::task::spawn_blocking(move || std::fs::read(path))
            .await
            .ok()?
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The uploaded photo of an application.
    pub async fn photo(&self, ticket: Ticket) -> Result<(Vec<u8>, PhotoFormat), ReviewError> {
        let app = self
            .store
            .application(ticket)
            .await?
            .ok_or(ReviewError::NotFound("application"))?;
        let Photo::Uploaded { digest, format, .. } = app.photo else {
            return Err(ReviewError::NotFound("uploaded photo"));
        };
        let path = self.photo_path(&digest, format);
        let bytes = tokio::task::spawn_blocking(move || std::fs::read(path))
            .await
            .map_err(|e| ReviewError::Photo(std::io::Error::other(e)))?
            .map_err(ReviewError::Photo)?;
        Ok((bytes, format))
    }

    /// A reviewer's decision: `Some(reason)` rejects, `None` approves. Durable and audited
    /// when this returns.
    pub async fn review(
        &self,
        caller: &Caller,
        ticket: Ticket,
        rejection: Option<String>,
    ) -> Result<ApplicationView, ReviewError> {
        let rejecting = rejection.is_some();
        let app = self
            .store
            .decide_review(ReviewDecision {
                ticket,
                rejection,
                actor: Actor {
                    caller: caller.clone(),
                    at: self.now(),
                },
            })
            .await
            .map_err(|e| match e {
                DecideError::NotFound => ReviewError::NotFound("application"),
                DecideError::NotWaiting(state) => ReviewError::NotWaiting(state),
                DecideError::Store(e) => ReviewError::Store(e),
            })?;
        if rejecting {
            self.metrics.rejected("photo_rejected");
        } else {
            self.signer.wake();
        }
        Ok(self.decorate(app, None, false))
    }
}
