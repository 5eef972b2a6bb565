//! Incidents in PostgreSQL (migration 10): `incidents`, `incident_history`,
//! `incident_alerts` and `incident_observables` (see [`crate::incidents`]).
//!
//! A write checks everything that could refuse it first (the version, the alerts, the
//! deduplication key), then writes the row, side tables, history and audit entry in one
//! transaction. Two nodes racing for the same alert or key meet at a unique index: the
//! loser's writes are undone to a savepoint, the winner is looked up, and nothing of the
//! loser's is committed. A compare and set that loses to a concurrent change finds the
//! version moved (read committed re-reads the row after the first commits) and writes
//! nothing.

use postgres::types::ToSql;
use postgres::{GenericClient, Row, Transaction};

use super::{audit_outbox, db, is_unique_violation, PostgresStore};
use crate::incidents::{
    history_json, history_value, HistoryEntry, Incident, IncidentCount, IncidentFilter,
    IncidentRow, IncidentStore, IncidentWrite, CLOSED_STATUS_MIN, INCIDENT_COLUMNS,
    INCIDENT_COUNT_CAP,
};
use crate::{NewAuditEntry, StoreError, StoreResult};

/// The filter of the list and the count: $1 status, $2 level, $3 category, $4 assignee
/// mode, $5 assignee, $6 drill, $7 reported from, $8 reported to, $9 observable kind,
/// $10 observable value, $11 before id.
const FILTER: &str = "($1::smallint IS NULL OR status = $1::smallint)
     AND ($2::smallint IS NULL OR effective_level = $2::smallint)
     AND ($3::smallint IS NULL OR category = $3::smallint)
     AND ($4::int = 0 OR ($4::int = 1 AND assignee IS NULL) OR ($4::int = 2 AND assignee = $5::text))
     AND ($6::boolean IS NULL OR is_drill = $6::boolean)
     AND reported_at_ms >= $7 AND reported_at_ms < $8
     AND ($9::smallint IS NULL OR id IN (SELECT incident_id FROM incident_observables
          WHERE kind = $9::smallint AND value = $10::text))
     AND id < $11";

fn row_of(row: &Row) -> IncidentRow {
    IncidentRow {
        id: row.get(0),
        title: row.get(1),
        category: row.get(2),
        tags: row.get(3),
        status: row.get(4),
        verdict: row.get(5),
        importance: row.get(6),
        loss: row.get(7),
        affected_users: row.get(8),
        platform_users: row.get(9),
        computed_level: row.get(10),
        grade_reasons: row.get(11),
        override_level: row.get(12),
        override_reason: row.get(13),
        effective_level: row.get(14),
        reporter: row.get(15),
        discovered_at_ms: row.get(16),
        reported_at_ms: row.get(17),
        affected_systems: row.get(18),
        description: row.get(19),
        evidence: row.get(20),
        observables: row.get(21),
        unsure_of_level: row.get(22),
        assignee: row.get(23),
        dedup_key: row.get(24),
        is_drill: row.get(25),
        reassessed_at_ms: row.get(26),
        reassessed_by: row.get(27),
        escalated_at_ms: row.get(28),
        escalated_by: row.get(29),
        review_summary: row.get(30),
        created_at_ms: row.get(31),
        updated_at_ms: row.get(32),
        version: row.get(33),
    }
}

/// The filter's values, bound as $1 to $11.
struct FilterValues<'a> {
    status: Option<i16>,
    level: Option<i16>,
    category: Option<i16>,
    mode: i32,
    assignee: Option<&'a str>,
    drill: Option<bool>,
    from_ms: i64,
    to_ms: i64,
    kind: Option<i16>,
    value: Option<&'a str>,
    before_id: i64,
}

