//! The incident service: reporting, promotion and deduplication, the lifecycle with its
//! gates, grading, history and diff, scopes, stale versions and input limits, over a node
//! opened on the embedded backend.

use shopguard_app::clock::now_ms;
use shopguard_app::incidents::{FromAlerts, IncidentEdit, IncidentReport};
use shopguard_app::{Actor, App, Config, Principal, ServiceError};
use shopguard_core::alerts::AlertStatus;
use shopguard_core::audit::RecordClass;
use shopguard_core::incident::grading::GradingInputs;
use shopguard_core::incident::record::{Observable, ObservableKind};
use shopguard_core::incident::{
    Category, Level, Status, SystemImportance, SystemLoss, Verdict, ALERTS_LINKED_FIELD,
};
use shopguard_core::rbac::{scopes_of, Role};
use shopguard_core::{Event, EventInput, EventKind};
use shopguard_storage::audit_log::AuditQuery;
use shopguard_storage::operators::OperatorRecord;
use shopguard_storage::{AlertFilter, IncidentFilter, NewAuditEntry, RecordRef};

const POLICY: &str = r#"
[policy]
name = "incidents-test"
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

fn conflict<T: std::fmt::Debug>(result: Result<T, ServiceError>) -> String {
    match result {
        Err(ServiceError::Conflict(message)) => message,
        other => panic!("{other:?}"),
    }
}

fn forbidden<T: std::fmt::Debug>(result: Result<T, ServiceError>) {
    assert!(
        matches!(result, Err(ServiceError::Forbidden { .. })),
        "{result:?}"
    );
}

fn person(username: &str, role: Role) -> Principal {
    Principal::new(
        Actor::Operator {
            username: username.into(),
        },
        scopes_of(&[role]),
    )
}

fn report(title: &str) -> IncidentReport {
    IncidentReport {
        title: title.into(),
        category: Category::PhishingTrojan,
        tags: vec![],
        discovered_at_ms: Some(now_ms() - 60_000),
        affected_systems: vec![" login ".into()],
        description: "a page imitating our login".into(),
        evidence: String::new(),
        observables: vec![Observable {
            kind: ObservableKind::Url,
            value: "http://examp1e.com".into(),
        }],
        unsure_of_level: true,
        is_drill: false,
    }
}

#[test]
fn anyone_but_the_auditor_reports_and_only_analysts_work_it() {
    let node = node();
    let app = &node.app;
    let viewer = person("vera", Role::Viewer);
    let incident = app
        .incidents
        .report(report("phishing page"), &viewer)
        .unwrap();
    assert_eq!(incident.status, Status::Reported);
    assert_eq!(incident.version, 1);
    assert_eq!(incident.reporter, "operator:vera");
    assert_eq!(incident.affected_systems, ["login"]);
    assert!(incident.unsure_of_level);
    forbidden(
        app.incidents
            .report(report("x"), &person("audrey", Role::Auditor)),
    );
    forbidden(
        app.incidents
            .triage(incident.id, 1, Verdict::TruePositive, "seen", &viewer),
    );
    // The auditor reads.
    let auditor = person("audrey", Role::Auditor);
    assert_eq!(app.incidents.get(incident.id, &auditor).unwrap(), incident);
    let history = app.incidents.history(incident.id, &auditor).unwrap();
    assert!(history.iter().all(|entry| entry.version == 1));
    assert!(history.iter().any(|entry| entry.field == "title"));
}

