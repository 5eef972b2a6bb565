//! Signed webhooks over HTTP(S), with ureq and rustls (decision 0044).
//!
//! One delivery attempt is one `POST` of the message body with `content-type:
//! application/json`, the three Standard Webhooks headers (see [`crate::signature`]) and no
//! redirect followed. The answer decides:
//!
//! | answer | result |
//! | --- | --- |
//! | 2xx | delivered: a [`DeliveryReceipt`] with the status and the start of the body |
//! | 408, 429, 5xx | [`DeliveryError::Rejected`], retryable (`Retry-After` seconds kept) |
//! | any other status (3xx, 4xx) | [`DeliveryError::Rejected`], permanent |
//! | timeout, connection error | [`DeliveryError::Timeout`] / [`DeliveryError::Connect`], retryable |
//!
//! Only the first [`WebhookConfig::max_response_bytes`] of an answer are read. Only `https`
//! URLs are called unless [`WebhookConfig::https_only`] is turned off. Which hosts may
//! be called is [`TargetPolicy`]: public addresses only unless allowed otherwise, checked on
//! the URL and again on every address the host name resolves to, at connection time.

use std::io::Read as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::message::{excerpt, Channel, DeliveryError, DeliveryReceipt, Retryability};
use crate::signature::{signature_header, WebhookSecret, MAX_SECRETS};
use crate::target::{check_url, display_target, TargetPolicy};
use crate::{WebhookMessage, WebhookSender};

/// Longest wait allowed for one attempt.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(120);
/// Most bytes of an answer that may be read.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Where a webhook goes and the secrets it is signed with (several while one is rotated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    url: url::Url,
    secrets: Vec<WebhookSecret>,
}

impl WebhookEndpoint {
    /// An endpoint: an `http`/`https` URL without user info, and 1 to 4 secrets. Whether its
    /// host may be called is decided by the sender's [`TargetPolicy`].
    pub fn new(url: &str, secrets: Vec<WebhookSecret>) -> Result<Self, DeliveryError> {
        let url = check_url(url, TargetPolicy::AllowPrivate)?;
        if secrets.is_empty() || secrets.len() > MAX_SECRETS {
            return Err(DeliveryError::InvalidConfig(format!(
                "a webhook endpoint needs 1 to {MAX_SECRETS} secrets"
            )));
        }
        Ok(Self { url, secrets })
    }

    /// The URL.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// The URL as the delivery record shows it (no query).
    pub fn display(&self) -> String {
        display_target(&self.url)
    }
}

/// How the webhook sender behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Longest one attempt may take, connection and answer included (default 10 s, at most
    /// [`MAX_TIMEOUT`]).
    pub timeout: Duration,
    /// Most bytes of the answer read for the receipt (default 64 KiB, at most
    /// [`MAX_RESPONSE_BYTES`]).
    pub max_response_bytes: usize,
    /// Which addresses may be called (default: public only).
    pub targets: TargetPolicy,
    /// Whether only `https` URLs may be called (default: yes; notices carry personal data
    /// and a signature protects integrity, not confidentiality). Tests and receivers on the
    /// same host turn it off.
    pub https_only: bool,
    /// The `user-agent` header.
    pub user_agent: String,
    /// CA certificates (PEM) to trust instead of the public roots, for receivers behind a
    /// private CA; `None` trusts the public (Mozilla) roots.
    pub private_roots_pem: Option<String>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_response_bytes: 64 * 1024,
            targets: TargetPolicy::PublicOnly,
            https_only: true,
            user_agent: concat!("shopguard-notify/", env!("CARGO_PKG_VERSION")).to_owned(),
            private_roots_pem: None,
        }
    }
}

/// The [`WebhookSender`] over HTTP(S): one ureq agent (connection pool) shared by all
/// deliveries.
#[derive(Debug)]
pub struct HttpWebhookSender {
    agent: ureq::Agent,
    config: WebhookConfig,
}

/// The address filter put in front of ureq's resolver: under
/// [`TargetPolicy::PublicOnly`] addresses that are not public are dropped, and a name with
/// no address left fails with [`ForbiddenAddress`].
#[derive(Debug)]
struct FilteringResolver {
    inner: DefaultResolver,
    policy: TargetPolicy,
}

/// The marker error the resolver answers when every address of a host was refused.
#[derive(Debug)]
struct ForbiddenAddress(String);

impl std::fmt::Display for ForbiddenAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} resolves only to addresses that are not public",
            self.0
        )
    }
}

impl std::error::Error for ForbiddenAddress {}

