//! Tasks, their inputs and the schedule in PostgreSQL (tables `tasks`, `task_inputs`,
//! `schedule`, migration 4), shared by every node of the deployment.
//!
//! - A claim takes the oldest queued task, or else the oldest running task whose lease has
//!   run out, with `FOR UPDATE SKIP LOCKED`: two nodes claiming at once take different
//!   tasks, and neither waits for the other.
//! - Progress and the end of a task are fenced by the claim (`claimed_by` must be the
//!   caller's worker), so a node that lost its task to another stops instead of writing
//!   over it.
//! - A scheduled run is claimed by compare and set on the job's next due time.

use postgres::{GenericClient, Row};

use super::{db, is_unique_violation, PostgresStore};
use crate::schedule::{ScheduleStore, ScheduledJob};
use crate::tasks::{
    check_claim, corrupt, to_i64, CancelOutcome, Lease, NewTask, RawTask, TaskOutcome, TaskRecord,
    TaskStatus, TaskStore,
};
use crate::{NewAuditEntry, StoreError, StoreResult};

const COLUMNS: &str = "id, kind, status, done, total, created_at_ms, started_at_ms, \
     finished_at_ms, requested_by, parameters, result, error, cancel_requested, claimed_by, \
     lease_until_ms";

/// A stored code as the `u8` of the code tables; anything out of range is no known code.
fn code(value: i16) -> u8 {
    u8::try_from(value).unwrap_or(u8::MAX)
}

fn decode(row: &Row) -> StoreResult<TaskRecord> {
    RawTask {
        id: row.get(0),
        kind: code(row.get(1)),
        status: code(row.get(2)),
        done: row.get(3),
        total: row.get(4),
        created_at_ms: row.get(5),
        started_at_ms: row.get(6),
        finished_at_ms: row.get(7),
        requested_by: row.get(8),
        parameters: row.get(9),
        result: row.get(10),
        error: row.get(11),
        cancel_requested: row.get(12),
        claimed_by: row.get(13),
        lease_until_ms: row.get(14),
    }
    .decode()
}

fn status(value: TaskStatus) -> i16 {
    i16::from(value.code())
}

