//! Incidents: report, promote from alerts, triage, grade, override, the lifecycle with its
//! level-II gates, history and diff, the grading thresholds, scopes (403), stale versions
//! (409) and bad input (400).

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use shopguard_storage::Scope;

use crate::TestApp;

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

fn report() -> Value {
    json!({
        "title": "phishing page imitating our login",
        "category": "phishing_trojan",
        "tags": ["unauthorised_disclosure"],
        "affected_systems": ["login"],
        "description": "reported by a customer",
        "observables": [{"kind": "url", "value": "http://examp1e.com/login"}],
        "unsure_of_level": true
    })
}

#[tokio::test]
async fn an_incident_goes_from_report_to_review_with_its_history() {
    let app = TestApp::spawn().await;
    let viewer = app.key(&[Scope::IncidentsRead, Scope::IncidentsReport]);
    let analyst = app.key(&[Scope::IncidentsRead, Scope::IncidentsWrite]);
    let approver = app.key(&[Scope::IncidentsRead, Scope::IncidentsApprove]);

    let (status, created) = send(&app, Method::POST, "/v1/incidents", &viewer, report()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "reported");
    assert_eq!(created["version"], 1);
    let id = created["id"].as_i64().unwrap();
    let path = |action: &str| format!("/v1/incidents/{id}/{action}");

    // A viewer reports but does not work incidents.
    let (status, error) = send(
        &app,
        Method::POST,
        &path("triage"),
        &viewer,
        json!({"version": 1, "verdict": "true_positive", "reason": "seen"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
    assert_eq!(error["code"], "insufficient_scope");

    let (status, triaged) = send(
        &app,
        Method::POST,
        &path("triage"),
        &analyst,
        json!({"version": 1, "verdict": "true_positive", "reason": "the page is live"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{triaged}");
    assert_eq!(triaged["status"], "triaged");

    // Stale: based on version 1, now 2.
    let (status, conflict) = send(
        &app,
        Method::POST,
        &path("grade"),
        &analyst,
        json!({"version": 1, "importance": "important", "loss": "particularly_serious"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert!(conflict["message"].as_str().unwrap().contains("reload"));

    let (status, graded) = send(
        &app,
        Method::POST,
        &path("grade"),
        &analyst,
        json!({"version": 2, "importance": "important", "loss": "particularly_serious",
               "affected_users": 12, "platform_users": 1000}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{graded}");
    assert_eq!(graded["computed_level"], "ii");
    assert_eq!(graded["grade_reasons"][0]["clause"], "§6.4.3 a");
    assert_eq!(graded["grade_reasons"][1]["clause"], "§6.4.4 b");

    let mut version = 3;
    for to in ["assessed", "responding", "recovered"] {
        let (status, moved) = send(
            &app,
            Method::POST,
            &path("transition"),
            &analyst,
            json!({"version": version, "to": to}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{moved}");
        version = moved["version"].as_i64().unwrap();
    }
    // Level II: closing needs a re-assessment and an escalation first.
    let (status, refused) = send(
        &app,
        Method::POST,
        &path("transition"),
        &analyst,
        json!({"version": version, "to": "closed"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("§10.5"),
        "{refused}"
    );
    let (status, reassessed) = send(
        &app,
        Method::POST,
        &path("reassess"),
        &analyst,
        json!({"version": version, "reason": "with the payment team"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reassessed}");
    let (status, error) = send(
        &app,
        Method::POST,
        &path("escalate"),
        &analyst,
        json!({"version": version + 1}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
    let (status, escalated) = send(
        &app,
        Method::POST,
        &path("escalate"),
        &approver,
        json!({"version": version + 1, "reason": "told the board"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{escalated}");
    version = escalated["version"].as_i64().unwrap();
    let (status, closed) = send(
        &app,
        Method::POST,
        &path("transition"),
        &analyst,
        json!({"version": version, "to": "closed"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    let (status, reviewed) = send(
        &app,
        Method::POST,
        &path("transition"),
        &analyst,
        json!({"version": version + 1, "to": "reviewed", "summary": "take-down took 3 hours"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reviewed}");
    let last = reviewed["version"].as_i64().unwrap();

    let (status, history) = send(&app, Method::GET, &path("history"), &viewer, Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let entries = history["entries"].as_array().unwrap();
    assert!(entries
        .iter()
        .any(|e| e["field"] == "verdict" && e["reason"] == "the page is live"));
    assert_eq!(entries.last().unwrap()["version"], last);

    let (status, diff) = send(
        &app,
        Method::GET,
        &format!("/v1/incidents/{id}/diff?from=1&to={last}"),
        &viewer,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{diff}");
    let status_diff = diff["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|field| field["field"] == "status")
        .unwrap();
    assert_eq!(status_diff["from"], "reported");
    assert_eq!(status_diff["to"], "reviewed");
    let (status, error) = send(
        &app,
        Method::GET,
        &format!("/v1/incidents/{id}/diff?from=1&to={}", last + 5),
        &viewer,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");

    // Listed, filtered by level and by observable.
    let (status, list) = send(
        &app,
        Method::GET,
        "/v1/incidents?level=ii&observable_kind=url&observable_value=http://examp1e.com/login",
        &viewer,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["incidents"][0]["id"], id);
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_named() {
    let app = TestApp::spawn().await;
    let analyst = app.key(&[
        Scope::IncidentsRead,
        Scope::IncidentsWrite,
        Scope::IncidentsReport,
    ]);
    let mut long = report();
    long["title"] = json!("x".repeat(201));
    let (status, error) = send(&app, Method::POST, "/v1/incidents", &analyst, long).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["field"], "title", "{error}");
    let mut unknown = report();
    unknown["category"] = json!("ddos");
    let (status, error) = send(&app, Method::POST, "/v1/incidents", &analyst, unknown).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, created) = send(&app, Method::POST, "/v1/incidents", &analyst, report()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    let (status, error) = send(
        &app,
        Method::POST,
        &format!("/v1/incidents/{id}/grade"),
        &analyst,
        json!({"version": 1, "affected_users": 50, "platform_users": 10}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["field"], "affected_users", "{error}");
    let (status, error) = send(
        &app,
        Method::PATCH,
        &format!("/v1/incidents/{id}"),
        &analyst,
        json!({"version": 1, "description": "x".repeat(20_001)}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, patched) = send(
        &app,
        Method::PATCH,
        &format!("/v1/incidents/{id}"),
        &analyst,
        json!({"version": 1, "evidence": "screenshots attached", "reason": "more detail"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["version"], 2);
    let (status, error) = send(
        &app,
        Method::GET,
        "/v1/incidents?limit=1001",
        &analyst,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, error) = send(
        &app,
        Method::GET,
        "/v1/incidents/999999",
        &analyst,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
    let (status, grading) = send(
        &app,
        Method::GET,
        "/v1/incidents/grading",
        &analyst,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{grading}");
    assert_eq!(grading["major_share_percent"], 10.0);
    assert_eq!(grading["band_between"], "general");
}

#[tokio::test]
async fn alerts_are_promoted_once() {
    let app = TestApp::spawn().await;
    for amount in [49_000.0, 48_000.0, 47_500.0] {
        app.event(json!({"kind": "withdrawal", "user_id": "erin", "ip": "192.0.2.55", "amount": amount, "currency": "CNY"}))
            .await;
    }
    app.flush().await;
    let analyst = app.key(&[
        Scope::DecisionsRead,
        Scope::IncidentsRead,
        Scope::IncidentsWrite,
    ]);
    let (status, queue) = send(&app, Method::GET, "/v1/alerts", &analyst, Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let seq = queue["alerts"][0]["seq"].as_i64().unwrap();
    let body = json!({"alerts": [seq], "title": "structuring", "category": "fraud"});
    let (status, incident) = send(
        &app,
        Method::POST,
        "/v1/incidents/from-alerts",
        &analyst,
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{incident}");
    assert_eq!(incident["alerts"], json!([seq]));
    let (status, alert) = send(
        &app,
        Method::GET,
        &format!("/v1/alerts/{seq}"),
        &analyst,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(alert["alert"]["status"], "resolved", "{alert}");
    let (status, error) = send(
        &app,
        Method::POST,
        "/v1/incidents/from-alerts",
        &analyst,
        body,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    let (status, error) = send(
        &app,
        Method::POST,
        "/v1/incidents/from-alerts",
        &analyst,
        json!({"alerts": [], "title": "none", "category": "fraud"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
}
