//! Durable tasks: long work (re-encryption, large imports) recorded before it starts, so
//! that a caller can poll it, cancel it, and a node that stops half-way runs it again.
//!
//! # Life of a task
//! `queued` → (claimed by a worker) `running` → `succeeded` | `failed` | `cancelled`.
//! A queued task whose cancellation is asked for is `cancelled` at once; a running one is
//! flagged (`cancel_requested`) and its worker stops at its next check.
//!
//! # Claims and leases
//! Several nodes may share one task table (PostgreSQL). A worker claims a task under its
//! name with a [`Lease`]: the task is its own until the lease runs out, and every progress
//! record renews it. A running task whose lease has run out (its node died or hung) is
//! claimable again by any worker, which resumes it from its checkpoint. Progress and the
//! end of a task are fenced by the claim: a worker that lost its task to another gets
//! `Conflict` and stops. A task left `running` by a node that restarts goes back to
//! `queued` at once when that node opens ([`TaskStore::requeue_running_tasks`] with the
//! node's worker name), without waiting for its lease.
//!
//! # Inputs
//! A task's large input (an import's text) is kept by the store beside the task
//! ([`TaskStore::put_task_input`]): in a file of the data folder on the embedded backend,
//! in a row on PostgreSQL, so that whichever node claims the task can read it.
//!
//! # Stored codes
//! [`TaskKind`] and [`TaskStatus`] are stored as the explicit codes of their `code`
//! tables, pinned by tests: a new variant takes a new code, old codes never move.

use crate::audit_log::NewAuditEntry;
use crate::{StoreError, StoreResult};

/// What a task does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskKind {
    /// Re-encrypt the personal fields of logged decisions with the active data key.
    Reencrypt,
    /// Import a large text of list entries.
    ListImport,
}

impl TaskKind {
    /// Every kind, in code order.
    pub const ALL: [TaskKind; 2] = [TaskKind::Reencrypt, TaskKind::ListImport];

    /// The stored code (explicit; never the declaration order).
    pub const fn code(self) -> u8 {
        match self {
            TaskKind::Reencrypt => 1,
            TaskKind::ListImport => 2,
        }
    }

    /// The kind of a stored code.
    pub fn from_code(code: u8) -> Option<TaskKind> {
        match code {
            1 => Some(TaskKind::Reencrypt),
            2 => Some(TaskKind::ListImport),
            _ => None,
        }
    }

    /// The name shown in the API and the audit log.
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskKind::Reencrypt => "reencrypt",
            TaskKind::ListImport => "list_import",
        }
    }
}

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker is running it.
    Running,
    /// Done.
    Succeeded,
    /// Stopped by an error.
    Failed,
    /// Stopped at a caller's request.
    Cancelled,
}

impl TaskStatus {
    /// Every status, in code order.
    pub const ALL: [TaskStatus; 5] = [
        TaskStatus::Queued,
        TaskStatus::Running,
        TaskStatus::Succeeded,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
    ];

    /// The stored code (explicit; never the declaration order).
    pub const fn code(self) -> u8 {
        match self {
            TaskStatus::Queued => 1,
            TaskStatus::Running => 2,
            TaskStatus::Succeeded => 3,
            TaskStatus::Failed => 4,
            TaskStatus::Cancelled => 5,
        }
    }

    /// The status of a stored code.
    pub fn from_code(code: u8) -> Option<TaskStatus> {
        match code {
            1 => Some(TaskStatus::Queued),
            2 => Some(TaskStatus::Running),
            3 => Some(TaskStatus::Succeeded),
            4 => Some(TaskStatus::Failed),
            5 => Some(TaskStatus::Cancelled),
            _ => None,
        }
    }

    /// The name shown in the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the task has ended (succeeded, failed or cancelled).
    pub const fn is_finished(self) -> bool {
        matches!(
            self,
            TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }
}

/// A stored task.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRecord {
    /// Its id (UUIDv7).
    pub id: String,
    /// What it does.
    pub kind: TaskKind,
    /// Where it is.
    pub status: TaskStatus,
    /// Units done so far (the kind says which units).
    pub done: u64,
    /// Units to do, once known.
    pub total: u64,
    /// When it was submitted.
    pub created_at_ms: i64,
    /// When a worker last started it.
    pub started_at_ms: Option<i64>,
    /// When it ended.
    pub finished_at_ms: Option<i64>,
    /// Who submitted it (an actor as every record spells it).
    pub requested_by: String,
    /// The kind's parameters.
    pub parameters: serde_json::Value,
    /// The result once succeeded; while running, the kind's checkpoint (what a resumed run
    /// continues from).
    pub result: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// Whether a caller asked it to stop.
    pub cancel_requested: bool,
    /// The worker that holds (or last held) it.
    pub claimed_by: Option<String>,
    /// When that worker's hold runs out, while it runs.
    pub lease_until_ms: Option<i64>,
}

