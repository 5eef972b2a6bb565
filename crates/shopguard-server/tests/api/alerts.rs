//! The alert queue: listing with triage state and filters, acknowledge, assign, notes,
//! dismiss, the conflict of a stale version, and scopes.

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use shopguard_core::rbac::Role;
use shopguard_storage::operators::OperatorRecord;
use shopguard_storage::Scope;

use crate::TestApp;

/// A server whose shipped policy has raised at least one alert (structuring withdrawals).
async fn with_alerts() -> TestApp {
    let app = TestApp::spawn().await;
    for amount in [49_000.0, 48_000.0, 47_500.0] {
        app.event(json!({"kind": "withdrawal", "user_id": "erin", "ip": "192.0.2.55", "amount": amount, "currency": "CNY"}))
            .await;
    }
    app.flush().await;
    app.state
        .app
        .store()
        .insert_operator(
            &OperatorRecord {
                username: "ana".into(),
                password_hash: "not used".into(),
                totp_secret: vec![3; 20],
                roles: vec![Role::Analyst],
                created_at_ms: 0,
                disabled_at_ms: None,
            },
            &crate::fixture_audit("operator.create"),
        )
        .unwrap();
    app
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Value,
) -> (StatusCode, Value) {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    app.raw(method, path, Some(key), "application/json", bytes)
        .await
}

#[tokio::test]
async fn analysts_acknowledge_assign_note_and_dismiss_alerts() {
    let app = with_alerts().await;
    let viewer = app.key(&[Scope::DecisionsRead]);
    let analyst = app.key(&[Scope::DecisionsRead, Scope::AlertsWrite]);

    let (status, queue) = send(&app, Method::GET, "/v1/alerts", &viewer, Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let first = &queue["alerts"][0];
    assert_eq!(first["status"], "open", "{queue}");
    assert_eq!(first["version"], 0);
    assert!(queue["total"].as_u64().unwrap() >= 1);
    assert_eq!(queue["total_capped"], false);
    let seq = first["seq"].as_i64().unwrap();
    let alert = |action: &str| format!("/v1/alerts/{seq}/{action}");

    // A viewer reads but cannot change.
    let (status, error) = send(
        &app,
        Method::POST,
        &alert("acknowledge"),
        &viewer,
        json!({"version": 0}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
    assert_eq!(error["code"], "insufficient_scope");
    let (status, error) = send(
        &app,
        Method::POST,
        &alert("notes"),
        &viewer,
        json!({"text": "hi"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");

    let (status, acknowledged) = send(
        &app,
        Method::POST,
        &alert("acknowledge"),
        &analyst,
        json!({"version": 0}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{acknowledged}");
    assert_eq!(acknowledged["alert"]["status"], "acknowledged");
    assert_eq!(acknowledged["alert"]["version"], 1);

    // The same change based on the old version: someone else got there first.
    let (status, conflict) = send(
        &app,
        Method::POST,
        &alert("acknowledge"),
        &analyst,
        json!({"version": 0}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert_eq!(conflict["code"], "conflict");
    assert!(
        conflict["message"].as_str().unwrap().contains("reload"),
        "{conflict}"
    );

    let (status, assigned) = send(
        &app,
        Method::POST,
        &alert("assign"),
        &analyst,
        json!({"version": 1, "assignee": "ana"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    assert_eq!(assigned["alert"]["assignee"], "ana");
    assert_eq!(assigned["alert"]["version"], 2);
    let (status, error) = send(
        &app,
        Method::POST,
        &alert("assign"),
        &analyst,
        json!({"version": 2, "assignee": "nobody"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["field"], "assignee");

    let (status, noted) = send(
        &app,
        Method::POST,
        &alert("notes"),
        &analyst,
        json!({"text": "same ring as last week"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{noted}");
    assert_eq!(noted["notes"][0]["text"], "same ring as last week");
    assert!(noted["notes"][0]["author"]
        .as_str()
        .unwrap()
        .starts_with("key:"));
    let (status, error) = send(
        &app,
        Method::POST,
        &alert("notes"),
        &analyst,
        json!({"text": "  "}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["field"], "text");

    // Filters see the new state.
    let (_, mine) = send(
        &app,
        Method::GET,
        "/v1/alerts?assignee=ana&status=acknowledged",
        &viewer,
        Value::Null,
    )
    .await;
    assert_eq!(mine["total"], 1, "{mine}");
    assert_eq!(mine["alerts"][0]["seq"], seq);
    let (status, error) = send(
        &app,
        Method::GET,
        "/v1/alerts?assignee=ana&unassigned=true",
        &viewer,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, error) = send(
        &app,
        Method::GET,
        "/v1/alerts?status=closed",
        &viewer,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");

    // Dismissing needs a reason, kept as a note.
    let (status, error) = send(
        &app,
        Method::POST,
        &alert("dismiss"),
        &analyst,
        json!({"version": 2}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["code"], "malformed_body", "{error}");
    let (status, error) = send(
        &app,
        Method::POST,
        &alert("dismiss"),
        &analyst,
        json!({"version": 2, "reason": " "}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["field"], "reason");
    let (status, dismissed) = send(
        &app,
        Method::POST,
        &alert("dismiss"),
        &analyst,
        json!({"version": 2, "reason": "test traffic"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{dismissed}");
    assert_eq!(dismissed["alert"]["status"], "dismissed");
    let (status, detail) = send(
        &app,
        Method::GET,
        &format!("/v1/alerts/{seq}"),
        &viewer,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail, dismissed);
    assert_eq!(detail["notes"][1]["status"], "dismissed");
    assert_eq!(detail["notes"][1]["text"], "test traffic");
    // A closed alert cannot be acknowledged; an unknown one is not found.
    let (status, _) = send(
        &app,
        Method::POST,
        &alert("acknowledge"),
        &analyst,
        json!({"version": 3}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = send(
        &app,
        Method::GET,
        "/v1/alerts/987654321",
        &viewer,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Each change is in the audit log.
    let (_, entries) = app
        .admin(
            Method::GET,
            &format!("/v1/audit/entries?object=alert:{seq}"),
            Value::Null,
        )
        .await;
    let actions: Vec<&str> = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|entry| entry["content"]["action"].as_str())
        .collect();
    assert!(actions.contains(&"alert.dismiss"), "{entries}");
}
