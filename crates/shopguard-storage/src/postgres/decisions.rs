//! The decision log and alerts in PostgreSQL.
//!
//! Each record is stored in its binary form ([`crate::record_format`], personal fields
//! sealed) as `bytea`, beside the columns its queries use: decision id (unique, which makes a
//! retried batch add nothing twice), time, user, IP, device and outcome. One call is one
//! transaction: list additions and alerts as multi-row statements over arrays (`unnest`),
//! then the decisions through `COPY … FROM STDIN (FORMAT binary)`. `COPY` cannot skip rows
//! already stored, so a batch that meets one (a retry) is written again in a new
//! transaction with `INSERT … ON CONFLICT DO NOTHING`. "Newest first" is the order of
//! appending, as in the segment log.
//!
//! Each row also names the rules that matched (`matched_rules`, enforced and shadow, NULL when
//! none; migration 0009), unindexed: a search by rule reads it on the rows the entity index
//! or the newest-first walk of the primary key brings
//! (`docs/decisions/0040-decision-search-by-rule.md`). A page cursor (`before_id`) is the
//! `seq` of the named decision, found through the unique index on `decision_id`.
//!
//! Lookups by user, IP and device use one GIN index over 64-bit hashes of the three values
//! ([`ENTITY_KEYS`], migration 0005); a query matches the hash through the index and the
//! value itself on the row (`docs/decisions/0025-postgresql-write-path.md`).

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use shopguard_core::privacy::for_each_personal_field;
use shopguard_core::Event;

use super::{alerts, db, lists, PostgresStore};
use crate::decisions::{AlertRecord, DecisionQuery, DecisionRecord, DecisionStore};
use crate::keyring::Keyring;
use crate::record_format::{decode_record, encode_record};
use crate::{LogBatch, StoreError, StoreResult};

/// Rows per insert statement.
const INSERT_CHUNK: usize = 5_000;
/// The expression of the `decisions_by_entity` GIN index (migration 0005): a hash of each
/// entity value, seeded by its kind. Queries must write it exactly so for the planner to
/// use the index, with the same seed for the value they look for ([`entity_seed`]).
const ENTITY_KEYS: &str =
    "ARRAY[hashtextextended(user_id, 1), hashtextextended(ip, 2), hashtextextended(device_id, 3)]";

/// The hash seed of an entity column in [`ENTITY_KEYS`].
fn entity_seed(column: &str) -> Option<i64> {
    match column {
        "user_id" => Some(1),
        "ip" => Some(2),
        "device_id" => Some(3),
        _ => None,
    }
}

/// The columns `COPY` fills, and their types in that order.
const COPY_SQL: &str = "COPY decisions (decision_id, occurred_at_ms, user_id, ip, device_id, outcome, record, matched_rules) FROM STDIN (FORMAT binary)";
const COPY_TYPES: [Type; 8] = [
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::BYTEA,
    Type::TEXT_ARRAY,
];

/// Separates rule ids in the one text per row that the multi-row insert passes
/// (`unnest` cannot take an array of arrays of differing lengths).
const RULE_SEPARATOR: char = '\u{1f}';

/// How decisions go into the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Insert {
    /// `COPY`: fastest; fails on a decision already stored.
    Copy,
    /// `INSERT … ON CONFLICT DO NOTHING`: skips decisions already stored.
    SkipExisting,
}

/// Records re-encrypted per transaction.
const REENCRYPT_CHUNK: i64 = 1_000;

fn decode(body: &[u8], operation: &'static str) -> StoreResult<DecisionRecord> {
    decode_record(body).map_err(|error| StoreError::Corrupt {
        operation,
        detail: error.to_string(),
    })
}

/// The columns of one decision row.
struct DecisionRow<'a> {
    decision_id: String,
    at_ms: i64,
    user_id: String,
    ip: Option<String>,
    device_id: Option<String>,
    outcome: &'static str,
    record: &'a [u8],
    /// Rules that matched, enforced then shadow; `None` when none did.
    matched_rules: Option<Vec<String>>,
}

impl PostgresStore {
    /// Decodes a stored record and opens its personal fields.
    fn decode_open(&self, body: &[u8], operation: &'static str) -> StoreResult<DecisionRecord> {
        let mut record = decode(body, operation)?;
        for_each_personal_field(&mut record.event, &mut |_, text| {
            if Keyring::key_of(text).is_some() {
                *text = self.keyring.open(text)?;
            }
            Ok::<(), StoreError>(())
        })?;
        Ok(record)
    }

