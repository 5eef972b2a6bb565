//! The golden PostgreSQL backup: `tests/golden/postgres-dump-v1/` holds a backup (format 1:
//! `database.sql` written by `pg_dump` as plain SQL, `audit-signing.key`, `MANIFEST.json`) of a
//! schema with a few rows of every aggregate. Every build must restore it into a fresh schema
//! (applying its own newer migrations on top) and read every aggregate back through the
//! stores, so a change that stops reading old rows fails here.
//!
//! Like every golden file it is written once and never regenerated; a new backup format
//! takes a new folder beside it. To write it when it is missing:
//!
//! ```text
//! SHOPGUARD_WRITE_GOLDEN=1 cargo test -p shopguard-storage --test golden_postgres -- --ignored
//! ```
//!
//! PostgreSQL is found at `SHOPGUARD_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use shopguard_core::audit::{AuditContent, RecordClass};
use shopguard_core::rbac::Role;
use shopguard_core::{Engine, Event, EventInput, EventKind, ListKind, ListRegistry};
use shopguard_storage::alerts::AlertStatus;
use shopguard_storage::api_keys;
use shopguard_storage::audit_log::{NewAuditEntry, SIGNING_KEY_FILE};
use shopguard_storage::keyring::LocalMasterKey;
use shopguard_storage::operators::{GrantRecord, OperatorRecord, SessionRecord};
use shopguard_storage::postgres::PostgresStore;
use shopguard_storage::postgres_audit::PostgresAuditLog;
use shopguard_storage::postgres_backup;
use shopguard_storage::snapshot::SnapshotStore;
use shopguard_storage::tasks::{NewTask, TaskKind, TaskOutcome, TaskStatus};
use shopguard_storage::{
    AlertChange, AlertFilter, AlertNote, AlertStore, AlertTriage, ApiKeyStore, AuditOutbox,
    DataKeyStore, DecisionQuery, DecisionRecord, DecisionStore, Lease, ListEntryRecord, ListRecord,
    ListStore, LogBatch, NewPolicyVersion, OperatorStore, PolicyStore, ScheduleStore, ScheduledJob,
    TaskStore,
};

/// The fixed start of the golden timeline: 2026-11-29T22:13:20Z.
const T0: i64 = 1_796_000_000_000;
/// The master key of the golden deployment (never in a backup; the test passes it).
const MASTER_KEY: [u8; 32] = [0x4d; 32];
/// The seed of its audit signing key.
const AUDIT_SEED: [u8; 32] = [0x11; 32];
/// The schema the golden dump was taken from.
const GOLDEN_SCHEMA: &str = "sg_golden_v1";
const FOLDER: &str = "postgres-dump-v1";

const POLICY: &str = r#"
[policy]
name = "golden"
[[rules]]
id = "big"
when = "event.kind == 'payment' && event.amount > 100.0"
outcome = "review"
reason = "large payment"
actions = [{ alert = "high" }]
"#;

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(FOLDER)
}

