//! The directory in SQLite: `directory_members` and `directory_contacts` (migration 14).
//! Contacts are sealed with the store's data keys before they are written.

use rusqlite::{params, OptionalExtension};

use super::{db, is_constraint, EmbeddedStore};
use crate::directory::{
    contacts_from_json, contacts_json, decode, ChangeBy, DirectoryStore, ExternalContact,
    ExternalContactRecord, Member, MemberRecord,
};
use crate::{NewAuditEntry, StoreError, StoreResult};

const MEMBER_COLUMNS: &str = "id, display_name, operator, group_code, role_code, backup_id,
     contacts_sealed, active, version, created_at_ms, updated_at_ms, updated_by";

const CONTACT_COLUMNS: &str = "id, type_code, organisation, name, contacts_sealed, notes, active,
     version, created_at_ms, updated_at_ms, updated_by";

/// A member row as read, its codes and contacts not yet decoded.
struct MemberRow {
    id: String,
    display_name: String,
    operator: Option<String>,
    group: i64,
    role: i64,
    backup: Option<String>,
    sealed: String,
    active: bool,
    version: i64,
    created_at_ms: i64,
    updated_at_ms: i64,
    updated_by: String,
}

fn member_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<MemberRow> {
    Ok(MemberRow {
        id: row.get(0)?,
        display_name: row.get(1)?,
        operator: row.get(2)?,
        group: row.get(3)?,
        role: row.get(4)?,
        backup: row.get(5)?,
        sealed: row.get(6)?,
        active: row.get(7)?,
        version: row.get(8)?,
        created_at_ms: row.get(9)?,
        updated_at_ms: row.get(10)?,
        updated_by: row.get(11)?,
    })
}

/// A contact row as read, its code and contacts not yet decoded.
struct ContactRow {
    id: String,
    kind: i64,
    organisation: String,
    name: String,
    sealed: String,
    notes: String,
    active: bool,
    version: i64,
    created_at_ms: i64,
    updated_at_ms: i64,
    updated_by: String,
}

fn contact_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ContactRow> {
    Ok(ContactRow {
        id: row.get(0)?,
        kind: row.get(1)?,
        organisation: row.get(2)?,
        name: row.get(3)?,
        sealed: row.get(4)?,
        notes: row.get(5)?,
        active: row.get(6)?,
        version: row.get(7)?,
        created_at_ms: row.get(8)?,
        updated_at_ms: row.get(9)?,
        updated_by: row.get(10)?,
    })
}

impl EmbeddedStore {
    fn seal_contacts(&self, contacts: &crate::directory::Contacts) -> StoreResult<String> {
        self.keyring_ref()?.seal(&contacts_json(contacts)?)
    }

    fn open_contacts(
        &self,
        sealed: &str,
        operation: &'static str,
    ) -> StoreResult<crate::directory::Contacts> {
        contacts_from_json(&self.keyring_ref()?.open(sealed)?, operation)
    }

    fn member_record(&self, row: MemberRow, operation: &'static str) -> StoreResult<MemberRecord> {
        Ok(MemberRecord {
            member: Member {
                id: row.id,
                display_name: row.display_name,
                operator: row.operator,
                group: decode(row.group, operation)?,
                role: decode(row.role, operation)?,
                backup: row.backup,
                contacts: self.open_contacts(&row.sealed, operation)?,
                active: row.active,
            },
            version: row.version,
            created_at_ms: row.created_at_ms,
            updated_at_ms: row.updated_at_ms,
            updated_by: row.updated_by,
        })
    }

    fn contact_record(
        &self,
        row: ContactRow,
        operation: &'static str,
    ) -> StoreResult<ExternalContactRecord> {
        Ok(ExternalContactRecord {
            contact: ExternalContact {
                id: row.id,
                kind: decode(row.kind, operation)?,
                organisation: row.organisation,
                name: row.name,
                contacts: self.open_contacts(&row.sealed, operation)?,
                notes: row.notes,
                active: row.active,
            },
            version: row.version,
            created_at_ms: row.created_at_ms,
            updated_at_ms: row.updated_at_ms,
            updated_by: row.updated_by,
        })
    }
}

/// A failed insert: the id taken (or a backup that does not exist) is a conflict.
fn insert_error(
    what: String,
    operation: &'static str,
) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |error| {
        if is_constraint(&error) {
            StoreError::Conflict(format!("{what} exists already or names a missing backup"))
        } else {
            db(operation)(error)
        }
    }
}

impl DirectoryStore for EmbeddedStore {
    fn directory_members(&self) -> StoreResult<Vec<MemberRecord>> {
        let operation = "reading the directory";
        let rows: Vec<MemberRow> = self.read(|connection| {
            let mut statement = connection
                .prepare_cached(&format!(
                    "SELECT {MEMBER_COLUMNS} FROM directory_members
                     ORDER BY group_code, role_code, display_name, id"
                ))
                .map_err(db(operation))?;
            let rows = statement.query_map([], member_row).map_err(db(operation))?;
            rows.collect::<Result<_, _>>().map_err(db(operation))
        })?;
        rows.into_iter()
            .map(|row| self.member_record(row, operation))
            .collect()
    }

    fn directory_member(&self, id: &str) -> StoreResult<Option<MemberRecord>> {
        let operation = "reading a directory member";
        let row = self.read(|connection| {
            connection
                .query_row(
                    &format!("SELECT {MEMBER_COLUMNS} FROM directory_members WHERE id = ?1"),
                    [id],
                    member_row,
                )
                .optional()
                .map_err(db(operation))
        })?;
        row.map(|row| self.member_record(row, operation))
            .transpose()
    }

