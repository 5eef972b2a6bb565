//! Incidents in SQLite (migration 13): `incidents`, `incident_history`, `incident_alerts`
//! and `incident_observables` (see [`crate::incidents`]).
//!
//! A write runs in the one writer's transaction: it checks everything that could refuse it
//! first (the version, the alerts, the deduplication key), then writes the row, its side
//! tables, its history and its audit entry; a refused write rolls back and writes nothing.

use rusqlite::{params, OptionalExtension, Transaction};

use super::{audit_outbox, db, EmbeddedStore};
use crate::incidents::{
    history_json, history_value, HistoryEntry, Incident, IncidentCount, IncidentFilter,
    IncidentRow, IncidentStore, IncidentWrite, CLOSED_STATUS_MIN, INCIDENT_COLUMNS,
    INCIDENT_COUNT_CAP,
};
use crate::{NewAuditEntry, StoreError, StoreResult};

/// The filter of the list and the count: ?1 status, ?2 level, ?3 category, ?4 assignee mode,
/// ?5 assignee, ?6 drill, ?7 reported from, ?8 reported to, ?9 observable kind,
/// ?10 observable value, ?11 before id.
const FILTER: &str = "(?1 IS NULL OR status = ?1)
     AND (?2 IS NULL OR effective_level = ?2)
     AND (?3 IS NULL OR category = ?3)
     AND (?4 = 0 OR (?4 = 1 AND assignee IS NULL) OR (?4 = 2 AND assignee = ?5))
     AND (?6 IS NULL OR is_drill = ?6)
     AND reported_at_ms >= ?7 AND reported_at_ms < ?8
     AND (?9 IS NULL OR id IN (SELECT incident_id FROM incident_observables WHERE kind = ?9 AND value = ?10))
     AND id < ?11";

fn row_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<IncidentRow> {
    Ok(IncidentRow {
        id: row.get(0)?,
        title: row.get(1)?,
        category: row.get(2)?,
        tags: row.get(3)?,
        status: row.get(4)?,
        verdict: row.get(5)?,
        importance: row.get(6)?,
        loss: row.get(7)?,
        affected_users: row.get(8)?,
        platform_users: row.get(9)?,
        computed_level: row.get(10)?,
        grade_reasons: row.get(11)?,
        override_level: row.get(12)?,
        override_reason: row.get(13)?,
        effective_level: row.get(14)?,
        reporter: row.get(15)?,
        discovered_at_ms: row.get(16)?,
        reported_at_ms: row.get(17)?,
        affected_systems: row.get(18)?,
        description: row.get(19)?,
        evidence: row.get(20)?,
        observables: row.get(21)?,
        unsure_of_level: row.get(22)?,
        assignee: row.get(23)?,
        dedup_key: row.get(24)?,
        is_drill: row.get(25)?,
        reassessed_at_ms: row.get(26)?,
        reassessed_by: row.get(27)?,
        escalated_at_ms: row.get(28)?,
        escalated_by: row.get(29)?,
        review_summary: row.get(30)?,
        created_at_ms: row.get(31)?,
        updated_at_ms: row.get(32)?,
        version: row.get(33)?,
    })
}

fn filter_params(filter: &IncidentFilter, paged: bool) -> [rusqlite::types::Value; 11] {
    use rusqlite::types::Value;
    let code = |code: Option<u8>| code.map_or(Value::Null, |code| Value::Integer(i64::from(code)));
    let (mode, assignee) = filter.assignee_mode();
    [
        code(filter.status.map(|status| status.code())),
        code(filter.level.map(|level| level.code())),
        code(filter.category.map(|category| category.code())),
        Value::Integer(i64::from(mode)),
        assignee.map_or(Value::Null, |name| Value::Text(name.to_owned())),
        filter
            .drill
            .map_or(Value::Null, |drill| Value::Integer(i64::from(drill))),
        Value::Integer(filter.reported_from_ms.unwrap_or(i64::MIN)),
        Value::Integer(filter.reported_to_ms.unwrap_or(i64::MAX)),
        code(filter.observable.as_ref().map(|o| o.kind.code())),
        filter
            .observable
            .as_ref()
            .map_or(Value::Null, |o| Value::Text(o.value.clone())),
        Value::Integer(filter.before_id.filter(|_| paged).unwrap_or(i64::MAX)),
    ]
}

fn alerts_of(
    connection: &rusqlite::Connection,
    id: i64,
    operation: &'static str,
) -> StoreResult<Vec<i64>> {
    let mut statement = connection
        .prepare_cached("SELECT seq FROM incident_alerts WHERE incident_id = ?1 ORDER BY seq")
        .map_err(db(operation))?;
    let seqs = statement
        .query_map([id], |row| row.get(0))
        .map_err(db(operation))?
        .collect::<Result<Vec<i64>, _>>()
        .map_err(db(operation))?;
    Ok(seqs)
}