impl Resolver for FilteringResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let resolved = self.inner.resolve(uri, config, timeout)?;
        let mut allowed = self.inner.empty();
        for address in resolved.iter() {
            if self.policy.allows(address.ip()) {
                allowed.push(*address);
            }
        }
        if allowed.is_empty() {
            let host = uri.host().unwrap_or("the host").to_owned();
            return Err(ureq::Error::Io(std::io::Error::other(ForbiddenAddress(
                host,
            ))));
        }
        Ok(allowed)
    }
}

impl HttpWebhookSender {
    /// A sender with this configuration.
    pub fn new(config: WebhookConfig) -> Result<Self, DeliveryError> {
        if config.timeout.is_zero() || config.timeout > MAX_TIMEOUT {
            return Err(DeliveryError::InvalidConfig(format!(
                "the webhook timeout must be above zero and at most {} s",
                MAX_TIMEOUT.as_secs()
            )));
        }
        if config.max_response_bytes > MAX_RESPONSE_BYTES {
            return Err(DeliveryError::InvalidConfig(format!(
                "max_response_bytes must be at most {MAX_RESPONSE_BYTES}"
            )));
        }
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(pem) = &config.private_roots_pem {
            let roots = ureq::tls::parse_pem(pem.as_bytes())
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(certificate)) => Some(Ok(certificate)),
                    Ok(_) => None,
                    Err(error) => Some(Err(error)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| {
                    DeliveryError::InvalidConfig(format!("webhook private roots: {error}"))
                })?;
            if roots.is_empty() {
                return Err(DeliveryError::InvalidConfig(
                    "webhook private roots: no PEM certificate".into(),
                ));
            }
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&roots));
        }
        let agent_config = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .https_only(config.https_only)
            .timeout_global(Some(config.timeout))
            .user_agent(config.user_agent.as_str())
            .build();
        let agent = ureq::Agent::with_parts(
            agent_config,
            DefaultConnector::default(),
            FilteringResolver {
                inner: DefaultResolver::default(),
                policy: config.targets,
            },
        );
        Ok(Self { agent, config })
    }

    fn post(
        &self,
        endpoint: &WebhookEndpoint,
        message: &WebhookMessage,
        timestamp_s: i64,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let signature =
            signature_header(&endpoint.secrets, message.id(), timestamp_s, message.body());
        self.agent
            .post(endpoint.url.as_str())
            .header("content-type", "application/json")
            .header("webhook-id", message.id())
            .header("webhook-timestamp", timestamp_s.to_string())
            .header("webhook-signature", signature)
            .send(message.body().as_bytes())
    }
}

/// What an HTTP status means for a delivery: `Ok` for 2xx, else whether to retry.
pub fn classify_status(status: u16) -> Result<(), Retryability> {
    match status {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => Err(Retryability::Retryable),
        _ => Err(Retryability::Permanent),
    }
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn map_error(error: ureq::Error) -> DeliveryError {
    match error {
        ureq::Error::Timeout(which) => DeliveryError::Timeout(format!("{which}")),
        ureq::Error::HostNotFound => DeliveryError::Connect("host not found".into()),
        ureq::Error::ConnectionFailed => DeliveryError::Connect("connection failed".into()),
        ureq::Error::Io(io) => {
            if let Some(forbidden) = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<ForbiddenAddress>())
            {
                return DeliveryError::TargetForbidden(forbidden.to_string());
            }
            let text = io.to_string();
            let lower = text.to_ascii_lowercase();
            match io.kind() {
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                    DeliveryError::Timeout(text)
                }
                // rustls's handshake failures (an untrusted certificate, a name mismatch)
                // reach us as I/O errors of kind InvalidData.
                std::io::ErrorKind::InvalidData => DeliveryError::Tls(text),
                _ if ["certificate", "tls", "handshake"]
                    .iter()
                    .any(|word| lower.contains(word)) =>
                {
                    DeliveryError::Tls(text)
                }
                _ => DeliveryError::Connect(text),
            }
        }
        ureq::Error::Tls(reason) => DeliveryError::Tls(reason.to_owned()),
        ureq::Error::Rustls(error) => DeliveryError::Tls(error.to_string()),
        ureq::Error::Pem(error) => DeliveryError::Tls(error.to_string()),
        ureq::Error::BadUri(reason) => DeliveryError::InvalidConfig(reason),
        other => DeliveryError::Protocol(other.to_string()),
    }
}

fn retry_after_ms(response: &ureq::http::Response<ureq::Body>) -> Option<i64> {
    let value = response.headers().get("retry-after")?.to_str().ok()?;
    let seconds: i64 = value.trim().parse().ok()?;
    (seconds >= 0).then(|| seconds.saturating_mul(1000))
}