    /// Writes the rows with `COPY`; `Ok(false)` when one of them is already stored (the
    /// transaction is then aborted and must be dropped).
    fn copy_decisions(
        transaction: &mut postgres::Transaction<'_>,
        rows: &[DecisionRow<'_>],
        operation: &'static str,
    ) -> StoreResult<bool> {
        let written = (|| {
            let sink = transaction.copy_in(COPY_SQL)?;
            let mut writer = BinaryCopyInWriter::new(sink, &COPY_TYPES);
            for row in rows {
                writer.write(&[
                    &row.decision_id,
                    &row.at_ms,
                    &row.user_id,
                    &row.ip,
                    &row.device_id,
                    &row.outcome,
                    &row.record,
                    &row.matched_rules,
                ])?;
            }
            writer.finish()
        })();
        match written {
            Ok(_) => Ok(true),
            Err(error) if super::is_unique_violation(&error) => Ok(false),
            Err(error) => Err(db(operation)(error)),
        }
    }

    /// Writes the rows with multi-row inserts that skip decisions already stored.
    fn insert_decisions_skipping_existing(
        transaction: &mut postgres::Transaction<'_>,
        rows: &[DecisionRow<'_>],
        operation: &'static str,
    ) -> StoreResult<()> {
        for chunk in rows.chunks(INSERT_CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(|row| row.decision_id.as_str()).collect();
            let times: Vec<i64> = chunk.iter().map(|row| row.at_ms).collect();
            let users: Vec<&str> = chunk.iter().map(|row| row.user_id.as_str()).collect();
            let ips: Vec<Option<&str>> = chunk.iter().map(|row| row.ip.as_deref()).collect();
            let devices: Vec<Option<&str>> =
                chunk.iter().map(|row| row.device_id.as_deref()).collect();
            let outcomes: Vec<&str> = chunk.iter().map(|row| row.outcome).collect();
            let records: Vec<&[u8]> = chunk.iter().map(|row| row.record).collect();
            let rules: Vec<Option<String>> = chunk
                .iter()
                .map(|row| {
                    row.matched_rules
                        .as_ref()
                        .map(|rules| rules.join(&RULE_SEPARATOR.to_string()))
                })
                .collect();
            transaction
                .execute(
                    "INSERT INTO decisions (decision_id, occurred_at_ms, user_id, ip, device_id, outcome, record, matched_rules)
                     SELECT id, at_ms, user_id, ip, device_id, outcome, record, string_to_array(rules, chr(31))
                     FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::text[])
                         AS row(id, at_ms, user_id, ip, device_id, outcome, record, rules)
                     ON CONFLICT (decision_id) DO NOTHING",
                    &[&ids, &times, &users, &ips, &devices, &outcomes, &records, &rules],
                )
                .map_err(db(operation))?;
        }
        Ok(())
    }

    /// One transaction: list additions, alerts, decisions. `Ok(false)` when `COPY` met a
    /// decision already stored (nothing was written).
    fn append_rows(
        &self,
        client: &mut postgres::Client,
        batches: &[LogBatch],
        rows: &[DecisionRow<'_>],
        insert: Insert,
        operation: &'static str,
    ) -> StoreResult<bool> {
        let mut transaction = client.transaction().map_err(db(operation))?;
        lists::upsert_entries(
            &mut transaction,
            batches
                .iter()
                .flat_map(LogBatch::list_additions)
                .map(|(list, entry)| (list.as_str(), entry)),
            "recording list additions",
        )?;
        PostgresStore::insert_alerts(
            &mut transaction,
            batches.iter().flat_map(LogBatch::alerts),
            "appending alerts",
        )?;
        match insert {
            Insert::Copy => {
                if !PostgresStore::copy_decisions(&mut transaction, rows, operation)? {
                    return Ok(false);
                }
            }
            Insert::SkipExisting => {
                PostgresStore::insert_decisions_skipping_existing(
                    &mut transaction,
                    rows,
                    operation,
                )?;
            }
        }
        transaction.commit().map_err(db(operation))?;
        Ok(true)
    }

    fn insert_alerts<'a>(
        transaction: &mut postgres::Transaction<'_>,
        alerts: impl Iterator<Item = &'a AlertRecord>,
        operation: &'static str,
    ) -> StoreResult<()> {
        let alerts: Vec<&AlertRecord> = alerts.collect();
        for chunk in alerts.chunks(INSERT_CHUNK) {
            let times: Vec<i64> = chunk.iter().map(|alert| alert.created_at_ms).collect();
            let severities: Vec<&str> = chunk.iter().map(|alert| alert.severity.as_str()).collect();
            let rules: Vec<&str> = chunk.iter().map(|alert| alert.rule_id.as_str()).collect();
            let decisions: Vec<&str> = chunk
                .iter()
                .map(|alert| alert.decision_id.as_str())
                .collect();
            let users: Vec<&str> = chunk.iter().map(|alert| alert.user_id.as_str()).collect();
            let ips: Vec<Option<&str>> = chunk.iter().map(|alert| alert.ip.as_deref()).collect();
            let messages: Vec<&str> = chunk.iter().map(|alert| alert.message.as_str()).collect();
            transaction
                .execute(
                    "INSERT INTO alerts (created_at_ms, severity, rule_id, decision_id, user_id, ip, message)
                     SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                     ON CONFLICT (decision_id, rule_id) DO NOTHING",
                    &[&times, &severities, &rules, &decisions, &users, &ips, &messages],
                )
                .map_err(db(operation))?;
        }
        Ok(())
    }
}

/// Seals `event`'s personal fields under the active key; whether anything changed.
fn reseal(event: &mut Event, keyring: &Keyring) -> StoreResult<bool> {
    let active = keyring.active_id();
    let mut changed = false;
    for_each_personal_field(event, &mut |_, text| {
        let resealed = match Keyring::key_of(text) {
            Some(id) if id == active => None,
            Some(_) => Some(keyring.seal(&keyring.open(text)?)?),
            None => Some(keyring.seal(text)?),
        };
        if let Some(resealed) = resealed {
            *text = resealed;
            changed = true;
        }
        Ok::<(), StoreError>(())
    })?;
    Ok(changed)
}

/// The part of a query on decisions after `WHERE`, with its parameters: the time bounds
/// (the caller's, so that they live as long as the parameters), the entity, outcome and rule
/// filters, and the cursor when `with_cursor`.
fn filter_sql<'a>(
    query: &'a DecisionQuery,
    from_ms: &'a i64,
    to_ms: &'a i64,
    with_cursor: bool,
) -> (String, Vec<&'a (dyn ToSql + Sync)>) {
    let mut sql = String::from("occurred_at_ms >= $1 AND occurred_at_ms < $2");
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![from_ms, to_ms];
    let filters = [
        ("user_id", &query.user_id),
        ("ip", &query.ip),
        ("device_id", &query.device_id),
        ("outcome", &query.outcome),
    ];
    let mut entity_keys = Vec::new();
    for (column, value) in filters {
        if let Some(value) = value {
            params.push(value);
            let position = params.len();
            sql.push_str(&format!(" AND {column} = ${position}"));
            if let Some(seed) = entity_seed(column) {
                entity_keys.push(format!("hashtextextended(${position}, {seed})"));
            }
        }
    }
    if !entity_keys.is_empty() {
        // Through the GIN index; the equalities above drop any hash collision.
        sql.push_str(&format!(
            " AND {ENTITY_KEYS} @> ARRAY[{}]",
            entity_keys.join(", ")
        ));
    }
    if let Some(rule_id) = &query.rule_id {
        params.push(rule_id);
        sql.push_str(&format!(" AND ${} = ANY(matched_rules)", params.len()));
    }
    if let Some(before_id) = query.before_id.as_ref().filter(|_| with_cursor) {
        // An unknown id makes the bound NULL, which no row passes: an empty page.
        params.push(before_id);
        sql.push_str(&format!(
            " AND seq < (SELECT seq FROM decisions WHERE decision_id = ${})",
            params.len()
        ));
    }
    (sql, params)
}

