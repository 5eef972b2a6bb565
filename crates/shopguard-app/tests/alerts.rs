//! The alert service: the triage lifecycle, optimistic concurrency, scopes and input
//! checks, over a node opened on the embedded backend.

use shopguard_app::clock::now_ms;
use shopguard_app::{Actor, App, Config, Principal, ServiceError};
use shopguard_core::alerts::AlertStatus;
use shopguard_core::audit::RecordClass;
use shopguard_core::rbac::{scopes_of, Role};
use shopguard_core::{Event, EventInput, EventKind};
use shopguard_storage::audit_log::AuditQuery;
use shopguard_storage::operators::OperatorRecord;
use shopguard_storage::{AlertFilter, AssigneeFilter, NewAuditEntry, RecordRef};

const POLICY: &str = r#"
[policy]
name = "alerts-test"
[[rules]]
id = "big"
when = "event.kind == 'payment' && event.amount > 100.0"
outcome = "review"
reason = "large payment"
actions = [{ alert = "high" }]
"#;

struct Node {
    app: std::sync::Arc<App>,
    _folder: tempfile::TempDir,
}

fn node() -> Node {
    let folder = tempfile::tempdir().unwrap();
    let app = App::open(
        Config {
            data_dir: folder.path().to_owned(),
            ..Config::default()
        },
        POLICY,
    )
    .unwrap()
    .app;
    Node {
        app,
        _folder: folder,
    }
}

fn fixture_audit(action: &str) -> NewAuditEntry {
    NewAuditEntry {
        at_ms: now_ms(),
        class: RecordClass::AccessControl,
        content: shopguard_core::audit::AuditContent {
            actor: "test".into(),
            action: action.into(),
            object: "fixture".into(),
            detail: serde_json::Value::Null,
        },
    }
}

fn add_operator(app: &App, username: &str, disabled: bool) {
    app.store()
        .insert_operator(
            &OperatorRecord {
                username: username.into(),
                password_hash: "not used".into(),
                totp_secret: vec![7; 20],
                roles: vec![Role::Analyst],
                created_at_ms: 0,
                disabled_at_ms: disabled.then_some(1),
            },
            &fixture_audit("operator.create"),
        )
        .unwrap();
}

/// Decides `count` large payments (each raises an alert) and waits for the log; returns
/// the alerts' seqs, newest first.
fn raise_alerts(app: &App, count: usize) -> Vec<i64> {
    let decisions = app.decisions().unwrap();
    let now = now_ms();
    let mut batch = decisions.batch(count);
    for n in 0..count {
        let event = Event::try_from_input(
            EventInput {
                kind: Some(EventKind::Payment),
                user_id: Some(format!("user{n}")),
                ip: Some("192.0.2.1".into()),
                amount: Some(500.0),
                currency: Some("CNY".into()),
                occurred_at_ms: Some(now),
                ..EventInput::default()
            },
            now,
            || format!("event{n}"),
        )
        .unwrap();
        let decision = decisions.decide(&event, now);
        let mut answer = Vec::new();
        decisions
            .encode(
                RecordRef {
                    decision: &decision,
                    event: &event,
                },
                &mut answer,
                &mut batch,
            )
            .unwrap();
    }
    if let Some(receipt) = decisions.submit_waiting(batch).unwrap() {
        receipt.written_blocking().unwrap();
    }
    decisions.log().flush().unwrap();
    let page = app
        .alerts
        .queue(&AlertFilter::default(), &Principal::cli())
        .unwrap();
    page.alerts.iter().map(|row| row.alert.seq).collect()
}

/// Asserts that `result` is `Invalid` naming `field`.
fn invalid<T: std::fmt::Debug>(result: Result<T, ServiceError>, field: &str) {
    match result {
        Err(ServiceError::Invalid {
            field: Some(named), ..
        }) => assert_eq!(named, field),
        other => panic!("{other:?}"),
    }
}

fn operator(username: &str, roles: &[Role]) -> Principal {
    Principal::new(
        Actor::Operator {
            username: username.into(),
        },
        scopes_of(roles),
    )
}

