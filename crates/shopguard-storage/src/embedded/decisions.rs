//! The decision log (segment files) and alerts (SQLite).

use rusqlite::params;

use super::{db, lists, EmbeddedStore};
use crate::decisions::{AlertRecord, DecisionQuery, DecisionRecord, DecisionStore};
use crate::{LogBatch, StoreResult};

fn alert_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRecord> {
    Ok(AlertRecord {
        seq: row.get(0)?,
        created_at_ms: row.get(1)?,
        severity: row.get(2)?,
        rule_id: row.get(3)?,
        decision_id: row.get(4)?,
        user_id: row.get(5)?,
        ip: row.get(6)?,
        message: row.get(7)?,
    })
}

impl DecisionStore for EmbeddedStore {
    fn append_decisions(&self, batches: &[LogBatch]) -> StoreResult<()> {
        // SQLite first, and idempotently (alerts are unique per decision and rule, list
        // additions are upserts): if the segment write then fails, the writer's retry of the
        // whole batch adds nothing twice.
        let additions = batches.iter().flat_map(|batch| batch.list_additions());
        let alerts = batches.iter().flat_map(|batch| batch.alerts());
        let mut alerts = alerts.peekable();
        let mut additions = additions.peekable();
        if additions.peek().is_some() || alerts.peek().is_some() {
            let operation = "appending alerts";
            let mut writer = self.writer.lock();
            let transaction = writer.transaction().map_err(db(operation))?;
            lists::upsert_entries(
                &transaction,
                additions.map(|(list, entry)| (list.as_str(), entry)),
                "recording list additions",
            )?;
            {
                let mut insert_alert = transaction
                    .prepare_cached(
                        "INSERT OR IGNORE INTO alerts (created_at_ms, severity, rule_id, decision_id, user_id, ip, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )
                    .map_err(db(operation))?;
                for alert in alerts {
                    insert_alert
                        .execute(params![
                            alert.created_at_ms,
                            alert.severity,
                            alert.rule_id,
                            alert.decision_id,
                            alert.user_id,
                            alert.ip,
                            alert.message
                        ])
                        .map_err(db(operation))?;
                }
            }
            transaction.commit().map_err(db(operation))?;
        }
        self.decisions()?.append(batches)
    }

    fn decision(&self, decision_id: &str) -> StoreResult<Option<DecisionRecord>> {
        self.decisions()?.decision(decision_id)
    }

    fn query_decisions(&self, query: &DecisionQuery) -> StoreResult<Vec<DecisionRecord>> {
        self.decisions()?.query(query)
    }

    fn query_alerts(
        &self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AlertRecord>> {
        self.read(|connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT seq, created_at_ms, severity, rule_id, decision_id, user_id, ip, message FROM alerts
                     WHERE created_at_ms >= ?1 AND created_at_ms < ?2 ORDER BY created_at_ms DESC, seq DESC LIMIT ?3",
                )
                .map_err(db("querying alerts"))?;
            let rows = statement
                .query_map(params![from_ms.unwrap_or(i64::MIN), to_ms.unwrap_or(i64::MAX), limit.clamp(1, 1_000)], alert_from_row)
                .map_err(db("querying alerts"))?;
            rows.collect::<Result<_, _>>().map_err(db("querying alerts"))
        })
    }

    fn purge_decisions_before(&self, cutoff_ms: i64) -> StoreResult<usize> {
        let removed = self.decisions()?.purge_before(cutoff_ms)?;
        self.writer
            .lock()
            .execute("DELETE FROM alerts WHERE created_at_ms < ?1", [cutoff_ms])
            .map_err(db("purging old alerts"))?;
        Ok(removed)
    }

    fn decision_count(&self) -> StoreResult<u64> {
        Ok(self.decisions()?.count())
    }

    fn reencrypt_decisions(&self, progress: &mut dyn FnMut(usize, usize)) -> StoreResult<u64> {
        self.decisions()?.reencrypt(progress)
    }

    fn reencrypt_decisions_until(
        &self,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> StoreResult<u64> {
        self.decisions()?.reencrypt_until(progress)
    }
}