#[test]
fn the_lifecycle_runs_with_its_gates_and_keeps_every_version() {
    let node = node();
    let app = &node.app;
    let analyst = person("ana", Role::Analyst);
    let approver = person("abe", Role::Approver);
    let id = app
        .incidents
        .report(report("card data leak"), &analyst)
        .unwrap()
        .id;
    invalid(
        app.incidents
            .triage(id, 1, Verdict::TruePositive, "  ", &analyst),
        "reason",
    );
    let triaged = app
        .incidents
        .triage(
            id,
            1,
            Verdict::TruePositive,
            "confirmed from logs",
            &analyst,
        )
        .unwrap();
    assert_eq!((triaged.status, triaged.version), (Status::Triaged, 2));
    // Not graded yet: not assessed.
    assert!(conflict(
        app.incidents
            .transition(id, 2, Status::Assessed, None, None, &analyst)
    )
    .contains("graded"));
    let graded = app
        .incidents
        .grade(
            id,
            2,
            GradingInputs {
                importance: Some(SystemImportance::ParticularlyImportant),
                loss: Some(SystemLoss::Serious),
                affected_users: Some(10),
                platform_users: Some(10_000),
            },
            &analyst,
        )
        .unwrap();
    assert_eq!(graded.computed_level, Some(Level::II));
    assert_eq!(graded.grade_reasons[0].clause, "§6.4.3 a");
    let mut version = graded.version;
    for to in [Status::Assessed, Status::Responding, Status::Recovered] {
        version = app
            .incidents
            .transition(id, version, to, None, None, &analyst)
            .unwrap()
            .version;
    }
    assert!(conflict(
        app.incidents
            .transition(id, version, Status::Closed, None, None, &analyst)
    )
    .contains("re-assessment"));
    version = app
        .incidents
        .reassess(id, version, Some("with the payment team"), &analyst)
        .unwrap()
        .version;
    assert!(conflict(
        app.incidents
            .transition(id, version, Status::Closed, None, None, &analyst)
    )
    .contains("senior management"));
    forbidden(app.incidents.escalate(id, version, None, &analyst));
    let escalated = app
        .incidents
        .escalate(id, version, Some("told the CTO"), &approver)
        .unwrap();
    assert_eq!(escalated.escalated_by.as_deref(), Some("operator:abe"));
    version = escalated.version;
    version = app
        .incidents
        .transition(id, version, Status::Closed, None, None, &analyst)
        .unwrap()
        .version;
    assert!(conflict(
        app.incidents
            .grade(id, version, GradingInputs::default(), &analyst)
    )
    .contains("closed"));
    assert!(conflict(app.incidents.transition(
        id,
        version,
        Status::Reviewed,
        Some("done"),
        None,
        &analyst
    ))
    .contains("summary"));
    let reviewed = app
        .incidents
        .transition(
            id,
            version,
            Status::Reviewed,
            None,
            Some("lessons: rotate keys"),
            &analyst,
        )
        .unwrap();
    assert_eq!(reviewed.status, Status::Reviewed);
    let diff = app.incidents.diff(id, 0, None, &analyst).unwrap().1;
    let status = diff.iter().find(|d| d.field == "status").unwrap();
    assert_eq!(status.to, serde_json::json!("reviewed"));
    let history = app.incidents.history(id, &analyst).unwrap();
    assert!(history.iter().any(|e| e.field == "review_summary"));
}

