//! `/v1/tasks`: long work answered with 202, polled, cancelled, resumed after a crash.

use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use shopguard_storage::embedded::EmbeddedStore;
use shopguard_storage::tasks::{NewTask, TaskKind};
use shopguard_storage::{Lease, Scope, TaskStore};

use crate::{fixture_audit, TestApp};

impl TestApp {
    /// Sends a request with `key` and a JSON body (or none).
    async fn with_key(&self, key: &str, method: Method, path: &str) -> (StatusCode, Value) {
        self.raw(method, path, Some(key), "application/json", Vec::new())
            .await
    }

    /// Polls a task with `key` until it has ended; returns it.
    pub async fn task_ended(&self, key: &str, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, task) = self
                .with_key(key, Method::GET, &format!("/v1/tasks/{id}"))
                .await;
            assert_eq!(status, StatusCode::OK, "{task}");
            if ["succeeded", "failed", "cancelled"].contains(&task["status"].as_str().unwrap()) {
                return task;
            }
            assert!(Instant::now() < deadline, "task {id} did not end: {task}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn one_logged_decision_under_an_old_key(app: &TestApp) {
    app.event(json!({ "kind": "register", "user_id": "li", "ip": "203.0.113.10", "phone": "13900001111" }))
        .await;
    app.flush().await;
    let (status, rotated) = app
        .admin(Method::POST, "/v1/data-keys/rotate", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
}

#[tokio::test]
async fn reencryption_answers_202_and_is_polled_to_completion() {
    let app = TestApp::spawn().await;
    one_logged_decision_under_an_old_key(&app).await;
    let (status, task) = app
        .admin(Method::POST, "/v1/data-keys/reencrypt", Value::Null)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{task}");
    assert_eq!(task["kind"], "reencrypt");
    assert!(["queued", "running"].contains(&task["status"].as_str().unwrap()));
    let id = task["id"].as_str().unwrap().to_owned();

    let admin = app.admin_key.clone();
    let ended = app.task_ended(&admin, &id).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    assert_eq!(ended["result"]["records_changed"], 1);
    assert_eq!(ended["done"], ended["total"]);
    assert!(ended["finished_at_ms"].as_i64().is_some());

    let (_, listed) = app.admin(Method::GET, "/v1/tasks", Value::Null).await;
    assert_eq!(listed["tasks"][0]["id"], id.as_str());
    // Another caller does not see it.
    let other = app.key(&[Scope::ListsWrite]);
    let (status, _) = app
        .with_key(&other, Method::GET, &format!("/v1/tasks/{id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, theirs) = app.with_key(&other, Method::GET, "/v1/tasks").await;
    assert_eq!(theirs["tasks"], json!([]));
    let (status, _) = app
        .raw(
            Method::GET,
            "/v1/tasks",
            None,
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The records read back under the new key.
    let (_, decisions) = app
        .admin(
            Method::GET,
            "/v1/decisions?user_id=li&unmask=true",
            Value::Null,
        )
        .await;
    assert_eq!(decisions["decisions"][0]["event"]["phone"], "13900001111");
    app.stop().await;
}

#[tokio::test]
async fn a_queued_task_is_cancelled_and_an_ended_one_cannot_be() {
    let app = TestApp::spawn().await;
    let pause = app.state.app.tasks.pause();
    let (status, task) = app
        .admin(Method::POST, "/v1/data-keys/reencrypt", Value::Null)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{task}");
    let id = task["id"].as_str().unwrap();
    let (status, cancelled) = app
        .admin(Method::POST, &format!("/v1/tasks/{id}/cancel"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancel_requested"], true);
    drop(pause);
    let (status, again) = app
        .admin(Method::POST, &format!("/v1/tasks/{id}/cancel"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    let (status, _) = app
        .admin(Method::POST, "/v1/tasks/no-such-task/cancel", Value::Null)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, audit) = app
        .admin(Method::GET, "/v1/audit/entries?action=task.", Value::Null)
        .await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["content"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["task.cancel", "task.submit"]);
    app.stop().await;
}

#[tokio::test]
async fn a_large_import_answers_202_with_a_task_its_submitter_can_poll() {
    let app = TestApp::spawn().await;
    let feed = app.key(&[Scope::ListsWrite]);
    let lines: Vec<String> = (0..100_001)
        .map(|n| format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255))
        .collect();
    let (status, task) = app
        .raw(
            Method::POST,
            "/v1/lists/ip_block/import?reason=feed",
            Some(&feed),
            "text/plain",
            lines.join("\n").into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{task}");
    assert_eq!(task["kind"], "list_import");
    assert_eq!(task["parameters"]["lines"], 100_001);
    let ended = app.task_ended(&feed, task["id"].as_str().unwrap()).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    assert_eq!(ended["result"]["added"], 100_001);
    assert_eq!(ended["result"]["invalid_count"], 0);
    let (_, lists) = app.admin(Method::GET, "/v1/lists", Value::Null).await;
    let ip_block = lists["lists"]
        .as_array()
        .unwrap()
        .iter()
        .find(|list| list["name"] == "ip_block")
        .unwrap()
        .clone();
    assert_eq!(ip_block["entries"], 100_001, "{ip_block}");
    app.stop().await;
}

/// A node stopped while re-encrypting: the task was left `running`. The next start puts
/// it back in the queue, and its worker runs it to the end.
#[tokio::test]
async fn a_task_left_running_at_a_crash_resumes_on_the_next_open() {
    let first = TestApp::spawn().await;
    one_logged_decision_under_an_old_key(&first).await;
    let folder = first.folder.clone();
    let temp = first.stop().await;
    {
        let store = EmbeddedStore::open_for_administration(&folder).unwrap();
        store
            .create_task(
                &NewTask {
                    id: "interrupted".into(),
                    kind: TaskKind::Reencrypt,
                    requested_by: "system".into(),
                    parameters: json!({}),
                    created_at_ms: 1,
                },
                &fixture_audit("task.submit"),
            )
            .unwrap();
        let claimed = store
            .claim_next_task(&Lease {
                worker: "crashed-node",
                now_ms: 2,
                duration_ms: 60_000,
            })
            .unwrap()
            .unwrap();
        assert_eq!(claimed.id, "interrupted");
    }

    let second = TestApp::spawn_in(folder, |_| {}).await;
    let admin = second.admin_key.clone();
    let ended = second.task_ended(&admin, "interrupted").await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    assert_eq!(ended["result"]["records_changed"], 1);
    second.stop().await;
    drop(temp);
}
