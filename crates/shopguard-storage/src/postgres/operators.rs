//! Operators, sessions and grants in PostgreSQL. TOTP secrets are sealed with a data key.

use postgres::Row;
use shopguard_core::rbac::Role;

use super::{db, is_unique_violation, PostgresStore};
use crate::operators::{
    GrantRecord, OperatorRecord, OperatorStore, SessionRecord, SESSIONS_LISTED,
};
use crate::{NewAuditEntry, StoreError, StoreResult};

const OPERATOR_COLUMNS: &str = "SELECT username, password_hash, totp_secret, roles, created_at_ms, disabled_at_ms FROM operators";
const SESSION_COLUMNS: &str = "SELECT session_id, secret_sha256, username, created_at_ms, expires_at_ms, last_seen_at_ms, ended_at_ms, client FROM sessions";
const GRANT_COLUMNS: &str = "SELECT id, username, role, reason, requested_by, requested_at_ms, duration_ms, approved_by, approved_at_ms, expires_at_ms FROM grants";

fn corrupt(operation: &'static str) -> impl Fn(String) -> StoreError {
    move |detail| StoreError::Corrupt { operation, detail }
}

fn session_from_row(row: &Row) -> SessionRecord {
    SessionRecord {
        session_id: row.get(0),
        secret_sha256: row.get(1),
        username: row.get(2),
        created_at_ms: row.get(3),
        expires_at_ms: row.get(4),
        last_seen_at_ms: row.get(5),
        ended_at_ms: row.get(6),
        client: row.get(7),
    }
}

fn grant_from_row(row: &Row) -> StoreResult<GrantRecord> {
    let role: &str = row.get(2);
    Ok(GrantRecord {
        id: row.get(0),
        username: row.get(1),
        role: role
            .parse()
            .map_err(|_| corrupt("reading a grant")(format!("unknown role {role}")))?,
        reason: row.get(3),
        requested_by: row.get(4),
        requested_at_ms: row.get(5),
        duration_ms: row.get(6),
        approved_by: row.get(7),
        approved_at_ms: row.get(8),
        expires_at_ms: row.get(9),
    })
}

impl PostgresStore {
    fn operator_from_row(&self, row: &Row) -> StoreResult<OperatorRecord> {
        let operation = "reading an operator";
        let sealed_secret: &str = row.get(2);
        let roles: &str = row.get(3);
        let totp_secret = hex::decode(self.keyring.open(sealed_secret)?)
            .map_err(|error| corrupt(operation)(error.to_string()))?;
        let roles = roles
            .split(',')
            .filter(|role| !role.is_empty())
            .map(|role| role.parse())
            .collect::<Result<Vec<Role>, String>>()
            .map_err(corrupt(operation))?;
        Ok(OperatorRecord {
            username: row.get(0),
            password_hash: row.get(1),
            totp_secret,
            roles,
            created_at_ms: row.get(4),
            disabled_at_ms: row.get(5),
        })
    }
}

