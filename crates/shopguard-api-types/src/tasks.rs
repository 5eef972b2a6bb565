//! Tasks: long work answered at once with `202`, polled at `GET /v1/tasks/{id}`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// What a task does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Re-encrypt logged decisions' personal fields with the active data key.
    Reencrypt,
    /// Import a large list text.
    ListImport,
}

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker is running it.
    Running,
    /// Done; see `result`.
    Succeeded,
    /// Stopped by an error; see `error`.
    Failed,
    /// Stopped at a caller's request; `result` says what was done until then.
    Cancelled,
}

/// A task: long work answered at once with `202` and polled at `GET /v1/tasks/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Task {
    /// Its id.
    pub id: String,
    /// What it does.
    pub kind: TaskKind,
    /// Where it is.
    pub status: TaskStatus,
    /// Units done (decision segments for `reencrypt`, lines for `list_import`).
    pub done: u64,
    /// Units to do, once known.
    pub total: u64,
    /// When it was submitted.
    pub created_at_ms: i64,
    /// When a worker last started it.
    pub started_at_ms: Option<i64>,
    /// When it ended.
    pub finished_at_ms: Option<i64>,
    /// Who submitted it.
    pub requested_by: String,
    /// Its parameters.
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
    /// Its result once ended (for `list_import`, the shape of an import report); while it
    /// runs, what it has done so far.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// Whether its cancellation was asked for.
    pub cancel_requested: bool,
}

/// `GET /v1/tasks` answer, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskList {
    /// The tasks.
    pub tasks: Vec<Task>,
}

/// `GET /v1/tasks` query.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    /// At most this many: 1 to 1,000, 100 when absent; a larger value is refused (`400`,
    /// naming the maximum), never clamped.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}
