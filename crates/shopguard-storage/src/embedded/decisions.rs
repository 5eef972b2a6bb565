//! The decision log (segment files) and alerts (SQLite).

use rusqlite::params;

use super::{alerts, db, lists, EmbeddedStore};
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

    fn count_decisions(&self, query: &DecisionQuery, cap: u64) -> StoreResult<(u64, bool)> {
        self.decisions()?.count_matching(query, cap)
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
        let operation = "purging old alerts";
        let mut writer = self.writer.lock();
        let transaction = writer.transaction().map_err(db(operation))?;
        // Their triage state and notes first: they refer to the alerts.
        alerts::purge_before(&transaction, cutoff_ms, operation)?;
        transaction
            .execute("DELETE FROM alerts WHERE created_at_ms < ?1", [cutoff_ms])
            .map_err(db(operation))?;
        transaction.commit().map_err(db(operation))?;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shopguard_core::audit::{AuditContent, RecordClass};
    use shopguard_core::{Engine, Event, EventInput, EventKind, ListRegistry};

    use super::*;
    use crate::data_keys::DataKeyStore;
    use crate::decision_segments::SegmentSettings;
    use crate::{LogBatch, NewAuditEntry};

    fn registration(engine: &Engine, n: i64) -> DecisionRecord {
        let event = Event::try_from_input(
            EventInput {
                kind: Some(EventKind::Register),
                user_id: Some(format!("user{n}")),
                ip: Some("192.0.2.1".into()),
                phone: Some("+86 13812341234".into()),
                email: Some(format!("user{n}@example.com")),
                occurred_at_ms: Some(1_000 + n),
                ..EventInput::default()
            },
            1_000 + n,
            || format!("event-{n}"),
        )
        .unwrap();
        let decision = engine.decide(&event, format!("d{n}"));
        DecisionRecord { decision, event }
    }

    /// Re-encryption that is asked to stop after the first segment leaves the rest under
    /// the old key, every record readable, and a second run changes only what is left.
    #[test]
    fn reencryption_stops_between_segments_and_a_second_run_finishes_the_rest() {
        let folder = tempfile::tempdir().unwrap();
        let engine = Engine::new(
            "[policy]\nname = \"test\"\n",
            1,
            Arc::new(ListRegistry::new()),
        )
        .unwrap();
        let store = EmbeddedStore::open_with(
            folder.path(),
            SegmentSettings {
                segment_bytes: 4_096,
                sync_each_batch: false,
            },
        )
        .unwrap();
        for batch in 0..6 {
            let records: Vec<DecisionRecord> = (0..10)
                .map(|n| registration(&engine, batch * 10 + n))
                .collect();
            store
                .append_decisions(&[LogBatch::of(store.log_sealer(), &records).unwrap()])
                .unwrap();
        }
        let audit = |_: u32| NewAuditEntry {
            at_ms: 1,
            class: RecordClass::AccessControl,
            content: AuditContent {
                actor: "test".into(),
                action: "data_key.rotate".into(),
                object: "data_key".into(),
                detail: serde_json::Value::Null,
            },
        };
        assert_eq!(store.rotate_data_key(5, &audit).unwrap(), 2);

        let mut calls = Vec::new();
        let first = store
            .reencrypt_decisions_until(&mut |done, total| {
                calls.push((done, total));
                false
            })
            .unwrap();
        assert_eq!(calls.len(), 1, "stopped after the first segment");
        let total_segments = calls[0].1;
        assert!(total_segments > 1, "the fixture spans several segments");
        assert!(first > 0 && first < 60, "only part was changed: {first}");
        let read = store.decision("d59").unwrap().unwrap();
        assert_eq!(read.event.phone.as_deref(), Some("+86 13812341234"));

        let second = store.reencrypt_decisions_until(&mut |_, _| true).unwrap();
        assert_eq!(
            first + second,
            60,
            "the second run changed only what was left"
        );
        assert_eq!(store.reencrypt_decisions(&mut |_, _| {}).unwrap(), 0);
    }
}