/// A task to record.
#[derive(Clone, Debug, PartialEq)]
pub struct NewTask {
    /// Its id.
    pub id: String,
    /// What it does.
    pub kind: TaskKind,
    /// Who submits it.
    pub requested_by: String,
    /// The kind's parameters.
    pub parameters: serde_json::Value,
    /// When.
    pub created_at_ms: i64,
}

/// How a task ended.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskOutcome {
    /// Done, with its result.
    Succeeded(serde_json::Value),
    /// Stopped by an error.
    Failed(String),
    /// Stopped at a caller's request, with what was done until then.
    Cancelled(serde_json::Value),
}

impl TaskOutcome {
    /// The status this outcome leaves the task in.
    pub fn status(&self) -> TaskStatus {
        match self {
            TaskOutcome::Succeeded(_) => TaskStatus::Succeeded,
            TaskOutcome::Failed(_) => TaskStatus::Failed,
            TaskOutcome::Cancelled(_) => TaskStatus::Cancelled,
        }
    }
}

/// What a cancellation request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The task was queued and is now cancelled.
    Cancelled,
    /// The task is running; its worker stops at its next check.
    Requested,
    /// The task had already ended; nothing changed (no audit entry is stored).
    AlreadyFinished(TaskStatus),
}

/// A worker's hold on the task it claims or works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease<'a> {
    /// The worker's name (a node's name: the same across its restarts).
    pub worker: &'a str,
    /// Now.
    pub now_ms: i64,
    /// How long the hold lasts from now unless renewed.
    pub duration_ms: i64,
}

impl Lease<'_> {
    /// When the hold runs out.
    pub fn until_ms(&self) -> i64 {
        self.now_ms.saturating_add(self.duration_ms)
    }
}

