//! The security organisation's directory as stored: members of the response groups and
//! external contacts ([`shopguard_core::directory`]).
//!
//! - Groups, roles and contact types are stored as their codes (explicit tables, never the
//!   declaration order).
//! - **Contacts are encrypted at rest.** A backend seals a record's contacts (as one JSON
//!   object) with its data keys ([`crate::keyring::Keyring::seal`], AES-256-GCM, the newest
//!   key) when it writes them, and opens them when it reads. Masking is the service's job.
//! - Nothing is deleted: an offboarded member or a contact no longer used is made inactive
//!   and stays for the history.
//! - A change is compare and set on the version the caller read: when the record changed
//!   meanwhile, the change answers `None` and changes nothing. Every change is stored with its
//!   audit entry in one transaction.

use serde::{Deserialize, Serialize};
pub use shopguard_core::directory::{
    Contacts, ExternalContactType, GroupRole, Member, ResponseGroup,
};

use crate::audit_log::NewAuditEntry;
use crate::{StoreError, StoreResult};

/// A member as stored: the member and its bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    /// The member (contacts in the clear: the backend opened them).
    pub member: Member,
    /// Changes made so far (1 after creation); a change names the version it read.
    pub version: i64,
    /// When it was created (ms since epoch).
    pub created_at_ms: i64,
    /// When it last changed (ms since epoch).
    pub updated_at_ms: i64,
    /// Who changed it last (an actor).
    pub updated_by: String,
}

/// An outside organisation's contact (§5.1.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalContact {
    /// Stable id.
    pub id: String,
    /// What kind of organisation.
    pub kind: ExternalContactType,
    /// The organisation.
    pub organisation: String,
    /// The person or desk to ask for.
    pub name: String,
    /// How to reach them (in the clear here; encrypted at rest).
    pub contacts: Contacts,
    /// Free notes (when to call, what they need).
    pub notes: String,
    /// False once no longer used (kept for history).
    pub active: bool,
}

/// An external contact as stored: the contact and its bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalContactRecord {
    /// The contact (contacts in the clear: the backend opened them).
    pub contact: ExternalContact,
    /// Changes made so far (1 after creation).
    pub version: i64,
    /// When it was created (ms since epoch).
    pub created_at_ms: i64,
    /// When it last changed (ms since epoch).
    pub updated_at_ms: i64,
    /// Who changed it last (an actor).
    pub updated_by: String,
}

/// Who makes a change and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeBy<'a> {
    /// The actor.
    pub by: &'a str,
    /// When (ms since epoch).
    pub at_ms: i64,
}

/// The directory: members and external contacts.
pub trait DirectoryStore: Send + Sync {
    /// Every member, active or not, by group, role, then display name.
    fn directory_members(&self) -> StoreResult<Vec<MemberRecord>>;
    /// One member; `None` when there is no such member.
    fn directory_member(&self, id: &str) -> StoreResult<Option<MemberRecord>>;
    /// Adds a member at version 1, recording `audit`. `Conflict` when the id is taken.
    fn insert_directory_member(
        &self,
        member: &Member,
        change: ChangeBy<'_>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// Replaces a member (same id) if its version is still `expected_version`, recording
    /// `audit`; returns the new version, or `None` (recording nothing) when it changed
    /// meanwhile. `NotFound` when there is no such member.
    fn update_directory_member(
        &self,
        member: &Member,
        expected_version: i64,
        change: ChangeBy<'_>,
        audit: &NewAuditEntry,
    ) -> StoreResult<Option<i64>>;
    /// Every external contact, active or not, by type, organisation, then name.
    fn external_contacts(&self) -> StoreResult<Vec<ExternalContactRecord>>;
    /// One external contact; `None` when there is no such contact.
    fn external_contact(&self, id: &str) -> StoreResult<Option<ExternalContactRecord>>;
    /// Adds an external contact at version 1, recording `audit`. `Conflict` when the id is
    /// taken.
    fn insert_external_contact(
        &self,
        contact: &ExternalContact,
        change: ChangeBy<'_>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// Replaces an external contact if its version is still `expected_version`, recording
    /// `audit`; returns the new version or `None` when it changed meanwhile. `NotFound` when
    /// there is no such contact.
    fn update_external_contact(
        &self,
        contact: &ExternalContact,
        expected_version: i64,
        change: ChangeBy<'_>,
        audit: &NewAuditEntry,
    ) -> StoreResult<Option<i64>>;
}

/// The contacts as the text a backend seals.
pub(crate) fn contacts_json(contacts: &Contacts) -> StoreResult<String> {
    serde_json::to_string(contacts).map_err(|error| StoreError::Corrupt {
        operation: "sealing directory contacts",
        detail: error.to_string(),
    })
}

/// The contacts from the text a backend opened.
pub(crate) fn contacts_from_json(text: &str, operation: &'static str) -> StoreResult<Contacts> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt {
        operation,
        detail: format!("directory contacts: {error}"),
    })
}

/// A stored code read back into its enum; an unknown code is corruption.
pub(crate) fn decode<T: shopguard_core::codes::StoredCode>(
    code: i64,
    operation: &'static str,
) -> StoreResult<T> {
    u8::try_from(code)
        .ok()
        .and_then(T::from_code)
        .ok_or_else(|| StoreError::Corrupt {
            operation,
            detail: format!("unknown {} code {code}", T::WHAT),
        })
}
