//! Tasks and the schedule in SQLite (tables `tasks` and `schedule`, migration 7).

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{db, EmbeddedStore};
use crate::schedule::{ScheduleStore, ScheduledJob};
use crate::tasks::{
    CancelOutcome, NewTask, TaskKind, TaskOutcome, TaskRecord, TaskStatus, TaskStore,
};
use crate::{NewAuditEntry, StoreError, StoreResult};

const COLUMNS: &str = "id, kind, status, done, total, created_at_ms, started_at_ms, \
     finished_at_ms, requested_by, parameters, result, error, cancel_requested";

/// A row as read, before its codes and JSON are checked.
struct RawTask {
    id: String,
    kind: u8,
    status: u8,
    done: i64,
    total: i64,
    created_at_ms: i64,
    started_at_ms: Option<i64>,
    finished_at_ms: Option<i64>,
    requested_by: String,
    parameters: String,
    result: Option<String>,
    error: Option<String>,
    cancel_requested: bool,
}

fn raw(row: &Row<'_>) -> rusqlite::Result<RawTask> {
    Ok(RawTask {
        id: row.get(0)?,
        kind: row.get(1)?,
        status: row.get(2)?,
        done: row.get(3)?,
        total: row.get(4)?,
        created_at_ms: row.get(5)?,
        started_at_ms: row.get(6)?,
        finished_at_ms: row.get(7)?,
        requested_by: row.get(8)?,
        parameters: row.get(9)?,
        result: row.get(10)?,
        error: row.get(11)?,
        cancel_requested: row.get(12)?,
    })
}

fn corrupt(detail: String) -> StoreError {
    StoreError::Corrupt {
        operation: "reading a task",
        detail,
    }
}

fn json(text: &str, id: &str) -> StoreResult<serde_json::Value> {
    serde_json::from_str(text).map_err(|error| corrupt(format!("task {id}: {error}")))
}

impl RawTask {
    fn decode(self) -> StoreResult<TaskRecord> {
        let kind = TaskKind::from_code(self.kind)
            .ok_or_else(|| corrupt(format!("task {}: unknown kind {}", self.id, self.kind)))?;
        let status = TaskStatus::from_code(self.status)
            .ok_or_else(|| corrupt(format!("task {}: unknown status {}", self.id, self.status)))?;
        let parameters = json(&self.parameters, &self.id)?;
        let result = self
            .result
            .as_deref()
            .map(|text| json(text, &self.id))
            .transpose()?;
        Ok(TaskRecord {
            kind,
            status,
            done: self.done.max(0) as u64,
            total: self.total.max(0) as u64,
            created_at_ms: self.created_at_ms,
            started_at_ms: self.started_at_ms,
            finished_at_ms: self.finished_at_ms,
            requested_by: self.requested_by,
            parameters,
            result,
            error: self.error,
            cancel_requested: self.cancel_requested,
            id: self.id,
        })
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn select_one(connection: &Connection, id: &str) -> StoreResult<Option<TaskRecord>> {
    let operation = "reading a task";
    connection
        .query_row(
            &format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"),
            params![id],
            raw,
        )
        .optional()
        .map_err(db(operation))?
        .map(RawTask::decode)
        .transpose()
}

fn select_many(
    connection: &Connection,
    sql: &str,
    parameters: impl rusqlite::Params,
) -> StoreResult<Vec<TaskRecord>> {
    let operation = "listing tasks";
    let mut statement = connection.prepare(sql).map_err(db(operation))?;
    let rows = statement
        .query_map(parameters, raw)
        .map_err(db(operation))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db(operation))?;
    rows.into_iter().map(RawTask::decode).collect()
}

fn status_of(connection: &Connection, id: &str) -> StoreResult<Option<TaskStatus>> {
    let code: Option<u8> = connection
        .query_row(
            "SELECT status FROM tasks WHERE id = ?1",
            params![id],
            |row| row.get(0),
        )
        .optional()
        .map_err(db("reading a task's status"))?;
    code.map(|code| {
        TaskStatus::from_code(code).ok_or_else(|| corrupt(format!("task {id}: status {code}")))
    })
    .transpose()
}

impl TaskStore for EmbeddedStore {
    fn create_task(&self, task: &NewTask, audit: &NewAuditEntry) -> StoreResult<()> {
        let parameters = task.parameters.to_string();
        self.audited("recording a task", |transaction| {
            transaction
                .execute(
                    "INSERT INTO tasks (id, kind, status, created_at_ms, requested_by, parameters)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        task.id,
                        task.kind.code(),
                        TaskStatus::Queued.code(),
                        task.created_at_ms,
                        task.requested_by,
                        parameters
                    ],
                )
                .map_err(|error| {
                    if super::is_constraint(&error) {
                        StoreError::Conflict(format!("task {} exists", task.id))
                    } else {
                        db("recording a task")(error)
                    }
                })?;
            Ok(((), Some(audit.clone())))
        })
    }