/// Durable tasks.
pub trait TaskStore: Send + Sync {
    /// Records a queued task, with its audit entry in the same transaction.
    fn create_task(&self, task: &NewTask, audit: &NewAuditEntry) -> StoreResult<()>;
    /// The task with this id.
    fn task(&self, id: &str) -> StoreResult<Option<TaskRecord>>;
    /// The most recent tasks, newest first; only those requested by `requested_by` when
    /// given.
    fn recent_tasks(&self, requested_by: Option<&str>, limit: u32) -> StoreResult<Vec<TaskRecord>>;
    /// Takes the oldest queued task, or else the oldest running task whose lease has run
    /// out, and marks it running under `lease` (started now); `None` when none waits. Two
    /// workers never hold the same task at once.
    fn claim_next_task(&self, lease: &Lease<'_>) -> StoreResult<Option<TaskRecord>>;
    /// Records a running task's progress and checkpoint (kept in `result` until it ends)
    /// and renews the worker's lease; returns whether its cancellation was asked for.
    /// `NotFound` for an unknown task; `Conflict` when the task is no longer running under
    /// this worker's claim (another worker took it over, or it ended).
    fn update_task_progress(
        &self,
        id: &str,
        lease: &Lease<'_>,
        done: u64,
        total: u64,
        checkpoint: Option<&serde_json::Value>,
    ) -> StoreResult<bool>;
    /// Ends a task with its outcome, with its audit entry in the same transaction.
    /// `Conflict` when the task has already ended or is running under another worker's
    /// claim.
    fn finish_task(
        &self,
        id: &str,
        worker: &str,
        outcome: &TaskOutcome,
        now_ms: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// Asks a task to stop: a queued task is cancelled at once, a running one flagged; the
    /// audit entry is stored with the change (none when the task had already ended).
    /// `NotFound` for an unknown task.
    fn request_task_cancel(
        &self,
        id: &str,
        now_ms: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<CancelOutcome>;
    /// Puts every task left `running` under `worker`'s claim (by this node before it
    /// restarted), or under no claim, back to `queued`; returns them. Called when a node
    /// opens, before its workers start. Tasks other workers hold are left alone.
    fn requeue_running_tasks(&self, worker: &str) -> StoreResult<Vec<TaskRecord>>;
    /// Every task not yet ended (queued or running), oldest first.
    fn unfinished_tasks(&self) -> StoreResult<Vec<TaskRecord>>;
    /// Keeps a task's input (an import's text) durably, before the task is recorded.
    fn put_task_input(&self, id: &str, input: &str) -> StoreResult<()>;
    /// A task's input, if one is kept.
    fn task_input(&self, id: &str) -> StoreResult<Option<String>>;
    /// Removes a task's input (once the task has ended, or was never recorded); nothing
    /// happens when none is kept.
    fn remove_task_input(&self, id: &str) -> StoreResult<()>;
}

/// A row as read, before its codes and JSON are checked.
pub(crate) struct RawTask {
    pub(crate) id: String,
    pub(crate) kind: u8,
    pub(crate) status: u8,
    pub(crate) done: i64,
    pub(crate) total: i64,
    pub(crate) created_at_ms: i64,
    pub(crate) started_at_ms: Option<i64>,
    pub(crate) finished_at_ms: Option<i64>,
    pub(crate) requested_by: String,
    pub(crate) parameters: String,
    pub(crate) result: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) cancel_requested: bool,
    pub(crate) claimed_by: Option<String>,
    pub(crate) lease_until_ms: Option<i64>,
}

pub(crate) fn corrupt(detail: String) -> StoreError {
    StoreError::Corrupt {
        operation: "reading a task",
        detail,
    }
}

fn json(text: &str, id: &str) -> StoreResult<serde_json::Value> {
    serde_json::from_str(text).map_err(|error| corrupt(format!("task {id}: {error}")))
}

impl RawTask {
    pub(crate) fn decode(self) -> StoreResult<TaskRecord> {
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
            claimed_by: self.claimed_by,
            lease_until_ms: self.lease_until_ms,
            id: self.id,
        })
    }
}

/// `Conflict` unless the task is running under `worker`'s claim.
pub(crate) fn check_claim(
    id: &str,
    state: Option<(TaskStatus, Option<String>)>,
    worker: &str,
) -> StoreResult<()> {
    match state {
        None => Err(StoreError::NotFound(format!("task {id}"))),
        Some((status, _)) if status.is_finished() => Err(StoreError::Conflict(format!(
            "task {id} has already ended ({})",
            status.as_str()
        ))),
        Some((TaskStatus::Running, Some(holder))) if holder == worker => Ok(()),
        Some((status, holder)) => Err(StoreError::Conflict(format!(
            "task {id} is {} under {}, not under {worker}",
            status.as_str(),
            holder.as_deref().unwrap_or("no worker")
        ))),
    }
}

/// A count as stored (counts beyond `i64::MAX` are held there).
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored codes are a format: this table may only grow.
    #[test]
    fn task_kind_codes_are_pinned() {
        let table: Vec<(u8, &str)> = TaskKind::ALL
            .iter()
            .map(|kind| (kind.code(), kind.as_str()))
            .collect();
        assert_eq!(table, vec![(1, "reencrypt"), (2, "list_import")]);
        for kind in TaskKind::ALL {
            assert_eq!(TaskKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(TaskKind::from_code(0), None);
        assert_eq!(TaskKind::from_code(3), None);
    }

    /// The stored codes are a format: this table may only grow.
    #[test]
    fn task_status_codes_are_pinned() {
        let table: Vec<(u8, &str, bool)> = TaskStatus::ALL
            .iter()
            .map(|status| (status.code(), status.as_str(), status.is_finished()))
            .collect();
        assert_eq!(
            table,
            vec![
                (1, "queued", false),
                (2, "running", false),
                (3, "succeeded", true),
                (4, "failed", true),
                (5, "cancelled", true),
            ]
        );
        for status in TaskStatus::ALL {
            assert_eq!(TaskStatus::from_code(status.code()), Some(status));
        }
        assert_eq!(TaskStatus::from_code(0), None);
        assert_eq!(TaskStatus::from_code(6), None);
    }
}
