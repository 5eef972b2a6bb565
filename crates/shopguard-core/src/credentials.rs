//! Credentials of people: password hashing (Argon2id), password strength (zxcvbn), TOTP
//! second factors (RFC 6238) and session tokens. Pure computation; time comes in as an
//! argument.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle_free_compare::equal;

/// Whether two secrets are equal, in time that depends only on their lengths.
pub fn constant_time_equal(left: &[u8], right: &[u8]) -> bool {
    equal(left, right)
}
use totp_rs::{Algorithm, TOTP};

/// Why a password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Too short.
    #[error("the password must have at least {0} characters")]
    TooShort(usize),
    /// Too easy to guess.
    #[error("the password is too easy to guess{0}")]
    TooWeak(String),
    /// The hash could not be computed.
    #[error("password hashing failed")]
    Hashing,
}

/// Shortest password accepted for an operator.
pub const MIN_PASSWORD_LENGTH: usize = 12;

/// Checks a new password: long enough, and zxcvbn score at least 3 (more than 10^8
/// guesses), with the user's own names counted as guessable.
pub fn check_password_strength(password: &str, user_inputs: &[&str]) -> Result<(), PasswordError> {
    if password.chars().count() < MIN_PASSWORD_LENGTH {
        return Err(PasswordError::TooShort(MIN_PASSWORD_LENGTH));
    }
    let estimate = zxcvbn::zxcvbn(password, user_inputs);
    if (estimate.score() as u8) < 3 {
        let hint = estimate
            .feedback()
            .and_then(|feedback| feedback.warning())
            .map(|warning| format!(": {warning}"))
            .unwrap_or_default();
        return Err(PasswordError::TooWeak(hint));
    }
    Ok(())
}

/// Hashes a password with Argon2id (the crate's default parameters: 19 MiB, 2 passes) and a
/// random salt, in PHC string form.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| PasswordError::Hashing)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| PasswordError::Hashing)
}

/// Whether `password` matches a stored PHC hash (compared in constant time by the crate).
pub fn verify_password(stored_hash: &str, password: &str) -> bool {
    PasswordHash::new(stored_hash).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// A hash for unknown users, so that a login for a name that does not exist costs as much as
/// one that does (no user enumeration by timing).
pub const DUMMY_PASSWORD_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2hvcGd1YXJkZHVtbXk$wBSKp0cbX3nTn3ccv7n5KbjX2nCRc2ZpZcKqVSyqvw8";

/// A new TOTP secret: 160 random bits (RFC 4226's recommended length).
pub fn new_totp_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

fn totp(secret: &[u8]) -> Option<TOTP> {
    // SHA-1, 6 digits, 30-second steps: what authenticator apps expect; one step of skew.
    TOTP::new(Algorithm::SHA1, 6, 1, 30, secret.to_vec()).ok()
}

/// Whether `code` is the TOTP code of `secret` at `unix_seconds` (or one step either side).
pub fn totp_matches(secret: &[u8], code: &str, unix_seconds: u64) -> bool {
    totp(secret).is_some_and(|totp| totp.check(code.trim(), unix_seconds))
}

/// Seconds per TOTP time step.
pub const TOTP_STEP_SECONDS: u64 = 30;

/// The time step (`unix_seconds / 30`) whose TOTP code of `secret` is `code`, looking at the
/// step of `unix_seconds` and one either side (the latest when several match); `None` when
/// none does. Each candidate is compared in constant time. A login accepts a step only once
/// and only after the last it accepted, so a code cannot be replayed within its window.
pub fn totp_step_of(secret: &[u8], code: &str, unix_seconds: u64) -> Option<u64> {
    let totp = totp(secret)?;
    let code = code.trim();
    let now = unix_seconds / TOTP_STEP_SECONDS;
    let mut matched = None;
    for step in now.saturating_sub(1)..=now.saturating_add(1) {
        let expected = totp.generate(step.saturating_mul(TOTP_STEP_SECONDS));
        if equal(expected.as_bytes(), code.as_bytes()) {
            matched = Some(step);
        }
    }
    matched
}

/// The TOTP code of `secret` at `unix_seconds` (for tests and enrolment checks).
pub fn totp_code(secret: &[u8], unix_seconds: u64) -> Option<String> {
    totp(secret).map(|totp| totp.generate(unix_seconds))
}

/// The secret in base32 and as an `otpauth://` URI, for an authenticator app.
pub fn totp_enrolment(secret: &[u8], username: &str) -> Option<(String, String)> {
    let base32 = totp(secret)?.get_secret_base32();
    let label: String = username
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    let uri = format!(
        "otpauth://totp/shopguard:{label}?secret={base32}&issuer=shopguard&algorithm=SHA1&digits=6&period=30"
    );
    Some((base32, uri))
}

/// A session token `sgs_<id>_<secret>` and the SHA-256 of its secret (what is stored).
pub fn new_session_token() -> (String, String, Vec<u8>) {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut id);
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let id = hex_of(&id);
    let secret = hex_of(&secret);
    let digest = Sha256::digest(secret.as_bytes()).to_vec();
    (format!("sgs_{id}_{secret}"), id, digest)
}

