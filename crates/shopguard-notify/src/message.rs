//! What is sent and what comes back: the messages, the receipt that proves a delivery, the
//! error that says whether to try again, and the delivery record (one row per attempt) that
//! the notices aggregate keeps as proof.
//!
//! Limits are checked by [`EmailMessage::validate`] and [`WebhookMessage::new`]; a message
//! over a limit is a permanent [`DeliveryError::InvalidMessage`] naming the field.

use serde::{Deserialize, Serialize};

/// Longest subject line, in characters.
pub const MAX_SUBJECT_CHARS: usize = 500;
/// Largest text or HTML body of an email, in bytes.
pub const MAX_EMAIL_BODY_BYTES: usize = 1024 * 1024;
/// Most recipients (To and Cc together) of one email.
pub const MAX_RECIPIENTS: usize = 100;
/// Longest email address (with its display name), in characters.
pub const MAX_ADDRESS_CHARS: usize = 320;
/// Longest Message-ID or webhook message id, in characters.
pub const MAX_MESSAGE_ID_CHARS: usize = 200;
/// Largest webhook body, in bytes.
pub const MAX_WEBHOOK_BODY_BYTES: usize = 1024 * 1024;
/// Longest response excerpt kept in a receipt or an error, in characters.
pub const MAX_EXCERPT_CHARS: usize = 500;

/// How a notice travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// SMTP email.
    Email,
    /// Signed HTTP webhook.
    Webhook,
}

impl Channel {
    /// The wire name (`email`, `webhook`).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }
}

/// One email: recipients, subject, a plain-text body and optionally an HTML body (then sent
/// as multipart/alternative). The sender is the configured From address.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EmailMessage {
    /// Primary recipients, each `addr@example.com` or `Name <addr@example.com>`; at least one.
    pub to: Vec<String>,
    /// Copy recipients, same form as `to`.
    pub cc: Vec<String>,
    /// Subject line (any Unicode; encoded per RFC 2047 when not ASCII).
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body; when present the message is multipart/alternative (text first).
    pub html: Option<String>,
    /// Message-ID to use, with its angle brackets (`<id@domain>`); generated when `None`.
    /// Keep the same id across retries of one notice so recipients can tell duplicates.
    pub message_id: Option<String>,
}

