//! The audit log's records and what the Merkle tree commits to.
//!
//! Each entry is a leaf of an RFC 6962 tree ([`crate::merkle`]). The leaf commits to the
//! entry's sequence number, time and record class directly, and to its content (actor,
//! action, object, detail) through a *salted commitment*:
//!
//! ```text
//! commitment = SHA-256("shopguard-audit-content-v1" ‖ salt ‖ content JSON)
//! leaf data  = seq (u64 BE) ‖ at_ms (i64 BE) ‖ class code (u8) ‖ commitment
//! ```
//!
//! When an entry's retention period ends, its content and salt are deleted and the commitment
//! stays: the tree still verifies, and the random 32-byte salt keeps anyone from confirming a
//! guess of the deleted content against the commitment.
//!
//! A [`Checkpoint`] is the tree's size and root at a moment, signed with Ed25519. An auditor
//! who keeps one can later demand a consistency proof that the current tree extends it.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// Kinds of audit records, each with its own retention (DB33/T 978-2015 §8.4.2:
/// registration and login records are kept long-term, everything else at least a year).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecordClass {
    /// A user's registration and changes to it.
    Registration,
    /// Logins (user or operator).
    Login,
    /// Policy, rule and configuration changes.
    Configuration,
    /// List additions and removals.
    ListChange,
    /// Account sanctions, fund freezes, takedowns.
    Sanction,
    /// Security incidents and their changes.
    Incident,
    /// Reads of personal data (unmasking, exports).
    DataAccess,
    /// Operators, roles, grants and API keys.
    AccessControl,
    /// Anything else.
    Other,
}

// The one-byte code stored in each entry and committed in its Merkle leaf: changing one
// makes every stored entry of that class fail verification. Append only.
crate::stored_codes!(RecordClass, "record class", {
    Registration = 0,
    Login = 1,
    Configuration = 2,
    ListChange = 3,
    Sanction = 4,
    Incident = 5,
    DataAccess = 6,
    AccessControl = 7,
    Other = 8,
});

impl RecordClass {
    /// Every class, in code order.
    pub const ALL: [RecordClass; 9] = [
        RecordClass::Registration,
        RecordClass::Login,
        RecordClass::Configuration,
        RecordClass::ListChange,
        RecordClass::Sanction,
        RecordClass::Incident,
        RecordClass::DataAccess,
        RecordClass::AccessControl,
        RecordClass::Other,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordClass::Registration => "registration",
            RecordClass::Login => "login",
            RecordClass::Configuration => "configuration",
            RecordClass::ListChange => "list_change",
            RecordClass::Sanction => "sanction",
            RecordClass::Incident => "incident",
            RecordClass::DataAccess => "data_access",
            RecordClass::AccessControl => "access_control",
            RecordClass::Other => "other",
        }
    }

    /// Whether the standard asks for long-term keeping (no purge by default).
    pub fn kept_long_term(self) -> bool {
        matches!(self, RecordClass::Registration | RecordClass::Login)
    }
}

impl std::str::FromStr for RecordClass {
    type Err = String;
    fn from_str(text: &str) -> Result<RecordClass, String> {
        RecordClass::ALL
            .into_iter()
            .find(|class| class.as_str() == text)
            .ok_or_else(|| format!("unknown record class '{text}'"))
    }
}

/// What an audit entry says: who did what to which object, with details.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditContent {
    /// Who acted: an operator, an API key (`key:ID`), a rule (`rule:ID`) or `system`.
    pub actor: String,
    /// What was done, dotted (`policy.activate`, `list.entry.add`, `audit.checkpoint`).
    pub action: String,
    /// What it was done to (`policy:12`, `list:ip_block`, `user:alice`).
    pub object: String,
    /// Anything else worth keeping (never secrets): an object, or `null` when there is nothing.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub detail: serde_json::Value,
}

/// An audit entry as stored and shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Position in the log, from 0; also the leaf's index in the tree.
    pub seq: u64,
    /// When it happened (ms since epoch).
    pub at_ms: i64,
    /// Record class.
    pub class: RecordClass,
    /// The content; absent once purged at the end of its retention period.
    pub content: Option<AuditContent>,
    /// The salted commitment to the content, hex.
    pub commitment: String,
}

impl AuditEntry {
    /// The hash of this entry's leaf, when its commitment is well formed.
    pub fn leaf_hash(&self) -> Option<Hash> {
        let commitment = hex_decode::<32>(&self.commitment)?;
        Some(crate::merkle::leaf_hash(&leaf_data(
            self.seq,
            self.at_ms,
            self.class,
            &commitment,
        )))
    }
}

