//! Email over SMTP, with lettre and rustls (no OpenSSL), decision 0044.
//!
//! One send is one SMTP session: connect, TLS as configured, authenticate when credentials are
//! set, `MAIL FROM`, one `RCPT TO` per To/Cc recipient, `DATA`. The server's reply to `DATA`
//! (normally `250 …queued as …`) is the proof of delivery kept in the [`DeliveryReceipt`],
//! with the Message-ID we set and the time. Messages with an HTML body are
//! multipart/alternative (text first); non-ASCII subjects are encoded per RFC 2047 and bodies
//! as UTF-8 in base64 or quoted-printable, whichever lettre finds shorter.
//!
//! SMTP 4xx replies are retryable, 5xx permanent (a recipient refused with 550 fails the whole
//! message: the notices aggregate addresses one recipient group per message). Credentials are
//! only sent over TLS: a configuration with credentials and [`SmtpSecurity::None`] is
//! refused. The password never appears in `Debug` output or logs.

use std::str::FromStr as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::SmtpTransport;
use lettre::Transport as _;

use crate::message::{excerpt, Channel, DeliveryError, DeliveryReceipt, Retryability};
use crate::{EmailMessage, EmailSender};

/// Longest wait allowed for one SMTP exchange.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(120);

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain text, for a local test server or a relay on the same host only.
    None,
    /// Plain connection upgraded with `STARTTLS`, which must succeed (no fallback to plain
    /// text); port 587 by convention.
    StartTls,
    /// TLS from the first byte ("SMTPS"); port 465 by convention.
    ImplicitTls,
}

/// A mail server login. `Debug` shows the user name, never the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpCredentials {
    username: String,
    password: String,
}

impl SmtpCredentials {
    /// A login.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl std::fmt::Debug for SmtpCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Where and how to send email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Mail server host name (also the name its TLS certificate must carry).
    pub host: String,
    /// Mail server port.
    pub port: u16,
    /// Connection protection.
    pub security: SmtpSecurity,
    /// Login, when the server requires one (only with TLS).
    pub credentials: Option<SmtpCredentials>,
    /// The From address, `addr@example.com` or `Name <addr@example.com>`; its domain is the
    /// right-hand side of generated Message-IDs.
    pub from: String,
    /// Longest wait for the connection and for each reply (default 30 s).
    pub timeout: Duration,
    /// A PEM certificate to trust besides the public roots (a private CA of the mail relay).
    pub extra_root_certificate_pem: Option<String>,
}

impl SmtpConfig {
    /// A configuration with the default timeout and no credentials.
    pub fn new(host: impl Into<String>, port: u16, security: SmtpSecurity, from: &str) -> Self {
        Self {
            host: host.into(),
            port,
            security,
            credentials: None,
            from: from.to_owned(),
            timeout: Duration::from_secs(30),
            extra_root_certificate_pem: None,
        }
    }
}

/// The [`EmailSender`] over SMTP.
pub struct SmtpSender {
    transport: SmtpTransport,
    from: Mailbox,
    server: String,
}

impl std::fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSender")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

fn config_error(reason: impl Into<String>) -> DeliveryError {
    DeliveryError::InvalidConfig(reason.into())
}

impl SmtpSender {
    /// A sender for this configuration; nothing is sent until [`EmailSender::send`].
    pub fn new(config: &SmtpConfig) -> Result<Self, DeliveryError> {
        if config.host.trim().is_empty() || config.host.len() > 253 {
            return Err(config_error("smtp host must be 1 to 253 characters"));
        }
        if config.port == 0 {
            return Err(config_error("smtp port must not be 0"));
        }
        if config.timeout.is_zero() || config.timeout > MAX_TIMEOUT {
            return Err(config_error(format!(
                "smtp timeout must be above zero and at most {} s",
                MAX_TIMEOUT.as_secs()
            )));
        }
        let from = Mailbox::from_str(&config.from)
            .map_err(|error| config_error(format!("smtp from address: {error}")))?;
        let tls_parameters = || {
            let mut builder = TlsParameters::builder(config.host.clone());
            if let Some(pem) = &config.extra_root_certificate_pem {
                if !pem.contains("-----BEGIN CERTIFICATE-----") {
                    return Err(config_error(
                        "smtp root certificate: no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    ));
                }
                let certificate = Certificate::from_pem(pem.as_bytes())
                    .map_err(|error| config_error(format!("smtp root certificate: {error}")))?;
                builder = builder.add_root_certificate(certificate);
            }
            builder
                .build_rustls()
                .map_err(|error| config_error(format!("smtp tls: {error}")))
        };
        let tls = match config.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::StartTls => Tls::Required(tls_parameters()?),
            SmtpSecurity::ImplicitTls => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder = SmtpTransport::builder_dangerous(config.host.clone())
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout));
        if let Some(credentials) = &config.credentials {
            if config.security == SmtpSecurity::None {
                return Err(config_error(
                    "smtp credentials are only sent over tls: choose starttls or implicit tls",
                ));
            }
            builder = builder.credentials(Credentials::new(
                credentials.username.clone(),
                credentials.password.clone(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            server: format!("{}:{}", config.host, config.port),
        })
    }

    /// The lettre message for `message`, and its Message-ID.
    fn build(&self, message: &EmailMessage) -> Result<(lettre::Message, String), DeliveryError> {
        message.validate()?;
        let message_id = match &message.message_id {
            Some(id) => id.clone(),
            None => format!(
                "<{}@{}>",
                uuid::Uuid::now_v7().simple(),
                self.from.email.domain()
            ),
        };
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .subject(message.subject.clone())
            .message_id(Some(message_id.clone()))
            .date(SystemTime::now());
        for (field, list) in [("to", &message.to), ("cc", &message.cc)] {
            for address in list {
                let mailbox = Mailbox::from_str(address).map_err(|error| {
                    DeliveryError::invalid(field, format!("{address:?} is not an address: {error}"))
                })?;
                builder = if field == "to" {
                    builder.to(mailbox)
                } else {
                    builder.cc(mailbox)
                };
            }
        }
        let built = match &message.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                message.text.clone(),
                html.clone(),
            )),
            None => builder.singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(message.text.clone()),
            ),
        }
        .map_err(|error| DeliveryError::invalid("message", error.to_string()))?;
        Ok((built, message_id))
    }
}

