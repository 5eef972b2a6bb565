//! Operators, sessions and grants in SQLite. TOTP secrets are sealed with a data key.

use rusqlite::{params, OptionalExtension};
use shopguard_core::rbac::Role;

use super::{db, is_constraint, EmbeddedStore};
use crate::operators::{
    GrantRecord, OperatorRecord, OperatorStore, SessionRecord, SESSIONS_LISTED,
};
use crate::{NewAuditEntry, StoreError, StoreResult};

const OPERATOR_COLUMNS: &str = "SELECT username, password_hash, totp_secret, roles, created_at_ms, disabled_at_ms FROM operators";
const SESSION_COLUMNS: &str = "SELECT session_id, secret_sha256, username, created_at_ms, expires_at_ms, last_seen_at_ms, ended_at_ms, client FROM sessions";
const GRANT_COLUMNS: &str = "SELECT id, username, role, reason, requested_by, requested_at_ms, duration_ms, approved_by, approved_at_ms, expires_at_ms FROM grants";

fn session_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        session_id: row.get(0)?,
        secret_sha256: row.get(1)?,
        username: row.get(2)?,
        created_at_ms: row.get(3)?,
        expires_at_ms: row.get(4)?,
        last_seen_at_ms: row.get(5)?,
        ended_at_ms: row.get(6)?,
        client: row.get(7)?,
    })
}

fn grant_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<GrantRecord> {
    let role: String = row.get(2)?;
    Ok(GrantRecord {
        id: row.get(0)?,
        username: row.get(1)?,
        role: role.parse().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                rusqlite::types::Type::Text,
                format!("unknown role {role}").into(),
            )
        })?,
        reason: row.get(3)?,
        requested_by: row.get(4)?,
        requested_at_ms: row.get(5)?,
        duration_ms: row.get(6)?,
        approved_by: row.get(7)?,
        approved_at_ms: row.get(8)?,
        expires_at_ms: row.get(9)?,
    })
}

/// An operator row before its TOTP secret is opened.
type OperatorRow = (String, String, String, String, i64, Option<i64>);

fn operator_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<OperatorRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

impl EmbeddedStore {
    fn operator_from(&self, row: OperatorRow) -> StoreResult<OperatorRecord> {
        let (username, password_hash, sealed_secret, roles, created_at_ms, disabled_at_ms) = row;
        let corrupt = |detail: String| StoreError::Corrupt {
            operation: "reading an operator",
            detail,
        };
        let totp_secret = hex::decode(self.keyring_ref()?.open(&sealed_secret)?)
            .map_err(|error| corrupt(error.to_string()))?;
        let roles = roles
            .split(',')
            .filter(|role| !role.is_empty())
            .map(|role| role.parse())
            .collect::<Result<Vec<Role>, String>>()
            .map_err(corrupt)?;
        Ok(OperatorRecord {
            username,
            password_hash,
            totp_secret,
            roles,
            created_at_ms,
            disabled_at_ms,
        })
    }
}

impl OperatorStore for EmbeddedStore {
    fn insert_operator(&self, operator: &OperatorRecord, audit: &NewAuditEntry) -> StoreResult<()> {
        let operation = "storing an operator";
        let roles: Vec<&str> = operator.roles.iter().map(|role| role.as_str()).collect();
        let totp_secret = self
            .keyring_ref()?
            .seal(&hex::encode(&operator.totp_secret))?;
        self.audited(operation, |transaction| {
            let result = transaction.execute(
                "INSERT INTO operators (username, password_hash, totp_secret, roles, created_at_ms, disabled_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![operator.username, operator.password_hash, totp_secret, roles.join(","), operator.created_at_ms, operator.disabled_at_ms],
            );
            match result {
                Ok(_) => Ok(((), Some(audit.clone()))),
                Err(error) if is_constraint(&error) => Err(StoreError::Conflict(format!(
                    "operator '{}' exists",
                    operator.username
                ))),
                Err(error) => Err(db(operation)(error)),
            }
        })
    }

