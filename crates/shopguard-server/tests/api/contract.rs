//! The wire contract, pinned by snapshots: the OpenAPI document, a decision, a batch answer,
//! the error table and an error answer. A change to any of them fails here until the
//! snapshot under `snapshots/` is reviewed and updated (`cargo insta review`, or
//! `INSTA_UPDATE=always` and a read of the diff), which makes every change to what clients
//! see a visible, deliberate one.
//!
//! Volatile values (ids, times) are checked for their form, then redacted.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{header, Method, Request, StatusCode};
use insta::internals::Content;
use serde_json::{json, Value};
use shopguard_api_types::{ErrorCode, ERRORS_DOC_PATH};

use crate::{failed_login, TestApp};

/// Redacts a UUIDv7 (a decision id), after checking that it is one.
fn uuid_v7(value: Content, path: insta::internals::ContentPath<'_>) -> &'static str {
    let text = value.as_str().unwrap_or_default();
    let parsed = uuid::Uuid::parse_str(text)
        .unwrap_or_else(|error| panic!("{path}: {text:?} is not a uuid: {error}"));
    assert_eq!(
        parsed.get_version_num(),
        7,
        "{path}: {text} is not a v7 uuid"
    );
    "[uuid v7]"
}

/// Redacts an event id the server made, after checking that it is not empty.
fn event_id(value: Content, path: insta::internals::ContentPath<'_>) -> &'static str {
    let text = value.as_str().unwrap_or_default();
    assert!(!text.is_empty(), "{path}: empty event id");
    "[event id]"
}

/// Redacts a time in ms since the epoch, after checking that it is within a day of now.
fn recent_ms(value: Content, path: insta::internals::ContentPath<'_>) -> &'static str {
    let ms = value
        .as_i64()
        .or_else(|| value.as_u64().and_then(|ms| i64::try_from(ms).ok()))
        .unwrap_or_else(|| panic!("{path}: {value:?} is not a time in ms"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!((ms - now).abs() < 86_400_000, "{path}: {ms} is not recent");
    "[ms]"
}

/// Sends a GET with an `Accept` header; the status, the content type and the body as text.
async fn get_text(app: &TestApp, path: &str, accept: &str) -> (StatusCode, String, String) {
    let request = Request::builder()
        .method(Method::GET)
        .uri(format!("{}{path}", app.base))
        .header(header::ACCEPT, accept)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = app.client.request(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn openapi_document() {
    let app = TestApp::spawn().await;
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
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
    assert_eq!(
        document["components"]["schemas"]["ErrorCode"]["enum"],
        json!(codes),
        "the document names the codes as they are sent"
    );
    insta::assert_json_snapshot!("openapi", document);
}

#[tokio::test]
async fn decision_answer() {
    let app = TestApp::spawn().await;
    for _ in 0..4 {
        let (status, _) = app.event(failed_login("alice", "203.0.113.10")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, decision) = app.event(failed_login("alice", "203.0.113.10")).await;
    assert_eq!(status, StatusCode::OK);
    insta::assert_json_snapshot!("decision", decision, {
        ".decision_id" => insta::dynamic_redaction(uuid_v7),
        ".event_id" => insta::dynamic_redaction(event_id),
        ".occurred_at_ms" => insta::dynamic_redaction(recent_ms),
    });
}

#[tokio::test]
async fn batch_answer() {
    let app = TestApp::spawn().await;
    let mut events: Vec<Value> = (0..5)
        .map(|_| failed_login("bob", "198.51.100.20"))
        .collect();
    events.push(json!({
        "kind": "payment",
        "event_id": "order-1042-payment",
        "user_id": "carol",
        "ip": "192.0.2.44",
        "device_id": "dev-carol",
        "amount": 129.5,
        "currency": "CNY",
        "occurred_at_ms": 1_767_225_600_000_i64,
    }));
    let (status, answer) = app
        .admin(
            Method::POST,
            "/v1/events/batch",
            json!({ "events": events }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let decisions = answer["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 6);
    assert_eq!(decisions[5]["event_id"], "order-1042-payment");
    insta::assert_json_snapshot!("batch", answer, {
        ".decisions[].decision_id" => insta::dynamic_redaction(uuid_v7),
        ".decisions[0:5].event_id" => insta::dynamic_redaction(event_id),
        ".decisions[0:5].occurred_at_ms" => insta::dynamic_redaction(recent_ms),
    });
}

/// The table as one line per code: code, type, status, default text.
#[test]
fn error_table() {
    let table: String = ErrorCode::ALL
        .iter()
        .map(|code| {
            let row = code.row();
            format!(
                "{:<28} {:<16} {} {}\n",
                row.code,
                row.error_type.as_str(),
                row.status,
                row.text
            )
        })
        .collect();
    insta::assert_snapshot!("error_table", table);
}

#[tokio::test]
async fn error_answer_links_to_its_section_served_by_the_same_server() {
    let app = TestApp::spawn().await;
    let (status, error) = app
        .raw(
            Method::POST,
            "/v1/events",
            Some("sg_nosuchkey_secret"),
            "application/json",
            failed_login("dave", "192.0.2.1").to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    insta::assert_json_snapshot!("error_answer", error);

    let link = error["link"].as_str().unwrap();
    let (path, anchor) = link.split_once('#').unwrap();
    assert_eq!(path, ERRORS_DOC_PATH);
    assert_eq!(anchor, "missing_or_invalid_api_key");

    let (status, content_type, html) = get_text(&app, path, "text/html,*/*;q=0.8").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let (status, content_type, markdown) = get_text(&app, path, "*/*").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/markdown"), "{content_type}");
    for &code in ErrorCode::ALL {
        let code = code.as_str();
        assert!(
            html.contains(&format!("<h2 id=\"{code}\">")),
            "no anchor {code}"
        );
        assert!(
            markdown.lines().any(|line| line == format!("## {code}")),
            "no section {code}"
        );
    }
}
