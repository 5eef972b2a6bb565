//! The security organisation's directory (DB33/T 978-2015 §5.1.4, §5.2.2): members of the four
//! response groups with roles and backups, and external contacts.
//!
//! - Reading needs `incidents:read` and shows contacts **masked**. Unmasking one record's
//!   contacts needs `pii:unmask` and is recorded in the audit log before anything is shown
//!   (as for decisions, [`AuditService::unmask_allowed`]).
//! - Every change needs `directory:write`, names the version the caller read (a change made
//!   meanwhile is a [`ServiceError::Conflict`]), and is stored with its audit entry (class
//!   `configuration`) in one transaction. Audit entries name the fields that changed, never
//!   the contact values themselves.
//! - The rules are the core's ([`shopguard_core::directory`]): a backup is another active
//!   member; a group has one active leader and one active deputy; a member who is someone's
//!   backup is not deactivated until that someone has another.
//! - [`DirectoryService::responsible_for`] and [`DirectoryService::escalation_chain`] are for
//!   the incident and notice services: they check no scope (their callers do) and answer
//!   contacts in the clear, for delivery.
//!
//! Order of every change: check the caller and the input, decide through the core, storage
//! writes the change and its audit entry together, the audit log is settled, the record is
//! read back (masked) for the answer.

use std::sync::Arc;

use shopguard_core::audit::RecordClass;
use shopguard_core::directory::{
    self as rules, checked_optional_text, checked_text, Contacts, DirectoryError,
    ExternalContactType, GroupRole, Member, ResponseGroup, MAX_NAME_CHARS, MAX_NOTES_CHARS,
    MAX_OPERATOR_CHARS,
};
use shopguard_storage::{
    ChangeBy, ExternalContact, ExternalContactRecord, MemberRecord, NewAuditEntry, Scope, Store,
};

use crate::actor::Principal;
use crate::audit::AuditService;
use crate::clock::now_ms;
use crate::error::{ServiceError, ServiceResult};
use crate::ids::new_id_at;

/// A new member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMember {
    /// The name shown.
    pub display_name: String,
    /// The person's operator account, if any (must exist).
    pub operator: Option<String>,
    /// Their group.
    pub group: ResponseGroup,
    /// Their role in it.
    pub role: GroupRole,
    /// Their backup's member id, if any.
    pub backup: Option<String>,
    /// How to reach them.
    pub contacts: Contacts,
}

/// A contact change: each given field replaces the stored one; an empty text removes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactsPatch {
    /// New email ("" removes).
    pub email: Option<String>,
    /// New phone ("" removes).
    pub phone: Option<String>,
    /// New IM handle ("" removes).
    pub im: Option<String>,
}

/// A change of a member: given fields change, the others stay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberPatch {
    /// New name.
    pub display_name: Option<String>,
    /// New operator account ("" unlinks).
    pub operator: Option<String>,
    /// New group.
    pub group: Option<ResponseGroup>,
    /// New role.
    pub role: Option<GroupRole>,
    /// New backup ("" removes).
    pub backup: Option<String>,
    /// Contact changes.
    pub contacts: Option<ContactsPatch>,
    /// Active or offboarded.
    pub active: Option<bool>,
}

/// A new external contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewExternalContact {
    /// What kind of organisation.
    pub kind: ExternalContactType,
    /// The organisation.
    pub organisation: String,
    /// The person or desk.
    pub name: String,
    /// How to reach them.
    pub contacts: Contacts,
    /// Notes.
    pub notes: String,
}

/// A change of an external contact: given fields change, the others stay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExternalContactPatch {
    /// New type.
    pub kind: Option<ExternalContactType>,
    /// New organisation.
    pub organisation: Option<String>,
    /// New person or desk.
    pub name: Option<String>,
    /// Contact changes.
    pub contacts: Option<ContactsPatch>,
    /// New notes.
    pub notes: Option<String>,
    /// Active or not.
    pub active: Option<bool>,
}

/// The directory service.
pub struct DirectoryService {
    store: Arc<dyn Store>,
    audit: Arc<AuditService>,
}

impl std::fmt::Debug for DirectoryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryService").finish_non_exhaustive()
    }
}

fn invalid(error: DirectoryError) -> ServiceError {
    ServiceError::Invalid {
        field: Some(error.field),
        message: error.message,
    }
}

