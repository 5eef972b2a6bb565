//! Playbook versions on PostgreSQL: `playbook_versions` and `playbook_active` (migration 11).

use postgres::error::SqlState;
use postgres::{Row, Transaction};

use super::{db, PostgresStore};
use crate::playbooks::{
    playbook_from_json, playbook_json, ActivePlaybook, NewPlaybookVersion, PlaybookStore,
    PlaybookVersion,
};
use crate::{NewAuditEntry, StoreError, StoreResult};

const COLUMNS: &str = "version, template, author, created_at_ms, comment";

fn version_of(row: &Row, operation: &'static str) -> StoreResult<PlaybookVersion> {
    let version: i64 = row.get(0);
    let template: String = row.get(1);
    Ok(PlaybookVersion {
        version,
        playbook: playbook_from_json(version, &template, operation)?,
        author: row.get(2),
        created_at_ms: row.get(3),
        comment: row.get(4),
    })
}

/// Inserts version `version` (inside the caller's transaction); a version added meanwhile
/// by another node is a retryable conflict.
fn insert_version(
    transaction: &mut Transaction<'_>,
    version: i64,
    new: &NewPlaybookVersion<'_>,
    operation: &'static str,
) -> StoreResult<()> {
    let template = playbook_json(new.playbook)?;
    transaction
        .execute(
            &format!("INSERT INTO playbook_versions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5)"),
            &[&version, &template, &new.author, &new.at_ms, &new.comment],
        )
        .map_err(|error| {
            if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                StoreError::Conflict(format!(
                    "playbook version {version} was added meanwhile; try again"
                ))
            } else {
                db(operation)(error)
            }
        })?;
    Ok(())
}

impl PlaybookStore for PostgresStore {
    fn playbook_versions(&self) -> StoreResult<Vec<PlaybookVersion>> {
        let operation = "reading playbook versions";
        let rows = self
            .client(operation)?
            .query(
                &format!("SELECT {COLUMNS} FROM playbook_versions ORDER BY version DESC"),
                &[],
            )
            .map_err(db(operation))?;
        rows.iter().map(|row| version_of(row, operation)).collect()
    }

    fn playbook_version(&self, version: i64) -> StoreResult<Option<PlaybookVersion>> {
        let operation = "reading a playbook version";
        let row = self
            .client(operation)?
            .query_opt(
                &format!("SELECT {COLUMNS} FROM playbook_versions WHERE version = $1"),
                &[&version],
            )
            .map_err(db(operation))?;
        row.map(|row| version_of(&row, operation)).transpose()
    }

    fn active_playbook(&self) -> StoreResult<Option<ActivePlaybook>> {
        let operation = "reading the active playbook";
        let row = self
            .client(operation)?
            .query_opt(
                "SELECT version, activated_at_ms, activated_by FROM playbook_active WHERE id = 1",
                &[],
            )
            .map_err(db(operation))?;
        Ok(row.map(|row| ActivePlaybook {
            version: row.get(0),
            activated_at_ms: row.get(1),
            activated_by: row.get(2),
        }))
    }

    fn insert_playbook_version(
        &self,
        new: &NewPlaybookVersion<'_>,
        audit: &NewAuditEntry,
    ) -> StoreResult<i64> {
        let operation = "adding a playbook version";
        self.audited(operation, |transaction| {
            let version: i64 = transaction
                .query_one(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM playbook_versions",
                    &[],
                )
                .map_err(db(operation))?
                .get(0);
            insert_version(transaction, version, new, operation)?;
            let mut entry = audit.clone();
            if let Some(detail) = entry.content.detail.as_object_mut() {
                detail.insert("version".into(), version.into());
            }
            Ok((version, Some(entry)))
        })
    }

    fn activate_playbook_version(
        &self,
        version: i64,
        expected_active: Option<i64>,
        by: &str,
        at_ms: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool> {
        let operation = "activating a playbook version";
        self.audited(operation, |transaction| {
            let exists = transaction
                .query_opt(
                    "SELECT 1 FROM playbook_versions WHERE version = $1",
                    &[&version],
                )
                .map_err(db(operation))?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!("playbook version {version}")));
            }
            let changed = match expected_active {
                None => transaction.execute(
                    "INSERT INTO playbook_active (id, version, activated_at_ms, activated_by)
                     VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING",
                    &[&version, &at_ms, &by],
                ),
                Some(expected) => transaction.execute(
                    "UPDATE playbook_active SET version = $1, activated_at_ms = $2, activated_by = $3
                     WHERE id = 1 AND version = $4",
                    &[&version, &at_ms, &by, &expected],
                ),
            }
            .map_err(db(operation))?;
            Ok(if changed == 1 {
                (true, Some(audit.clone()))
            } else {
                (false, None)
            })
        })
    }

    fn seed_playbook(
        &self,
        new: &NewPlaybookVersion<'_>,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool> {
        let operation = "seeding the playbook";
        let template = playbook_json(new.playbook)?;
        self.audited(operation, |transaction| {
            // Two nodes seeding at once: the second inserts nothing and records nothing.
            let inserted = transaction
                .execute(
                    &format!(
                        "INSERT INTO playbook_versions ({COLUMNS})
                         SELECT 1, $1, $2, $3, $4
                         WHERE NOT EXISTS (SELECT 1 FROM playbook_versions)
                         ON CONFLICT (version) DO NOTHING"
                    ),
                    &[&template, &new.author, &new.at_ms, &new.comment],
                )
                .map_err(db(operation))?;
            if inserted == 0 {
                return Ok((false, None));
            }
            transaction
                .execute(
                    "INSERT INTO playbook_active (id, version, activated_at_ms, activated_by)
                     VALUES (1, 1, $1, $2) ON CONFLICT (id) DO NOTHING",
                    &[&new.at_ms, &new.author],
                )
                .map_err(db(operation))?;
            Ok((true, Some(audit.clone())))
        })
    }
}
