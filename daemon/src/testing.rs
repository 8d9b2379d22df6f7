//! The testing API: what the end-to-end tests and the load harness need of a data
//! directory and of the daemon's tables, without knowing the storage engine. Everything
//! here opens a stopped daemon's data directory (or an empty one) through the engine.

pub mod portrait;
pub mod postgres;

use std::path::Path;
use std::sync::Arc;

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
pub use crate::priority::yield_cpu_to_verification;
pub use crate::service::clients::read_dev_clients;
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

/// The lookup log's stored records, in order, from every segment under
/// `<data>/audit/` (empty when there is none).
pub fn lookup_records(data_dir: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let path = crate::service::audit::lookups_path(data_dir);
    crate::service::audit::lookup_records(&path)?
        .map(|r| Ok(r?.1))
        .collect()
}

/// Replaces lookup record `number` (from 1) in place with `bytes` of the same length,
/// leaving its frame's checksum as it was (to test that tampering is found).
pub fn tamper_lookup_record(data_dir: &Path, number: u64, bytes: &[u8]) -> anyhow::Result<()> {
    use crate::store::lookups::files::{FsSegments, Layout, SegmentDir};
    use crate::store::lookups::segment;
    let dir = data_dir.join("audit");
    let segments = FsSegments::new(&dir);
    let mut names: Vec<(String, Layout)> = segments
        .closed()?
        .into_iter()
        .map(|c| (c.name, c.layout))
        .collect();
    names.push((
        crate::store::lookups::LOOKUPS_FILE.to_owned(),
        Layout::Framed,
    ));
    let mut before = 0u64;
    for (name, layout) in names {
        anyhow::ensure!(layout == Layout::Framed, "{name}: not a segment of frames");
        let path = dir.join(&name);
        let mut content = std::fs::read(&path)?;
        let frames = segment::scan(&content).frames;
        if let Some(frame) = number
            .checked_sub(before + 1)
            .and_then(|i| frames.get(usize::try_from(i).ok()?))
        {
            anyhow::ensure!(
                frame.end - frame.start == bytes.len(),
                "the replacement must be as long as the record"
            );
            content[frame.start..frame.end].copy_from_slice(bytes);
            std::fs::write(&path, content)?;
            return Ok(());
        }
        before += frames.len() as u64;
    }
    anyhow::bail!("no lookup record {number}")
}

/// A stored audit record, decoded (its place in the chain not checked).
pub fn decode_record(bytes: &[u8]) -> Result<AuditRecord, String> {
    crate::domain::audit::chain::decode(bytes)
}

/// How many credentials the store holds: the data directory's, or the PostgreSQL
/// database at `store`.
pub async fn credential_count(data_dir: &Path, store: Option<&str>) -> anyhow::Result<usize> {
    let store = open_any(data_dir, store).await?;
    let count = store.status_entries().await?.len();
    store.close().await?;
    Ok(count)
}

/// Writes licence records into a stopped daemon's data directory, as the registry would;
/// with `queued`, each licence also gets an application waiting in the first-applications
/// lane, made by `client` at `at`.
pub async fn preload(
    data_dir: &Path,
    store: Option<&str>,
    records: Vec<LicenceRecord>,
    queued: bool,
    client: &str,
    at: UnixTime,
) -> anyhow::Result<()> {
    let store = open_any(data_dir, store).await?;
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

/// The data directory's sled store, or the PostgreSQL database at `url` (migrated).
async fn open_any(data_dir: &Path, url: Option<&str>) -> anyhow::Result<Arc<dyn Store>> {
    match url {
        None => Ok(Arc::new(open(data_dir)?)),
        Some(url) => {
            let config = crate::config::PostgresConfig {
                url: url.to_owned(),
                node: "testing".into(),
                pool_size: crate::config::DEFAULT_POOL_SIZE,
                migrate: true,
            };
            Ok(Arc::new(
                crate::store::postgres::PgStore::open(&config, true, None).await?,
            ))
        }
    }
}

fn open(data_dir: &Path) -> anyhow::Result<SledStore> {
    SledStore::open(data_dir, None)
        .with_context(|| format!("opening the store in {}", data_dir.display()))
}