/// The statement answering `query` and its parameters (the time bounds and the limit are
/// the caller's, so that they live as long as the parameters).
fn query_sql<'a>(
    query: &'a DecisionQuery,
    from_ms: &'a i64,
    to_ms: &'a i64,
    limit: &'a i64,
) -> (String, Vec<&'a (dyn ToSql + Sync)>) {
    let (filter, mut params) = filter_sql(query, from_ms, to_ms, true);
    params.push(limit);
    let sql = format!(
        "SELECT record FROM decisions WHERE {filter} ORDER BY seq DESC LIMIT ${}",
        params.len()
    );
    (sql, params)
}

impl PostgresStore {
    /// The plan PostgreSQL makes for `query` (`EXPLAIN`), with sequential scans ruled out
    /// when `no_seq_scan`, as on a table too large to read whole: shows which index a
    /// lookup uses.
    pub fn explain_decision_query(
        &self,
        query: &DecisionQuery,
        no_seq_scan: bool,
    ) -> StoreResult<String> {
        let operation = "explaining a decision query";
        let limit = i64::from(query.limit.clamp(1, 1_000));
        let from_ms = query.from_ms.unwrap_or(i64::MIN);
        let to_ms = query.to_ms.unwrap_or(i64::MAX);
        let (sql, params) = query_sql(query, &from_ms, &to_ms, &limit);
        let mut client = self.client(operation)?;
        let mut transaction = client.transaction().map_err(db(operation))?;
        if no_seq_scan {
            transaction
                // Plain index scans off too: on a small table the planner walks the primary
                // key backwards under the LIMIT; the question here is whether the query's
                // expression can use the entity index at all (a bitmap scan).
                .batch_execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off")
                .map_err(db(operation))?;
        }
        let rows = transaction
            .query(&format!("EXPLAIN {sql}"), &params)
            .map_err(db(operation))?;
        let plan: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
        transaction.rollback().map_err(db(operation))?;
        Ok(plan.join("\n"))
    }
}