impl OperatorStore for PostgresStore {
    fn insert_operator(&self, operator: &OperatorRecord, audit: &NewAuditEntry) -> StoreResult<()> {
        let operation = "storing an operator";
        let roles: Vec<&str> = operator.roles.iter().map(|role| role.as_str()).collect();
        let totp_secret = self.keyring.seal(&hex::encode(&operator.totp_secret))?;
        self.audited(operation, |transaction| {
            let result = transaction.execute(
                "INSERT INTO operators (username, password_hash, totp_secret, roles, created_at_ms, disabled_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &operator.username,
                    &operator.password_hash,
                    &totp_secret,
                    &roles.join(","),
                    &operator.created_at_ms,
                    &operator.disabled_at_ms,
                ],
            );
            match result {
                Ok(_) => Ok(((), Some(audit.clone()))),
                Err(error) if is_unique_violation(&error) => Err(StoreError::Conflict(format!(
                    "operator '{}' exists",
                    operator.username
                ))),
                Err(error) => Err(db(operation)(error)),
            }
        })
    }

    fn operator(&self, username: &str) -> StoreResult<Option<OperatorRecord>> {
        let operation = "reading an operator";
        let row = self
            .client(operation)?
            .query_opt(
                &format!("{OPERATOR_COLUMNS} WHERE username = $1"),
                &[&username],
            )
            .map_err(db(operation))?;
        row.map(|row| self.operator_from_row(&row)).transpose()
    }

    fn operators(&self) -> StoreResult<Vec<OperatorRecord>> {
        let operation = "listing operators";
        let rows = self
            .client(operation)?
            .query(
                &format!("{OPERATOR_COLUMNS} ORDER BY username COLLATE \"C\""),
                &[],
            )
            .map_err(db(operation))?;
        rows.iter().map(|row| self.operator_from_row(row)).collect()
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
                    "UPDATE operators SET disabled_at_ms = $2 WHERE username = $1 AND disabled_at_ms IS NULL",
                    &[&username, &at_ms],
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
            // The row lock the update takes orders two nodes logging in with one code: the
            // second sees the first's step and claims nothing.
            let claimed = transaction
                .execute(
                    "UPDATE operators SET last_totp_step = $2
                     WHERE username = $1 AND (last_totp_step IS NULL OR last_totp_step < $2)",
                    &[&session.username, &totp_step],
                )
                .map_err(db(operation))?;
            if claimed == 0 {
                // A replayed step, or no such operator: the insert below tells them apart.
                let known = transaction
                    .query_opt(
                        "SELECT 1 FROM operators WHERE username = $1",
                        &[&session.username],
                    )
                    .map_err(db(operation))?;
                if known.is_some() {
                    return Ok((false, None));
                }
            }
            transaction
                .execute(
                    "INSERT INTO sessions (session_id, secret_sha256, username, created_at_ms, expires_at_ms, last_seen_at_ms, ended_at_ms, client)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        &session.session_id,
                        &session.secret_sha256,
                        &session.username,
                        &session.created_at_ms,
                        &session.expires_at_ms,
                        &session.last_seen_at_ms,
                        &session.ended_at_ms,
                        &session.client,
                    ],
                )
                .map_err(db(operation))?;
            Ok((true, Some(audit.clone())))
        })
    }

    fn last_totp_step(&self, username: &str) -> StoreResult<Option<i64>> {
        let operation = "reading the last TOTP step";
        let row = self
            .client(operation)?
            .query_opt(
                "SELECT last_totp_step FROM operators WHERE username = $1",
                &[&username],
            )
            .map_err(db(operation))?;
        Ok(row.and_then(|row| row.get::<_, Option<i64>>(0)))
    }

    fn session(&self, session_id: &str) -> StoreResult<Option<SessionRecord>> {
        let operation = "reading a session";
        let row = self
            .client(operation)?
            .query_opt(
                &format!("{SESSION_COLUMNS} WHERE session_id = $1"),
                &[&session_id],
            )
            .map_err(db(operation))?;
        Ok(row.as_ref().map(session_from_row))
    }

    fn touch_session(&self, session_id: &str, now_ms: i64) -> StoreResult<()> {
        let operation = "recording activity on a session";
        self.client(operation)?
            .execute(
                "UPDATE sessions SET last_seen_at_ms = $2 WHERE session_id = $1 AND last_seen_at_ms < $2",
                &[&session_id, &now_ms],
            )
            .map_err(db(operation))?;
        Ok(())
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
                    "UPDATE sessions SET ended_at_ms = $2 WHERE session_id = $1 AND ended_at_ms IS NULL",
                    &[&session_id, &now_ms],
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
                    "UPDATE sessions SET ended_at_ms = $2 WHERE username = $1 AND ended_at_ms IS NULL",
                    &[&username, &now_ms],
                )
                .map_err(db(operation))?;
            Ok((changed, (changed > 0).then(|| audit.clone())))
        })
    }

    fn sessions_of(&self, username: &str) -> StoreResult<Vec<SessionRecord>> {
        let operation = "listing the sessions of an operator";
        let rows = self
            .client(operation)?
            .query(
                &format!(
                    "{SESSION_COLUMNS} WHERE username = $1 ORDER BY created_at_ms DESC, session_id COLLATE \"C\" DESC LIMIT $2"
                ),
                &[&username, &(SESSIONS_LISTED as i64)],
            )
            .map_err(db(operation))?;
        Ok(rows.iter().map(session_from_row).collect())
    }

    fn insert_grant(
        &self,
        grant: &GrantRecord,
        audit: &dyn Fn(i64) -> NewAuditEntry,
    ) -> StoreResult<i64> {
        let operation = "storing a grant";
        self.audited(operation, |transaction| {
            let id: i64 = transaction
                .query_one(
                    "INSERT INTO grants (username, role, reason, requested_by, requested_at_ms, duration_ms)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    &[
                        &grant.username,
                        &grant.role.as_str(),
                        &grant.reason,
                        &grant.requested_by,
                        &grant.requested_at_ms,
                        &grant.duration_ms,
                    ],
                )
                .map_err(db(operation))?
                .get(0);
            Ok((id, Some(audit(id))))
        })
    }

    fn grant(&self, id: i64) -> StoreResult<Option<GrantRecord>> {
        let operation = "reading a grant";
        let row = self
            .client(operation)?
            .query_opt(&format!("{GRANT_COLUMNS} WHERE id = $1"), &[&id])
            .map_err(db(operation))?;
        row.as_ref().map(grant_from_row).transpose()
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
                    "UPDATE grants SET approved_by = $2, approved_at_ms = $3, expires_at_ms = $3 + duration_ms
                     WHERE id = $1 AND approved_by IS NULL",
                    &[&id, &approver, &at_ms],
                )
                .map_err(db(operation))?;
            Ok((changed == 1, (changed == 1).then(|| audit.clone())))
        })
    }

    fn grants(&self, username: Option<&str>) -> StoreResult<Vec<GrantRecord>> {
        let operation = "listing grants";
        let rows = self
            .client(operation)?
            .query(
                &format!("{GRANT_COLUMNS} WHERE ($1::text IS NULL OR username = $1) ORDER BY id DESC LIMIT 1000"),
                &[&username],
            )
            .map_err(db(operation))?;
        rows.iter().map(grant_from_row).collect()
    }
}