fn load(
    connection: &rusqlite::Connection,
    id: i64,
    operation: &'static str,
) -> StoreResult<Option<Incident>> {
    let row = connection
        .query_row(
            &format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?1"),
            [id],
            row_of,
        )
        .optional()
        .map_err(db(operation))?;
    match row {
        None => Ok(None),
        Some(row) => {
            let alerts = alerts_of(connection, id, operation)?;
            row.into_incident(alerts, operation).map(Some)
        }
    }
}

/// Checks the alerts `incident` links that are not linked to it yet: each must exist and
/// belong to no other incident. Returns the new ones, or the refusal.
fn new_alerts(
    transaction: &Transaction<'_>,
    incident: &Incident,
    id: Option<i64>,
    operation: &'static str,
) -> StoreResult<Result<Vec<i64>, IncidentWrite>> {
    let mut fresh = Vec::new();
    for seq in &incident.alerts {
        let owner: Option<i64> = transaction
            .query_row(
                "SELECT incident_id FROM incident_alerts WHERE seq = ?1",
                [seq],
                |row| row.get(0),
            )
            .optional()
            .map_err(db(operation))?;
        match owner {
            Some(owner) if Some(owner) == id => {}
            Some(owner) => {
                return Ok(Err(IncidentWrite::AlertLinked {
                    seq: *seq,
                    incident_id: owner,
                }))
            }
            None => {
                let exists = transaction
                    .query_row("SELECT 1 FROM alerts WHERE seq = ?1", [seq], |_| Ok(()))
                    .optional()
                    .map_err(db(operation))?;
                if exists.is_none() {
                    return Err(StoreError::NotFound(format!("alert {seq}")));
                }
                if !fresh.contains(seq) {
                    fresh.push(*seq);
                }
            }
        }
    }
    Ok(Ok(fresh))
}

/// The incident other than `id` that is not closed and holds `incident`'s key, if any.
fn dedup_holder(
    transaction: &Transaction<'_>,
    incident: &Incident,
    id: Option<i64>,
    operation: &'static str,
) -> StoreResult<Option<i64>> {
    let Some(key) = &incident.dedup_key else {
        return Ok(None);
    };
    if incident.status.is_closed() {
        return Ok(None);
    }
    transaction
        .query_row(
            "SELECT id FROM incidents WHERE dedup_key = ?1 AND status < ?2 AND id != ?3",
            params![key, CLOSED_STATUS_MIN, id.unwrap_or(0)],
            |row| row.get(0),
        )
        .optional()
        .map_err(db(operation))
}

/// Writes the side tables and history of incident `id` (inside the transaction).
fn write_children(
    transaction: &Transaction<'_>,
    id: i64,
    incident: &Incident,
    fresh_alerts: &[i64],
    history: &[HistoryEntry],
    operation: &'static str,
) -> StoreResult<()> {
    for seq in fresh_alerts {
        transaction
            .execute(
                "INSERT INTO incident_alerts (seq, incident_id, linked_at_ms) VALUES (?1, ?2, ?3)",
                params![seq, id, incident.updated_at_ms],
            )
            .map_err(db(operation))?;
    }
    transaction
        .execute(
            "DELETE FROM incident_observables WHERE incident_id = ?1",
            [id],
        )
        .map_err(db(operation))?;
    for observable in &incident.observables {
        transaction
            .execute(
                "INSERT INTO incident_observables (incident_id, kind, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
                params![id, i64::from(observable.kind.code()), observable.value],
            )
            .map_err(db(operation))?;
    }
    for entry in history {
        let (old, new) = history_json(entry);
        transaction
            .execute(
                "INSERT INTO incident_history (incident_id, version, at_ms, actor, action, field, old_value, new_value, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    id,
                    entry.version,
                    entry.at_ms,
                    entry.actor,
                    entry.action,
                    entry.field,
                    old,
                    new,
                    entry.reason
                ],
            )
            .map_err(db(operation))?;
    }
    Ok(())
}

