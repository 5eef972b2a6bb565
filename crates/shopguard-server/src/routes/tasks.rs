//! `GET /v1/tasks`, `GET /v1/tasks/{id}`, `POST /v1/tasks/{id}/cancel`: long work answered
//! with `202` and a task to poll. A task is visible to admin and to the caller that
//! submitted it; to anyone else it does not exist (`404`).

use axum::extract::State;
use axum::Json;
use shopguard_api_types::{ApiError, Task, TaskKind, TaskList, TaskQuery, TaskStatus};
use shopguard_storage::tasks as stored;
use shopguard_storage::TaskRecord;

use crate::error::AppResult;
use crate::extract::{page_limit, Authenticated, Params, PathParams};
use crate::state::AppState;

fn kind(kind: stored::TaskKind) -> TaskKind {
    match kind {
        stored::TaskKind::Reencrypt => TaskKind::Reencrypt,
        stored::TaskKind::ListImport => TaskKind::ListImport,
    }
}

fn status(status: stored::TaskStatus) -> TaskStatus {
    match status {
        stored::TaskStatus::Queued => TaskStatus::Queued,
        stored::TaskStatus::Running => TaskStatus::Running,
        stored::TaskStatus::Succeeded => TaskStatus::Succeeded,
        stored::TaskStatus::Failed => TaskStatus::Failed,
        stored::TaskStatus::Cancelled => TaskStatus::Cancelled,
    }
}

/// A stored task as the API shows it.
pub fn task_view(task: TaskRecord) -> Task {
    Task {
        kind: kind(task.kind),
        status: status(task.status),
        done: task.done,
        total: task.total,
        created_at_ms: task.created_at_ms,
        started_at_ms: task.started_at_ms,
        finished_at_ms: task.finished_at_ms,
        requested_by: task.requested_by,
        parameters: task.parameters,
        result: task.result,
        error: task.error,
        cancel_requested: task.cancel_requested,
        id: task.id,
    }
}

/// One task: its status, progress and, once ended, its result or error.
#[utoipa::path(get, path = "/v1/tasks/{id}", tag = "tasks", params(("id" = String, Path, description = "task id")),
    responses((status = 200, body = Task), (status = 404, body = ApiError)), security(("api_key" = [])))]
pub async fn get_task(
    State(state): State<AppState>,
    caller: Authenticated,
    PathParams(id): PathParams<String>,
) -> AppResult<Json<Task>> {
    let principal = caller.principal;
    let task = state.run(move |app| app.tasks.get(&id, &principal)).await?;
    Ok(Json(task_view(task)))
}

/// The most recent tasks the caller may see, newest first.
#[utoipa::path(get, path = "/v1/tasks", tag = "tasks", params(TaskQuery),
    responses((status = 200, body = TaskList)), security(("api_key" = [])))]
pub async fn list_tasks(
    State(state): State<AppState>,
    caller: Authenticated,
    Params(query): Params<TaskQuery>,
) -> AppResult<Json<TaskList>> {
    let principal = caller.principal;
    let limit = page_limit(query.limit)?;
    let tasks = state
        .run(move |app| app.tasks.recent(&principal, limit))
        .await?;
    Ok(Json(TaskList {
        tasks: tasks.into_iter().map(task_view).collect(),
    }))
}

/// Asks a task to stop: a queued task is cancelled at once; a running one stops at its
/// next chunk boundary (`cancel_requested` until then). `409` when it has already ended.
#[utoipa::path(post, path = "/v1/tasks/{id}/cancel", tag = "tasks", params(("id" = String, Path, description = "task id")),
    responses((status = 200, body = Task), (status = 404, body = ApiError), (status = 409, body = ApiError)),
    security(("api_key" = [])))]
pub async fn cancel_task(
    State(state): State<AppState>,
    caller: Authenticated,
    PathParams(id): PathParams<String>,
) -> AppResult<Json<Task>> {
    let principal = caller.principal;
    let task = state
        .run(move |app| app.tasks.cancel(&id, &principal))
        .await?;
    Ok(Json(task_view(task)))
}
