//! Webhook signatures the Standard Webhooks way (<https://www.standardwebhooks.com>).
//!
//! Each delivery carries three headers:
//!
//! - `webhook-id`: the message id, the same on every retry of one delivery;
//! - `webhook-timestamp`: the attempt's time in Unix seconds (a new one per attempt, since
//!   receivers refuse timestamps more than a few minutes away from their clock);
//! - `webhook-signature`: `v1,<base64 of HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, one
//!   per secret, separated by single spaces, so that a receiver keeps working while a secret is
//!   rotated (the sender signs with the old and the new one until the receiver has switched).
//!
//! Secrets are written `whsec_<base64 of 24 to 64 random bytes>`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Prefix of a secret's text form.
pub const SECRET_PREFIX: &str = "whsec_";
/// Fewest key bytes a secret may have (the specification's lower bound).
pub const MIN_SECRET_BYTES: usize = 24;
/// Most key bytes a secret may have (the specification's upper bound).
pub const MAX_SECRET_BYTES: usize = 64;
/// Most secrets (and so signatures) per endpoint.
pub const MAX_SECRETS: usize = 4;
/// Default tolerance of [`verify`] between the timestamp and the receiver's clock, in seconds.
pub const DEFAULT_TOLERANCE_S: i64 = 5 * 60;

type HmacSha256 = Hmac<Sha256>;

/// A webhook signing key. Its `Debug` form never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// Why a secret or a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The secret's text is not `whsec_` followed by base64 of 24 to 64 bytes.
    #[error("invalid webhook secret: {0}")]
    InvalidSecret(&'static str),
    /// A required header is missing.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not a whole number of seconds.
    #[error("webhook-timestamp is not a number of seconds")]
    BadTimestamp,
    /// `webhook-timestamp` is too far from the receiver's clock.
    #[error("webhook-timestamp is more than {tolerance_s} s away from now")]
    OutsideTolerance {
        /// The tolerance that was applied, in seconds.
        tolerance_s: i64,
    },
    /// No `v1` signature of the header matches any secret.
    #[error("no matching signature")]
    NoMatchingSignature,
}

impl WebhookSecret {
    /// Reads a secret written `whsec_<base64>` (the prefix may be left out).
    pub fn parse(text: &str) -> Result<Self, SignatureError> {
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        let key = STANDARD
            .decode(encoded.trim())
            .map_err(|_| SignatureError::InvalidSecret("not base64 after whsec_"))?;
        Self::from_bytes(&key)
    }

    /// A secret from its raw key bytes (24 to 64).
    pub fn from_bytes(key: &[u8]) -> Result<Self, SignatureError> {
        if key.len() < MIN_SECRET_BYTES || key.len() > MAX_SECRET_BYTES {
            return Err(SignatureError::InvalidSecret(
                "the key must be 24 to 64 bytes",
            ));
        }
        Ok(Self { key: key.to_vec() })
    }

    /// A new random secret (32 bytes) from the caller's random source.
    pub fn generate(rng: &mut impl rand::RngCore) -> Self {
        let mut key = vec![0_u8; 32];
        rng.fill_bytes(&mut key);
        Self { key }
    }

    /// The text form `whsec_<base64>`, to show once to whoever configures the receiver.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }

