//! The situation's history on PostgreSQL.

use super::{db, PostgresStore};
use crate::situation::{SituationMinute, SituationRule, SituationStore, MAX_RULE_ID_BYTES};
use crate::StoreResult;

impl SituationStore for PostgresStore {
    fn record_situation_minute(&self, node: &str, minute: &SituationMinute) -> StoreResult<()> {
        let operation = "recording a minute of the situation";
        let mut client = self.client(operation)?;
        let mut transaction = client.transaction().map_err(db(operation))?;
        transaction
            .execute(
                "INSERT INTO situation_minutes
                     (node, minute, events, allow, challenge, review, deny, passed, failed)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (minute, node) DO UPDATE SET events = excluded.events,
                     allow = excluded.allow, challenge = excluded.challenge,
                     review = excluded.review, deny = excluded.deny,
                     passed = excluded.passed, failed = excluded.failed",
                &[
                    &node,
                    &minute.minute,
                    &minute.events,
                    &minute.allow,
                    &minute.challenge,
                    &minute.review,
                    &minute.deny,
                    &minute.passed,
                    &minute.failed,
                ],
            )
            .map_err(db(operation))?;
        transaction
            .execute(
                "DELETE FROM situation_rules WHERE minute = $1 AND node = $2",
                &[&minute.minute, &node],
            )
            .map_err(db(operation))?;
        let rules: Vec<&(String, bool, i64)> = minute
            .rules
            .iter()
            .filter(|(rule_id, _, _)| rule_id.len() <= MAX_RULE_ID_BYTES)
            .collect();
        if !rules.is_empty() {
            let ids: Vec<&str> = rules.iter().map(|(id, _, _)| id.as_str()).collect();
            let shadows: Vec<bool> = rules.iter().map(|(_, shadow, _)| *shadow).collect();
            let matches: Vec<i64> = rules.iter().map(|(_, _, matches)| *matches).collect();
            transaction
                .execute(
                    "INSERT INTO situation_rules (node, minute, rule_id, shadow, matches)
                     SELECT $1, $2, rule_id, shadow, sum(matches)
                     FROM unnest($3::text[], $4::bool[], $5::bigint[]) AS r(rule_id, shadow, matches)
                     GROUP BY rule_id, shadow",
                    &[&node, &minute.minute, &ids, &shadows, &matches],
                )
                .map_err(db(operation))?;
        }
        transaction.commit().map_err(db(operation))
    }

    fn situation_minutes(
        &self,
        from_minute: i64,
        to_minute: i64,
    ) -> StoreResult<Vec<SituationMinute>> {
        let operation = "reading the situation's history";
        let rows = self
            .client(operation)?
            .query(
                "SELECT minute, sum(events)::bigint, sum(allow)::bigint, sum(challenge)::bigint,
                        sum(review)::bigint, sum(deny)::bigint, sum(passed)::bigint,
                        sum(failed)::bigint
                 FROM situation_minutes WHERE minute >= $1 AND minute < $2
                 GROUP BY minute ORDER BY minute",
                &[&from_minute, &to_minute],
            )
            .map_err(db(operation))?;
        Ok(rows
            .iter()
            .map(|row| SituationMinute {
                minute: row.get(0),
                events: row.get(1),
                allow: row.get(2),
                challenge: row.get(3),
                review: row.get(4),
                deny: row.get(5),
                passed: row.get(6),
                failed: row.get(7),
                rules: Vec::new(),
            })
            .collect())
    }

    fn situation_top_rules(
        &self,
        from_minute: i64,
        to_minute: i64,
        limit: u32,
    ) -> StoreResult<Vec<SituationRule>> {
        let operation = "reading the situation's top rules";
        let rows = self
            .client(operation)?
            .query(
                "SELECT rule_id, shadow, sum(matches)::bigint AS total FROM situation_rules
                 WHERE minute >= $1 AND minute < $2
                 GROUP BY rule_id, shadow
                 ORDER BY total DESC, rule_id COLLATE \"C\", shadow LIMIT $3",
                &[&from_minute, &to_minute, &i64::from(limit)],
            )
            .map_err(db(operation))?;
        Ok(rows
            .iter()
            .map(|row| SituationRule {
                rule_id: row.get(0),
                shadow: row.get(1),
                matches: row.get(2),
            })
            .collect())
    }

    fn purge_situation_before(&self, minute: i64) -> StoreResult<usize> {
        let operation = "purging the situation's history";
        let mut client = self.client(operation)?;
        let mut transaction = client.transaction().map_err(db(operation))?;
        transaction
            .execute("DELETE FROM situation_rules WHERE minute < $1", &[&minute])
            .map_err(db(operation))?;
        let removed = transaction
            .execute(
                "DELETE FROM situation_minutes WHERE minute < $1",
                &[&minute],
            )
            .map_err(db(operation))?;
        transaction.commit().map_err(db(operation))?;
        Ok(removed as usize)
    }
}