fn map_error(error: &lettre::transport::smtp::Error) -> DeliveryError {
    if let Some(code) = error.status() {
        let code = u16::from(code);
        let retryability = if error.is_permanent() {
            Retryability::Permanent
        } else {
            Retryability::Retryable
        };
        return DeliveryError::Rejected {
            code,
            message: excerpt(&error.to_string()),
            retryability,
            retry_after_ms: None,
        };
    }
    // A read that times out surfaces as EAGAIN (WouldBlock) on Linux, which lettre reports
    // as a network error.
    let timed_out = io_kind(error).is_some_and(|kind| {
        matches!(
            kind,
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    });
    if error.is_timeout() || timed_out {
        return DeliveryError::Timeout(error_chain(error));
    }
    // lettre reports a failed handshake of implicit TLS (the first read of the session) as a
    // network error; its text names the certificate or TLS.
    let text = error_chain(error);
    let lower = text.to_ascii_lowercase();
    if error.is_tls()
        || ["certificate", "tls", "handshake"]
            .iter()
            .any(|word| lower.contains(word))
    {
        return DeliveryError::Tls(text);
    }
    if error.is_client() {
        // lettre's own refusals: no common authentication mechanism, a malformed envelope.
        return DeliveryError::Protocol(text);
    }
    DeliveryError::Connect(text)
}

/// The kind of the first I/O error among the error's sources.
fn io_kind(error: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = inner.source();
    }
    None
}

/// The error and its sources, joined with `: `.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = inner.source();
    }
    text
}

impl EmailSender for SmtpSender {
    fn send(&self, message: &EmailMessage) -> Result<DeliveryReceipt, DeliveryError> {
        let (built, message_id) = self.build(message)?;
        let target = built
            .envelope()
            .to()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let started = Instant::now();
        let response = self.transport.send(&built).map_err(|error| {
            let mapped = map_error(&error);
            tracing::warn!(
                server = %self.server,
                message_id = %message_id,
                error = %mapped,
                "email not accepted"
            );
            mapped
        })?;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let status_code = u16::from(response.code());
        let reply = response.message().collect::<Vec<_>>().join(" ");
        tracing::info!(
            server = %self.server,
            message_id = %message_id,
            status_code,
            duration_ms,
            "email accepted"
        );
        Ok(DeliveryReceipt {
            channel: Channel::Email,
            target,
            message_id,
            accepted_at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or_default(),
            status_code,
            response_excerpt: excerpt(&format!("{status_code} {reply}")),
            duration_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_never_printed() {
        let mut config = SmtpConfig::new(
            "smtp.example.com",
            587,
            SmtpSecurity::StartTls,
            "shopguard <noreply@example.com>",
        );
        config.credentials = Some(SmtpCredentials::new("mailer", "hunter2-secret"));
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("mailer"));
        let sender = SmtpSender::new(&config).unwrap();
        assert!(!format!("{sender:?}").contains("hunter2"));
    }

    #[test]
    fn credentials_need_tls() {
        let mut config =
            SmtpConfig::new("127.0.0.1", 25, SmtpSecurity::None, "noreply@example.com");
        config.credentials = Some(SmtpCredentials::new("mailer", "pw"));
        assert!(matches!(
            SmtpSender::new(&config),
            Err(DeliveryError::InvalidConfig(_))
        ));
    }

    #[test]
    fn bad_configuration_is_refused() {
        let good = SmtpConfig::new(
            "smtp.example.com",
            465,
            SmtpSecurity::ImplicitTls,
            "noreply@example.com",
        );
        SmtpSender::new(&good).unwrap();
        for bad in [
            SmtpConfig {
                from: "not an address".into(),
                ..good.clone()
            },
            SmtpConfig {
                port: 0,
                ..good.clone()
            },
            SmtpConfig {
                timeout: Duration::ZERO,
                ..good.clone()
            },
            SmtpConfig {
                extra_root_certificate_pem: Some("not a certificate".into()),
                ..good.clone()
            },
        ] {
            assert!(SmtpSender::new(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn messages_carry_our_message_id_and_encode_chinese() {
        let sender = SmtpSender::new(&SmtpConfig::new(
            "127.0.0.1",
            25,
            SmtpSecurity::None,
            "安全运营中心 <soc@shop.example>",
        ))
        .unwrap();
        let message = EmailMessage {
            to: vec!["值班 <duty@shop.example>".into()],
            cc: vec![],
            subject: "【安全事件通报】订单系统异常".into(),
            text: "正文".into(),
            html: Some("<p>正文</p>".into()),
            message_id: None,
        };
        let (built, id) = sender.build(&message).unwrap();
        assert!(
            id.starts_with('<') && id.ends_with("@shop.example>"),
            "{id}"
        );
        let raw = String::from_utf8(built.formatted()).unwrap();
        assert!(raw.contains(&format!("Message-ID: {id}")), "{raw}");
        assert!(raw.contains("Subject: =?utf-8?"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        let bad = EmailMessage {
            to: vec!["nobody".into()],
            ..message
        };
        assert!(matches!(
            sender.build(&bad),
            Err(DeliveryError::InvalidMessage { field: "to", .. })
        ));
    }
}
