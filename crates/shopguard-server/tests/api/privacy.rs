//! Personal data over HTTP: masked in every view, unmasked only with `pii:unmask` and then
//! audited; data keys rotated and records re-encrypted while the node serves.

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use shopguard_storage::Scope;

use crate::TestApp;

async fn get(app: &TestApp, key: &str, path: &str) -> (StatusCode, Value) {
    app.raw(Method::GET, path, Some(key), "application/json", Vec::new())
        .await
}

#[tokio::test]
async fn personal_data_is_masked_unless_an_unmask_key_asks_and_each_unmask_is_audited() {
    let app = TestApp::spawn().await;
    let (status, decision) = app
        .event(json!({
            "kind": "register", "user_id": "mei", "ip": "203.0.113.9",
            "phone": "13812341234", "email": "mei@example.com",
            "attrs": { "id_number": "110101199003071234" }
        }))
        .await;
    assert_eq!(status, StatusCode::OK, "{decision}");
    app.flush().await;
    let reader = app.key(&[Scope::DecisionsRead]);
    let (status, listed) = get(&app, &reader, "/v1/decisions?user_id=mei").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let event = &listed["decisions"][0]["event"];
    assert_eq!(event["phone"], "138****1234");
    assert_eq!(event["email"], "m***@example.com");
    assert_eq!(event["attrs"]["id_number"], "110***********1234");
    assert_eq!(event["ip"], "203.0.113.9");

    let (status, refused) = get(&app, &reader, "/v1/decisions?user_id=mei&unmask=true").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["field"], "unmask");

    let unmasker = app.key(&[Scope::DecisionsRead, Scope::PiiUnmask]);
    let id = decision["decision_id"].as_str().unwrap();
    let (status, one) = get(&app, &unmasker, &format!("/v1/decisions/{id}?unmask=true")).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["event"]["phone"], "13812341234");
    assert_eq!(one["event"]["attrs"]["id_number"], "110101199003071234");
    let (_, masked_one) = get(&app, &unmasker, &format!("/v1/decisions/{id}")).await;
    assert_eq!(
        masked_one["event"]["phone"], "138****1234",
        "masked unless asked"
    );

    let auditor = app.key(&[Scope::AuditRead]);
    let (_, unmasks) = get(&app, &auditor, "/v1/audit/entries?action=pii.unmask").await;
    let unmasks = unmasks["entries"].as_array().unwrap();
    assert_eq!(unmasks.len(), 1, "one unmask, one record");
    assert_eq!(unmasks[0]["content"]["object"], format!("decision:{id}"));

    // Email lists are personal data too.
    app.admin(
        Method::POST,
        "/v1/lists",
        json!({ "name": "vip_emails", "kind": "email" }),
    )
    .await;
    app.admin(
        Method::POST,
        "/v1/lists/vip_emails/entries",
        json!({ "value": "boss@example.com", "reason": "vip" }),
    )
    .await;
    let (_, entries) = app
        .admin(Method::GET, "/v1/lists/vip_emails/entries", Value::Null)
        .await;
    assert_eq!(entries["entries"][0]["value"], "b***@example.com");
    let (_, entries) = app
        .admin(
            Method::GET,
            "/v1/lists/vip_emails/entries?unmask=true",
            Value::Null,
        )
        .await;
    assert_eq!(entries["entries"][0]["value"], "boss@example.com");
    // The audit trail of the list change does not spill the address either.
    let (_, added) = get(&app, &auditor, "/v1/audit/entries?action=list.entry.add").await;
    let detail = &added["entries"][0]["content"]["detail"]["value"];
    assert_eq!(detail["masked"], "b***@example.com");
    assert_eq!(detail["sha256"].as_str().unwrap().len(), 64);
    app.stop().await;
}

#[tokio::test]
async fn data_keys_rotate_and_records_are_reencrypted_while_serving() {
    let app = TestApp::spawn().await;
    app.event(json!({ "kind": "register", "user_id": "li", "ip": "203.0.113.10", "phone": "13900001111" }))
        .await;
    app.flush().await;
    let (status, rotated) = app
        .admin(Method::POST, "/v1/data-keys/rotate", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(rotated["active_key"], 2);
    let (status, task) = app
        .admin(Method::POST, "/v1/data-keys/reencrypt", Value::Null)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{task}");
    let admin = app.admin_key.clone();
    let ended = app.task_ended(&admin, task["id"].as_str().unwrap()).await;
    assert_eq!(ended["result"]["records_changed"], 1, "{ended}");
    let (_, listed) = app
        .admin(
            Method::GET,
            "/v1/decisions?user_id=li&unmask=true",
            Value::Null,
        )
        .await;
    assert_eq!(listed["decisions"][0]["event"]["phone"], "13900001111");
    let events_only = app.key(&[Scope::EventsWrite]);
    let (status, _) = app
        .raw(
            Method::POST,
            "/v1/data-keys/rotate",
            Some(&events_only),
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.stop().await;
}