fn postgres_url() -> String {
    std::env::var("SHOPGUARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn audit(action: &str) -> NewAuditEntry {
    NewAuditEntry {
        at_ms: T0,
        class: RecordClass::Configuration,
        content: AuditContent {
            actor: "operator:ana".into(),
            action: action.into(),
            object: "golden".into(),
            detail: serde_json::json!({ "golden": true }),
        },
    }
}

fn payment(engine: &Engine, n: i64) -> DecisionRecord {
    let at = T0 + n * 1_000;
    let event = Event::try_from_input(
        EventInput {
            kind: Some(EventKind::Payment),
            user_id: Some(format!("user-{n}")),
            ip: Some(format!("192.0.2.{n}")),
            email: Some(format!("buyer{n}@example.com")),
            amount: Some(50.0 * n as f64),
            currency: Some("CNY".into()),
            occurred_at_ms: Some(at),
            ..EventInput::default()
        },
        at,
        || format!("event-{n}"),
    )
    .unwrap();
    let decision = engine.decide(&event, format!("decision-{n}"));
    DecisionRecord { decision, event }
}

fn operator() -> OperatorRecord {
    OperatorRecord {
        username: "ana".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        totp_secret: vec![7; 20],
        roles: vec![Role::Analyst, Role::Approver],
        created_at_ms: T0,
        disabled_at_ms: None,
    }
}

fn session() -> SessionRecord {
    SessionRecord {
        session_id: "session-1".into(),
        secret_sha256: vec![9; 32],
        username: "ana".into(),
        created_at_ms: T0,
        expires_at_ms: T0 + 3_600_000,
        // Written before sessions recorded activity, ends and addresses (postgres migration
        // 7): a restored session was last seen when it began, and has not ended.
        last_seen_at_ms: T0,
        ended_at_ms: None,
        client: None,
    }
}

fn entry(value: &str, expires_at_ms: Option<i64>) -> ListEntryRecord {
    ListEntryRecord {
        value: value.into(),
        expires_at_ms,
        added_by: "operator:ana".into(),
        reason: "golden's 'quoted' reason".into(),
        created_at_ms: T0,
    }
}

/// Fills a schema with a few rows of every aggregate, at fixed times.
fn fill(url: &str, schema: &str, data_dir: &Path) {
    fs::write(data_dir.join(SIGNING_KEY_FILE), hex::encode(AUDIT_SEED)).unwrap();
    let master = LocalMasterKey::from_bytes(&MASTER_KEY);
    let store = PostgresStore::open(url, schema, Box::new(master)).unwrap();
    let key = api_keys::generate("checkout", vec![shopguard_storage::Scope::EventsWrite], T0);
    store
        .insert_api_key(&key.record, &audit("key.create"))
        .unwrap();
    for (source, pending) in [(POLICY, false), ("[policy]\nname = \"second\"\n", true)] {
        store
            .insert_policy_version(
                &NewPolicyVersion {
                    source,
                    author: "operator:ana",
                    comment: "golden",
                    at_ms: T0,
                    pending_approval: pending,
                },
                &|_| audit("policy.store"),
            )
            .unwrap();
    }
    store
        .activate_policy_version(1, None, "operator:ana", T0, &audit("policy.activate"))
        .unwrap();
    for (name, kind) in [("ip_block", ListKind::Ip), ("user_watch", ListKind::User)] {
        store
            .ensure_list(
                &ListRecord {
                    name: name.into(),
                    kind,
                    description: format!("{name}, golden"),
                    created_at_ms: T0,
                },
                &audit("list.create"),
            )
            .unwrap();
    }
    store
        .upsert_list_entries(
            "ip_block",
            &[
                entry("192.0.2.9", None),
                entry("198.51.100.7", Some(T0 + 86_400_000)),
            ],
            &audit("list.add"),
        )
        .unwrap();
    store
        .upsert_list_entries("user_watch", &[entry("mallory", None)], &audit("list.add"))
        .unwrap();
    store
        .rotate_data_key(T0, &|_| audit("data_key.rotate"))
        .unwrap();
    let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
    let records: Vec<DecisionRecord> = (1..=4).map(|n| payment(&engine, n)).collect();
    let batch = LogBatch::of(Some(store.keyring().unwrap()), &records).unwrap();
    store.append_decisions(&[batch]).unwrap();
    store
        .insert_operator(&operator(), &audit("operator.create"))
        .unwrap();
    store
        .insert_session(&session(), 1, &audit("operator.login"))
        .unwrap();
    let grant = store
        .insert_grant(
            &GrantRecord {
                id: 0,
                username: "ana".into(),
                role: Role::Responder,
                reason: "incident 7".into(),
                requested_by: "operator:ana".into(),
                requested_at_ms: T0,
                duration_ms: 3_600_000,
                approved_by: None,
                approved_at_ms: None,
                expires_at_ms: None,
            },
            &|_| audit("grant.request"),
        )
        .unwrap();
    store
        .approve_grant(grant, "operator:bo", T0 + 1, &audit("grant.approve"))
        .unwrap();
    store
        .snapshots("node-a")
        .write_snapshot(b"SGSNAP02 golden")
        .unwrap();
    for (id, at) in [("task-done", T0), ("task-queued", T0 + 1)] {
        store
            .create_task(
                &NewTask {
                    id: id.into(),
                    kind: TaskKind::ListImport,
                    requested_by: "operator:ana".into(),
                    parameters: serde_json::json!({ "list": "ip_block", "file": format!("{id}.txt"), "lines": 2 }),
                    created_at_ms: at,
                },
                &audit("task.submit"),
            )
            .unwrap();
    }
    store
        .put_task_input("task-queued", "192.0.2.1\n192.0.2.2")
        .unwrap();
    let lease = Lease {
        worker: "node-a",
        now_ms: T0 + 2,
        duration_ms: 60_000,
    };
    store.claim_next_task(&lease).unwrap().unwrap();
    store
        .finish_task(
            "task-done",
            "node-a",
            &TaskOutcome::Succeeded(serde_json::json!({ "added": 2 })),
            T0 + 3,
            &audit("task.finish"),
        )
        .unwrap();
    store
        .put_scheduled_job(&ScheduledJob {
            name: "retention".into(),
            interval_ms: 3_600_000,
            last_run_at_ms: Some(T0),
            next_due_at_ms: T0 + 3_600_000,
        })
        .unwrap();
    // Into the audit log; the last change's entry stays in the outbox.
    let log = PostgresAuditLog::open(
        url,
        schema,
        shopguard_storage::audit_log::load_or_create_signing_key(data_dir).unwrap(),
    )
    .unwrap();
    let queued = store.queued_audit_entries(1_000).unwrap();
    let (moved, kept) = queued.split_at(queued.len() - 1);
    log.append(
        &moved
            .iter()
            .map(|(_, entry)| entry.clone())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    store
        .delete_queued_audit_entries(&moved.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(kept.len(), 1);
    log.checkpoint(T0 + 10).unwrap();
}

/// Drops the schema when the test ends.
struct Schema(String, String);

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = PostgresStore::drop_schema(&self.0, &self.1);
    }
}

#[test]
fn postgres_dump_v1_restores_into_a_fresh_schema_and_every_aggregate_reads() {
    let url = postgres_url();
    let target = format!("sg_golden_read_{}", std::process::id());
    let _drop = Schema(url.clone(), target.clone());
    let folder = tempfile::tempdir().unwrap();
    let master_file = folder.path().join("master.key");
    fs::write(&master_file, hex::encode(MASTER_KEY)).unwrap();
    let data = folder.path().join("data");
    let report =
        postgres_backup::restore(&golden(), &url, &target, &data, Some(&master_file)).unwrap();
    assert_eq!(report.manifest.schema, GOLDEN_SCHEMA);
    assert_eq!(
        (
            report.manifest.decisions,
            report.manifest.api_keys,
            report.manifest.policy_versions
        ),
        (4, 1, 2)
    );
    assert_eq!(report.audit_checkpoints_checked, 1);
    assert!(data.join(SIGNING_KEY_FILE).exists() && data.join("master.key").exists());

    let master = LocalMasterKey::from_bytes(&MASTER_KEY);
    let store = PostgresStore::open(&url, &target, Box::new(master)).unwrap();
    let keys = store.api_keys().unwrap();
    assert_eq!((keys.len(), keys[0].name.as_str()), (1, "checkout"));
    let live = store.active_policy().unwrap().unwrap();
    assert_eq!((live.version, live.source.as_str()), (1, POLICY));
    let second = store.policy_version(2).unwrap().unwrap();
    assert!(second.pending_approval);
    let lists = store.lists().unwrap();
    assert_eq!(
        lists
            .iter()
            .map(|list| (list.name.as_str(), list.kind))
            .collect::<Vec<_>>(),
        [("ip_block", ListKind::Ip), ("user_watch", ListKind::User)]
    );
    assert_eq!(
        store.list_entries("ip_block", None, 10).unwrap(),
        [
            entry("192.0.2.9", None),
            entry("198.51.100.7", Some(T0 + 86_400_000))
        ]
    );
    assert_eq!(store.list_changes_after(0, 10).unwrap().len(), 3);
    assert_eq!(store.keyring().unwrap().active_id(), 2);
    let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
    for n in 1..=4 {
        let expected = payment(&engine, n);
        let stored = store.decision(&format!("decision-{n}")).unwrap().unwrap();
        assert_eq!(
            stored, expected,
            "decision {n}, its email opened with data key 2"
        );
    }
    let by_user = store
        .query_decisions(&DecisionQuery {
            user_id: Some("user-3".into()),
            ..DecisionQuery::default()
        })
        .unwrap();
    assert_eq!(by_user.len(), 1);
    assert_eq!(
        store.query_alerts(None, None, 10).unwrap().len(),
        2,
        "payments over 100"
    );
    assert_eq!(store.operator("ana").unwrap().unwrap(), operator());
    assert_eq!(store.session("session-1").unwrap().unwrap(), session());
    let grants = store.grants(Some("ana")).unwrap();
    assert_eq!(grants[0].approved_by.as_deref(), Some("operator:bo"));
    assert_eq!(
        store.snapshots("node-a").read_snapshot().unwrap().unwrap(),
        b"SGSNAP02 golden"
    );
    let done = store.task("task-done").unwrap().unwrap();
    assert_eq!(done.status, TaskStatus::Succeeded);
    assert_eq!(done.result.unwrap()["added"], 2);
    let queued = store.task("task-queued").unwrap().unwrap();
    assert_eq!(
        (queued.status, queued.kind),
        (TaskStatus::Queued, TaskKind::ListImport)
    );
    assert_eq!(
        store.task_input("task-queued").unwrap().as_deref(),
        Some("192.0.2.1\n192.0.2.2")
    );
    assert_eq!(
        store.scheduled_jobs().unwrap(),
        [ScheduledJob {
            name: "retention".into(),
            interval_ms: 3_600_000,
            last_run_at_ms: Some(T0),
            next_due_at_ms: T0 + 3_600_000,
        }]
    );
    let outbox = store.queued_audit_entries(10).unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].1.content.action, "task.finish");
    let log = PostgresAuditLog::open(
        &url,
        &target,
        shopguard_storage::audit_log::load_or_create_signing_key(&data).unwrap(),
    )
    .unwrap();
    let first = log.entry(0).unwrap().unwrap();
    assert_eq!(first.content.unwrap().action, "key.create");
    assert_eq!(
        hex::encode(log.root(report.manifest.audit_entries).unwrap()),
        report.manifest.audit_root
    );
    // Alerts dumped before triage existed are in the queue as open, untouched (0037), and
    // the migrated schema takes triage changes.
    let queue = store.alert_queue(&AlertFilter::default()).unwrap();
    assert_eq!(queue.len(), 2);
    assert!(queue
        .iter()
        .all(|row| row.triage == AlertTriage::untouched()));
    let change = AlertChange {
        status: AlertStatus::Acknowledged,
        assignee: Some("ana"),
        by: "operator:ana",
        at_ms: T0 + 30,
        note: None,
    };
    let audit = NewAuditEntry {
        at_ms: T0 + 30,
        class: RecordClass::Incident,
        content: AuditContent {
            actor: "operator:ana".into(),
            action: "alert.acknowledge".into(),
            object: format!("alert:{}", queue[0].alert.seq),
            detail: serde_json::Value::Null,
        },
    };
    assert_eq!(
        store
            .change_alert(queue[0].alert.seq, 0, &change, &audit)
            .unwrap(),
        Some(1)
    );
    let note = AlertNote {
        author: "operator:ana".into(),
        at_ms: T0 + 31,
        text: "seen before".into(),
        status: None,
    };
    store
        .add_alert_note(queue[0].alert.seq, &note, &audit)
        .unwrap();
    // A backup of the restored schema carries the triage tables into the next restore.
    let again = format!("sg_golden_again_{}", std::process::id());
    let _drop_again = Schema(url.clone(), again.clone());
    let out = folder.path().join("backup-again");
    postgres_backup::backup(&url, &target, &data, &out, T0 + 40).unwrap();
    postgres_backup::restore(
        &out,
        &url,
        &again,
        &folder.path().join("data-again"),
        Some(&master_file),
    )
    .unwrap();
    let restored_again = PostgresStore::open(
        &url,
        &again,
        Box::new(LocalMasterKey::from_bytes(&MASTER_KEY)),
    )
    .unwrap();
    let worked = store.alert(queue[0].alert.seq).unwrap().unwrap();
    assert_eq!(worked.notes, [note]);
    assert_eq!(
        restored_again.alert(queue[0].alert.seq).unwrap().unwrap(),
        worked
    );
}