/// A task's status and the worker holding it, with the row locked until the transaction
/// ends.
fn lock_task(
    client: &mut impl GenericClient,
    id: &str,
) -> StoreResult<Option<(TaskStatus, Option<String>)>> {
    let row = client
        .query_opt(
            "SELECT status, claimed_by FROM tasks WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .map_err(db("reading a task's status"))?;
    row.map(|row| {
        let stored: i16 = row.get(0);
        TaskStatus::from_code(code(stored))
            .map(|status| (status, row.get(1)))
            .ok_or_else(|| corrupt(format!("task {id}: status {stored}")))
    })
    .transpose()
}

impl TaskStore for PostgresStore {
    fn create_task(&self, task: &NewTask, audit: &NewAuditEntry) -> StoreResult<()> {
        let operation = "recording a task";
        let parameters = task.parameters.to_string();
        self.audited(operation, |transaction| {
            transaction
                .execute(
                    "INSERT INTO tasks (id, kind, status, created_at_ms, requested_by, parameters)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &task.id,
                        &i16::from(task.kind.code()),
                        &status(TaskStatus::Queued),
                        &task.created_at_ms,
                        &task.requested_by,
                        &parameters,
                    ],
                )
                .map_err(|error| {
                    if is_unique_violation(&error) {
                        StoreError::Conflict(format!("task {} exists", task.id))
                    } else {
                        db(operation)(error)
                    }
                })?;
            Ok(((), Some(audit.clone())))
        })
    }

    fn task(&self, id: &str) -> StoreResult<Option<TaskRecord>> {
        let operation = "reading a task";
        self.client(operation)?
            .query_opt(
                &format!("SELECT {COLUMNS} FROM tasks WHERE id = $1"),
                &[&id],
            )
            .map_err(db(operation))?
            .as_ref()
            .map(decode)
            .transpose()
    }

    fn recent_tasks(&self, requested_by: Option<&str>, limit: u32) -> StoreResult<Vec<TaskRecord>> {
        let operation = "listing tasks";
        let rows = self
            .client(operation)?
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM tasks WHERE $1::text IS NULL OR requested_by = $1
                     ORDER BY created_at_ms DESC, id DESC LIMIT $2"
                ),
                &[&requested_by, &i64::from(limit)],
            )
            .map_err(db(operation))?;
        rows.iter().map(decode).collect()
    }

    fn claim_next_task(&self, lease: &Lease<'_>) -> StoreResult<Option<TaskRecord>> {
        let operation = "claiming a task";
        self.client(operation)?
            .query_opt(
                &format!(
                    "UPDATE tasks SET status = $1, started_at_ms = $3, claimed_by = $4,
                         lease_until_ms = $5
                     WHERE id = (
                         SELECT id FROM tasks
                         WHERE status = $2
                            OR (status = $1 AND (lease_until_ms IS NULL OR lease_until_ms <= $3))
                         ORDER BY status = $1, created_at_ms, id
                         LIMIT 1 FOR UPDATE SKIP LOCKED)
                     RETURNING {COLUMNS}"
                ),
                &[
                    &status(TaskStatus::Running),
                    &status(TaskStatus::Queued),
                    &lease.now_ms,
                    &lease.worker,
                    &lease.until_ms(),
                ],
            )
            .map_err(db(operation))?
            .as_ref()
            .map(decode)
            .transpose()
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
        let checkpoint = checkpoint.map(serde_json::Value::to_string);
        let mut client = self.client(operation)?;
        let mut transaction = client.transaction().map_err(db(operation))?;
        check_claim(id, lock_task(&mut transaction, id)?, lease.worker)?;
        let cancel: bool = transaction
            .query_one(
                "UPDATE tasks SET done = $1, total = $2, result = COALESCE($3, result),
                     lease_until_ms = $4
                 WHERE id = $5 RETURNING cancel_requested",
                &[
                    &to_i64(done),
                    &to_i64(total),
                    &checkpoint,
                    &lease.until_ms(),
                    &id,
                ],
            )
            .map_err(db(operation))?
            .get(0);
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
        let operation = "ending a task";
        let (result, error) = match outcome {
            TaskOutcome::Succeeded(result) | TaskOutcome::Cancelled(result) => {
                (Some(result.to_string()), None)
            }
            TaskOutcome::Failed(error) => (None, Some(error.as_str())),
        };
        self.audited(operation, |transaction| {
            check_claim(id, lock_task(transaction, id)?, worker)?;
            transaction
                .execute(
                    "UPDATE tasks SET status = $1, finished_at_ms = $2,
                         result = COALESCE($3, result), error = $4, lease_until_ms = NULL
                     WHERE id = $5",
                    &[&status(outcome.status()), &now_ms, &result, &error, &id],
                )
                .map_err(db(operation))?;
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
            let outcome = match lock_task(transaction, id)?.map(|(status, _)| status) {
                None => return Err(StoreError::NotFound(format!("task {id}"))),
                Some(status) if status.is_finished() => {
                    return Ok((CancelOutcome::AlreadyFinished(status), None))
                }
                Some(TaskStatus::Queued) => {
                    transaction
                        .execute(
                            "UPDATE tasks SET status = $1, finished_at_ms = $2,
                                 cancel_requested = TRUE
                             WHERE id = $3",
                            &[&status(TaskStatus::Cancelled), &now_ms, &id],
                        )
                        .map_err(db(operation))?;
                    CancelOutcome::Cancelled
                }
                Some(_) => {
                    transaction
                        .execute(
                            "UPDATE tasks SET cancel_requested = TRUE WHERE id = $1",
                            &[&id],
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
        let rows = self
            .client(operation)?
            .query(
                &format!(
                    "UPDATE tasks SET status = $1, claimed_by = NULL, lease_until_ms = NULL
                     WHERE status = $2 AND (claimed_by IS NULL OR claimed_by = $3)
                     RETURNING {COLUMNS}"
                ),
                &[
                    &status(TaskStatus::Queued),
                    &status(TaskStatus::Running),
                    &worker,
                ],
            )
            .map_err(db(operation))?;
        let mut tasks = rows.iter().map(decode).collect::<StoreResult<Vec<_>>>()?;
        tasks.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        Ok(tasks)
    }

    fn unfinished_tasks(&self) -> StoreResult<Vec<TaskRecord>> {
        let operation = "listing tasks";
        let rows = self
            .client(operation)?
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM tasks WHERE status IN ($1, $2)
                     ORDER BY created_at_ms, id"
                ),
                &[&status(TaskStatus::Queued), &status(TaskStatus::Running)],
            )
            .map_err(db(operation))?;
        rows.iter().map(decode).collect()
    }

    fn put_task_input(&self, id: &str, input: &str) -> StoreResult<()> {
        let operation = "writing a task's input";
        self.client(operation)?
            .execute(
                "INSERT INTO task_inputs (task_id, input) VALUES ($1, $2)
                 ON CONFLICT (task_id) DO UPDATE SET input = excluded.input",
                &[&id, &input],
            )
            .map_err(db(operation))?;
        Ok(())
    }

    fn task_input(&self, id: &str) -> StoreResult<Option<String>> {
        let operation = "reading a task's input";
        Ok(self
            .client(operation)?
            .query_opt("SELECT input FROM task_inputs WHERE task_id = $1", &[&id])
            .map_err(db(operation))?
            .map(|row| row.get(0)))
    }

    fn remove_task_input(&self, id: &str) -> StoreResult<()> {
        let operation = "removing a task's input";
        self.client(operation)?
            .execute("DELETE FROM task_inputs WHERE task_id = $1", &[&id])
            .map_err(db(operation))?;
        Ok(())
    }
}

fn job_from_row(row: &Row) -> ScheduledJob {
    ScheduledJob {
        name: row.get(0),
        interval_ms: row.get(1),
        last_run_at_ms: row.get(2),
        next_due_at_ms: row.get(3),
    }
}

impl ScheduleStore for PostgresStore {
    fn scheduled_jobs(&self) -> StoreResult<Vec<ScheduledJob>> {
        let operation = "reading the schedule";
        let rows = self
            .client(operation)?
            .query(
                "SELECT name, interval_ms, last_run_at_ms, next_due_at_ms FROM schedule
                 ORDER BY name COLLATE \"C\"",
                &[],
            )
            .map_err(db(operation))?;
        Ok(rows.iter().map(job_from_row).collect())
    }

    fn put_scheduled_job(&self, job: &ScheduledJob) -> StoreResult<()> {
        let operation = "storing a scheduled job";
        self.client(operation)?
            .execute(
                "INSERT INTO schedule (name, interval_ms, last_run_at_ms, next_due_at_ms)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO UPDATE SET interval_ms = excluded.interval_ms,
                     last_run_at_ms = excluded.last_run_at_ms,
                     next_due_at_ms = excluded.next_due_at_ms",
                &[
                    &job.name,
                    &job.interval_ms,
                    &job.last_run_at_ms,
                    &job.next_due_at_ms,
                ],
            )
            .map_err(db(operation))?;
        Ok(())
    }

    fn claim_scheduled_job(
        &self,
        name: &str,
        expected_next_due_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Option<ScheduledJob>> {
        let operation = "claiming a scheduled job";
        // One statement: a second node racing for the same due time waits for the row,
        // re-reads it once the first commits, and no longer matches.
        Ok(self
            .client(operation)?
            .query_opt(
                "UPDATE schedule SET last_run_at_ms = $3, next_due_at_ms = $3 + interval_ms
                 WHERE name = $1 AND next_due_at_ms = $2 AND next_due_at_ms <= $3
                 RETURNING name, interval_ms, last_run_at_ms, next_due_at_ms",
                &[&name, &expected_next_due_ms, &now_ms],
            )
            .map_err(db(operation))?
            .as_ref()
            .map(job_from_row))
    }
}