impl DecisionStore for PostgresStore {
    fn append_decisions(&self, batches: &[LogBatch]) -> StoreResult<()> {
        let operation = "appending to the decision log";
        if batches.iter().any(|batch| !batch.is_sealed()) {
            return Err(StoreError::Conflict(
                "this decision log encrypts personal fields: its batches must come from \
                 LogBatch::new with the store's keyring"
                    .into(),
            ));
        }
        let mut rows = Vec::with_capacity(batches.iter().map(LogBatch::len).sum());
        for (at_ms, record) in batches.iter().flat_map(LogBatch::records_with_times) {
            let decoded = decode(record, operation)?;
            let matched_rules: Vec<String> = decoded
                .decision
                .matched
                .iter()
                .chain(&decoded.decision.shadow_matched)
                .map(|rule| rule.rule_id.clone())
                .collect();
            debug_assert!(
                matched_rules
                    .iter()
                    .all(|rule| !rule.contains(RULE_SEPARATOR)),
                "rule ids never hold the separator"
            );
            rows.push(DecisionRow {
                at_ms,
                matched_rules: (!matched_rules.is_empty()).then_some(matched_rules),
                outcome: decoded.decision.outcome.as_str(),
                ip: decoded.event.ip.map(|ip| ip.to_string()),
                device_id: decoded.event.device_id,
                user_id: decoded.decision.user_id,
                decision_id: decoded.decision.decision_id,
                record,
            });
        }
        let mut client = self.client(operation)?;
        if !self.append_rows(&mut client, batches, &rows, Insert::Copy, operation)? {
            // A retried batch: some of it is stored already.
            self.append_rows(&mut client, batches, &rows, Insert::SkipExisting, operation)?;
        }
        Ok(())
    }

    fn decision(&self, decision_id: &str) -> StoreResult<Option<DecisionRecord>> {
        let operation = "reading a decision";
        let row = self
            .client(operation)?
            .query_opt(
                "SELECT record FROM decisions WHERE decision_id = $1",
                &[&decision_id],
            )
            .map_err(db(operation))?;
        row.map(|row| self.decode_open(row.get(0), operation))
            .transpose()
    }

    fn query_decisions(&self, query: &DecisionQuery) -> StoreResult<Vec<DecisionRecord>> {
        let operation = "querying decisions";
        let limit = i64::from(query.limit.clamp(1, 1_000));
        let from_ms = query.from_ms.unwrap_or(i64::MIN);
        let to_ms = query.to_ms.unwrap_or(i64::MAX);
        let (sql, params) = query_sql(query, &from_ms, &to_ms, &limit);
        let rows = self
            .client(operation)?
            .query(&sql, &params)
            .map_err(db(operation))?;
        rows.iter()
            .map(|row| self.decode_open(row.get(0), operation))
            .collect()
    }

    /// Counts at most `cap + 1` rows (`LIMIT` in a subquery), so that PostgreSQL stops
    /// there. With a user, IP or device the rows come through the entity index; without, a
    /// count with an outcome or rule filter reads the table until `cap + 1` rows match.
    fn count_decisions(&self, query: &DecisionQuery, cap: u64) -> StoreResult<(u64, bool)> {
        let operation = "counting decisions";
        let from_ms = query.from_ms.unwrap_or(i64::MIN);
        let to_ms = query.to_ms.unwrap_or(i64::MAX);
        let (filter, mut params) = filter_sql(query, &from_ms, &to_ms, false);
        let limit = i64::try_from(cap.saturating_add(1)).unwrap_or(i64::MAX);
        params.push(&limit);
        let sql = format!(
            "SELECT count(*) FROM (SELECT 1 FROM decisions WHERE {filter} LIMIT ${}) AS matching",
            params.len()
        );
        let count: i64 = self
            .client(operation)?
            .query_one(&sql, &params)
            .map_err(db(operation))?
            .get(0);
        let count = count as u64;
        Ok((count.min(cap), count > cap))
    }