    fn task(&self, id: &str) -> StoreResult<Option<TaskRecord>> {
        self.read(|connection| select_one(connection, id))
    }

    fn recent_tasks(&self, requested_by: Option<&str>, limit: u32) -> StoreResult<Vec<TaskRecord>> {
        self.read(|connection| match requested_by {
            Some(who) => select_many(
                connection,
                &format!(
                    "SELECT {COLUMNS} FROM tasks WHERE requested_by = ?1
                     ORDER BY created_at_ms DESC, id DESC LIMIT ?2"
                ),
                params![who, limit],
            ),
            None => select_many(
                connection,
                &format!(
                    "SELECT {COLUMNS} FROM tasks ORDER BY created_at_ms DESC, id DESC LIMIT ?1"
                ),
                params![limit],
            ),
        })
    }

    fn claim_next_task(&self, now_ms: i64) -> StoreResult<Option<TaskRecord>> {
        let operation = "claiming a task";
        let mut writer = self.writer.lock();
        let transaction = writer.transaction().map_err(db(operation))?;
        let next: Option<String> = transaction
            .query_row(
                "SELECT id FROM tasks WHERE status = ?1 ORDER BY created_at_ms, id LIMIT 1",
                params![TaskStatus::Queued.code()],
                |row| row.get(0),
            )
            .optional()
            .map_err(db(operation))?;
        let Some(id) = next else {
            return Ok(None);
        };
        transaction
            .execute(
                "UPDATE tasks SET status = ?1, started_at_ms = ?2 WHERE id = ?3 AND status = ?4",
                params![
                    TaskStatus::Running.code(),
                    now_ms,
                    id,
                    TaskStatus::Queued.code()
                ],
            )
            .map_err(db(operation))?;
        let claimed = select_one(&transaction, &id)?;
        transaction.commit().map_err(db(operation))?;
        Ok(claimed)
    }

    fn update_task_progress(
        &self,
        id: &str,
        done: u64,
        total: u64,
        checkpoint: Option<&serde_json::Value>,
    ) -> StoreResult<bool> {
        let operation = "recording a task's progress";
        let writer = self.writer.lock();
        let checkpoint = checkpoint.map(serde_json::Value::to_string);
        let cancel: Option<bool> = writer
            .query_row(
                "UPDATE tasks SET done = ?1, total = ?2, result = COALESCE(?3, result)
                 WHERE id = ?4 RETURNING cancel_requested",
                params![to_i64(done), to_i64(total), checkpoint, id],
                |row| row.get(0),
            )
            .optional()
            .map_err(db(operation))?;
        cancel.ok_or_else(|| StoreError::NotFound(format!("task {id}")))
    }

