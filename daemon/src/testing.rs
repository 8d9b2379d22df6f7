//! The testing API: what the end-to-end tests and the load harness need of a data
//! directory and of the daemon's tables, without knowing the storage engine. Everything
//! here opens a stopped daemon's data directory (or an empty one) through the engine.

pub mod portrait;

use std::path::Path;

use anyhow::Context;
use keys::UnixTime;
use keys::licence::LicenceNumber;

pub use crate::cli::import::csv_line;
use crate::domain::access::Caller;
pub use crate::domain::access::Role;
use crate::domain::application::{Channel, Photo, Ticket};
pub use crate::domain::audit::AuditRecord;
pub use crate::domain::photo;
pub use crate::domain::registry::{LicenceRecord, RegistryLine};
pub use crate::service::clients::read_dev_clients;
pub use crate::service::signing::yield_cpu_to_verification;
use crate::store::sled::SledStore;
use crate::store::{Actor, Admit, LicenceChange, LicenceEdit, Store};

/// The change audit log's stored records, in order: (record number, stored bytes).
pub async fn change_records(data_dir: &Path) -> anyhow::Result<Vec<(u64, Vec<u8>)>> {
    let store = open(data_dir)?;
    let mut out = Vec::new();
    let mut from = 1;
    loop {
        let page = store.audit_records(from, 4096).await?;
        let Some((last, _)) = page.last() else {
            break;
        };
        from = last + 1;
        out.extend(page);
    }
    store.close().await?;
    Ok(out)
}

/// Replaces the stored bytes of change record `position` (to test that tampering is
/// found), bypassing the chain.
pub async fn tamper_change_record(
    data_dir: &Path,
    position: u64,
    bytes: &[u8],
) -> anyhow::Result<()> {
    let store = open(data_dir)?;
    store.overwrite_change_record(position, bytes)?;
    store.close().await?;
    Ok(())
}

/// A stored audit record, decoded (its place in the chain not checked).
pub fn decode_record(bytes: &[u8]) -> Result<AuditRecord, String> {
    crate::domain::audit::chain::decode(bytes)
}

/// How many credentials the data directory holds.
pub async fn credential_count(data_dir: &Path) -> anyhow::Result<usize> {
    let store = open(data_dir)?;
    let count = store.status_entries().await?.len();
    store.close().await?;
    Ok(count)
}

/// Writes licence records into a stopped daemon's data directory, as the registry would;
/// with `queued`, each licence also gets an application waiting in the first-applications
/// lane, made by `client` at `at`.
pub async fn preload(
    data_dir: &Path,
    records: Vec<LicenceRecord>,
    queued: bool,
    client: &str,
    at: UnixTime,
) -> anyhow::Result<()> {
    let store = open(data_dir)?;
    let actor = Actor {
        caller: Caller {
            client: client.to_owned(),
            role: Role::Registry,
        },
        at,
    };
    let numbers: Vec<LicenceNumber> = records.iter().map(|r| r.number.clone()).collect();
    for chunk in records.chunks(10_000) {
        let changes = chunk
            .iter()
            .map(|r| LicenceChange {
                number: r.number.clone(),
                edit: LicenceEdit::Put(r.clone()),
                actor: actor.clone(),
                reissue_ticket: Ticket([0; 16]),
            })
            .collect();
        for outcome in store.change_licences(changes).await? {
            outcome.context("preloading a licence")?;
        }
    }
    let store = std::sync::Arc::new(store);
    if queued {
        // Admitted together, so that one group commit serves thousands of them.
        for (n, chunk) in numbers.chunks(2048).enumerate() {
            let mut admits = tokio::task::JoinSet::new();
            for (i, number) in chunk.iter().enumerate() {
                let sequence = (n * 2048 + i) as u64 + 1;
                let mut ticket = [0u8; 16];
                ticket[..8].copy_from_slice(&sequence.to_be_bytes());
                ticket[8..].copy_from_slice(&[0x5a; 8]);
                let (store, number, client) = (store.clone(), number.clone(), client.to_owned());
                admits.spawn(async move {
                    let no_quote = |_, _| None;
                    store
                        .admit(Admit {
                            ticket: Ticket(ticket),
                            licence: number,
                            channel: Channel::App,
                            client,
                            photo: Photo::OnFile,
                            holder_key: None,
                            at,
                            before_opening: false,
                            quote: &no_quote,
                        })
                        .await
                });
            }
            while let Some(admitted) = admits.join_next().await {
                admitted?.context("preloading an application")?;
            }
        }
    }
    store.close().await?;
    Ok(())
}

/// What the storage engine alone reaches (the caller times it): `count` credentials
/// signed with `key` and stored `batch` per durable commit, on one thread, as the drain
/// stores them, in a new store in `dir`.
pub fn raw_issue(
    dir: &Path,
    key: &keys::SigningKey,
    count: usize,
    batch: usize,
) -> anyhow::Result<()> {
    Ok(crate::store::sled::raw_issue(dir, key, count, batch)?)
}

/// The development API keys a first start wrote, by role name.
pub fn dev_keys(data_dir: &Path) -> std::io::Result<Vec<(String, String)>> {
    crate::service::clients::read_dev_clients(&data_dir.join("dev-clients.txt"))
}

/// A public key file (SPKI PEM), as the daemon reads pinned roots.
pub fn read_public(path: &Path) -> anyhow::Result<keys::PublicKey> {
    Ok(crate::keyfiles::read_public(path)?)
}

/// Every route of both listeners: (admin listener, method, path pattern).
pub fn routes() -> Vec<(bool, String, &'static str)> {
    let public = crate::http::routes::public()
        .into_iter()
        .map(|r| (false, r.method.to_string(), r.path));
    let admin = crate::http::routes::admin()
        .into_iter()
        .map(|r| (true, r.method.to_string(), r.path));
    public.chain(admin).collect()
}

fn open(data_dir: &Path) -> anyhow::Result<SledStore> {
    SledStore::open(data_dir, None)
        .with_context(|| format!("opening the store in {}", data_dir.display()))
}
