//! `/v1/playbooks`: the response playbook's versions, the active one and its tasks by
//! level; thin callers of the playbook service.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use shopguard_api_types::{
    ActivatePlaybookRequest, ActivePlaybookView, ApiError, CreatePlaybookRequest, PlaybookTasks,
    PlaybookTasksQuery, PlaybookVersionList, PlaybookVersionView,
};
use shopguard_app::playbooks::ActiveVersion;
use shopguard_storage::PlaybookVersion;

use super::directory::{DirectoryRead, DirectoryWrite};
use crate::error::AppResult;
use crate::extract::{Caller, JsonBody, Params, PathParams};
use crate::state::AppState;

fn version_view(version: PlaybookVersion, active_version: i64) -> PlaybookVersionView {
    PlaybookVersionView {
        active: version.version == active_version,
        version: version.version,
        author: version.author,
        created_at_ms: version.created_at_ms,
        comment: version.comment,
        playbook: version.playbook,
    }
}

fn active_view(active: ActiveVersion) -> ActivePlaybookView {
    ActivePlaybookView {
        version: version_view(active.version, active.active.version),
        activated_at_ms: active.active.activated_at_ms,
        activated_by: active.active.activated_by,
    }
}

/// Every version of the playbook, newest first (the built-in one is version 1).
#[utoipa::path(get, path = "/v1/playbooks", tag = "playbooks",
    responses((status = 200, body = PlaybookVersionList)),
    security(("api_key" = ["incidents:read"])))]
pub async fn list_versions(
    State(state): State<AppState>,
    caller: Caller<DirectoryRead>,
) -> AppResult<Json<PlaybookVersionList>> {
    let principal = caller.principal.clone();
    let (versions, active_version) = state
        .run(move |app| app.playbooks.versions(&principal))
        .await?;
    Ok(Json(PlaybookVersionList {
        active_version,
        versions: versions
            .into_iter()
            .map(|version| version_view(version, active_version))
            .collect(),
    }))
}

/// The active playbook.
#[utoipa::path(get, path = "/v1/playbooks/active", tag = "playbooks",
    responses((status = 200, body = ActivePlaybookView)),
    security(("api_key" = ["incidents:read"])))]
pub async fn get_active(
    State(state): State<AppState>,
    caller: Caller<DirectoryRead>,
) -> AppResult<Json<ActivePlaybookView>> {
    let principal = caller.principal.clone();
    let active = state
        .run(move |app| app.playbooks.active(&principal))
        .await?;
    Ok(Json(active_view(active)))
}

/// The tasks of the active playbook for an incident at `level`: cumulative, level IV's
/// first.
#[utoipa::path(get, path = "/v1/playbooks/active/tasks", tag = "playbooks",
    params(PlaybookTasksQuery),
    responses((status = 200, body = PlaybookTasks)),
    security(("api_key" = ["incidents:read"])))]
pub async fn active_tasks(
    State(state): State<AppState>,
    caller: Caller<DirectoryRead>,
    Params(query): Params<PlaybookTasksQuery>,
) -> AppResult<Json<PlaybookTasks>> {
    let principal = caller.principal.clone();
    let level = query.level;
    let (version, tasks) = state
        .run(move |app| app.playbooks.tasks(level, &principal))
        .await?;
    Ok(Json(PlaybookTasks {
        version,
        level,
        tasks,
    }))
}

/// One version of the playbook.
#[utoipa::path(get, path = "/v1/playbooks/{version}", tag = "playbooks",
    params(("version" = i64, Path, description = "version number", minimum = 1)),
    responses((status = 200, body = PlaybookVersionView), (status = 404, body = ApiError)),
    security(("api_key" = ["incidents:read"])))]
pub async fn get_version(
    State(state): State<AppState>,
    caller: Caller<DirectoryRead>,
    PathParams(version): PathParams<i64>,
) -> AppResult<Json<PlaybookVersionView>> {
    let principal = caller.principal.clone();
    let (found, active) = state
        .run(move |app| {
            let found = app.playbooks.version(version, &principal)?;
            Ok((found, app.playbooks.active_version()?.active.version))
        })
        .await?;
    Ok(Json(version_view(found, active)))
}

/// Adds a version of the playbook (validated, not activated).
#[utoipa::path(post, path = "/v1/playbooks", tag = "playbooks",
    request_body = CreatePlaybookRequest,
    responses((status = 201, body = PlaybookVersionView),
        (status = 409, description = "another version was added at the same moment; retry", body = ApiError)),
    security(("api_key" = ["directory:write"])))]
pub async fn create_version(
    State(state): State<AppState>,
    caller: Caller<DirectoryWrite>,
    JsonBody(request): JsonBody<CreatePlaybookRequest>,
) -> AppResult<(StatusCode, Json<PlaybookVersionView>)> {
    let principal = caller.principal.clone();
    let (created, active) = state
        .run(move |app| {
            let created = app
                .playbooks
                .create(&request.playbook, &request.comment, &principal)?;
            Ok((created, app.playbooks.active_version()?.active.version))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(version_view(created, active))))
}

/// Makes a version the active one, if the one the caller saw active still is.
#[utoipa::path(post, path = "/v1/playbooks/{version}/activate", tag = "playbooks",
    params(("version" = i64, Path, description = "version number", minimum = 1)),
    request_body = ActivatePlaybookRequest,
    responses((status = 200, body = ActivePlaybookView), (status = 404, body = ApiError),
        (status = 409, description = "another version was activated meanwhile (reload)", body = ApiError)),
    security(("api_key" = ["directory:write"])))]
pub async fn activate(
    State(state): State<AppState>,
    caller: Caller<DirectoryWrite>,
    PathParams(version): PathParams<i64>,
    JsonBody(request): JsonBody<ActivatePlaybookRequest>,
) -> AppResult<Json<ActivePlaybookView>> {
    let principal = caller.principal.clone();
    let active = state
        .run(move |app| {
            app.playbooks
                .activate(version, request.expected_active, &principal)
        })
        .await?;
    Ok(Json(active_view(active)))
}
