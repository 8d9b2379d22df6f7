//! Review: the uploads waiting for a reviewer, their photos, and the decision that queues
//! or rejects an application, with its audit record.

use crate::domain::access::Caller;
use crate::domain::application::{Application, Photo, PhotoFormat, Ticket};
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

impl Service {
    /// Applications waiting for review, oldest first, at most `limit`.
    pub async fn reviews(&self, limit: usize) -> Result<Vec<Application>, StoreError> {
        self.store.reviews(limit).await
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
