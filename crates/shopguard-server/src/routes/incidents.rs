//! `/v1/incidents`: the security-event database (DB33/T 978-2015); thin callers of the
//! incident service.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use shopguard_api_types::{
    ApiError, ErrorCode, GradingConfig, Incident, IncidentAssignRequest, IncidentDiff,
    IncidentDiffQuery, IncidentFromAlertsRequest, IncidentGradeRequest, IncidentHistory,
    IncidentList, IncidentOverrideRequest, IncidentPatchRequest, IncidentRecordRequest,
    IncidentReportRequest, IncidentTransitionRequest, IncidentTriageRequest, IncidentsQuery,
    Observable,
};
use shopguard_app::incidents::{FromAlerts, IncidentEdit, IncidentReport};
use shopguard_core::incident::grading::GradingInputs;
use shopguard_storage::{AssigneeFilter, IncidentFilter};

use crate::error::{AppError, AppResult};
use crate::extract::{
    page_limit, Caller, IncidentsApprove, IncidentsRead, IncidentsReport, IncidentsWrite, JsonBody,
    Params, PathParams,
};
use crate::state::AppState;

/// The list's filter from the query string.
fn filter_of(query: IncidentsQuery) -> AppResult<IncidentFilter> {
    let invalid = |field: &'static str, message: &str| {
        AppError::new(ErrorCode::InvalidParameter, format!("{field}: {message}")).with_field(field)
    };
    let assignee = match (query.assignee, query.unassigned) {
        (Some(_), Some(true)) => {
            return Err(invalid(
                "unassigned",
                "give either assignee or unassigned=true, not both",
            ))
        }
        (Some(name), _) => Some(AssigneeFilter::Is(name)),
        (None, Some(true)) => Some(AssigneeFilter::Unassigned),
        (None, _) => None,
    };
    let observable = match (query.observable_kind, query.observable_value) {
        (Some(kind), Some(value)) => Some(Observable { kind, value }),
        (None, None) => None,
        _ => {
            return Err(invalid(
                "observable_value",
                "give observable_kind and observable_value together",
            ))
        }
    };
    Ok(IncidentFilter {
        status: query.status,
        level: query.level,
        category: query.category,
        assignee,
        drill: query.drill,
        reported_from_ms: query.reported_from_ms,
        reported_to_ms: query.reported_to_ms,
        observable,
        before_id: query.before_id,
        limit: page_limit(query.limit)?,
    })
}

/// Incidents, newest first, with the total for paging.
#[utoipa::path(get, path = "/v1/incidents", tag = "incidents", params(IncidentsQuery),
    responses((status = 200, body = IncidentList), (status = 400, body = ApiError)),
    security(("api_key" = ["incidents:read"])))]
pub async fn list_incidents(
    State(state): State<AppState>,
    caller: Caller<IncidentsRead>,
    Params(query): Params<IncidentsQuery>,
) -> AppResult<Json<IncidentList>> {
    let filter = filter_of(query)?;
    let principal = caller.principal.clone();
    let page = state
        .run(move |app| app.incidents.list(&filter, &principal))
        .await?;
    Ok(Json(IncidentList {
        incidents: page.incidents,
        total: page.total,
        total_capped: page.total_capped,
        next_before_id: page.next_before_id,
    }))
}

/// Reports an incident by hand (the report form of §10.3).
#[utoipa::path(post, path = "/v1/incidents", tag = "incidents",
    request_body = IncidentReportRequest,
    responses((status = 201, body = Incident), (status = 400, body = ApiError)),
    security(("api_key" = ["incidents:report"])))]
pub async fn report_incident(
    State(state): State<AppState>,
    caller: Caller<IncidentsReport>,
    JsonBody(request): JsonBody<IncidentReportRequest>,
) -> AppResult<(StatusCode, Json<Incident>)> {
    let principal = caller.principal.clone();
    let report = IncidentReport {
        title: request.title,
        category: request.category,
        tags: request.tags,
        discovered_at_ms: request.discovered_at_ms,
        affected_systems: request.affected_systems,
        description: request.description,
        evidence: request.evidence,
        observables: request.observables,
        unsure_of_level: request.unsure_of_level,
        is_drill: request.is_drill,
    };
    let incident = state
        .run(move |app| app.incidents.report(report, &principal))
        .await?;
    Ok((StatusCode::CREATED, Json(incident)))
}