impl EmbeddedStore {
    /// Runs an incident write in one transaction: committed with its audit entry when it
    /// answers `Done`, rolled back otherwise.
    fn incident_write(
        &self,
        operation: &'static str,
        work: impl FnOnce(&Transaction<'_>) -> StoreResult<(IncidentWrite, Option<NewAuditEntry>)>,
    ) -> StoreResult<IncidentWrite> {
        let mut writer = self.writer.lock();
        let transaction = writer.transaction().map_err(db(operation))?;
        let (outcome, audit) = work(&transaction)?;
        if !matches!(outcome, IncidentWrite::Done(_)) {
            // Dropping the transaction rolls it back.
            return Ok(outcome);
        }
        if let Some(entry) = audit {
            audit_outbox::insert(&transaction, &entry)?;
        }
        transaction.commit().map_err(db(operation))?;
        Ok(outcome)
    }
}

impl IncidentStore for EmbeddedStore {
    fn create_incident(
        &self,
        incident: &Incident,
        history: &[HistoryEntry],
        audit: &dyn Fn(i64) -> NewAuditEntry,
    ) -> StoreResult<IncidentWrite> {
        let operation = "creating an incident";
        self.incident_write(operation, |transaction| {
            let fresh = match new_alerts(transaction, incident, None, operation)? {
                Ok(fresh) => fresh,
                Err(refused) => return Ok((refused, None)),
            };
            if let Some(holder) = dedup_holder(transaction, incident, None, operation)? {
                return Ok((IncidentWrite::DedupTaken { incident_id: holder }, None));
            }
            let row = IncidentRow::of(incident);
            transaction
                .execute(
                    &format!(
                        "INSERT INTO incidents ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
                         ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28,
                         ?29, ?30, ?31, ?32, 1)",
                        INCIDENT_COLUMNS.trim_start_matches("id, ")
                    ),
                    params![
                        row.title,
                        row.category,
                        row.tags,
                        row.status,
                        row.verdict,
                        row.importance,
                        row.loss,
                        row.affected_users,
                        row.platform_users,
                        row.computed_level,
                        row.grade_reasons,
                        row.override_level,
                        row.override_reason,
                        row.effective_level,
                        row.reporter,
                        row.discovered_at_ms,
                        row.reported_at_ms,
                        row.affected_systems,
                        row.description,
                        row.evidence,
                        row.observables,
                        row.unsure_of_level,
                        row.assignee,
                        row.dedup_key,
                        row.is_drill,
                        row.reassessed_at_ms,
                        row.reassessed_by,
                        row.escalated_at_ms,
                        row.escalated_by,
                        row.review_summary,
                        row.created_at_ms,
                        row.updated_at_ms,
                    ],
                )
                .map_err(db(operation))?;
            let id = transaction.last_insert_rowid();
            write_children(transaction, id, incident, &fresh, history, operation)?;
            Ok((IncidentWrite::Done(id), Some(audit(id))))
        })
    }

    fn incident(&self, id: i64) -> StoreResult<Option<Incident>> {
        self.read(|connection| load(connection, id, "reading an incident"))
    }