impl EmailMessage {
    /// Checks every limit of this module; the first breach is answered, naming the field.
    pub fn validate(&self) -> Result<(), DeliveryError> {
        if self.to.is_empty() {
            return Err(DeliveryError::invalid(
                "to",
                "at least one recipient is required",
            ));
        }
        if self.to.len() + self.cc.len() > MAX_RECIPIENTS {
            return Err(DeliveryError::invalid(
                "to",
                format!("at most {MAX_RECIPIENTS} recipients (to and cc together)"),
            ));
        }
        for (field, list) in [("to", &self.to), ("cc", &self.cc)] {
            for address in list {
                if address.chars().count() > MAX_ADDRESS_CHARS {
                    return Err(DeliveryError::invalid(
                        field,
                        format!("an address is longer than {MAX_ADDRESS_CHARS} characters"),
                    ));
                }
                if address.chars().any(char::is_control) {
                    return Err(DeliveryError::invalid(
                        field,
                        "an address contains a control character",
                    ));
                }
            }
        }
        if self.subject.trim().is_empty() {
            return Err(DeliveryError::invalid("subject", "must not be empty"));
        }
        if self.subject.chars().count() > MAX_SUBJECT_CHARS {
            return Err(DeliveryError::invalid(
                "subject",
                format!("longer than {MAX_SUBJECT_CHARS} characters"),
            ));
        }
        if self.subject.chars().any(char::is_control) {
            return Err(DeliveryError::invalid(
                "subject",
                "contains a control character (line breaks included)",
            ));
        }
        if self.text.len() > MAX_EMAIL_BODY_BYTES {
            return Err(DeliveryError::invalid(
                "text",
                format!("larger than {MAX_EMAIL_BODY_BYTES} bytes"),
            ));
        }
        if self
            .html
            .as_ref()
            .is_some_and(|html| html.len() > MAX_EMAIL_BODY_BYTES)
        {
            return Err(DeliveryError::invalid(
                "html",
                format!("larger than {MAX_EMAIL_BODY_BYTES} bytes"),
            ));
        }
        if let Some(id) = &self.message_id {
            let inner = id
                .strip_prefix('<')
                .and_then(|rest| rest.strip_suffix('>'))
                .unwrap_or("");
            let well_formed = id.chars().count() <= MAX_MESSAGE_ID_CHARS
                && inner.split_once('@').is_some_and(|(left, right)| {
                    !left.is_empty() && !right.is_empty() && !right.contains('@')
                })
                && inner
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | '\\'));
            if !well_formed {
                return Err(DeliveryError::invalid(
                    "message_id",
                    format!(
                        "must look like <left@right>, printable ASCII, at most \
                         {MAX_MESSAGE_ID_CHARS} characters"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// One webhook delivery: an id that stays the same across retries (receivers deduplicate by
/// it) and a UTF-8 body, normally JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookMessage {
    id: String,
    body: String,
}

impl WebhookMessage {
    /// A message with the caller's id (1 to 200 characters of `A-Z a-z 0-9 _ - .`) and
    /// body (at most [`MAX_WEBHOOK_BODY_BYTES`]).
    pub fn new(id: impl Into<String>, body: impl Into<String>) -> Result<Self, DeliveryError> {
        let id = id.into();
        let body = body.into();
        if id.is_empty()
            || id.len() > MAX_MESSAGE_ID_CHARS
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(DeliveryError::invalid(
                "id",
                format!(
                    "1 to {MAX_MESSAGE_ID_CHARS} characters of A-Z, a-z, 0-9, '_', '-' and '.'"
                ),
            ));
        }
        if body.len() > MAX_WEBHOOK_BODY_BYTES {
            return Err(DeliveryError::invalid(
                "body",
                format!("larger than {MAX_WEBHOOK_BODY_BYTES} bytes"),
            ));
        }
        Ok(Self { id, body })
    }

    /// A message whose body is the Standard Webhooks envelope
    /// `{"type": …, "timestamp": …, "data": …}` (`timestamp` as the caller formats it,
    /// RFC 3339 by convention).
    pub fn event(
        id: impl Into<String>,
        event_type: &str,
        timestamp: &str,
        data: &serde_json::Value,
    ) -> Result<Self, DeliveryError> {
        let body = serde_json::json!({ "type": event_type, "timestamp": timestamp, "data": data });
        Self::new(id, body.to_string())
    }

    /// The message id (the `webhook-id` header).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The body, sent as is and signed byte for byte.
    pub fn body(&self) -> &str {
        &self.body
    }
}

/// Proof that a peer accepted a message: who, what id, when, and the peer's own answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReceipt {
    /// Email or webhook.
    pub channel: Channel,
    /// Where it went: the recipients (email) or the URL without its query (webhook).
    pub target: String,
    /// The Message-ID (email) or the `webhook-id` (webhook).
    pub message_id: String,
    /// When the peer's acceptance was received, in Unix milliseconds.
    pub accepted_at_ms: i64,
    /// The peer's status: the SMTP reply code to DATA (250) or the HTTP status (2xx).
    pub status_code: u16,
    /// The start of the peer's answer (SMTP reply text, HTTP body), at most
    /// [`MAX_EXCERPT_CHARS`] characters.
    pub response_excerpt: String,
    /// How long the attempt took, in milliseconds.
    pub duration_ms: u64,
}

/// Whether a later attempt of the same delivery may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retryability {
    /// Try again later (timeouts, connection errors, 5xx, 408, 429, SMTP 4xx).
    Retryable,
    /// Never try this delivery again as it is (bad message or configuration, 4xx, SMTP 5xx).
    Permanent,
}

/// Why a delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The message breaks a limit or is malformed.
    #[error("invalid message: {field}: {reason}")]
    InvalidMessage {
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The sender's configuration or the endpoint is unusable.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The webhook address is not allowed (scheme, or a private address while only public
    /// ones are allowed).
    #[error("target refused: {0}")]
    TargetForbidden(String),
    /// No connection could be made (DNS, refused, reset).
    #[error("connection failed: {0}")]
    Connect(String),
    /// The peer did not answer in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// TLS could not be set up (handshake, certificate, STARTTLS not offered).
    #[error("tls failed: {0}")]
    Tls(String),
    /// The peer answered and refused the message.
    #[error("refused by the peer with {code}: {message}")]
    Rejected {
        /// SMTP reply code or HTTP status.
        code: u16,
        /// The start of the peer's answer.
        message: String,
        /// Whether the peer's answer allows a later attempt.
        retryability: Retryability,
        /// The peer's `Retry-After`, in milliseconds, when it gave one.
        retry_after_ms: Option<i64>,
    },
    /// The peer broke the protocol or the exchange failed half-way.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl DeliveryError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidMessage {
            field,
            reason: reason.into(),
        }
    }

    /// Whether a later attempt may succeed.
    pub fn retryability(&self) -> Retryability {
        match self {
            Self::InvalidMessage { .. } | Self::InvalidConfig(_) | Self::TargetForbidden(_) => {
                Retryability::Permanent
            }
            Self::Connect(_) | Self::Timeout(_) | Self::Tls(_) | Self::Protocol(_) => {
                Retryability::Retryable
            }
            Self::Rejected { retryability, .. } => *retryability,
        }
    }

    /// Shorthand for `retryability() == Retryable`.
    pub fn is_retryable(&self) -> bool {
        self.retryability() == Retryability::Retryable
    }

    /// A stable snake_case name of the kind of failure, for the delivery record.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidMessage { .. } => "invalid_message",
            Self::InvalidConfig(_) => "invalid_config",
            Self::TargetForbidden(_) => "target_forbidden",
            Self::Connect(_) => "connect",
            Self::Timeout(_) => "timeout",
            Self::Tls(_) => "tls",
            Self::Rejected { .. } => "rejected",
            Self::Protocol(_) => "protocol",
        }
    }

    /// The peer's status code, when the peer answered.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Self::Rejected { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The least wait the peer asked for (HTTP `Retry-After`), in milliseconds.
    pub fn retry_after_ms(&self) -> Option<i64> {
        match self {
            Self::Rejected { retry_after_ms, .. } => *retry_after_ms,
            _ => None,
        }
    }
}

