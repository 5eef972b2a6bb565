//! API keys: `sg_<key id>_<secret>`, with scopes.
//!
//! The key id is stored in clear to find the record; only the SHA-256 of the 256-bit random
//! secret is stored, and it is compared in constant time. A slow password hash (argon2) would
//! add nothing here: the secret is random, not chosen by a person, so it cannot be guessed
//! from a dictionary, and every request pays the hash.

use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use shopguard_core::rbac::Scope;

/// An API key as stored: no secret, only its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Public id, part of the key.
    pub key_id: String,
    /// Human name (who or what uses it).
    pub name: String,
    /// SHA-256 of the secret.
    pub secret_sha256: Vec<u8>,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// When it was made.
    pub created_at_ms: i64,
    /// When it was revoked, if it was.
    pub revoked_at_ms: Option<i64>,
}

impl ApiKeyRecord {
    /// Whether the key grants `scope` (admin grants every scope).
    pub fn grants(&self, scope: Scope) -> bool {
        self.revoked_at_ms.is_none() && shopguard_core::rbac::grants(&self.scopes, scope)
    }

    /// Whether `secret` is this key's secret, compared in constant time.
    pub fn secret_matches(&self, secret: &str) -> bool {
        let digest = Sha256::digest(secret.as_bytes());
        digest.as_slice().ct_eq(&self.secret_sha256).into()
    }
}

/// A freshly generated key: the only time its secret exists in clear.
pub struct GeneratedKey {
    /// The full key to hand to the client: `sg_<key id>_<secret>`.
    pub token: String,
    /// The record to store.
    pub record: ApiKeyRecord,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("key_id", &self.record.key_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Makes a new key with a random id and secret.
pub fn generate(name: &str, scopes: Vec<Scope>, now_ms: i64) -> GeneratedKey {
    let mut rng = rand::thread_rng();
    let mut id_bytes = [0u8; 8];
    let mut secret_bytes = [0u8; 32];
    rng.fill_bytes(&mut id_bytes);
    rng.fill_bytes(&mut secret_bytes);
    let key_id = hex::encode(id_bytes);
    let secret = hex::encode(secret_bytes);
    GeneratedKey {
        token: format!("sg_{key_id}_{secret}"),
        record: ApiKeyRecord {
            key_id,
            name: name.to_owned(),
            secret_sha256: Sha256::digest(secret.as_bytes()).to_vec(),
            scopes,
            created_at_ms: now_ms,
            revoked_at_ms: None,
        },
    }
}

/// Splits a presented key into id and secret; `None` when it is not shaped like a key.
pub fn split_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix("sg_")?;
    let (key_id, secret) = rest.split_once('_')?;
    let well_formed = key_id.len() == 16
        && secret.len() == 64
        && key_id
            .bytes()
            .chain(secret.bytes())
            .all(|b| b.is_ascii_hexdigit());
    well_formed.then_some((key_id, secret))
}

/// API keys as stored.
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new API key, recording `audit` with it.
    fn insert_api_key(
        &self,
        record: &ApiKeyRecord,
        audit: &crate::NewAuditEntry,
    ) -> crate::StoreResult<()>;
    /// The API key with this id, revoked or not.
    fn api_key(&self, key_id: &str) -> crate::StoreResult<Option<ApiKeyRecord>>;
    /// Every API key.
    fn api_keys(&self) -> crate::StoreResult<Vec<ApiKeyRecord>>;
    /// Revokes an API key; false (and nothing recorded) when there was no unrevoked one.
    fn revoke_api_key(
        &self,
        key_id: &str,
        at_ms: i64,
        audit: &crate::NewAuditEntry,
    ) -> crate::StoreResult<bool>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_verify_and_others_do_not() {
        let key = generate("checkout", vec![Scope::EventsWrite], 0);
        let (key_id, secret) = split_token(&key.token).unwrap();
        assert_eq!(key_id, key.record.key_id);
        assert!(key.record.secret_matches(secret));
        assert!(!key
            .record
            .secret_matches(&secret.replace('a', "b").replace('1', "2")));
        assert!(key.record.grants(Scope::EventsWrite));
        assert!(!key.record.grants(Scope::Admin));
        assert!(split_token("sg_short_x").is_none());
        assert!(
            !format!("{key:?}").contains(secret),
            "Debug must not print the secret"
        );
    }
}
