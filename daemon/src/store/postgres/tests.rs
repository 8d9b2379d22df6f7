//! The PostgreSQL engine passes the conformance suite against a throwaway server, and
//! keeps its invariants with two store instances (two nodes) on one database.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::PgStore;
use crate::config::PostgresConfig;
use crate::domain::application::{ApplicationState, Photo};
use crate::store::conformance::{
    Engine, admit, conformance_tests, credential, number, put, record, ticket,
};
use crate::store::{Admitted, CompletedStep, Issuance, StatusEntry, Store};
use crate::testing::postgres::TestPostgres;

/// A database of its own on the shared test server, opened again on the same database.
struct PgEngine {
    _server: TestPostgres,
    url: String,
    /// The store last opened, for injecting faults into its commits.
    last: Mutex<Option<Arc<PgStore>>>,
}

impl PgEngine {
    fn new() -> PgEngine {
        let server = TestPostgres::shared().expect("a PostgreSQL server for the tests");
        let url = server.database().unwrap();
        PgEngine {
            _server: server,
            url,
            last: Mutex::new(None),
        }
    }

    /// A store instance on the database (each one a node of its own name).
    fn store(&self) -> Arc<PgStore> {
        static NODES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NODES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let settings = PostgresConfig {
            url: self.url.clone(),
            node: format!("node-{n}"),
            pool_size: 8,
            migrate: true,
        };
        let store = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(PgStore::open(&settings, true, None))
        })
        .unwrap();
        Arc::new(store)
    }
}

impl Engine for PgEngine {
    fn open(&self) -> Arc<dyn Store> {
        let store = self.store();
        *self.last.lock().unwrap() = Some(store.clone());
        store
    }

    fn fail_next_commits(&self, _store: &Arc<dyn Store>, n: u32) -> bool {
        match self.last.lock().unwrap().as_ref() {
            Some(pg) => {
                pg.fail_next(n);
                true
            }
            None => false,
        }
    }
}