/// How one attempt ended, as the delivery record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum DeliveryOutcome {
    /// The peer accepted the message.
    Delivered {
        /// The proof.
        receipt: DeliveryReceipt,
    },
    /// The attempt failed.
    Failed {
        /// [`DeliveryError::code`].
        error: String,
        /// The error's message (never a secret).
        message: String,
        /// Whether a later attempt may succeed.
        retryability: Retryability,
        /// The peer's status code, when it answered.
        status_code: Option<u16>,
    },
}

/// One row of the delivery record: an attempt, when it started and how it ended. The
/// notices aggregate appends one per attempt and never rewrites them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// 1 for the first attempt.
    pub attempt_no: u32,
    /// Email or webhook.
    pub channel: Channel,
    /// Where it went (recipients or URL without query).
    pub target: String,
    /// When the attempt started, in Unix milliseconds.
    pub started_at_ms: i64,
    /// How it ended.
    pub outcome: DeliveryOutcome,
}

impl DeliveryAttempt {
    /// The record of an attempt from the sender's answer.
    pub fn record(
        attempt_no: u32,
        channel: Channel,
        target: impl Into<String>,
        started_at_ms: i64,
        result: &Result<DeliveryReceipt, DeliveryError>,
    ) -> Self {
        let outcome = match result {
            Ok(receipt) => DeliveryOutcome::Delivered {
                receipt: receipt.clone(),
            },
            Err(error) => DeliveryOutcome::Failed {
                error: error.code().to_owned(),
                message: excerpt(&error.to_string()),
                retryability: error.retryability(),
                status_code: error.status_code(),
            },
        };
        Self {
            attempt_no,
            channel,
            target: target.into(),
            started_at_ms,
            outcome,
        }
    }
}

