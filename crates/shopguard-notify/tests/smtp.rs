//! Email delivered to a real SMTP server (aiosmtpd, started by the test on a free port), and
//! read back as the server received it, decoded by Python's `email` package. Skipped with a
//! loud message when the repository's `.venv` lacks aiosmtpd, unless
//! `SHOPGUARD_REQUIRE_SMTP=1` (set by `scripts/test.sh`).

mod support;

use std::path::Path;

use shopguard_notify::smtp::SmtpCredentials;
use shopguard_notify::{
    DeliveryError, EmailMessage, EmailSender as _, Retryability, SmtpConfig, SmtpSecurity,
    SmtpSender,
};
use support::{free_port, start_peer, venv_python, wait_for_file, Peer};

const FROM: &str = "示例商城安全中心 <security@shop.example>";

fn server(out: &Path) -> Option<(Peer, u16)> {
    tls_server(out, "plain")
}

fn received(out: &Path, number: u32) -> serde_json::Value {
    assert!(
        wait_for_file(&out.join(format!("{number}.done"))),
        "the server did not receive message {number}"
    );
    let text = std::fs::read_to_string(out.join(format!("{number}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn notice() -> EmailMessage {
    EmailMessage {
        to: vec![
            "监管联络人 <regulator@authority.example>".into(),
            "duty@shop.example".into(),
        ],
        cc: vec!["法务部 <legal@shop.example>".into()],
        subject: "【安全事件通报】INC-2026-0042：部分用户账户遭撞库登录".into(),
        text: "事件经过：攻击者使用外部泄露的账号密码批量尝试登录。\n联系人：安全应急响应中心\n"
            .into(),
        html: Some(
            "<!DOCTYPE html><html lang=\"zh-CN\"><body><p>事件经过：攻击者使用外部泄露的账号密码批量尝试登录。</p></body></html>"
                .into(),
        ),
        message_id: None,
    }
}

#[test]
fn a_chinese_multipart_notice_arrives_intact() {
    let out = tempfile::tempdir().unwrap();
    let Some((_server, port)) = server(out.path()) else {
        return;
    };
    let sender = SmtpSender::new(&SmtpConfig::new(
        "127.0.0.1",
        port,
        SmtpSecurity::None,
        FROM,
    ))
    .unwrap();
    let message = notice();
    let receipt = sender.send(&message).unwrap();

    assert_eq!(receipt.status_code, 250);
    assert!(
        receipt.response_excerpt.contains("queued as test-1"),
        "{receipt:?}"
    );
    assert!(
        receipt.message_id.ends_with("@shop.example>"),
        "{receipt:?}"
    );
    assert!(receipt.target.contains("regulator@authority.example"));
    assert!(receipt.accepted_at_ms > 1_700_000_000_000);

    let got = received(out.path(), 1);
    assert_eq!(got["subject"], message.subject.as_str());
    assert_eq!(got["message_id"], receipt.message_id.as_str());
    assert_eq!(got["mail_from"], "security@shop.example");
    assert_eq!(
        got["rcpt_tos"],
        serde_json::json!([
            "regulator@authority.example",
            "duty@shop.example",
            "legal@shop.example"
        ])
    );
    assert_eq!(got["from"], FROM);
    assert_eq!(
        got["to"],
        "监管联络人 <regulator@authority.example>, duty@shop.example"
    );
    assert_eq!(got["cc"], "法务部 <legal@shop.example>");
    assert_eq!(got["content_type"], "multipart/alternative");
    assert_eq!(
        got["text"].as_str().unwrap().replace("\r\n", "\n"),
        message.text
    );
    assert!(got["html"]
        .as_str()
        .unwrap()
        .contains("<p>事件经过：攻击者使用外部泄露的账号密码批量尝试登录。</p>"));
    assert!(!got["date"].as_str().unwrap().is_empty());
    // On the wire the subject is RFC 2047-encoded: no raw UTF-8 in the headers.
    let raw = got["raw"].as_str().unwrap();
    let headers = raw.split("\r\n\r\n").next().unwrap();
    assert!(headers.is_ascii(), "{headers}");
    assert!(headers.contains("Subject: =?utf-8?"), "{headers}");
}

#[test]
fn a_text_only_notice_keeps_the_callers_message_id() {
    let out = tempfile::tempdir().unwrap();
    let Some((_server, port)) = server(out.path()) else {
        return;
    };
    let sender = SmtpSender::new(&SmtpConfig::new(
        "127.0.0.1",
        port,
        SmtpSecurity::None,
        FROM,
    ))
    .unwrap();
    let message = EmailMessage {
        html: None,
        cc: vec![],
        message_id: Some("<notice-42.attempt@shop.example>".into()),
        ..notice()
    };
    let receipt = sender.send(&message).unwrap();
    assert_eq!(receipt.message_id, "<notice-42.attempt@shop.example>");
    let got = received(out.path(), 1);
    assert_eq!(got["content_type"], "text/plain");
    assert_eq!(got["message_id"], "<notice-42.attempt@shop.example>");
    assert_eq!(
        got["text"].as_str().unwrap().replace("\r\n", "\n"),
        message.text
    );
}

#[test]
fn a_refused_recipient_is_a_permanent_failure() {
    let out = tempfile::tempdir().unwrap();
    let Some((_server, port)) = server(out.path()) else {
        return;
    };
    let sender = SmtpSender::new(&SmtpConfig::new(
        "127.0.0.1",
        port,
        SmtpSecurity::None,
        FROM,
    ))
    .unwrap();
    let message = EmailMessage {
        to: vec!["unknown-person@shop.example".into()],
        ..notice()
    };
    let error = sender.send(&message).unwrap_err();
    assert!(
        matches!(
            error,
            DeliveryError::Rejected {
                code: 550,
                retryability: Retryability::Permanent,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!out.path().join("1.done").exists());
}

#[test]
fn starttls_is_required_when_configured_never_skipped() {
    let out = tempfile::tempdir().unwrap();
    let Some((_server, port)) = server(out.path()) else {
        return;
    };
    // The test server offers no STARTTLS: the sender must refuse to go on in plain text.
    let sender = SmtpSender::new(&SmtpConfig::new(
        "127.0.0.1",
        port,
        SmtpSecurity::StartTls,
        FROM,
    ))
    .unwrap();
    let error = sender.send(&notice()).unwrap_err();
    assert!(matches!(error, DeliveryError::Tls(_)), "{error:?}");
    assert!(error.is_retryable());
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!out.path().join("1.done").exists(), "sent in plain text");
}

#[test]
fn no_server_is_a_retryable_connection_failure() {
    // Nothing listens on a port just released: no venv needed.
    let port = free_port();
    let sender = SmtpSender::new(&SmtpConfig::new(
        "127.0.0.1",
        port,
        SmtpSecurity::None,
        FROM,
    ))
    .unwrap();
    let error = sender.send(&notice()).unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    assert!(
        matches!(error, DeliveryError::Connect(_) | DeliveryError::Timeout(_)),
        "{error:?}"
    );
}

fn tls_server(out: &Path, mode: &str) -> Option<(Peer, u16)> {
    let python = venv_python("aiosmtpd", "SHOPGUARD_REQUIRE_SMTP")?;
    let out = out.to_str().unwrap().to_owned();
    Some(start_peer(&python, "smtp_server.py", |port| {
        vec![port.to_string(), out.clone(), mode.to_owned()]
    }))
}

fn tls_config(port: u16, security: SmtpSecurity, password: &str) -> SmtpConfig {
    let mut config = SmtpConfig::new("localhost", port, security, FROM);
    config.credentials = Some(SmtpCredentials::new("mailer", password));
    config.extra_root_certificate_pem = Some(
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls/ca.pem"))
            .unwrap(),
    );
    config
}

#[test]
fn starttls_and_a_login_deliver_over_tls() {
    let out = tempfile::tempdir().unwrap();
    let Some((_server, port)) = tls_server(out.path(), "starttls") else {
        return;
    };
    let sender = SmtpSender::new(&tls_config(
        port,
        SmtpSecurity::StartTls,
        "s3cret-for-tests",
    ))
    .unwrap();
    let receipt = sender.send(&notice()).unwrap();
    assert_eq!(receipt.status_code, 250);
    let got = received(out.path(), 1);
    assert_eq!(got["tls"], true);
    assert_eq!(got["login"], "mailer");
    assert_eq!(got["subject"], notice().subject.as_str());
}

#[test]
fn implicit_tls_and_a_login_deliver_over_tls() {
    let out = tempfile::tempdir().unwrap();
    let Some((_server, port)) = tls_server(out.path(), "tls") else {
        return;
    };
    let sender = SmtpSender::new(&tls_config(
        port,
        SmtpSecurity::ImplicitTls,
        "s3cret-for-tests",
    ))
    .unwrap();
    sender.send(&notice()).unwrap();
    let got = received(out.path(), 1);
    assert_eq!(got["tls"], true);
    assert_eq!(got["login"], "mailer");
}

#[test]
fn a_wrong_password_is_a_permanent_failure() {
    let out = tempfile::tempdir().unwrap();
    let Some((_server, port)) = tls_server(out.path(), "starttls") else {
        return;
    };
    let sender = SmtpSender::new(&tls_config(port, SmtpSecurity::StartTls, "wrong")).unwrap();
    let error = sender.send(&notice()).unwrap_err();
    assert!(
        matches!(
            error,
            DeliveryError::Rejected {
                code: 535,
                retryability: Retryability::Permanent,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn an_untrusted_certificate_is_refused() {
    let out = tempfile::tempdir().unwrap();
    let Some((_server, port)) = tls_server(out.path(), "tls") else {
        return;
    };
    // Without the test CA the server's certificate chains to nothing we trust.
    let mut config = tls_config(port, SmtpSecurity::ImplicitTls, "s3cret-for-tests");
    config.extra_root_certificate_pem = None;
    let error = SmtpSender::new(&config)
        .unwrap()
        .send(&notice())
        .unwrap_err();
    assert!(matches!(error, DeliveryError::Tls(_)), "{error:?}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!out.path().join("1.done").exists());
}

#[test]
fn a_rendered_builtin_notice_arrives_as_rendered() {
    use shopguard_notify::template::NoticeFacts;
    use shopguard_notify::{Audience, Language, NoticeTemplate};

    let out = tempfile::tempdir().unwrap();
    let Some((_server, port)) = server(out.path()) else {
        return;
    };
    let facts = NoticeFacts {
        platform: "示例商城".into(),
        reference: "INC-2026-0042".into(),
        title: "部分用户账户遭撞库登录".into(),
        category: "网络攻击事件".into(),
        level: "较大（III 级）".into(),
        occurred_at: "2026-12-01 02:10".into(),
        detected_at: "2026-12-01 02:25".into(),
        confirmed_at: "2026-12-01 03:00".into(),
        summary: "攻击者使用外部泄露的账号密码批量尝试登录（含 <script> 字样的输入也只是文字）。"
            .into(),
        impact: "约 1,200 个账户被成功登录。".into(),
        affected_users: "约 1,200 人".into(),
        actions_taken: "已封禁攻击来源。".into(),
        user_actions: "请修改密码。".into(),
        next_update: "2026-12-02 18:00".into(),
        contact_name: "安全应急响应中心".into(),
        contact_email: "security@shop.example".into(),
        contact_phone: "400-000-0000".into(),
    };
    let rendered = NoticeTemplate::builtin(Audience::Regulators, Language::ZhCn)
        .render(&facts)
        .unwrap();
    let sender = SmtpSender::new(&SmtpConfig::new(
        "127.0.0.1",
        port,
        SmtpSecurity::None,
        FROM,
    ))
    .unwrap();
    sender
        .send(&EmailMessage {
            to: vec!["监管联络人 <regulator@authority.example>".into()],
            cc: vec![],
            subject: rendered.subject.clone(),
            text: rendered.text.clone(),
            html: rendered.html.clone(),
            message_id: None,
        })
        .unwrap();
    let got = received(out.path(), 1);
    assert_eq!(got["subject"], "网络安全事件报告：示例商城，INC-2026-0042");
    assert_eq!(
        got["text"].as_str().unwrap().replace("\r\n", "\n"),
        rendered.text
    );
    let html = got["html"].as_str().unwrap();
    assert!(html.contains("含 &lt;script&gt; 字样"), "{html}");
    assert!(!html.contains("<script>"));
}