    fn insert_directory_member(
        &self,
        member: &Member,
        change: ChangeBy<'_>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let operation = "adding a directory member";
        let sealed = self.seal_contacts(&member.contacts)?;
        self.audited(operation, |transaction| {
            transaction
                .execute(
                    &format!(
                        "INSERT INTO directory_members ({MEMBER_COLUMNS})
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?9, ?10)"
                    ),
                    params![
                        member.id,
                        member.display_name,
                        member.operator,
                        i64::from(member.group.code()),
                        i64::from(member.role.code()),
                        member.backup,
                        sealed,
                        member.active,
                        change.at_ms,
                        change.by
                    ],
                )
                .map_err(insert_error(format!("member '{}'", member.id), operation))?;
            Ok(((), Some(audit.clone())))
        })
    }

    fn update_directory_member(
        &self,
        member: &Member,
        expected_version: i64,
        change: ChangeBy<'_>,
        audit: &NewAuditEntry,
    ) -> StoreResult<Option<i64>> {
        let operation = "changing a directory member";
        let sealed = self.seal_contacts(&member.contacts)?;
        self.audited(operation, |transaction| {
            let exists = transaction
                .query_row(
                    "SELECT 1 FROM directory_members WHERE id = ?1",
                    [&member.id],
                    |_| Ok(()),
                )
                .optional()
                .map_err(db(operation))?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!("member '{}'", member.id)));
            }
            let changed = transaction
                .execute(
                    "UPDATE directory_members SET display_name = ?2, operator = ?3, group_code = ?4,
                     role_code = ?5, backup_id = ?6, contacts_sealed = ?7, active = ?8,
                     version = version + 1, updated_at_ms = ?9, updated_by = ?10
                     WHERE id = ?1 AND version = ?11",
                    params![
                        member.id,
                        member.display_name,
                        member.operator,
                        i64::from(member.group.code()),
                        i64::from(member.role.code()),
                        member.backup,
                        sealed,
                        member.active,
                        change.at_ms,
                        change.by,
                        expected_version
                    ],
                )
                .map_err(insert_error(format!("member '{}'", member.id), operation))?;
            if changed == 1 {
                Ok((
                    Some(expected_version.saturating_add(1)),
                    Some(audit.clone()),
                ))
            } else {
                Ok((None, None))
            }
        })
    }

    fn external_contacts(&self) -> StoreResult<Vec<ExternalContactRecord>> {
        let operation = "reading external contacts";
        let rows: Vec<ContactRow> = self.read(|connection| {
            let mut statement = connection
                .prepare_cached(&format!(
                    "SELECT {CONTACT_COLUMNS} FROM directory_contacts
                     ORDER BY type_code, organisation, name, id"
                ))
                .map_err(db(operation))?;
            let rows = statement
                .query_map([], contact_row)
                .map_err(db(operation))?;
            rows.collect::<Result<_, _>>().map_err(db(operation))
        })?;
        rows.into_iter()
            .map(|row| self.contact_record(row, operation))
            .collect()
    }

    fn external_contact(&self, id: &str) -> StoreResult<Option<ExternalContactRecord>> {
        let operation = "reading an external contact";
        let row = self.read(|connection| {
            connection
                .query_row(
                    &format!("SELECT {CONTACT_COLUMNS} FROM directory_contacts WHERE id = ?1"),
                    [id],
                    contact_row,
                )
                .optional()
                .map_err(db(operation))
        })?;
        row.map(|row| self.contact_record(row, operation))
            .transpose()
    }

    fn insert_external_contact(
        &self,
        contact: &ExternalContact,
        change: ChangeBy<'_>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let operation = "adding an external contact";
        let sealed = self.seal_contacts(&contact.contacts)?;
        self.audited(operation, |transaction| {
            transaction
                .execute(
                    &format!(
                        "INSERT INTO directory_contacts ({CONTACT_COLUMNS})
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?8, ?9)"
                    ),
                    params![
                        contact.id,
                        i64::from(contact.kind.code()),
                        contact.organisation,
                        contact.name,
                        sealed,
                        contact.notes,
                        contact.active,
                        change.at_ms,
                        change.by
                    ],
                )
                .map_err(insert_error(format!("contact '{}'", contact.id), operation))?;
            Ok(((), Some(audit.clone())))
        })
    }

    fn update_external_contact(
        &self,
        contact: &ExternalContact,
        expected_version: i64,
        change: ChangeBy<'_>,
        audit: &NewAuditEntry,
    ) -> StoreResult<Option<i64>> {
        let operation = "changing an external contact";
        let sealed = self.seal_contacts(&contact.contacts)?;
        self.audited(operation, |transaction| {
            let exists = transaction
                .query_row(
                    "SELECT 1 FROM directory_contacts WHERE id = ?1",
                    [&contact.id],
                    |_| Ok(()),
                )
                .optional()
                .map_err(db(operation))?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!("contact '{}'", contact.id)));
            }
            let changed = transaction
                .execute(
                    "UPDATE directory_contacts SET type_code = ?2, organisation = ?3, name = ?4,
                     contacts_sealed = ?5, notes = ?6, active = ?7, version = version + 1,
                     updated_at_ms = ?8, updated_by = ?9 WHERE id = ?1 AND version = ?10",
                    params![
                        contact.id,
                        i64::from(contact.kind.code()),
                        contact.organisation,
                        contact.name,
                        sealed,
                        contact.notes,
                        contact.active,
                        change.at_ms,
                        change.by,
                        expected_version
                    ],
                )
                .map_err(db(operation))?;
            if changed == 1 {
                Ok((
                    Some(expected_version.saturating_add(1)),
                    Some(audit.clone()),
                ))
            } else {
                Ok((None, None))
            }
        })
    }
}