/// Opens an incident from alerts: links them, takes their users and IPs as observables,
/// and resolves each with a note naming the incident.
#[utoipa::path(post, path = "/v1/incidents/from-alerts", tag = "incidents",
    request_body = IncidentFromAlertsRequest,
    responses((status = 201, body = Incident), (status = 404, body = ApiError),
        (status = 409, description = "an alert belongs to an incident already", body = ApiError)),
    security(("api_key" = ["incidents:write"])))]
pub async fn from_alerts(
    State(state): State<AppState>,
    caller: Caller<IncidentsWrite>,
    JsonBody(request): JsonBody<IncidentFromAlertsRequest>,
) -> AppResult<(StatusCode, Json<Incident>)> {
    let principal = caller.principal.clone();
    let input = FromAlerts {
        alerts: request.alerts,
        title: request.title,
        category: request.category,
        description: request.description,
        is_drill: request.is_drill,
    };
    let incident = state
        .run(move |app| app.incidents.promote_from_alerts(input, &principal))
        .await?;
    Ok((StatusCode::CREATED, Json(incident)))
}

/// The social-impact thresholds this node grades with (§6.3.4 a, decision 0041).
#[utoipa::path(get, path = "/v1/incidents/grading", tag = "incidents",
    responses((status = 200, body = GradingConfig)),
    security(("api_key" = ["incidents:read"])))]
pub async fn grading(
    State(state): State<AppState>,
    _caller: Caller<IncidentsRead>,
) -> AppResult<Json<GradingConfig>> {
    Ok(Json(state.app.incidents.grading_config()))
}

/// One incident.
#[utoipa::path(get, path = "/v1/incidents/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "the incident's number")),
    responses((status = 200, body = Incident), (status = 404, body = ApiError)),
    security(("api_key" = ["incidents:read"])))]
pub async fn get_incident(
    State(state): State<AppState>,
    caller: Caller<IncidentsRead>,
    PathParams(id): PathParams<i64>,
) -> AppResult<Json<Incident>> {
    let principal = caller.principal.clone();
    let incident = state
        .run(move |app| app.incidents.get(id, &principal))
        .await?;
    Ok(Json(incident))
}

/// Edits the report fields of an incident.
#[utoipa::path(patch, path = "/v1/incidents/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "the incident's number")),
    request_body = IncidentPatchRequest,
    responses((status = 200, body = Incident), (status = 404, body = ApiError),
        (status = 409, description = "changed meanwhile (reload), or reviewed", body = ApiError)),
    security(("api_key" = ["incidents:write"])))]
pub async fn patch_incident(
    State(state): State<AppState>,
    caller: Caller<IncidentsWrite>,
    PathParams(id): PathParams<i64>,
    JsonBody(request): JsonBody<IncidentPatchRequest>,
) -> AppResult<Json<Incident>> {
    let principal = caller.principal.clone();
    let edit = IncidentEdit {
        title: request.title,
        category: request.category,
        tags: request.tags,
        description: request.description,
        evidence: request.evidence,
        affected_systems: request.affected_systems,
        observables: request.observables,
        unsure_of_level: request.unsure_of_level,
    };
    let incident = state
        .run(move |app| {
            let reason = request.reason.as_deref();
            app.incidents
                .edit(id, request.version, edit, reason, &principal)
        })
        .await?;
    Ok(Json(incident))
}

/// Triages a reported incident: a verdict and its reason (§10.5 b).
#[utoipa::path(post, path = "/v1/incidents/{id}/triage", tag = "incidents",
    params(("id" = i64, Path, description = "the incident's number")),
    request_body = IncidentTriageRequest,
    responses((status = 200, body = Incident), (status = 404, body = ApiError),
        (status = 409, description = "changed meanwhile (reload), or not reported", body = ApiError)),
    security(("api_key" = ["incidents:write"])))]
