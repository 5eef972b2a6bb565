//! Operators: login with password and TOTP, least privilege by role, temporary grants
//! approved by someone else and expiring on their own, separation of duties.

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use shopguard_core::credentials;
use shopguard_core::rbac::Role;
use shopguard_storage::operators::OperatorRecord;
use shopguard_storage::Scope;

use crate::TestApp;

const PASSWORD: &str = "violet-harbour-trumpet-91";

fn create(app: &TestApp, username: &str, roles: &[Role]) -> Vec<u8> {
    let totp_secret = credentials::new_totp_secret();
    app.state
        .app
        .store()
        .insert_operator(
            &OperatorRecord {
                username: username.into(),
                password_hash: credentials::hash_password(PASSWORD).unwrap(),
                totp_secret: totp_secret.clone(),
                roles: roles.to_vec(),
                created_at_ms: 0,
                disabled_at_ms: None,
            },
            &crate::fixture_audit("operator.create"),
        )
        .unwrap();
    totp_secret
}

fn now_seconds() -> u64 {
    (shopguard_server::state::now_ms() / 1_000) as u64
}

async fn login(app: &TestApp, username: &str, password: &str, code: &str) -> (StatusCode, Value) {
    app.raw(
        Method::POST,
        "/v1/auth/login",
        None,
        "application/json",
        json!({ "username": username, "password": password, "totp_code": code })
            .to_string()
            .into_bytes(),
    )
    .await
}

async fn session(app: &TestApp, username: &str, secret: &[u8]) -> String {
    let code = credentials::totp_code(secret, now_seconds()).unwrap();
    let (status, body) = login(app, username, PASSWORD, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    app.raw(method, path, Some(token), "application/json", bytes)
        .await
}

#[tokio::test]
async fn operators_log_in_with_password_and_code_and_get_their_roles_only() {
    let app = TestApp::spawn().await;
    let secret = create(&app, "ana", &[Role::Analyst]);
    let code = credentials::totp_code(&secret, now_seconds()).unwrap();
    let (status, _) = login(&app, "ana", "wrong-password-000", &code).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = login(&app, "ana", PASSWORD, "000000").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, unknown) = login(&app, "nobody", PASSWORD, &code).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown["code"], "login_failed",
        "a refused login is not a missing API key"
    );
    assert_eq!(
        unknown["message"],
        "unknown operator, wrong password or wrong code"
    );

    let token = session(&app, "ana", &secret).await;
    assert!(token.starts_with("sgs_"));
    let (status, _) = call(&app, &token, Method::GET, "/v1/decisions", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &app,
        &token,
        Method::POST,
        "/v1/lists/ip_block/entries",
        json!({ "value": "198.51.100.1", "reason": "ring" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "analysts list bad actors");
    let (status, _) = call(&app, &token, Method::GET, "/v1/policy", Value::Null).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "but do not touch policies");
    let (status, _) = call(
        &app,
        &token,
        Method::GET,
        "/v1/decisions?unmask=true",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "nor see personal data");
    let (status, _) = call(&app, &token, Method::GET, "/v1/audit/entries", Value::Null).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        &app,
        "sgs_0123456789abcdef_".to_owned().as_str(),
        Method::GET,
        "/v1/decisions",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Every attempt is in the audit log, failures included; the actor is the operator.
    let auditor = app.key(&[Scope::AuditRead]);
    let (_, entries) = app
        .raw(
            Method::GET,
            "/v1/audit/entries?class=login",
            Some(&auditor),
            "application/json",
            Vec::new(),
        )
        .await;
    let actions: Vec<&str> = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["content"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "operator.login_failed")
            .count(),
        3
    );
    assert_eq!(
        actions.iter().filter(|a| **a == "operator.login").count(),
        1
    );
    let (_, lists) = app
        .raw(
            Method::GET,
            "/v1/audit/entries?action=list.",
            Some(&auditor),
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(lists["entries"][0]["content"]["actor"], "operator:ana");
    app.stop().await;
}

