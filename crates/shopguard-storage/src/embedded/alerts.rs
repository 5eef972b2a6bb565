//! Alert triage in SQLite: `alert_triage` and `alert_notes` beside `alerts` (migration 12).
//!
//! The queue's filters are one statement whose absent filters are `NULL` parameters
//! (`?n IS NULL OR …`), so every query is the same prepared, parameterised text.

use rusqlite::{params, OptionalExtension, Transaction};

use super::{db, EmbeddedStore};
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

/// The filter of the queue and the count: ?1 from, ?2 to, ?3 status code, ?4 assignee mode,
/// ?5 assignee, ?6 severity, ?7 rule, ?8 before seq.
const FILTER: &str = "a.created_at_ms >= ?1 AND a.created_at_ms < ?2
     AND (?3 IS NULL OR COALESCE(t.status, 1) = ?3)
     AND (?4 = 0 OR (?4 = 1 AND t.assignee IS NULL) OR (?4 = 2 AND t.assignee = ?5))
     AND (?6 IS NULL OR a.severity = ?6)
     AND (?7 IS NULL OR a.rule_id = ?7)
     AND a.seq < ?8";

fn triaged_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(TriagedAlert, Option<i64>)> {
    let status: Option<i64> = row.get(8)?;
    let version: Option<i64> = row.get(10)?;
    let alert = AlertRecord {
        seq: row.get(0)?,
        created_at_ms: row.get(1)?,
        severity: row.get(2)?,
        rule_id: row.get(3)?,
        decision_id: row.get(4)?,
        user_id: row.get(5)?,
        ip: row.get(6)?,
        message: row.get(7)?,
    };
    let triage = AlertTriage {
        status: AlertStatus::Open,
        assignee: row.get(9)?,
        version: version.unwrap_or(0),
        updated_at_ms: row.get(11)?,
        updated_by: row.get(12)?,
    };
    Ok((TriagedAlert { alert, triage }, status))
}

/// Reads the stored status code into the row's triage state; an unknown code is corruption.
fn with_status(
    (mut row, status): (TriagedAlert, Option<i64>),
    operation: &'static str,
) -> StoreResult<TriagedAlert> {
    if let Some(code) = status {
        row.triage.status = status_of(row.alert.seq, code, operation)?;
    }
    Ok(row)
}

/// The status stored as `code` for alert `seq`; an unknown code is corruption.
fn status_of(seq: i64, code: i64, operation: &'static str) -> StoreResult<AlertStatus> {
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
    transaction: &Transaction<'_>,
    seq: i64,
    note: &AlertNote,
    operation: &'static str,
) -> StoreResult<()> {
    transaction
        .execute(
            "INSERT INTO alert_notes (seq, author, status, at_ms, text) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                seq,
                note.author,
                note.status.map(|status| i64::from(status.code())),
                note.at_ms,
                note.text
            ],
        )
        .map_err(db(operation))?;
    Ok(())
}

/// `NotFound` unless alert `seq` exists (inside the caller's transaction).
fn require_alert(
    transaction: &Transaction<'_>,
    seq: i64,
    operation: &'static str,
) -> StoreResult<()> {
    let exists = transaction
        .query_row("SELECT 1 FROM alerts WHERE seq = ?1", [seq], |_| Ok(()))
        .optional()
        .map_err(db(operation))?;
    exists.ok_or_else(|| StoreError::NotFound(format!("alert {seq}")))
}

/// Deletes the triage rows and notes of alerts created before `cutoff_ms` (inside the
/// purge's transaction, before the alerts themselves).
pub(super) fn purge_before(
    transaction: &Transaction<'_>,
    cutoff_ms: i64,
    operation: &'static str,
) -> StoreResult<()> {
    for statement in [
        "DELETE FROM alert_notes WHERE seq IN (SELECT seq FROM alerts WHERE created_at_ms < ?1)",
        "DELETE FROM alert_triage WHERE seq IN (SELECT seq FROM alerts WHERE created_at_ms < ?1)",
    ] {
        transaction
            .execute(statement, [cutoff_ms])
            .map_err(db(operation))?;
    }
    Ok(())
}

/// The filter's parameters ?1 to ?8.
fn filter_params(filter: &AlertFilter) -> [rusqlite::types::Value; 8] {
    use rusqlite::types::Value;
    let text = |value: &Option<String>| value.clone().map_or(Value::Null, Value::Text);
    let (mode, assignee) = filter.assignee_mode();
    [
        Value::Integer(filter.from_ms.unwrap_or(i64::MIN)),
        Value::Integer(filter.to_ms.unwrap_or(i64::MAX)),
        filter.status.map_or(Value::Null, |status| {
            Value::Integer(i64::from(status.code()))
        }),
        Value::Integer(i64::from(mode)),
        assignee.map_or(Value::Null, |name| Value::Text(name.to_owned())),
        text(&filter.severity),
        text(&filter.rule_id),
        Value::Integer(filter.before_seq.unwrap_or(i64::MAX)),
    ]
}

