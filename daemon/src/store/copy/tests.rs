//! A copy answers every read of the `Store` interface as its source did: a sled store
//! brought through every kind of state (queued in each lane, before the opening, in review,
//! issued, superseded and re-issued, suspended, revoked; clients, throttle settings, the
//! trust list, the audit chain, the notification outbox) is copied into PostgreSQL,
//! interrupted once and resumed, and both engines then give the same answers and go on
//! alike.

use std::path::Path;
use std::sync::Arc;

use keys::UnixTime;

use super::{Checkpoint, CopyError, CopyEvent, CopyRecord, copy};
use crate::config::PostgresConfig;
use crate::domain::access::{ApiClient, Role};
use crate::domain::application::{Photo, PhotoFormat, PhotoSource, Ticket};
use crate::domain::audit::AuditRecord;
use crate::domain::issue::CredentialRecord;
use crate::domain::notify::{EventKind, Subscription};
use crate::domain::registry::{LicenceEdit, StateAction};
use crate::domain::throttle::settings::ThrottleSettings;
use crate::store::conformance::{
    AT, actor, admit, issue_front, number, put, record, subscribe, subscription, ticket,
};
use crate::store::postgres::{PgImport, PgStore};
use crate::store::sled::{SledExport, SledStore};
use crate::store::{
    Admitted, Delivery, DeliveryOutcome, LicenceChange, OutboxFigures, ReviewDecision, StatusEntry,
    Store, StoreError, StoredClient,
};
use crate::testing::postgres::TestPostgres;

/// Licences 1..=12 of the source.
const LICENCES: u16 = 12;

/// Every ticket the source used, and one it never did.
fn tickets() -> Vec<Ticket> {
    let mut t: Vec<Ticket> = (1..=11).map(ticket).collect();
    t.extend([ticket(200), ticket(201), ticket(99)]);
    t
}

fn uploaded() -> Photo {
    Photo::Uploaded {
        digest: keys::licence::PhotoDigest::of(b"upload"),
        format: PhotoFormat::Png,
        source: PhotoSource::Camera,
    }
}

fn audit(action: &str) -> AuditRecord {
    AuditRecord::new(&actor(Role::Operator).caller, AT, action, None, None)
}

fn settings(url: &str) -> PostgresConfig {
    PostgresConfig {
        url: url.to_owned(),
        node: "copy-test".into(),
        pool_size: 4,
        migrate: true,
    }
}

/// Opens the sled store of `dir`, waiting for a closed one's lock to go.
fn open_sled(dir: &Path) -> Arc<SledStore> {
    for _ in 0..500 {
        match SledStore::open(dir, None) {
            Err(StoreError::InUse(_)) => std::thread::sleep(std::time::Duration::from_millis(10)),
            other => return Arc::new(other.unwrap()),
        }
    }
    panic!("the sled database stays locked")
}

async fn open_pg(url: &str) -> Result<PgStore, StoreError> {
    PgStore::open(&settings(url), true, None).await
}