/// The first [`MAX_EXCERPT_CHARS`] characters of `text`, control characters other than
/// line breaks and tabs replaced, with `…` when cut.
pub fn excerpt(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(MAX_EXCERPT_CHARS)
        .map(|c| {
            if c.is_control() && !matches!(c, '\n' | '\t') {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect();
    if text.chars().nth(MAX_EXCERPT_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> EmailMessage {
        EmailMessage {
            to: vec!["安全团队 <soc@example.com>".into()],
            cc: vec![],
            subject: "安全事件通报".into(),
            text: "正文".into(),
            html: None,
            message_id: None,
        }
    }

    #[test]
    fn a_plain_message_is_valid() {
        message().validate().unwrap();
    }

    #[test]
    fn limits_name_their_field() {
        let mut no_recipient = message();
        no_recipient.to.clear();
        assert!(matches!(
            no_recipient.validate(),
            Err(DeliveryError::InvalidMessage { field: "to", .. })
        ));
        let mut header_injection = message();
        header_injection.subject = "hello\r\nBcc: someone@example.com".into();
        assert!(matches!(
            header_injection.validate(),
            Err(DeliveryError::InvalidMessage {
                field: "subject",
                ..
            })
        ));
        let mut long_subject = message();
        long_subject.subject = "事".repeat(MAX_SUBJECT_CHARS + 1);
        assert!(long_subject.validate().is_err());
        let mut bad_id = message();
        bad_id.message_id = Some("no-brackets@example.com".into());
        assert!(matches!(
            bad_id.validate(),
            Err(DeliveryError::InvalidMessage {
                field: "message_id",
                ..
            })
        ));
        bad_id.message_id = Some("<abc@example.com>".into());
        bad_id.validate().unwrap();
    }

    #[test]
    fn webhook_ids_are_header_safe() {
        WebhookMessage::new("msg_01J.x-y", "{}").unwrap();
        assert!(WebhookMessage::new("", "{}").is_err());
        assert!(WebhookMessage::new("a b", "{}").is_err());
        assert!(WebhookMessage::new("a\nb", "{}").is_err());
        assert!(WebhookMessage::new("a", "x".repeat(MAX_WEBHOOK_BODY_BYTES + 1)).is_err());
    }

    #[test]
    fn retryability_follows_the_kind_of_failure() {
        assert!(DeliveryError::Timeout("x".into()).is_retryable());
        assert!(DeliveryError::Connect("x".into()).is_retryable());
        assert!(!DeliveryError::TargetForbidden("x".into()).is_retryable());
        let rejected = DeliveryError::Rejected {
            code: 400,
            message: String::new(),
            retryability: Retryability::Permanent,
            retry_after_ms: None,
        };
        assert!(!rejected.is_retryable());
        assert_eq!(rejected.status_code(), Some(400));
    }

    #[test]
    fn the_delivery_record_has_a_stable_wire_form() {
        let failed = DeliveryAttempt::record(
            2,
            Channel::Webhook,
            "https://hooks.example.com/in",
            1_700_000_000_000,
            &Err(DeliveryError::Rejected {
                code: 503,
                message: "busy".into(),
                retryability: Retryability::Retryable,
                retry_after_ms: None,
            }),
        );
        assert_eq!(
            serde_json::to_value(&failed).unwrap(),
            serde_json::json!({
                "attempt_no": 2,
                "channel": "webhook",
                "target": "https://hooks.example.com/in",
                "started_at_ms": 1_700_000_000_000_i64,
                "outcome": {
                    "result": "failed",
                    "error": "rejected",
                    "message": "refused by the peer with 503: busy",
                    "retryability": "retryable",
                    "status_code": 503
                }
            })
        );
    }

    #[test]
    fn excerpts_are_cut_and_cleaned() {
        assert_eq!(excerpt("a\u{0}b"), "a\u{fffd}b");
        let long = "x".repeat(MAX_EXCERPT_CHARS + 5);
        assert_eq!(excerpt(&long).chars().count(), MAX_EXCERPT_CHARS + 1);
    }
}
