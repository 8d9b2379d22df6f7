//! The conformance suite every storage engine passes: each rule of the [`Store`] interface
//! (one open application per licence, claims that never overlap, a step completed whole or
//! not at all and only from the licence it was signed for, supersession and re-issue on a
//! registry change, unique client names, a growing trust list sequence, one audit chain in
//! the order of the changes, status indices never handed out twice) and durability: what a
//! command acknowledged is there after the engine is closed and opened again, and a command
//! whose commit fails is not acknowledged.
//!
//! An engine runs the suite through [`Engine`] and the [`conformance_tests!`] macro, which
//! makes one test per rule.

use std::sync::Arc;

use keys::UnixTime;
use keys::licence::{LicenceNumber, LicenceState};
use keys::status_list::CredentialStatus;

use crate::domain::access::{ApiClient, Caller, Role};
use crate::domain::application::{
    Application, ApplicationState, Channel, Photo, PhotoFormat, PhotoSource, Ticket,
};
use crate::domain::audit::AuditRecord;
use crate::domain::audit::chain;
use crate::domain::issue::CredentialRecord;
use crate::domain::notify::{EventKind, Subscription};
use crate::domain::queue::Lane;
use crate::domain::registry::{LicenceEdit, LicenceRecord, RegistryLine, StateAction};
use crate::domain::throttle::settings::ThrottleSettings;
use crate::store::{
    Actor, Admit, AdmitError, Admitted, ChangeError, ClientConflict, CompletedStep, DecideError,
    Delivery, DeliveryKey, DeliveryOutcome, Issuance, LicenceChange, Refresh, RefreshConflict,
    Rejection, Replay, ReviewDecision, Store, StoredClient,
};

/// An engine under test: a fresh, empty store, opened again on the same state after a
/// close, with commits that can be made to fail.
pub(crate) trait Engine: Send + Sync {
    /// Opens the engine's state (empty the first time).
    fn open(&self) -> Arc<dyn Store>;

    /// Makes the next `n` durable commits of `store` fail, if the engine can (the engine
    /// then refuses to acknowledge what they carried).
    fn fail_next_commits(&self, store: &Arc<dyn Store>, n: u32) -> bool;
}

/// One test per rule for an engine: `conformance_tests!(|| SledEngine::new());`.
macro_rules! conformance_tests {
    ($engine:expr) => {
        conformance_tests!(@each $engine;
            admit_creates_and_is_idempotent,
            admit_refuses_what_the_registry_does_not_allow,
            uploads_wait_for_review_and_decisions_apply_once,
            reviews_are_listed_oldest_first_and_leave_when_decided,
            applications_before_the_opening_are_ordered_at_it,
            claims_never_overlap_and_releases_give_back,
            a_completed_step_issues_exactly_once,
            a_licence_changed_since_the_claim_is_requeued,
            a_registry_change_supersedes_and_queues_a_reissue,
            the_holder_key_stays_with_the_application_and_its_reissue,
            state_changes_set_status_values_and_refuse_bad_transitions,
            refresh_is_conditional,
            a_lookup_sees_every_change_once_it_is_answered,
            lookups_racing_changes_see_each_change_once_it_is_answered,
            client_names_are_unique,
            the_trust_list_sequence_grows,
            every_change_is_one_record_on_one_chain,
            operator_changes_are_read_newest_first,
            status_indices_are_never_handed_out_twice,
            acknowledged_state_survives_reopening,
            a_failed_commit_is_not_acknowledged,
            events_are_written_with_their_changes_and_not_without,
            claims_keep_each_licences_order_and_leases_lapse,
            removing_a_subscription_drops_what_it_is_owed,
            expiring_credentials_are_noted_once,
            an_unacknowledged_change_delivers_nothing,
        );
    };
    (@each $engine:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let engine = $engine;
                crate::store::conformance::$case(&engine).await;
            }
        )*
    };
}
pub(crate) use conformance_tests;

pub(crate) const AT: UnixTime = UnixTime(1_900_000_000);

pub(crate) fn number(n: u16) -> LicenceNumber {
    let birth =
        time::Date::from_calendar_date(1980, time::Month::January, 1).unwrap_or(time::Date::MIN);
    LicenceNumber::from_parts(110_105, birth, n).unwrap()
}

pub(crate) fn record(n: u16, classes: &str, photo: bool) -> LicenceRecord {
    let line = RegistryLine {
        number: Some(number(n).to_string()),
        name: format!("Holder {n}"),
        classes: serde_json::from_value(serde_json::json!(classes)).unwrap(),
        valid_from: "2020-01-01".into(),
        valid_until: Some("2039-12-31".into()),
        authority: "Test".into(),
        photo: photo.then(|| keys::licence::PhotoDigest::of(&n.to_be_bytes()).to_string()),
        ..RegistryLine::default()
    };
    line.into_record(None).unwrap()
}

fn caller(role: Role) -> Caller {
    Caller {
        client: format!("test-{}", role.as_str()),
        role,
    }
}

pub(crate) fn actor(role: Role) -> Actor {
    Actor {
        caller: caller(role),
        at: AT,
    }
}

pub(crate) fn ticket(n: u8) -> Ticket {
    Ticket([n; 16])
}

pub(crate) async fn put(store: &dyn Store, record: LicenceRecord) -> crate::store::LicenceChanged {
    store
        .change_licence(LicenceChange {
            number: record.number.clone(),
            edit: LicenceEdit::Put(record),
            actor: actor(Role::Registry),
            reissue_ticket: ticket(200),
        })
        .await
        .unwrap()
}

pub(crate) async fn admit(
    store: &dyn Store,
    t: Ticket,
    licence: LicenceNumber,
    photo: Photo,
    before_opening: bool,
) -> Result<Admitted, AdmitError> {
    admit_bound(store, t, licence, photo, before_opening, None).await
}

async fn admit_bound(
    store: &dyn Store,
    t: Ticket,
    licence: LicenceNumber,
    photo: Photo,
    before_opening: bool,
    holder_key: Option<keys::jwk::HolderJwk>,
) -> Result<Admitted, AdmitError> {
    let quote = |_: Lane, position: u64| Some((position, position * 2));
    store
        .admit(Admit {
            ticket: t,
            licence,
            channel: Channel::App,
            client: "test-gateway".into(),
            photo,
            holder_key,
            at: AT,
            before_opening,
            quote: &quote,
        })
        .await
}

fn uploaded() -> Photo {
    Photo::Uploaded {
        digest: keys::licence::PhotoDigest::of(b"upload"),
        format: PhotoFormat::Png,
        source: PhotoSource::Camera,
    }
}

/// Signs nothing: a credential record for a claimed application, as the signer makes one.
pub(crate) fn credential(app: &Application, id: u8, list: u32, index: u32) -> CredentialRecord {
    CredentialRecord {
        id: hex::encode([id; 16]),
        licence: app.licence.clone(),
        ticket: app.ticket,
        list,
        index,
        issued_at: AT,
        expires_at: AT.plus(86_400),
        superseded: false,
        token: "dG9rZW4".into(),
        photo: keys::licence::PhotoDigest::of(b"photo"),
    }
}

/// Claims the front of the first-applications lane and issues each claimed application,
/// superseding the licence's earlier credentials: what the drain does, without signing.
pub(crate) async fn issue_front(
    store: &dyn Store,
    take: u64,
    first_id: u8,
) -> Vec<CredentialRecord> {
    let claim = store.claim_step([0, take, take]).await.unwrap();
    let mut step = CompletedStep::default();
    let mut issued = Vec::new();
    for (n, entry) in claim.entries.into_iter().enumerate() {
        step.served.push((entry.lane, entry.sequence, entry.ticket));
        let (Some(mut app), Some(licence)) = (entry.application, entry.licence) else {
            continue;
        };
        let allocation = store.allocate_indices(1, u32::MAX).await.unwrap();
        let (list, index) = allocation.indices[0];
        let c = credential(&app, first_id + n as u8, list, index);
        app.issue(c.id.clone(), AT).unwrap();
        let superseded = entry
            .credentials
            .into_iter()
            .filter(|c| !c.superseded)
            .map(|mut c| {
                c.superseded = true;
                c
            })
            .collect();
        issued.push(c.clone());
        step.issued.push(Issuance {
            application: app,
            credential: c,
            superseded,
            licence,
            new_licence: None,
        });
    }
    let completed = store.complete_step(step).await.unwrap();
    assert!(completed.requeued.is_empty());
    issued
}

