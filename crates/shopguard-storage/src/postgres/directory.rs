//! The directory on PostgreSQL: `directory_members` and `directory_contacts` (migration 11).
//! Contacts are sealed with the store's data keys before they are written.

use postgres::error::SqlState;
use postgres::Row;

use super::{db, PostgresStore};
use crate::directory::{
    contacts_from_json, contacts_json, decode, ChangeBy, Contacts, DirectoryStore, ExternalContact,
    ExternalContactRecord, Member, MemberRecord,
};
use crate::{NewAuditEntry, StoreError, StoreResult};

const MEMBER_COLUMNS: &str = "id, display_name, operator, group_code, role_code, backup_id,
     contacts_sealed, active, version, created_at_ms, updated_at_ms, updated_by";

const CONTACT_COLUMNS: &str = "id, type_code, organisation, name, contacts_sealed, notes, active,
     version, created_at_ms, updated_at_ms, updated_by";

/// A failed write: a taken id or a missing backup is a conflict.
fn write_error(
    what: String,
    operation: &'static str,
) -> impl FnOnce(postgres::Error) -> StoreError {
    move |error| {
        let code = error.code();
        if code == Some(&SqlState::UNIQUE_VIOLATION)
            || code == Some(&SqlState::FOREIGN_KEY_VIOLATION)
            || code == Some(&SqlState::CHECK_VIOLATION)
        {
            StoreError::Conflict(format!("{what} exists already or names a missing backup"))
        } else {
            db(operation)(error)
        }
    }
}

impl PostgresStore {
    fn seal_contacts(&self, contacts: &Contacts) -> StoreResult<String> {
        self.keyring.seal(&contacts_json(contacts)?)
    }

    fn open_contacts(&self, sealed: &str, operation: &'static str) -> StoreResult<Contacts> {
        contacts_from_json(&self.keyring.open(sealed)?, operation)
    }

    fn member_record(&self, row: &Row, operation: &'static str) -> StoreResult<MemberRecord> {
        let sealed: String = row.get(6);
        Ok(MemberRecord {
            member: Member {
                id: row.get(0),
                display_name: row.get(1),
                operator: row.get(2),
                group: decode(i64::from(row.get::<_, i16>(3)), operation)?,
                role: decode(i64::from(row.get::<_, i16>(4)), operation)?,
                backup: row.get(5),
                contacts: self.open_contacts(&sealed, operation)?,
                active: row.get(7),
            },
            version: row.get(8),
            created_at_ms: row.get(9),
            updated_at_ms: row.get(10),
            updated_by: row.get(11),
        })
    }

    fn contact_record(
        &self,
        row: &Row,
        operation: &'static str,
    ) -> StoreResult<ExternalContactRecord> {
        let sealed: String = row.get(4);
        Ok(ExternalContactRecord {
            contact: ExternalContact {
                id: row.get(0),
                kind: decode(i64::from(row.get::<_, i16>(1)), operation)?,
                organisation: row.get(2),
                name: row.get(3),
                contacts: self.open_contacts(&sealed, operation)?,
                notes: row.get(5),
                active: row.get(6),
            },
            version: row.get(7),
            created_at_ms: row.get(8),
            updated_at_ms: row.get(9),
            updated_by: row.get(10),
        })
    }
}

impl DirectoryStore for PostgresStore {
    fn directory_members(&self) -> StoreResult<Vec<MemberRecord>> {
        let operation = "reading the directory";
        let rows = self
            .client(operation)?
            .query(
                &format!(
                    "SELECT {MEMBER_COLUMNS} FROM directory_members
                     ORDER BY group_code, role_code, display_name, id"
                ),
                &[],
            )
            .map_err(db(operation))?;
        rows.iter()
            .map(|row| self.member_record(row, operation))
            .collect()
    }

