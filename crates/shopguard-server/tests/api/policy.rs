//! Policy versions: replace, refuse, roll back, hot swap under load.

use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{failed_login, TestApp, SHIPPED_POLICY};

const STRICT: &str = r#"
[policy]
name = "strict"
[[rules]]
id = "no_failed_logins"
when = "event.kind == 'login_failed'"
outcome = "deny"
reason = "strict policy: any failed login is denied"
[[tests]]
name = "denies a failed login"
events = [{ kind = "login_failed", user_id = "u", ip = "192.0.2.1" }]
expect = [{ event = 0, outcome = "deny", rules = ["no_failed_logins"] }]
"#;

async fn put_policy(app: &TestApp, source: &str) -> (StatusCode, Value) {
    app.raw(
        Method::PUT,
        "/v1/policy?comment=test",
        Some(&app.admin_key.clone()),
        "application/toml",
        source.as_bytes().to_vec(),
    )
    .await
}

#[tokio::test]
async fn a_policy_that_does_not_compile_never_goes_live() {
    let app = TestApp::spawn().await;
    let broken = STRICT.replace(
        "event.kind == 'login_failed'",
        "event.kind == 'login_failed' &&\\n  event.amount + 1 > 10.0",
    );
    let (status, error) = put_policy(&app, &broken).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("no_failed_logins")
            && message.contains("line 2")
            && message.contains("int and double"),
        "{message}"
    );
    let typo = STRICT.replace("'login_failed'", "'login_faild'");
    let (status, error) = put_policy(&app, &typo).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("not an event kind"),
        "{error}"
    );
    let failing_fixture = STRICT.replace("outcome = \"deny\", rules", "outcome = \"allow\", rules");
    let (status, error) = put_policy(&app, &failing_fixture).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        error["message"].as_str().unwrap().contains("fixture"),
        "{error}"
    );
    let (_, live) = app.admin(Method::GET, "/v1/policy", Value::Null).await;
    assert_eq!(live["version"], 1);
    let (_, versions) = app
        .admin(Method::GET, "/v1/policy/versions", Value::Null)
        .await;
    assert_eq!(
        versions["versions"].as_array().unwrap().len(),
        1,
        "refused policies are not stored"
    );
}