/// Checks contacts; a value that looks masked (holds `*`) is refused, so that a masked view
/// sent back never overwrites the real value.
fn checked_contacts(contacts: &Contacts) -> ServiceResult<Contacts> {
    for (field, value) in [
        ("contacts.email", &contacts.email),
        ("contacts.phone", &contacts.phone),
        ("contacts.im", &contacts.im),
    ] {
        if value.as_deref().is_some_and(|text| text.contains('*')) {
            return Err(ServiceError::invalid(
                field,
                format!(
                    "{field}: looks masked (holds '*'); send the real value or leave the field out"
                ),
            ));
        }
    }
    contacts.checked().map_err(invalid)
}

fn patched_contacts(current: &Contacts, patch: &ContactsPatch) -> Contacts {
    let pick = |current: &Option<String>, given: &Option<String>| match given {
        None => current.clone(),
        Some(text) if text.trim().is_empty() => None,
        Some(text) => Some(text.clone()),
    };
    Contacts {
        email: pick(&current.email, &patch.email),
        phone: pick(&current.phone, &patch.phone),
        im: pick(&current.im, &patch.im),
    }
}

/// The names of the contact fields that differ (the audit records these, not the values).
fn changed_contact_fields(before: &Contacts, after: &Contacts) -> Vec<&'static str> {
    [
        ("email", before.email != after.email),
        ("phone", before.phone != after.phone),
        ("im", before.im != after.im),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}

fn masked_member(mut record: MemberRecord) -> MemberRecord {
    record.member.contacts = record.member.contacts.masked();
    record
}

fn masked_contact(mut record: ExternalContactRecord) -> ExternalContactRecord {
    record.contact.contacts = record.contact.contacts.masked();
    record
}

fn stale(what: &str, expected_version: i64, current_version: i64) -> ServiceError {
    ServiceError::Conflict(format!(
        "{what} was changed by someone else (version {current_version}, not {expected_version}); reload it and try again"
    ))
}

fn optional_link(field: &'static str, text: &str, max: usize) -> ServiceResult<Option<String>> {
    let text = checked_optional_text(field, text, max).map_err(invalid)?;
    Ok((!text.is_empty()).then_some(text))
}

impl DirectoryService {
    /// A service over the store and the audit service.
    pub fn new(store: Arc<dyn Store>, audit: Arc<AuditService>) -> DirectoryService {
        DirectoryService { store, audit }
    }

    fn require(caller: &Principal, scope: Scope) -> ServiceResult<()> {
        if caller.grants(scope) {
            Ok(())
        } else {
            Err(ServiceError::forbidden(format!(
                "this needs scope '{scope}'"
            )))
        }
    }

    fn load_member(&self, id: &str) -> ServiceResult<MemberRecord> {
        self.store
            .directory_member(id)?
            .ok_or_else(|| ServiceError::NotFound(format!("directory member '{id}' not found")))
    }

    fn load_contact(&self, id: &str) -> ServiceResult<ExternalContactRecord> {
        self.store
            .external_contact(id)?
            .ok_or_else(|| ServiceError::NotFound(format!("external contact '{id}' not found")))
    }

    fn all_members(&self) -> ServiceResult<Vec<Member>> {
        Ok(self
            .store
            .directory_members()?
            .into_iter()
            .map(|record| record.member)
            .collect())
    }

    /// Every member, active or not, contacts masked. Needs `incidents:read`.
    pub fn members(&self, caller: &Principal) -> ServiceResult<Vec<MemberRecord>> {
        DirectoryService::require(caller, Scope::IncidentsRead)?;
        Ok(self
            .store
            .directory_members()?
            .into_iter()
            .map(masked_member)
            .collect())
    }

    /// One member, contacts masked. Needs `incidents:read`.
    pub fn member(&self, id: &str, caller: &Principal) -> ServiceResult<MemberRecord> {
        DirectoryService::require(caller, Scope::IncidentsRead)?;
        Ok(masked_member(self.load_member(id)?))
    }

    /// A member's contacts: masked, or in the clear when `unmask` is asked for by a caller
    /// with `pii:unmask` (recorded first). Answers whether they are unmasked.
    pub fn member_contacts(
        &self,
        id: &str,
        unmask: Option<bool>,
        caller: &Principal,
    ) -> ServiceResult<(Contacts, bool)> {
        DirectoryService::require(caller, Scope::IncidentsRead)?;
        let record = self.load_member(id)?;
        let unmasked =
            self.audit
                .unmask_allowed(unmask, caller, format!("directory.member:{id}"))?;
        let contacts = if unmasked {
            record.member.contacts
        } else {
            record.member.contacts.masked()
        };
        Ok((contacts, unmasked))
    }

