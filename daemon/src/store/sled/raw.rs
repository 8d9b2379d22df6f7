//! What the testing API needs of the sled engine beneath its commands: overwriting a
//! stored change record (to show that tampering is found) and the engine's raw write rate
//! (the ceiling the load harness compares issuance with).

use std::collections::HashSet;
use std::path::Path;

use keys::licence::LicenceNumber;
use keys::token::{CredentialClaims, CredentialId, LicenceDetails, StatusReference};
use keys::{SigningKey, UnixTime};
use rand_core::{OsRng, RngCore};

use super::{SledStore, commit, engine_error, layout};
use crate::store::{StoreError, StoreResult};

impl SledStore {
    /// Replaces the stored bytes of change record `position`, bypassing the chain.
    pub(crate) fn overwrite_change_record(&self, position: u64, bytes: &[u8]) -> StoreResult<()> {
        self.db
            .insert(layout::audit(position), bytes)
            .map_err(engine_error)?;
        self.db.flush().map_err(engine_error)?;
        Ok(())
    }
}

/// Signs `count` credentials with `key` and stores them, `batch` per durable commit, on
/// one thread: the engine's ceiling for issuance (the caller times it).
pub(crate) fn raw_issue(
    dir: &Path,
    key: &SigningKey,
    count: usize,
    batch: usize,
) -> Result<(), StoreError> {
    let db_dir = dir.join("db");
    std::fs::create_dir_all(&db_dir)?;
    let db = sled::Config::new()
        .path(&db_dir)
        .cache_capacity(256 << 20)
        .flush_every_ms(Some(1_000))
        .open()
        .map_err(engine_error)?;
    let number: LicenceNumber = "11010519491231002X"
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("{e}")))?;
    let classes = "C1"
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("{e:?}")))?;
    let from = time::Date::from_calendar_date(2020, time::Month::January, 1)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut synced = HashSet::new();
    let mut done = 0;
    while done < count {
        let mut step = sled::Batch::default();
        for _ in 0..batch.min(count - done) {
            // Random, as a credential's id is: sequential keys would only ever append at
            // the end of the tree, a cheaper pattern than real credentials give.
            let mut id = [0u8; 16];
            OsRng.fill_bytes(&mut id);
            let claims = CredentialClaims {
                issuer: "EDL-LOAD".into(),
                licence_number: number.clone(),
                credential_id: CredentialId(id),
                issued_at: UnixTime(1_900_000_000),
                not_before: UnixTime(1_900_000_000),
                expires_at: UnixTime(1_902_592_000),
                licence: LicenceDetails {
                    name: "Holder".into(),
                    classes,
                    validity: keys::licence::Validity::long_term(from),
                    authority: "Test".into(),
                    photo: keys::licence::PhotoDigest::of(b"photo"),
                },
                status: StatusReference {
                    index: done as u64,
                    uri: "https://edl.invalid/v1/status-lists/0".into(),
                },
            };
            let token = keys::token::sign(&claims, key);
            step.insert(layout::key(layout::CREDENTIAL, &[&id]), token);
            done += 1;
        }
        db.apply_batch(step).map_err(engine_error)?;
        commit::sync(&db, &db_dir, &mut synced)?;
    }
    Ok(())
}
