//! shopguard's storage: the [`Store`] trait and its embedded backend.
//!
//! # Error policy
//! Every fallible call returns [`StoreError`]. Backend errors (SQLite, I/O) are wrapped with
//! the operation that failed and never shown to API clients as they are; the server maps them
//! to an opaque `internal` error and logs the detail. Missing rows are `Ok(None)`, not errors.
//!
//! # Backends
//! [`embedded::EmbeddedStore`] is the default: SQLite (one file, WAL journal, one writer
//! connection and a few readers) for small mutable state, and append-only segment files
//! ([`decision_segments`]) for the decision log. The trait is synchronous; async callers run
//! it on a blocking thread (see `docs/decisions/0003-storage.md` and
//! `docs/decisions/0007-decision-log-segments.md`).
//!
//! The decision log ([`decision_log::DecisionLog`]) is written off the request path by one
//! thread that groups records into batches.
#![warn(missing_docs)]

pub mod api_keys;
pub mod audit_log;
pub mod backup;
pub mod decision_log;
pub mod decision_segments;
pub mod embedded;
mod files;
pub mod frames;
pub mod keyring;
pub mod log_batch;
pub mod operators;
pub mod record_format;
pub mod snapshot;

use serde::{Deserialize, Serialize};
use shopguard_core::{Decision, Event, ListKind};

pub use api_keys::{ApiKeyRecord, GeneratedKey, Scope};
pub use log_batch::LogBatch;

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed an operation.
    #[error("database error while {operation}: {source}")]
    Database {
        /// What was being done.
        operation: &'static str,
        /// The backend's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A file operation failed.
    #[error("i/o error while {operation}: {source}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A stored record could not be decoded.
    #[error("corrupt record while {operation}: {detail}")]
    Corrupt {
        /// What was being done.
        operation: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A referenced item does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The item exists already, or conflicts with one that does.
    #[error("conflict: {0}")]
    Conflict(String),
    /// This store was opened without the named part.
    #[error("not available: {0}")]
    Unavailable(&'static str),
    /// The decision log's writer has stopped.
    #[error("the decision log writer has stopped")]
    LogClosed,
}

/// Result of storage calls.
pub type StoreResult<T> = Result<T, StoreError>;

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

/// A list as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListRecord {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: ListKind,
    /// Description.
    pub description: String,
    /// Creation time.
    pub created_at_ms: i64,
}

/// A list entry with who added it and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListEntryRecord {
    /// Normalised value.
    pub value: String,
    /// Expiry (ms since epoch), if any.
    pub expires_at_ms: Option<i64>,
    /// Operator, API key or rule that added it.
    pub added_by: String,
    /// Why.
    pub reason: String,
    /// When it was added.
    pub created_at_ms: i64,
}

/// A decision with the event it was made for: one row of the decision log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The decision.
    pub decision: Decision,
    /// The event.
    pub event: Event,
}

impl DecisionRecord {
    /// The record as a pair of references.
    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            decision: &self.decision,
            event: &self.event,
        }
    }
}

/// A decision and its event, borrowed: what a request logs without moving its event into a
/// [`DecisionRecord`].
#[derive(Clone, Copy, Debug)]
pub struct RecordRef<'a> {
    /// The decision.
    pub decision: &'a Decision,
    /// The event.
    pub event: &'a Event,
}

/// An alert raised by a rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Sequence number (0 before it is stored).
    pub seq: i64,
    /// When it was raised.
    pub created_at_ms: i64,
    /// Severity name.
    pub severity: String,
    /// Rule that raised it.
    pub rule_id: String,
    /// Decision it belongs to.
    pub decision_id: String,
    /// The user.
    pub user_id: String,
    /// The IP, if known.
    pub ip: Option<String>,
    /// The rule's reason.
    pub message: String,
}

/// Filter for decision-log queries; every given field must match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DecisionQuery {
    /// The user.
    pub user_id: Option<String>,
    /// The IP address.
    pub ip: Option<String>,
    /// The device.
    pub device_id: Option<String>,
    /// The outcome.
    pub outcome: Option<String>,
    /// From this time (inclusive, ms since epoch).
    pub from_ms: Option<i64>,
    /// Until this time (exclusive).
    pub to_ms: Option<i64>,
    /// At most this many, newest first.
    pub limit: u32,
}

/// Durable state of a shopguard node.
pub trait Store: Send + Sync {
    /// Stores a new API key.
    fn insert_api_key(&self, record: &ApiKeyRecord) -> StoreResult<()>;
    /// The API key with this id, revoked or not.
    fn api_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// Every API key.
    fn api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Revokes an API key; false when there was none.
    fn revoke_api_key(&self, key_id: &str, at_ms: i64) -> StoreResult<bool>;

