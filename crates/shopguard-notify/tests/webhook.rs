//! Webhooks delivered to a real HTTP receiver that checks each signature with the Standard
//! Webhooks reference implementation (the `standardwebhooks` package from PyPI, run from the
//! repository's `.venv`). Skipped with a loud message when the venv lacks it, unless
//! `SHOPGUARD_REQUIRE_WEBHOOKS=1` (set by `scripts/test.sh`).

mod support;

use std::path::Path;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng as _;
use shopguard_notify::target::TargetPolicy;
use shopguard_notify::{
    Channel, DeliveryAttempt, DeliveryError, DeliveryOutcome, HttpWebhookSender, RetryPolicy,
    Retryability, WebhookConfig, WebhookEndpoint, WebhookMessage, WebhookSecret,
    WebhookSender as _,
};
use support::{free_port, start_peer, venv_python, Peer};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Receiver {
    _peer: Peer,
    port: u16,
    log: tempfile::NamedTempFile,
}

impl Receiver {
    fn start() -> Option<Self> {
        Self::start_in("plain")
    }

    fn start_in(mode: &str) -> Option<Self> {
        let python = venv_python("standardwebhooks", "SHOPGUARD_REQUIRE_WEBHOOKS")?;
        let log = tempfile::NamedTempFile::new().unwrap();
        let log_path = log.path().to_str().unwrap().to_owned();
        let (peer, port) = start_peer(&python, "webhook_receiver.py", |port| {
            vec![
                port.to_string(),
                SECRET.to_owned(),
                log_path.clone(),
                mode.to_owned(),
            ]
        });
        Some(Self {
            _peer: peer,
            port,
            log,
        })
    }

    fn endpoint(&self, path: &str, secrets: &[&str]) -> WebhookEndpoint {
        WebhookEndpoint::new(
            &format!("http://127.0.0.1:{}{path}", self.port),
            secrets
                .iter()
                .map(|secret| WebhookSecret::parse(secret).unwrap())
                .collect(),
        )
        .unwrap()
    }

    fn requests(&self) -> Vec<serde_json::Value> {
        read_log(self.log.path())
    }
}

fn read_log(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn sender() -> HttpWebhookSender {
    HttpWebhookSender::new(WebhookConfig {
        timeout: Duration::from_secs(5),
        targets: TargetPolicy::AllowPrivate,
        https_only: false,
        ..WebhookConfig::default()
    })
    .unwrap()
}

fn notice(id: &str) -> WebhookMessage {
    WebhookMessage::event(
        id,
        "incident.notice",
        "2026-12-01T03:00:00+08:00",
        &serde_json::json!({
            "reference": "INC-2026-0042",
            "audience": "partners",
            "subject": "示例商城安全事件通知：部分用户账户遭撞库登录",
        }),
    )
    .unwrap()
}

#[test]
fn a_signed_delivery_is_verified_by_the_reference_implementation() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let message = notice("msg_good_1");
    let receipt = sender()
        .send(&receiver.endpoint("/in?token=abc", &[SECRET]), &message)
        .unwrap();
    assert_eq!(receipt.status_code, 204);
    assert_eq!(receipt.channel, Channel::Webhook);
    assert_eq!(receipt.message_id, "msg_good_1");
    assert_eq!(
        receipt.target,
        format!("http://127.0.0.1:{}/in", receiver.port)
    );

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request["status"], 204);
    assert_eq!(request["webhook_id"], "msg_good_1");
    assert_eq!(request["content_type"], "application/json");
    assert_eq!(request["body"], message.body());
    assert!(request["webhook_signature"]
        .as_str()
        .unwrap()
        .starts_with("v1,"));
}

#[test]
fn a_wrong_secret_is_refused_and_not_retried() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let wrong = WebhookSecret::from_bytes(&[9_u8; 32]).unwrap().expose();
    let error = sender()
        .send(&receiver.endpoint("/in", &[&wrong]), &notice("msg_wrong_1"))
        .unwrap_err();
    let DeliveryError::Rejected {
        code,
        message,
        retryability,
        ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(*code, 400);
    assert_eq!(*retryability, Retryability::Permanent);
    assert!(message.contains("signature refused"), "{message}");
    let mut rng = StdRng::seed_from_u64(3);
    assert_eq!(
        RetryPolicy::default().next_attempt(1, &error, 0, &mut rng),
        None
    );
}

#[test]
fn rotation_delivers_while_the_receiver_knows_either_secret() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let retired = WebhookSecret::from_bytes(&[9_u8; 32]).unwrap().expose();
    let receipt = sender()
        .send(
            &receiver.endpoint("/in", &[&retired, SECRET]),
            &notice("msg_rotation_1"),
        )
        .unwrap();
    assert_eq!(receipt.status_code, 204);
    let requests = receiver.requests();
    let signatures = requests[0]["webhook_signature"].as_str().unwrap();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
}

