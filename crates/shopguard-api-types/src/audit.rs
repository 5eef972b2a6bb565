//! The tamper-evident audit log: entries, inclusion and consistency proofs, signed
//! checkpoints and retention (`/v1/audit/...`).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use shopguard_core::audit::{AuditContent, AuditEntry, Checkpoint, RecordClass};

/// Filters of `GET /v1/audit/entries`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditEntriesQuery {
    /// Only this actor (`key:<id>`, an operator, `system`).
    pub actor: Option<String>,
    /// Only this action, or actions under a prefix ending in `.` (`list.`).
    pub action: Option<String>,
    /// Only this object (`policy:3`, `list:ip_block`).
    pub object: Option<String>,
    /// Only this record class.
    pub class: Option<RecordClass>,
    /// From this time, inclusive (ms since epoch).
    pub from_ms: Option<i64>,
    /// Until this time, exclusive.
    pub to_ms: Option<i64>,
    /// Only entries before this sequence number (the next page).
    pub before_seq: Option<u64>,
    /// At most this many: 1 to 1,000, 100 when absent; a larger value is refused (`400`,
    /// naming the maximum), never clamped.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// `GET /v1/audit/entries` answer, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntryList {
    /// The entries.
    pub entries: Vec<AuditEntry>,
    /// Entries in the log now.
    pub tree_size: u64,
}

/// Parameters of `GET /v1/audit/entries/{seq}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// The tree the proof is for (a checkpoint's size); the whole log by default.
    pub tree_size: Option<u64>,
}

/// An entry with the proof that it is in the tree of `tree_size` entries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InclusionProof {
    /// The entry.
    pub entry: AuditEntry,
    /// Hash of the entry's leaf, hex.
    pub leaf_hash: String,
    /// Size of the tree.
    pub tree_size: u64,
    /// Root of that tree, hex.
    pub root: String,
    /// The audit path, leaf side first, hex (RFC 6962 §2.1.1).
    pub proof: Vec<String>,
}

/// Parameters of `GET /v1/audit/consistency`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// Size of the older tree (the checkpoint the auditor holds).
    pub from: u64,
    /// Size of the newer tree; the whole log by default.
    pub to: Option<u64>,
}

/// The proof that one tree is a prefix of another (RFC 6962 §2.1.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProof {
    /// Size of the older tree.
    pub from: u64,
    /// Size of the newer tree.
    pub to: u64,
    /// Root of the older tree, hex.
    pub from_root: String,
    /// Root of the newer tree, hex.
    pub to_root: String,
    /// The proof, hex.
    pub proof: Vec<String>,
}

/// `GET /v1/audit/checkpoints` answer, oldest first, with the key that signs them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckpointList {
    /// The checkpoints.
    pub checkpoints: Vec<Checkpoint>,
    /// The Ed25519 public key, hex.
    pub public_key: String,
    /// Its id, as checkpoints name it.
    pub key_id: String,
}

/// How long one record class is kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RetentionRule {
    /// The record class.
    pub class: RecordClass,
    /// Days its content is kept; absent when kept long-term.
    pub days: Option<u32>,
    /// Why.
    pub basis: String,
}

/// `GET /v1/audit/retention` answer: what is kept and for how long.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RetentionReport {
    /// Audit log content, per record class. Purging deletes an entry's content and keeps
    /// its commitment, so the tree still verifies.
    pub audit: Vec<RetentionRule>,
    /// Days decisions and alerts are kept.
    pub decision_days: u32,
    /// Entries in the audit log.
    pub audit_entries: u64,
}
