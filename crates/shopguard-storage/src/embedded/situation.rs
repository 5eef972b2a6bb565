//! The situation's history in SQLite.

use rusqlite::params;

use super::{db, EmbeddedStore};
use crate::situation::{SituationMinute, SituationRule, SituationStore, MAX_RULE_ID_BYTES};
use crate::StoreResult;

impl SituationStore for EmbeddedStore {
    fn record_situation_minute(&self, node: &str, minute: &SituationMinute) -> StoreResult<()> {
        let operation = "recording a minute of the situation";
        let mut writer = self.writer.lock();
        let transaction = writer.transaction().map_err(db(operation))?;
        transaction
            .execute(
                "INSERT INTO situation_minutes
                     (node, minute, events, allow, challenge, review, deny, passed, failed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (minute, node) DO UPDATE SET events = excluded.events,
                     allow = excluded.allow, challenge = excluded.challenge,
                     review = excluded.review, deny = excluded.deny,
                     passed = excluded.passed, failed = excluded.failed",
                params![
                    node,
                    minute.minute,
                    minute.events,
                    minute.allow,
                    minute.challenge,
                    minute.review,
                    minute.deny,
                    minute.passed,
                    minute.failed
                ],
            )
            .map_err(db(operation))?;
        transaction
            .execute(
                "DELETE FROM situation_rules WHERE minute = ?1 AND node = ?2",
                params![minute.minute, node],
            )
            .map_err(db(operation))?;
        {
            let mut insert = transaction
                .prepare_cached(
                    "INSERT INTO situation_rules (node, minute, rule_id, shadow, matches)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (minute, node, rule_id, shadow) DO UPDATE
                     SET matches = matches + excluded.matches",
                )
                .map_err(db(operation))?;
            for (rule_id, shadow, matches) in &minute.rules {
                if rule_id.len() > MAX_RULE_ID_BYTES {
                    continue;
                }
                insert
                    .execute(params![node, minute.minute, rule_id, shadow, matches])
                    .map_err(db(operation))?;
            }
        }
        transaction.commit().map_err(db(operation))
    }

    fn situation_minutes(
        &self,
        from_minute: i64,
        to_minute: i64,
    ) -> StoreResult<Vec<SituationMinute>> {
        let operation = "reading the situation's history";
        self.read(|connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT minute, sum(events), sum(allow), sum(challenge), sum(review),
                            sum(deny), sum(passed), sum(failed)
                     FROM situation_minutes WHERE minute >= ?1 AND minute < ?2
                     GROUP BY minute ORDER BY minute",
                )
                .map_err(db(operation))?;
            let rows = statement
                .query_map(params![from_minute, to_minute], |row| {
                    Ok(SituationMinute {
                        minute: row.get(0)?,
                        events: row.get(1)?,
                        allow: row.get(2)?,
                        challenge: row.get(3)?,
                        review: row.get(4)?,
                        deny: row.get(5)?,
                        passed: row.get(6)?,
                        failed: row.get(7)?,
                        rules: Vec::new(),
                    })
                })
                .map_err(db(operation))?;
            rows.collect::<Result<_, _>>().map_err(db(operation))
        })
    }

    fn situation_top_rules(
        &self,
        from_minute: i64,
        to_minute: i64,
        limit: u32,
    ) -> StoreResult<Vec<SituationRule>> {
        let operation = "reading the situation's top rules";
        self.read(|connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT rule_id, shadow, sum(matches) AS total FROM situation_rules
                     WHERE minute >= ?1 AND minute < ?2
                     GROUP BY rule_id, shadow ORDER BY total DESC, rule_id, shadow LIMIT ?3",
                )
                .map_err(db(operation))?;
            let rows = statement
                .query_map(params![from_minute, to_minute, limit], |row| {
                    Ok(SituationRule {
                        rule_id: row.get(0)?,
                        shadow: row.get(1)?,
                        matches: row.get(2)?,
                    })
                })
                .map_err(db(operation))?;
            rows.collect::<Result<_, _>>().map_err(db(operation))
        })
    }

    fn purge_situation_before(&self, minute: i64) -> StoreResult<usize> {
        let operation = "purging the situation's history";
        let mut writer = self.writer.lock();
        let transaction = writer.transaction().map_err(db(operation))?;
        transaction
            .execute("DELETE FROM situation_rules WHERE minute < ?1", [minute])
            .map_err(db(operation))?;
        let removed = transaction
            .execute("DELETE FROM situation_minutes WHERE minute < ?1", [minute])
            .map_err(db(operation))?;
        transaction.commit().map_err(db(operation))?;
        Ok(removed)
    }
}
