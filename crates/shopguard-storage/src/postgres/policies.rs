//! Policy versions in PostgreSQL. The single row of `policy_active` serialises changes:
//! new versions are numbered under its lock (no gaps), and activation is a compare-and-set
//! on it.

use postgres::Row;
use sha2::{Digest, Sha256};

use super::{db, PostgresStore};
use crate::policies::{NewPolicyVersion, PolicyStore, PolicyVersion};
use crate::{NewAuditEntry, StoreError, StoreResult};

const COLUMNS: &str =
    "version, source, sha256, author, comment, created_at_ms, pending_approval, approved_by";

fn policy_from_row(row: &Row) -> PolicyVersion {
    PolicyVersion {
        version: row.get::<_, i64>(0) as u64,
        source: row.get(1),
        sha256: row.get(2),
        author: row.get(3),
        comment: row.get(4),
        created_at_ms: row.get(5),
        pending_approval: row.get(6),
        approved_by: row.get(7),
    }
}

fn version_param(version: u64) -> StoreResult<i64> {
    i64::try_from(version).map_err(|_| StoreError::NotFound(format!("policy version {version}")))
}

impl PolicyStore for PostgresStore {
    fn insert_policy_version(
        &self,
        new: &NewPolicyVersion<'_>,
        audit: &dyn Fn(u64) -> NewAuditEntry,
    ) -> StoreResult<u64> {
        let operation = "storing a policy version";
        self.audited(operation, |transaction| {
            transaction
                .execute("SELECT 1 FROM policy_active WHERE id = 1 FOR UPDATE", &[])
                .map_err(db(operation))?;
            let version: i64 = transaction
                .query_one(
                    "INSERT INTO policy_versions (version, source, sha256, author, comment, created_at_ms, pending_approval)
                     SELECT COALESCE(MAX(version), 0) + 1, $1, $2, $3, $4, $5, $6 FROM policy_versions
                     RETURNING version",
                    &[
                        &new.source,
                        &hex::encode(Sha256::digest(new.source.as_bytes())),
                        &new.author,
                        &new.comment,
                        &new.at_ms,
                        &new.pending_approval,
                    ],
                )
                .map_err(db(operation))?
                .get(0);
            let version = version as u64;
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
        let Ok(version) = i64::try_from(version) else {
            return Ok(false);
        };
        self.audited(operation, |transaction| {
            let changed = transaction
                .execute(
                    "UPDATE policy_versions SET pending_approval = FALSE, approved_by = $2, approved_at_ms = $3
                     WHERE version = $1 AND pending_approval",
                    &[&version, &approver, &at_ms],
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
        let version = version_param(version)?;
        let expected_live = expected_live.map(version_param).transpose();
        self.audited(operation, |transaction| {
            let exists: bool = transaction
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM policy_versions WHERE version = $1)",
                    &[&version],
                )
                .map_err(db(operation))?
                .get(0);
            if !exists {
                return Err(StoreError::NotFound(format!("policy version {version}")));
            }
            // An expected version that cannot exist is never the live one.
            let Ok(expected_live) = expected_live else {
                return Ok((false, None));
            };
            // Compare and set in one statement: a concurrent activation holds the row, and
            // once it commits this one re-reads the row and no longer matches.
            let changed = transaction
                .execute(
                    "UPDATE policy_active SET version = $1, activated_at_ms = $2, activated_by = $3
                     WHERE id = 1 AND version IS NOT DISTINCT FROM $4",
                    &[&version, &at_ms, &by, &expected_live],
                )
                .map_err(db(operation))?;
            Ok((changed == 1, (changed == 1).then(|| audit.clone())))
        })
    }

    fn active_policy(&self) -> StoreResult<Option<PolicyVersion>> {
        let operation = "reading the active policy";
        let row = self
            .client(operation)?
            .query_opt(
                "SELECT p.version, p.source, p.sha256, p.author, p.comment, p.created_at_ms, p.pending_approval, p.approved_by
                 FROM policy_active a JOIN policy_versions p ON p.version = a.version WHERE a.id = 1",
                &[],
            )
            .map_err(db(operation))?;
        Ok(row.as_ref().map(policy_from_row))
    }

    fn policy_version(&self, version: u64) -> StoreResult<Option<PolicyVersion>> {
        let operation = "reading a policy version";
        let Ok(version) = i64::try_from(version) else {
            return Ok(None);
        };
        let row = self
            .client(operation)?
            .query_opt(
                &format!("SELECT {COLUMNS} FROM policy_versions WHERE version = $1"),
                &[&version],
            )
            .map_err(db(operation))?;
        Ok(row.as_ref().map(policy_from_row))
    }

    fn policy_versions(&self) -> StoreResult<Vec<PolicyVersion>> {
        let operation = "listing policy versions";
        let rows = self
            .client(operation)?
            .query(
                "SELECT version, '', sha256, author, comment, created_at_ms, pending_approval, approved_by
                 FROM policy_versions ORDER BY version DESC",
                &[],
            )
            .map_err(db(operation))?;
        Ok(rows.iter().map(policy_from_row).collect())
    }
}