/// Brings a sled store in `dir` through every kind of state.
async fn fill(dir: &Path) {
    let store = open_sled(dir);
    let s: &dyn Store = store.as_ref();
    // Subscriptions first: the changes below write their events.
    subscribe(s, subscription(1, &EventKind::ALL, None)).await;
    subscribe(
        s,
        subscription(2, &[EventKind::ApplicationIssued], Some("test-gateway")),
    )
    .await;
    for n in 1..=LICENCES {
        put(s, record(n, "C1", n != 12)).await;
    }
    for n in 1..=6u16 {
        admit(s, ticket(n as u8), number(n), Photo::OnFile, false)
            .await
            .unwrap();
    }
    // Tickets 1-4 issued.
    issue_front(s, 4, 10).await;
    // Licence 1 changes: its credential superseded, a re-issue queued and issued with
    // ticket 5.
    put(s, record(1, "C1 D", true)).await;
    issue_front(s, 1, 20).await;
    for (n, action) in [(2, StateAction::Suspend), (3, StateAction::Revoke)] {
        s.change_licence(LicenceChange {
            number: number(n),
            edit: LicenceEdit::State(action),
            actor: actor(Role::Registry),
            reissue_ticket: ticket(201),
        })
        .await
        .unwrap();
    }
    // Licence 4 changes while its credential is current: a re-issue that stays queued.
    // (Ticket 201: `put` would take ticket 200 again.)
    s.change_licence(LicenceChange {
        number: number(4),
        edit: LicenceEdit::Put(record(4, "C1 D", true)),
        actor: actor(Role::Registry),
        reissue_ticket: ticket(201),
    })
    .await
    .unwrap();
    // In review, and approved into the queue.
    admit(s, ticket(7), number(12), uploaded(), false)
        .await
        .unwrap();
    admit(s, ticket(8), number(7), uploaded(), false)
        .await
        .unwrap();
    s.decide_review(ReviewDecision {
        ticket: ticket(8),
        rejection: None,
        actor: actor(Role::Reviewer),
    })
    .await
    .unwrap();
    let client = |name: &str, hash: u8| StoredClient {
        key_hash: [hash; 32],
        client: ApiClient {
            name: name.into(),
            role: Role::Insurer,
            created_at: Some(AT),
            delegates: Vec::new(),
        },
    };
    s.add_clients(
        vec![client("acme", 3), client("ops", 1)],
        vec![audit("client.add")],
    )
    .await
    .unwrap();
    let throttle = ThrottleSettings {
        paused: true,
        ..ThrottleSettings::default()
    };
    s.change_throttle(throttle, audit("throttle.set"))
        .await
        .unwrap();
    s.next_trust_list(&["k1".to_owned(), "k2".to_owned()], AT)
        .await
        .unwrap();
    s.serve_trust_list(Some(1), audit("keys.trust_list"))
        .await
        .unwrap();
    // The outbox: one delivery made, one dead-lettered, one credential noted as expiring.
    let due = s
        .claim_deliveries(AT, UnixTime(AT.0 + 30), 2)
        .await
        .unwrap();
    assert_eq!(due.len(), 2);
    s.finish_delivery(due[0].key.clone(), DeliveryOutcome::Delivered)
        .await
        .unwrap();
    s.finish_delivery(
        due[1].key.clone(),
        DeliveryOutcome::Dead {
            error: "410".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        s.note_expiring(UnixTime(AT.0 + 86_400), AT, 1)
            .await
            .unwrap(),
        1
    );
    // Accepted before the opening, not yet in order (the last: while they wait, every
    // application joins them).
    for n in 9..=11u8 {
        admit(s, ticket(n), number(n as u16 - 1), Photo::OnFile, true)
            .await
            .unwrap();
    }
    s.close().await.unwrap();
}

/// Every read of the interface on the source's data.
#[derive(Debug, PartialEq)]
struct Answers {
    licences: Vec<String>,
    applications: Vec<String>,
    reviews: Vec<String>,
    credentials: Vec<String>,
    lookups: Vec<String>,
    entries: Vec<StatusEntry>,
    list_count: u32,
    room: u64,
    queue: String,
    oldest: [Option<UnixTime>; 3],
    throttle: Option<ThrottleSettings>,
    clients: Vec<StoredClient>,
    trust_sequence: Option<u64>,
    audit: Vec<(u64, Vec<u8>)>,
    subscriptions: Vec<Subscription>,
    outbox: Vec<OutboxFigures>,
    dead_letters: Vec<Delivery>,
}

async fn answers(s: &dyn Store) -> Answers {
    let mut licences = Vec::new();
    let mut ids = vec![hex::encode([0u8; 16]), "not hex".to_owned()];
    for n in 1..=LICENCES + 1 {
        let of: Vec<CredentialRecord> = s.credentials_of(&number(n)).await.unwrap();
        ids.extend(of.iter().map(|c| c.id.clone()));
        licences.push(format!(
            "{:?} {:?}",
            s.licence(&number(n)).await.unwrap(),
            of
        ));
    }
    let mut applications = Vec::new();
    for t in tickets() {
        applications.push(format!("{:?}", s.application(t).await.unwrap()));
    }
    let mut credentials = Vec::new();
    let mut lookups = Vec::new();
    for id in &ids {
        credentials.push(format!("{:?}", s.credential(id).await.unwrap()));
        lookups.push(format!("{:?}", s.lookup(id).await.unwrap()));
    }
    let mut entries = s.status_entries().await.unwrap();
    entries.sort_by_key(|e| (e.list, e.index));
    let mut clients = s.clients().await.unwrap();
    clients.sort_by_key(|c| c.key_hash);
    Answers {
        licences,
        applications,
        reviews: s
            .reviews(100)
            .await
            .unwrap()
            .iter()
            .map(|a| format!("{a:?}"))
            .collect(),
        credentials,
        lookups,
        entries,
        list_count: s.list_count(),
        room: s.index_room(4),
        queue: format!("{:?}", s.queue()),
        oldest: s.oldest_queued().await.unwrap(),
        throttle: s.throttle_settings().await.unwrap(),
        clients,
        trust_sequence: s.trust_sequence().await.unwrap(),
        audit: s.audit_records(1, 10_000).await.unwrap(),
        subscriptions: s.subscriptions().await.unwrap(),
        outbox: s.outbox_figures().await.unwrap(),
        dead_letters: s.dead_letters(None, 100).await.unwrap(),
    }
}

/// What a store does next: the same answers from both engines.
async fn next_steps(s: &dyn Store) -> Vec<String> {
    let mut out = Vec::new();
    out.push(format!("{:?}", s.order_opening(100).await.unwrap()));
    let claim = s.claim_step([10, 10, 10]).await.unwrap();
    out.extend(claim.entries.iter().map(|e| {
        format!(
            "{:?} {} {} {:?}",
            e.lane, e.sequence, e.ticket, e.credentials
        )
    }));
    let admitted = admit(s, ticket(50), number(12), Photo::OnFile, false).await;
    out.push(format!("{admitted:?}"));
    let Ok(Admitted::Existing(open)) = admitted else {
        panic!("licence 12's application is open: {admitted:?}")
    };
    out.push(format!("{open:?}"));
    let later = UnixTime(AT.0 + 100);
    let stamp = s
        .next_trust_list(&["k1".to_owned(), "k3".to_owned()], later)
        .await
        .unwrap();
    out.push(format!("{} {:?}", stamp.sequence, stamp.first_use));
    s.record(audit("keys.trust_list")).await.unwrap();
    out.push(format!("{:?}", s.audit_records(1, 10_000).await.unwrap()));
    // The outbox goes on alike: what is due, what is still to be noted, a new event's
    // sequence after the copied ones.
    out.push(format!(
        "{:?}",
        s.note_expiring(UnixTime(AT.0 + 86_400), AT, 100)
            .await
            .unwrap()
    ));
    s.change_licence(LicenceChange {
        number: number(2),
        edit: LicenceEdit::State(StateAction::Reinstate),
        actor: actor(Role::Registry),
        reissue_ticket: ticket(202),
    })
    .await
    .unwrap();
    let due = s
        .claim_deliveries(UnixTime(AT.0 + 1_000), UnixTime(AT.0 + 1_030), 100)
        .await
        .unwrap();
    out.extend(due.iter().map(|d| format!("{d:?}")));
    out.push(format!("{:?}", s.outbox_figures().await.unwrap()));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_interrupted_and_resumed_answers_as_its_source() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path()).await;
    let sled = open_sled(dir.path());
    let before = answers(sled.as_ref()).await;
    assert!(
        before.queue.contains("depth: [0, 1, 2]"),
        "{}",
        before.queue
    );
    assert_eq!(before.subscriptions.len(), 2);
    assert_eq!(before.dead_letters.len(), 1, "{:?}", before.dead_letters);
    assert!(before.outbox[0].pending > 0 && before.outbox[1].written > 0);
    sled.close().await.unwrap();
    drop(sled);

    let server = TestPostgres::shared().unwrap();
    let url = server.database().unwrap();
    // The first run stops after two batches of three records.
    let export = loop {
        match SledExport::open(dir.path()) {
            Err(CopyError::InUse(_)) => std::thread::sleep(std::time::Duration::from_millis(10)),
            other => break other.unwrap(),
        }
    };
    let survey = export.survey().unwrap();
    assert_eq!((survey.licences, survey.credentials), (12, 6));
    let (mut import, checkpoint) = PgImport::begin(&settings(&url), &survey).await.unwrap();
    assert_eq!(checkpoint, Checkpoint::Fresh);
    let mut head = Vec::new();
    let stopped = export.export(0, &mut |r: CopyRecord| {
        if head.len() == 6 {
            return Err(CopyError::Store(StoreError::Stopped));
        }
        head.push(r);
        Ok(())
    });
    assert!(stopped.is_err());
    let rest = head.split_off(3);
    import.batch(head).await.unwrap();
    import.batch(rest).await.unwrap();
    drop(import);
    drop(export);
    // No node starts on a half-copied database.
    let refused = open_pg(&url).await.err().unwrap().to_string();
    assert!(refused.contains("stopped at 6 of"), "{refused}");

    let mut events = Vec::new();
    let resumed = loop {
        match copy(dir.path(), &settings(&url), 4, &mut |e| events.push(e)).await {
            Err(CopyError::InUse(_)) => std::thread::sleep(std::time::Duration::from_millis(10)),
            other => break other.unwrap(),
        }
    };
    assert_eq!(resumed.source, survey.source);
    let Some(CopyEvent::Started { checkpoint, .. }) = events.first() else {
        panic!("{events:?}")
    };
    assert_eq!(*checkpoint, Checkpoint::Resume(6));
    let batches: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            CopyEvent::Batch { done, .. } => Some(*done),
            CopyEvent::Started { .. } => None,
        })
        .collect();
    assert_eq!(batches.first(), Some(&10));
    assert_eq!(batches.last(), Some(&survey.records));

    let pg = open_pg(&url).await.unwrap();
    let after = answers(&pg).await;
    assert_eq!(after, before);
    pg.close().await.unwrap();
    drop(pg);
    // Rerunning finds the copy done and leaves it so.
    let mut events = Vec::new();
    copy(dir.path(), &settings(&url), 4, &mut |e| events.push(e))
        .await
        .unwrap();
    assert!(matches!(
        events.as_slice(),
        [CopyEvent::Started {
            checkpoint: Checkpoint::Finished,
            ..
        }]
    ));
    // Both engines go on alike: ordering, claims, admission, the trust list, the chain.
    let pg = open_pg(&url).await.unwrap();
    let on_pg = next_steps(&pg).await;
    pg.close().await.unwrap();
    let sled = open_sled(dir.path());
    let on_sled = next_steps(sled.as_ref()).await;
    sled.close().await.unwrap();
    assert_eq!(on_pg, on_sled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_refuses_a_busy_source_and_a_target_with_other_state() {
    let server = TestPostgres::shared().unwrap();
    let url = server.database().unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let none = copy(a.path(), &settings(&url), 10, &mut |_| ()).await;
    assert!(matches!(none, Err(CopyError::NoSource(_))), "{none:?}");
    fill(a.path()).await;
    let store = open_sled(b.path());
    put(store.as_ref(), record(1, "C1", true)).await;
    // A running engine holds the source.
    let busy = copy(b.path(), &settings(&url), 10, &mut |_| ()).await;
    assert!(matches!(busy, Err(CopyError::InUse(_))), "{busy:?}");
    store.close().await.unwrap();
    drop(store);
    // A database with state of its own.
    let pg = open_pg(&url).await.unwrap();
    put(&pg, record(9, "C1", true)).await;
    pg.close().await.unwrap();
    let taken = loop {
        match copy(a.path(), &settings(&url), 10, &mut |_| ()).await {
            Err(CopyError::InUse(_)) => std::thread::sleep(std::time::Duration::from_millis(10)),
            other => break other,
        }
    };
    assert!(
        matches!(&taken, Err(CopyError::NotEmpty(what)) if what.contains("licences")),
        "{taken:?}"
    );
    // A database holding a copy of another source.
    let url = server.database().unwrap();
    loop {
        match copy(b.path(), &settings(&url), 10, &mut |_| ()).await {
            Err(CopyError::InUse(_)) => std::thread::sleep(std::time::Duration::from_millis(10)),
            other => {
                other.unwrap();
                break;
            }
        }
    }
    let other = copy(a.path(), &settings(&url), 10, &mut |_| ()).await;
    assert!(matches!(other, Err(CopyError::OtherSource(_))), "{other:?}");
}
