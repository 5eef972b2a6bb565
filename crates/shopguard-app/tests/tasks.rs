//! Durable tasks through the services: a large import run by the node's worker, visibility,
//! cancellation, and resumption of a task a crash left running.

use std::sync::Arc;
use std::time::{Duration, Instant};

use shopguard_app::lists::EntryTerms;
use shopguard_app::tasks::{ImportAnswer, IMPORT_TASK_CHUNK_LINES, IMPORT_TASK_THRESHOLD_LINES};
use shopguard_app::{Actor, App, Config, Principal, ServiceError};
use shopguard_core::audit::{AuditContent, RecordClass};
use shopguard_core::ListKind;
use shopguard_storage::embedded::EmbeddedStore;
use shopguard_storage::tasks::{NewTask, TaskKind, TaskStatus};
use shopguard_storage::{Lease, NewAuditEntry, Scope, TaskRecord, TaskStore};

const POLICY: &str = "[policy]\nname = \"test\"\n";

fn open(folder: &std::path::Path) -> Arc<App> {
    let config = Config {
        data_dir: folder.to_owned(),
        ..Config::default()
    };
    App::open(config, POLICY).unwrap().app
}

fn feeder() -> Principal {
    Principal::new(
        Actor::ApiKey {
            id: "k1".into(),
            name: "feed".into(),
        },
        vec![Scope::ListsWrite],
    )
}

fn admin() -> Principal {
    Principal::new(Actor::System, vec![Scope::Admin])
}

/// `count` distinct IPv4 addresses, one a line, from 10.0.0.0.
fn addresses(count: usize) -> Vec<String> {
    (0..count)
        .map(|n| format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255))
        .collect()
}

