//! `/healthz`, `/metrics`, `/openapi.json`, unknown routes, the no-op endpoint.

use hyper::{Method, StatusCode};
use serde_json::Value;

use crate::{failed_login, TestApp};

#[tokio::test]
async fn health_metrics_and_openapi_are_served() {
    let app = TestApp::spawn().await;
    app.event(failed_login("m", "192.0.2.9")).await;
    let (status, health) = app
        .raw(
            Method::GET,
            "/healthz",
            None,
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["policy_version"], 1);
    let (status, metrics) = app
        .raw(Method::GET, "/metrics", None, "text/plain", Vec::new())
        .await;
    assert_eq!(status, StatusCode::OK);
    let metrics = metrics.as_str().unwrap();
    for name in [
        "shopguard_events_total{kind=\"login_failed\"} 1",
        "shopguard_decisions_total{outcome=\"allow\"} 1",
        "shopguard_engine_latency_seconds_bucket",
        "shopguard_http_request_duration_seconds_count{route=\"/v1/events\",status=\"200\"}",
    ] {
        assert!(metrics.contains(name), "missing {name} in\n{metrics}");
    }
    let (status, document) = app
        .raw(
            Method::GET,
            "/openapi.json",
            None,
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
    paths.sort();
    assert_eq!(
        paths,
        vec![
            "/docs/errors",
            "/healthz",
            "/metrics",
            "/v1/alerts",
            "/v1/alerts/{seq}",
            "/v1/alerts/{seq}/acknowledge",
            "/v1/alerts/{seq}/assign",
            "/v1/alerts/{seq}/dismiss",
            "/v1/alerts/{seq}/notes",
            "/v1/alerts/{seq}/reopen",
            "/v1/alerts/{seq}/resolve",
            "/v1/audit/checkpoints",
            "/v1/audit/consistency",
            "/v1/audit/entries",
            "/v1/audit/entries/{seq}",
            "/v1/audit/retention",
            "/v1/auth/login",
            "/v1/auth/logout",
            "/v1/auth/sessions",
            "/v1/auth/sessions/{session_id}",
            "/v1/data-keys/reencrypt",
            "/v1/data-keys/rotate",
            "/v1/decisions",
            "/v1/decisions/{decision_id}",
            "/v1/decisions/{decision_id}/challenge",
            "/v1/directory/contacts",
            "/v1/directory/contacts/{id}",
            "/v1/directory/contacts/{id}/contacts",
            "/v1/directory/escalation/{group}",
            "/v1/directory/members",
            "/v1/directory/members/{id}",
            "/v1/directory/members/{id}/contacts",
            "/v1/events",
            "/v1/events/batch",
            "/v1/grants",
            "/v1/grants/{id}/approve",
            "/v1/incidents",
            "/v1/incidents/from-alerts",
            "/v1/incidents/grading",
            "/v1/incidents/{id}",
            "/v1/incidents/{id}/assign",
            "/v1/incidents/{id}/diff",
            "/v1/incidents/{id}/escalate",
            "/v1/incidents/{id}/grade",
            "/v1/incidents/{id}/history",
            "/v1/incidents/{id}/override",
            "/v1/incidents/{id}/reassess",
            "/v1/incidents/{id}/transition",
            "/v1/incidents/{id}/triage",
            "/v1/lists",
            "/v1/lists/{name}/entries",
            "/v1/lists/{name}/import",
            "/v1/operators/{username}/disable",
            "/v1/playbooks",
            "/v1/playbooks/active",
            "/v1/playbooks/active/tasks",
            "/v1/playbooks/{version}",
            "/v1/playbooks/{version}/activate",
            "/v1/policy",
            "/v1/policy/check",
            "/v1/policy/replay",
            "/v1/policy/rollback",
            "/v1/policy/versions",
            "/v1/policy/versions/{version}/approve",
            "/v1/tasks",
            "/v1/tasks/{id}",
            "/v1/tasks/{id}/cancel"
        ]
    );
    assert!(document["components"]["schemas"]["Decision"].is_object());
    assert!(document["components"]["schemas"]["EventInput"]["properties"]["amount"].is_object());
    let (status, error) = app
        .raw(
            Method::GET,
            "/v2/nothing",
            None,
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _) = app.admin(Method::POST, "/v1/noop", Value::Null).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the no-op endpoint is off by default"
    );
}

#[tokio::test]
async fn a_route_called_with_a_method_it_does_not_take_answers_405_in_json() {
    let app = TestApp::spawn().await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let response = client
        .request(
            hyper::Request::get(format!("{}/v1/events", app.base))
                .header("authorization", format!("Bearer {}", app.admin_key))
                .body(Default::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        response
            .headers()
            .get("allow")
            .map(|value| value.as_bytes()),
        Some(&b"POST"[..]),
        "the answer names the methods the route takes"
    );
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let error: Value = serde_json::from_slice(&body).expect("a JSON error body");
    assert_eq!(error["code"], "method_not_allowed");
    assert_eq!(error["link"], "/docs/errors#method_not_allowed");
}
