//! Lists and their entries, as stored.

use serde::{Deserialize, Serialize};
use shopguard_core::ListKind;

use crate::audit_log::NewAuditEntry;
use crate::StoreResult;

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

/// A change people made to a list entry, as other nodes replay it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListChange {
    /// Position in the change feed, increasing.
    pub seq: i64,
    /// The list.
    pub list: String,
    /// The normalised value.
    pub value: String,
    /// The entry's expiry, when added.
    pub expires_at_ms: Option<i64>,
    /// Whether the entry was removed (else added or refreshed).
    pub removed: bool,
}

/// Lists and entries. Entries that rule actions add arrive with their decisions
/// ([`crate::DecisionStore::append_decisions`]); these calls are for people and tools.
pub trait ListStore: Send + Sync {
    /// Creates a list, recording `audit`, and returns true; does nothing and returns false
    /// when it exists with the same kind; `Conflict` when it exists with another kind.
    fn ensure_list(&self, record: &ListRecord, audit: &NewAuditEntry) -> StoreResult<bool>;
    /// Every list.
    fn lists(&self) -> StoreResult<Vec<ListRecord>>;
    /// Adds or replaces entries of a list, with one audit entry for them all.
    fn upsert_list_entries(
        &self,
        list: &str,
        entries: &[ListEntryRecord],
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// Removes an entry; false (and nothing recorded) when there was none.
    fn remove_list_entry(
        &self,
        list: &str,
        value: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool>;
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
    /// Deletes entries past their own expiry, and change-feed rows older than
    /// `changes_before_ms`; returns how many entries.
    fn purge_expired_list_entries(&self, now_ms: i64, changes_before_ms: i64)
        -> StoreResult<usize>;
    /// Changes made by [`ListStore::upsert_list_entries`] and
    /// [`ListStore::remove_list_entry`] after `seq`, oldest first, at most `limit`.
    fn list_changes_after(&self, seq: i64, limit: u32) -> StoreResult<Vec<ListChange>>;
    /// The newest change's position (0 when there is none).
    fn last_list_change(&self) -> StoreResult<i64>;
}