    fn operator(&self, username: &str) -> StoreResult<Option<OperatorRecord>> {
        let row = self.read(|connection| {
            connection
                .query_row(
                    &format!("{OPERATOR_COLUMNS} WHERE username = ?1"),
                    [username],
                    operator_row,
                )
                .optional()
                .map_err(db("reading an operator"))
        })?;
        row.map(|row| self.operator_from(row)).transpose()
    }

    fn operators(&self) -> StoreResult<Vec<OperatorRecord>> {
        let rows = self.read(|connection| {
            let mut statement = connection
                .prepare(&format!("{OPERATOR_COLUMNS} ORDER BY username"))
                .map_err(db("listing operators"))?;
            let rows = statement
                .query_map([], operator_row)
                .map_err(db("listing operators"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(db("listing operators"))
        })?;
        rows.into_iter()
            .map(|row| self.operator_from(row))
            .collect()
    }

    fn disable_operator(
        &self,
        username: &str,
        at_ms: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool> {
        let operation = "disabling an operator";
        self.audited(operation, |transaction| {
            let changed = transaction
                .execute(
                    "UPDATE operators SET disabled_at_ms = ?2 WHERE username = ?1 AND disabled_at_ms IS NULL",
                    params![username, at_ms],
                )
                .map_err(db(operation))?;
            Ok((changed == 1, (changed == 1).then(|| audit.clone())))
        })
    }

    fn insert_session(
        &self,
        session: &SessionRecord,
        totp_step: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool> {
        let operation = "storing a session";
        self.audited(operation, |transaction| {
            let claimed = transaction
                .execute(
                    "UPDATE operators SET last_totp_step = ?2
                     WHERE username = ?1 AND (last_totp_step IS NULL OR last_totp_step < ?2)",
                    params![session.username, totp_step],
                )
                .map_err(db(operation))?;
            if claimed == 0 {
                // A replayed step, or no such operator: the insert below tells them apart.
                let known: Option<i64> = transaction
                    .query_row(
                        "SELECT 1 FROM operators WHERE username = ?1",
                        [&session.username],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(db(operation))?;
                if known.is_some() {
                    return Ok((false, None));
                }
            }
            transaction
                .execute(
                    "INSERT INTO sessions (session_id, secret_sha256, username, created_at_ms, expires_at_ms, last_seen_at_ms, ended_at_ms, client)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        session.session_id,
                        session.secret_sha256,
                        session.username,
                        session.created_at_ms,
                        session.expires_at_ms,
                        session.last_seen_at_ms,
                        session.ended_at_ms,
                        session.client
                    ],
                )
                .map_err(db(operation))?;
            Ok((true, Some(audit.clone())))
        })
    }

    fn last_totp_step(&self, username: &str) -> StoreResult<Option<i64>> {
        self.read(|connection| {
            connection
                .query_row(
                    "SELECT last_totp_step FROM operators WHERE username = ?1",
                    [username],
                    |row| row.get::<_, Option<i64>>(0),
                )
                .optional()
                .map(Option::flatten)
                .map_err(db("reading the last TOTP step"))
        })
    }

    fn session(&self, session_id: &str) -> StoreResult<Option<SessionRecord>> {
        self.read(|connection| {
            connection
                .query_row(
                    &format!("{SESSION_COLUMNS} WHERE session_id = ?1"),
                    [session_id],
                    session_row,
                )
                .optional()
                .map_err(db("reading a session"))
        })
    }

    fn touch_session(&self, session_id: &str, now_ms: i64) -> StoreResult<()> {
        let operation = "recording activity on a session";
        self.audited(operation, |transaction| {
            transaction
                .execute(
                    "UPDATE sessions SET last_seen_at_ms = ?2 WHERE session_id = ?1 AND last_seen_at_ms < ?2",
                    params![session_id, now_ms],
                )
                .map_err(db(operation))?;
            Ok(((), None))
        })
    }

    fn end_session(
        &self,
        session_id: &str,
        now_ms: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool> {
        let operation = "ending a session";
        self.audited(operation, |transaction| {
            let changed = transaction
                .execute(
                    "UPDATE sessions SET ended_at_ms = ?2 WHERE session_id = ?1 AND ended_at_ms IS NULL",
                    params![session_id, now_ms],
                )
                .map_err(db(operation))?;
            Ok((changed == 1, (changed == 1).then(|| audit.clone())))
        })
    }

    fn end_sessions_of(
        &self,
        username: &str,
        now_ms: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<u64> {
        let operation = "ending the sessions of an operator";
        self.audited(operation, |transaction| {
            let changed = transaction
                .execute(
                    "UPDATE sessions SET ended_at_ms = ?2 WHERE username = ?1 AND ended_at_ms IS NULL",
                    params![username, now_ms],
                )
                .map_err(db(operation))?;
            Ok((changed as u64, (changed > 0).then(|| audit.clone())))
        })
    }

    fn sessions_of(&self, username: &str) -> StoreResult<Vec<SessionRecord>> {
        let operation = "listing the sessions of an operator";
        self.read(|connection| {
            let mut statement = connection
                .prepare_cached(&format!(
                    "{SESSION_COLUMNS} WHERE username = ?1 ORDER BY created_at_ms DESC, session_id DESC LIMIT ?2"
                ))
                .map_err(db(operation))?;
            let rows = statement
                .query_map(params![username, SESSIONS_LISTED as i64], session_row)
                .map_err(db(operation))?;
            rows.collect::<Result<_, _>>().map_err(db(operation))
        })
    }

    fn insert_grant(
        &self,
        grant: &GrantRecord,
        audit: &dyn Fn(i64) -> NewAuditEntry,
    ) -> StoreResult<i64> {
        let operation = "storing a grant";
        self.audited(operation, |transaction| {
            transaction
                .execute(
                    "INSERT INTO grants (username, role, reason, requested_by, requested_at_ms, duration_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![grant.username, grant.role.as_str(), grant.reason, grant.requested_by, grant.requested_at_ms, grant.duration_ms],
                )
                .map_err(db(operation))?;
            let id = transaction.last_insert_rowid();
            Ok((id, Some(audit(id))))
        })
    }

    fn grant(&self, id: i64) -> StoreResult<Option<GrantRecord>> {
        self.read(|connection| {
            connection
                .query_row(&format!("{GRANT_COLUMNS} WHERE id = ?1"), [id], grant_row)
                .optional()
                .map_err(db("reading a grant"))
        })
    }

    fn approve_grant(
        &self,
        id: i64,
        approver: &str,
        at_ms: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool> {
        let operation = "approving a grant";
        self.audited(operation, |transaction| {
            let changed = transaction
                .execute(
                    "UPDATE grants SET approved_by = ?2, approved_at_ms = ?3, expires_at_ms = ?3 + duration_ms
                     WHERE id = ?1 AND approved_by IS NULL",
                    params![id, approver, at_ms],
                )
                .map_err(db(operation))?;
            Ok((changed == 1, (changed == 1).then(|| audit.clone())))
        })
    }

    fn grants(&self, username: Option<&str>) -> StoreResult<Vec<GrantRecord>> {
        self.read(|connection| {
            let mut statement = connection
                .prepare_cached(&format!(
                    "{GRANT_COLUMNS} WHERE (?1 IS NULL OR username = ?1) ORDER BY id DESC LIMIT 1000"
                ))
                .map_err(db("listing grants"))?;
            let rows = statement
                .query_map([username], grant_row)
                .map_err(db("listing grants"))?;
            rows.collect::<Result<_, _>>().map_err(db("listing grants"))
        })
    }
}
