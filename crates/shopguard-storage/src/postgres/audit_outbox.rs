//! The audit outbox in PostgreSQL (table `audit_outbox`).

use postgres::GenericClient;

use super::{db, PostgresStore};
use crate::audit_outbox::AuditOutbox;
use crate::{NewAuditEntry, StoreError, StoreResult};

/// Stores `entry` in the outbox through `client` (inside the caller's transaction).
pub(super) fn insert(client: &mut impl GenericClient, entry: &NewAuditEntry) -> StoreResult<()> {
    let operation = "queueing an audit entry";
    let content = serde_json::to_string(&entry.content).map_err(|error| StoreError::Corrupt {
        operation,
        detail: error.to_string(),
    })?;
    client
        .execute(
            "INSERT INTO audit_outbox (at_ms, class, content) VALUES ($1, $2, $3)",
            &[&entry.at_ms, &entry.class.as_str(), &content],
        )
        .map_err(db(operation))?;
    Ok(())
}

/// How long a node's claim on outbox rows holds before another node may take them over.
const CLAIM_EXPIRES_MS: i64 = 60_000;

impl AuditOutbox for PostgresStore {
    fn queue_audit_entry(&self, entry: &NewAuditEntry) -> StoreResult<()> {
        insert(&mut *self.client("queueing an audit entry")?, entry)
    }

    /// Claims the oldest unclaimed entries (or entries whose claim is older than a minute)
    /// for this store, so that two nodes draining the outbox never move one entry twice.
    fn queued_audit_entries(&self, limit: u32) -> StoreResult<Vec<(i64, NewAuditEntry)>> {
        let operation = "reading queued audit entries";
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as i64);
        let mut rows = self
            .client(operation)?
            .query(
                "UPDATE audit_outbox SET claimed_by = $1, claimed_at_ms = $2
                 WHERE id IN (
                     SELECT id FROM audit_outbox
                     WHERE claimed_by IS NULL OR claimed_by = $1 OR claimed_at_ms < $3
                     ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)
                 RETURNING id, at_ms, class, content",
                &[
                    &self.instance,
                    &now,
                    &(now - CLAIM_EXPIRES_MS),
                    &i64::from(limit),
                ],
            )
            .map_err(db(operation))?;
        rows.sort_by_key(|row| row.get::<_, i64>(0));
        rows.iter()
            .map(|row| {
                let corrupt = |detail: String| StoreError::Corrupt { operation, detail };
                let class: &str = row.get(2);
                let content: &str = row.get(3);
                Ok((
                    row.get(0),
                    NewAuditEntry {
                        at_ms: row.get(1),
                        class: class.parse().map_err(corrupt)?,
                        content: serde_json::from_str(content)
                            .map_err(|error| corrupt(error.to_string()))?,
                    },
                ))
            })
            .collect()
    }

    fn delete_queued_audit_entries(&self, ids: &[i64]) -> StoreResult<()> {
        let operation = "removing queued audit entries";
        self.client(operation)?
            .execute("DELETE FROM audit_outbox WHERE id = ANY($1)", &[&ids])
            .map_err(db(operation))?;
        Ok(())
    }
}
