//! `/v1/lists`: entries, CIDR matching through rules, imports.

use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{rules_of, TestApp};

fn login(ip: &str) -> Value {
    json!({"kind": "login_succeeded", "user_id": "lister", "ip": ip})
}

#[tokio::test]
async fn list_entries_change_decisions_at_once() {
    let app = TestApp::spawn().await;
    let (status, entry) = app
        .admin(
            Method::POST,
            "/v1/lists/ip_block/entries",
            json!({"value": "203.0.113.0/24", "ttl_seconds": 3600, "reason": "botnet"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    // Every record names the caller one way: the key's id and name.
    let added_by = entry["added_by"].as_str().unwrap();
    assert!(
        added_by.starts_with("key:") && added_by.ends_with(":bootstrap-admin"),
        "{added_by}"
    );
    let (_, decision) = app.event(login("203.0.113.77")).await;
    assert_eq!(decision["outcome"], "deny");
    assert_eq!(rules_of(&decision), vec!["blocked_ip"]);
    let (_, outside) = app.event(login("203.0.114.1")).await;
    assert_eq!(outside["outcome"], "allow");

    let (status, _) = app
        .admin(
            Method::DELETE,
            "/v1/lists/ip_block/entries?value=203.0.113.0%2F24",
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, after) = app.event(login("203.0.113.77")).await;
    assert_eq!(after["outcome"], "allow");
    let (status, _) = app
        .admin(
            Method::DELETE,
            "/v1/lists/ip_block/entries?value=203.0.113.0%2F24",
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A value that does not fit the list's kind is not in it (it used to be a 400, which
    // schemathesis found for a query its schema allows).
    let (status, error) = app
        .admin(
            Method::DELETE,
            "/v1/lists/ip_block/entries?value=",
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
}

#[tokio::test]
async fn lists_are_created_paged_and_validated() {
    let app = TestApp::spawn().await;
    let (status, created) = app
        .admin(
            Method::POST,
            "/v1/lists",
            json!({"name": "vip_devices", "kind": "device", "description": "known good"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _) = app
        .admin(
            Method::POST,
            "/v1/lists",
            json!({"name": "vip_devices", "kind": "ip"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .admin(
            Method::POST,
            "/v1/lists",
            json!({"name": "Bad Name", "kind": "ip"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, error) = app
        .admin(
            Method::POST,
            "/v1/lists/ip_block/entries",
            json!({"value": "not-an-ip", "reason": "x"}),
        )
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_list_value"))
    );
    let (status, _) = app
        .admin(
            Method::POST,
            "/v1/lists/nope/entries",
            json!({"value": "1.2.3.4", "reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let text = "# feed\n192.0.2.1\n192.0.2.0/28\n\nbad-line\n2001:db8::/48 # v6\n";
    let (status, report) = app
        .raw(
            Method::POST,
            "/v1/lists/ip_block/import?reason=feed",
            Some(&app.admin_key.clone()),
            "text/plain",
            text.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["added"], 3);
    assert_eq!(report["invalid_count"], 1);
    assert_eq!(report["invalid"][0]["line"], 5);
    let (_, page) = app
        .admin(
            Method::GET,
            "/v1/lists/ip_block/entries?limit=2",
            Value::Null,
        )
        .await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    let after = page["next_after"]
        .as_str()
        .unwrap()
        .replace('/', "%2F")
        .replace(':', "%3A");
    let (_, rest) = app
        .admin(
            Method::GET,
            &format!("/v1/lists/ip_block/entries?after={after}"),
            Value::Null,
        )
        .await;
    assert_eq!(rest["entries"].as_array().unwrap().len(), 1);
    let (_, index) = app.admin(Method::GET, "/v1/lists", Value::Null).await;
    let ip_block = index["lists"]
        .as_array()
        .unwrap()
        .iter()
        .find(|list| list["name"] == "ip_block")
        .unwrap()
        .clone();
    assert_eq!(ip_block["entries"], 3);
    let (_, decision) = app.event(login("2001:db8:0:1::9")).await;
    assert_eq!(decision["outcome"], "deny");
}