#[tokio::test]
async fn policies_are_replaced_checked_and_rolled_back() {
    let app = TestApp::spawn().await;
    let (status, checked) = app
        .raw(
            Method::POST,
            "/v1/policy/check",
            Some(&app.admin_key.clone()),
            "application/toml",
            STRICT.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{checked}");
    assert_eq!(checked["rules"], 1);
    assert_eq!(checked["fixtures"][0]["passed"], true);

    let (status, stored) = app.put_policy_approved(STRICT).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored["version"], 2);
    let (_, decision) = app.event(failed_login("u1", "192.0.2.1")).await;
    assert_eq!(
        (
            decision["outcome"].as_str(),
            decision["policy_version"].as_u64()
        ),
        (Some("deny"), Some(2))
    );

    let (status, rolled) = app
        .admin(Method::POST, "/v1/policy/rollback", json!({"version": 1}))
        .await;
    assert_eq!(status, StatusCode::OK, "{rolled}");
    let (_, decision) = app.event(failed_login("u2", "192.0.2.1")).await;
    assert_eq!(
        (
            decision["outcome"].as_str(),
            decision["policy_version"].as_u64()
        ),
        (Some("allow"), Some(1))
    );
    let (_, live) = app.admin(Method::GET, "/v1/policy", Value::Null).await;
    assert_eq!(live["version"], 1);
    assert_eq!(live["source"], SHIPPED_POLICY);
    let (status, _) = app
        .admin(Method::POST, "/v1/policy/rollback", json!({"version": 99}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn swapping_policies_under_load_drops_no_request() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let mut senders = Vec::new();
    for worker in 0..4 {
        let app = app.clone();
        senders.push(tokio::spawn(async move {
            let mut versions = std::collections::BTreeSet::new();
            for n in 0..60 {
                let (status, decision) = app
                    .event(failed_login(&format!("w{worker}-{n}"), "192.0.2.7"))
                    .await;
                assert_eq!(status, StatusCode::OK, "{decision}");
                versions.insert(decision["policy_version"].as_u64().unwrap());
            }
            versions
        }));
    }
    for _ in 0..3 {
        let (status, _) = app.put_policy_approved(STRICT).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = app
            .admin(Method::POST, "/v1/policy/rollback", json!({"version": 1}))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    for sender in senders {
        assert!(!sender.await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn punitive_rules_wait_for_someone_else_to_approve_them() {
    let app = TestApp::spawn().await;
    // A rule that only sends to review is not punitive: it goes live at once.
    let gentle = STRICT
        .replace("outcome = \"deny\"", "outcome = \"review\"")
        .replace("outcome = \"deny\", rules", "outcome = \"review\", rules");
    let (status, live) = put_policy(&app, &gentle).await;
    assert_eq!(status, StatusCode::OK, "{live}");
    assert_eq!(live["pending_approval"], false);

    let (status, pending) = put_policy(&app, STRICT).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{pending}");
    assert_eq!(pending["pending_approval"], true);
    assert_eq!(pending["punitive_rules"], json!(["no_failed_logins"]));
    let version = pending["version"].as_u64().unwrap();
    let (_, decision) = app.event(failed_login("p1", "192.0.2.1")).await;
    assert_eq!(decision["outcome"], "review", "not live before approval");
    let (status, _) = app
        .admin(
            Method::POST,
            "/v1/policy/rollback",
            json!({ "version": version }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "no way around the approval");

    // The author cannot approve, even with admin; a writer without policy:approve cannot.
    let (status, _) = app
        .admin(
            Method::POST,
            &format!("/v1/policy/versions/{version}/approve"),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let writer = app.key(&[shopguard_storage::Scope::PolicyWrite]);
    let (status, _) = app
        .raw(
            Method::POST,
            &format!("/v1/policy/versions/{version}/approve"),
            Some(&writer),
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let approver = app.key(&[shopguard_storage::Scope::PolicyApprove]);
    let (status, approved) = app
        .raw(
            Method::POST,
            &format!("/v1/policy/versions/{version}/approve"),
            Some(&approver),
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert!(approved["approved_by"]
        .as_str()
        .unwrap()
        .starts_with("key:"));
    let (_, decision) = app.event(failed_login("p2", "192.0.2.1")).await;
    assert_eq!(decision["outcome"], "deny");
    let (status, _) = app
        .raw(
            Method::POST,
            &format!("/v1/policy/versions/{version}/approve"),
            Some(&approver),
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "approved once");
    app.stop().await;
}

/// The edit of the replay tests: every failed login denied, and its device listed.
const STRICT_LISTING: &str = r#"
[policy]
name = "strict, listing"
[[lists]]
name = "replay_devices"
kind = "device"
[[rules]]
id = "no_failed_logins"
when = "event.kind == 'login_failed'"
outcome = "deny"
reason = "strict policy: any failed login is denied"
actions = [{ add_to_list = "replay_devices", entity = "device" }]
"#;

#[tokio::test]
async fn a_replay_shows_the_decisions_an_edit_would_change_and_changes_nothing() {
    let app = TestApp::spawn().await;
    // The list the edit's rule adds to exists live, so that a leak into it would show.
    let (status, created) = app
        .admin(
            Method::POST,
            "/v1/lists",
            json!({"name": "replay_devices", "kind": "device", "description": "replay test"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    for user in ["r1", "r2", "r3"] {
        let (status, decision) = app.event(failed_login(user, "192.0.2.9")).await;
        assert_eq!(
            (status, decision["outcome"].as_str()),
            (StatusCode::OK, Some("allow"))
        );
    }
    let (_, _) = app
        .event(json!({"kind": "login_succeeded", "user_id": "r4", "ip": "192.0.2.10"}))
        .await;
    app.flush().await;

    let (status, report) = app
        .admin(
            Method::POST,
            "/v1/policy/replay",
            json!({"source": STRICT_LISTING, "hours": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let summary = &report["summary"];
    assert_eq!(summary["events"], 4, "{report}");
    assert_eq!(report["capped"], false);
    assert_eq!(report["live_version"], 1);
    assert_eq!(summary["changed"], 3, "{report}");
    assert_eq!(summary["stricter"], 3);
    assert_eq!(summary["edited"]["deny"], 3);
    assert_eq!(summary["live"]["deny"], 0);
    let rule = &summary["rules"][0];
    assert_eq!(rule["rule_id"], "no_failed_logins", "{report}");
    assert_eq!(
        (
            rule["edited_hits"].as_u64(),
            rule["changes_started"].as_u64()
        ),
        (Some(3), Some(3))
    );
    let changes = summary["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 3);
    assert_eq!(changes[0]["user_id"], "r1", "oldest first: {report}");
    assert_eq!(
        (
            changes[0]["logged"].as_str(),
            changes[0]["live"].as_str(),
            changes[0]["edited"].as_str()
        ),
        (Some("allow"), Some("allow"), Some("deny"))
    );

    // A cap keeps the most recent events, and says so.
    let (_, capped) = app
        .admin(
            Method::POST,
            "/v1/policy/replay",
            json!({"source": STRICT_LISTING, "hours": 1, "max_events": 2}),
        )
        .await;
    assert_eq!(
        (
            capped["capped"].as_bool(),
            capped["summary"]["events"].as_u64()
        ),
        (Some(true), Some(2))
    );
    assert_eq!(
        capped["summary"]["changed"], 1,
        "r3's failed login and r4's login: {capped}"
    );

    // Nothing changed: the live policy, and the lists the replayed rule added to.
    let (_, live) = app.admin(Method::GET, "/v1/policy", Value::Null).await;
    assert_eq!(live["version"], 1);
    let (status, entries) = app
        .admin(Method::GET, "/v1/lists/replay_devices/entries", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{entries}");
    assert_eq!(
        entries["entries"].as_array().map(Vec::len),
        Some(0),
        "a replay must not list anything: {entries}"
    );
    let serving = app.state.app.engine.lists().get("replay_devices").unwrap();
    assert_eq!(serving.len(), 0, "the serving lists are untouched");
    let (_, decision) = app.event(failed_login("r5", "192.0.2.9")).await;
    assert_eq!(decision["outcome"], "allow");
}

#[tokio::test]
async fn a_replay_refuses_a_broken_edit_a_bad_range_and_a_caller_without_both_scopes() {
    let app = TestApp::spawn().await;
    let broken = STRICT_LISTING.replace("'login_failed'", "'login_faild'");
    let (status, error) = app
        .admin(Method::POST, "/v1/policy/replay", json!({"source": broken}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("line"),
        "{error}"
    );
    for body in [
        json!({"source": STRICT_LISTING, "hours": 0}),
        json!({"source": STRICT_LISTING, "hours": 745}),
        json!({"source": STRICT_LISTING, "from_ms": 10, "to_ms": 5}),
        json!({"source": STRICT_LISTING, "from_ms": 0, "to_ms": 40 * 86_400_000i64}),
        json!({"source": STRICT_LISTING, "max_events": 100_001}),
    ] {
        let (status, error) = app
            .admin(Method::POST, "/v1/policy/replay", body.clone())
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
    }
    // A rule author without decisions:read may not read the log through a replay.
    let author = app.key(&[shopguard_storage::Scope::PolicyWrite]);
    let (status, _) = app
        .raw(
            Method::POST,
            "/v1/policy/replay",
            Some(&author),
            "application/json",
            serde_json::to_vec(&json!({"source": STRICT_LISTING})).unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let viewer = app.key(&[shopguard_storage::Scope::DecisionsRead]);
    let (status, _) = app
        .raw(
            Method::POST,
            "/v1/policy/replay",
            Some(&viewer),
            "application/json",
            serde_json::to_vec(&json!({"source": STRICT_LISTING})).unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