    /// Stores a policy version and returns its number.
    fn insert_policy_version(
        &self,
        source: &str,
        author: &str,
        comment: &str,
        at_ms: i64,
    ) -> StoreResult<u64>;
    /// Marks a stored version as waiting for approval.
    fn mark_policy_pending(&self, version: u64) -> StoreResult<()>;
    /// Approves a pending version; false when it was not pending.
    fn approve_policy_version(&self, version: u64, approver: &str, at_ms: i64)
        -> StoreResult<bool>;
    /// Makes a stored version the live one.
    fn activate_policy_version(&self, version: u64, by: &str, at_ms: i64) -> StoreResult<()>;
    /// The live version, if any.
    fn active_policy(&self) -> StoreResult<Option<PolicyVersion>>;
    /// One version.
    fn policy_version(&self, version: u64) -> StoreResult<Option<PolicyVersion>>;
    /// Every version, newest first, without sources.
    fn policy_versions(&self) -> StoreResult<Vec<PolicyVersion>>;

    /// Creates a list, or does nothing when it exists with the same kind.
    fn ensure_list(&self, record: &ListRecord) -> StoreResult<()>;
    /// Every list.
    fn lists(&self) -> StoreResult<Vec<ListRecord>>;
    /// Adds or replaces entries of a list.
    fn upsert_list_entries(&self, list: &str, entries: &[ListEntryRecord]) -> StoreResult<()>;
    /// Removes an entry; false when there was none.
    fn remove_list_entry(&self, list: &str, value: &str) -> StoreResult<bool>;
    /// Entries of a list, ordered by value, after `after` (for paging).
    fn list_entries(
        &self,
        list: &str,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<ListEntryRecord>>;
    /// Calls `visit` with every unexpired entry of a list, in batches (for loading at start).
    fn for_each_list_entry(
        &self,
        list: &str,
        now_ms: i64,
        visit: &mut dyn FnMut(&[ListEntryRecord]),
    ) -> StoreResult<()>;
    /// Deletes expired entries; returns how many.
    fn purge_expired_list_entries(&self, now_ms: i64) -> StoreResult<usize>;

    /// Appends batches of decisions with the alerts they raised and the list entries their
    /// actions added (so a rule's block survives a restart).
    fn append_decisions(&self, batches: &[LogBatch]) -> StoreResult<()>;
    /// The keyring a [`LogBatch`] for this store seals personal fields with, when field
    /// encryption is on.
    fn log_sealer(&self) -> Option<std::sync::Arc<keyring::Keyring>>;
    /// One decision.
    fn decision(&self, decision_id: &str) -> StoreResult<Option<DecisionRecord>>;
    /// Decisions matching a query, newest first.
    fn query_decisions(&self, query: &DecisionQuery) -> StoreResult<Vec<DecisionRecord>>;
    /// Alerts in a time range, newest first.
    fn query_alerts(
        &self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AlertRecord>>;
    /// Deletes decisions and alerts older than `cutoff_ms`; returns how many decisions.
    fn purge_decisions_before(&self, cutoff_ms: i64) -> StoreResult<usize>;
    /// Number of decisions stored.
    fn decision_count(&self) -> StoreResult<u64>;

    /// Makes a new data key the one that encrypts personal fields; returns its id. Values
    /// sealed under older keys stay readable.
    fn rotate_data_key(&self, now_ms: i64) -> StoreResult<u32>;
    /// Re-encrypts the personal fields of logged decisions with the newest data key (and
    /// encrypts any written in the clear); returns how many records changed.
    fn reencrypt_decisions(&self, progress: &mut dyn FnMut(usize, usize)) -> StoreResult<u64>;

    /// Stores a new operator; `Conflict` when the name is taken.
    fn insert_operator(&self, operator: &operators::OperatorRecord) -> StoreResult<()>;
    /// One operator.
    fn operator(&self, username: &str) -> StoreResult<Option<operators::OperatorRecord>>;
    /// Every operator.
    fn operators(&self) -> StoreResult<Vec<operators::OperatorRecord>>;
    /// Disables an operator: their sessions stop working at once; false when there was no
    /// such active operator.
    fn disable_operator(&self, username: &str, at_ms: i64) -> StoreResult<bool>;
    /// Stores a session.
    fn insert_session(&self, session: &operators::SessionRecord) -> StoreResult<()>;
    /// One session.
    fn session(&self, session_id: &str) -> StoreResult<Option<operators::SessionRecord>>;
    /// Stores a grant request; returns its id.
    fn insert_grant(&self, grant: &operators::GrantRecord) -> StoreResult<i64>;
    /// One grant.
    fn grant(&self, id: i64) -> StoreResult<Option<operators::GrantRecord>>;
    /// Approves a pending grant; false when it was not pending.
    fn approve_grant(&self, id: i64, approver: &str, at_ms: i64) -> StoreResult<bool>;
    /// Grants, newest first, of one operator or of all.
    fn grants(&self, username: Option<&str>) -> StoreResult<Vec<operators::GrantRecord>>;

    /// Queues an audit entry for the node to move into the audit log (for tools that run
    /// while a node holds the log).
    fn queue_audit_entry(&self, entry: &audit_log::NewAuditEntry) -> StoreResult<()>;
    /// The oldest queued audit entries, with their queue ids.
    fn queued_audit_entries(&self, limit: u32)
        -> StoreResult<Vec<(i64, audit_log::NewAuditEntry)>>;
    /// Removes queued audit entries once they are in the audit log.
    fn delete_queued_audit_entries(&self, ids: &[i64]) -> StoreResult<()>;
}