    fn checked_operator(&self, operator: Option<&str>) -> ServiceResult<Option<String>> {
        let Some(operator) = operator else {
            return Ok(None);
        };
        let Some(operator) = optional_link("operator", operator, MAX_OPERATOR_CHARS)? else {
            return Ok(None);
        };
        if self.store.operator(&operator)?.is_none() {
            return Err(ServiceError::invalid(
                "operator",
                format!("operator: there is no operator '{operator}'"),
            ));
        }
        Ok(Some(operator))
    }

    /// Adds a member. Needs `directory:write`.
    pub fn create_member(
        &self,
        new: &NewMember,
        caller: &Principal,
    ) -> ServiceResult<MemberRecord> {
        DirectoryService::require(caller, Scope::DirectoryWrite)?;
        let at_ms = now_ms();
        let display_name =
            checked_text("display_name", &new.display_name, MAX_NAME_CHARS).map_err(invalid)?;
        let operator = self.checked_operator(new.operator.as_deref())?;
        let backup = match new.backup.as_deref() {
            Some(backup) => optional_link("backup", backup, MAX_NAME_CHARS)?,
            None => None,
        };
        let member = Member {
            id: new_id_at(at_ms),
            display_name,
            operator,
            group: new.group,
            role: new.role,
            backup,
            contacts: checked_contacts(&new.contacts)?,
            active: true,
        };
        let members = self.all_members()?;
        rules::check_backup(&member.id, member.backup.as_deref(), &members).map_err(invalid)?;
        rules::check_roles(&member, &members).map_err(ServiceError::from_role)?;
        let entry = AuditService::entry_at(
            at_ms,
            RecordClass::Configuration,
            &caller.actor,
            "directory.member.create",
            format!("directory.member:{}", member.id),
            serde_json::json!({
                "display_name": member.display_name,
                "operator": member.operator,
                "group": member.group,
                "role": member.role,
                "backup": member.backup,
                "contacts": changed_contact_fields(&Contacts::default(), &member.contacts),
            }),
        );
        let actor = caller.actor.to_string();
        self.store
            .insert_directory_member(&member, ChangeBy { by: &actor, at_ms }, &entry)?;
        self.audit.settle()?;
        Ok(masked_member(self.load_member(&member.id)?))
    }

    /// Changes a member (deactivating included) if it is still at `expected_version`. Needs
    /// `directory:write`.
    pub fn update_member(
        &self,
        id: &str,
        patch: &MemberPatch,
        expected_version: i64,
        caller: &Principal,
    ) -> ServiceResult<MemberRecord> {
        DirectoryService::require(caller, Scope::DirectoryWrite)?;
        let at_ms = now_ms();
        let current = self.load_member(id)?;
        if current.version != expected_version {
            return Err(stale(
                &format!("directory member '{id}'"),
                expected_version,
                current.version,
            ));
        }
        let before = &current.member;
        let mut after = before.clone();
        if let Some(name) = &patch.display_name {
            after.display_name =
                checked_text("display_name", name, MAX_NAME_CHARS).map_err(invalid)?;
        }
        if let Some(operator) = &patch.operator {
            after.operator = self.checked_operator(Some(operator))?;
        }
        if let Some(group) = patch.group {
            after.group = group;
        }
        if let Some(role) = patch.role {
            after.role = role;
        }
        if let Some(backup) = &patch.backup {
            after.backup = optional_link("backup", backup, MAX_NAME_CHARS)?;
        }
        if let Some(contacts) = &patch.contacts {
            after.contacts = checked_contacts(&patched_contacts(&before.contacts, contacts))?;
        }
        if let Some(active) = patch.active {
            after.active = active;
        }
        let members = self.all_members()?;
        // A new backup, or a member coming back whose backup may have left meanwhile.
        if after.backup != before.backup || (after.active && !before.active) {
            rules::check_backup(id, after.backup.as_deref(), &members).map_err(invalid)?;
        }
        rules::check_roles(&after, &members).map_err(ServiceError::from_role)?;
        if before.active && !after.active {
            rules::check_deactivation(id, &members).map_err(ServiceError::from_role)?;
        }
        let mut changes = serde_json::Map::new();
        let mut note = |field: &str, from: serde_json::Value, to: serde_json::Value| {
            if from != to {
                changes.insert(
                    field.to_owned(),
                    serde_json::json!({ "from": from, "to": to }),
                );
            }
        };
        note(
            "display_name",
            before.display_name.clone().into(),
            after.display_name.clone().into(),
        );
        note(
            "operator",
            before.operator.clone().into(),
            after.operator.clone().into(),
        );
        note(
            "group",
            before.group.as_str().into(),
            after.group.as_str().into(),
        );
        note(
            "role",
            before.role.as_str().into(),
            after.role.as_str().into(),
        );
        note(
            "backup",
            before.backup.clone().into(),
            after.backup.clone().into(),
        );
        note("active", before.active.into(), after.active.into());
        let contact_fields = changed_contact_fields(&before.contacts, &after.contacts);
        let action = if before.active && !after.active {
            "directory.member.deactivate"
        } else {
            "directory.member.update"
        };
        let entry = AuditService::entry_at(
            at_ms,
            RecordClass::Configuration,
            &caller.actor,
            action,
            format!("directory.member:{id}"),
            serde_json::json!({
                "version": expected_version,
                "changes": changes,
                "contacts_changed": contact_fields,
            }),
        );
        self.store_member_change(&after, expected_version, at_ms, &entry, caller)?;
        Ok(masked_member(self.load_member(id)?))
    }