#[test]
fn an_analyst_works_an_alert_from_open_to_resolved_and_back() {
    let node = node();
    let app = &node.app;
    add_operator(app, "ana", false);
    let seqs = raise_alerts(app, 3);
    assert_eq!(seqs.len(), 3);
    let seq = seqs[0];
    let ana = operator("ana", &[Role::Analyst]);

    let untouched = app.alerts.get(seq, &ana).unwrap();
    assert_eq!(untouched.triage.status, AlertStatus::Open);
    assert_eq!(untouched.triage.version, 0);

    let acknowledged = app.alerts.acknowledge(seq, 0, &ana).unwrap();
    assert_eq!(acknowledged.triage.status, AlertStatus::Acknowledged);
    assert_eq!(acknowledged.triage.version, 1);
    assert_eq!(
        acknowledged.triage.updated_by.as_deref(),
        Some("operator:ana")
    );

    let assigned = app.alerts.assign(seq, Some("ana"), 1, &ana).unwrap();
    assert_eq!(assigned.triage.assignee.as_deref(), Some("ana"));
    assert_eq!(assigned.triage.status, AlertStatus::Acknowledged);
    assert_eq!(assigned.triage.version, 2);

    let noted = app.alerts.note(seq, "  called the buyer  ", &ana).unwrap();
    assert_eq!(noted.notes.len(), 1);
    assert_eq!(noted.notes[0].text, "called the buyer");
    assert_eq!(noted.triage.version, 2, "a note is not a state change");

    let resolved = app.alerts.resolve(seq, Some("refunded"), 2, &ana).unwrap();
    assert_eq!(resolved.triage.status, AlertStatus::Resolved);
    assert_eq!(resolved.notes[1].text, "refunded");
    assert_eq!(resolved.notes[1].status, Some(AlertStatus::Resolved));

    let reopened = app.alerts.reopen(seq, None, 3, &ana).unwrap();
    assert_eq!(reopened.triage.status, AlertStatus::Open);
    assert_eq!(reopened.triage.assignee.as_deref(), Some("ana"), "kept");
    assert_eq!(reopened.notes.len(), 2, "no reason, no note");

    let dismissed = app
        .alerts
        .dismiss(seq, "duplicate of an earlier alert", 4, &ana)
        .unwrap();
    assert_eq!(dismissed.triage.status, AlertStatus::Dismissed);
    assert_eq!(dismissed.triage.version, 5);

    // The queue filters by the new state.
    let mine = app
        .alerts
        .queue(
            &AlertFilter {
                assignee: Some(AssigneeFilter::Is("ana".into())),
                ..AlertFilter::default()
            },
            &ana,
        )
        .unwrap();
    assert_eq!(mine.total, 1);
    let open = app
        .alerts
        .queue(
            &AlertFilter {
                status: Some(AlertStatus::Open),
                ..AlertFilter::default()
            },
            &ana,
        )
        .unwrap();
    assert_eq!(open.total, 2);

    // Every change is in the audit log as an incident record, by the operator.
    let entries = app
        .audit
        .query(&AuditQuery {
            action: Some("alert.".into()),
            object: Some(format!("alert:{seq}")),
            actor: None,
            class: None,
            from_ms: None,
            to_ms: None,
            before_seq: None,
            limit: 100,
        })
        .unwrap();
    let mut actions: Vec<String> = entries
        .iter()
        .map(|entry| entry.content.as_ref().unwrap().action.clone())
        .collect();
    actions.reverse();
    assert_eq!(
        actions,
        [
            "alert.acknowledge",
            "alert.assign",
            "alert.note",
            "alert.resolve",
            "alert.reopen",
            "alert.dismiss"
        ]
    );
    assert!(entries
        .iter()
        .all(|entry| entry.class == RecordClass::Incident
            && entry.content.as_ref().unwrap().actor == "operator:ana"));
}

#[test]
fn a_change_based_on_an_old_version_is_a_conflict_that_asks_for_a_reload() {
    let node = node();
    let app = &node.app;
    let seq = raise_alerts(app, 1)[0];
    let ana = operator("ana", &[Role::Analyst]);
    let bo = operator("bo", &[Role::Responder]);
    app.alerts.acknowledge(seq, 0, &ana).unwrap();
    let error = app
        .alerts
        .dismiss(seq, "false positive", 0, &bo)
        .unwrap_err();
    match error {
        ServiceError::Conflict(message) => assert!(message.contains("reload"), "{message}"),
        other => panic!("{other:?}"),
    }
    let current = app.alerts.get(seq, &bo).unwrap();
    assert_eq!(current.triage.status, AlertStatus::Acknowledged);
    assert_eq!(current.triage.version, 1);
    assert!(current.notes.is_empty(), "the refused reason was not kept");
}