conformance_tests!(PgEngine::new());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_from_two_nodes_never_overlap() {
    let engine = PgEngine::new();
    let (a, b) = (engine.store(), engine.store());
    for n in 1..=60u16 {
        put(a.as_ref(), record(n, "C1", true)).await;
        admit(a.as_ref(), ticket(n as u8), number(n), Photo::OnFile, false)
            .await
            .unwrap();
    }
    let drain = |store: Arc<PgStore>| async move {
        let mut taken = Vec::new();
        loop {
            let claim = store.claim_step([0, 0, 7]).await.unwrap();
            if claim.entries.is_empty() {
                return taken;
            }
            taken.extend(claim.entries.iter().map(|e| e.ticket));
        }
    };
    let (from_a, from_b) = tokio::join!(
        tokio::spawn(drain(a.clone())),
        tokio::spawn(drain(b.clone()))
    );
    let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());
    let all: HashSet<_> = from_a.iter().chain(&from_b).copied().collect();
    assert_eq!(
        all.len(),
        from_a.len() + from_b.len(),
        "an entry claimed by both nodes"
    );
    assert_eq!(all.len(), 60, "every entry claimed once");
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admit_race_between_two_nodes_opens_one_application() {
    let engine = PgEngine::new();
    let (a, b) = (engine.store(), engine.store());
    for n in 1..=20u16 {
        put(a.as_ref(), record(n, "C1", true)).await;
    }
    for n in 1..=20u16 {
        let (x, y) = tokio::join!(
            admit(a.as_ref(), ticket(n as u8), number(n), Photo::OnFile, false),
            admit(
                b.as_ref(),
                ticket(100 + n as u8),
                number(n),
                Photo::OnFile,
                false
            ),
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        let (new, existing) = match (&x, &y) {
            (Admitted::New(n), Admitted::Existing(e))
            | (Admitted::Existing(e), Admitted::New(n)) => (n, e),
            other => panic!("one new and one existing application, got {other:?}"),
        };
        assert_eq!(new.ticket, existing.ticket);
    }
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_refuses_a_second_open_application() {
    let server = TestPostgres::shared().unwrap();
    let engine = PgEngine::new();
    let store = engine.store();
    put(store.as_ref(), record(1, "C1", true)).await;
    admit(store.as_ref(), ticket(1), number(1), Photo::OnFile, false)
        .await
        .unwrap();
    let name = engine.url.rsplit('/').next().unwrap().to_owned();
    let second = format!(
        "INSERT INTO applications (ticket, licence, open, reviewing, created_at, record) \
         VALUES (decode(repeat('07', 16), 'hex'), '{}', true, false, 0, '{{}}')",
        number(1)
    );
    let refused = server.psql(&name, &second).unwrap_err().to_string();
    assert!(refused.contains("applications_one_open"), "{refused}");
    store.close().await.unwrap();
}

/// A node whose claim lapsed (it stalled or died between signing and commit) and another
/// node that claimed the entry again both complete: one credential is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_claim_is_issued_once() {
    let server = TestPostgres::shared().unwrap();
    let engine = PgEngine::new();
    let (a, b) = (engine.store(), engine.store());
    put(a.as_ref(), record(1, "C1", true)).await;
    admit(a.as_ref(), ticket(1), number(1), Photo::OnFile, false)
        .await
        .unwrap();
    let first = a.claim_step([0, 0, 1]).await.unwrap();
    assert_eq!(first.entries.len(), 1);
    assert!(b.claim_step([0, 0, 1]).await.unwrap().entries.is_empty());
    let name = engine.url.rsplit('/').next().unwrap().to_owned();
    server
        .psql(
            &name,
            "UPDATE queue SET claimed_at = now() - interval '1 hour'",
        )
        .unwrap();
    let second = b.claim_step([0, 0, 1]).await.unwrap();
    assert_eq!(second.entries.len(), 1, "a lapsed claim is taken over");
    let step = |claim: crate::store::Claim, id: u8, index: u32| {
        let entry = claim.entries.into_iter().next().unwrap();
        let mut app = entry.application.unwrap();
        let c = credential(&app, id, 0, index);
        app.issue(c.id.clone(), crate::store::conformance::AT)
            .unwrap();
        CompletedStep {
            served: vec![(entry.lane, entry.sequence, entry.ticket)],
            issued: vec![Issuance {
                application: app,
                credential: c,
                superseded: Vec::new(),
                licence: entry.licence.unwrap(),
                new_licence: None,
            }],
            rejected: Vec::new(),
        }
    };
    let by_b = b.complete_step(step(second, 2, 2)).await.unwrap();
    let by_a = a.complete_step(step(first, 1, 1)).await.unwrap();
    assert_eq!((by_b.issued, by_a.issued), (1, 0));
    let credentials = a.credentials_of(&number(1)).await.unwrap();
    assert_eq!(credentials.len(), 1);
    let app = a.application(ticket(1)).await.unwrap().unwrap();
    assert_eq!(
        app.state,
        ApplicationState::Issued {
            credential_id: credentials[0].id.clone()
        }
    );
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_allocate_one_index() {
    let engine = PgEngine::new();
    let (a, b) = (engine.store(), engine.store());
    let (x, y) = tokio::join!(
        a.allocate_indices(3_000, u32::MAX),
        b.allocate_indices(3_000, u32::MAX)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!((x.indices.len(), y.indices.len()), (3_000, 3_000));
    let all: HashSet<_> = x.indices.iter().chain(&y.indices).collect();
    assert_eq!(all.len(), 6_000);
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// Two nodes count each other by their heartbeats, one hears within a second that the
/// other changed the throttle, and a node that closes leaves the count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::disallowed_methods,
    reason = "the nodes' heartbeats and notifications run on real time"
)]
async fn nodes_count_each_other_and_hear_throttle_changes() {
    use std::time::{Duration, Instant};

    use crate::domain::access::Role;
    use crate::domain::audit::AuditRecord;
    use crate::domain::throttle::settings::ThrottleSettings;

    let engine = PgEngine::new();
    let (a, b) = (engine.store(), engine.store());
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.live_nodes() != 2 {
        assert!(Instant::now() < deadline, "a never counted b");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut changes = b.throttle_changes().unwrap();
    // The listener has connected (its first bump) before the change is made.
    tokio::time::timeout(Duration::from_secs(5), changes.wait_for(|n| *n >= 1))
        .await
        .unwrap()
        .unwrap();
    changes.borrow_and_update();
    let mut settings = ThrottleSettings::default();
    settings.drain.rate = 321.0;
    let caller = crate::domain::access::Caller {
        client: "operator".into(),
        role: Role::Operator,
    };
    let audit = AuditRecord::new(
        &caller,
        crate::store::conformance::AT,
        "throttle.set",
        None,
        None,
    );
    a.change_throttle(settings, audit).await.unwrap();
    tokio::time::timeout(Duration::from_secs(1), changes.changed())
        .await
        .expect("b heard of the change within a second")
        .unwrap();
    assert_eq!(b.throttle_settings().await.unwrap(), Some(settings));
    b.close().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.live_nodes() != 1 {
        assert!(Instant::now() < deadline, "b never left the count");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.close().await.unwrap();
}

/// A status change one node makes reaches another node's reads of the changes: the entry
/// with its value now, once per change, and every list any node opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_reads_the_status_changes_any_node_made() {
    use keys::status_list::CredentialStatus;

    use crate::domain::access::Role;
    use crate::domain::registry::{LicenceEdit, StateAction};
    use crate::store::LicenceChange;
    use crate::store::conformance::{actor, issue_front};

    let engine = PgEngine::new();
    let (a, b) = (engine.store(), engine.store());
    let first = b.status_changes(None).await.unwrap().unwrap();
    assert!(first.entries.is_empty(), "nothing changed yet");
    let cursor = first.cursor;
    assert!(cursor.is_some());

    put(a.as_ref(), record(1, "C1", true)).await;
    admit(a.as_ref(), ticket(1), number(1), Photo::OnFile, false)
        .await
        .unwrap();
    let c = issue_front(a.as_ref(), 1, 40).await.remove(0);
    // Issuing sets no value other than "valid", which every list starts with.
    let issued = b.status_changes(cursor).await.unwrap().unwrap();
    assert!(issued.entries.is_empty());
    assert!(issued.lists >= 1);

    let change = |edit| LicenceChange {
        number: number(1),
        edit,
        actor: actor(Role::Registry),
        reissue_ticket: ticket(203),
    };
    a.change_licence(change(LicenceEdit::State(StateAction::Suspend)))
        .await
        .unwrap();
    let suspended = b.status_changes(issued.cursor).await.unwrap().unwrap();
    assert_eq!(
        suspended.entries,
        [StatusEntry {
            list: c.list,
            index: c.index,
            value: CredentialStatus::Suspended
        }]
    );
    // Read again from the same point: the same entry, with its value now.
    b.change_licence(change(LicenceEdit::State(StateAction::Reinstate)))
        .await
        .unwrap();
    let again = a.status_changes(issued.cursor).await.unwrap().unwrap();
    assert_eq!(again.entries[0].value, CredentialStatus::Valid);
    // From the newest read on, the entry comes again only while some transaction (of any
    // database on the server) was unfinished at that read, and then with its value now.
    let quiet = b.status_changes(again.cursor).await.unwrap().unwrap();
    assert!(
        quiet
            .entries
            .iter()
            .all(|e| e.value == CredentialStatus::Valid),
        "{:?}",
        quiet.entries
    );
    // A read from the start names it once, however many rows say it changed.
    let all = b.status_changes(None).await.unwrap().unwrap();
    assert_eq!(all.entries.len(), 1);

    // A list b opens is counted by a.
    let before = a.status_changes(quiet.cursor).await.unwrap().unwrap().lists;
    let mut opened = false;
    for _ in 0..200 {
        if b.allocate_indices(4096, u32::MAX)
            .await
            .unwrap()
            .opened_list
        {
            opened = true;
            break;
        }
    }
    assert!(opened, "b opened a list");
    let after = a.status_changes(quiet.cursor).await.unwrap().unwrap().lists;
    assert_eq!(after, before + 1);
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// Each node lists every node on the database with what it last published: live while it
/// beats, silent once its heartbeat stops (dead or cut off), left once it closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::disallowed_methods, reason = "the heartbeat runs on real time")]
async fn nodes_list_each_other_with_what_they_published() {
    use std::time::{Duration, Instant};

    use crate::store::{NodeReport, NodeState};

    let engine = PgEngine::new();
    let (a, b) = (engine.store(), engine.store());
    a.publish(serde_json::json!({"queue_depth": 7, "version": "test"}));
    let seen_by_b =
        |reports: &[NodeReport], name: &str| reports.iter().find(|r| r.name == name).cloned();
    let deadline = Instant::now() + Duration::from_secs(5);
    let a_at_b = loop {
        let reports = b.nodes().await.unwrap();
        match seen_by_b(&reports, &a.node) {
            Some(r) if r.figures["queue_depth"] == 7 => break r,
            _ => assert!(
                Instant::now() < deadline,
                "b never saw a's figures: {reports:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((a_at_b.state, a_at_b.this), (NodeState::Live, false));
    assert!(a_at_b.silent_for.unwrap() < 5.0);
    let b_at_b = seen_by_b(&b.nodes().await.unwrap(), &b.node).unwrap();
    assert_eq!((b_at_b.state, b_at_b.this), (NodeState::Live, true));
    // a's own view marks a as itself.
    let a_at_a = seen_by_b(&a.nodes().await.unwrap(), &a.node).unwrap();
    assert!(a_at_a.this);

    // a stops beating (as a killed node would) and its last beat is half a minute old.
    for task in a.tasks().drain(..) {
        task.abort();
    }
    let client = b.client().await.unwrap();
    client
        .execute(
            "UPDATE nodes SET heartbeat = now() - interval '30 seconds' WHERE name = $1",
            &[&a.node],
        )
        .await
        .unwrap();
    let silent = seen_by_b(&b.nodes().await.unwrap(), &a.node).unwrap();
    assert_eq!(silent.state, NodeState::Silent);
    assert!(silent.silent_for.unwrap() >= 30.0, "{silent:?}");
    assert_eq!(silent.figures["queue_depth"], 7, "its last figures stay");

    a.close().await.unwrap();
    let left = seen_by_b(&b.nodes().await.unwrap(), &a.node).unwrap();
    assert_eq!((left.state, left.silent_for), (NodeState::Left, None));
    b.close().await.unwrap();
}

/// Two nodes claim deliveries from one outbox at once: no delivery is claimed twice while
/// leased, every one is delivered, and each licence's events reach the subscriber in the
/// order they were written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_deliver_the_outbox_once_in_each_licences_order() {
    use crate::domain::notify::EventKind;
    use crate::domain::registry::{LicenceEdit, StateAction};
    use crate::store::conformance::{AT, actor, issue_front, subscribe, subscription};
    use crate::store::{DeliveryOutcome, LicenceChange};
    use keys::UnixTime;

    const LICENCES: u16 = 20;
    let engine = PgEngine::new();
    let (a, b) = (engine.store(), engine.store());
    subscribe(a.as_ref(), subscription(1, &EventKind::ALL, None)).await;
    for n in 1..=LICENCES {
        put(a.as_ref(), record(n, "C1", true)).await;
        admit(a.as_ref(), ticket(n as u8), number(n), Photo::OnFile, false)
            .await
            .unwrap();
    }
    issue_front(a.as_ref(), u64::from(LICENCES), 100).await;
    for n in 1..=LICENCES {
        for action in [
            StateAction::Suspend,
            StateAction::Reinstate,
            StateAction::Suspend,
        ] {
            let store = if n % 2 == 0 { &a } else { &b };
            store
                .change_licence(LicenceChange {
                    number: number(n),
                    edit: LicenceEdit::State(action),
                    actor: actor(crate::domain::access::Role::Registry),
                    reissue_ticket: ticket(250),
                })
                .await
                .unwrap();
        }
    }
    let total = usize::from(LICENCES) * 4;
    // (licence, sequence) in the order they were delivered, by either node.
    let log: Arc<Mutex<Vec<(String, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let claimed: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::new()));
    let deliver = |store: Arc<PgStore>| {
        let (log, claimed) = (log.clone(), claimed.clone());
        async move {
            loop {
                if log.lock().unwrap().len() >= total {
                    return;
                }
                // A lease longer than the test: nothing is claimed twice unless it overlaps.
                let due = store
                    .claim_deliveries(UnixTime(AT.0 + 10), UnixTime(AT.0 + 1_000_000), 3)
                    .await
                    .unwrap();
                if due.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                    continue;
                }
                for d in due {
                    claimed.lock().unwrap().push(d.key.sequence);
                    log.lock()
                        .unwrap()
                        .push((d.event.licence.as_str().to_owned(), d.key.sequence));
                    store
                        .finish_delivery(d.key, DeliveryOutcome::Delivered)
                        .await
                        .unwrap();
                }
            }
        }
    };
    let (x, y) = tokio::join!(
        tokio::spawn(deliver(a.clone())),
        tokio::spawn(deliver(b.clone()))
    );
    x.unwrap();
    y.unwrap();
    let claimed = claimed.lock().unwrap().clone();
    let unique: HashSet<u64> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), total, "a delivery claimed twice");
    assert_eq!(unique.len(), total, "every delivery claimed once");
    let log = log.lock().unwrap().clone();
    for n in 1..=LICENCES {
        let of_licence: Vec<u64> = log
            .iter()
            .filter(|(l, _)| l == number(n).as_str())
            .map(|(_, s)| *s)
            .collect();
        assert_eq!(of_licence.len(), 4);
        assert!(
            of_licence.windows(2).all(|w| w[0] < w[1]),
            "licence {n} delivered out of order: {of_licence:?}"
        );
    }
    let figures = a.outbox_figures().await.unwrap();
    assert_eq!((figures[0].written, figures[0].pending), (total as u64, 0));
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// A dead primary is noticed in seconds: the connections get a connect timeout, a TCP
/// user timeout and early keepalives, unless the URL sets its own. Sessions run without
/// JIT compilation, unless the URL's options say otherwise.
#[test]
fn connections_notice_a_dead_primary_in_seconds() {
    use std::time::Duration;

    let settings = |url: &str| PostgresConfig {
        url: url.to_owned(),
        node: "n".into(),
        pool_size: 2,
        migrate: false,
    };
    let config =
        super::connection_config(&settings("postgresql://edl@h1:5432,h2:5432/edl")).unwrap();
    assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(2)));
    assert_eq!(config.get_tcp_user_timeout(), Some(&Duration::from_secs(5)));
    assert!(config.get_keepalives());
    assert_eq!(config.get_keepalives_idle(), Duration::from_secs(2));
    assert_eq!(
        config.get_keepalives_interval(),
        Some(Duration::from_secs(1))
    );
    assert_eq!(config.get_keepalives_retries(), Some(3));
    assert_eq!(config.get_options(), Some("-c jit=off"));

    let own = super::connection_config(&settings(
        "postgresql://edl@h1/edl?connect_timeout=7&keepalives_idle=30",
    ))
    .unwrap();
    assert_eq!(own.get_connect_timeout(), Some(&Duration::from_secs(7)));
    assert_eq!(own.get_keepalives_idle(), Duration::from_secs(30));

    let options = |url: &str| {
        let config = super::connection_config(&settings(url)).unwrap();
        config.get_options().map(str::to_owned)
    };
    assert_eq!(
        options("postgresql://edl@h1/edl?options=-c%20work_mem%3D8MB").as_deref(),
        Some("-c work_mem=8MB -c jit=off")
    );
    assert_eq!(
        options("postgresql://edl@h1/edl?options=-c%20jit%3Don").as_deref(),
        Some("-c jit=on")
    );
}

/// A stored record that is not what edld wrote is reported as corrupt, not as a database
/// failure (records are read straight from the column's bytes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_of_another_shape_reads_as_corrupt() {
    let server = TestPostgres::shared().unwrap();
    let engine = PgEngine::new();
    let store = engine.store();
    let name = engine.url.rsplit('/').next().unwrap().to_owned();
    server
        .psql(
            &name,
            &format!(
                "INSERT INTO licences (number, record) VALUES ('{}', '{{\"x\": 1}}')",
                number(1)
            ),
        )
        .unwrap();
    match store.licence(&number(1)).await {
        Err(crate::store::StoreError::Corrupt(what)) => assert_eq!(what, "licence"),
        other => panic!("expected a corrupt licence, got {other:?}"),
    }
    store.close().await.unwrap();
}

