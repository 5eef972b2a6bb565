//! `POST /v1/events`, `/v1/events/batch`, challenge results, and the decision log queries.

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::{failed_login, rules_of, TestApp};

#[tokio::test]
async fn a_decision_sees_its_own_event_and_carries_reasons() {
    let app = TestApp::spawn().await;
    for attempt in 0..4 {
        let (status, decision) = app.event(failed_login("alice", "203.0.113.10")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(decision["outcome"], "allow", "attempt {attempt}");
    }
    let (_, fifth) = app.event(failed_login("alice", "203.0.113.10")).await;
    assert_eq!(fifth["outcome"], "challenge");
    assert_eq!(fifth["challenge"], "captcha");
    assert_eq!(rules_of(&fifth), vec!["brute_force_captcha"]);
    assert!(fifth["matched"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("failed logins"));
    assert_eq!(fifth["score"], 20);
    assert_eq!(fifth["policy_version"], 1);
}

#[tokio::test]
async fn invalid_events_get_clear_errors_naming_the_field() {
    let app = TestApp::spawn().await;
    let key = app.admin_key.clone();
    let cases = [
        (
            json!({"kind": "payment", "user_id": "u", "currency": "CNY"}),
            StatusCode::BAD_REQUEST,
            "invalid_event",
            "amount",
        ),
        (
            json!({"kind": "payment", "user_id": "u", "amount": "ten", "currency": "CNY"}),
            StatusCode::BAD_REQUEST,
            "malformed_body",
            "amount",
        ),
        (
            json!({"kind": "teleport", "user_id": "u"}),
            StatusCode::BAD_REQUEST,
            "malformed_body",
            "kind",
        ),
        (
            json!({"kind": "logout", "user_id": "u", "usr": 1}),
            StatusCode::BAD_REQUEST,
            "malformed_body",
            "usr",
        ),
        (
            json!({"kind": "login_failed", "user_id": "u", "ip": "999.1.1.1"}),
            StatusCode::BAD_REQUEST,
            "invalid_event",
            "ip",
        ),
        (
            json!({"kind": "challenge_failed", "user_id": "u"}),
            StatusCode::BAD_REQUEST,
            "invalid_event",
            "kind",
        ),
    ];
    for (body, status, code, field) in cases {
        let (got_status, error) = app
            .raw(
                Method::POST,
                "/v1/events",
                Some(&key),
                "application/json",
                body.to_string().into_bytes(),
            )
            .await;
        assert_eq!(got_status, status, "{body}: {error}");
        assert_eq!(error["code"], code, "{body}: {error}");
        assert!(
            error["message"].as_str().unwrap().contains(field),
            "{body}: {error}"
        );
    }
    // Whatever follows the event must be whitespace; an event inside whitespace is fine.
    for (body, expected) in [
        (&b"{not json"[..], StatusCode::BAD_REQUEST),
        (
            b"{\"kind\":\"logout\",\"user_id\":\"u\"} x",
            StatusCode::BAD_REQUEST,
        ),
        (
            b"{\"kind\":\"logout\",\"user_id\":\"u\"}{}",
            StatusCode::BAD_REQUEST,
        ),
        (
            b" \n{\"kind\":\"logout\",\"user_id\":\"u\"}\r\n ",
            StatusCode::OK,
        ),
    ] {
        let (status, answer) = app
            .raw(
                Method::POST,
                "/v1/events",
                Some(&key),
                "application/json",
                body.to_vec(),
            )
            .await;
        assert_eq!(
            status,
            expected,
            "{}: {answer}",
            String::from_utf8_lossy(body)
        );
        if expected == StatusCode::BAD_REQUEST {
            assert_eq!(answer["code"], "malformed_body", "{answer}");
        } else {
            assert_eq!(answer["outcome"], "allow", "{answer}");
        }
    }
}

#[tokio::test]
async fn oversized_bodies_and_batches_are_refused() {
    let app = TestApp::spawn_with(|config| {
        config.max_body_bytes = 4_096;
        config.max_batch_events = 3;
    })
    .await;
    let key = app.admin_key.clone();
    let huge = json!({"kind": "comment_posted", "user_id": "u", "text": "x".repeat(8_000)});
    let (status, error) = app
        .raw(
            Method::POST,
            "/v1/events",
            Some(&key),
            "application/json",
            huge.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{error}");
    assert_eq!(error["code"], "payload_too_large");
    let events: Vec<_> = (0..4)
        .map(|n| failed_login(&format!("u{n}"), "192.0.2.1"))
        .collect();
    let (status, error) = app
        .admin(
            Method::POST,
            "/v1/events/batch",
            json!({ "events": events }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "batch_too_large");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("events: 4 events, the limit is 3"),
        "{error}"
    );
}

#[tokio::test]
async fn a_batch_with_one_bad_event_is_refused_whole() {
    let app = TestApp::spawn().await;
    let events = json!({ "events": [failed_login("a", "192.0.2.1"), {"kind": "payment", "user_id": "b"}, failed_login("c", "192.0.2.1")] });
    let (status, error) = app.admin(Method::POST, "/v1/events/batch", events).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["field"], "events[1].amount", "{error}");
    app.flush().await;
    assert_eq!(
        app.state.app.store().decision_count().unwrap(),
        0,
        "nothing of a refused batch is logged"
    );

    // Malformed JSON is named by its path; so are unknown fields, at the top and inside.
    for (body, field) in [
        (
            json!({ "events": [failed_login("a", "192.0.2.1"), {"kind": "payment", "user_id": "b", "amount": "ten"}] }),
            "events[1].amount",
        ),
        (
            json!({ "events": [failed_login("a", "192.0.2.1")], "extra": 1 }),
            "extra",
        ),
        (
            json!({ "events": [{"kind": "login_failed", "user_id": "a", "colour": "red"}] }),
            "events[0].colour",
        ),
    ] {
        let (status, error) = app.admin(Method::POST, "/v1/events/batch", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["code"], "malformed_body", "{error}");
        assert!(
            error["message"].as_str().unwrap().starts_with(field),
            "{error}"
        );
    }
    // Bytes that are not UTF-8 inside a string: refused, and the path still named.
    let mut body =
        br#"{"events":[{"kind":"login_failed","user_id":"a"},{"kind":"login_failed","user_id":""#
            .to_vec();
    body.extend_from_slice(&[0xff, 0xfe]);
    body.extend_from_slice(br#""}]}"#);
    // Whole, the fault is named; cut short, the body is still refused as malformed.
    for (bytes, field) in [(&body[..], Some("events[1].user_id")), (&body[..40], None)] {
        let (status, error) = app
            .raw(
                Method::POST,
                "/v1/events/batch",
                Some(&app.admin_key),
                "application/json",
                bytes.to_vec(),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        if let Some(field) = field {
            assert_eq!(error["field"], field, "{error}");
        }
        assert_eq!(error["code"], "malformed_body", "{error}");
    }
    let (status, error) = app
        .admin(Method::POST, "/v1/events/batch", json!({ "evts": [] }))
        .await;
    assert_eq!(
        (status, &error["code"]),
        (StatusCode::BAD_REQUEST, &json!("malformed_body")),
        "{error}"
    );

    let good =
        json!({ "events": [failed_login("a", "192.0.2.1"), failed_login("a", "192.0.2.1")] });
    let (status, answer) = app.admin(Method::POST, "/v1/events/batch", good).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["decisions"].as_array().unwrap().len(), 2);
    app.flush().await;
    assert_eq!(app.state.app.store().decision_count().unwrap(), 2);
}

#[tokio::test]
async fn challenge_results_feed_back_into_rules() {
    let app = TestApp::spawn().await;
    let mut challenges = Vec::new();
    for _ in 0..8 {
        let (_, decision) = app.event(failed_login("bob", "198.51.100.20")).await;
        if decision["outcome"] == "challenge" {
            challenges.push(decision["decision_id"].as_str().unwrap().to_owned());
        }
    }
    assert!(challenges.len() >= 3, "{challenges:?}");
    let mut last = serde_json::Value::Null;
    for decision_id in &challenges[..3] {
        let (status, result) = app
            .admin(
                Method::POST,
                &format!("/v1/decisions/{decision_id}/challenge"),
                json!({"passed": false}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{result}");
        assert_eq!(result["kind"], "challenge_failed");
        last = result;
    }
    assert_eq!(last["outcome"], "deny", "{last}");
    assert!(rules_of(&last).contains(&"repeated_challenge_failures".to_owned()));
    assert_eq!(last["actions"][0]["list"], "device_block");
    let (status, error) = app
        .admin(
            Method::POST,
            &format!("/v1/decisions/{}/challenge", challenges[0]),
            json!({"passed": true}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a challenge is answered once"
    );
    assert_eq!(error["code"], "challenge_not_pending");
    // The device is now blocked for any event.
    let (_, blocked) = app.event(json!({"kind": "login_succeeded", "user_id": "bob", "ip": "198.51.100.20", "device_id": "dev-bob"})).await;
    assert_eq!(blocked["outcome"], "deny");
}

/// Issue 18: a search by rule, paged with `before_id`, answers the total of all pages.
#[tokio::test]
async fn decisions_are_searchable_by_rule_and_paged_with_a_total() {
    let app = TestApp::spawn().await;
    for amount in [49_000.0, 48_000.0, 47_500.0] {
        app.event(json!({"kind": "withdrawal", "user_id": "erin", "ip": "192.0.2.55", "amount": amount, "currency": "CNY"})).await;
    }
    app.event(failed_login("dave", "192.0.2.44")).await;
    app.flush().await;
    let get = |path: String| {
        let app = &app;
        async move {
            let (status, body) = app.admin(Method::GET, &path, serde_json::Value::Null).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };
    let erin = get("/v1/decisions?user_id=erin".into()).await;
    assert_eq!(erin["total"], 3);
    assert_eq!(erin["total_capped"], false);
    let rule = erin["decisions"][0]["decision"]["matched"][0]["rule_id"]
        .as_str()
        .expect("a large withdrawal matches a rule")
        .to_owned();
    let matched = get(format!("/v1/decisions?rule_id={rule}&limit=1000")).await;
    let ids = |list: &serde_json::Value| -> Vec<String> {
        list["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|logged| {
                logged["decision"]["decision_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let all = ids(&matched);
    assert!(!all.is_empty());
    assert_eq!(matched["total"], all.len());
    for logged in matched["decisions"].as_array().unwrap() {
        let decision = &logged["decision"];
        let rules: Vec<&str> = decision["matched"]
            .as_array()
            .unwrap()
            .iter()
            .chain(decision["shadow_matched"].as_array().unwrap())
            .map(|hit| hit["rule_id"].as_str().unwrap())
            .collect();
        assert!(rules.contains(&rule.as_str()), "{rules:?}");
    }
    let mut paged = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get(format!("/v1/decisions?rule_id={rule}&limit=1{cursor}")).await;
        assert_eq!(
            page["total"],
            all.len(),
            "the total of all pages on each page"
        );
        let page_ids = ids(&page);
        let Some(last) = page_ids.last() else { break };
        cursor = format!("&before_id={last}");
        paged.extend(page_ids);
    }
    assert_eq!(paged, all, "pages neither overlap nor skip");
    let none = get("/v1/decisions?rule_id=no_such_rule".into()).await;
    assert_eq!(none["total"], 0);
    assert!(none["decisions"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn decisions_and_alerts_are_queryable_by_entity_and_time() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        app.event(failed_login("carol", "192.0.2.33")).await;
    }
    app.event(failed_login("dave", "192.0.2.44")).await;
    for amount in [49_000.0, 48_000.0, 47_500.0] {
        app.event(json!({"kind": "withdrawal", "user_id": "erin", "ip": "192.0.2.55", "amount": amount, "currency": "CNY"})).await;
    }
    app.flush().await;
    let (status, list) = app
        .admin(
            Method::GET,
            "/v1/decisions?user_id=carol",
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let decisions = list["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 3);
    assert_eq!(decisions[0]["event"]["ip"], "192.0.2.33");
    let (_, by_ip) = app
        .admin(
            Method::GET,
            "/v1/decisions?ip=192.0.2.44&limit=10",
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(by_ip["decisions"].as_array().unwrap().len(), 1);
    let (_, reviewed) = app
        .admin(
            Method::GET,
            "/v1/decisions?outcome=review",
            serde_json::Value::Null,
        )
        .await;
    assert!(!reviewed["decisions"].as_array().unwrap().is_empty());
    let (_, none) = app
        .admin(
            Method::GET,
            "/v1/decisions?user_id=carol&to_ms=1000",
            serde_json::Value::Null,
        )
        .await;
    assert!(none["decisions"].as_array().unwrap().is_empty());
    let id = decisions[0]["decision"]["decision_id"].as_str().unwrap();
    let (status, one) = app
        .admin(
            Method::GET,
            &format!("/v1/decisions/{id}"),
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["decision"]["user_id"], "carol");
    let (_, alerts) = app
        .admin(Method::GET, "/v1/alerts", serde_json::Value::Null)
        .await;
    assert!(
        alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|alert| alert["rule_id"] == "structuring_near_threshold"),
        "{alerts}"
    );
    let (status, error) = app
        .admin(
            Method::GET,
            "/v1/decisions?limit=5000",
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_parameter"))
    );
    let (status, _) = app
        .admin(
            Method::GET,
            "/v1/decisions?bogus=1",
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