impl WebhookSender for HttpWebhookSender {
    fn send(
        &self,
        endpoint: &WebhookEndpoint,
        message: &WebhookMessage,
    ) -> Result<DeliveryReceipt, DeliveryError> {
        check_url(endpoint.url.as_str(), self.config.targets)?;
        if self.config.https_only && endpoint.url.scheme() != "https" {
            return Err(DeliveryError::TargetForbidden(
                "only https webhook urls are allowed (https_only)".into(),
            ));
        }
        let started = Instant::now();
        let timestamp_s = i64::try_from(unix_now().as_secs()).unwrap_or(i64::MAX);
        let response = self
            .post(endpoint, message, timestamp_s)
            .map_err(map_error)?;
        let status = response.status().as_u16();
        let retry_after = retry_after_ms(&response);
        let limit = u64::try_from(self.config.max_response_bytes).unwrap_or(u64::MAX);
        let mut answer = Vec::new();
        // The status is the receiver's verdict; an answer body that cannot be read in full
        // only shortens the excerpt.
        let _ = response
            .into_body()
            .into_reader()
            .take(limit)
            .read_to_end(&mut answer);
        let answer = excerpt(&String::from_utf8_lossy(&answer));
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match classify_status(status) {
            Ok(()) => {
                tracing::info!(
                    webhook_id = message.id(),
                    target = %endpoint.display(),
                    status,
                    duration_ms,
                    "webhook delivered"
                );
                Ok(DeliveryReceipt {
                    channel: Channel::Webhook,
                    target: endpoint.display(),
                    message_id: message.id().to_owned(),
                    accepted_at_ms: millis(unix_now()),
                    status_code: status,
                    response_excerpt: answer,
                    duration_ms,
                })
            }
            Err(retryability) => {
                tracing::warn!(
                    webhook_id = message.id(),
                    target = %endpoint.display(),
                    status,
                    ?retryability,
                    "webhook refused"
                );
                Err(DeliveryError::Rejected {
                    code: status,
                    message: answer,
                    retryability,
                    retry_after_ms: retry_after,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_as_the_decision_says() {
        assert_eq!(classify_status(200), Ok(()));
        assert_eq!(classify_status(204), Ok(()));
        for retryable in [408, 429, 500, 502, 503, 504] {
            assert_eq!(
                classify_status(retryable),
                Err(Retryability::Retryable),
                "{retryable}"
            );
        }
        for permanent in [301, 302, 400, 401, 403, 404, 410, 413, 422] {
            assert_eq!(
                classify_status(permanent),
                Err(Retryability::Permanent),
                "{permanent}"
            );
        }
    }

    #[test]
    fn endpoints_need_a_secret_and_a_web_url() {
        let secret = WebhookSecret::from_bytes(&[1_u8; 32]).unwrap();
        WebhookEndpoint::new("https://hooks.example.com/x", vec![secret.clone()]).unwrap();
        assert!(WebhookEndpoint::new("https://hooks.example.com/x", vec![]).is_err());
        assert!(WebhookEndpoint::new("gopher://hooks.example.com/x", vec![secret]).is_err());
    }

    #[test]
    fn bad_configuration_is_refused() {
        let zero = WebhookConfig {
            timeout: Duration::ZERO,
            ..WebhookConfig::default()
        };
        assert!(HttpWebhookSender::new(zero).is_err());
        HttpWebhookSender::new(WebhookConfig::default()).unwrap();
    }

    #[test]
    fn plain_http_is_refused_by_default() {
        let sender = HttpWebhookSender::new(WebhookConfig::default()).unwrap();
        let secret = WebhookSecret::from_bytes(&[1_u8; 32]).unwrap();
        let endpoint = WebhookEndpoint::new("http://hooks.example.com/in", vec![secret]).unwrap();
        let message = WebhookMessage::new("msg_1", "{}").unwrap();
        let refused = sender.send(&endpoint, &message).unwrap_err();
        assert!(
            matches!(&refused, DeliveryError::TargetForbidden(reason) if reason.contains("https")),
            "{refused:?}"
        );
    }

    // No request leaves the machine: the loopback address is refused before any connection,
    // by the literal check and, for a name, by the resolver.
    #[test]
    fn private_targets_are_refused_by_default() {
        let sender = HttpWebhookSender::new(WebhookConfig {
            https_only: false,
            ..WebhookConfig::default()
        })
        .unwrap();
        let secret = WebhookSecret::from_bytes(&[1_u8; 32]).unwrap();
        let message = WebhookMessage::new("msg_1", "{}").unwrap();
        for url in ["http://127.0.0.1:9/hook", "http://localhost:9/hook"] {
            let endpoint = WebhookEndpoint::new(url, vec![secret.clone()]).unwrap();
            let refused = sender.send(&endpoint, &message).unwrap_err();
            assert!(
                matches!(refused, DeliveryError::TargetForbidden(_)),
                "{url}: {refused:?}"
            );
            assert!(!refused.is_retryable());
        }
    }
}