    fn mac(&self, id: &str, timestamp_s: i64, body: &str) -> HmacSha256 {
        // HMAC accepts keys of any length; new_from_slice cannot fail for it.
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("hmac takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp_s.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        mac
    }

    /// The `v1,<base64>` signature of one message at one time.
    pub fn sign(&self, id: &str, timestamp_s: i64, body: &str) -> String {
        let tag = self.mac(id, timestamp_s, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }
}

/// The `webhook-signature` header value: one signature per secret, space-separated.
pub fn signature_header(
    secrets: &[WebhookSecret],
    id: &str,
    timestamp_s: i64,
    body: &str,
) -> String {
    secrets
        .iter()
        .map(|secret| secret.sign(id, timestamp_s, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks a received delivery as a receiver would: the timestamp within `tolerance_s` of
/// `now_s`, and one `v1` signature of the header matching one of `secrets` (compared in
/// constant time). Signatures of other versions are skipped.
pub fn verify(
    secrets: &[WebhookSecret],
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &str,
    now_s: i64,
    tolerance_s: i64,
) -> Result<(), SignatureError> {
    let id = id.ok_or(SignatureError::MissingHeader("webhook-id"))?;
    let timestamp = timestamp.ok_or(SignatureError::MissingHeader("webhook-timestamp"))?;
    let signature = signature.ok_or(SignatureError::MissingHeader("webhook-signature"))?;
    let timestamp_s: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if (now_s - timestamp_s).abs() > tolerance_s {
        return Err(SignatureError::OutsideTolerance { tolerance_s });
    }
    for candidate in signature.split(' ') {
        let Some(encoded) = candidate.strip_prefix("v1,") else {
            continue;
        };
        let Ok(tag) = STANDARD.decode(encoded) else {
            continue;
        };
        if secrets
            .iter()
            .any(|secret| secret.mac(id, timestamp_s, body).verify_slice(&tag).is_ok())
        {
            return Ok(());
        }
    }
    Err(SignatureError::NoMatchingSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The signing example of the Standard Webhooks reference libraries' test suites
    // (libraries/python/tests/test_webhooks.py, `test_sign_function`, in the
    // standard-webhooks repository): this key, id, time and body sign to this value. Checked
    // again here with Python's hmac module:
    //   base64(HMAC-SHA256(b64decode("MfKQ…"), b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}'))
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &str = r#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_specification_example() {
        let secret = WebhookSecret::parse(SPEC_SECRET).unwrap();
        assert_eq!(
            secret.sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
            SPEC_SIGNATURE
        );
        // The prefix is optional on input and always written on output.
        let bare = WebhookSecret::parse(&SPEC_SECRET[SECRET_PREFIX.len()..]).unwrap();
        assert_eq!(bare, secret);
        assert_eq!(secret.expose(), SPEC_SECRET);
    }

    #[test]
    fn rotation_signs_with_every_secret() {
        let old = WebhookSecret::parse(SPEC_SECRET).unwrap();
        let new = WebhookSecret::from_bytes(&[7_u8; 32]).unwrap();
        let header = signature_header(
            &[old.clone(), new.clone()],
            SPEC_ID,
            SPEC_TIMESTAMP,
            SPEC_BODY,
        );
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], SPEC_SIGNATURE);
        // A receiver that knows only one of the two accepts the delivery.
        for secret in [old, new] {
            verify(
                &[secret],
                Some(SPEC_ID),
                Some(&SPEC_TIMESTAMP.to_string()),
                Some(&header),
                SPEC_BODY,
                SPEC_TIMESTAMP + 10,
                DEFAULT_TOLERANCE_S,
            )
            .unwrap();
        }
    }

    #[test]
    fn verification_refuses_tampering_and_stale_timestamps() {
        let secret = WebhookSecret::parse(SPEC_SECRET).unwrap();
        let ts = SPEC_TIMESTAMP.to_string();
        let check = |body: &str, signature: &str, now: i64| {
            verify(
                std::slice::from_ref(&secret),
                Some(SPEC_ID),
                Some(&ts),
                Some(signature),
                body,
                now,
                DEFAULT_TOLERANCE_S,
            )
        };
        check(SPEC_BODY, SPEC_SIGNATURE, SPEC_TIMESTAMP).unwrap();
        assert_eq!(
            check(r#"{"test": 2432232315}"#, SPEC_SIGNATURE, SPEC_TIMESTAMP),
            Err(SignatureError::NoMatchingSignature)
        );
        assert_eq!(
            check(SPEC_BODY, SPEC_SIGNATURE, SPEC_TIMESTAMP + 301),
            Err(SignatureError::OutsideTolerance { tolerance_s: 300 })
        );
        // Another version's signature with the same bytes is not accepted as v1.
        let v2 = SPEC_SIGNATURE.replacen("v1,", "v2,", 1);
        assert_eq!(
            check(SPEC_BODY, &v2, SPEC_TIMESTAMP),
            Err(SignatureError::NoMatchingSignature)
        );
        assert_eq!(
            verify(
                std::slice::from_ref(&secret),
                Some(SPEC_ID),
                Some("soon"),
                Some(SPEC_SIGNATURE),
                SPEC_BODY,
                SPEC_TIMESTAMP,
                DEFAULT_TOLERANCE_S
            ),
            Err(SignatureError::BadTimestamp)
        );
    }

    #[test]
    fn secrets_are_checked_and_never_printed() {
        assert!(WebhookSecret::parse("whsec_not base64!").is_err());
        assert!(WebhookSecret::from_bytes(&[1_u8; 23]).is_err());
        assert!(WebhookSecret::from_bytes(&[1_u8; 65]).is_err());
        let secret = WebhookSecret::parse(SPEC_SECRET).unwrap();
        let printed = format!("{secret:?}");
        assert!(!printed.contains("MfKQ"), "{printed}");
    }
}
