//! What survives a restart: velocity counts, list entries, the policy version, the log.

use hyper::Method;
use serde_json::{json, Value};

use crate::{failed_login, TestApp};

#[tokio::test]
async fn state_survives_a_restart() {
    let first = TestApp::spawn().await;
    for _ in 0..4 {
        first.event(failed_login("frank", "192.0.2.99")).await;
    }
    first
        .admin(
            Method::POST,
            "/v1/lists/device_block/entries",
            json!({"value": "evil-device", "reason": "fraud ring"}),
        )
        .await;
    let strict = r#"
[policy]
name = "v2"
[[features]]
name = "fails"
aggregate = "count"
of = ["login_failed"]
by = "user"
window = "10m"
[[rules]]
id = "fifth_failure"
when = "event.kind == 'login_failed' && features.fails >= 5"
outcome = "challenge"
reason = "five failures"
[[rules]]
id = "blocked_device"
when = "in_list('device_block', event.device_id)"
outcome = "deny"
reason = "blocked device"
[[lists]]
name = "device_block"
kind = "device"
"#;
    let (status, _) = first.put_policy_approved(strict).await;
    assert_eq!(status, hyper::StatusCode::OK);
    let folder = first.folder.clone();
    let temp = first.stop().await;

    let second = TestApp::spawn_in(folder, |_| {}).await;
    let (_, decision) = second.event(failed_login("frank", "192.0.2.99")).await;
    assert_eq!(decision["policy_version"], 2, "the live version is kept");
    assert_eq!(
        decision["outcome"], "challenge",
        "the four earlier failures were restored: {decision}"
    );
    let (_, blocked) = second
        .event(json!({"kind": "logout", "user_id": "x", "device_id": "evil-device"}))
        .await;
    assert_eq!(blocked["outcome"], "deny");
    second.flush().await;
    let (_, logged) = second
        .admin(Method::GET, "/v1/decisions?user_id=frank", Value::Null)
        .await;
    assert_eq!(
        logged["decisions"].as_array().unwrap().len(),
        5,
        "the four decisions from before the stop are kept, with the new one"
    );
    second.stop().await;
    drop(temp);
}
