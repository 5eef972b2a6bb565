//! `GET /v1/policy`, `GET /v1/policy/versions`, `PUT /v1/policy`, `POST /v1/policy/check`,
//! `POST /v1/policy/rollback`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use shopguard_api_types::{
    ApiError, ErrorCode, FixtureResult, PolicyCheckResponse, PolicyInfo, PolicyUpdateQuery,
    PolicyVersionList, RollbackRequest,
};
use shopguard_core::FixtureReport;
use shopguard_storage::{PolicyVersion, Store};

use crate::error::{AppError, AppResult};
use crate::extract::{Caller, JsonBody, Params, PolicyApprove, PolicyWrite, TextBody};
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
        pending_approval: version.pending_approval,
        approved_by: version.approved_by,
        source: with_source.then_some(version.source),
    }
}

/// A stored version, or `not_found`.
fn stored_version(store: &dyn Store, version: u64) -> AppResult<PolicyVersion> {
    store.policy_version(version)?.ok_or_else(|| {
        AppError::new(
            ErrorCode::NotFound,
            format!("policy version {version} not found"),
        )
    })
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
        pending_approval: false,
        punitive_rules: Vec::new(),
        rules: check.rules,
        features: check.features,
        fixtures: fixture_results(check.fixtures),
    }))
}

/// Stores a new policy version and makes it live, atomically, if it compiles and its
/// fixtures pass; otherwise nothing changes. A version that adds or changes punitive rules
/// is stored but waits (202) for someone other than its author to approve it.
#[utoipa::path(put, path = "/v1/policy", tag = "policy", params(PolicyUpdateQuery), request_body(content = String, content_type = "application/toml"),
    responses((status = 200, body = PolicyCheckResponse), (status = 202, body = PolicyCheckResponse), (status = 422, body = ApiError)), security(("api_key" = ["policy:write"])))]
pub async fn put_policy(
    State(state): State<AppState>,
    caller: Caller<PolicyWrite>,
    Params(query): Params<PolicyUpdateQuery>,
    TextBody(source): TextBody,
) -> AppResult<(StatusCode, Json<PolicyCheckResponse>)> {
    let engine = state.engine.clone();
    let store = state.store.clone();
    let author = caller.audit_actor();
    let comment = query.comment.unwrap_or_default();
    let audit_comment = comment.clone();
    let require_approval = state.config.require_rule_approval;
    let response = tokio::task::spawn_blocking(move || -> AppResult<PolicyCheckResponse> {
        let check = shopguard_core::check_policy(&source)?;
        let live = store
            .active_policy()?
            .ok_or_else(|| AppError::internal("no live policy is stored"))?;
        let punitive_rules = shopguard_core::policy::punitive_changes(&live.source, &source)?;
        let now = now_ms();
        let version = store.insert_policy_version(&source, &author, &comment, now)?;
        let pending_approval = require_approval && !punitive_rules.is_empty();
        if pending_approval {
            store.mark_policy_pending(version)?;
            tracing::info!(version, author = %author, rules = ?punitive_rules, "policy stored; awaits approval");
            return Ok(PolicyCheckResponse {
                version: Some(version),
                pending_approval,
                punitive_rules,
                rules: check.rules,
                features: check.features,
                fixtures: fixture_results(check.fixtures),
            });
        }
        let compiled = engine.install_policy(&check, version)?;
        store.activate_policy_version(version, &author, now)?;
        tracing::info!(version, author = %author, "policy replaced");
        Ok(PolicyCheckResponse {
            version: Some(version),
            pending_approval,
            punitive_rules,
            rules: compiled.rules.len(),
            features: compiled.features.len(),
            fixtures: fixture_results(check.fixtures),
        })
    })
    .await??;
    let version = response.version.unwrap_or(0);
    if !response.pending_approval {
        state.metrics.policy_version.set(version as i64);
    }
    state
        .record_audit(
            RecordClass::Configuration,
            caller.audit_actor(),
            if response.pending_approval { "policy.propose" } else { "policy.replace" },
            format!("policy:{version}"),
            serde_json::json!({ "comment": audit_comment, "rules": response.rules, "punitive_rules": response.punitive_rules }),
        )
        .await?;
    let status = if response.pending_approval {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(response)))
}

/// Approves a version that waits for approval and makes it live. Nobody approves their own.
#[utoipa::path(post, path = "/v1/policy/versions/{version}/approve", tag = "policy",
    params(("version" = u64, Path, description = "the version")),
    responses((status = 200, body = PolicyInfo), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)), security(("api_key" = ["policy:approve"])))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller<PolicyApprove>,
    Path(version_number): Path<u64>,
) -> AppResult<Json<PolicyInfo>> {
    let engine = state.engine.clone();
    let store = state.store.clone();
    let approver = caller.audit_actor();
    let version = tokio::task::spawn_blocking(move || -> AppResult<PolicyVersion> {
        let version = stored_version(store.as_ref(), version_number)?;
        if !version.pending_approval {
            return Err(AppError::new(
                ErrorCode::Conflict,
                format!("policy version {version_number} does not wait for approval"),
            ));
        }
        if version.author == approver {
            return Err(AppError::new(
                ErrorCode::InsufficientScope,
                "nobody approves their own punitive rules",
            ));
        }
        let check = shopguard_core::check_policy(&version.source)?;
        let now = now_ms();
        if !store.approve_policy_version(version_number, &approver, now)? {
            return Err(AppError::new(
                ErrorCode::Conflict,
                format!("policy version {version_number} was approved meanwhile"),
            ));
        }
        engine.install_policy(&check, version_number)?;
        store.activate_policy_version(version_number, &approver, now)?;
        tracing::info!(version = version_number, approver = %approver, "policy approved and live");
        store
            .policy_version(version_number)?
            .ok_or_else(|| AppError::internal("approved version vanished"))
    })
    .await??;
    state.metrics.policy_version.set(version.version as i64);
    state
        .record_audit(
            RecordClass::Configuration,
            caller.audit_actor(),
            "policy.approve",
            format!("policy:{}", version.version),
            serde_json::json!({ "author": version.author }),
        )
        .await?;
    let live = version.version;
    Ok(Json(info(version, live, false)))
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
        let version = stored_version(store.as_ref(), request.version)?;
        if version.pending_approval {
            return Err(AppError::new(
                ErrorCode::Conflict,
                format!(
                    "policy version {} waits for approval; approve it instead",
                    version.version
                ),
            ));
        }
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
