//! The conformance suite for [`IncidentStore`]: the security-event database.

use std::sync::Arc;

use serde_json::json;
use shopguard_core::incident::record::{Incident, Observable, ObservableKind};
use shopguard_core::incident::{Category, HistoryEntry, Level, Status, Verdict};
use shopguard_storage::{AssigneeFilter, IncidentFilter, IncidentWrite, Store, StoreError};

use super::{audit, forty_alerts, pair, recorded, Fixture};

/// An incident as the service would hand it to storage.
fn incident(title: &str) -> Incident {
    Incident {
        id: 0,
        title: title.to_owned(),
        category: Category::Fraud,
        tags: vec![],
        status: Status::Reported,
        verdict: None,
        importance: None,
        loss: None,
        affected_users: None,
        platform_users: None,
        computed_level: None,
        grade_reasons: vec![],
        override_level: None,
        override_reason: None,
        reporter: "operator:ana".to_owned(),
        discovered_at_ms: Some(900),
        reported_at_ms: 1_000,
        affected_systems: vec!["checkout".to_owned()],
        description: "card testing on checkout".to_owned(),
        evidence: String::new(),
        observables: vec![Observable {
            kind: ObservableKind::Ip,
            value: "192.0.2.1".to_owned(),
        }],
        unsure_of_level: false,
        assignee: None,
        dedup_key: None,
        is_drill: false,
        reassessed_at_ms: None,
        reassessed_by: None,
        escalated_at_ms: None,
        escalated_by: None,
        review_summary: None,
        alerts: vec![],
        created_at_ms: 1_000,
        updated_at_ms: 1_000,
        version: 1,
    }
}

fn entry(
    version: i64,
    field: &str,
    old: serde_json::Value,
    new: serde_json::Value,
) -> HistoryEntry {
    HistoryEntry {
        version,
        at_ms: version * 100,
        actor: "operator:ana".into(),
        action: "incident.test".into(),
        field: field.into(),
        old,
        new,
        reason: Some("because".into()),
    }
}

fn create(store: &dyn Store, incident: &Incident) -> i64 {
    match store
        .create_incident(
            incident,
            &[entry(1, "title", json!(null), json!(incident.title))],
            &|id| audit("incident.report", &format!("incident:{id}")),
        )
        .unwrap()
    {
        IncidentWrite::Done(id) => id,
        other => panic!("not created: {other:?}"),
    }
}