/// Many lookups at once on one node are coalesced into few statements: each gets its own
/// credential (or none for an unknown id, the same id twice gets it twice), and a
/// suspension committed on another node is in every lookup that arrives after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_each_get_their_own_answer_and_see_a_suspension_at_once() {
    use crate::domain::access::Role;
    use crate::domain::registry::{LicenceEdit, StateAction};
    use crate::store::LicenceChange;
    use crate::store::conformance::{actor, issue_front};
    use keys::licence::LicenceState;

    let engine = PgEngine::new();
    let (a, b) = (engine.store(), engine.store());
    for n in 1..=20u16 {
        put(a.as_ref(), record(n, "C1", true)).await;
        admit(a.as_ref(), ticket(n as u8), number(n), Photo::OnFile, false)
            .await
            .unwrap();
    }
    let issued = issue_front(a.as_ref(), 20, 1).await;
    assert_eq!(issued.len(), 20);
    let unknown = hex::encode([0xee; 16]);
    let ids: Vec<String> = (0..400)
        .map(|i| match i % 21 {
            20 => unknown.clone(),
            k => issued[k].id.clone(),
        })
        .collect();
    let lookups = ids.iter().map(|id| {
        let b = b.clone();
        let id = id.clone();
        tokio::spawn(async move { (id.clone(), b.lookup(&id).await.unwrap()) })
    });
    for lookup in lookups.collect::<Vec<_>>() {
        let (id, found) = lookup.await.unwrap();
        match issued.iter().find(|c| c.id == id) {
            None => assert!(found.is_none(), "{id} is not a credential"),
            Some(c) => {
                let (credential, licence) = found.expect("an issued credential is found");
                assert_eq!(&*credential, c);
                assert_eq!(licence.number, c.licence);
            }
        }
    }

    let c = &issued[3];
    a.change_licence(LicenceChange {
        number: c.licence.clone(),
        edit: LicenceEdit::State(StateAction::Suspend),
        actor: actor(Role::Registry),
        reissue_ticket: ticket(203),
    })
    .await
    .unwrap();
    let after = (0..50).map(|_| {
        let (b, id) = (b.clone(), c.id.clone());
        tokio::spawn(async move { b.lookup(&id).await.unwrap() })
    });
    for lookup in after.collect::<Vec<_>>() {
        let (_, licence) = lookup.await.unwrap().unwrap();
        assert_eq!(licence.state, LicenceState::Suspended);
    }
    a.close().await.unwrap();
    b.close().await.unwrap();
}