    fn finish_task(
        &self,
        id: &str,
        outcome: &TaskOutcome,
        now_ms: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let (result, error) = match outcome {
            TaskOutcome::Succeeded(result) | TaskOutcome::Cancelled(result) => {
                (Some(result.to_string()), None)
            }
            TaskOutcome::Failed(error) => (None, Some(error.as_str())),
        };
        self.audited("ending a task", |transaction| {
            match status_of(transaction, id)? {
                None => return Err(StoreError::NotFound(format!("task {id}"))),
                Some(status) if status.is_finished() => {
                    return Err(StoreError::Conflict(format!(
                        "task {id} has already ended ({})",
                        status.as_str()
                    )))
                }
                Some(_) => {}
            }
            transaction
                .execute(
                    "UPDATE tasks SET status = ?1, finished_at_ms = ?2,
                         result = COALESCE(?3, result), error = ?4
                     WHERE id = ?5",
                    params![outcome.status().code(), now_ms, result, error, id],
                )
                .map_err(db("ending a task"))?;
            Ok(((), Some(audit.clone())))
        })
    }

    fn request_task_cancel(
        &self,
        id: &str,
        now_ms: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<CancelOutcome> {
        let operation = "cancelling a task";
        self.audited(operation, |transaction| {
            let outcome = match status_of(transaction, id)? {
                None => return Err(StoreError::NotFound(format!("task {id}"))),
                Some(status) if status.is_finished() => {
                    return Ok((CancelOutcome::AlreadyFinished(status), None))
                }
                Some(TaskStatus::Queued) => {
                    transaction
                        .execute(
                            "UPDATE tasks SET status = ?1, finished_at_ms = ?2,
                                 cancel_requested = 1
                             WHERE id = ?3",
                            params![TaskStatus::Cancelled.code(), now_ms, id],
                        )
                        .map_err(db(operation))?;
                    CancelOutcome::Cancelled
                }
                Some(_) => {
                    transaction
                        .execute(
                            "UPDATE tasks SET cancel_requested = 1 WHERE id = ?1",
                            params![id],
                        )
                        .map_err(db(operation))?;
                    CancelOutcome::Requested
                }
            };
            Ok((outcome, Some(audit.clone())))
        })
    }

    fn requeue_running_tasks(&self) -> StoreResult<Vec<TaskRecord>> {
        let operation = "requeueing interrupted tasks";
        let mut writer = self.writer.lock();
        let transaction = writer.transaction().map_err(db(operation))?;
        let interrupted = select_many(
            &transaction,
            &format!("SELECT {COLUMNS} FROM tasks WHERE status = ?1 ORDER BY created_at_ms, id"),
            params![TaskStatus::Running.code()],
        )?;
        transaction
            .execute(
                "UPDATE tasks SET status = ?1 WHERE status = ?2",
                params![TaskStatus::Queued.code(), TaskStatus::Running.code()],
            )
            .map_err(db(operation))?;
        transaction.commit().map_err(db(operation))?;
        Ok(interrupted
            .into_iter()
            .map(|task| TaskRecord {
                status: TaskStatus::Queued,
                ..task
            })
            .collect())
    }

    fn unfinished_tasks(&self) -> StoreResult<Vec<TaskRecord>> {
        self.read(|connection| {
            select_many(
                connection,
                &format!(
                    "SELECT {COLUMNS} FROM tasks WHERE status IN (?1, ?2)
                     ORDER BY created_at_ms, id"
                ),
                params![TaskStatus::Queued.code(), TaskStatus::Running.code()],
            )
        })
    }
}

impl ScheduleStore for EmbeddedStore {
    fn scheduled_jobs(&self) -> StoreResult<Vec<ScheduledJob>> {
        let operation = "reading the schedule";
        self.read(|connection| {
            let mut statement = connection
                .prepare(
                    "SELECT name, interval_ms, last_run_at_ms, next_due_at_ms FROM schedule
                     ORDER BY name",
                )
                .map_err(db(operation))?;
            let rows = statement
                .query_map([], |row| {
                    Ok(ScheduledJob {
                        name: row.get(0)?,
                        interval_ms: row.get(1)?,
                        last_run_at_ms: row.get(2)?,
                        next_due_at_ms: row.get(3)?,
                    })
                })
                .map_err(db(operation))?;
            rows.collect::<Result<_, _>>().map_err(db(operation))
        })
    }

