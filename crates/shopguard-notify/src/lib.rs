//! Delivery adapters for incident notices (issue 19, I6): SMTP email and signed webhooks,
//! the retry schedule between attempts, and the notice templates.
//!
//! The crate has two halves (decision 0044):
//!
//! - **pure** — [`message`] (what is sent and what comes back: [`EmailMessage`],
//!   [`WebhookMessage`], [`DeliveryReceipt`], [`DeliveryError`]), [`signature`] (the
//!   Standard Webhooks signature), [`retry`] (the backoff schedule, randomness injected),
//!   [`target`] (which webhook addresses are public), [`template`] (notice templates rendered
//!   with minijinja, strict about missing facts). No clock, no network, no randomness except
//!   what the caller passes in.
//! - **I/O** — [`smtp`] ([`SmtpSender`], lettre over rustls) and [`webhook`]
//!   ([`HttpWebhookSender`], ureq over rustls), behind the [`EmailSender`] and
//!   [`WebhookSender`] traits that the application layer calls.
//!
//! The traits are synchronous: the application layer is synchronous and the server runs it
//! on tokio's blocking pool, so a delivery (a connection, a TLS handshake, one request,
//! bounded by a timeout) is a blocking call there like a storage write.
//!
//! Error policy: every fallible call answers a [`DeliveryError`] (or a
//! [`template::TemplateError`]) that says whether a later attempt may succeed; nothing here
//! panics on bad input, and no secret (SMTP password, webhook secret) is ever logged or
//! printed by `Debug`.

#![warn(missing_docs)]

pub mod message;
pub mod retry;
pub mod signature;
pub mod smtp;
pub mod target;
pub mod template;
pub mod webhook;

pub use message::{
    Channel, DeliveryAttempt, DeliveryError, DeliveryOutcome, DeliveryReceipt, EmailMessage,
    Retryability, WebhookMessage,
};
pub use retry::RetryPolicy;
pub use signature::WebhookSecret;
pub use smtp::{SmtpConfig, SmtpCredentials, SmtpSecurity, SmtpSender};
pub use target::TargetPolicy;
pub use template::{Audience, Language, NoticeFacts, NoticeTemplate, RenderedNotice};
pub use webhook::{HttpWebhookSender, WebhookConfig, WebhookEndpoint};

/// Sends one email message; implemented by [`SmtpSender`].
pub trait EmailSender: Send + Sync {
    /// Hands the message to the mail server; `Ok` means the server accepted it for delivery
    /// (its reply is in the receipt).
    fn send(&self, message: &EmailMessage) -> Result<DeliveryReceipt, DeliveryError>;
}

/// Sends one signed webhook delivery; implemented by [`HttpWebhookSender`].
pub trait WebhookSender: Send + Sync {
    /// Posts the message to the endpoint, signed with the endpoint's secrets; `Ok` means the
    /// receiver answered 2xx.
    fn send(
        &self,
        endpoint: &WebhookEndpoint,
        message: &WebhookMessage,
    ) -> Result<DeliveryReceipt, DeliveryError>;
}