pub fn create_incident(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let alerts = forty_alerts(store);
    let before = recorded(store).len();
    let mut new = incident("card testing");
    new.alerts = vec![alerts[1].seq, alerts[0].seq];
    new.tags = vec![shopguard_core::incident::ConsequenceTag::Theft];
    let id = create(store, &new);
    assert!(id > 0);
    let stored = store.incident(id).unwrap().unwrap();
    let mut expected = new.clone();
    expected.id = id;
    expected.alerts.sort_unstable();
    assert_eq!(stored, expected);
    assert_eq!(
        store.incident_history(id).unwrap(),
        [entry(1, "title", json!(null), json!("card testing"))]
    );
    assert_eq!(store.incident_of_alert(alerts[0].seq).unwrap(), Some(id));
    assert_eq!(store.incident_of_alert(alerts[2].seq).unwrap(), None);
    assert_eq!(
        recorded(store)[before..],
        [pair("incident.report", &format!("incident:{id}"))]
    );
    // Numbers are not reused; a missing alert is NotFound and writes nothing.
    let second = create(store, &incident("second"));
    assert!(second > id);
    let mut dangling = incident("dangling");
    dangling.alerts = vec![999_999];
    assert!(matches!(
        store.create_incident(&dangling, &[], &|id| audit(
            "incident.report",
            &id.to_string()
        )),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(recorded(store).len(), before + 2);
    assert!(store.incident(999_999).unwrap().is_none());
    fixture.reopen();
    assert_eq!(fixture.store().incident(id).unwrap().unwrap(), expected);
}

pub fn update_incident(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let id = create(store, &incident("card testing"));
    let mut next = store.incident(id).unwrap().unwrap();
    next.status = Status::Triaged;
    next.verdict = Some(Verdict::TruePositive);
    next.computed_level = Some(Level::III);
    next.override_level = Some(Level::II);
    next.override_reason = Some("press interest".into());
    next.observables = vec![Observable {
        kind: ObservableKind::Account,
        value: "u-7".into(),
    }];
    next.assignee = Some("bob".into());
    next.updated_at_ms = 2_000;
    let history = [
        entry(2, "status", json!("reported"), json!("triaged")),
        entry(2, "verdict", json!(null), json!("true_positive")),
    ];
    let written = store
        .update_incident(&next, 1, &history, &audit("incident.triage", "incident"))
        .unwrap();
    assert_eq!(written, IncidentWrite::Done(2));
    let stored = store.incident(id).unwrap().unwrap();
    let mut expected = next.clone();
    expected.version = 2;
    assert_eq!(stored, expected);
    assert_eq!(store.incident_history(id).unwrap().len(), 3);

    // Stale: nothing written, nothing recorded.
    let before = recorded(store).len();
    let mut stale = next.clone();
    stale.title = "lost update".into();
    assert_eq!(
        store
            .update_incident(&stale, 1, &history, &audit("incident.edit", "x"))
            .unwrap(),
        IncidentWrite::Stale
    );
    assert_eq!(store.incident(id).unwrap().unwrap().title, "card testing");
    assert_eq!(store.incident_history(id).unwrap().len(), 3);
    assert_eq!(recorded(store).len(), before);
    let mut missing = next.clone();
    missing.id = 424_242;
    assert!(matches!(
        store.update_incident(&missing, 1, &[], &audit("incident.edit", "x")),
        Err(StoreError::NotFound(_))
    ));

    // Found by the new observable, not the old one.
    let by = |kind, value: &str| IncidentFilter {
        observable: Some(Observable {
            kind,
            value: value.into(),
        }),
        ..IncidentFilter::default()
    };
    assert_eq!(
        store
            .list_incidents(&by(ObservableKind::Account, "u-7"))
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .list_incidents(&by(ObservableKind::Ip, "192.0.2.1"))
        .unwrap()
        .is_empty());
    // The effective level is filtered on.
    let level = |level| IncidentFilter {
        level: Some(level),
        ..IncidentFilter::default()
    };
    assert_eq!(store.list_incidents(&level(Level::II)).unwrap().len(), 1);
    assert!(store.list_incidents(&level(Level::III)).unwrap().is_empty());
}

pub fn update_incident_concurrently(fixture: &mut Fixture) {
    let store: Arc<dyn Store> = fixture.store().clone();
    let id = create(store.as_ref(), &incident("race"));
    let before = recorded(store.as_ref()).len();
    for expected in 1..4_i64 {
        let barrier = std::sync::Barrier::new(4);
        let outcomes: Vec<IncidentWrite> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|worker| {
                    let store = store.clone();
                    let barrier = &barrier;
                    scope.spawn(move || {
                        let mut next = store.incident(id).unwrap().unwrap();
                        next.title = format!("worker {worker}");
                        barrier.wait();
                        store
                            .update_incident(
                                &next,
                                expected,
                                &[entry(expected + 1, "title", json!("a"), json!("b"))],
                                &audit("incident.edit", &worker.to_string()),
                            )
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<&IncidentWrite> = outcomes
            .iter()
            .filter(|o| matches!(o, IncidentWrite::Done(_)))
            .collect();
        assert_eq!(winners, [&IncidentWrite::Done(expected + 1)]);
        assert!(outcomes
            .iter()
            .all(|o| matches!(o, IncidentWrite::Done(_) | IncidentWrite::Stale)));
    }
    assert_eq!(store.incident(id).unwrap().unwrap().version, 4);
    assert_eq!(store.incident_history(id).unwrap().len(), 4);
    assert_eq!(recorded(store.as_ref()).len() - before, 3);
}

pub fn link_alerts_once(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let alerts = forty_alerts(store);
    let mut first = incident("first");
    first.alerts = vec![alerts[0].seq];
    let first_id = create(store, &first);
    let second_id = create(store, &incident("second"));
    let mut second = store.incident(second_id).unwrap().unwrap();
    second.alerts = vec![alerts[1].seq, alerts[0].seq];
    let before = recorded(store).len();
    assert_eq!(
        store
            .update_incident(&second, 1, &[], &audit("incident.link_alerts", "x"))
            .unwrap(),
        IncidentWrite::AlertLinked {
            seq: alerts[0].seq,
            incident_id: first_id
        }
    );
    assert_eq!(
        store.incident(second_id).unwrap().unwrap().alerts,
        Vec::<i64>::new()
    );
    assert_eq!(store.incident_of_alert(alerts[1].seq).unwrap(), None);
    assert_eq!(recorded(store).len(), before);
    // Creating with a linked alert is refused the same way.
    let mut third = incident("third");
    third.alerts = vec![alerts[0].seq];
    assert_eq!(
        store
            .create_incident(&third, &[], &|id| audit("incident.report", &id.to_string()))
            .unwrap(),
        IncidentWrite::AlertLinked {
            seq: alerts[0].seq,
            incident_id: first_id
        }
    );
    // Linking more to the same incident keeps what it had.
    let mut first = store.incident(first_id).unwrap().unwrap();
    first.alerts = vec![alerts[0].seq, alerts[2].seq];
    assert_eq!(
        store
            .update_incident(&first, 1, &[], &audit("incident.link_alerts", "x"))
            .unwrap(),
        IncidentWrite::Done(2)
    );
    let mut linked = vec![alerts[0].seq, alerts[2].seq];
    linked.sort_unstable();
    assert_eq!(store.incident(first_id).unwrap().unwrap().alerts, linked);
}

pub fn open_incident_by_dedup_key(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.open_incident_by_dedup_key("storm").unwrap().is_none());
    let mut storm = incident("storm");
    storm.dedup_key = Some("storm".into());
    let id = create(store, &storm);
    assert_eq!(
        store
            .open_incident_by_dedup_key("storm")
            .unwrap()
            .unwrap()
            .id,
        id
    );
    assert_eq!(
        store
            .create_incident(&storm, &[], &|id| audit("incident.open", &id.to_string()))
            .unwrap(),
        IncidentWrite::DedupTaken { incident_id: id }
    );
    // Closed, the key is free again.
    let mut closed = store.incident(id).unwrap().unwrap();
    closed.status = Status::Closed;
    assert_eq!(
        store
            .update_incident(&closed, 1, &[], &audit("incident.transition", "x"))
            .unwrap(),
        IncidentWrite::Done(2)
    );
    assert!(store.open_incident_by_dedup_key("storm").unwrap().is_none());
    let again = create(store, &storm);
    assert_ne!(again, id);
    // Reopening the closed one while the new one holds the key is refused.
    let mut reopened = store.incident(id).unwrap().unwrap();
    reopened.status = Status::Responding;
    assert_eq!(
        store
            .update_incident(&reopened, 2, &[], &audit("incident.transition", "x"))
            .unwrap(),
        IncidentWrite::DedupTaken { incident_id: again }
    );
}

pub fn list_incidents(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let mut ids = Vec::new();
    for n in 0..12_i64 {
        let mut new = incident(&format!("incident {n}"));
        new.reported_at_ms = 1_000 + n;
        new.category = if n % 3 == 0 {
            Category::Spam
        } else {
            Category::Fraud
        };
        new.is_drill = n == 5;
        new.assignee = (n % 2 == 0).then(|| "ana".to_owned());
        new.status = if n < 4 {
            Status::Closed
        } else {
            Status::Reported
        };
        new.computed_level = Some(if n % 4 == 0 { Level::I } else { Level::IV });
        ids.push(create(store, &new));
    }
    let list = |filter: IncidentFilter| -> Vec<i64> {
        store
            .list_incidents(&filter)
            .unwrap()
            .into_iter()
            .map(|incident| incident.id)
            .collect()
    };
    let all = list(IncidentFilter::default());
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(all, newest_first);
    let page = list(IncidentFilter {
        limit: 5,
        ..IncidentFilter::default()
    });
    assert_eq!(page, newest_first[..5]);
    let next = list(IncidentFilter {
        limit: 5,
        before_id: page.last().copied(),
        ..IncidentFilter::default()
    });
    assert_eq!(next, newest_first[5..10]);
    assert_eq!(
        list(IncidentFilter {
            category: Some(Category::Spam),
            ..IncidentFilter::default()
        }),
        [ids[9], ids[6], ids[3], ids[0]]
    );
    assert_eq!(
        list(IncidentFilter {
            status: Some(Status::Closed),
            assignee: Some(AssigneeFilter::Unassigned),
            ..IncidentFilter::default()
        }),
        [ids[3], ids[1]]
    );
    assert_eq!(
        list(IncidentFilter {
            assignee: Some(AssigneeFilter::Is("ana".into())),
            level: Some(Level::I),
            ..IncidentFilter::default()
        }),
        [ids[8], ids[4], ids[0]]
    );
    assert_eq!(
        list(IncidentFilter {
            drill: Some(true),
            ..IncidentFilter::default()
        }),
        [ids[5]]
    );
    assert_eq!(
        list(IncidentFilter {
            drill: Some(false),
            reported_from_ms: Some(1_003),
            reported_to_ms: Some(1_006),
            ..IncidentFilter::default()
        }),
        [ids[4], ids[3]]
    );
    let count = store
        .count_incidents(&IncidentFilter {
            limit: 2,
            before_id: Some(ids[3]),
            category: Some(Category::Fraud),
            ..IncidentFilter::default()
        })
        .unwrap();
    assert_eq!(
        (count.total, count.capped),
        (8, false),
        "cursor and limit aside"
    );
}

pub fn incident_history(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let id = create(store, &incident("history"));
    let mut current = store.incident(id).unwrap().unwrap();
    for version in 2..=5_i64 {
        current.title = format!("title {version}");
        let history = [
            entry(
                version,
                "title",
                json!(format!("title {}", version - 1)),
                json!(current.title),
            ),
            entry(version, "evidence", json!(""), json!({ "v": version })),
        ];
        assert_eq!(
            store
                .update_incident(
                    &current,
                    version - 1,
                    &history,
                    &audit("incident.edit", "x")
                )
                .unwrap(),
            IncidentWrite::Done(version)
        );
        current.version = version;
    }
    let history = store.incident_history(id).unwrap();
    assert_eq!(history.len(), 9);
    assert!(history
        .windows(2)
        .all(|pair| pair[0].version <= pair[1].version));
    assert_eq!(history[8].new, json!({ "v": 5 }));
    assert_eq!(
        history[7].field, "title",
        "entries of a version keep their order"
    );
    assert_eq!(history[7].reason.as_deref(), Some("because"));
    assert!(store.incident_history(999_999).unwrap().is_empty());
}