    fn query_alerts(
        &self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AlertRecord>> {
        let operation = "querying alerts";
        let rows = self
            .client(operation)?
            .query(
                "SELECT seq, created_at_ms, severity, rule_id, decision_id, user_id, ip, message FROM alerts
                 WHERE created_at_ms >= $1 AND created_at_ms < $2 ORDER BY created_at_ms DESC, seq DESC LIMIT $3",
                &[
                    &from_ms.unwrap_or(i64::MIN),
                    &to_ms.unwrap_or(i64::MAX),
                    &i64::from(limit.clamp(1, 1_000)),
                ],
            )
            .map_err(db(operation))?;
        Ok(rows
            .iter()
            .map(|row| AlertRecord {
                seq: row.get(0),
                created_at_ms: row.get(1),
                severity: row.get(2),
                rule_id: row.get(3),
                decision_id: row.get(4),
                user_id: row.get(5),
                ip: row.get(6),
                message: row.get(7),
            })
            .collect())
    }

    fn purge_decisions_before(&self, cutoff_ms: i64) -> StoreResult<usize> {
        let operation = "purging old decisions";
        let mut client = self.client(operation)?;
        let mut transaction = client.transaction().map_err(db(operation))?;
        let removed = transaction
            .execute(
                "DELETE FROM decisions WHERE occurred_at_ms < $1",
                &[&cutoff_ms],
            )
            .map_err(db(operation))?;
        // Their triage state and notes first: they refer to the alerts.
        alerts::purge_before(&mut transaction, cutoff_ms, operation)?;
        transaction
            .execute("DELETE FROM alerts WHERE created_at_ms < $1", &[&cutoff_ms])
            .map_err(db(operation))?;
        transaction.commit().map_err(db(operation))?;
        Ok(removed as usize)
    }

    fn decision_count(&self) -> StoreResult<u64> {
        let operation = "counting decisions";
        let count: i64 = self
            .client(operation)?
            .query_one("SELECT count(*) FROM decisions", &[])
            .map_err(db(operation))?
            .get(0);
        Ok(count as u64)
    }

    fn reencrypt_decisions(&self, progress: &mut dyn FnMut(usize, usize)) -> StoreResult<u64> {
        let operation = "re-encrypting decisions";
        let mut client = self.client(operation)?;
        let total: i64 = client
            .query_one("SELECT count(*) FROM decisions", &[])
            .map_err(db(operation))?
            .get(0);
        let total = total as usize;
        let mut done = 0usize;
        let mut changed = 0u64;
        let mut after = 0i64;
        progress(0, total);
        loop {
            let mut transaction = client.transaction().map_err(db(operation))?;
            let rows = transaction
                .query(
                    "SELECT seq, record FROM decisions WHERE seq > $1 ORDER BY seq LIMIT $2 FOR UPDATE",
                    &[&after, &REENCRYPT_CHUNK],
                )
                .map_err(db(operation))?;
            let Some(last) = rows.last() else {
                break;
            };
            after = last.get(0);
            let mut seqs = Vec::new();
            let mut records = Vec::new();
            for row in &rows {
                let mut record = decode(row.get(1), operation)?;
                if reseal(&mut record.event, &self.keyring)? {
                    let mut body = Vec::new();
                    encode_record(&mut body, &record.decision, &record.event).map_err(|error| {
                        StoreError::Corrupt {
                            operation,
                            detail: error.to_string(),
                        }
                    })?;
                    seqs.push(row.get::<_, i64>(0));
                    records.push(body);
                }
            }
            transaction
                .execute(
                    "UPDATE decisions SET record = changed.record
                     FROM unnest($1::bigint[], $2::bytea[]) AS changed(seq, record)
                     WHERE decisions.seq = changed.seq",
                    &[&seqs, &records],
                )
                .map_err(db(operation))?;
            transaction.commit().map_err(db(operation))?;
            changed += seqs.len() as u64;
            done += rows.len();
            progress(done.min(total), total);
        }
        Ok(changed)
    }
}
