//! Response playbooks as stored: immutable versions and the one that is active.
//!
//! - A version is a row that never changes: its number (1, 2, ... in order of creation), the
//!   playbook as JSON ([`Playbook`]), its author, when, and a comment. Editing a playbook is
//!   adding a version.
//! - One version is active (`playbook_active`, a single row). Activating is compare and set
//!   on the version the caller saw active: when another was activated meanwhile, nothing
//!   changes and the call answers `false`.
//! - The first use seeds the built-in default as version 1, active
//!   ([`PlaybookStore::seed_playbook`]); a store that has versions is left alone.
//! - Every change is stored with its audit entry in one transaction.

use serde::{Deserialize, Serialize};
pub use shopguard_core::playbook::Playbook;

use crate::audit_log::NewAuditEntry;
use crate::{StoreError, StoreResult};

/// Most characters of a playbook version's comment.
pub const MAX_PLAYBOOK_COMMENT_CHARS: usize = 1_000;

/// One stored version of the playbook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaybookVersion {
    /// Its number, from 1.
    pub version: i64,
    /// The playbook.
    pub playbook: Playbook,
    /// Who wrote it (an actor).
    pub author: String,
    /// When (ms since epoch).
    pub created_at_ms: i64,
    /// Why (may be empty).
    pub comment: String,
}

/// Which version is active, since when and by whom.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivePlaybook {
    /// The active version's number.
    pub version: i64,
    /// When it was activated (ms since epoch).
    pub activated_at_ms: i64,
    /// Who activated it (an actor).
    pub activated_by: String,
}

/// A version to add.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewPlaybookVersion<'a> {
    /// The playbook (validated by the caller).
    pub playbook: &'a Playbook,
    /// Its author (an actor).
    pub author: &'a str,
    /// When (ms since epoch).
    pub at_ms: i64,
    /// Why.
    pub comment: &'a str,
}

/// Playbook versions and the active one.
pub trait PlaybookStore: Send + Sync {
    /// Every version, newest first.
    fn playbook_versions(&self) -> StoreResult<Vec<PlaybookVersion>>;
    /// One version; `None` when there is no such version.
    fn playbook_version(&self, version: i64) -> StoreResult<Option<PlaybookVersion>>;
    /// Which version is active; `None` before the first is seeded.
    fn active_playbook(&self) -> StoreResult<Option<ActivePlaybook>>;
    /// Adds a version numbered one past the highest, recording `audit`; returns its
    /// number. It is not activated.
    fn insert_playbook_version(
        &self,
        new: &NewPlaybookVersion<'_>,
        audit: &NewAuditEntry,
    ) -> StoreResult<i64>;
    /// Makes `version` the active one if the active version is still `expected_active`
    /// (`None`: none yet), recording `audit`; `false` (recording nothing) when another was
    /// activated meanwhile. `NotFound` when there is no such version.
    fn activate_playbook_version(
        &self,
        version: i64,
        expected_active: Option<i64>,
        by: &str,
        at_ms: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool>;
    /// When the store has no version yet: adds `new` as version 1 and activates it,
    /// recording `audit`, and answers `true`. Otherwise changes nothing and answers `false`.
    fn seed_playbook(
        &self,
        new: &NewPlaybookVersion<'_>,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool>;
}

/// The playbook as the JSON a version stores.
pub(crate) fn playbook_json(playbook: &Playbook) -> StoreResult<String> {
    serde_json::to_string(playbook).map_err(|error| StoreError::Corrupt {
        operation: "storing a playbook version",
        detail: error.to_string(),
    })
}

/// The playbook from its stored JSON.
pub(crate) fn playbook_from_json(
    version: i64,
    text: &str,
    operation: &'static str,
) -> StoreResult<Playbook> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt {
        operation,
        detail: format!("playbook version {version}: {error}"),
    })
}