/// Splits a presented session token into id and secret.
pub fn split_session_token(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.strip_prefix("sgs_")?.split_once('_')?;
    (id.len() == 16 && secret.len() == 64).then_some((id, secret))
}

/// Whether `secret` hashes to `stored_sha256`, compared in constant time.
pub fn session_secret_matches(stored_sha256: &[u8], secret: &str) -> bool {
    equal(&Sha256::digest(secret.as_bytes()), stored_sha256)
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Constant-time comparison without a dependency on the `subtle` crate in the core.
mod subtle_free_compare {
    /// Whether two byte strings are equal; the time depends only on their lengths.
    pub fn equal(left: &[u8], right: &[u8]) -> bool {
        if left.len() != right.len() {
            return false;
        }
        left.iter()
            .zip(right)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
    }
}

/// The TOTP code at `unix_seconds` of a secret written in base32 (as enrolment prints it and
/// authenticator apps read it); `None` when the text is not a base32 secret of at least 128
/// bits. For scripts and drills; an operator's code comes from their app.
pub fn totp_code_from_base32(secret_base32: &str, unix_seconds: u64) -> Option<String> {
    let cleaned: String = secret_base32
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let secret = totp_rs::Secret::Encoded(cleaned).to_bytes().ok()?;
    if secret.len() < 16 {
        return None;
    }
    totp_code(&secret, unix_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_verify_and_weak_ones_are_refused() {
        let hash = hash_password("correct horse battery staple 42").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&hash, "correct horse battery staple 42"));
        assert!(!verify_password(&hash, "correct horse battery staple 43"));
        assert!(!verify_password("not a hash", "x"));
        assert!(!verify_password(DUMMY_PASSWORD_HASH, "anything"));
        assert!(PasswordHash::new(DUMMY_PASSWORD_HASH).is_ok());
        assert_eq!(
            check_password_strength("short", &[]),
            Err(PasswordError::TooShort(12))
        );
        assert!(matches!(
            check_password_strength("password1234", &[]),
            Err(PasswordError::TooWeak(_))
        ));
        assert!(matches!(
            check_password_strength("alice-alice-alice", &["alice"]),
            Err(PasswordError::TooWeak(_))
        ));
        assert!(check_password_strength("violet-harbour-trumpet-91", &["alice"]).is_ok());
    }

    #[test]
    fn totp_codes_from_base32_secrets_follow_rfc_6238() {
        // "12345678901234567890" in base32 (RFC 4648): the RFC 6238 appendix B vectors, last
        // six digits, at T = 59 s and T = 1111111109 s.
        let base32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        assert_eq!(totp_code_from_base32(base32, 59).unwrap(), "287082");
        assert_eq!(
            totp_code_from_base32(base32, 1_111_111_109).unwrap(),
            "081804"
        );
        assert_eq!(
            totp_code_from_base32(" gezdgnbvgy3tqojqgezdgnbvgy3tqojq\n", 59).unwrap(),
            "287082"
        );
        assert_eq!(totp_code_from_base32("not base32!", 59), None);
        assert_eq!(totp_code_from_base32("GEZDGNBV", 59), None, "too short");
    }

    #[test]
    fn totp_codes_match_within_one_step() {
        // RFC 6238 appendix B: SHA-1 secret "12345678901234567890", T = 59 s -> 94287082
        // (8 digits); the 6-digit code is its last six digits.
        let secret = b"12345678901234567890";
        assert_eq!(totp_code(secret, 59).unwrap(), "287082");
        assert!(totp_matches(secret, "287082", 59));
        assert!(totp_matches(secret, "287082", 59 + 30), "one step of skew");
        assert!(!totp_matches(secret, "287082", 59 + 90));
        assert!(!totp_matches(secret, "000000", 59));
        assert_eq!(totp_step_of(secret, "287082", 59), Some(1));
        assert_eq!(
            totp_step_of(secret, " 287082 ", 59 + 30),
            Some(1),
            "one step of skew"
        );
        assert_eq!(totp_step_of(secret, "287082", 59 + 90), None);
        assert_eq!(totp_step_of(secret, "000000", 59), None);
        let (base32, uri) = totp_enrolment(secret, "alice").unwrap();
        assert_eq!(base32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert!(uri.starts_with("otpauth://totp/shopguard:alice?secret=GEZDG"));
    }

    #[test]
    fn session_tokens_split_and_verify() {
        let (token, id, digest) = new_session_token();
        let (split_id, secret) = split_session_token(&token).unwrap();
        assert_eq!(split_id, id);
        assert!(session_secret_matches(&digest, secret));
        assert!(!session_secret_matches(&digest, &"0".repeat(64)));
        assert!(split_session_token("sg_abc_def").is_none());
    }
}
