//! Policy versions: every version ever stored, which one is live, and approvals.

use serde::{Deserialize, Serialize};

use crate::audit_log::NewAuditEntry;
use crate::StoreResult;

/// A stored policy version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// Version number, from 1.
    pub version: u64,
    /// TOML source.
    pub source: String,
    /// SHA-256 of the source, hex.
    pub sha256: String,
    /// Who stored it.
    pub author: String,
    /// Why.
    pub comment: String,
    /// When (ms since epoch).
    pub created_at_ms: i64,
    /// Whether it waits for approval (it adds or changes punitive rules).
    pub pending_approval: bool,
    /// Who approved it, when it needed approval.
    pub approved_by: Option<String>,
}

/// A version to store.
#[derive(Clone, Copy, Debug)]
pub struct NewPolicyVersion<'a> {
    /// TOML source.
    pub source: &'a str,
    /// Who stores it.
    pub author: &'a str,
    /// Why.
    pub comment: &'a str,
    /// When.
    pub at_ms: i64,
    /// Whether it waits for someone else's approval before it may go live.
    pub pending_approval: bool,
}

/// Policy versions.
///
/// Every change takes the audit entry that records it; the backend stores that entry in its
/// audit outbox in the same transaction as the change (see [`crate::AuditOutbox`]).
pub trait PolicyStore: Send + Sync {
    /// Stores a new version (not live) and returns its number; `audit` makes the entry for
    /// the number given.
    fn insert_policy_version(
        &self,
        new: &NewPolicyVersion<'_>,
        audit: &dyn Fn(u64) -> NewAuditEntry,
    ) -> StoreResult<u64>;
    /// Approves a pending version; false (and nothing recorded) when it was not pending.
    fn approve_policy_version(
        &self,
        version: u64,
        approver: &str,
        at_ms: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool>;
    /// Makes a stored version the live one, only if the live version is still
    /// `expected_live` (compare and set; `None` when none is live yet). False, with nothing
    /// changed or recorded, when another change came first; `NotFound` when there is no
    /// such version.
    fn activate_policy_version(
        &self,
        version: u64,
        expected_live: Option<u64>,
        by: &str,
        at_ms: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool>;
    /// The live version, if any.
    fn active_policy(&self) -> StoreResult<Option<PolicyVersion>>;
    /// One version.
    fn policy_version(&self, version: u64) -> StoreResult<Option<PolicyVersion>>;
    /// Every version, newest first, without sources.
    fn policy_versions(&self) -> StoreResult<Vec<PolicyVersion>>;
}