const CONTENT_DOMAIN: &[u8] = b"shopguard-audit-content-v1";

/// The salted commitment to an entry's content bytes.
pub fn commitment(salt: &[u8; 32], content: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(CONTENT_DOMAIN);
    hasher.update(salt);
    hasher.update(content);
    hasher.finalize().into()
}

/// Length of [`leaf_data`].
pub const LEAF_DATA_LEN: usize = 8 + 8 + 1 + 32;

/// The bytes a leaf commits to.
pub fn leaf_data(
    seq: u64,
    at_ms: i64,
    class: RecordClass,
    commitment: &Hash,
) -> [u8; LEAF_DATA_LEN] {
    let mut data = [0u8; LEAF_DATA_LEN];
    data[..8].copy_from_slice(&seq.to_be_bytes());
    data[8..16].copy_from_slice(&at_ms.to_be_bytes());
    data[16] = class.code();
    data[17..].copy_from_slice(commitment);
    data
}

/// The tree's size and root at a moment, signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Entries in the tree.
    pub size: u64,
    /// The tree's root, hex.
    pub root: String,
    /// When it was signed (ms since epoch).
    pub at_ms: i64,
    /// Hex of the first 8 bytes of SHA-256 of the public key that signed it.
    pub key_id: String,
    /// Ed25519 signature of [`Checkpoint::message`], hex.
    pub signature: String,
}

/// Hex of the first 8 bytes of SHA-256 of a public key: names the key in checkpoints.
pub fn key_id(key: &VerifyingKey) -> String {
    hex_encode(&Sha256::digest(key.as_bytes())[..8])
}

/// Lowercase hex of `bytes`.
pub fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Decodes hex into exactly `N` bytes.
pub fn hex_decode<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (index, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).ok()?;
    }
    Some(out)
}

impl Checkpoint {
    /// The bytes that are signed.
    pub fn message(size: u64, root: &Hash, at_ms: i64) -> Vec<u8> {
        format!(
            "shopguard audit checkpoint v1\n{size}\n{}\n{at_ms}\n",
            hex_encode(root)
        )
        .into_bytes()
    }

    /// Signs the tree's `size` and `root`.
    pub fn sign(key: &SigningKey, size: u64, root: &Hash, at_ms: i64) -> Checkpoint {
        let signature = key.sign(&Checkpoint::message(size, root, at_ms));
        Checkpoint {
            size,
            root: hex_encode(root),
            at_ms,
            key_id: key_id(&key.verifying_key()),
            signature: hex_encode(&signature.to_bytes()),
        }
    }

    /// The root as bytes, when well formed.
    pub fn root_hash(&self) -> Option<Hash> {
        hex_decode::<32>(&self.root)
    }

    /// Whether the signature is `key`'s over this size, root and time.
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        let (Some(root), Some(signature)) = (self.root_hash(), hex_decode::<64>(&self.signature))
        else {
            return false;
        };
        key.verify(
            &Checkpoint::message(self.size, &root, self.at_ms),
            &Signature::from_bytes(&signature),
        )
        .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_verifies_only_unchanged_and_with_its_key() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let other = SigningKey::from_bytes(&[8u8; 32]);
        let root = [3u8; 32];
        let checkpoint = Checkpoint::sign(&key, 42, &root, 1_000);
        assert!(checkpoint.verify(&key.verifying_key()));
        assert!(!checkpoint.verify(&other.verifying_key()));
        let mut bigger = checkpoint.clone();
        bigger.size = 43;
        assert!(!bigger.verify(&key.verifying_key()));
        let mut garbled = checkpoint.clone();
        garbled.signature.replace_range(0..2, "zz");
        assert!(!garbled.verify(&key.verifying_key()));
        assert_eq!(checkpoint.root_hash(), Some(root));
    }

    #[test]
    fn classes_round_trip_by_code_and_name() {
        for class in RecordClass::ALL {
            assert_eq!(RecordClass::from_code(class.code()), Some(class));
            assert_eq!(class.as_str().parse::<RecordClass>(), Ok(class));
        }
        assert_eq!(RecordClass::from_code(200), None);
    }

    #[test]
    fn the_commitment_depends_on_salt_and_content() {
        let content = br#"{"actor":"alice"}"#;
        let first = commitment(&[1; 32], content);
        assert_ne!(first, commitment(&[2; 32], content));
        assert_ne!(first, commitment(&[1; 32], br#"{"actor":"mallory"}"#));
        assert_eq!(first, commitment(&[1; 32], content));
    }
}
