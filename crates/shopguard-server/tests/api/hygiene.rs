//! Input hygiene (issue 17): each test names the input that used to be accepted, or refused
//! for no good reason, and pins the rule that holds now (decision 0033).

use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use crate::TestApp;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Posts a raw JSON text with the admin key.
async fn post(app: &TestApp, path: &str, body: &str) -> (StatusCode, Value) {
    app.raw(
        Method::POST,
        path,
        Some(&app.admin_key.clone()),
        "application/json",
        body.as_bytes().to_vec(),
    )
    .await
}

#[tokio::test]
async fn an_event_sent_as_an_array_is_refused_alone_and_in_a_batch() {
    let app = TestApp::spawn().await;
    // Positional fields, in table order: event_id, kind, occurred_at_ms, user_id.
    let positional = r#"[null, "logout", null, "u1"]"#;
    let (status, error) = post(&app, "/v1/events", positional).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["code"], "malformed_body", "{error}");
    let batch = format!(r#"{{"events": [{{"kind": "logout", "user_id": "u2"}}, {positional}]}}"#);
    let (status, error) = post(&app, "/v1/events/batch", &batch).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["field"], "events[1]", "{error}");
}

#[tokio::test]
async fn blank_ids_and_ids_with_control_bidi_or_bom_characters_are_refused() {
    let app = TestApp::spawn().await;
    let bad_user_ids = [
        "   ",
        "\t",
        "u\u{0}1",
        "u1\r\nforged: line",
        "alice\u{202E}cipa",
        "\u{FEFF}u1",
    ];
    for user_id in bad_user_ids {
        let (status, error) = app
            .event(json!({"kind": "logout", "user_id": user_id}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{user_id:?}: {error}");
        assert_eq!(error["field"], "user_id", "{user_id:?}: {error}");
    }
    let (status, error) = app
        .event(json!({"kind": "logout", "user_id": "u1", "device_id": "d\u{2066}1"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["field"], "device_id", "{error}");
    let batch = json!({"events": [
        {"kind": "logout", "user_id": "u1"},
        {"kind": "logout", "user_id": "u1", "order_id": " "},
    ]});
    let (status, error) = post(&app, "/v1/events/batch", &batch.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["field"], "events[1].order_id", "{error}");
    // Ids in other scripts and with inner spaces are fine.
    let (status, answer) = app
        .event(json!({"kind": "logout", "user_id": "用户 42"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // List entries of id kinds follow the same rule.
    let (status, error) = app
        .admin(
            Method::POST,
            "/v1/lists/user_block/entries",
            json!({"value": "mallory\u{202E}", "reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["code"], "invalid_list_value", "{error}");
}

#[tokio::test]
async fn ip_ranges_wider_than_the_bound_need_force_and_host_bits_are_refused() {
    let app = TestApp::spawn().await;
    for value in ["0.0.0.0/0", "::/0", "10.0.0.0/7"] {
        let (status, error) = app
            .admin(
                Method::POST,
                "/v1/lists/ip_block/entries",
                json!({"value": value, "reason": "feed"}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{value}: {error}");
        assert!(
            error["message"].as_str().unwrap().contains("force=true"),
            "{value}: {error}"
        );
    }
    // `1.2.3.4/0` used to become `0.0.0.0/0` without a word.
    let (status, error) = app
        .admin(
            Method::POST,
            "/v1/lists/ip_block/entries",
            json!({"value": "1.2.3.4/0", "reason": "feed"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("host bits"),
        "{error}"
    );
    let (_, decision) = app
        .event(json!({"kind": "login_succeeded", "user_id": "u", "ip": "198.51.100.1"}))
        .await;
    assert_eq!(decision["outcome"], "allow", "{decision}");

    // An import refuses the line and keeps the rest, unless forced.
    let text = "0.0.0.0/0\n203.0.113.0/24\n";
    let (status, report) = app
        .raw(
            Method::POST,
            "/v1/lists/ip_watch/import?reason=feed",
            Some(&app.admin_key.clone()),
            "text/plain",
            text.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (report["added"].clone(), report["invalid_count"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(report["invalid"][0]["line"], 1, "{report}");
    let (status, report) = app
        .raw(
            Method::POST,
            "/v1/lists/ip_watch/import?reason=feed&force=true",
            Some(&app.admin_key.clone()),
            "text/plain",
            text.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["added"], 2, "{report}");
    let (status, entry) = app
        .admin(
            Method::POST,
            "/v1/lists/ip_watch/entries",
            json!({"value": "::/0", "reason": "test", "force": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
}

#[tokio::test]
async fn email_list_values_must_be_addresses() {
    let app = TestApp::spawn().await;
    for value in ["@", "a@", "@example.com", "a@localhost"] {
        let (status, error) = app
            .admin(
                Method::POST,
                "/v1/lists/email_block/entries",
                json!({"value": value, "reason": "x"}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{value}: {error}");
        assert_eq!(error["code"], "invalid_list_value", "{value}: {error}");
    }
    let (status, entry) = app
        .admin(
            Method::POST,
            "/v1/lists/email_block/entries",
            json!({"value": "Fraud@Example.com", "reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
}

#[tokio::test]
async fn event_times_before_2000_or_beyond_the_clock_skew_are_refused() {
    let app = TestApp::spawn().await;
    for at in [0, 1_700_000_000, 946_684_799_999, now_ms() + 10 * 60 * 1000] {
        let (status, error) = app
            .event(json!({"kind": "logout", "user_id": "u", "occurred_at_ms": at}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{at}: {error}");
        assert_eq!(error["field"], "occurred_at_ms", "{at}: {error}");
    }
    let (status, answer) = app
        .event(json!({"kind": "logout", "user_id": "u", "occurred_at_ms": 946_684_800_000i64}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test]
async fn whole_numbers_may_be_spelt_with_a_zero_fraction() {
    let app = TestApp::spawn().await;
    let at = now_ms() - 1_000;
    let body = format!(r#"{{"kind": "logout", "user_id": "u", "occurred_at_ms": {at}.0}}"#);
    let (status, answer) = post(&app, "/v1/events", &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let batch = format!(r#"{{"events": [{body}]}}"#);
    let (status, answer) = post(&app, "/v1/events/batch", &batch).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, entry) = post(
        &app,
        "/v1/lists/ip_block/entries",
        r#"{"value": "192.0.2.9", "ttl_seconds": 15.0, "reason": "x"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");

    let body = format!(r#"{{"kind": "logout", "user_id": "u", "occurred_at_ms": {at}.5}}"#);
    let (status, error) = post(&app, "/v1/events", &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["field"], "occurred_at_ms", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("expected an integer"),
        "{error}"
    );
    let (status, error) = post(
        &app,
        "/v1/lists/ip_block/entries",
        r#"{"value": "192.0.2.9", "ttl_seconds": 15.5, "reason": "x"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["field"], "ttl_seconds", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("15.5"),
        "{error}"
    );
}

#[tokio::test]
async fn the_bearer_scheme_is_read_in_any_case() {
    let app = TestApp::spawn().await;
    for scheme in ["bearer", "BEARER", "Bearer", "bEaReR"] {
        let (status, answer) = app
            .with_authorization(
                Method::GET,
                "/v1/lists",
                &format!("{scheme} {}", app.admin_key),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{scheme}: {answer}");
    }
    let (status, _) = app
        .with_authorization(
            Method::GET,
            "/v1/lists",
            &format!("Basic {}", app.admin_key),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn limit_follows_one_rule_on_every_paged_route() {
    let app = TestApp::spawn().await;
    let routes = [
        "/v1/decisions",
        "/v1/alerts",
        "/v1/audit/entries",
        "/v1/lists/ip_block/entries",
        "/v1/tasks",
    ];
    for route in routes {
        for limit in [0, 1_001, 5_000] {
            let (status, error) = app
                .admin(Method::GET, &format!("{route}?limit={limit}"), Value::Null)
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{route} {limit}: {error}");
            assert_eq!(error["field"], "limit", "{route} {limit}: {error}");
            assert!(
                error["message"]
                    .as_str()
                    .unwrap()
                    .contains("maximum is 1000"),
                "{route} {limit}: {error}"
            );
        }
        let (status, answer) = app
            .admin(Method::GET, &format!("{route}?limit=1000"), Value::Null)
            .await;
        assert_eq!(status, StatusCode::OK, "{route}: {answer}");
    }
}

#[tokio::test]
async fn a_truncated_body_names_the_body_and_says_it_is_truncated() {
    let app = TestApp::spawn().await;
    for (path, body) in [
        ("/v1/events", r#"{"kind": "logout", "user_id": "u"#),
        ("/v1/events/batch", r#"{"events": [{"kind": "logout", "#),
        ("/v1/lists", r#"{"name": "x", "kind": "#),
    ] {
        let (status, error) = post(&app, path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {error}");
        assert_eq!(error["field"], "body", "{path}: {error}");
        assert!(
            error["message"].as_str().unwrap().contains("truncated"),
            "{path}: {error}"
        );
    }
}