pub async fn triage(
    State(state): State<AppState>,
    caller: Caller<IncidentsWrite>,
    PathParams(id): PathParams<i64>,
    JsonBody(request): JsonBody<IncidentTriageRequest>,
) -> AppResult<Json<Incident>> {
    let principal = caller.principal.clone();
    let incident = state
        .run(move |app| {
            app.incidents.triage(
                id,
                request.version,
                request.verdict,
                &request.reason,
                &principal,
            )
        })
        .await?;
    Ok(Json(incident))
}

/// Grades an incident by §6.3–6.4 and keeps the inputs, the level and the clauses.
#[utoipa::path(post, path = "/v1/incidents/{id}/grade", tag = "incidents",
    params(("id" = i64, Path, description = "the incident's number")),
    request_body = IncidentGradeRequest,
    responses((status = 200, body = Incident), (status = 404, body = ApiError),
        (status = 409, description = "changed meanwhile (reload), or closed", body = ApiError)),
    security(("api_key" = ["incidents:write"])))]
pub async fn grade(
    State(state): State<AppState>,
    caller: Caller<IncidentsWrite>,
    PathParams(id): PathParams<i64>,
    JsonBody(request): JsonBody<IncidentGradeRequest>,
) -> AppResult<Json<Incident>> {
    let principal = caller.principal.clone();
    let inputs = GradingInputs {
        importance: request.importance,
        loss: request.loss,
        affected_users: request.affected_users,
        platform_users: request.platform_users,
    };
    let incident = state
        .run(move |app| app.incidents.grade(id, request.version, inputs, &principal))
        .await?;
    Ok(Json(incident))
}

/// Sets the level by hand with a reason, or clears the override.
#[utoipa::path(post, path = "/v1/incidents/{id}/override", tag = "incidents",
    params(("id" = i64, Path, description = "the incident's number")),
    request_body = IncidentOverrideRequest,
    responses((status = 200, body = Incident), (status = 404, body = ApiError),
        (status = 409, description = "changed meanwhile (reload), or closed", body = ApiError)),
    security(("api_key" = ["incidents:write"])))]
pub async fn override_level(
    State(state): State<AppState>,
    caller: Caller<IncidentsWrite>,
    PathParams(id): PathParams<i64>,
    JsonBody(request): JsonBody<IncidentOverrideRequest>,
) -> AppResult<Json<Incident>> {
    let principal = caller.principal.clone();
    let incident = state
        .run(move |app| {
            app.incidents.override_level(
                id,
                request.version,
                request.level,
                &request.reason,
                &principal,
            )
        })
        .await?;
    Ok(Json(incident))
}

/// Moves an incident through its lifecycle (assessed, responding, recovered, closed,
/// reviewed; closed → responding reopens).
#[utoipa::path(post, path = "/v1/incidents/{id}/transition", tag = "incidents",
    params(("id" = i64, Path, description = "the incident's number")),
    request_body = IncidentTransitionRequest,
    responses((status = 200, body = Incident), (status = 404, body = ApiError),
        (status = 409, description = "changed meanwhile (reload), or the lifecycle refuses the move (the answer says what is missing)", body = ApiError)),
    security(("api_key" = ["incidents:write"])))]
pub async fn transition(
    State(state): State<AppState>,
    caller: Caller<IncidentsWrite>,
    PathParams(id): PathParams<i64>,
    JsonBody(request): JsonBody<IncidentTransitionRequest>,
) -> AppResult<Json<Incident>> {
    let principal = caller.principal.clone();
    let incident = state
        .run(move |app| {
            app.incidents.transition(
                id,
                request.version,
                request.to,
                request.reason.as_deref(),
                request.summary.as_deref(),
                &principal,
            )
        })
        .await?;
    Ok(Json(incident))
}

/// Records that the incident was re-assessed (§10.5).
#[utoipa::path(post, path = "/v1/incidents/{id}/reassess", tag = "incidents",
    params(("id" = i64, Path, description = "the incident's number")),
    request_body = IncidentRecordRequest,
    responses((status = 200, body = Incident), (status = 404, body = ApiError),
        (status = 409, description = "changed meanwhile (reload), or closed", body = ApiError)),
    security(("api_key" = ["incidents:write"])))]