#[test]
fn a_busy_receiver_is_retried_on_schedule_until_delivered() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let sender = sender();
    let endpoint = receiver.endpoint("/flaky", &[SECRET]);
    let message = notice("msg_flaky_1");
    let policy = RetryPolicy::new(vec![200, 400], 4, 10).unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    let mut record = Vec::new();
    let now_ms = || {
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap()
    };
    let mut attempt_no = 1;
    loop {
        let started = now_ms();
        let result = sender.send(&endpoint, &message);
        record.push(DeliveryAttempt::record(
            attempt_no,
            Channel::Webhook,
            endpoint.display(),
            started,
            &result,
        ));
        let Err(error) = result else { break };
        let next = policy
            .next_attempt(attempt_no, &error, now_ms(), &mut rng)
            .unwrap_or_else(|| panic!("gave up after {error:?}"));
        std::thread::sleep(Duration::from_millis(
            u64::try_from((next - now_ms()).max(0)).unwrap(),
        ));
        attempt_no += 1;
    }
    assert_eq!(record.len(), 2, "{record:#?}");
    assert!(matches!(
        &record[0].outcome,
        DeliveryOutcome::Failed {
            status_code: Some(503),
            retryability: Retryability::Retryable,
            ..
        }
    ));
    assert!(matches!(
        &record[1].outcome,
        DeliveryOutcome::Delivered { receipt } if receipt.status_code == 204
    ));
    assert!(
        record[1].started_at_ms - record[0].started_at_ms >= 180,
        "{record:#?}"
    );
    // Both attempts carry the same webhook-id, so the receiver can deduplicate.
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r["webhook_id"] == "msg_flaky_1"));
    assert_eq!(requests[0]["status"], 503);
    assert_eq!(requests[1]["status"], 204);
}

#[test]
fn a_receiver_that_does_not_answer_in_time_is_a_retryable_timeout() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let impatient = HttpWebhookSender::new(WebhookConfig {
        timeout: Duration::from_millis(800),
        targets: TargetPolicy::AllowPrivate,
        https_only: false,
        ..WebhookConfig::default()
    })
    .unwrap();
    let error = impatient
        .send(
            &receiver.endpoint("/slow", &[SECRET]),
            &notice("msg_slow_1"),
        )
        .unwrap_err();
    assert!(matches!(error, DeliveryError::Timeout(_)), "{error:?}");
    assert!(error.is_retryable());
}

#[test]
fn nothing_listening_is_a_retryable_connection_failure() {
    let port = free_port();
    let endpoint = WebhookEndpoint::new(
        &format!("http://127.0.0.1:{port}/in"),
        vec![WebhookSecret::parse(SECRET).unwrap()],
    )
    .unwrap();
    let error = sender().send(&endpoint, &notice("msg_none_1")).unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
}

#[test]
fn a_host_name_resolving_to_loopback_is_refused_by_default() {
    // A name other than localhost that /etc/hosts maps to a loopback address (most machines
    // have one, e.g. the host name); the name passes the URL check and must be caught where
    // it is resolved. No request is sent: the sender refuses before connecting.
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let name = hosts
        .lines()
        .filter(|line| line.starts_with("127."))
        .flat_map(|line| line.split_whitespace().skip(1))
        .find(|name| !name.starts_with('#') && !name.to_ascii_lowercase().contains("localhost"));
    let Some(name) = name else {
        eprintln!("SKIPPED: /etc/hosts names no loopback host other than localhost");
        return;
    };
    let endpoint = WebhookEndpoint::new(
        &format!("http://{name}:9/in"),
        vec![WebhookSecret::parse(SECRET).unwrap()],
    )
    .unwrap();
    let sender = HttpWebhookSender::new(WebhookConfig {
        https_only: false,
        ..WebhookConfig::default()
    })
    .unwrap();
    let error = sender.send(&endpoint, &notice("msg_ssrf_1")).unwrap_err();
    assert!(
        matches!(error, DeliveryError::TargetForbidden(_)),
        "{name}: {error:?}"
    );
}

fn test_ca() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls/ca.pem")).unwrap()
}

#[test]
fn https_to_a_receiver_behind_a_private_ca_is_verified() {
    let Some(receiver) = Receiver::start_in("tls") else {
        return;
    };
    // The default (https only), with the test CA as the only trusted root.
    let sender = HttpWebhookSender::new(WebhookConfig {
        targets: TargetPolicy::AllowPrivate,
        private_roots_pem: Some(test_ca()),
        ..WebhookConfig::default()
    })
    .unwrap();
    let endpoint = WebhookEndpoint::new(
        &format!("https://localhost:{}/in", receiver.port),
        vec![WebhookSecret::parse(SECRET).unwrap()],
    )
    .unwrap();
    let receipt = sender.send(&endpoint, &notice("msg_tls_1")).unwrap();
    assert_eq!(receipt.status_code, 204);
    assert_eq!(receiver.requests()[0]["status"], 204);
}

#[test]
fn https_to_an_untrusted_certificate_is_a_tls_failure() {
    let Some(receiver) = Receiver::start_in("tls") else {
        return;
    };
    let sender = HttpWebhookSender::new(WebhookConfig {
        targets: TargetPolicy::AllowPrivate,
        ..WebhookConfig::default()
    })
    .unwrap();
    let endpoint = WebhookEndpoint::new(
        &format!("https://localhost:{}/in", receiver.port),
        vec![WebhookSecret::parse(SECRET).unwrap()],
    )
    .unwrap();
    let error = sender.send(&endpoint, &notice("msg_tls_2")).unwrap_err();
    assert!(matches!(error, DeliveryError::Tls(_)), "{error:?}");
    assert!(receiver.requests().is_empty());
}