#[test]
fn restoring_over_a_schema_with_tables_is_refused_and_changes_nothing() {
    let url = postgres_url();
    let target = format!("sg_golden_busy_{}", std::process::id());
    let _drop = Schema(url.clone(), target.clone());
    let master = LocalMasterKey::from_bytes(&MASTER_KEY);
    drop(PostgresStore::open(&url, &target, Box::new(master)).unwrap());
    let folder = tempfile::tempdir().unwrap();
    let master_file = folder.path().join("master.key");
    fs::write(&master_file, hex::encode(MASTER_KEY)).unwrap();
    let error = postgres_backup::restore(
        &golden(),
        &url,
        &target,
        &folder.path().join("data"),
        Some(&master_file),
    )
    .unwrap_err();
    assert!(error.to_string().contains("not empty"), "{error}");
    let master = LocalMasterKey::from_bytes(&MASTER_KEY);
    let store = PostgresStore::open(&url, &target, Box::new(master)).unwrap();
    assert_eq!(store.decision_count().unwrap(), 0, "left as it was");
}

#[test]
#[ignore = "writes the golden dump when it is missing; run with SHOPGUARD_WRITE_GOLDEN=1"]
fn write_golden_postgres_dump() {
    if std::env::var("SHOPGUARD_WRITE_GOLDEN").as_deref() != Ok("1") {
        println!("set SHOPGUARD_WRITE_GOLDEN=1 to write missing golden files");
        return;
    }
    if golden().exists() {
        println!("kept {}", golden().display());
        return;
    }
    let url = postgres_url();
    let _drop = Schema(url.clone(), GOLDEN_SCHEMA.into());
    PostgresStore::drop_schema(&url, GOLDEN_SCHEMA).unwrap();
    let data = tempfile::tempdir().unwrap();
    fill(&url, GOLDEN_SCHEMA, data.path());
    postgres_backup::backup(&url, GOLDEN_SCHEMA, data.path(), &golden(), T0 + 20).unwrap();
    println!("wrote {}", golden().display());
}