impl AlertStore for EmbeddedStore {
    fn alert(&self, seq: i64) -> StoreResult<Option<AlertDetail>> {
        let operation = "reading an alert";
        self.read(|connection| {
            let row = connection
                .query_row(
                    &format!(
                        "SELECT {COLUMNS} FROM alerts a LEFT JOIN alert_triage t ON t.seq = a.seq WHERE a.seq = ?1"
                    ),
                    [seq],
                    triaged_from_row,
                )
                .optional()
                .map_err(db(operation))?;
            let Some(row) = row else {
                return Ok(None);
            };
            let TriagedAlert { alert, triage } = with_status(row, operation)?;
            let mut statement = connection
                .prepare_cached(
                    "SELECT author, at_ms, text, status FROM alert_notes WHERE seq = ?1 ORDER BY id",
                )
                .map_err(db(operation))?;
            let rows: Vec<(AlertNote, Option<i64>)> = statement
                .query_map([seq], |row| {
                    Ok((
                        AlertNote {
                            author: row.get(0)?,
                            at_ms: row.get(1)?,
                            text: row.get(2)?,
                            status: None,
                        },
                        row.get(3)?,
                    ))
                })
                .map_err(db(operation))?
                .collect::<Result<_, _>>()
                .map_err(db(operation))?;
            let notes = rows
                .into_iter()
                .map(|(mut note, code)| {
                    note.status = code.map(|code| status_of(seq, code, operation)).transpose()?;
                    Ok(note)
                })
                .collect::<StoreResult<_>>()?;
            Ok(Some(AlertDetail {
                alert,
                triage,
                notes,
            }))
        })
    }

    fn alert_queue(&self, filter: &AlertFilter) -> StoreResult<Vec<TriagedAlert>> {
        let operation = "reading the alert queue";
        let [p1, p2, p3, p4, p5, p6, p7, p8] = filter_params(filter);
        let limit = i64::from(filter.bounded_limit());
        let rows: Vec<(TriagedAlert, Option<i64>)> = self.read(|connection| {
            let mut statement = connection
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM alerts a LEFT JOIN alert_triage t ON t.seq = a.seq
                     WHERE {FILTER} ORDER BY a.seq DESC LIMIT ?9"
                ))
                .map_err(db(operation))?;
            let rows = statement
                .query_map(
                    params![p1, p2, p3, p4, p5, p6, p7, p8, limit],
                    triaged_from_row,
                )
                .map_err(db(operation))?;
            rows.collect::<Result<_, _>>().map_err(db(operation))
        })?;
        rows.into_iter()
            .map(|row| with_status(row, operation))
            .collect()
    }

    fn count_alerts(&self, filter: &AlertFilter) -> StoreResult<AlertCount> {
        let operation = "counting alerts";
        let unpaged = AlertFilter {
            before_seq: None,
            ..filter.clone()
        };
        let [p1, p2, p3, p4, p5, p6, p7, p8] = filter_params(&unpaged);
        let counted: i64 = self.read(|connection| {
            let mut statement = connection
                .prepare_cached(&format!(
                    "SELECT count(*) FROM (SELECT 1 FROM alerts a LEFT JOIN alert_triage t ON t.seq = a.seq
                     WHERE {FILTER} LIMIT ?9)"
                ))
                .map_err(db(operation))?;
            statement
                .query_row(
                    params![p1, p2, p3, p4, p5, p6, p7, p8, ALERT_COUNT_CAP as i64 + 1],
                    |row| row.get(0),
                )
                .map_err(db(operation))
        })?;
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
            let status = i64::from(change.status.code());
            let changed = if expected_version == 0 {
                // Untouched until now: the first change creates the row, unless another
                // change created it meanwhile.
                transaction
                    .execute(
                        "INSERT INTO alert_triage (seq, status, assignee, version, updated_at_ms, updated_by)
                         VALUES (?1, ?2, ?3, 1, ?4, ?5) ON CONFLICT (seq) DO NOTHING",
                        params![seq, status, change.assignee, change.at_ms, change.by],
                    )
                    .map_err(db(operation))?
            } else {
                transaction
                    .execute(
                        "UPDATE alert_triage SET status = ?2, assignee = ?3, version = version + 1,
                         updated_at_ms = ?4, updated_by = ?5 WHERE seq = ?1 AND version = ?6",
                        params![
                            seq,
                            status,
                            change.assignee,
                            change.at_ms,
                            change.by,
                            expected_version
                        ],
                    )
                    .map_err(db(operation))?
            };
            if changed == 1 {
                if let Some(note) = change.note {
                    insert_note(transaction, seq, note, operation)?;
                }
                Ok((Some(expected_version.saturating_add(1)), Some(audit.clone())))
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
