//! The audit outbox in SQLite (table `audit_queue`).

use rusqlite::{params, Connection};

use super::{db, EmbeddedStore};
use crate::audit_outbox::AuditOutbox;
use crate::{NewAuditEntry, StoreError, StoreResult};

/// Stores `entry` in the outbox on `connection` (inside the caller's transaction).
pub(super) fn insert(connection: &Connection, entry: &NewAuditEntry) -> StoreResult<()> {
    let operation = "queueing an audit entry";
    let content = serde_json::to_string(&entry.content).map_err(|error| StoreError::Corrupt {
        operation,
        detail: error.to_string(),
    })?;
    connection
        .execute(
            "INSERT INTO audit_queue (at_ms, class, content) VALUES (?1, ?2, ?3)",
            params![entry.at_ms, entry.class.as_str(), content],
        )
        .map_err(db(operation))?;
    Ok(())
}

impl AuditOutbox for EmbeddedStore {
    fn queue_audit_entry(&self, entry: &NewAuditEntry) -> StoreResult<()> {
        insert(&self.writer.lock(), entry)
    }

    fn queued_audit_entries(&self, limit: u32) -> StoreResult<Vec<(i64, NewAuditEntry)>> {
        let operation = "reading queued audit entries";
        let rows: Vec<(i64, i64, String, String)> = {
            let writer = self.writer.lock();
            let mut statement = writer
                .prepare_cached(
                    "SELECT id, at_ms, class, content FROM audit_queue ORDER BY id LIMIT ?1",
                )
                .map_err(db(operation))?;
            let rows = statement
                .query_map([limit], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .map_err(db(operation))?;
            rows.collect::<Result<_, _>>().map_err(db(operation))?
        };
        rows.into_iter()
            .map(|(id, at_ms, class, content)| {
                let corrupt = |detail: String| StoreError::Corrupt { operation, detail };
                Ok((
                    id,
                    NewAuditEntry {
                        at_ms,
                        class: class.parse().map_err(corrupt)?,
                        content: serde_json::from_str(&content)
                            .map_err(|error| corrupt(error.to_string()))?,
                    },
                ))
            })
            .collect()
    }

    fn delete_queued_audit_entries(&self, ids: &[i64]) -> StoreResult<()> {
        let operation = "removing queued audit entries";
        let mut writer = self.writer.lock();
        let transaction = writer.transaction().map_err(db(operation))?;
        {
            let mut delete = transaction
                .prepare_cached("DELETE FROM audit_queue WHERE id = ?1")
                .map_err(db(operation))?;
            for id in ids {
                delete.execute([id]).map_err(db(operation))?;
            }
        }
        transaction.commit().map_err(db(operation))
    }
}
