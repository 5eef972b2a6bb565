//! Policy versions in SQLite.

use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

use super::{db, EmbeddedStore};
use crate::policies::{NewPolicyVersion, PolicyStore, PolicyVersion};
use crate::{NewAuditEntry, StoreError, StoreResult};

fn policy_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<PolicyVersion> {
    Ok(PolicyVersion {
        version: row.get::<_, i64>(0)? as u64,
        source: row.get(1)?,
        sha256: row.get(2)?,
        author: row.get(3)?,
        comment: row.get(4)?,
        created_at_ms: row.get(5)?,
        pending_approval: row.get(6)?,
        approved_by: row.get(7)?,
    })
}

impl PolicyStore for EmbeddedStore {
    fn insert_policy_version(
        &self,
        new: &NewPolicyVersion<'_>,
        audit: &dyn Fn(u64) -> NewAuditEntry,
    ) -> StoreResult<u64> {
        let operation = "storing a policy version";
        self.audited(operation, |transaction| {
            transaction
                .execute(
                    "INSERT INTO policy_versions (source, sha256, author, comment, created_at_ms, pending_approval) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![new.source, hex::encode(Sha256::digest(new.source.as_bytes())), new.author, new.comment, new.at_ms, new.pending_approval],
                )
                .map_err(db(operation))?;
            let version = transaction.last_insert_rowid() as u64;
            Ok((version, Some(audit(version))))
        })
    }

    fn approve_policy_version(
        &self,
        version: u64,
        approver: &str,
        at_ms: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool> {
        let operation = "approving a policy version";
        self.audited(operation, |transaction| {
            let changed = transaction
                .execute(
                    "UPDATE policy_versions SET pending_approval = 0, approved_by = ?2, approved_at_ms = ?3
                     WHERE version = ?1 AND pending_approval = 1",
                    params![version as i64, approver, at_ms],
                )
                .map_err(db(operation))?;
            Ok((changed == 1, (changed == 1).then(|| audit.clone())))
        })
    }

    fn activate_policy_version(
        &self,
        version: u64,
        expected_live: Option<u64>,
        by: &str,
        at_ms: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool> {
        let operation = "activating a policy version";
        self.audited(operation, |transaction| {
            let exists: bool = transaction
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM policy_versions WHERE version = ?1)",
                    [version as i64],
                    |row| row.get(0),
                )
                .map_err(db(operation))?;
            if !exists {
                return Err(StoreError::NotFound(format!("policy version {version}")));
            }
            let live: Option<i64> = transaction
                .query_row("SELECT version FROM policy_active WHERE id = 1", [], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(db(operation))?;
            if live.map(|live| live as u64) != expected_live {
                return Ok((false, None));
            }
            transaction
                .execute(
                    "INSERT INTO policy_active (id, version, activated_at_ms, activated_by) VALUES (1, ?1, ?2, ?3)
                     ON CONFLICT (id) DO UPDATE SET version = excluded.version, activated_at_ms = excluded.activated_at_ms, activated_by = excluded.activated_by",
                    params![version as i64, at_ms, by],
                )
                .map_err(db(operation))?;
            Ok((true, Some(audit.clone())))
        })
    }

    fn active_policy(&self) -> StoreResult<Option<PolicyVersion>> {
        self.read(|connection| {
            connection
                .query_row(
                    "SELECT p.version, p.source, p.sha256, p.author, p.comment, p.created_at_ms, p.pending_approval, p.approved_by
                     FROM policy_active a JOIN policy_versions p ON p.version = a.version WHERE a.id = 1",
                    [],
                    policy_from_row,
                )
                .optional()
                .map_err(db("reading the active policy"))
        })
    }

    fn policy_version(&self, version: u64) -> StoreResult<Option<PolicyVersion>> {
        self.read(|connection| {
            connection
                .query_row(
                    "SELECT version, source, sha256, author, comment, created_at_ms, pending_approval, approved_by FROM policy_versions WHERE version = ?1",
                    [version as i64],
                    policy_from_row,
                )
                .optional()
                .map_err(db("reading a policy version"))
        })
    }

    fn policy_versions(&self) -> StoreResult<Vec<PolicyVersion>> {
        self.read(|connection| {
            let mut statement = connection
                .prepare("SELECT version, '', sha256, author, comment, created_at_ms, pending_approval, approved_by FROM policy_versions ORDER BY version DESC")
                .map_err(db("listing policy versions"))?;
            let rows = statement.query_map([], policy_from_row).map_err(db("listing policy versions"))?;
            rows.collect::<Result<_, _>>().map_err(db("listing policy versions"))
        })
    }
}
