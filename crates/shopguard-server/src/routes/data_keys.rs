//! `POST /v1/data-keys/rotate`, `POST /v1/data-keys/reencrypt`: field encryption keys.

use axum::extract::State;
use axum::Json;
use shopguard_api_types::{DataKeyRotation, ReencryptReport};

use crate::error::AppResult;
use crate::extract::{Admin, Caller};
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

/// Re-encrypts the personal fields of every logged decision with the active data key (and
/// encrypts any written in the clear). Runs while the node keeps serving; progress goes to
/// the log.
#[utoipa::path(post, path = "/v1/data-keys/reencrypt", tag = "data protection",
    responses((status = 200, body = ReencryptReport)), security(("api_key" = ["admin"])))]
pub async fn reencrypt(
    State(state): State<AppState>,
    caller: Caller<Admin>,
) -> AppResult<Json<ReencryptReport>> {
    let actor = caller.actor().clone();
    let started = std::time::Instant::now();
    let records_changed = state
        .run(move |app| {
            app.data_keys.reencrypt(&actor, &mut |done, total| {
                tracing::info!(done, total, "re-encrypting decision segments");
            })
        })
        .await?;
    Ok(Json(ReencryptReport {
        records_changed,
        seconds: started.elapsed().as_secs_f64(),
    }))
}