pub async fn reassess(
    State(state): State<AppState>,
    caller: Caller<IncidentsWrite>,
    PathParams(id): PathParams<i64>,
    JsonBody(request): JsonBody<IncidentRecordRequest>,
) -> AppResult<Json<Incident>> {
    let principal = caller.principal.clone();
    let incident = state
        .run(move |app| {
            let reason = request.reason.as_deref();
            app.incidents
                .reassess(id, request.version, reason, &principal)
        })
        .await?;
    Ok(Json(incident))
}

/// Records that the incident was escalated to senior management (§10.4 b).
#[utoipa::path(post, path = "/v1/incidents/{id}/escalate", tag = "incidents",
    params(("id" = i64, Path, description = "the incident's number")),
    request_body = IncidentRecordRequest,
    responses((status = 200, body = Incident), (status = 404, body = ApiError),
        (status = 409, description = "changed meanwhile (reload), or closed", body = ApiError)),
    security(("api_key" = ["incidents:approve"])))]
pub async fn escalate(
    State(state): State<AppState>,
    caller: Caller<IncidentsApprove>,
    PathParams(id): PathParams<i64>,
    JsonBody(request): JsonBody<IncidentRecordRequest>,
) -> AppResult<Json<Incident>> {
    let principal = caller.principal.clone();
    let incident = state
        .run(move |app| {
            let reason = request.reason.as_deref();
            app.incidents
                .escalate(id, request.version, reason, &principal)
        })
        .await?;
    Ok(Json(incident))
}

/// Assigns an incident to an operator, or to nobody (`null`).
#[utoipa::path(post, path = "/v1/incidents/{id}/assign", tag = "incidents",
    params(("id" = i64, Path, description = "the incident's number")),
    request_body = IncidentAssignRequest,
    responses((status = 200, body = Incident), (status = 404, body = ApiError),
        (status = 409, description = "changed meanwhile (reload), or closed", body = ApiError)),
    security(("api_key" = ["incidents:write"])))]
pub async fn assign(
    State(state): State<AppState>,
    caller: Caller<IncidentsWrite>,
    PathParams(id): PathParams<i64>,
    JsonBody(request): JsonBody<IncidentAssignRequest>,
) -> AppResult<Json<Incident>> {
    let principal = caller.principal.clone();
    let incident = state
        .run(move |app| {
            let assignee = request.assignee.as_deref();
            app.incidents
                .assign(id, request.version, assignee, &principal)
        })
        .await?;
    Ok(Json(incident))
}

/// The incident's history: one entry per changed field per version, oldest first.
#[utoipa::path(get, path = "/v1/incidents/{id}/history", tag = "incidents",
    params(("id" = i64, Path, description = "the incident's number")),
    responses((status = 200, body = IncidentHistory), (status = 404, body = ApiError)),
    security(("api_key" = ["incidents:read"])))]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller<IncidentsRead>,
    PathParams(id): PathParams<i64>,
) -> AppResult<Json<IncidentHistory>> {
    let principal = caller.principal.clone();
    let entries = state
        .run(move |app| app.incidents.history(id, &principal))
        .await?;
    Ok(Json(IncidentHistory { entries }))
}

/// The fields that differ between two versions of an incident.
#[utoipa::path(get, path = "/v1/incidents/{id}/diff", tag = "incidents",
    params(("id" = i64, Path, description = "the incident's number"), IncidentDiffQuery),
    responses((status = 200, body = IncidentDiff), (status = 404, body = ApiError)),
    security(("api_key" = ["incidents:read"])))]
pub async fn diff(
    State(state): State<AppState>,
    caller: Caller<IncidentsRead>,
    PathParams(id): PathParams<i64>,
    Params(query): Params<IncidentDiffQuery>,
) -> AppResult<Json<IncidentDiff>> {
    let principal = caller.principal.clone();
    let from = query.from;
    let (to, fields) = state
        .run(move |app| app.incidents.diff(id, from, query.to, &principal))
        .await?;
    Ok(Json(IncidentDiff { from, to, fields }))
}
