//! `GET /v1/policy`, `GET /v1/policy/versions`, `PUT /v1/policy`, `POST /v1/policy/check`,
//! `POST /v1/policy/rollback`, `POST /v1/policy/versions/{v}/approve`, `POST /v1/policy/replay`:
//! thin callers of the policy service.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use shopguard_api_types::{
    ApiError, FixtureResult, PolicyCheckResponse, PolicyInfo, PolicySource, PolicyUpdateQuery,
    PolicyVersionList, ReplayRequestBody, ReplayResponse, RollbackRequest,
};
use shopguard_app::clock::now_ms;
use shopguard_app::policies::PolicyCheck;
use shopguard_app::ReplayRequest;
use shopguard_storage::PolicyVersion;

use crate::error::AppResult;
use crate::extract::{Caller, JsonBody, Params, PathParams, PolicyApprove, PolicyWrite, TextBody};
use crate::state::AppState;

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

fn check_response(
    check: PolicyCheck,
    version: Option<u64>,
    pending_approval: bool,
    punitive_rules: Vec<String>,
) -> PolicyCheckResponse {
    PolicyCheckResponse {
        version,
        pending_approval,
        punitive_rules,
        rules: check.rules,
        features: check.features,
        fixtures: check
            .fixtures
            .into_iter()
            .map(|report| FixtureResult {
                passed: report.passed(),
                name: report.name,
                events: report.events,
                failures: report.failures,
            })
            .collect(),
    }
}

/// The live policy with its source.
#[utoipa::path(get, path = "/v1/policy", tag = "policy", responses((status = 200, body = PolicyInfo)), security(("api_key" = ["policy:write"])))]
pub async fn get_policy(
    State(state): State<AppState>,
    _caller: Caller<PolicyWrite>,
) -> AppResult<Json<PolicyInfo>> {
    let live = state.run(|app| app.policies.live()).await?;
    let version = live.version;
    Ok(Json(info(live, version, true)))
}

/// Every stored version, newest first.
#[utoipa::path(get, path = "/v1/policy/versions", tag = "policy", responses((status = 200, body = PolicyVersionList)), security(("api_key" = ["policy:write"])))]
pub async fn list_versions(
    State(state): State<AppState>,
    _caller: Caller<PolicyWrite>,
) -> AppResult<Json<PolicyVersionList>> {
    let live = state.app.policies.live_version();
    let versions = state.run(|app| app.policies.versions()).await?;
    Ok(Json(PolicyVersionList {
        versions: versions
            .into_iter()
            .map(|version| info(version, live, false))
            .collect(),
    }))
}

/// Compiles a policy (TOML body) and runs its fixtures, without making it live.
#[utoipa::path(post, path = "/v1/policy/check", tag = "policy", request_body(content((PolicySource = "application/toml"), (PolicySource = "text/plain"))),
    responses((status = 200, body = PolicyCheckResponse), (status = 422, body = ApiError)), security(("api_key" = ["policy:write"])))]
pub async fn check_policy(
    State(state): State<AppState>,
    _caller: Caller<PolicyWrite>,
    TextBody(source): TextBody,
) -> AppResult<Json<PolicyCheckResponse>> {
    let check = state.run(move |app| app.policies.check(&source)).await?;
    Ok(Json(check_response(check, None, false, Vec::new())))
}

/// Stores a new policy version and makes it live, atomically, if it compiles and its
/// fixtures pass; otherwise nothing changes. A version that adds or changes punitive rules
/// is stored but waits (202) for someone other than its author to approve it.
#[utoipa::path(put, path = "/v1/policy", tag = "policy", params(PolicyUpdateQuery), request_body(content((PolicySource = "application/toml"), (PolicySource = "text/plain"))),
    responses((status = 200, body = PolicyCheckResponse), (status = 202, body = PolicyCheckResponse), (status = 422, body = ApiError)), security(("api_key" = ["policy:write"])))]
pub async fn put_policy(
    State(state): State<AppState>,
    caller: Caller<PolicyWrite>,
    Params(query): Params<PolicyUpdateQuery>,
    TextBody(source): TextBody,
) -> AppResult<(StatusCode, Json<PolicyCheckResponse>)> {
    let actor = caller.actor().clone();
    let comment = query.comment.unwrap_or_default();
    let proposal = state
        .run(move |app| app.policies.propose(&source, &actor, &comment))
        .await?;
    let status = if proposal.pending_approval {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let response = check_response(
        proposal.check,
        Some(proposal.version),
        proposal.pending_approval,
        proposal.punitive_rules,
    );
    Ok((status, Json(response)))
}

/// Approves a version that waits for approval and makes it live. Nobody approves their own.
#[utoipa::path(post, path = "/v1/policy/versions/{version}/approve", tag = "policy",
    params(("version" = u64, Path, description = "the version")),
    responses((status = 200, body = PolicyInfo), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)), security(("api_key" = ["policy:approve"])))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller<PolicyApprove>,
    PathParams(version): PathParams<u64>,
) -> AppResult<Json<PolicyInfo>> {
    let actor = caller.actor().clone();
    let approved = state
        .run(move |app| app.policies.approve(version, &actor))
        .await?;
    Ok(Json(info(approved, version, false)))
}

/// Makes an earlier stored version live again.
#[utoipa::path(post, path = "/v1/policy/rollback", tag = "policy", request_body = RollbackRequest,
    responses((status = 200, body = PolicyInfo), (status = 404, body = ApiError)), security(("api_key" = ["policy:write"])))]
pub async fn rollback(
    State(state): State<AppState>,
    caller: Caller<PolicyWrite>,
    JsonBody(request): JsonBody<RollbackRequest>,
) -> AppResult<Json<PolicyInfo>> {
    let actor = caller.actor().clone();
    let version = request.version;
    let live = state
        .run(move |app| app.policies.rollback(version, &actor))
        .await?;
    Ok(Json(info(live, version, false)))
}

/// Replays logged events through the live policy and an edited one and answers the
/// decisions that would change, rule by rule, before the edit is submitted. Changes
/// nothing; reading the events is recorded in the audit log.
#[utoipa::path(post, path = "/v1/policy/replay", tag = "policy", request_body = ReplayRequestBody,
    responses((status = 200, body = ReplayResponse), (status = 400, body = ApiError), (status = 403, body = ApiError)),
    security(("api_key" = ["policy:write", "decisions:read"])))]
pub async fn replay(
    State(state): State<AppState>,
    caller: Caller<PolicyWrite>,
    JsonBody(body): JsonBody<ReplayRequestBody>,
) -> AppResult<Json<ReplayResponse>> {
    let principal = caller.principal.clone();
    let report = state
        .run(move |app| {
            let request = ReplayRequest::new(
                body.source,
                body.from_ms,
                body.to_ms,
                body.hours,
                body.max_events,
                now_ms(),
            )?;
            app.policies.replay(&request, &principal)
        })
        .await?;
    Ok(Json(ReplayResponse {
        live_version: report.live_version,
        from_ms: report.from_ms,
        to_ms: report.to_ms,
        capped: report.capped,
        first_event_ms: report.first_event_ms,
        last_event_ms: report.last_event_ms,
        elapsed_ms: report.elapsed_ms,
        summary: report.summary,
    }))
}
