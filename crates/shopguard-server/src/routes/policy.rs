//! `GET /v1/policy`, `GET /v1/policy/versions`, `PUT /v1/policy`, `POST /v1/policy/check`,
//! `POST /v1/policy/rollback`.

use axum::extract::State;
use axum::Json;
use shopguard_api_types::{
    ApiError, ErrorCode, FixtureResult, PolicyCheckResponse, PolicyInfo, PolicyUpdateQuery,
    PolicyVersionList, RollbackRequest,
};
use shopguard_core::FixtureReport;
use shopguard_storage::PolicyVersion;

use crate::error::{AppError, AppResult};
use crate::extract::{Caller, JsonBody, Params, PolicyWrite, TextBody};
use crate::state::{now_ms, AppState};
use shopguard_core::audit::RecordClass;

fn info(version: PolicyVersion, active: u64, with_source: bool) -> PolicyInfo {
    PolicyInfo {
        active: version.version == active,
        version: version.version,
        sha256: version.sha256,
        author: version.author,
        comment: version.comment,
        created_at_ms: version.created_at_ms,
        source: with_source.then_some(version.source),
    }
}

fn fixture_results(reports: Vec<FixtureReport>) -> Vec<FixtureResult> {
    reports
        .into_iter()
        .map(|report| FixtureResult {
            passed: report.passed(),
            name: report.name,
            events: report.events,
            failures: report.failures,
        })
        .collect()
}

/// The live policy with its source.
#[utoipa::path(get, path = "/v1/policy", tag = "policy", responses((status = 200, body = PolicyInfo)), security(("api_key" = ["policy:write"])))]
pub async fn get_policy(
    State(state): State<AppState>,
    _caller: Caller<PolicyWrite>,
) -> AppResult<Json<PolicyInfo>> {
    let live = state.engine.policy().version;
    let store = state.store.clone();
    let version = tokio::task::spawn_blocking(move || store.policy_version(live)).await??;
    let version = version
        .ok_or_else(|| AppError::internal(format!("live policy version {live} is not stored")))?;
    Ok(Json(info(version, live, true)))
}

/// Every stored version, newest first.
#[utoipa::path(get, path = "/v1/policy/versions", tag = "policy", responses((status = 200, body = PolicyVersionList)), security(("api_key" = ["policy:write"])))]
pub async fn list_versions(
    State(state): State<AppState>,
    _caller: Caller<PolicyWrite>,
) -> AppResult<Json<PolicyVersionList>> {
    let live = state.engine.policy().version;
    let store = state.store.clone();
    let versions = tokio::task::spawn_blocking(move || store.policy_versions()).await??;
    Ok(Json(PolicyVersionList {
        versions: versions
            .into_iter()
            .map(|version| info(version, live, false))
            .collect(),
    }))
}

/// Compiles a policy (TOML body) and runs its fixtures, without making it live.
#[utoipa::path(post, path = "/v1/policy/check", tag = "policy", request_body(content = String, content_type = "application/toml"),
    responses((status = 200, body = PolicyCheckResponse), (status = 422, body = ApiError)), security(("api_key" = ["policy:write"])))]
pub async fn check_policy(
    _caller: Caller<PolicyWrite>,
    TextBody(source): TextBody,
) -> AppResult<Json<PolicyCheckResponse>> {
    let check =
        tokio::task::spawn_blocking(move || shopguard_core::check_policy(&source)).await??;
    Ok(Json(PolicyCheckResponse {
        version: None,
        rules: check.rules,
        features: check.features,
        fixtures: fixture_results(check.fixtures),
    }))
}

/// Stores a new policy version and makes it live, atomically, if it compiles and its
/// fixtures pass; otherwise nothing changes.
#[utoipa::path(put, path = "/v1/policy", tag = "policy", params(PolicyUpdateQuery), request_body(content = String, content_type = "application/toml"),
    responses((status = 200, body = PolicyCheckResponse), (status = 422, body = ApiError)), security(("api_key" = ["policy:write"])))]
pub async fn put_policy(
    State(state): State<AppState>,
    caller: Caller<PolicyWrite>,
    Params(query): Params<PolicyUpdateQuery>,
    TextBody(source): TextBody,
) -> AppResult<Json<PolicyCheckResponse>> {
    let engine = state.engine.clone();
    let store = state.store.clone();
    let actor = caller.actor();
    let comment = query.comment.unwrap_or_default();
    let audit_comment = comment.clone();
    let response = tokio::task::spawn_blocking(move || -> AppResult<PolicyCheckResponse> {
        let check = shopguard_core::check_policy(&source)?;
        let now = now_ms();
        let version = store.insert_policy_version(&source, &actor, &comment, now)?;
        let compiled = engine.install_policy(&check, version)?;
        store.activate_policy_version(version, &actor, now)?;
        tracing::info!(version, actor = %actor, "policy replaced");
        Ok(PolicyCheckResponse {
            version: Some(version),
            rules: compiled.rules.len(),
            features: compiled.features.len(),
            fixtures: fixture_results(check.fixtures),
        })
    })
    .await??;
    let version = response.version.unwrap_or(0);
    state.metrics.policy_version.set(version as i64);
    state
        .record_audit(
            RecordClass::Configuration,
            caller.audit_actor(),
            "policy.replace",
            format!("policy:{version}"),
            serde_json::json!({ "comment": audit_comment, "rules": response.rules }),
        )
        .await?;
    Ok(Json(response))
}

/// Makes an earlier stored version live again.
#[utoipa::path(post, path = "/v1/policy/rollback", tag = "policy", request_body = RollbackRequest,
    responses((status = 200, body = PolicyInfo), (status = 404, body = ApiError)), security(("api_key" = ["policy:write"])))]
pub async fn rollback(
    State(state): State<AppState>,
    caller: Caller<PolicyWrite>,
    JsonBody(request): JsonBody<RollbackRequest>,
) -> AppResult<Json<PolicyInfo>> {
    let engine = state.engine.clone();
    let store = state.store.clone();
    let actor = caller.actor();
    let version = tokio::task::spawn_blocking(move || -> AppResult<PolicyVersion> {
        let version = store.policy_version(request.version)?.ok_or_else(|| {
            AppError::new(
                ErrorCode::NotFound,
                format!("policy version {} not found", request.version),
            )
        })?;
        let check = shopguard_core::check_policy(&version.source)?;
        engine.install_policy(&check, version.version)?;
        store.activate_policy_version(version.version, &actor, now_ms())?;
        tracing::info!(version = version.version, actor = %actor, "policy rolled back");
        Ok(version)
    })
    .await??;
    state.metrics.policy_version.set(version.version as i64);
    state
        .record_audit(
            RecordClass::Configuration,
            caller.audit_actor(),
            "policy.rollback",
            format!("policy:{}", version.version),
            serde_json::json!({}),
        )
        .await?;
    let live = version.version;
    Ok(Json(info(version, live, false)))
}