pub(crate) async fn admit_creates_and_is_idempotent(engine: &dyn Engine) {
    let store = engine.open();
    put(store.as_ref(), record(1, "C1", true)).await;
    let Admitted::New(app) = admit(store.as_ref(), ticket(1), number(1), Photo::OnFile, false)
        .await
        .unwrap()
    else {
        panic!("a new application")
    };
    assert_eq!(
        app.state,
        ApplicationState::Queued {
            lane: Lane::First,
            sequence: 1
        }
    );
    assert_eq!(app.quoted, Some((1, 2)), "quoted at its position");
    assert_eq!(app.client, "test-gateway");
    // A second application for the licence, whoever makes it: the open one.
    let again = admit(store.as_ref(), ticket(2), number(1), Photo::OnFile, false)
        .await
        .unwrap();
    assert_eq!(again, Admitted::Existing(app.clone()));
    assert_eq!(store.application(ticket(2)).await.unwrap(), None);
    assert_eq!(store.application(ticket(1)).await.unwrap(), Some(app));
    assert_eq!(store.queue().depth, [0, 0, 1]);
    store.close().await.unwrap();
}

pub(crate) async fn admit_refuses_what_the_registry_does_not_allow(engine: &dyn Engine) {
    let store = engine.open();
    let refused = |r: Result<Admitted, AdmitError>| r.unwrap_err();
    assert_eq!(
        refused(admit(store.as_ref(), ticket(1), number(9), Photo::OnFile, false).await),
        AdmitError::UnknownLicence
    );
    put(store.as_ref(), record(2, "C1", false)).await;
    assert_eq!(
        refused(admit(store.as_ref(), ticket(2), number(2), Photo::OnFile, false).await),
        AdmitError::NoPhotoOnFile
    );
    put(store.as_ref(), record(3, "C1", true)).await;
    store
        .change_licence(LicenceChange {
            number: number(3),
            edit: LicenceEdit::State(StateAction::Suspend),
            actor: actor(Role::Registry),
            reissue_ticket: ticket(201),
        })
        .await
        .unwrap();
    assert_eq!(
        refused(admit(store.as_ref(), ticket(3), number(3), Photo::OnFile, false).await),
        AdmitError::NotInForce(LicenceState::Suspended)
    );
    assert_eq!(store.queue().depth, [0, 0, 0], "nothing refused is queued");
    store.close().await.unwrap();
}

pub(crate) async fn uploads_wait_for_review_and_decisions_apply_once(engine: &dyn Engine) {
    let store = engine.open();
    put(store.as_ref(), record(1, "C1", false)).await;
    put(store.as_ref(), record(2, "C1", false)).await;
    admit(store.as_ref(), ticket(1), number(1), uploaded(), false)
        .await
        .unwrap();
    admit(store.as_ref(), ticket(2), number(2), uploaded(), false)
        .await
        .unwrap();
    let waiting: Vec<Ticket> = store
        .reviews(10)
        .await
        .unwrap()
        .iter()
        .map(|a| a.ticket)
        .collect();
    assert_eq!(waiting.len(), 2);
    assert!(waiting.contains(&ticket(1)) && waiting.contains(&ticket(2)));
    assert_eq!(
        store.queue().depth,
        [0, 0, 0],
        "uploads wait outside the queue"
    );
    let decide = |t: Ticket, rejection: Option<&str>| ReviewDecision {
        ticket: t,
        rejection: rejection.map(str::to_owned),
        actor: actor(Role::Reviewer),
    };
    let approved = store.decide_review(decide(ticket(1), None)).await.unwrap();
    assert!(matches!(
        approved.state,
        ApplicationState::Queued {
            lane: Lane::First,
            ..
        }
    ));
    let rejected = store
        .decide_review(decide(ticket(2), Some("face not visible")))
        .await
        .unwrap();
    assert_eq!(
        rejected.state,
        ApplicationState::Rejected {
            reason: "face not visible".into()
        }
    );
    assert_eq!(
        store
            .decide_review(decide(ticket(1), None))
            .await
            .unwrap_err(),
        DecideError::NotWaiting("queued")
    );
    assert_eq!(
        store
            .decide_review(decide(ticket(9), None))
            .await
            .unwrap_err(),
        DecideError::NotFound
    );
    assert!(store.reviews(10).await.unwrap().is_empty());
    assert_eq!(store.queue().depth, [0, 0, 1]);
    store.close().await.unwrap();
}

/// The reviewer's desk: uploads waiting for review are listed oldest first (by when they
/// were made, whatever their tickets), at most the limit asked, and a decided one leaves
/// the list; the order holds after a reopen.
pub(crate) async fn reviews_are_listed_oldest_first_and_leave_when_decided(engine: &dyn Engine) {
    let store = engine.open();
    // Tickets in an order unlike the times they were made in.
    let made = [(9u8, 30u64), (3, 0), (7, 20), (1, 10)];
    for (i, &(t, seconds)) in made.iter().enumerate() {
        let n = i as u16 + 1;
        put(store.as_ref(), record(n, "C1", false)).await;
        let quote = |_: Lane, position: u64| Some((position, position * 2));
        store
            .admit(Admit {
                ticket: ticket(t),
                licence: number(n),
                channel: Channel::App,
                client: "test-gateway".into(),
                photo: uploaded(),
                holder_key: None,
                at: UnixTime(AT.0 + seconds),
                before_opening: false,
                quote: &quote,
            })
            .await
            .unwrap();
    }
    let waiting = |apps: Vec<Application>| apps.iter().map(|a| a.ticket).collect::<Vec<_>>();
    assert_eq!(
        waiting(store.reviews(10).await.unwrap()),
        [ticket(3), ticket(1), ticket(7), ticket(9)]
    );
    assert_eq!(
        waiting(store.reviews(2).await.unwrap()),
        [ticket(3), ticket(1)],
        "the oldest, as many as asked"
    );
    for (t, rejection) in [(1, None), (7, Some("background not white"))] {
        store
            .decide_review(ReviewDecision {
                ticket: ticket(t),
                rejection: rejection.map(str::to_owned),
                actor: actor(Role::Reviewer),
            })
            .await
            .unwrap();
    }
    assert_eq!(
        waiting(store.reviews(10).await.unwrap()),
        [ticket(3), ticket(9)],
        "approved and rejected uploads leave the list"
    );
    store.close().await.unwrap();
    drop(store);
    let store = engine.open();
    assert_eq!(
        waiting(store.reviews(10).await.unwrap()),
        [ticket(3), ticket(9)]
    );
    store.close().await.unwrap();
}

pub(crate) async fn applications_before_the_opening_are_ordered_at_it(engine: &dyn Engine) {
    let store = engine.open();
    for n in 1..=5 {
        put(store.as_ref(), record(n, "C1", true)).await;
        let admitted = admit(
            store.as_ref(),
            ticket(n as u8),
            number(n),
            Photo::OnFile,
            true,
        )
        .await
        .unwrap();
        let Admitted::New(app) = admitted else {
            panic!("new")
        };
        assert_eq!(
            app.state,
            ApplicationState::Queued {
                lane: Lane::First,
                sequence: 0
            }
        );
    }
    assert_eq!(store.queue().unordered, [0, 0, 5]);
    // Part now, the rest at once when no more than the limit remain.
    assert_eq!(store.order_opening(2).await.unwrap(), 2);
    assert_eq!(store.order_opening(10).await.unwrap(), 3);
    assert_eq!(store.queue().unordered, [0, 0, 0]);
    assert_eq!(store.queue().depth, [0, 0, 5]);
    let mut sequences = Vec::new();
    for n in 1..=5u8 {
        match store.application(ticket(n)).await.unwrap().unwrap().state {
            ApplicationState::Queued { sequence, .. } => sequences.push(sequence),
            other => panic!("{other:?}"),
        }
    }
    sequences.sort_unstable();
    assert_eq!(sequences, [1, 2, 3, 4, 5]);
    store.close().await.unwrap();
}

