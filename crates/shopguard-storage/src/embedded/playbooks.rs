//! Playbook versions in SQLite: `playbook_versions` and `playbook_active` (migration 14).

use rusqlite::{params, OptionalExtension, Transaction};

use super::{db, EmbeddedStore};
use crate::playbooks::{
    playbook_from_json, playbook_json, ActivePlaybook, NewPlaybookVersion, PlaybookStore,
    PlaybookVersion,
};
use crate::{NewAuditEntry, StoreError, StoreResult};

const COLUMNS: &str = "version, template, author, created_at_ms, comment";

type VersionRow = (i64, String, String, i64, String);

fn version_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<VersionRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn version_of(row: VersionRow, operation: &'static str) -> StoreResult<PlaybookVersion> {
    let (version, template, author, created_at_ms, comment) = row;
    Ok(PlaybookVersion {
        version,
        playbook: playbook_from_json(version, &template, operation)?,
        author,
        created_at_ms,
        comment,
    })
}

/// Inserts version `version` (inside the caller's transaction).
fn insert_version(
    transaction: &Transaction<'_>,
    version: i64,
    new: &NewPlaybookVersion<'_>,
    operation: &'static str,
) -> StoreResult<()> {
    transaction
        .execute(
            &format!("INSERT INTO playbook_versions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
            params![
                version,
                playbook_json(new.playbook)?,
                new.author,
                new.at_ms,
                new.comment
            ],
        )
        .map_err(db(operation))?;
    Ok(())
}

impl PlaybookStore for EmbeddedStore {
    fn playbook_versions(&self) -> StoreResult<Vec<PlaybookVersion>> {
        let operation = "reading playbook versions";
        let rows: Vec<VersionRow> = self.read(|connection| {
            let mut statement = connection
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM playbook_versions ORDER BY version DESC"
                ))
                .map_err(db(operation))?;
            let rows = statement
                .query_map([], version_row)
                .map_err(db(operation))?;
            rows.collect::<Result<_, _>>().map_err(db(operation))
        })?;
        rows.into_iter()
            .map(|row| version_of(row, operation))
            .collect()
    }

    fn playbook_version(&self, version: i64) -> StoreResult<Option<PlaybookVersion>> {
        let operation = "reading a playbook version";
        let row = self.read(|connection| {
            connection
                .query_row(
                    &format!("SELECT {COLUMNS} FROM playbook_versions WHERE version = ?1"),
                    [version],
                    version_row,
                )
                .optional()
                .map_err(db(operation))
        })?;
        row.map(|row| version_of(row, operation)).transpose()
    }

    fn active_playbook(&self) -> StoreResult<Option<ActivePlaybook>> {
        let operation = "reading the active playbook";
        self.read(|connection| {
            connection
                .query_row(
                    "SELECT version, activated_at_ms, activated_by FROM playbook_active WHERE id = 1",
                    [],
                    |row| {
                        Ok(ActivePlaybook {
                            version: row.get(0)?,
                            activated_at_ms: row.get(1)?,
                            activated_by: row.get(2)?,
                        })
                    },
                )
                .optional()
                .map_err(db(operation))
        })
    }

    fn insert_playbook_version(
        &self,
        new: &NewPlaybookVersion<'_>,
        audit: &NewAuditEntry,
    ) -> StoreResult<i64> {
        let operation = "adding a playbook version";
        self.audited(operation, |transaction| {
            let version: i64 = transaction
                .query_row(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM playbook_versions",
                    [],
                    |row| row.get(0),
                )
                .map_err(db(operation))?;
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
                .query_row(
                    "SELECT 1 FROM playbook_versions WHERE version = ?1",
                    [version],
                    |_| Ok(()),
                )
                .optional()
                .map_err(db(operation))?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!("playbook version {version}")));
            }
            let changed = match expected_active {
                None => transaction.execute(
                    "INSERT INTO playbook_active (id, version, activated_at_ms, activated_by)
                     VALUES (1, ?1, ?2, ?3) ON CONFLICT (id) DO NOTHING",
                    params![version, at_ms, by],
                ),
                Some(expected) => transaction.execute(
                    "UPDATE playbook_active SET version = ?1, activated_at_ms = ?2, activated_by = ?3
                     WHERE id = 1 AND version = ?4",
                    params![version, at_ms, by, expected],
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
        self.audited(operation, |transaction| {
            let any = transaction
                .query_row("SELECT 1 FROM playbook_versions LIMIT 1", [], |_| Ok(()))
                .optional()
                .map_err(db(operation))?;
            if any.is_some() {
                return Ok((false, None));
            }
            insert_version(transaction, 1, new, operation)?;
            transaction
                .execute(
                    "INSERT INTO playbook_active (id, version, activated_at_ms, activated_by)
                     VALUES (1, 1, ?1, ?2)",
                    params![new.at_ms, new.author],
                )
                .map_err(db(operation))?;
            Ok((true, Some(audit.clone())))
        })
    }
}