    fn put_scheduled_job(&self, job: &ScheduledJob) -> StoreResult<()> {
        self.writer
            .lock()
            .execute(
                "INSERT INTO schedule (name, interval_ms, last_run_at_ms, next_due_at_ms)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET interval_ms = excluded.interval_ms,
                     last_run_at_ms = excluded.last_run_at_ms,
                     next_due_at_ms = excluded.next_due_at_ms",
                params![
                    job.name,
                    job.interval_ms,
                    job.last_run_at_ms,
                    job.next_due_at_ms
                ],
            )
            .map_err(db("storing a scheduled job"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopguard_core::audit::{AuditContent, RecordClass};

    fn entry(action: &str) -> NewAuditEntry {
        NewAuditEntry {
            at_ms: 1,
            class: RecordClass::Configuration,
            content: AuditContent {
                actor: "test".into(),
                action: action.into(),
                object: "task".into(),
                detail: serde_json::Value::Null,
            },
        }
    }

    fn new_task(id: &str, at: i64) -> NewTask {
        NewTask {
            id: id.into(),
            kind: TaskKind::ListImport,
            requested_by: "key:k1:feed".into(),
            parameters: serde_json::json!({ "list": "ip_block" }),
            created_at_ms: at,
        }
    }

    fn queued_actions(store: &EmbeddedStore) -> Vec<String> {
        use crate::AuditOutbox;
        store
            .queued_audit_entries(100)
            .unwrap()
            .into_iter()
            .map(|(_, entry)| entry.content.action)
            .collect()
    }

    #[test]
    fn a_task_goes_from_queued_to_running_to_succeeded_with_its_audit_entries() {
        let folder = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open_for_administration(folder.path()).unwrap();
        store
            .create_task(&new_task("t1", 10), &entry("task.submit"))
            .unwrap();
        let stored = store.task("t1").unwrap().unwrap();
        assert_eq!(stored.status, TaskStatus::Queued);
        assert_eq!(stored.kind, TaskKind::ListImport);
        assert_eq!(stored.parameters["list"], "ip_block");
        assert!(store.task("nope").unwrap().is_none());

        let claimed = store.claim_next_task(20).unwrap().unwrap();
        assert_eq!(claimed.id, "t1");
        assert_eq!(claimed.status, TaskStatus::Running);
        assert_eq!(claimed.started_at_ms, Some(20));
        assert!(store.claim_next_task(21).unwrap().is_none());

        let checkpoint = serde_json::json!({ "lines": 5 });
        assert!(!store
            .update_task_progress("t1", 5, 10, Some(&checkpoint))
            .unwrap());
        let running = store.task("t1").unwrap().unwrap();
        assert_eq!((running.done, running.total), (5, 10));
        assert_eq!(running.result, Some(checkpoint));

        store
            .finish_task(
                "t1",
                &TaskOutcome::Succeeded(serde_json::json!({ "added": 10 })),
                30,
                &entry("task.finish"),
            )
            .unwrap();
        let finished = store.task("t1").unwrap().unwrap();
        assert_eq!(finished.status, TaskStatus::Succeeded);
        assert_eq!(finished.finished_at_ms, Some(30));
        assert_eq!(finished.result.unwrap()["added"], 10);
        assert!(matches!(
            store.finish_task("t1", &TaskOutcome::Failed("x".into()), 31, &entry("again")),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(queued_actions(&store), vec!["task.submit", "task.finish"]);
    }

    #[test]
    fn cancelling_a_queued_task_ends_it_and_a_running_one_is_flagged() {
        let folder = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open_for_administration(folder.path()).unwrap();
        store
            .create_task(&new_task("a", 1), &entry("submit"))
            .unwrap();
        store
            .create_task(&new_task("b", 2), &entry("submit"))
            .unwrap();
        assert_eq!(store.claim_next_task(3).unwrap().unwrap().id, "a");
        assert_eq!(
            store.request_task_cancel("b", 4, &entry("cancel")).unwrap(),
            CancelOutcome::Cancelled
        );
        assert_eq!(
            store.task("b").unwrap().unwrap().status,
            TaskStatus::Cancelled
        );
        assert_eq!(
            store.request_task_cancel("a", 5, &entry("cancel")).unwrap(),
            CancelOutcome::Requested
        );
        assert!(store.update_task_progress("a", 1, 2, None).unwrap());
        assert_eq!(
            store.request_task_cancel("b", 6, &entry("cancel")).unwrap(),
            CancelOutcome::AlreadyFinished(TaskStatus::Cancelled)
        );
        assert!(matches!(
            store.request_task_cancel("zz", 6, &entry("cancel")),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.update_task_progress("zz", 1, 1, None),
            Err(StoreError::NotFound(_))
        ));
        // The second cancel of an ended task stored no entry.
        assert_eq!(
            queued_actions(&store),
            vec!["submit", "submit", "cancel", "cancel"]
        );
    }

    #[test]
    fn running_tasks_are_requeued_at_reopen_and_listed_as_unfinished() {
        let folder = tempfile::tempdir().unwrap();
        {
            let store = EmbeddedStore::open_for_administration(folder.path()).unwrap();
            store
                .create_task(&new_task("a", 1), &entry("submit"))
                .unwrap();
            store
                .create_task(&new_task("b", 2), &entry("submit"))
                .unwrap();
            store
                .create_task(&new_task("c", 3), &entry("submit"))
                .unwrap();
            store.claim_next_task(4).unwrap();
            store
                .finish_task(
                    "a",
                    &TaskOutcome::Succeeded(serde_json::Value::Null),
                    5,
                    &entry("finish"),
                )
                .unwrap();
            store.claim_next_task(6).unwrap();
        }
        let store = EmbeddedStore::open_for_administration(folder.path()).unwrap();
        let requeued = store.requeue_running_tasks().unwrap();
        assert_eq!(
            requeued
                .iter()
                .map(|task| task.id.as_str())
                .collect::<Vec<_>>(),
            vec!["b"]
        );
        assert_eq!(store.task("b").unwrap().unwrap().status, TaskStatus::Queued);
        let unfinished: Vec<String> = store
            .unfinished_tasks()
            .unwrap()
            .into_iter()
            .map(|task| task.id)
            .collect();
        assert_eq!(unfinished, vec!["b", "c"]);
        let recent: Vec<String> = store
            .recent_tasks(None, 2)
            .unwrap()
            .into_iter()
            .map(|task| task.id)
            .collect();
        assert_eq!(recent, vec!["c", "b"]);
        assert_eq!(store.recent_tasks(Some("someone"), 10).unwrap().len(), 0);
        assert_eq!(
            store.recent_tasks(Some("key:k1:feed"), 10).unwrap().len(),
            3
        );
    }

    #[test]
    fn an_unknown_stored_code_is_corrupt_not_a_panic() {
        let folder = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open_for_administration(folder.path()).unwrap();
        store
            .create_task(&new_task("a", 1), &entry("submit"))
            .unwrap();
        store
            .writer
            .lock()
            .execute("UPDATE tasks SET kind = 99 WHERE id = 'a'", [])
            .unwrap();
        assert!(matches!(store.task("a"), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn the_schedule_survives_reopening() {
        let folder = tempfile::tempdir().unwrap();
        let job = ScheduledJob {
            name: "retention".into(),
            interval_ms: 3_600_000,
            last_run_at_ms: Some(100),
            next_due_at_ms: 3_600_100,
        };
        {
            let store = EmbeddedStore::open_for_administration(folder.path()).unwrap();
            assert!(store.scheduled_jobs().unwrap().is_empty());
            store.put_scheduled_job(&job).unwrap();
            store
                .put_scheduled_job(&ScheduledJob {
                    name: "expiry".into(),
                    interval_ms: 5_000,
                    last_run_at_ms: None,
                    next_due_at_ms: 5_000,
                })
                .unwrap();
        }
        let store = EmbeddedStore::open_for_administration(folder.path()).unwrap();
        let jobs = store.scheduled_jobs().unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[1], job);
        let moved = ScheduledJob {
            last_run_at_ms: Some(3_600_200),
            next_due_at_ms: 7_200_200,
            ..job
        };
        store.put_scheduled_job(&moved).unwrap();
        assert_eq!(store.scheduled_jobs().unwrap()[1], moved);
    }
}