pub(crate) async fn claims_never_overlap_and_releases_give_back(engine: &dyn Engine) {
    let store = engine.open();
    for n in 1..=4 {
        put(store.as_ref(), record(n, "C1", true)).await;
        admit(
            store.as_ref(),
            ticket(n as u8),
            number(n),
            Photo::OnFile,
            false,
        )
        .await
        .unwrap();
    }
    let first = store.claim_step([0, 0, 3]).await.unwrap();
    let second = store.claim_step([0, 0, 3]).await.unwrap();
    let tickets = |c: &crate::store::Claim| c.entries.iter().map(|e| e.ticket).collect::<Vec<_>>();
    assert_eq!(
        tickets(&first),
        [ticket(1), ticket(2), ticket(3)],
        "in queue order"
    );
    assert_eq!(
        tickets(&second),
        [ticket(4)],
        "what the first claim holds is not taken again"
    );
    let entry = &first.entries[0];
    assert_eq!(
        entry.licence.as_ref().map(|l| l.number.clone()),
        Some(number(1))
    );
    assert!(entry.application.is_some() && entry.credentials.is_empty());
    store.release_claim(&tickets(&first));
    let again = store.claim_step([0, 0, 10]).await.unwrap();
    assert_eq!(tickets(&again), [ticket(1), ticket(2), ticket(3)]);
    store.close().await.unwrap();
}

pub(crate) async fn a_completed_step_issues_exactly_once(engine: &dyn Engine) {
    let store = engine.open();
    put(store.as_ref(), record(1, "C1", true)).await;
    put(store.as_ref(), record(2, "C1", true)).await;
    admit(store.as_ref(), ticket(1), number(1), Photo::OnFile, false)
        .await
        .unwrap();
    admit(store.as_ref(), ticket(2), number(2), Photo::OnFile, false)
        .await
        .unwrap();
    // The second licence is revoked before the step: its application is rejected.
    store
        .change_licence(LicenceChange {
            number: number(2),
            edit: LicenceEdit::State(StateAction::Revoke),
            actor: actor(Role::Registry),
            reissue_ticket: ticket(201),
        })
        .await
        .unwrap();
    let claim = store.claim_step([0, 0, 10]).await.unwrap();
    assert_eq!(claim.entries.len(), 2);
    let mut step = CompletedStep::default();
    for entry in claim.entries {
        step.served.push((entry.lane, entry.sequence, entry.ticket));
        let mut app = entry.application.unwrap();
        let licence = entry.licence.unwrap();
        if licence.state == LicenceState::Normal {
            let c = credential(&app, 1, 0, 7);
            app.issue(c.id.clone(), AT).unwrap();
            step.issued.push(Issuance {
                application: app,
                credential: c,
                superseded: Vec::new(),
                licence,
                new_licence: None,
            });
        } else {
            app.reject("the licence is revoked".into(), AT).unwrap();
            step.rejected.push(Rejection {
                application: app,
                licence: Some(licence),
            });
        }
    }
    let completed = store.complete_step(step).await.unwrap();
    assert_eq!(completed.issued, 1);
    let issued = store.application(ticket(1)).await.unwrap().unwrap();
    let ApplicationState::Issued { credential_id } = issued.state else {
        panic!("issued: {issued:?}")
    };
    let c = store.credential(&credential_id).await.unwrap().unwrap();
    assert_eq!((c.list, c.index), (0, 7));
    let (looked_up, licence) = store.lookup(&credential_id).await.unwrap().unwrap();
    assert_eq!((&*looked_up, &licence.number), (&c, &number(1)));
    assert!(matches!(
        store.application(ticket(2)).await.unwrap().unwrap().state,
        ApplicationState::Rejected { .. }
    ));
    assert_eq!(store.credentials_of(&number(1)).await.unwrap(), [c]);
    // Nothing is left to claim: each queue entry was served once.
    assert_eq!(store.queue().depth, [0, 0, 0]);
    assert!(
        store
            .claim_step([10, 10, 10])
            .await
            .unwrap()
            .entries
            .is_empty()
    );
    assert_eq!(store.oldest_queued().await.unwrap(), [None, None, None]);
    store.close().await.unwrap();
}

pub(crate) async fn a_licence_changed_since_the_claim_is_requeued(engine: &dyn Engine) {
    let store = engine.open();
    put(store.as_ref(), record(1, "C1", true)).await;
    admit(store.as_ref(), ticket(1), number(1), Photo::OnFile, false)
        .await
        .unwrap();
    let claim = store.claim_step([0, 0, 1]).await.unwrap();
    let entry = claim.entries.into_iter().next().unwrap();
    // The registry changes the class while the credential is being signed.
    put(store.as_ref(), record(1, "C1 D", true)).await;
    let mut app = entry.application.unwrap();
    let c = credential(&app, 1, 0, 1);
    app.issue(c.id.clone(), AT).unwrap();
    let step = CompletedStep {
        served: vec![(entry.lane, entry.sequence, entry.ticket)],
        issued: vec![Issuance {
            application: app,
            credential: c.clone(),
            superseded: Vec::new(),
            licence: entry.licence.unwrap(),
            new_licence: None,
        }],
        rejected: Vec::new(),
    };
    let completed = store.complete_step(step).await.unwrap();
    assert_eq!((completed.issued, completed.requeued), (0, vec![ticket(1)]));
    assert_eq!(
        store.credential(&c.id).await.unwrap(),
        None,
        "nothing signed from the old record"
    );
    assert!(matches!(
        store.application(ticket(1)).await.unwrap().unwrap().state,
        ApplicationState::Queued { .. }
    ));
    // It is claimed again, with the licence as it is now.
    let again = store.claim_step([0, 0, 1]).await.unwrap();
    assert_eq!(again.entries.len(), 1);
    assert_eq!(
        again.entries[0]
            .licence
            .as_ref()
            .unwrap()
            .classes
            .to_string(),
        "C1 D"
    );
    store.close().await.unwrap();
}

pub(crate) async fn a_registry_change_supersedes_and_queues_a_reissue(engine: &dyn Engine) {
    let store = engine.open();
    let created = put(store.as_ref(), record(1, "C1", true)).await;
    assert!(created.created && created.reissue.is_none());
    admit(store.as_ref(), ticket(1), number(1), Photo::OnFile, false)
        .await
        .unwrap();
    let first = issue_front(store.as_ref(), 1, 10).await.remove(0);
    // A change the credential shows (the classes) supersedes it and queues a re-issue in
    // the re-issue lane, owned by the client that made the licence's latest application.
    let changed = put(store.as_ref(), record(1, "C1 D", true)).await;
    assert!(!changed.created);
    assert_eq!(changed.reissue, Some(ticket(200)));
    assert_eq!(
        changed.list_updates,
        [crate::store::StatusEntry {
            list: first.list,
            index: first.index,
            value: CredentialStatus::Superseded
        }]
    );
    assert_eq!(changed.credentials.len(), 1);
    assert!(changed.credentials[0].superseded);
    let reissue = store.application(ticket(200)).await.unwrap().unwrap();
    assert_eq!(
        reissue.state,
        ApplicationState::Queued {
            lane: Lane::Reissue,
            sequence: 1
        }
    );
    assert_eq!(
        (reissue.client.as_str(), reissue.channel),
        ("test-gateway", Channel::Registry)
    );
    assert_eq!(reissue.previous, Some(ticket(1)));
    assert_eq!(store.queue().depth, [0, 1, 0]);
    assert!(
        store
            .credential(&first.id)
            .await
            .unwrap()
            .unwrap()
            .superseded
    );
    // While the re-issue is open, another change queues no second one.
    let again = put(store.as_ref(), record(1, "C1 D E", true)).await;
    assert_eq!(again.reissue, None);
    // The re-issue supersedes along the chain; the licence has one current credential.
    let second = issue_front(store.as_ref(), 1, 20).await.remove(0);
    let all = store.credentials_of(&number(1)).await.unwrap();
    assert_eq!(
        all.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        [second.id, first.id]
    );
    assert_eq!(all.iter().filter(|c| !c.superseded).count(), 1);
    // A change the credential does not show (the points) supersedes nothing.
    let points = store
        .change_licence(LicenceChange {
            number: number(1),
            edit: LicenceEdit::Points(keys::licence::Points::try_from(3).unwrap()),
            actor: actor(Role::Registry),
            reissue_ticket: ticket(202),
        })
        .await
        .unwrap();
    assert!(points.reissue.is_none() && points.list_updates.is_empty());
    store.close().await.unwrap();
}