#[test]
fn moves_outside_the_transition_table_are_conflicts() {
    let node = node();
    let app = &node.app;
    add_operator(app, "ana", false);
    let seq = raise_alerts(app, 1)[0];
    let ana = operator("ana", &[Role::Analyst]);
    assert!(matches!(
        app.alerts.reopen(seq, None, 0, &ana),
        Err(ServiceError::Conflict(_))
    ));
    app.alerts.resolve(seq, None, 0, &ana).unwrap();
    for refused in [
        app.alerts.acknowledge(seq, 1, &ana),
        app.alerts.resolve(seq, None, 1, &ana),
        app.alerts.dismiss(seq, "why", 1, &ana),
        app.alerts.assign(seq, Some("ana"), 1, &ana),
    ] {
        assert!(
            matches!(refused, Err(ServiceError::Conflict(_))),
            "{refused:?}"
        );
    }
}

#[test]
fn scopes_and_input_are_checked() {
    let node = node();
    let app = &node.app;
    add_operator(app, "ana", false);
    add_operator(app, "gone", true);
    let seq = raise_alerts(app, 1)[0];
    let viewer = operator("vic", &[Role::Viewer]);
    let auditor = operator("aud", &[Role::Auditor]);
    let ana = operator("ana", &[Role::Analyst]);

    assert!(app.alerts.get(seq, &viewer).is_ok());
    assert!(matches!(
        app.alerts.acknowledge(seq, 0, &viewer),
        Err(ServiceError::Forbidden { .. })
    ));
    assert!(matches!(
        app.alerts.note(seq, "hello", &viewer),
        Err(ServiceError::Forbidden { .. })
    ));
    assert!(matches!(
        app.alerts.get(seq, &auditor),
        Err(ServiceError::Forbidden { .. })
    ));
    assert!(matches!(
        app.alerts.queue(&AlertFilter::default(), &auditor),
        Err(ServiceError::Forbidden { .. })
    ));

    invalid(app.alerts.note(seq, "   ", &ana), "text");
    invalid(app.alerts.note(seq, &"x".repeat(2_001), &ana), "text");
    assert!(app.alerts.note(seq, &"页".repeat(2_000), &ana).is_ok());
    invalid(app.alerts.dismiss(seq, "", 0, &ana), "reason");
    invalid(app.alerts.resolve(seq, Some(" "), 0, &ana), "reason");
    invalid(app.alerts.assign(seq, Some("nobody"), 0, &ana), "assignee");
    invalid(app.alerts.assign(seq, Some("gone"), 0, &ana), "assignee");
    invalid(
        app.alerts.queue(
            &AlertFilter {
                limit: 0,
                ..AlertFilter::default()
            },
            &ana,
        ),
        "limit",
    );
    assert!(matches!(
        app.alerts.acknowledge(i64::MAX, 0, &ana),
        Err(ServiceError::NotFound(_))
    ));
    assert!(matches!(
        app.alerts.note(i64::MAX, "hello", &ana),
        Err(ServiceError::NotFound(_))
    ));
    // Nothing refused changed the alert.
    let detail = app.alerts.get(seq, &ana).unwrap();
    assert_eq!(detail.triage.version, 0);
    assert_eq!(detail.notes.len(), 1);
}

#[test]
fn the_queue_pages_by_cursor_and_counts_the_whole() {
    let node = node();
    let app = &node.app;
    let seqs = raise_alerts(app, 5);
    let ana = operator("ana", &[Role::Analyst]);
    let filter = AlertFilter {
        limit: 2,
        ..AlertFilter::default()
    };
    let first = app.alerts.queue(&filter, &ana).unwrap();
    assert_eq!(first.total, 5);
    assert!(!first.total_capped);
    assert_eq!(first.next_before_seq, Some(seqs[1]));
    let second = app
        .alerts
        .queue(
            &AlertFilter {
                before_seq: first.next_before_seq,
                ..filter.clone()
            },
            &ana,
        )
        .unwrap();
    assert_eq!(second.total, 5);
    let third = app
        .alerts
        .queue(
            &AlertFilter {
                before_seq: second.next_before_seq,
                ..filter
            },
            &ana,
        )
        .unwrap();
    assert_eq!(third.alerts.len(), 1);
    assert_eq!(third.next_before_seq, None, "the last page");
    let all: Vec<i64> = [first, second, third]
        .iter()
        .flat_map(|page| page.alerts.iter().map(|row| row.alert.seq))
        .collect();
    assert_eq!(all, seqs);
}