fn wait_until_ended(app: &App, id: &str) -> TaskRecord {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let task = app.tasks.get(id, &admin()).unwrap();
        if task.status.is_finished() {
            return task;
        }
        assert!(Instant::now() < deadline, "task {id} did not end: {task:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_large_import_runs_as_a_task_and_a_small_one_at_once() {
    let folder = tempfile::tempdir().unwrap();
    let app = open(folder.path());
    let caller = feeder();
    app.lists
        .create("ip_block", ListKind::Ip, "", &caller.actor)
        .unwrap();

    let small = app
        .tasks
        .import_list(
            &app.lists,
            "ip_block",
            "10.9.9.9\n",
            &EntryTerms::because("feed"),
            &caller.actor,
        )
        .unwrap();
    assert!(matches!(small, ImportAnswer::Done(ref outcome) if outcome.added == 1));

    let mut lines = addresses(IMPORT_TASK_THRESHOLD_LINES + 10);
    // A refused line in the second chunk: its number counts from the start of the text.
    lines[IMPORT_TASK_CHUNK_LINES + 4] = "not an address".into();
    let text = lines.join("\n");
    let ImportAnswer::Queued(task) = app
        .tasks
        .import_list(
            &app.lists,
            "ip_block",
            &text,
            &EntryTerms::because("feed"),
            &caller.actor,
        )
        .unwrap()
    else {
        panic!("a large import is a task");
    };
    assert_eq!(task.kind, TaskKind::ListImport);
    assert_eq!(task.requested_by, "key:k1:feed");
    let file = folder.path().join("tasks").join(format!("{}.txt", task.id));
    let ended = wait_until_ended(&app, &task.id);
    assert_eq!(ended.status, TaskStatus::Succeeded, "{ended:?}");
    let result = ended.result.unwrap();
    assert_eq!(result["added"], IMPORT_TASK_THRESHOLD_LINES + 9);
    assert_eq!(result["invalid_count"], 1);
    assert_eq!(result["invalid"][0]["line"], IMPORT_TASK_CHUNK_LINES + 5);
    assert_eq!(ended.done, ended.total);
    assert_eq!(ended.total as usize, IMPORT_TASK_THRESHOLD_LINES + 10);
    // The text is removed right after the end is stored (never before: a node that stopped
    // in between must still find it), so it may outlive the status by a moment.
    let removal = std::time::Instant::now();
    while file.exists() && removal.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!file.exists(), "the text is removed once the task ends");
    // The task's entries and the one of the small import.
    assert_eq!(
        app.lists.find("ip_block").unwrap().len(),
        IMPORT_TASK_THRESHOLD_LINES + 10
    );

    // Submission and end are in the audit log.
    let mut actions: Vec<String> = app
        .audit
        .query(&shopguard_storage::audit_log::AuditQuery {
            action: Some("task.".into()),
            limit: 100,
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|entry| {
            entry
                .content
                .map(|content| content.action)
                .unwrap_or_default()
        })
        .collect();
    actions.reverse();
    assert_eq!(actions, vec!["task.submit", "task.finish"]);
}

#[test]
fn a_task_is_seen_by_its_submitter_and_admin_only_and_a_queued_one_cancels_at_once() {
    let folder = tempfile::tempdir().unwrap();
    let app = open(folder.path());
    let caller = feeder();
    let pause = app.tasks.pause();
    let task = app.tasks.submit_reencrypt(&caller.actor).unwrap();
    assert_eq!(task.status, TaskStatus::Queued);

    let stranger = Principal::new(
        Actor::Operator {
            username: "eve".into(),
        },
        vec![Scope::ListsWrite],
    );
    assert!(matches!(
        app.tasks.get(&task.id, &stranger),
        Err(ServiceError::NotFound(_))
    ));
    assert!(matches!(
        app.tasks.cancel(&task.id, &stranger),
        Err(ServiceError::NotFound(_))
    ));
    assert!(app.tasks.recent(&stranger, 10).unwrap().is_empty());
    assert_eq!(app.tasks.recent(&caller, 10).unwrap().len(), 1);
    assert_eq!(app.tasks.recent(&admin(), 10).unwrap().len(), 1);

    let cancelled = app.tasks.cancel(&task.id, &caller).unwrap();
    assert_eq!(cancelled.status, TaskStatus::Cancelled);
    assert!(matches!(
        app.tasks.cancel(&task.id, &caller),
        Err(ServiceError::Conflict(_))
    ));
    drop(pause);

    // Once the workers go on, they run the next task, and never the cancelled one.
    let next = app.tasks.submit_reencrypt(&caller.actor).unwrap();
    assert_eq!(
        wait_until_ended(&app, &next.id).status,
        TaskStatus::Succeeded
    );
    assert_eq!(
        app.tasks.get(&task.id, &admin()).unwrap().status,
        TaskStatus::Cancelled
    );
}

fn audit(action: &str) -> NewAuditEntry {
    NewAuditEntry {
        at_ms: 1,
        class: RecordClass::ListChange,
        content: AuditContent {
            actor: "test".into(),
            action: action.into(),
            object: "fixture".into(),
            detail: serde_json::Value::Null,
        },
    }
}

/// A node crashed while importing: the task was running, its first chunk recorded done.
/// The next open puts it back in the queue and the worker goes on from the checkpoint.
#[test]
fn an_import_left_running_by_a_crash_resumes_from_its_checkpoint_at_the_next_open() {
    let folder = tempfile::tempdir().unwrap();
    {
        let app = open(folder.path());
        app.lists
            .create("ip_block", ListKind::Ip, "", &Actor::System)
            .unwrap();
    }
    let lines = addresses(IMPORT_TASK_THRESHOLD_LINES + 1);
    {
        let store = EmbeddedStore::open_for_administration(folder.path()).unwrap();
        std::fs::create_dir_all(folder.path().join("tasks")).unwrap();
        std::fs::write(folder.path().join("tasks/crashed.txt"), lines.join("\n")).unwrap();
        store
            .create_task(
                &NewTask {
                    id: "crashed".into(),
                    kind: TaskKind::ListImport,
                    requested_by: "key:k1:feed".into(),
                    parameters: serde_json::json!({
                        "list": "ip_block", "ttl_seconds": null, "reason": "feed",
                        "file": "crashed.txt", "lines": lines.len(),
                    }),
                    created_at_ms: 1,
                },
                &audit("task.submit"),
            )
            .unwrap();
        // Claimed under this node's name, as its worker did before the crash.
        let node = Config::default().node_name();
        let lease = Lease {
            worker: &node,
            now_ms: 2,
            duration_ms: 60_000,
        };
        assert_eq!(
            store.claim_next_task(&lease).unwrap().unwrap().id,
            "crashed"
        );
        let checkpoint = serde_json::json!({
            "lines": IMPORT_TASK_CHUNK_LINES, "added": IMPORT_TASK_CHUNK_LINES,
            "invalid_count": 0, "invalid": [],
        });
        store
            .update_task_progress(
                "crashed",
                &lease,
                IMPORT_TASK_CHUNK_LINES as u64,
                lines.len() as u64,
                Some(&checkpoint),
            )
            .unwrap();
    }

    let app = open(folder.path());
    let ended = wait_until_ended(&app, "crashed");
    assert_eq!(ended.status, TaskStatus::Succeeded, "{ended:?}");
    assert_eq!(ended.result.unwrap()["added"], lines.len());
    let list = app.lists.find("ip_block").unwrap();
    // Lines before the checkpoint were not imported again (this fixture never wrote them);
    // every line after it was.
    assert_eq!(list.len(), lines.len() - IMPORT_TASK_CHUNK_LINES);
    assert!(!list.contains(&lines[0], 0));
    assert!(list.contains(&lines[IMPORT_TASK_CHUNK_LINES], 0));
    assert!(list.contains(lines.last().unwrap(), 0));
}
