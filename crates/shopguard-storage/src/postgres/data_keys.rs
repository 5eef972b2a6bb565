//! Data keys in PostgreSQL, wrapped by the master key.

use std::sync::Arc;

use postgres::GenericClient;

use super::{db, PostgresStore};
use crate::data_keys::DataKeyStore;
use crate::keyring::{DataKeyRecord, Keyring};
use crate::{NewAuditEntry, StoreError, StoreResult};

/// Every stored data key, oldest first.
pub(super) fn records(client: &mut impl GenericClient) -> StoreResult<Vec<DataKeyRecord>> {
    let operation = "reading data keys";
    let rows = client
        .query(
            "SELECT id, wrapped, master_id, created_at_ms FROM data_keys ORDER BY id",
            &[],
        )
        .map_err(db(operation))?;
    rows.iter()
        .map(|row| {
            let id: i64 = row.get(0);
            Ok(DataKeyRecord {
                id: u32::try_from(id).map_err(|_| StoreError::Corrupt {
                    operation,
                    detail: format!("data key id {id} is out of range"),
                })?,
                wrapped: row.get(1),
                master_id: row.get(2),
                created_at_ms: row.get(3),
            })
        })
        .collect()
}

/// Stores a wrapped data key.
pub(super) fn insert(client: &mut impl GenericClient, record: &DataKeyRecord) -> StoreResult<()> {
    client
        .execute(
            "INSERT INTO data_keys (id, wrapped, master_id, created_at_ms) VALUES ($1, $2, $3, $4)",
            &[
                &i64::from(record.id),
                &record.wrapped,
                &record.master_id,
                &record.created_at_ms,
            ],
        )
        .map_err(db("storing a data key"))?;
    Ok(())
}

impl DataKeyStore for PostgresStore {
    fn keyring(&self) -> StoreResult<Arc<Keyring>> {
        Ok(self.keyring.clone())
    }

    fn rotate_data_key(
        &self,
        now_ms: i64,
        audit: &dyn Fn(u32) -> NewAuditEntry,
    ) -> StoreResult<u32> {
        let operation = "rotating the data key";
        let (id, key) = self.audited(operation, |transaction| {
            // Numbered under a table lock, so that two nodes rotating at once do not collide.
            transaction
                .batch_execute("LOCK TABLE data_keys IN EXCLUSIVE MODE")
                .map_err(db(operation))?;
            let newest: i64 = transaction
                .query_one("SELECT COALESCE(MAX(id), 0) FROM data_keys", &[])
                .map_err(db(operation))?
                .get(0);
            let next = u32::try_from(newest + 1).map_err(|_| StoreError::Corrupt {
                operation,
                detail: format!("data key id {newest} is out of range"),
            })?;
            let (key, record) = Keyring::new_data_key(self.master.as_ref(), next, now_ms)?;
            insert(transaction, &record)?;
            Ok(((next, key), Some(audit(next))))
        })?;
        // Only once stored: a key that was not committed never seals a value.
        self.keyring.add(id, &key);
        Ok(id)
    }

    /// Polls the newest stored id (one index lookup) and loads only keys newer than the
    /// active one, so a rotation on any node seals here from the next poll on.
    fn sync_data_keys(&self) -> StoreResult<Option<u32>> {
        let operation = "reading new data keys";
        let active = self.keyring.active_id();
        let rows = self
            .client(operation)?
            .query(
                "SELECT id, wrapped FROM data_keys WHERE id > $1 ORDER BY id",
                &[&i64::from(active)],
            )
            .map_err(db(operation))?;
        if rows.is_empty() {
            return Ok(None);
        }
        for row in &rows {
            let id: i64 = row.get(0);
            let id = u32::try_from(id).map_err(|_| StoreError::Corrupt {
                operation,
                detail: format!("data key id {id} is out of range"),
            })?;
            let wrapped: Vec<u8> = row.get(1);
            let key = self.master.unwrap(&wrapped)?;
            self.keyring.add(id, &key);
        }
        Ok(Some(self.keyring.active_id()))
    }
}