impl<'a> FilterValues<'a> {
    fn of(filter: &'a IncidentFilter, paged: bool) -> FilterValues<'a> {
        let (mode, assignee) = filter.assignee_mode();
        FilterValues {
            status: filter.status.map(|v| i16::from(v.code())),
            level: filter.level.map(|v| i16::from(v.code())),
            category: filter.category.map(|v| i16::from(v.code())),
            mode,
            assignee,
            drill: filter.drill,
            from_ms: filter.reported_from_ms.unwrap_or(i64::MIN),
            to_ms: filter.reported_to_ms.unwrap_or(i64::MAX),
            kind: filter.observable.as_ref().map(|o| i16::from(o.kind.code())),
            value: filter.observable.as_ref().map(|o| o.value.as_str()),
            before_id: filter.before_id.filter(|_| paged).unwrap_or(i64::MAX),
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.status,
            &self.level,
            &self.category,
            &self.mode,
            &self.assignee,
            &self.drill,
            &self.from_ms,
            &self.to_ms,
            &self.kind,
            &self.value,
            &self.before_id,
        ]
    }
}

fn alerts_of(
    client: &mut impl GenericClient,
    id: i64,
    operation: &'static str,
) -> StoreResult<Vec<i64>> {
    Ok(client
        .query(
            "SELECT seq FROM incident_alerts WHERE incident_id = $1 ORDER BY seq",
            &[&id],
        )
        .map_err(db(operation))?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

fn load(
    client: &mut impl GenericClient,
    id: i64,
    operation: &'static str,
) -> StoreResult<Option<Incident>> {
    let row = client
        .query_opt(
            &format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1"),
            &[&id],
        )
        .map_err(db(operation))?;
    match row {
        None => Ok(None),
        Some(row) => {
            let alerts = alerts_of(client, id, operation)?;
            row_of(&row).into_incident(alerts, operation).map(Some)
        }
    }
}

/// The alerts `incident` links that are not linked to it yet (each must exist and belong
/// to no other incident), or the refusal.
fn new_alerts(
    client: &mut impl GenericClient,
    incident: &Incident,
    id: Option<i64>,
    operation: &'static str,
) -> StoreResult<Result<Vec<i64>, IncidentWrite>> {
    let mut fresh = Vec::new();
    for seq in &incident.alerts {
        let owner: Option<i64> = client
            .query_opt(
                "SELECT incident_id FROM incident_alerts WHERE seq = $1",
                &[seq],
            )
            .map_err(db(operation))?
            .map(|row| row.get(0));
        match owner {
            Some(owner) if Some(owner) == id => {}
            Some(owner) => {
                return Ok(Err(IncidentWrite::AlertLinked {
                    seq: *seq,
                    incident_id: owner,
                }))
            }
            None => {
                let exists = client
                    .query_opt("SELECT 1 FROM alerts WHERE seq = $1", &[seq])
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
    client: &mut impl GenericClient,
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
    Ok(client
        .query_opt(
            "SELECT id FROM incidents WHERE dedup_key = $1 AND status < $2 AND id != $3",
            &[key, &CLOSED_STATUS_MIN, &id.unwrap_or(0)],
        )
        .map_err(db(operation))?
        .map(|row| row.get(0)))
}

/// What refuses `incident` now, if anything: an alert linked elsewhere or a key taken.
fn refusal(
    client: &mut impl GenericClient,
    incident: &Incident,
    id: Option<i64>,
    operation: &'static str,
) -> StoreResult<Result<Vec<i64>, IncidentWrite>> {
    let fresh = match new_alerts(client, incident, id, operation)? {
        Ok(fresh) => fresh,
        Err(refused) => return Ok(Err(refused)),
    };
    if let Some(holder) = dedup_holder(client, incident, id, operation)? {
        return Ok(Err(IncidentWrite::DedupTaken {
            incident_id: holder,
        }));
    }
    Ok(Ok(fresh))
}

/// Writes the side tables and history of incident `id`.
fn write_children(
    client: &mut impl GenericClient,
    id: i64,
    incident: &Incident,
    fresh_alerts: &[i64],
    history: &[HistoryEntry],
) -> Result<(), postgres::Error> {
    for seq in fresh_alerts {
        client.execute(
            "INSERT INTO incident_alerts (seq, incident_id, linked_at_ms) VALUES ($1, $2, $3)",
            &[seq, &id, &incident.updated_at_ms],
        )?;
    }
    client.execute(
        "DELETE FROM incident_observables WHERE incident_id = $1",
        &[&id],
    )?;
    for observable in &incident.observables {
        client.execute(
            "INSERT INTO incident_observables (incident_id, kind, value) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&id, &i16::from(observable.kind.code()), &observable.value],
        )?;
    }
    for entry in history {
        let (old, new) = history_json(entry);
        client.execute(
            "INSERT INTO incident_history (incident_id, version, at_ms, actor, action, field, old_value, new_value, reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &id,
                &entry.version,
                &entry.at_ms,
                &entry.actor,
                &entry.action,
                &entry.field,
                &old,
                &new,
                &entry.reason,
            ],
        )?;
    }
    Ok(())
}

/// The row's values after the id, bound as $1 to $32 (the version is written by the
/// statement).
fn row_params(row: &IncidentRow) -> Vec<&(dyn ToSql + Sync)> {
    vec![
        &row.title,
        &row.category,
        &row.tags,
        &row.status,
        &row.verdict,
        &row.importance,
        &row.loss,
        &row.affected_users,
        &row.platform_users,
        &row.computed_level,
        &row.grade_reasons,
        &row.override_level,
        &row.override_reason,
        &row.effective_level,
        &row.reporter,
        &row.discovered_at_ms,
        &row.reported_at_ms,
        &row.affected_systems,
        &row.description,
        &row.evidence,
        &row.observables,
        &row.unsure_of_level,
        &row.assignee,
        &row.dedup_key,
        &row.is_drill,
        &row.reassessed_at_ms,
        &row.reassessed_by,
        &row.escalated_at_ms,
        &row.escalated_by,
        &row.review_summary,
        &row.created_at_ms,
        &row.updated_at_ms,
    ]
}

/// Runs `write` in a savepoint of `transaction`. A unique violation (another node linked
/// the alert or took the key meanwhile) is undone to the savepoint and answered with what
/// refuses the write now; other errors fail the write.
fn in_savepoint<T>(
    transaction: &mut Transaction<'_>,
    incident: &Incident,
    id: Option<i64>,
    operation: &'static str,
    write: impl FnOnce(&mut Transaction<'_>) -> Result<T, postgres::Error>,
) -> StoreResult<Result<T, IncidentWrite>> {
    let mut savepoint = transaction.transaction().map_err(db(operation))?;
    match write(&mut savepoint) {
        Ok(value) => {
            savepoint.commit().map_err(db(operation))?;
            Ok(Ok(value))
        }
        Err(error) if is_unique_violation(&error) => {
            savepoint.rollback().map_err(db(operation))?;
            match refusal(transaction, incident, id, operation)? {
                Err(refused) => Ok(Err(refused)),
                Ok(_) => Err(StoreError::Conflict(format!(
                    "incident write refused by a concurrent change: {}",
                    super::describe(&error)
                ))),
            }
        }
        Err(error) => Err(db(operation)(error)),
    }
}

impl PostgresStore {
    /// Runs an incident write in one transaction: committed with its audit entry when it
    /// answers `Done`, rolled back otherwise.
    fn incident_write(
        &self,
        operation: &'static str,
        work: impl FnOnce(&mut Transaction<'_>) -> StoreResult<(IncidentWrite, Option<NewAuditEntry>)>,
    ) -> StoreResult<IncidentWrite> {
        let mut client = self.client(operation)?;
        let mut transaction = client.transaction().map_err(db(operation))?;
        let (outcome, audit) = work(&mut transaction)?;
        if !matches!(outcome, IncidentWrite::Done(_)) {
            transaction.rollback().map_err(db(operation))?;
            return Ok(outcome);
        }
        if let Some(entry) = audit {
            audit_outbox::insert(&mut transaction, &entry)?;
        }
        transaction.commit().map_err(db(operation))?;
        Ok(outcome)
    }
}

impl IncidentStore for PostgresStore {
    fn create_incident(
        &self,
        incident: &Incident,
        history: &[HistoryEntry],
        audit: &dyn Fn(i64) -> NewAuditEntry,
    ) -> StoreResult<IncidentWrite> {
        let operation = "creating an incident";
        self.incident_write(operation, |transaction| {
            let fresh = match refusal(transaction, incident, None, operation)? {
                Ok(fresh) => fresh,
                Err(refused) => return Ok((refused, None)),
            };
            let row = IncidentRow::of(incident);
            let statement = format!(
                "INSERT INTO incidents ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
                 $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28,
                 $29, $30, $31, $32, 1) RETURNING id",
                INCIDENT_COLUMNS.trim_start_matches("id, ")
            );
            let written = in_savepoint(transaction, incident, None, operation, |savepoint| {
                let id: i64 = savepoint.query_one(&statement, &row_params(&row))?.get(0);
                write_children(savepoint, id, incident, &fresh, history)?;
                Ok(id)
            })?;
            match written {
                Ok(id) => Ok((IncidentWrite::Done(id), Some(audit(id)))),
                Err(refused) => Ok((refused, None)),
            }
        })
    }

    fn incident(&self, id: i64) -> StoreResult<Option<Incident>> {
        let operation = "reading an incident";
        let mut client = self.client(operation)?;
        let mut transaction = client
            .build_transaction()
            .read_only(true)
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .start()
            .map_err(db(operation))?;
        let incident = load(&mut transaction, id, operation)?;
        transaction.commit().map_err(db(operation))?;
        Ok(incident)
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
                .query_opt("SELECT version FROM incidents WHERE id = $1", &[&id])
                .map_err(db(operation))?
                .map(|row| row.get(0));
            match version {
                None => return Err(StoreError::NotFound(format!("incident {id}"))),
                Some(version) if version != expected_version => {
                    return Ok((IncidentWrite::Stale, None))
                }
                Some(_) => {}
            }
            let fresh = match refusal(transaction, incident, Some(id), operation)? {
                Ok(fresh) => fresh,
                Err(refused) => return Ok((refused, None)),
            };
            let row = IncidentRow::of(incident);
            let written = in_savepoint(transaction, incident, Some(id), operation, |savepoint| {
                let mut params = row_params(&row);
                params.push(&id);
                params.push(&expected_version);
                let changed = savepoint.execute(
                    "UPDATE incidents SET title = $1, category = $2, tags = $3, status = $4, verdict = $5,
                     importance = $6, loss = $7, affected_users = $8, platform_users = $9,
                     computed_level = $10, grade_reasons = $11, override_level = $12,
                     override_reason = $13, effective_level = $14, reporter = $15,
                     discovered_at_ms = $16, reported_at_ms = $17, affected_systems = $18,
                     description = $19, evidence = $20, observables = $21, unsure_of_level = $22,
                     assignee = $23, dedup_key = $24, is_drill = $25, reassessed_at_ms = $26,
                     reassessed_by = $27, escalated_at_ms = $28, escalated_by = $29,
                     review_summary = $30, created_at_ms = $31, updated_at_ms = $32,
                     version = version + 1
                     WHERE id = $33 AND version = $34",
                    &params,
                )?;
                if changed == 1 {
                    write_children(savepoint, id, incident, &fresh, history)?;
                }
                Ok(changed == 1)
            })?;
            match written {
                Ok(true) => Ok((
                    IncidentWrite::Done(expected_version.saturating_add(1)),
                    Some(audit.clone()),
                )),
                Ok(false) => Ok((IncidentWrite::Stale, None)),
                Err(refused) => Ok((refused, None)),
            }
        })
    }

    fn list_incidents(&self, filter: &IncidentFilter) -> StoreResult<Vec<Incident>> {
        let operation = "listing incidents";
        let values = FilterValues::of(filter, true);
        let limit = i64::from(filter.bounded_limit());
        let mut params = values.params();
        params.push(&limit);
        let mut client = self.client(operation)?;
        let mut transaction = client
            .build_transaction()
            .read_only(true)
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .start()
            .map_err(db(operation))?;
        let rows = transaction
            .query(
                &format!(
                    "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE {FILTER} ORDER BY id DESC LIMIT $12"
                ),
                &params,
            )
            .map_err(db(operation))?;
        let ids: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
        let mut links: Vec<(i64, i64)> = transaction
            .query(
                "SELECT incident_id, seq FROM incident_alerts WHERE incident_id = ANY($1) ORDER BY seq",
                &[&ids],
            )
            .map_err(db(operation))?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        transaction.commit().map_err(db(operation))?;
        links.sort_unstable();
        rows.iter()
            .map(|row| {
                let incident_row = row_of(row);
                let alerts = links
                    .iter()
                    .filter(|(incident, _)| *incident == incident_row.id)
                    .map(|(_, seq)| *seq)
                    .collect();
                incident_row.into_incident(alerts, operation)
            })
            .collect()
    }

    fn count_incidents(&self, filter: &IncidentFilter) -> StoreResult<IncidentCount> {
        let operation = "counting incidents";
        let values = FilterValues::of(filter, false);
        let cap = INCIDENT_COUNT_CAP as i64 + 1;
        let mut params = values.params();
        params.push(&cap);
        let counted: i64 = self
            .client(operation)?
            .query_one(
                &format!(
                    "SELECT count(*) FROM (SELECT 1 FROM incidents WHERE {FILTER} LIMIT $12) AS matching"
                ),
                &params,
            )
            .map_err(db(operation))?
            .get(0);
        Ok(IncidentCount::of(u64::try_from(counted).unwrap_or(0)))
    }

    fn incident_history(&self, id: i64) -> StoreResult<Vec<HistoryEntry>> {
        let operation = "reading an incident's history";
        self.client(operation)?
            .query(
                "SELECT version, at_ms, actor, action, field, old_value, new_value, reason
                 FROM incident_history WHERE incident_id = $1 ORDER BY version, id",
                &[&id],
            )
            .map_err(db(operation))?
            .iter()
            .map(|row| {
                Ok(HistoryEntry {
                    version: row.get(0),
                    at_ms: row.get(1),
                    actor: row.get(2),
                    action: row.get(3),
                    field: row.get(4),
                    old: history_value(row.get(5), id, operation)?,
                    new: history_value(row.get(6), id, operation)?,
                    reason: row.get(7),
                })
            })
            .collect()
    }

    fn open_incident_by_dedup_key(&self, dedup_key: &str) -> StoreResult<Option<Incident>> {
        let operation = "finding an incident by its deduplication key";
        let mut client = self.client(operation)?;
        let id: Option<i64> = client
            .query_opt(
                "SELECT id FROM incidents WHERE dedup_key = $1 AND status < $2",
                &[&dedup_key, &CLOSED_STATUS_MIN],
            )
            .map_err(db(operation))?
            .map(|row| row.get(0));
        match id {
            Some(id) => load(&mut *client, id, operation),
            None => Ok(None),
        }
    }

    fn incident_of_alert(&self, seq: i64) -> StoreResult<Option<i64>> {
        let operation = "finding an alert's incident";
        Ok(self
            .client(operation)?
            .query_opt(
                "SELECT incident_id FROM incident_alerts WHERE seq = $1",
                &[&seq],
            )
            .map_err(db(operation))?
            .map(|row| row.get(0)))
    }
}