#[tokio::test]
async fn temporary_grants_need_another_approver_and_expire_on_their_own() {
    let app = TestApp::spawn().await;
    let ana_secret = create(&app, "ana", &[Role::Analyst]);
    let boss_secret = create(&app, "boss", &[Role::Administrator]);
    let ana = session(&app, "ana", &ana_secret).await;
    let boss = session(&app, "boss", &boss_secret).await;

    let (status, refused) = call(
        &app,
        &ana,
        Method::POST,
        "/v1/grants",
        json!({ "role": "responder", "reason": "x", "duration_seconds": 60 }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a reason is required: {refused}"
    );
    let (status, grant) = call(&app, &ana, Method::POST, "/v1/grants", json!({ "role": "responder", "reason": "incident 4711: call the victim", "duration_seconds": 2 })).await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    assert_eq!(grant["active"], false);
    let id = grant["id"].as_i64().unwrap();

    let (status, _) = call(
        &app,
        &ana,
        Method::POST,
        &format!("/v1/grants/{id}/approve"),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "analysts approve nothing");
    let (status, _) = app
        .admin(
            Method::POST,
            &format!("/v1/grants/{id}/approve"),
            Value::Null,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "grants are approved by a person, not a key"
    );
    let (status, _) = call(
        &app,
        &ana,
        Method::GET,
        "/v1/decisions?unmask=true",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not before approval");

    let (status, approved) = call(
        &app,
        &boss,
        Method::POST,
        &format!("/v1/grants/{id}/approve"),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["approved_by"], "boss");
    assert_eq!(approved["active"], true);
    let (status, _) = call(
        &app,
        &ana,
        Method::GET,
        "/v1/decisions?unmask=true",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the granted role works at once");
    let (status, _) = call(
        &app,
        &boss,
        Method::POST,
        &format!("/v1/grants/{id}/approve"),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "approved once");

    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    let (status, _) = call(
        &app,
        &ana,
        Method::GET,
        "/v1/decisions?unmask=true",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "and ends on its own");

    // Nobody approves their own grant, even an administrator.
    let (_, own) = call(
        &app,
        &boss,
        Method::POST,
        "/v1/grants",
        json!({ "role": "responder", "reason": "testing my own grant", "duration_seconds": 60 }),
    )
    .await;
    let (status, _) = call(
        &app,
        &boss,
        Method::POST,
        &format!("/v1/grants/{}/approve", own["id"]),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // An auditor holds no other role, not even for a while.
    let audit_secret = create(&app, "otto", &[Role::Auditor]);
    let _otto = session(&app, "otto", &audit_secret).await;
    let (status, _) = call(
        &app,
        &ana,
        Method::POST,
        "/v1/grants",
        json!({ "role": "auditor", "reason": "I want to audit myself", "duration_seconds": 60 }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (_, grants) = call(&app, &boss, Method::GET, "/v1/grants", Value::Null).await;
    assert_eq!(grants["grants"].as_array().unwrap().len(), 2);

    // Offboarding: a disabled operator's session stops at once, and login is refused.
    let (status, _) = call(
        &app,
        &boss,
        Method::POST,
        "/v1/operators/boss/disable",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "nobody disables themselves");
    let (status, _) = call(
        &app,
        &boss,
        Method::POST,
        "/v1/operators/ana/disable",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&app, &ana, Method::GET, "/v1/decisions", Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let code = credentials::totp_code(&ana_secret, now_seconds()).unwrap();
    let (status, _) = login(&app, "ana", PASSWORD, &code).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(
        &app,
        &boss,
        Method::POST,
        "/v1/operators/ana/disable",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "already disabled");
    app.stop().await;
}

/// Issue 17: a TOTP code could be replayed within its window (no last-used step was kept).
#[tokio::test]
async fn a_totp_code_logs_in_once() {
    let app = TestApp::spawn().await;
    let secret = create(&app, "ana", &[Role::Analyst]);
    let code = credentials::totp_code(&secret, now_seconds()).unwrap();
    let (status, body) = login(&app, "ana", PASSWORD, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = login(&app, "ana", PASSWORD, &code).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "replayed: {body}");
    assert_eq!(
        body["message"],
        "unknown operator, wrong password or wrong code"
    );
    // The next step's code (accepted a step early, for clock skew) is later: it logs in, and
    // then the current step's code, now earlier than the last, does not.
    let next = credentials::totp_code(&secret, now_seconds() + 30).unwrap();
    let (status, body) = login(&app, "ana", PASSWORD, &next).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let current = credentials::totp_code(&secret, now_seconds()).unwrap();
    if current != next {
        let (status, _) = login(&app, "ana", PASSWORD, &current).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let auditor = app.key(&[Scope::AuditRead]);
    let (_, entries) = app
        .raw(
            Method::GET,
            "/v1/audit/entries?class=login",
            Some(&auditor),
            "application/json",
            Vec::new(),
        )
        .await;
    let replays = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["content"]["detail"]["reason"] == "code already used")
        .count();
    assert!(replays >= 1, "{entries}");
    app.stop().await;
}

async fn login_from(
    app: &TestApp,
    address: &str,
    username: &str,
    password: &str,
    code: &str,
) -> (StatusCode, hyper::HeaderMap, Value) {
    app.raw_with_headers(
        Method::POST,
        "/v1/auth/login",
        None,
        &[
            ("content-type", "application/json"),
            ("x-forwarded-for", address),
        ],
        json!({ "username": username, "password": password, "totp_code": code })
            .to_string()
            .into_bytes(),
    )
    .await
}

/// Issue 17: the login limit was per username only, so spraying one guess over many names
/// was never refused.
#[tokio::test]
async fn spraying_names_from_one_address_is_refused_with_retry_after() {
    let app = TestApp::spawn_with(|config| {
        config.login_failures_per_address_per_minute = 3;
        config.client_address_header = Some("x-forwarded-for".into());
    })
    .await;
    let secret = create(&app, "ana", &[Role::Analyst]);
    for name in ["bob", "carol", "dave"] {
        let (status, _, _) =
            login_from(&app, "203.0.113.7", name, "Summer2026!Summer", "123456").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
    }
    let code = credentials::totp_code(&secret, now_seconds()).unwrap();
    let (status, headers, body) = login_from(&app, "203.0.113.7", "ana", PASSWORD, &code).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "login_throttled");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    // Another address is not held back (and the refused attempt did not use the code).
    let (status, _, body) = login_from(&app, "198.51.100.20", "ana", PASSWORD, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn failed_logins_across_the_node_are_limited_too() {
    let app = TestApp::spawn_with(|config| {
        config.login_failures_per_minute = 4;
        config.client_address_header = Some("x-forwarded-for".into());
    })
    .await;
    for last in 1..=4 {
        let (status, _, _) = login_from(
            &app,
            &format!("203.0.113.{last}"),
            &format!("user{last}"),
            "Summer2026!Summer",
            "123456",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, headers, body) =
        login_from(&app, "198.51.100.9", "user9", "Summer2026!Summer", "123456").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "login_throttled");
    assert!(headers.contains_key("retry-after"));
    app.stop().await;
}

/// Sessions are cached for a second; a disable made through the store directly (as another
/// node would) holds within that second, and one made through this node at once.
#[tokio::test]
async fn cached_sessions_end_at_once_on_this_node_and_within_the_ttl_elsewhere() {
    let app = TestApp::spawn().await;
    let ana_secret = create(&app, "ana", &[Role::Analyst]);
    let bob_secret = create(&app, "bob", &[Role::Analyst]);
    let ana = session(&app, "ana", &ana_secret).await;
    let bob = session(&app, "bob", &bob_secret).await;
    for token in [&ana, &bob] {
        let (status, _) = call(&app, token, Method::GET, "/v1/decisions", Value::Null).await;
        assert_eq!(status, StatusCode::OK);
    }
    // Another node disables bob: this node's cache may serve him for at most the TTL (and
    // does: his session was read a moment ago, so no store read is made for it now).
    app.state
        .app
        .store()
        .disable_operator("bob", 1, &crate::fixture_audit("operator.disable"))
        .unwrap();
    let (status, _) = call(&app, &bob, Method::GET, "/v1/decisions", Value::Null).await;
    assert_eq!(status, StatusCode::OK, "served from the cache");
    tokio::time::sleep(
        shopguard_app::operators::SESSION_CACHE_TTL + std::time::Duration::from_millis(100),
    )
    .await;
    let (status, _) = call(&app, &bob, Method::GET, "/v1/decisions", Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "within the TTL");
    // Disabled through this node: at once, though the session was just cached.
    let (status, _) = call(&app, &ana, Method::GET, "/v1/decisions", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .admin(Method::POST, "/v1/operators/ana/disable", Value::Null)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&app, &ana, Method::GET, "/v1/decisions", Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "at once");
    app.stop().await;
}

/// A second session of an operator who logged in a moment ago: the next step's code (a code
/// logs in once, and the next one is accepted a step early).
async fn second_session(app: &TestApp, username: &str, secret: &[u8]) -> String {
    let code = credentials::totp_code(secret, now_seconds() + 30).unwrap();
    let (status, body) = login(app, username, PASSWORD, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn logout_ends_the_calling_session_and_its_token_is_refused() {
    let app = TestApp::spawn().await;
    let secret = create(&app, "ana", &[Role::Analyst]);
    let code = credentials::totp_code(&secret, now_seconds()).unwrap();
    let (status, login_body) = login(&app, "ana", PASSWORD, &code).await;
    assert_eq!(status, StatusCode::OK, "{login_body}");
    let token = login_body["token"].as_str().unwrap().to_owned();
    assert!(token.contains(login_body["session_id"].as_str().unwrap()));
    let other = second_session(&app, "ana", &secret).await;
    let (status, _) = call(&app, &token, Method::GET, "/v1/decisions", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&app, &token, Method::POST, "/v1/auth/logout", Value::Null).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = call(&app, &token, Method::GET, "/v1/decisions", Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "at once: {body}");
    let (status, _) = call(&app, &token, Method::POST, "/v1/auth/logout", Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the token is gone");
    let (status, _) = call(&app, &other, Method::GET, "/v1/decisions", Value::Null).await;
    assert_eq!(status, StatusCode::OK, "the other session stays");

    let auditor = app.key(&[Scope::AuditRead]);
    let (_, entries) = app
        .raw(
            Method::GET,
            "/v1/audit/entries?action=operator.logout",
            Some(&auditor),
            "application/json",
            Vec::new(),
        )
        .await;
    let entry = &entries["entries"][0]["content"];
    assert_eq!(entry["actor"], "operator:ana");
    assert_eq!(entry["detail"]["session"], login_body["session_id"]);
    assert!(
        !entries.to_string().contains(&token[token.len() - 64..]),
        "no secret in the audit log"
    );
    app.stop().await;
}

#[tokio::test]
async fn logout_everywhere_ends_every_session_of_the_caller() {
    let app = TestApp::spawn().await;
    let secret = create(&app, "ana", &[Role::Analyst]);
    let bob_secret = create(&app, "bob", &[Role::Analyst]);
    let first = session(&app, "ana", &secret).await;
    let second = second_session(&app, "ana", &secret).await;
    let bob = session(&app, "bob", &bob_secret).await;
    let (status, body) = call(
        &app,
        &second,
        Method::POST,
        "/v1/auth/logout?everywhere=true",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "ended": 2 }));
    for token in [&first, &second] {
        let (status, _) = call(&app, token, Method::GET, "/v1/decisions", Value::Null).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = call(&app, &bob, Method::GET, "/v1/decisions", Value::Null).await;
    assert_eq!(status, StatusCode::OK, "only the caller's");
    app.stop().await;
}

#[tokio::test]
async fn operators_list_their_sessions_and_end_their_own_only() {
    let app = TestApp::spawn().await;
    let secret = create(&app, "ana", &[Role::Analyst]);
    let bob_secret = create(&app, "bob", &[Role::Analyst]);
    let boss_secret = create(&app, "boss", &[Role::Administrator]);
    let first = session(&app, "ana", &secret).await;
    let second = second_session(&app, "ana", &secret).await;
    let bob = session(&app, "bob", &bob_secret).await;
    let boss = session(&app, "boss", &boss_secret).await;
    let id_of = |token: &str| {
        credentials::split_session_token(token)
            .unwrap()
            .0
            .to_owned()
    };

    let (status, listed) = call(&app, &first, Method::GET, "/v1/auth/sessions", Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed}");
    assert_eq!(sessions[0]["session_id"], id_of(&second), "newest first");
    assert_eq!(sessions[0]["current"], false);
    assert_eq!(sessions[1]["session_id"], id_of(&first));
    assert_eq!(sessions[1]["current"], true);
    assert_eq!(sessions[1]["client"], "127.0.0.1");
    assert!(!listed.to_string().contains("secret"), "{listed}");

    let (status, body) = call(
        &app,
        &first,
        Method::DELETE,
        &format!("/v1/auth/sessions/{}", id_of(&bob)),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another's session: {body}");
    let (status, _) = call(
        &app,
        &first,
        Method::DELETE,
        "/v1/auth/sessions/0123456789abcdef",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &app,
        &first,
        Method::DELETE,
        &format!("/v1/auth/sessions/{}", id_of(&second)),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "her own");
    let (status, _) = call(&app, &second, Method::GET, "/v1/decisions", Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, listed) = call(&app, &first, Method::GET, "/v1/auth/sessions", Value::Null).await;
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1);

    let (status, _) = call(
        &app,
        &boss,
        Method::DELETE,
        &format!("/v1/auth/sessions/{}", id_of(&bob)),
        Value::Null,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "an administrator ends anyone's"
    );
    let (status, _) = call(&app, &bob, Method::GET, "/v1/decisions", Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn api_keys_are_refused_on_the_session_routes() {
    let app = TestApp::spawn().await;
    for (method, path) in [
        (Method::POST, "/v1/auth/logout"),
        (Method::POST, "/v1/auth/logout?everywhere=true"),
        (Method::GET, "/v1/auth/sessions"),
        (Method::DELETE, "/v1/auth/sessions/0123456789abcdef"),
    ] {
        let (status, body) = app.admin(method.clone(), path, Value::Null).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("session token"),
            "{body}"
        );
    }
    let (status, _) = app
        .raw(
            Method::POST,
            "/v1/auth/logout",
            None,
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no credentials");
    app.stop().await;
}
