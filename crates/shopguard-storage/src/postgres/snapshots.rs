//! Engine snapshots in PostgreSQL, one row per node.

use super::{db, pool_error, Pool};
use crate::snapshot::SnapshotStore;
use crate::StoreResult;

/// One node's engine snapshots in the store's schema (velocity state is per node).
#[derive(Clone)]
pub struct PostgresSnapshots {
    pool: Pool,
    node_id: String,
}

impl std::fmt::Debug for PostgresSnapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSnapshots")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl PostgresSnapshots {
    pub(super) fn new(pool: Pool, node_id: &str) -> PostgresSnapshots {
        PostgresSnapshots {
            pool,
            node_id: node_id.to_owned(),
        }
    }
}

impl SnapshotStore for PostgresSnapshots {
    fn write_snapshot(&self, bytes: &[u8]) -> StoreResult<()> {
        let operation = "writing the snapshot";
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as i64);
        // One statement: a reader sees the old snapshot or the new one whole.
        self.pool
            .get()
            .map_err(pool_error(operation))?
            .execute(
                "INSERT INTO engine_snapshots (node_id, snapshot, written_at_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (node_id) DO UPDATE SET snapshot = excluded.snapshot, written_at_ms = excluded.written_at_ms",
                &[&self.node_id, &bytes, &now_ms],
            )
            .map_err(db(operation))?;
        Ok(())
    }

    fn read_snapshot(&self) -> StoreResult<Option<Vec<u8>>> {
        let operation = "reading the snapshot";
        let row = self
            .pool
            .get()
            .map_err(pool_error(operation))?
            .query_opt(
                "SELECT snapshot FROM engine_snapshots WHERE node_id = $1",
                &[&self.node_id],
            )
            .map_err(db(operation))?;
        Ok(row.map(|row| row.get(0)))
    }
}
