//! Alert triage in PostgreSQL: `alert_triage` and `alert_notes` beside `alerts`
//! (migration 8).
//!
//! The queue's filters are one statement whose absent filters are `NULL` parameters
//! (`$n IS NULL OR …`), so every query is the same prepared, parameterised text. A change
//! is compare and set on the row's version: under read committed, a concurrent change
//! waits for the first to commit, then finds the version moved and changes nothing.

use postgres::{GenericClient, Row, Transaction};

use super::{db, PostgresStore};
use crate::alerts::{
    AlertChange, AlertCount, AlertDetail, AlertFilter, AlertNote, AlertStatus, AlertStore,
    AlertTriage, TriagedAlert, ALERT_COUNT_CAP,
};
use crate::decisions::AlertRecord;
use crate::{NewAuditEntry, StoreError, StoreResult};

/// The columns of a triaged alert, in the order [`triaged_from_row`] reads them.
const COLUMNS: &str =
    "a.seq, a.created_at_ms, a.severity, a.rule_id, a.decision_id, a.user_id, a.ip, a.message,
     t.status, t.assignee, t.version, t.updated_at_ms, t.updated_by";

/// The filter of the queue and the count: $1 from, $2 to, $3 status code, $4 assignee mode,
/// $5 assignee, $6 severity, $7 rule, $8 before seq.
const FILTER: &str = "a.created_at_ms >= $1 AND a.created_at_ms < $2
     AND ($3::smallint IS NULL OR COALESCE(t.status, 1) = $3::smallint)
     AND ($4::int = 0 OR ($4::int = 1 AND t.assignee IS NULL) OR ($4::int = 2 AND t.assignee = $5::text))
     AND ($6::text IS NULL OR a.severity = $6::text)
     AND ($7::text IS NULL OR a.rule_id = $7::text)
     AND a.seq < $8";

fn triaged_from_row(row: &Row, operation: &'static str) -> StoreResult<TriagedAlert> {
    let alert = AlertRecord {
        seq: row.get(0),
        created_at_ms: row.get(1),
        severity: row.get(2),
        rule_id: row.get(3),
        decision_id: row.get(4),
        user_id: row.get(5),
        ip: row.get(6),
        message: row.get(7),
    };
    let status = match row.get::<_, Option<i16>>(8) {
        None => AlertStatus::Open,
        Some(code) => status_of(alert.seq, code, operation)?,
    };
    let triage = AlertTriage {
        status,
        assignee: row.get(9),
        version: row.get::<_, Option<i64>>(10).unwrap_or(0),
        updated_at_ms: row.get(11),
        updated_by: row.get(12),
    };
    Ok(TriagedAlert { alert, triage })
}

/// The status stored as `code` for alert `seq`; an unknown code is corruption.
fn status_of(seq: i64, code: i16, operation: &'static str) -> StoreResult<AlertStatus> {
    u8::try_from(code)
        .ok()
        .and_then(AlertStatus::from_code)
        .ok_or_else(|| StoreError::Corrupt {
            operation,
            detail: format!("alert {seq} has unknown status code {code}"),
        })
}

/// Appends a note to alert `seq` (inside the caller's transaction).
fn insert_note(
    transaction: &mut Transaction<'_>,
    seq: i64,
    note: &AlertNote,
    operation: &'static str,
) -> StoreResult<()> {
    let status = note.status.map(|status| i16::from(status.code()));
    transaction
        .execute(
            "INSERT INTO alert_notes (seq, author, status, at_ms, text) VALUES ($1, $2, $3, $4, $5)",
            &[&seq, &note.author, &status, &note.at_ms, &note.text],
        )
        .map_err(db(operation))?;
    Ok(())
}

/// `NotFound` unless alert `seq` exists (inside the caller's transaction).
fn require_alert(
    transaction: &mut Transaction<'_>,
    seq: i64,
    operation: &'static str,
) -> StoreResult<()> {
    let found = transaction
        .query_opt("SELECT 1 FROM alerts WHERE seq = $1", &[&seq])
        .map_err(db(operation))?;
    found
        .map(|_| ())
        .ok_or_else(|| StoreError::NotFound(format!("alert {seq}")))
}

/// Deletes the triage rows and notes of alerts created before `cutoff_ms` (inside the
/// purge's transaction, before the alerts themselves).
pub(super) fn purge_before(
    client: &mut impl GenericClient,
    cutoff_ms: i64,
    operation: &'static str,
) -> StoreResult<()> {
    for statement in [
        "DELETE FROM alert_notes WHERE seq IN (SELECT seq FROM alerts WHERE created_at_ms < $1)",
        "DELETE FROM alert_triage WHERE seq IN (SELECT seq FROM alerts WHERE created_at_ms < $1)",
    ] {
        client
            .execute(statement, &[&cutoff_ms])
            .map_err(db(operation))?;
    }
    Ok(())
}

/// The filter's values, bound as $1 to $8.
struct FilterValues<'a> {
    from_ms: i64,
    to_ms: i64,
    status: Option<i16>,
    mode: i32,
    assignee: Option<&'a str>,
    severity: Option<&'a str>,
    rule_id: Option<&'a str>,
    before_seq: i64,
}