pub(crate) async fn the_holder_key_stays_with_the_application_and_its_reissue(engine: &dyn Engine) {
    let store = engine.open();
    let device =
        keys::jwk::HolderJwk::from_public_key(keys::SigningKey::from_seed(&[7; 32]).public());
    put(store.as_ref(), record(1, "C1", true)).await;
    admit_bound(
        store.as_ref(),
        ticket(1),
        number(1),
        Photo::OnFile,
        false,
        Some(device.clone()),
    )
    .await
    .unwrap();
    let stored = store.application(ticket(1)).await.unwrap().unwrap();
    assert_eq!(stored.holder_key.as_ref(), Some(&device));
    issue_front(store.as_ref(), 1, 10).await;
    // The re-issue a class change queues is bound to the same device.
    let changed = put(store.as_ref(), record(1, "C1 D", true)).await;
    let reissue = store
        .application(changed.reissue.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reissue.holder_key.as_ref(), Some(&device));
    // An application without one stays unbound.
    put(store.as_ref(), record(2, "C1", true)).await;
    admit(store.as_ref(), ticket(2), number(2), Photo::OnFile, false)
        .await
        .unwrap();
    let unbound = store.application(ticket(2)).await.unwrap().unwrap();
    assert_eq!(unbound.holder_key, None);
    store.close().await.unwrap();
    drop(store);
    let store = engine.open();
    let stored = store.application(ticket(1)).await.unwrap().unwrap();
    assert_eq!(stored.holder_key.as_ref(), Some(&device));
    store.close().await.unwrap();
}

pub(crate) async fn state_changes_set_status_values_and_refuse_bad_transitions(
    engine: &dyn Engine,
) {
    let store = engine.open();
    put(store.as_ref(), record(1, "C1", true)).await;
    admit(store.as_ref(), ticket(1), number(1), Photo::OnFile, false)
        .await
        .unwrap();
    let c = issue_front(store.as_ref(), 1, 30).await.remove(0);
    let change = |edit| LicenceChange {
        number: number(1),
        edit,
        actor: actor(Role::Registry),
        reissue_ticket: ticket(203),
    };
    let suspended = store
        .change_licence(change(LicenceEdit::State(StateAction::Suspend)))
        .await
        .unwrap();
    assert_eq!(suspended.record.state, LicenceState::Suspended);
    assert_eq!(suspended.list_updates[0].value, CredentialStatus::Suspended);
    assert_eq!(suspended.list_updates[0].index, c.index);
    assert!(suspended.reissue.is_none());
    assert!(matches!(
        store
            .change_licence(change(LicenceEdit::State(StateAction::Suspend)))
            .await
            .unwrap_err(),
        ChangeError::Transition(_)
    ));
    let revoked = store
        .change_licence(change(LicenceEdit::State(StateAction::Revoke)))
        .await
        .unwrap();
    assert_eq!(revoked.list_updates[0].value, CredentialStatus::Invalid);
    assert!(matches!(
        store
            .change_licence(change(LicenceEdit::State(StateAction::Reinstate)))
            .await
            .unwrap_err(),
        ChangeError::Transition(_)
    ));
    let unknown = LicenceChange {
        number: number(9),
        ..change(LicenceEdit::State(StateAction::Suspend))
    };
    assert_eq!(
        store.change_licence(unknown).await.unwrap_err(),
        ChangeError::NotFound
    );
    // Many at once (an import): one outcome each, in order.
    let outcomes = store
        .change_licences(vec![
            LicenceChange {
                number: number(5),
                ..change(LicenceEdit::Put(record(5, "C1", true)))
            },
            LicenceChange {
                number: number(6),
                ..change(LicenceEdit::State(StateAction::Suspend))
            },
        ])
        .await
        .unwrap();
    assert!(outcomes[0].as_ref().unwrap().created);
    assert_eq!(outcomes[1].as_ref().unwrap_err(), &ChangeError::NotFound);
    assert!(store.licence(&number(5)).await.unwrap().is_some());
    store.close().await.unwrap();
}

pub(crate) async fn refresh_is_conditional(engine: &dyn Engine) {
    let store = engine.open();
    put(store.as_ref(), record(1, "C1", true)).await;
    admit(store.as_ref(), ticket(1), number(1), Photo::OnFile, false)
        .await
        .unwrap();
    let c = issue_front(store.as_ref(), 1, 40).await.remove(0);
    let (read, licence) = store.lookup(&c.id).await.unwrap().unwrap();
    let (read, licence) = (
        CredentialRecord::clone(&read),
        LicenceRecord::clone(&licence),
    );
    let mut refreshed = read.clone();
    refreshed.token = "cmVmcmVzaGVk".into();
    refreshed.expires_at = AT.plus(2 * 86_400);
    let audit = || AuditRecord::new(&caller(Role::Gateway), AT, "credential.refresh", None, None);
    // Signed from a licence that has changed since: refused.
    let stale = Refresh {
        expected: (read.clone(), record(1, "C2", true)),
        refreshed: refreshed.clone(),
        audit: audit(),
    };
    assert_eq!(
        store.refresh_credential(stale).await.unwrap_err(),
        RefreshConflict::Changed
    );
    let fresh = Refresh {
        expected: (read, licence),
        refreshed: refreshed.clone(),
        audit: audit(),
    };
    store.refresh_credential(fresh).await.unwrap();
    assert_eq!(store.credential(&c.id).await.unwrap(), Some(refreshed));
    store.close().await.unwrap();
}

/// What a lookup of `id` reads now: (token, superseded, licence state, classes, points).
async fn looked_up(store: &dyn Store, id: &str) -> (String, bool, LicenceState, String, u8) {
    let (c, l) = store
        .lookup(id)
        .await
        .unwrap()
        .expect("the credential is found");
    (
        c.token.clone(),
        c.superseded,
        l.state,
        l.classes.to_string(),
        l.points.get(),
    )
}

/// Every command that changes a credential or its licence is seen by the next lookup, even
/// when the records were just read (an engine may keep what it read): points, state,
/// refresh, a change that supersedes, the re-issue, revocation.
pub(crate) async fn a_lookup_sees_every_change_once_it_is_answered(engine: &dyn Engine) {
    let store = engine.open();
    let store = store.as_ref();
    let c = issued_licences(store, 1).await.remove(0);
    let read = |id: &str| {
        let id = id.to_owned();
        async move {
            // Twice: the second read is the one an engine may answer from what it kept.
            let first = looked_up(store, &id).await;
            assert_eq!(looked_up(store, &id).await, first);
            first
        }
    };
    let token = c.token.clone();
    assert_eq!(
        read(&c.id).await,
        (token.clone(), false, LicenceState::Normal, "C1".into(), 0)
    );
    let edit = |edit| LicenceChange {
        number: number(1),
        edit,
        actor: actor(Role::Registry),
        reissue_ticket: ticket(230),
    };
    let points = keys::licence::Points::try_from(4).unwrap();
    store
        .change_licence(edit(LicenceEdit::Points(points)))
        .await
        .unwrap();
    assert_eq!(read(&c.id).await.4, 4);
    set_state(store, 1, StateAction::Suspend).await.unwrap();
    assert_eq!(read(&c.id).await.2, LicenceState::Suspended);
    set_state(store, 1, StateAction::Reinstate).await.unwrap();
    assert_eq!(read(&c.id).await.2, LicenceState::Normal);

    let (credential, licence) = store.lookup(&c.id).await.unwrap().unwrap();
    let mut refreshed = CredentialRecord::clone(&credential);
    refreshed.token = "cmVmcmVzaGVkIGFnYWlu".into();
    store
        .refresh_credential(Refresh {
            expected: (
                CredentialRecord::clone(&credential),
                LicenceRecord::clone(&licence),
            ),
            refreshed,
            audit: AuditRecord::new(&caller(Role::Gateway), AT, "credential.refresh", None, None),
        })
        .await
        .unwrap();
    assert_eq!(read(&c.id).await.0, "cmVmcmVzaGVkIGFnYWlu");

    // A change the credential shows supersedes it; the re-issue is a new credential.
    let mut classes = record(1, "C1 D", true);
    classes.points = points;
    put(store, classes).await;
    let superseded = read(&c.id).await;
    assert_eq!((superseded.1, superseded.3.as_str()), (true, "C1 D"));
    let second = issue_front(store, 1, 60).await.remove(0);
    assert!(!read(&second.id).await.1);
    assert!(read(&c.id).await.1);

    set_state(store, 1, StateAction::Revoke).await.unwrap();
    assert_eq!(read(&c.id).await.2, LicenceState::Revoked);
    assert_eq!(read(&second.id).await.2, LicenceState::Revoked);
    store.close().await.unwrap();
}