#[test]
fn grading_and_overrides_are_recorded_and_diffed() {
    let node = node();
    let app = &node.app;
    let analyst = person("ana", Role::Analyst);
    let id = app
        .incidents
        .report(report("spam wave"), &analyst)
        .unwrap()
        .id;
    let graded = app
        .incidents
        .grade(
            id,
            1,
            GradingInputs {
                affected_users: Some(60),
                platform_users: Some(1_000),
                ..GradingInputs::default()
            },
            &analyst,
        )
        .unwrap();
    assert_eq!(graded.computed_level, Some(Level::II));
    invalid(
        app.incidents.grade(
            id,
            2,
            GradingInputs {
                affected_users: Some(2_000),
                platform_users: Some(1_000),
                ..GradingInputs::default()
            },
            &analyst,
        ),
        "affected_users",
    );
    invalid(
        app.incidents
            .override_level(id, 2, Some(Level::I), "", &analyst),
        "reason",
    );
    let overridden = app
        .incidents
        .override_level(id, 2, Some(Level::I), "regulator asked", &analyst)
        .unwrap();
    assert_eq!(overridden.effective_level(), Some(Level::I));
    assert_eq!(overridden.computed_level, Some(Level::II));
    // Stale.
    assert!(
        conflict(app.incidents.override_level(id, 2, None, "undo", &analyst))
            .contains("changed by someone else")
    );
    let diff = app.incidents.diff(id, 1, Some(3), &analyst).unwrap().1;
    let fields: Vec<&str> = diff.iter().map(|d| d.field.as_str()).collect();
    assert!(
        fields.contains(&"computed_level") && fields.contains(&"override_level"),
        "{fields:?}"
    );
    let history = app.incidents.history(id, &analyst).unwrap();
    let override_entry = history
        .iter()
        .find(|e| e.field == "override_level")
        .unwrap();
    assert_eq!(override_entry.reason.as_deref(), Some("regulator asked"));
    assert_eq!(override_entry.action, "incident.override");
    invalid(app.incidents.diff(id, 2, Some(9), &analyst), "to");
    invalid(app.incidents.diff(id, 3, Some(1), &analyst), "from");
    // The audit log has an incident-class entry per change, naming the incident.
    let entries = app
        .audit
        .query(&AuditQuery {
            action: Some("incident.".into()),
            object: Some(format!("incident:{id}")),
            actor: None,
            class: None,
            from_ms: None,
            to_ms: None,
            before_seq: None,
            limit: 100,
        })
        .unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|entry| entry.content.as_ref().unwrap().action.as_str())
        .collect();
    assert_eq!(
        actions,
        ["incident.override", "incident.grade", "incident.report"]
    );
    assert!(entries
        .iter()
        .all(|entry| entry.class == RecordClass::Incident));
}

#[test]
fn edits_are_checked_and_a_change_that_changes_nothing_stores_nothing() {
    let node = node();
    let app = &node.app;
    let analyst = person("ana", Role::Analyst);
    let id = app
        .incidents
        .report(report("ip listing"), &analyst)
        .unwrap()
        .id;
    invalid(
        app.incidents.edit(
            id,
            1,
            IncidentEdit {
                title: Some("x".repeat(201)),
                ..IncidentEdit::default()
            },
            None,
            &analyst,
        ),
        "title",
    );
    invalid(
        app.incidents.edit(
            id,
            1,
            IncidentEdit {
                observables: Some(
                    (0..101)
                        .map(|n| Observable {
                            kind: ObservableKind::Ip,
                            value: format!("192.0.2.{n}"),
                        })
                        .collect(),
                ),
                ..IncidentEdit::default()
            },
            None,
            &analyst,
        ),
        "observables",
    );
    let same = app
        .incidents
        .edit(id, 1, IncidentEdit::default(), None, &analyst)
        .unwrap();
    assert_eq!(same.version, 1);
    let edited = app
        .incidents
        .edit(
            id,
            1,
            IncidentEdit {
                category: Some(Category::IpInfringement),
                evidence: Some("screenshots".into()),
                ..IncidentEdit::default()
            },
            Some("misfiled"),
            &analyst,
        )
        .unwrap();
    assert_eq!(edited.version, 2);
    assert_eq!(edited.category, Category::IpInfringement);
    add_operator(app, "bob", false);
    add_operator(app, "gone", true);
    invalid(
        app.incidents.assign(id, 2, Some("nobody"), &analyst),
        "assignee",
    );
    invalid(
        app.incidents.assign(id, 2, Some("gone"), &analyst),
        "assignee",
    );
    let assigned = app.incidents.assign(id, 2, Some("bob"), &analyst).unwrap();
    assert_eq!(assigned.assignee.as_deref(), Some("bob"));
    let page = app
        .incidents
        .list(
            &IncidentFilter {
                assignee: Some(shopguard_storage::AssigneeFilter::Is("bob".into())),
                ..IncidentFilter::default()
            },
            &analyst,
        )
        .unwrap();
    assert_eq!(page.total, 1);
    invalid(
        app.incidents.list(
            &IncidentFilter {
                limit: 0,
                ..IncidentFilter::default()
            },
            &analyst,
        ),
        "limit",
    );
}