impl<'a> FilterValues<'a> {
    fn of(filter: &'a AlertFilter, paged: bool) -> FilterValues<'a> {
        let (mode, assignee) = filter.assignee_mode();
        FilterValues {
            from_ms: filter.from_ms.unwrap_or(i64::MIN),
            to_ms: filter.to_ms.unwrap_or(i64::MAX),
            status: filter.status.map(|status| i16::from(status.code())),
            mode,
            assignee,
            severity: filter.severity.as_deref(),
            rule_id: filter.rule_id.as_deref(),
            before_seq: filter.before_seq.filter(|_| paged).unwrap_or(i64::MAX),
        }
    }
}

impl AlertStore for PostgresStore {
    fn alert(&self, seq: i64) -> StoreResult<Option<AlertDetail>> {
        let operation = "reading an alert";
        let mut client = self.client(operation)?;
        // One snapshot for the alert and its notes.
        let mut transaction = client
            .build_transaction()
            .read_only(true)
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .start()
            .map_err(db(operation))?;
        let row = transaction
            .query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM alerts a LEFT JOIN alert_triage t ON t.seq = a.seq WHERE a.seq = $1"
                ),
                &[&seq],
            )
            .map_err(db(operation))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let TriagedAlert { alert, triage } = triaged_from_row(&row, operation)?;
        let notes = transaction
            .query(
                "SELECT author, at_ms, text, status FROM alert_notes WHERE seq = $1 ORDER BY id",
                &[&seq],
            )
            .map_err(db(operation))?
            .iter()
            .map(|row| {
                Ok(AlertNote {
                    author: row.get(0),
                    at_ms: row.get(1),
                    text: row.get(2),
                    status: row
                        .get::<_, Option<i16>>(3)
                        .map(|code| status_of(seq, code, operation))
                        .transpose()?,
                })
            })
            .collect::<StoreResult<_>>()?;
        transaction.commit().map_err(db(operation))?;
        Ok(Some(AlertDetail {
            alert,
            triage,
            notes,
        }))
    }

    fn alert_queue(&self, filter: &AlertFilter) -> StoreResult<Vec<TriagedAlert>> {
        let operation = "reading the alert queue";
        let values = FilterValues::of(filter, true);
        let limit = i64::from(filter.bounded_limit());
        let rows = self
            .client(operation)?
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM alerts a LEFT JOIN alert_triage t ON t.seq = a.seq
                     WHERE {FILTER} ORDER BY a.seq DESC LIMIT $9"
                ),
                &[
                    &values.from_ms,
                    &values.to_ms,
                    &values.status,
                    &values.mode,
                    &values.assignee,
                    &values.severity,
                    &values.rule_id,
                    &values.before_seq,
                    &limit,
                ],
            )
            .map_err(db(operation))?;
        rows.iter()
            .map(|row| triaged_from_row(row, operation))
            .collect()
    }

    fn count_alerts(&self, filter: &AlertFilter) -> StoreResult<AlertCount> {
        let operation = "counting alerts";
        let values = FilterValues::of(filter, false);
        let cap = ALERT_COUNT_CAP as i64 + 1;
        let counted: i64 = self
            .client(operation)?
            .query_one(
                &format!(
                    "SELECT count(*) FROM (SELECT 1 FROM alerts a LEFT JOIN alert_triage t ON t.seq = a.seq
                     WHERE {FILTER} LIMIT $9) AS matching"
                ),
                &[
                    &values.from_ms,
                    &values.to_ms,
                    &values.status,
                    &values.mode,
                    &values.assignee,
                    &values.severity,
                    &values.rule_id,
                    &values.before_seq,
                    &cap,
                ],
            )
            .map_err(db(operation))?
            .get(0);
        Ok(AlertCount::of(u64::try_from(counted).unwrap_or(0)))
    }

    fn change_alert(
        &self,
        seq: i64,
        expected_version: i64,
        change: &AlertChange<'_>,
        audit: &NewAuditEntry,
    ) -> StoreResult<Option<i64>> {
        let operation = "changing an alert";
        self.audited(operation, |transaction| {
            require_alert(transaction, seq, operation)?;
            let status = i16::from(change.status.code());
            let changed = if expected_version == 0 {
                // Untouched until now: the first change creates the row, unless another
                // change created it meanwhile.
                transaction
                    .execute(
                        "INSERT INTO alert_triage (seq, status, assignee, version, updated_at_ms, updated_by)
                         VALUES ($1, $2, $3, 1, $4, $5) ON CONFLICT (seq) DO NOTHING",
                        &[&seq, &status, &change.assignee, &change.at_ms, &change.by],
                    )
                    .map_err(db(operation))?
            } else {
                transaction
                    .execute(
                        "UPDATE alert_triage SET status = $2, assignee = $3, version = version + 1,
                         updated_at_ms = $4, updated_by = $5 WHERE seq = $1 AND version = $6",
                        &[
                            &seq,
                            &status,
                            &change.assignee,
                            &change.at_ms,
                            &change.by,
                            &expected_version,
                        ],
                    )
                    .map_err(db(operation))?
            };
            if changed == 1 {
                if let Some(note) = change.note {
                    insert_note(transaction, seq, note, operation)?;
                }
                Ok((
                    Some(expected_version.saturating_add(1)),
                    Some(audit.clone()),
                ))
            } else {
                Ok((None, None))
            }
        })
    }

    fn add_alert_note(&self, seq: i64, note: &AlertNote, audit: &NewAuditEntry) -> StoreResult<()> {
        let operation = "adding an alert note";
        self.audited(operation, |transaction| {
            require_alert(transaction, seq, operation)?;
            insert_note(transaction, seq, note, operation)?;
            Ok(((), Some(audit.clone())))
        })
    }
}