    fn update_incident(
        &self,
        incident: &Incident,
        expected_version: i64,
        history: &[HistoryEntry],
        audit: &NewAuditEntry,
    ) -> StoreResult<IncidentWrite> {
        let operation = "changing an incident";
        let id = incident.id;
        self.incident_write(operation, |transaction| {
            let version: Option<i64> = transaction
                .query_row("SELECT version FROM incidents WHERE id = ?1", [id], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(db(operation))?;
            match version {
                None => return Err(StoreError::NotFound(format!("incident {id}"))),
                Some(version) if version != expected_version => {
                    return Ok((IncidentWrite::Stale, None))
                }
                Some(_) => {}
            }
            let fresh = match new_alerts(transaction, incident, Some(id), operation)? {
                Ok(fresh) => fresh,
                Err(refused) => return Ok((refused, None)),
            };
            if let Some(holder) = dedup_holder(transaction, incident, Some(id), operation)? {
                return Ok((IncidentWrite::DedupTaken { incident_id: holder }, None));
            }
            let row = IncidentRow::of(incident);
            let changed = transaction
                .execute(
                    "UPDATE incidents SET title = ?2, category = ?3, tags = ?4, status = ?5, verdict = ?6,
                     importance = ?7, loss = ?8, affected_users = ?9, platform_users = ?10,
                     computed_level = ?11, grade_reasons = ?12, override_level = ?13,
                     override_reason = ?14, effective_level = ?15, reporter = ?16,
                     discovered_at_ms = ?17, reported_at_ms = ?18, affected_systems = ?19,
                     description = ?20, evidence = ?21, observables = ?22, unsure_of_level = ?23,
                     assignee = ?24, dedup_key = ?25, is_drill = ?26, reassessed_at_ms = ?27,
                     reassessed_by = ?28, escalated_at_ms = ?29, escalated_by = ?30,
                     review_summary = ?31, updated_at_ms = ?32, version = version + 1
                     WHERE id = ?1 AND version = ?33",
                    params![
                        id,
                        row.title,
                        row.category,
                        row.tags,
                        row.status,
                        row.verdict,
                        row.importance,
                        row.loss,
                        row.affected_users,
                        row.platform_users,
                        row.computed_level,
                        row.grade_reasons,
                        row.override_level,
                        row.override_reason,
                        row.effective_level,
                        row.reporter,
                        row.discovered_at_ms,
                        row.reported_at_ms,
                        row.affected_systems,
                        row.description,
                        row.evidence,
                        row.observables,
                        row.unsure_of_level,
                        row.assignee,
                        row.dedup_key,
                        row.is_drill,
                        row.reassessed_at_ms,
                        row.reassessed_by,
                        row.escalated_at_ms,
                        row.escalated_by,
                        row.review_summary,
                        row.updated_at_ms,
                        expected_version,
                    ],
                )
                .map_err(db(operation))?;
            if changed != 1 {
                return Ok((IncidentWrite::Stale, None));
            }
            write_children(transaction, id, incident, &fresh, history, operation)?;
            Ok((
                IncidentWrite::Done(expected_version.saturating_add(1)),
                Some(audit.clone()),
            ))
        })
    }

    fn list_incidents(&self, filter: &IncidentFilter) -> StoreResult<Vec<Incident>> {
        let operation = "listing incidents";
        let [p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11] = filter_params(filter, true);
        let limit = i64::from(filter.bounded_limit());
        self.read(|connection| {
            let rows: Vec<IncidentRow> = {
                let mut statement = connection
                    .prepare_cached(&format!(
                        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE {FILTER} ORDER BY id DESC LIMIT ?12"
                    ))
                    .map_err(db(operation))?;
                let rows = statement
                    .query_map(
                        params![p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, limit],
                        row_of,
                    )
                    .map_err(db(operation))?;
                rows.collect::<Result<_, _>>().map_err(db(operation))?
            };
            rows.into_iter()
                .map(|row| {
                    let alerts = alerts_of(connection, row.id, operation)?;
                    row.into_incident(alerts, operation)
                })
                .collect()
        })
    }

    fn count_incidents(&self, filter: &IncidentFilter) -> StoreResult<IncidentCount> {
        let operation = "counting incidents";
        let [p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11] = filter_params(filter, false);
        let counted: i64 = self.read(|connection| {
            let mut statement = connection
                .prepare_cached(&format!(
                    "SELECT count(*) FROM (SELECT 1 FROM incidents WHERE {FILTER} LIMIT ?12)"
                ))
                .map_err(db(operation))?;
            statement
                .query_row(
                    params![
                        p1,
                        p2,
                        p3,
                        p4,
                        p5,
                        p6,
                        p7,
                        p8,
                        p9,
                        p10,
                        p11,
                        INCIDENT_COUNT_CAP as i64 + 1
                    ],
                    |row| row.get(0),
                )
                .map_err(db(operation))
        })?;
        Ok(IncidentCount::of(u64::try_from(counted).unwrap_or(0)))
    }

    fn incident_history(&self, id: i64) -> StoreResult<Vec<HistoryEntry>> {
        let operation = "reading an incident's history";
        self.read(|connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT version, at_ms, actor, action, field, old_value, new_value, reason
                     FROM incident_history WHERE incident_id = ?1 ORDER BY version, id",
                )
                .map_err(db(operation))?;
            let rows = statement
                .query_map([id], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, String>(5)?,
                        row.get::<_, String>(6)?,
                        row.get::<_, Option<String>>(7)?,
                    ))
                })
                .map_err(db(operation))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db(operation))?;
            rows.into_iter()
                .map(|(version, at_ms, actor, action, field, old, new, reason)| {
                    Ok(HistoryEntry {
                        version,
                        at_ms,
                        actor,
                        action,
                        field,
                        old: history_value(&old, id, operation)?,
                        new: history_value(&new, id, operation)?,
                        reason,
                    })
                })
                .collect()
        })
    }

    fn open_incident_by_dedup_key(&self, dedup_key: &str) -> StoreResult<Option<Incident>> {
        let operation = "finding an incident by its deduplication key";
        self.read(|connection| {
            let id: Option<i64> = connection
                .query_row(
                    "SELECT id FROM incidents WHERE dedup_key = ?1 AND status < ?2",
                    params![dedup_key, CLOSED_STATUS_MIN],
                    |row| row.get(0),
                )
                .optional()
                .map_err(db(operation))?;
            match id {
                Some(id) => load(connection, id, operation),
                None => Ok(None),
            }
        })
    }

    fn incident_of_alert(&self, seq: i64) -> StoreResult<Option<i64>> {
        let operation = "finding an alert's incident";
        self.read(|connection| {
            connection
                .query_row(
                    "SELECT incident_id FROM incident_alerts WHERE seq = ?1",
                    [seq],
                    |row| row.get(0),
                )
                .optional()
                .map_err(db(operation))
        })
    }
}