/// Lookups running on other threads while a licence changes over and over: each time a
/// change is answered, a lookup made after it reads it, never the record before it.
pub(crate) async fn lookups_racing_changes_see_each_change_once_it_is_answered(
    engine: &dyn Engine,
) {
    let store = engine.open();
    let c = issued_licences(store.as_ref(), 1).await.remove(0);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (store, stop, id) = (store.clone(), stop.clone(), c.id.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    store.lookup(&id).await.unwrap().unwrap();
                    n += 1;
                    tokio::task::yield_now().await;
                }
                n
            })
        })
        .collect();
    for round in 0..60u8 {
        let points = keys::licence::Points::try_from(round % 12).unwrap();
        store
            .change_licence(LicenceChange {
                number: number(1),
                edit: LicenceEdit::Points(points),
                actor: actor(Role::Registry),
                reissue_ticket: ticket(231),
            })
            .await
            .unwrap();
        for _ in 0..3 {
            assert_eq!(
                looked_up(store.as_ref(), &c.id).await.4,
                round % 12,
                "round {round}"
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        assert!(reader.await.unwrap() > 0);
    }
    store.close().await.unwrap();
}

pub(crate) async fn client_names_are_unique(engine: &dyn Engine) {
    let store = engine.open();
    let client = |name: &str, hash: u8| StoredClient {
        key_hash: [hash; 32],
        client: ApiClient {
            name: name.into(),
            role: Role::Insurer,
            created_at: Some(AT),
            delegates: Vec::new(),
        },
    };
    let audit = || AuditRecord::new(&caller(Role::Operator), AT, "client.add", None, None);
    store
        .add_clients(vec![client("a", 1)], vec![audit()])
        .await
        .unwrap();
    assert_eq!(
        store
            .add_clients(vec![client("a", 2)], vec![audit()])
            .await
            .unwrap_err(),
        ClientConflict::Exists("a".into())
    );
    assert_eq!(
        store
            .add_clients(vec![client("b", 3), client("b", 4)], vec![audit()])
            .await
            .unwrap_err(),
        ClientConflict::Exists("b".into()),
        "nor twice in one command"
    );
    let mut updated = client("a", 1).client;
    updated.delegates = vec!["c".into()];
    store.update_client(updated.clone(), audit()).await.unwrap();
    let stored = store.clients().await.unwrap();
    assert_eq!(
        stored,
        [StoredClient {
            key_hash: [1; 32],
            client: updated
        }]
    );
    assert_eq!(store.revoke_client("a", audit()).await.unwrap().name, "a");
    assert_eq!(
        store.revoke_client("a", audit()).await.unwrap_err(),
        ClientConflict::Unknown("a".into())
    );
    assert!(store.clients().await.unwrap().is_empty());
    store.close().await.unwrap();
}

pub(crate) async fn the_trust_list_sequence_grows(engine: &dyn Engine) {
    let store = engine.open();
    assert_eq!(store.trust_sequence().await.unwrap(), None);
    let keys = ["k1".to_owned(), "k2".to_owned()];
    let first = store.next_trust_list(&keys, AT).await.unwrap();
    assert_eq!((first.sequence, first.first_use.clone()), (1, vec![AT, AT]));
    let later = UnixTime(AT.0 + 100);
    let keys = ["k1".to_owned(), "k3".to_owned()];
    let second = store.next_trust_list(&keys, later).await.unwrap();
    assert_eq!(
        (second.sequence, second.first_use),
        (2, vec![AT, later]),
        "first use is kept"
    );
    let audit = AuditRecord::new(&caller(Role::Operator), AT, "keys.trust_list", None, None);
    store
        .serve_trust_list(Some(7), audit.clone())
        .await
        .unwrap();
    store.serve_trust_list(None, audit).await.unwrap();
    assert_eq!(store.trust_sequence().await.unwrap(), Some(7));
    store.close().await.unwrap();
}

pub(crate) async fn every_change_is_one_record_on_one_chain(engine: &dyn Engine) {
    let store = engine.open();
    put(store.as_ref(), record(1, "C1", false)).await;
    admit(store.as_ref(), ticket(1), number(1), uploaded(), false)
        .await
        .unwrap();
    store
        .decide_review(ReviewDecision {
            ticket: ticket(1),
            rejection: None,
            actor: actor(Role::Reviewer),
        })
        .await
        .unwrap();
    let mut settings = ThrottleSettings::default();
    settings.drain.rate = 12.0;
    store
        .change_throttle(
            settings,
            AuditRecord::new(&caller(Role::Operator), AT, "throttle.set", None, None),
        )
        .await
        .unwrap();
    store
        .record(AuditRecord::new(
            &caller(Role::Operator),
            AT,
            "keys.trust_list",
            None,
            None,
        ))
        .await
        .unwrap();
    assert_eq!(store.throttle_settings().await.unwrap(), Some(settings));
    let records = store.audit_records(1, 100).await.unwrap();
    let actions: Vec<String> = records
        .iter()
        .map(|(_, bytes)| chain::decode(bytes).unwrap().action)
        .collect();
    assert_eq!(
        actions,
        [
            "licence.create",
            "review.approve",
            "throttle.set",
            "keys.trust_list"
        ]
    );
    assert_eq!(
        chain::check(records.into_iter().map(Ok::<_, ()>))
            .unwrap()
            .unwrap()
            .next,
        5
    );
    // Pages: from a record number, at most a limit.
    let page = store.audit_records(2, 2).await.unwrap();
    assert_eq!(page.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [2, 3]);
    store.close().await.unwrap();
}

/// The console's trail: the operator changes (throttle settings, API clients) on the
/// chain, newest first, limited, none of the other changes, and the same after a reopen.
pub(crate) async fn operator_changes_are_read_newest_first(engine: &dyn Engine) {
    let store = engine.open();
    assert!(store.operator_changes(10).await.unwrap().is_empty());
    let operator = caller(Role::Operator);
    let throttle = |rate: f64| {
        let mut settings = ThrottleSettings::default();
        settings.drain.rate = rate;
        let detail = format!("{{\"drain.rate\":{{\"old\":\"x\",\"new\":\"{rate}\"}}}}");
        (
            settings,
            AuditRecord::new(&operator, AT, "throttle.set", None, Some(&detail)),
        )
    };
    let (settings, audit) = throttle(5.0);
    store.change_throttle(settings, audit).await.unwrap();
    put(store.as_ref(), record(1, "C1", false)).await;
    let client = StoredClient {
        key_hash: [7; 32],
        client: ApiClient {
            name: "insurer".into(),
            role: Role::Insurer,
            created_at: Some(AT),
            delegates: Vec::new(),
        },
    };
    store
        .add_clients(
            vec![client],
            vec![AuditRecord::new(&operator, AT, "client.add", None, None)],
        )
        .await
        .unwrap();
    store
        .record(AuditRecord::new(
            &operator,
            AT,
            "keys.trust_list",
            None,
            None,
        ))
        .await
        .unwrap();
    let (settings, audit) = throttle(7.0);
    store.change_throttle(settings, audit).await.unwrap();
    let read = |changes: Vec<(u64, Vec<u8>)>| -> Vec<(u64, String, Option<String>)> {
        changes
            .iter()
            .map(|(n, bytes)| {
                let record = chain::decode(bytes).unwrap();
                assert_eq!(record.seq, *n);
                (*n, record.action, record.detail)
            })
            .collect()
    };
    let expected = |limit: usize| {
        let all = vec![
            (
                5,
                "throttle.set".to_owned(),
                Some("{\"drain.rate\":{\"old\":\"x\",\"new\":\"7\"}}".to_owned()),
            ),
            (3, "client.add".to_owned(), None),
            (
                1,
                "throttle.set".to_owned(),
                Some("{\"drain.rate\":{\"old\":\"x\",\"new\":\"5\"}}".to_owned()),
            ),
        ];
        all.into_iter().take(limit).collect::<Vec<_>>()
    };
    assert_eq!(read(store.operator_changes(10).await.unwrap()), expected(3));
    assert_eq!(read(store.operator_changes(2).await.unwrap()), expected(2));
    store.close().await.unwrap();
    drop(store);
    let store = engine.open();
    assert_eq!(read(store.operator_changes(10).await.unwrap()), expected(3));
    store.close().await.unwrap();
}

pub(crate) async fn status_indices_are_never_handed_out_twice(engine: &dyn Engine) {
    let store = engine.open();
    put(store.as_ref(), record(1, "C1", true)).await;
    admit(store.as_ref(), ticket(1), number(1), Photo::OnFile, false)
        .await
        .unwrap();
    let issued = issue_front(store.as_ref(), 1, 50).await.remove(0);
    let mut seen = std::collections::HashSet::from([(issued.list, issued.index)]);
    let more = store.allocate_indices(2_000, u32::MAX).await.unwrap();
    assert_eq!(more.indices.len(), 2_000);
    for index in more.indices {
        assert!(seen.insert(index), "{index:?} handed out twice");
    }
    store.close().await.unwrap();
    drop(store);
    // After reopening, the stored credential's index stays taken.
    let store = engine.open();
    assert_eq!(
        store.status_entries().await.unwrap(),
        [crate::store::StatusEntry {
            list: issued.list,
            index: issued.index,
            value: CredentialStatus::Valid
        }]
    );
    for _ in 0..20 {
        let a = store.allocate_indices(1_000, u32::MAX).await.unwrap();
        assert!(!a.indices.contains(&(issued.list, issued.index)));
    }
    store.close().await.unwrap();
}

pub(crate) async fn acknowledged_state_survives_reopening(engine: &dyn Engine) {
    let store = engine.open();
    put(store.as_ref(), record(1, "C1", true)).await;
    put(store.as_ref(), record(2, "C1", true)).await;
    admit(store.as_ref(), ticket(1), number(1), Photo::OnFile, false)
        .await
        .unwrap();
    let issued = issue_front(store.as_ref(), 1, 60).await.remove(0);
    admit(store.as_ref(), ticket(2), number(2), Photo::OnFile, false)
        .await
        .unwrap();
    let settings = ThrottleSettings {
        paused: true,
        ..ThrottleSettings::default()
    };
    let audit = || AuditRecord::new(&caller(Role::Operator), AT, "throttle.set", None, None);
    store.change_throttle(settings, audit()).await.unwrap();
    store.next_trust_list(&["k".to_owned()], AT).await.unwrap();
    let before = store.audit_records(1, 1_000).await.unwrap();
    store.close().await.unwrap();
    drop(store);

    let store = engine.open();
    assert!(store.licence(&number(1)).await.unwrap().is_some());
    assert_eq!(store.credential(&issued.id).await.unwrap(), Some(issued));
    assert_eq!(store.throttle_settings().await.unwrap(), Some(settings));
    assert_eq!(store.trust_sequence().await.unwrap(), Some(1));
    assert_eq!(store.audit_records(1, 1_000).await.unwrap(), before);
    // The queue's counters are restored: the waiting application is next in its lane.
    let figures = store.queue();
    assert_eq!(figures.depth, [0, 0, 1]);
    assert_eq!(figures.position(Lane::First, 2), 1);
    let claim = store.claim_step([0, 0, 5]).await.unwrap();
    assert_eq!(
        claim.entries.iter().map(|e| e.ticket).collect::<Vec<_>>(),
        [ticket(2)]
    );
    // New records go on the same chain.
    store.record(audit()).await.unwrap();
    let after = store.audit_records(1, 1_000).await.unwrap();
    assert_eq!(
        chain::check(after.into_iter().map(Ok::<_, ()>))
            .unwrap()
            .unwrap()
            .next,
        before.len() as u64 + 2
    );
    store.close().await.unwrap();
}

pub(crate) async fn a_failed_commit_is_not_acknowledged(engine: &dyn Engine) {
    let store = engine.open();
    put(store.as_ref(), record(1, "C1", true)).await;
    if !engine.fail_next_commits(&store, 1) {
        store.close().await.unwrap();
        return;
    }
    assert!(
        admit(store.as_ref(), ticket(1), number(1), Photo::OnFile, false)
            .await
            .is_err()
    );
    // The engine carries on: the next command is acknowledged.
    admit(store.as_ref(), ticket(2), number(1), Photo::OnFile, false)
        .await
        .unwrap();
    store.close().await.unwrap();
}

/// A subscription to `events`, of one client's applications when given; `n` orders it.
pub(crate) fn subscription(n: u8, events: &[EventKind], client: Option<&str>) -> Subscription {
    Subscription {
        id: format!("{n:016x}"),
        url: format!("https://receiver-{n}.invalid/hook"),
        events: events.to_vec(),
        client: client.map(str::to_owned),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        created_at: UnixTime(AT.0 + u64::from(n)),
    }
}

/// Adds a subscription as an operator would.
pub(crate) async fn subscribe(store: &dyn Store, s: Subscription) {
    let audit = AuditRecord::new(&caller(Role::Operator), AT, "webhook.add", None, None);
    store.add_subscription(s, audit).await.unwrap();
}

/// A state change of a licence.
async fn set_state(store: &dyn Store, n: u16, action: StateAction) -> Result<(), ChangeError> {
    store
        .change_licence(LicenceChange {
            number: number(n),
            edit: LicenceEdit::State(action),
            actor: actor(Role::Registry),
            reissue_ticket: ticket(210 + n as u8),
        })
        .await
        .map(|_| ())
}

/// Licences `1..=n` in the registry, each issued one credential (ids from 100).
async fn issued_licences(store: &dyn Store, n: u16) -> Vec<CredentialRecord> {
    for k in 1..=n {
        put(store, record(k, "C1", true)).await;
        admit(store, ticket(k as u8), number(k), Photo::OnFile, false)
            .await
            .unwrap();
    }
    issue_front(store, u64::from(n), 100).await
}

/// The (kind, licence) of deliveries, for comparing.
fn kinds(deliveries: &[Delivery]) -> Vec<(String, EventKind, LicenceNumber)> {
    deliveries
        .iter()
        .map(|d| {
            (
                d.key.subscription.clone(),
                d.event.kind,
                d.event.licence.clone(),
            )
        })
        .collect()
}

/// Every delivery due at `at`, claimed with a lease to `at + 30`.
async fn claim_all(store: &dyn Store, at: u64) -> Vec<Delivery> {
    store
        .claim_deliveries(UnixTime(at), UnixTime(at + 30), 100)
        .await
        .unwrap()
}

/// Events are written by the commands that change what they tell of, one delivery per
/// subscription that wants each (a client's subscription only its applications' events),
/// each with its own sequence; a refused change writes none.
pub(crate) async fn events_are_written_with_their_changes_and_not_without(engine: &dyn Engine) {
    use EventKind::*;
    let store = engine.open();
    subscribe(store.as_ref(), subscription(1, &EventKind::ALL, None)).await;
    subscribe(
        store.as_ref(),
        subscription(
            2,
            &[ApplicationIssued, ApplicationRejected],
            Some("test-gateway"),
        ),
    )
    .await;
    subscribe(
        store.as_ref(),
        subscription(3, &EventKind::ALL, Some("another-client")),
    )
    .await;
    let subscriptions = store.subscriptions().await.unwrap();
    let ids: Vec<&str> = subscriptions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            &subscription(1, &[], None).id,
            &subscription(2, &[], None).id,
            &subscription(3, &[], None).id
        ]
    );
    // A licence created: no event. One issued: `application.issued`.
    let issued = issued_licences(store.as_ref(), 1).await;
    let due = claim_all(store.as_ref(), AT.0).await;
    assert_eq!(
        kinds(&due),
        [
            (subscriptions[0].id.clone(), ApplicationIssued, number(1)),
            (subscriptions[1].id.clone(), ApplicationIssued, number(1)),
        ]
    );
    assert_eq!(due[0].key.sequence, due[1].key.sequence, "one event");
    assert_eq!(
        due[0].event.credential.as_deref(),
        Some(issued[0].id.as_str())
    );
    assert_eq!(due[0].event.ticket, Some(ticket(1)));
    assert_eq!(due[0].event.client, "test-gateway");
    assert_eq!((due[0].attempts, due[0].started), (0, AT));
    for d in &due {
        store
            .finish_delivery(d.key.clone(), DeliveryOutcome::Delivered)
            .await
            .unwrap();
    }
    // Refused changes write nothing.
    assert!(
        set_state(store.as_ref(), 1, StateAction::Reinstate)
            .await
            .is_err()
    );
    assert!(
        set_state(store.as_ref(), 9, StateAction::Suspend)
            .await
            .is_err()
    );
    assert!(
        store
            .decide_review(ReviewDecision {
                ticket: ticket(1),
                rejection: Some("not waiting".into()),
                actor: actor(Role::Reviewer),
            })
            .await
            .is_err()
    );
    assert!(claim_all(store.as_ref(), AT.0 + 1000).await.is_empty());
    // A suspension: one event per current credential, named for the licence's client.
    set_state(store.as_ref(), 1, StateAction::Suspend)
        .await
        .unwrap();
    // A reviewer's rejection, with the reviewer's reason.
    put(store.as_ref(), record(2, "C1", false)).await;
    admit(store.as_ref(), ticket(2), number(2), uploaded(), false)
        .await
        .unwrap();
    store
        .decide_review(ReviewDecision {
            ticket: ticket(2),
            rejection: Some("face not visible".into()),
            actor: actor(Role::Reviewer),
        })
        .await
        .unwrap();
    let due = claim_all(store.as_ref(), AT.0 + 1000).await;
    assert_eq!(
        kinds(&due),
        [
            (subscriptions[0].id.clone(), CredentialSuspended, number(1)),
            (subscriptions[0].id.clone(), ApplicationRejected, number(2)),
            (subscriptions[1].id.clone(), ApplicationRejected, number(2)),
        ]
    );
    assert_eq!(due[0].event.client, "test-gateway");
    assert_eq!(due[1].event.reason.as_deref(), Some("face not visible"));
    assert!(due[0].key.sequence < due[1].key.sequence);
    let figures = store.outbox_figures().await.unwrap();
    let written: Vec<(u64, u64, u64)> = figures
        .iter()
        .map(|f| (f.written, f.pending, f.dead))
        .collect();
    assert_eq!(written, [(3, 2, 0), (2, 1, 0), (0, 0, 0)]);
    assert_eq!(figures[0].oldest_pending, Some(AT));
    for d in &due {
        store
            .finish_delivery(d.key.clone(), DeliveryOutcome::Delivered)
            .await
            .unwrap();
    }
    // A change of classes supersedes the current credential: `credential.superseded`
    // names the re-issue it queued.
    put(store.as_ref(), record(3, "C1", true)).await;
    admit(store.as_ref(), ticket(3), number(3), Photo::OnFile, false)
        .await
        .unwrap();
    let third = issue_front(store.as_ref(), 1, 60).await;
    let changed = put(store.as_ref(), record(3, "C1 D", true)).await;
    assert_eq!(changed.reissue, Some(ticket(200)));
    let due = claim_all(store.as_ref(), AT.0 + 2000).await;
    assert_eq!(
        kinds(&due),
        [
            (subscriptions[0].id.clone(), ApplicationIssued, number(3)),
            (subscriptions[1].id.clone(), ApplicationIssued, number(3)),
        ],
        "the supersession waits for the issuance"
    );
    for d in &due {
        store
            .finish_delivery(d.key.clone(), DeliveryOutcome::Delivered)
            .await
            .unwrap();
    }
    let due = claim_all(store.as_ref(), AT.0 + 2000).await;
    assert_eq!(
        kinds(&due),
        [(subscriptions[0].id.clone(), CredentialSuperseded, number(3))]
    );
    assert_eq!(
        due[0].event.credential.as_deref(),
        Some(third[0].id.as_str())
    );
    assert_eq!(due[0].event.reissue_ticket, Some(ticket(200)));
    assert_eq!(due[0].event.client, "test-gateway");
    let figures = store.outbox_figures().await.unwrap();
    let written: Vec<(u64, u64)> = figures.iter().map(|f| (f.written, f.pending)).collect();
    assert_eq!(written, [(5, 1), (3, 0), (0, 0)]);
    store.close().await.unwrap();
}

