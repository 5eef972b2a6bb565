//! API keys and scopes.

use hyper::{Method, StatusCode};
use shopguard_storage::Scope;

use crate::{failed_login, TestApp};

#[tokio::test]
async fn keys_are_required_and_scoped() {
    let app = TestApp::spawn().await;
    let body = failed_login("u", "192.0.2.1").to_string().into_bytes();
    let (status, error) = app
        .raw(
            Method::POST,
            "/v1/events",
            None,
            "application/json",
            body.clone(),
        )
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("missing_or_invalid_api_key"))
    );
    let forged = format!("sg_{}_{}", "0".repeat(16), "f".repeat(64));
    let (status, _) = app
        .raw(
            Method::POST,
            "/v1/events",
            Some(&forged),
            "application/json",
            body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let writer = app.key(&[Scope::EventsWrite]);
    let (status, _) = app
        .raw(
            Method::POST,
            "/v1/events",
            Some(&writer),
            "application/json",
            body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, error) = app
        .raw(
            Method::GET,
            "/v1/decisions",
            Some(&writer),
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient_scope"))
    );
    let (status, _) = app
        .raw(
            Method::GET,
            "/v1/lists",
            Some(&writer),
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let reader = app.key(&[Scope::DecisionsRead]);
    let (status, _) = app
        .raw(
            Method::GET,
            "/v1/decisions",
            Some(&reader),
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .raw(
            Method::POST,
            "/v1/events",
            Some(&reader),
            "application/json",
            body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A right key id with a wrong secret is refused.
    let tampered = format!("{}0", &writer[..writer.len() - 1]);
    let tampered = if tampered == writer {
        format!("{}1", &writer[..writer.len() - 1])
    } else {
        tampered
    };
    let (status, _) = app
        .raw(
            Method::POST,
            "/v1/events",
            Some(&tampered),
            "application/json",
            body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A revoked key that was never cached is refused at once.
    let revoked = app.key(&[Scope::EventsWrite]);
    let key_id = &revoked[3..19];
    assert!(app
        .state
        .app
        .store()
        .revoke_api_key(key_id, 1, &crate::fixture_audit("key.revoke"))
        .unwrap());
    let (status, _) = app
        .raw(
            Method::POST,
            "/v1/events",
            Some(&revoked),
            "application/json",
            body,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn each_key_is_rate_limited() {
    let app = TestApp::spawn_with(|config| config.rate_limit_per_second = 5).await;
    let key = app.key(&[Scope::EventsWrite]);
    let body = failed_login("u", "192.0.2.1").to_string().into_bytes();
    let mut limited = 0;
    for _ in 0..30 {
        let (status, error) = app
            .raw(
                Method::POST,
                "/v1/events",
                Some(&key),
                "application/json",
                body.clone(),
            )
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(error["code"], "rate_limited");
            limited += 1;
        }
    }
    assert!(limited > 0, "30 quick requests at 5/s must hit the limit");
}
