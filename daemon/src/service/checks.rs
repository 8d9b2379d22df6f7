//! A holder's "who checked me": the relying-party lookups of a licence's credentials,
//! newest first, read through the lookup log's index by licence. Each listing is itself
//! audited in the lookup log, durably, before it is answered.

use keys::licence::LicenceNumber;

use crate::domain::access::Caller;
use crate::service::Service;
use crate::service::lookup::LookupError;
use crate::store::lookups::index::Page;

/// The audit action of a gateway or window listing a licence's lookups.
pub(crate) const LOOKUPS_READ_ACTION: &str = "lookups.read";

/// The most lookups one page lists.
pub(crate) const MAX_PAGE: usize = 100;

impl Service {
    /// A page of the lookups of `number`'s credentials, at most `limit`, numbered before
    /// `before` (from the newest if `None`). An unknown licence is not found; the listing
    /// is audited before anything is read.
    pub(crate) async fn licence_lookups(
        &self,
        caller: &Caller,
        number: &LicenceNumber,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Page, LookupError> {
        if self.store.licence(number).await?.is_none() {
            return Err(LookupError::UnknownLicence);
        }
        let limit = limit.clamp(1, MAX_PAGE);
        let detail = match before {
            Some(before) => format!("before={before} limit={limit}"),
            None => format!("limit={limit}"),
        };
        self.lookups
            .record(
                caller,
                self.now(),
                number.as_str(),
                &detail,
                LOOKUPS_READ_ACTION,
                None,
            )
            .await?;
        Ok(self
            .lookups
            .lookups_of(number.as_str(), before, limit)
            .await?)
    }
}