    fn store_member_change(
        &self,
        member: &Member,
        expected_version: i64,
        at_ms: i64,
        entry: &NewAuditEntry,
        caller: &Principal,
    ) -> ServiceResult<()> {
        let actor = caller.actor.to_string();
        let stored = self.store.update_directory_member(
            member,
            expected_version,
            ChangeBy { by: &actor, at_ms },
            entry,
        )?;
        if stored.is_none() {
            let now = self.load_member(&member.id)?.version;
            return Err(stale(
                &format!("directory member '{}'", member.id),
                expected_version,
                now,
            ));
        }
        self.audit.settle()
    }

    /// Every external contact, active or not, contacts masked. Needs `incidents:read`.
    pub fn external_contacts(
        &self,
        caller: &Principal,
    ) -> ServiceResult<Vec<ExternalContactRecord>> {
        DirectoryService::require(caller, Scope::IncidentsRead)?;
        Ok(self
            .store
            .external_contacts()?
            .into_iter()
            .map(masked_contact)
            .collect())
    }

    /// One external contact, contacts masked. Needs `incidents:read`.
    pub fn external_contact(
        &self,
        id: &str,
        caller: &Principal,
    ) -> ServiceResult<ExternalContactRecord> {
        DirectoryService::require(caller, Scope::IncidentsRead)?;
        Ok(masked_contact(self.load_contact(id)?))
    }

    /// An external contact's contacts, unmasked on request as for members.
    pub fn external_contact_contacts(
        &self,
        id: &str,
        unmask: Option<bool>,
        caller: &Principal,
    ) -> ServiceResult<(Contacts, bool)> {
        DirectoryService::require(caller, Scope::IncidentsRead)?;
        let record = self.load_contact(id)?;
        let unmasked =
            self.audit
                .unmask_allowed(unmask, caller, format!("directory.contact:{id}"))?;
        let contacts = if unmasked {
            record.contact.contacts
        } else {
            record.contact.contacts.masked()
        };
        Ok((contacts, unmasked))
    }

    /// Adds an external contact. Needs `directory:write`.
    pub fn create_external_contact(
        &self,
        new: &NewExternalContact,
        caller: &Principal,
    ) -> ServiceResult<ExternalContactRecord> {
        DirectoryService::require(caller, Scope::DirectoryWrite)?;
        let at_ms = now_ms();
        let contact = ExternalContact {
            id: new_id_at(at_ms),
            kind: new.kind,
            organisation: checked_text("organisation", &new.organisation, MAX_NAME_CHARS)
                .map_err(invalid)?,
            name: checked_text("name", &new.name, MAX_NAME_CHARS).map_err(invalid)?,
            contacts: checked_contacts(&new.contacts)?,
            notes: checked_optional_text("notes", &new.notes, MAX_NOTES_CHARS).map_err(invalid)?,
            active: true,
        };
        let entry = AuditService::entry_at(
            at_ms,
            RecordClass::Configuration,
            &caller.actor,
            "directory.contact.create",
            format!("directory.contact:{}", contact.id),
            serde_json::json!({
                "kind": contact.kind,
                "organisation": contact.organisation,
                "name": contact.name,
                "contacts": changed_contact_fields(&Contacts::default(), &contact.contacts),
            }),
        );
        let actor = caller.actor.to_string();
        self.store
            .insert_external_contact(&contact, ChangeBy { by: &actor, at_ms }, &entry)?;
        self.audit.settle()?;
        Ok(masked_contact(self.load_contact(&contact.id)?))
    }