    fn directory_member(&self, id: &str) -> StoreResult<Option<MemberRecord>> {
        let operation = "reading a directory member";
        let row = self
            .client(operation)?
            .query_opt(
                &format!("SELECT {MEMBER_COLUMNS} FROM directory_members WHERE id = $1"),
                &[&id],
            )
            .map_err(db(operation))?;
        row.map(|row| self.member_record(&row, operation))
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
        let group = i16::from(member.group.code());
        let role = i16::from(member.role.code());
        self.audited(operation, |transaction| {
            transaction
                .execute(
                    &format!(
                        "INSERT INTO directory_members ({MEMBER_COLUMNS})
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9, $10)"
                    ),
                    &[
                        &member.id,
                        &member.display_name,
                        &member.operator,
                        &group,
                        &role,
                        &member.backup,
                        &sealed,
                        &member.active,
                        &change.at_ms,
                        &change.by,
                    ],
                )
                .map_err(write_error(format!("member '{}'", member.id), operation))?;
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
        let group = i16::from(member.group.code());
        let role = i16::from(member.role.code());
        self.audited(operation, |transaction| {
            let exists = transaction
                .query_opt(
                    "SELECT 1 FROM directory_members WHERE id = $1",
                    &[&member.id],
                )
                .map_err(db(operation))?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!("member '{}'", member.id)));
            }
            let changed = transaction
                .execute(
                    "UPDATE directory_members SET display_name = $2, operator = $3, group_code = $4,
                     role_code = $5, backup_id = $6, contacts_sealed = $7, active = $8,
                     version = version + 1, updated_at_ms = $9, updated_by = $10
                     WHERE id = $1 AND version = $11",
                    &[
                        &member.id,
                        &member.display_name,
                        &member.operator,
                        &group,
                        &role,
                        &member.backup,
                        &sealed,
                        &member.active,
                        &change.at_ms,
                        &change.by,
                        &expected_version,
                    ],
                )
                .map_err(write_error(format!("member '{}'", member.id), operation))?;
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
        let rows = self
            .client(operation)?
            .query(
                &format!(
                    "SELECT {CONTACT_COLUMNS} FROM directory_contacts
                     ORDER BY type_code, organisation, name, id"
                ),
                &[],
            )
            .map_err(db(operation))?;
        rows.iter()
            .map(|row| self.contact_record(row, operation))
            .collect()
    }

    fn external_contact(&self, id: &str) -> StoreResult<Option<ExternalContactRecord>> {
        let operation = "reading an external contact";
        let row = self
            .client(operation)?
            .query_opt(
                &format!("SELECT {CONTACT_COLUMNS} FROM directory_contacts WHERE id = $1"),
                &[&id],
            )
            .map_err(db(operation))?;
        row.map(|row| self.contact_record(&row, operation))
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
        let kind = i16::from(contact.kind.code());
        self.audited(operation, |transaction| {
            transaction
                .execute(
                    &format!(
                        "INSERT INTO directory_contacts ({CONTACT_COLUMNS})
                         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8, $9)"
                    ),
                    &[
                        &contact.id,
                        &kind,
                        &contact.organisation,
                        &contact.name,
                        &sealed,
                        &contact.notes,
                        &contact.active,
                        &change.at_ms,
                        &change.by,
                    ],
                )
                .map_err(write_error(format!("contact '{}'", contact.id), operation))?;
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
        let kind = i16::from(contact.kind.code());
        self.audited(operation, |transaction| {
            let exists = transaction
                .query_opt(
                    "SELECT 1 FROM directory_contacts WHERE id = $1",
                    &[&contact.id],
                )
                .map_err(db(operation))?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!("contact '{}'", contact.id)));
            }
            let changed = transaction
                .execute(
                    "UPDATE directory_contacts SET type_code = $2, organisation = $3, name = $4,
                     contacts_sealed = $5, notes = $6, active = $7, version = version + 1,
                     updated_at_ms = $8, updated_by = $9 WHERE id = $1 AND version = $10",
                    &[
                        &contact.id,
                        &kind,
                        &contact.organisation,
                        &contact.name,
                        &sealed,
                        &contact.notes,
                        &contact.active,
                        &change.at_ms,
                        &change.by,
                        &expected_version,
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
