//! Tasks and the schedule in SQLite (tables `tasks` and `schedule`, migrations 7 and 9);
//! task inputs in `<data folder>/tasks/<id>.txt`.

use std::path::PathBuf;

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{db, EmbeddedStore};
use crate::files::{io, sync_folder};
use crate::schedule::{ScheduleStore, ScheduledJob};
use crate::tasks::{
    check_claim, corrupt, to_i64, CancelOutcome, Lease, NewTask, RawTask, TaskOutcome, TaskRecord,
    TaskStatus, TaskStore,
};
use crate::{NewAuditEntry, StoreError, StoreResult};

const COLUMNS: &str = "id, kind, status, done, total, created_at_ms, started_at_ms, \
     finished_at_ms, requested_by, parameters, result, error, cancel_requested, claimed_by, \
     lease_until_ms";

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
        claimed_by: row.get(13)?,
        lease_until_ms: row.get(14)?,
    })
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

/// A task's status and the worker holding it.
fn status_of(
    connection: &Connection,
    id: &str,
) -> StoreResult<Option<(TaskStatus, Option<String>)>> {
    let row: Option<(u8, Option<String>)> = connection
        .query_row(
            "SELECT status, claimed_by FROM tasks WHERE id = ?1",
            params![id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(db("reading a task's status"))?;
    row.map(|(code, holder)| {
        TaskStatus::from_code(code)
            .map(|status| (status, holder))
            .ok_or_else(|| corrupt(format!("task {id}: status {code}")))
    })
    .transpose()
}

impl EmbeddedStore {
    fn input_path(&self, id: &str) -> StoreResult<PathBuf> {
        // Ids are UUIDs; anything that could leave the folder is refused.
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(StoreError::NotFound(format!("task input {id}")));
        }
        Ok(self.inputs_folder().join(format!("{id}.txt")))
    }

    fn inputs_folder(&self) -> PathBuf {
        self.path
            .parent()
            .map_or_else(|| PathBuf::from("tasks"), |folder| folder.join("tasks"))
    }
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

    fn claim_next_task(&self, lease: &Lease<'_>) -> StoreResult<Option<TaskRecord>> {
        let operation = "claiming a task";
        let mut writer = self.writer.lock();
        let transaction = writer.transaction().map_err(db(operation))?;
        // Queued tasks first, oldest first; then running ones whose lease has run out.
        let next: Option<String> = transaction
            .query_row(
                "SELECT id FROM tasks
                 WHERE status = ?1
                    OR (status = ?2 AND (lease_until_ms IS NULL OR lease_until_ms <= ?3))
                 ORDER BY status = ?2, created_at_ms, id LIMIT 1",
                params![
                    TaskStatus::Queued.code(),
                    TaskStatus::Running.code(),
                    lease.now_ms
                ],
                |row| row.get(0),
            )
            .optional()
            .map_err(db(operation))?;
        let Some(id) = next else {
            return Ok(None);
        };
        transaction
            .execute(
                "UPDATE tasks SET status = ?1, started_at_ms = ?2, claimed_by = ?3,
                     lease_until_ms = ?4
                 WHERE id = ?5",
                params![
                    TaskStatus::Running.code(),
                    lease.now_ms,
                    lease.worker,
                    lease.until_ms(),
                    id
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
        lease: &Lease<'_>,
        done: u64,
        total: u64,
        checkpoint: Option<&serde_json::Value>,
    ) -> StoreResult<bool> {
        let operation = "recording a task's progress";
        let mut writer = self.writer.lock();
        let transaction = writer.transaction().map_err(db(operation))?;
        check_claim(id, status_of(&transaction, id)?, lease.worker)?;
        let checkpoint = checkpoint.map(serde_json::Value::to_string);
        let cancel: bool = transaction
            .query_row(
                "UPDATE tasks SET done = ?1, total = ?2, result = COALESCE(?3, result),
                     lease_until_ms = ?4
                 WHERE id = ?5 RETURNING cancel_requested",
                params![
                    to_i64(done),
                    to_i64(total),
                    checkpoint,
                    lease.until_ms(),
                    id
                ],
                |row| row.get(0),
            )
            .map_err(db(operation))?;
        transaction.commit().map_err(db(operation))?;
        Ok(cancel)
    }

    fn finish_task(
        &self,
        id: &str,
        worker: &str,
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
            check_claim(id, status_of(transaction, id)?, worker)?;
            transaction
                .execute(
                    "UPDATE tasks SET status = ?1, finished_at_ms = ?2,
                         result = COALESCE(?3, result), error = ?4, lease_until_ms = NULL
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
            let outcome = match status_of(transaction, id)?.map(|(status, _)| status) {
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

    fn requeue_running_tasks(&self, worker: &str) -> StoreResult<Vec<TaskRecord>> {
        let operation = "requeueing interrupted tasks";
        let mut writer = self.writer.lock();
        let transaction = writer.transaction().map_err(db(operation))?;
        let interrupted = select_many(
            &transaction,
            &format!(
                "SELECT {COLUMNS} FROM tasks
                 WHERE status = ?1 AND (claimed_by IS NULL OR claimed_by = ?2)
                 ORDER BY created_at_ms, id"
            ),
            params![TaskStatus::Running.code(), worker],
        )?;
        transaction
            .execute(
                "UPDATE tasks SET status = ?1, claimed_by = NULL, lease_until_ms = NULL
                 WHERE status = ?2 AND (claimed_by IS NULL OR claimed_by = ?3)",
                params![
                    TaskStatus::Queued.code(),
                    TaskStatus::Running.code(),
                    worker
                ],
            )
            .map_err(db(operation))?;
        transaction.commit().map_err(db(operation))?;
        Ok(interrupted
            .into_iter()
            .map(|task| TaskRecord {
                status: TaskStatus::Queued,
                claimed_by: None,
                lease_until_ms: None,
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

    fn put_task_input(&self, id: &str, input: &str) -> StoreResult<()> {
        use std::io::Write;
        let operation = "writing a task's input";
        let path = self.input_path(id)?;
        let folder = self.inputs_folder();
        std::fs::create_dir_all(&folder).map_err(io(operation))?;
        let partial = path.with_extension("txt.partial");
        let mut output = std::fs::File::create(&partial).map_err(io(operation))?;
        output.write_all(input.as_bytes()).map_err(io(operation))?;
        output.sync_all().map_err(io(operation))?;
        std::fs::rename(&partial, &path).map_err(io(operation))?;
        sync_folder(&folder, operation)
    }

    fn task_input(&self, id: &str) -> StoreResult<Option<String>> {
        match std::fs::read_to_string(self.input_path(id)?) {
            Ok(text) => Ok(Some(text)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(io("reading a task's input")(error)),
        }
    }

    fn remove_task_input(&self, id: &str) -> StoreResult<()> {
        match std::fs::remove_file(self.input_path(id)?) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(io("removing a task's input")(error))
            }
            _ => Ok(()),
        }
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

    fn claim_scheduled_job(
        &self,
        name: &str,
        expected_next_due_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Option<ScheduledJob>> {
        self.writer
            .lock()
            .query_row(
                "UPDATE schedule SET last_run_at_ms = ?3,
                     next_due_at_ms = ?3 + interval_ms
                 WHERE name = ?1 AND next_due_at_ms = ?2 AND next_due_at_ms <= ?3
                 RETURNING name, interval_ms, last_run_at_ms, next_due_at_ms",
                params![name, expected_next_due_ms, now_ms],
                |row| {
                    Ok(ScheduledJob {
                        name: row.get(0)?,
                        interval_ms: row.get(1)?,
                        last_run_at_ms: row.get(2)?,
                        next_due_at_ms: row.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(db("claiming a scheduled job"))
    }
}