/// Per subscription and licence only the oldest owed delivery is claimed; a lease that
/// lapses makes a claimed delivery due again; retries wait for their time; a dead letter
/// no longer holds the licence's later events back and is delivered again on a replay;
/// what is owed survives reopening.
pub(crate) async fn claims_keep_each_licences_order_and_leases_lapse(engine: &dyn Engine) {
    use EventKind::*;
    let store = engine.open();
    subscribe(store.as_ref(), subscription(1, &EventKind::ALL, None)).await;
    issued_licences(store.as_ref(), 2).await;
    for n in [1, 2] {
        set_state(store.as_ref(), n, StateAction::Suspend)
            .await
            .unwrap();
        set_state(store.as_ref(), n, StateAction::Reinstate)
            .await
            .unwrap();
    }
    let id = subscription(1, &[], None).id;
    let first = claim_all(store.as_ref(), AT.0).await;
    assert_eq!(
        kinds(&first),
        [
            (id.clone(), ApplicationIssued, number(1)),
            (id.clone(), ApplicationIssued, number(2)),
        ],
        "only the oldest of each licence"
    );
    assert!(
        claim_all(store.as_ref(), AT.0 + 10).await.is_empty(),
        "leased"
    );
    let again = claim_all(store.as_ref(), AT.0 + 31).await;
    assert_eq!(kinds(&again), kinds(&first), "the lease lapsed");
    let (one, two) = (again[0].key.clone(), again[1].key.clone());
    store
        .finish_delivery(one.clone(), DeliveryOutcome::Delivered)
        .await
        .unwrap();
    store
        .finish_delivery(
            two.clone(),
            DeliveryOutcome::Retry {
                at: UnixTime(AT.0 + 60),
                error: "503".into(),
            },
        )
        .await
        .unwrap();
    // Finishing one that is gone is no error.
    store
        .finish_delivery(one.clone(), DeliveryOutcome::Delivered)
        .await
        .unwrap();
    let next = claim_all(store.as_ref(), AT.0 + 40).await;
    assert_eq!(
        kinds(&next),
        [(id.clone(), CredentialSuspended, number(1))],
        "licence 2 waits for its retry"
    );
    let retried = claim_all(store.as_ref(), AT.0 + 60).await;
    assert_eq!(
        kinds(&retried),
        [(id.clone(), ApplicationIssued, number(2))]
    );
    assert_eq!(retried[0].attempts, 1);
    assert_eq!(retried[0].last_error.as_deref(), Some("503"));
    store
        .finish_delivery(
            two.clone(),
            DeliveryOutcome::Dead {
                error: "gone".into(),
            },
        )
        .await
        .unwrap();
    let dead = store.dead_letters(None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].key.clone(), dead[0].attempts), (two.clone(), 2));
    assert!(
        store
            .dead_letters(Some("ffffffffffffffff"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The dead letter no longer holds licence 2 back (licence 1's next is still leased).
    let after = claim_all(store.as_ref(), AT.0 + 65).await;
    assert_eq!(
        kinds(&after),
        [(id.clone(), CredentialSuspended, number(2))]
    );
    let figures = store.outbox_figures().await.unwrap();
    assert_eq!(
        (figures[0].written, figures[0].pending, figures[0].dead),
        (6, 4, 1)
    );
    // Reopened: what is owed is still owed (leases end with the process at the latest).
    store.close().await.unwrap();
    drop(store);
    let store = engine.open();
    let figures = store.outbox_figures().await.unwrap();
    assert_eq!(
        (figures[0].written, figures[0].pending, figures[0].dead),
        (6, 4, 1)
    );
    let audit_before = store.audit_records(1, 10_000).await.unwrap().len();
    let replayed = store
        .replay(
            Replay {
                subscription: None,
                since: AT,
                now: UnixTime(AT.0 + 500),
            },
            AuditRecord::new(&caller(Role::Operator), AT, "webhook.replay", None, None),
        )
        .await
        .unwrap();
    assert_eq!(replayed, 1);
    assert_eq!(
        store.audit_records(1, 10_000).await.unwrap().len(),
        audit_before + 1
    );
    assert!(store.dead_letters(None, 10).await.unwrap().is_empty());
    let due = claim_all(store.as_ref(), AT.0 + 500).await;
    assert_eq!(
        kinds(&due),
        [
            (id.clone(), ApplicationIssued, number(2)),
            (id.clone(), CredentialSuspended, number(1)),
        ]
    );
    assert_eq!((due[0].attempts, due[0].started), (0, UnixTime(AT.0 + 500)));
    for d in &due {
        store
            .finish_delivery(d.key.clone(), DeliveryOutcome::Delivered)
            .await
            .unwrap();
    }
    // Licence 2's suspension (leased before the reopen) and both reinstatements remain.
    let rest = claim_all(store.as_ref(), AT.0 + 1000).await;
    assert_eq!(
        kinds(&rest),
        [
            (id.clone(), CredentialReinstated, number(1)),
            (id.clone(), CredentialSuspended, number(2)),
        ]
    );
    store.close().await.unwrap();
}

/// Removing a subscription drops every delivery owed to it and its figures, with its
/// audit record; removing one that does not exist records nothing.
pub(crate) async fn removing_a_subscription_drops_what_it_is_owed(engine: &dyn Engine) {
    let store = engine.open();
    subscribe(store.as_ref(), subscription(1, &EventKind::ALL, None)).await;
    subscribe(store.as_ref(), subscription(2, &EventKind::ALL, None)).await;
    issued_licences(store.as_ref(), 2).await;
    let (one, two) = (subscription(1, &[], None).id, subscription(2, &[], None).id);
    let records = store.audit_records(1, 10_000).await.unwrap().len();
    let audit = || AuditRecord::new(&caller(Role::Operator), AT, "webhook.remove", None, None);
    assert!(store.remove_subscription(&one, audit()).await.unwrap());
    assert!(!store.remove_subscription(&one, audit()).await.unwrap());
    assert_eq!(
        store.audit_records(1, 10_000).await.unwrap().len(),
        records + 1
    );
    let left: Vec<String> = store
        .subscriptions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, std::slice::from_ref(&two));
    let due = claim_all(store.as_ref(), AT.0).await;
    assert_eq!(due.len(), 2);
    assert!(due.iter().all(|d| d.key.subscription == two));
    let figures = store.outbox_figures().await.unwrap();
    assert_eq!(figures.len(), 1);
    assert_eq!(
        (figures[0].subscription.as_str(), figures[0].written),
        (two.as_str(), 2)
    );
    store
        .finish_delivery(
            DeliveryKey {
                subscription: one,
                sequence: due[0].key.sequence,
            },
            DeliveryOutcome::Delivered,
        )
        .await
        .unwrap();
    store.close().await.unwrap();
}

/// `credential.expiring` is written once for each current credential of a licence in
/// force whose `exp` falls in the window, whatever happens later.
pub(crate) async fn expiring_credentials_are_noted_once(engine: &dyn Engine) {
    let store = engine.open();
    subscribe(
        store.as_ref(),
        subscription(1, &[EventKind::CredentialExpiring], None),
    )
    .await;
    let issued = issued_licences(store.as_ref(), 3).await;
    let exp = issued[0].expires_at;
    set_state(store.as_ref(), 2, StateAction::Suspend)
        .await
        .unwrap();
    assert_eq!(
        store
            .note_expiring(UnixTime(exp.0 - 1), AT, 10)
            .await
            .unwrap(),
        0,
        "not yet"
    );
    assert_eq!(
        store
            .note_expiring(UnixTime(exp.0 + 10), exp, 10)
            .await
            .unwrap(),
        0,
        "past"
    );
    assert_eq!(
        store.note_expiring(exp, AT, 1).await.unwrap(),
        1,
        "at most the limit"
    );
    assert_eq!(
        store.note_expiring(exp, AT, 10).await.unwrap(),
        1,
        "the other in force"
    );
    assert_eq!(store.note_expiring(exp, AT, 10).await.unwrap(), 0, "once");
    store.close().await.unwrap();
    drop(store);
    let store = engine.open();
    assert_eq!(
        store.note_expiring(exp, AT, 10).await.unwrap(),
        0,
        "once, across a reopen"
    );
    set_state(store.as_ref(), 2, StateAction::Reinstate)
        .await
        .unwrap();
    assert_eq!(
        store.note_expiring(exp, AT, 10).await.unwrap(),
        1,
        "in force again"
    );
    let due = claim_all(store.as_ref(), AT.0).await;
    let mut noted: Vec<(Option<String>, Option<UnixTime>)> = due
        .iter()
        .map(|d| (d.event.credential.clone(), d.event.expires_at))
        .collect();
    noted.sort();
    let mut expected: Vec<_> = issued
        .iter()
        .map(|c| (Some(c.id.clone()), Some(exp)))
        .collect();
    expected.sort();
    assert_eq!(noted, expected);
    assert!(
        due.iter()
            .all(|d| d.event.kind == EventKind::CredentialExpiring
                && d.event.client == "test-gateway")
    );
    store.close().await.unwrap();
}

/// The events of a change whose commit failed are not claimed; after a reopen, one is
/// claimed exactly when the change itself is there (an engine may keep or lose a change
/// it did not acknowledge, but never one without the other).
pub(crate) async fn an_unacknowledged_change_delivers_nothing(engine: &dyn Engine) {
    let store = engine.open();
    subscribe(store.as_ref(), subscription(1, &EventKind::ALL, None)).await;
    put(store.as_ref(), record(1, "C1", false)).await;
    admit(store.as_ref(), ticket(1), number(1), uploaded(), false)
        .await
        .unwrap();
    if !engine.fail_next_commits(&store, 1) {
        store.close().await.unwrap();
        return;
    }
    let decided = store
        .decide_review(ReviewDecision {
            ticket: ticket(1),
            rejection: Some("face not visible".into()),
            actor: actor(Role::Reviewer),
        })
        .await;
    assert!(decided.is_err());
    assert!(claim_all(store.as_ref(), AT.0).await.is_empty());
    store.close().await.unwrap();
    drop(store);
    let store = engine.open();
    let rejected = matches!(
        store.application(ticket(1)).await.unwrap().map(|a| a.state),
        Some(ApplicationState::Rejected { .. })
    );
    let due = claim_all(store.as_ref(), AT.0).await;
    assert_eq!(due.len(), usize::from(rejected), "{due:?}");
    store.close().await.unwrap();
}