#[test]
fn promoted_alerts_are_linked_resolved_and_never_promoted_twice() {
    let node = node();
    let app = &node.app;
    let analyst = person("ana", Role::Analyst);
    let seqs = raise_alerts(app, 3);
    let promoted = app
        .incidents
        .promote_from_alerts(
            FromAlerts {
                alerts: vec![seqs[0], seqs[1]],
                title: "card testing".into(),
                category: Category::Fraud,
                description: String::new(),
                is_drill: false,
            },
            &analyst,
        )
        .unwrap();
    let mut linked = vec![seqs[0], seqs[1]];
    linked.sort_unstable();
    assert_eq!(promoted.alerts, linked);
    assert!(promoted.observables.contains(&Observable {
        kind: ObservableKind::Ip,
        value: "192.0.2.1".into()
    }));
    let alert = app.alerts.get(seqs[0], &analyst).unwrap();
    assert_eq!(alert.triage.status, AlertStatus::Resolved);
    assert_eq!(
        alert.notes[0].text,
        format!("promoted to incident {}", promoted.id)
    );
    let again = conflict(app.incidents.promote_from_alerts(
        FromAlerts {
            alerts: vec![seqs[1], seqs[2]],
            title: "again".into(),
            category: Category::Fraud,
            description: String::new(),
            is_drill: false,
        },
        &analyst,
    ));
    assert!(again.contains("belongs to incident"), "{again}");
    assert_eq!(
        app.alerts.get(seqs[2], &analyst).unwrap().triage.status,
        AlertStatus::Open
    );
    let history = app.incidents.history(promoted.id, &analyst).unwrap();
    assert!(history.iter().any(|e| e.field == ALERTS_LINKED_FIELD));
    forbidden(app.incidents.promote_from_alerts(
        FromAlerts {
            alerts: vec![seqs[2]],
            title: "viewer".into(),
            category: Category::Fraud,
            description: String::new(),
            is_drill: false,
        },
        &person("vera", Role::Viewer),
    ));
    invalid(
        app.incidents.promote_from_alerts(
            FromAlerts {
                alerts: vec![],
                title: "none".into(),
                category: Category::Fraud,
                description: String::new(),
                is_drill: false,
            },
            &analyst,
        ),
        "alerts",
    );
}

#[test]
fn an_alert_storm_opens_one_incident() {
    let node = node();
    let app = &node.app;
    let system = Principal::new(Actor::System, vec![shopguard_storage::Scope::Admin]);
    let seqs = raise_alerts(app, 30);
    let mut ids = Vec::new();
    let mut opened = 0;
    for seq in &seqs {
        let (incident, created) = app
            .incidents
            .open_automatic(
                "rule:big:192.0.2.1",
                FromAlerts {
                    alerts: vec![*seq],
                    title: "large payments".into(),
                    category: Category::Fraud,
                    description: String::new(),
                    is_drill: false,
                },
                &system,
            )
            .unwrap();
        opened += usize::from(created);
        ids.push(incident.id);
    }
    assert_eq!(opened, 1);
    assert!(ids.iter().all(|id| *id == ids[0]));
    let incident = app.incidents.get(ids[0], &system).unwrap();
    assert_eq!(incident.alerts.len(), 30);
    assert_eq!(incident.dedup_key.as_deref(), Some("rule:big:192.0.2.1"));
    // The same alert again changes nothing.
    let (same, created) = app
        .incidents
        .open_automatic(
            "rule:big:192.0.2.1",
            FromAlerts {
                alerts: vec![seqs[0]],
                title: "large payments".into(),
                category: Category::Fraud,
                description: String::new(),
                is_drill: false,
            },
            &system,
        )
        .unwrap();
    assert!(!created);
    assert_eq!(same.version, incident.version);
}
