//! `POST /v1/data-keys/rotate`, `POST /v1/data-keys/reencrypt`: field encryption keys.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use shopguard_api_types::{DataKeyRotation, Task};

use crate::error::AppResult;
use crate::extract::{Admin, Caller};
use crate::routes::tasks::task_view;
use crate::state::AppState;

/// Makes a new data key the one that encrypts personal fields, without downtime; values
/// sealed under older keys stay readable until re-encrypted.
#[utoipa::path(post, path = "/v1/data-keys/rotate", tag = "data protection",
    responses((status = 200, body = DataKeyRotation)), security(("api_key" = ["admin"])))]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller<Admin>,
) -> AppResult<Json<DataKeyRotation>> {
    let actor = caller.actor().clone();
    let active_key = state.run(move |app| app.data_keys.rotate(&actor)).await?;
    Ok(Json(DataKeyRotation { active_key }))
}

/// Queues the re-encryption of every logged decision's personal fields with the active
/// data key (and the encryption of any written in the clear), while the node keeps serving:
/// `202` with the task to poll at `GET /v1/tasks/{id}` (progress in decision segments; the
/// result holds `records_changed`).
#[utoipa::path(post, path = "/v1/data-keys/reencrypt", tag = "data protection",
    responses((status = 202, body = Task)), security(("api_key" = ["admin"])))]
pub async fn reencrypt(
    State(state): State<AppState>,
    caller: Caller<Admin>,
) -> AppResult<(StatusCode, Json<Task>)> {
    let actor = caller.actor().clone();
    let task = state
        .run(move |app| app.tasks.submit_reencrypt(&actor))
        .await?;
    Ok((StatusCode::ACCEPTED, Json(task_view(task))))
}
