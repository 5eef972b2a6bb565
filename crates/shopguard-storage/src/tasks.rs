//! Durable tasks: long work (re-encryption, large imports) recorded before it starts, so
//! that a caller can poll it, cancel it, and a node that stops half-way runs it again.
//!
//! # Life of a task
//! `queued` → (claimed by a worker) `running` → `succeeded` | `failed` | `cancelled`.
//! A queued task whose cancellation is asked for is `cancelled` at once; a running one is
//! flagged (`cancel_requested`) and its worker stops at its next check. A task left
//! `running` by a crash goes back to `queued` when the node opens
//! ([`TaskStore::requeue_running_tasks`]).
//!
//! # Stored codes
//! [`TaskKind`] and [`TaskStatus`] are stored as the explicit codes of their `code`
//! tables, pinned by tests: a new variant takes a new code, old codes never move.

use crate::audit_log::NewAuditEntry;
use crate::StoreResult;

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

/// Durable tasks.
pub trait TaskStore: Send + Sync {
    /// Records a queued task, with its audit entry in the same transaction.
    fn create_task(&self, task: &NewTask, audit: &NewAuditEntry) -> StoreResult<()>;
    /// The task with this id.
    fn task(&self, id: &str) -> StoreResult<Option<TaskRecord>>;
    /// The most recent tasks, newest first; only those requested by `requested_by` when
    /// given.
    fn recent_tasks(&self, requested_by: Option<&str>, limit: u32) -> StoreResult<Vec<TaskRecord>>;
    /// Takes the oldest queued task and marks it running (started now); `None` when none
    /// waits. Two workers never claim the same task.
    fn claim_next_task(&self, now_ms: i64) -> StoreResult<Option<TaskRecord>>;
    /// Records a running task's progress and checkpoint (kept in `result` until it ends);
    /// returns whether its cancellation was asked for. `NotFound` for an unknown task.
    fn update_task_progress(
        &self,
        id: &str,
        done: u64,
        total: u64,
        checkpoint: Option<&serde_json::Value>,
    ) -> StoreResult<bool>;
    /// Ends a task with its outcome, with its audit entry in the same transaction.
    /// `Conflict` when the task has already ended.
    fn finish_task(
        &self,
        id: &str,
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
    /// Puts every task left `running` (by a node that stopped without finishing it) back
    /// to `queued`; returns them. Called when a node opens, before its workers start.
    fn requeue_running_tasks(&self) -> StoreResult<Vec<TaskRecord>>;
    /// Every task not yet ended (queued or running), oldest first.
    fn unfinished_tasks(&self) -> StoreResult<Vec<TaskRecord>>;
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