    /// Changes an external contact if it is still at `expected_version`. Needs
    /// `directory:write`.
    pub fn update_external_contact(
        &self,
        id: &str,
        patch: &ExternalContactPatch,
        expected_version: i64,
        caller: &Principal,
    ) -> ServiceResult<ExternalContactRecord> {
        DirectoryService::require(caller, Scope::DirectoryWrite)?;
        let at_ms = now_ms();
        let current = self.load_contact(id)?;
        if current.version != expected_version {
            return Err(stale(
                &format!("external contact '{id}'"),
                expected_version,
                current.version,
            ));
        }
        let before = &current.contact;
        let mut after = before.clone();
        if let Some(kind) = patch.kind {
            after.kind = kind;
        }
        if let Some(organisation) = &patch.organisation {
            after.organisation =
                checked_text("organisation", organisation, MAX_NAME_CHARS).map_err(invalid)?;
        }
        if let Some(name) = &patch.name {
            after.name = checked_text("name", name, MAX_NAME_CHARS).map_err(invalid)?;
        }
        if let Some(contacts) = &patch.contacts {
            after.contacts = checked_contacts(&patched_contacts(&before.contacts, contacts))?;
        }
        if let Some(notes) = &patch.notes {
            after.notes =
                checked_optional_text("notes", notes, MAX_NOTES_CHARS).map_err(invalid)?;
        }
        if let Some(active) = patch.active {
            after.active = active;
        }
        let entry = AuditService::entry_at(
            at_ms,
            RecordClass::Configuration,
            &caller.actor,
            "directory.contact.update",
            format!("directory.contact:{id}"),
            serde_json::json!({
                "version": expected_version,
                "kind": { "from": before.kind, "to": after.kind },
                "organisation_changed": before.organisation != after.organisation,
                "name_changed": before.name != after.name,
                "notes_changed": before.notes != after.notes,
                "active": { "from": before.active, "to": after.active },
                "contacts_changed": changed_contact_fields(&before.contacts, &after.contacts),
            }),
        );
        let actor = caller.actor.to_string();
        let stored = self.store.update_external_contact(
            &after,
            expected_version,
            ChangeBy { by: &actor, at_ms },
            &entry,
        )?;
        if stored.is_none() {
            let now = self.load_contact(id)?.version;
            return Err(stale(
                &format!("external contact '{id}'"),
                expected_version,
                now,
            ));
        }
        self.audit.settle()?;
        Ok(masked_contact(self.load_contact(id)?))
    }

    /// Who answers for `group` now (its active leader, else deputy, else their backup), with
    /// contacts in the clear. For the incident and notice services: checks no scope.
    pub fn responsible_for(&self, group: ResponseGroup) -> ServiceResult<Option<Member>> {
        let members = self.all_members()?;
        Ok(rules::responsible_for(group, &members).cloned())
    }

    /// Whom to escalate to for `group` (leader, deputy, the leadership group's leader), with
    /// contacts in the clear. For the incident and notice services: checks no scope.
    pub fn escalation_chain(&self, group: ResponseGroup) -> ServiceResult<Vec<Member>> {
        let members = self.all_members()?;
        Ok(rules::escalation_chain(group, &members)
            .into_iter()
            .cloned()
            .collect())
    }

    /// The escalation chain of `group` as people see it: contacts masked. Needs
    /// `incidents:read`.
    pub fn escalation(
        &self,
        group: ResponseGroup,
        caller: &Principal,
    ) -> ServiceResult<Vec<Member>> {
        DirectoryService::require(caller, Scope::IncidentsRead)?;
        Ok(self
            .escalation_chain(group)?
            .into_iter()
            .map(|mut member| {
                member.contacts = member.contacts.masked();
                member
            })
            .collect())
    }
}

impl ServiceError {
    /// A directory rule about the organisation's shape (roles, backups still needed) refused
    /// the change: a conflict with the current directory.
    fn from_role(error: DirectoryError) -> ServiceError {
        ServiceError::Conflict(error.message)
    }
}
