//! `/v1/alerts`: the alert queue analysts work; thin callers of the alert service.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use shopguard_api_types::{
    Alert, AlertAssignRequest, AlertDetail, AlertDismissRequest, AlertList, AlertNote,
    AlertNoteRequest, AlertTransitionRequest, AlertsQuery, ApiError, ErrorCode,
};
use shopguard_storage::{AlertFilter, AssigneeFilter, TriagedAlert};

use crate::error::{AppError, AppResult};
use crate::extract::{
    page_limit, AlertsWrite, Caller, DecisionsRead, JsonBody, Params, PathParams,
};
use crate::state::AppState;

fn alert_view(row: TriagedAlert) -> Alert {
    let TriagedAlert { alert, triage } = row;
    Alert {
        seq: alert.seq,
        created_at_ms: alert.created_at_ms,
        severity: alert.severity,
        rule_id: alert.rule_id,
        decision_id: alert.decision_id,
        user_id: alert.user_id,
        ip: alert.ip,
        message: alert.message,
        status: triage.status,
        assignee: triage.assignee,
        version: triage.version,
        updated_at_ms: triage.updated_at_ms,
        updated_by: triage.updated_by,
    }
}

fn detail_view(detail: shopguard_storage::AlertDetail) -> AlertDetail {
    AlertDetail {
        alert: alert_view(TriagedAlert {
            alert: detail.alert,
            triage: detail.triage,
        }),
        notes: detail
            .notes
            .into_iter()
            .map(|note| AlertNote {
                author: note.author,
                at_ms: note.at_ms,
                text: note.text,
                status: note.status,
            })
            .collect(),
    }
}

/// The queue's filter from the query string.
fn filter_of(query: AlertsQuery) -> AppResult<AlertFilter> {
    let assignee = match (query.assignee, query.unassigned) {
        (Some(_), Some(true)) => {
            return Err(AppError::new(
                ErrorCode::InvalidParameter,
                "unassigned: give either assignee or unassigned=true, not both",
            )
            .with_field("unassigned"))
        }
        (Some(name), _) => Some(AssigneeFilter::Is(name)),
        (None, Some(true)) => Some(AssigneeFilter::Unassigned),
        (None, _) => None,
    };
    Ok(AlertFilter {
        status: query.status,
        assignee,
        severity: query.severity.map(|severity| severity.as_str().to_owned()),
        rule_id: query.rule_id,
        from_ms: query.from_ms,
        to_ms: query.to_ms,
        before_seq: query.before_seq,
        limit: page_limit(query.limit)?,
    })
}

/// The alert queue: alerts raised by rules with their triage state, newest first, with the
/// total for paging.
#[utoipa::path(get, path = "/v1/alerts", tag = "alerts", params(AlertsQuery),
    responses((status = 200, body = AlertList), (status = 400, body = ApiError)),
    security(("api_key" = ["decisions:read"])))]
pub async fn list_alerts(
    State(state): State<AppState>,
    caller: Caller<DecisionsRead>,
    Params(query): Params<AlertsQuery>,
) -> AppResult<Json<AlertList>> {
    let filter = filter_of(query)?;
    let principal = caller.principal.clone();
    let page = state
        .run(move |app| app.alerts.queue(&filter, &principal))
        .await?;
    Ok(Json(AlertList {
        alerts: page.alerts.into_iter().map(alert_view).collect(),
        total: page.total,
        total_capped: page.total_capped,
        next_before_seq: page.next_before_seq,
    }))
}

/// One alert with its triage state and notes.
#[utoipa::path(get, path = "/v1/alerts/{seq}", tag = "alerts",
    params(("seq" = i64, Path, description = "the alert's sequence number")),
    responses((status = 200, body = AlertDetail), (status = 404, body = ApiError)),
    security(("api_key" = ["decisions:read"])))]
pub async fn get_alert(
    State(state): State<AppState>,
    caller: Caller<DecisionsRead>,
    PathParams(seq): PathParams<i64>,
) -> AppResult<Json<AlertDetail>> {
    let principal = caller.principal.clone();
    let detail = state
        .run(move |app| app.alerts.get(seq, &principal))
        .await?;
    Ok(Json(detail_view(detail)))
}

/// Acknowledges an open alert: someone is looking at it.
#[utoipa::path(post, path = "/v1/alerts/{seq}/acknowledge", tag = "alerts",
    params(("seq" = i64, Path, description = "the alert's sequence number")),
    request_body = AlertTransitionRequest,
    responses((status = 200, body = AlertDetail), (status = 404, body = ApiError),
        (status = 409, description = "changed meanwhile (reload), or not open", body = ApiError)),
    security(("api_key" = ["alerts:write"])))]
pub async fn acknowledge(
    State(state): State<AppState>,
    caller: Caller<AlertsWrite>,
    PathParams(seq): PathParams<i64>,
    JsonBody(request): JsonBody<AlertTransitionRequest>,
) -> AppResult<Json<AlertDetail>> {
    let principal = caller.principal.clone();
    let detail = state
        .run(move |app| app.alerts.acknowledge(seq, request.version, &principal))
        .await?;
    Ok(Json(detail_view(detail)))
}

/// Resolves an open or acknowledged alert; a reason is kept as a note.
#[utoipa::path(post, path = "/v1/alerts/{seq}/resolve", tag = "alerts",
    params(("seq" = i64, Path, description = "the alert's sequence number")),
    request_body = AlertTransitionRequest,
    responses((status = 200, body = AlertDetail), (status = 404, body = ApiError),
        (status = 409, description = "changed meanwhile (reload), or already closed", body = ApiError)),
    security(("api_key" = ["alerts:write"])))]
pub async fn resolve(
    State(state): State<AppState>,
    caller: Caller<AlertsWrite>,
    PathParams(seq): PathParams<i64>,
    JsonBody(request): JsonBody<AlertTransitionRequest>,
) -> AppResult<Json<AlertDetail>> {
    let principal = caller.principal.clone();
    let detail = state
        .run(move |app| {
            let reason = request.reason.as_deref();
            app.alerts.resolve(seq, reason, request.version, &principal)
        })
        .await?;
    Ok(Json(detail_view(detail)))
}

/// Dismisses an open or acknowledged alert (a false positive, a duplicate); the reason is
/// required and kept as a note.
#[utoipa::path(post, path = "/v1/alerts/{seq}/dismiss", tag = "alerts",
    params(("seq" = i64, Path, description = "the alert's sequence number")),
    request_body = AlertDismissRequest,
    responses((status = 200, body = AlertDetail), (status = 404, body = ApiError),
        (status = 409, description = "changed meanwhile (reload), or already closed", body = ApiError)),
    security(("api_key" = ["alerts:write"])))]
pub async fn dismiss(
    State(state): State<AppState>,
    caller: Caller<AlertsWrite>,
    PathParams(seq): PathParams<i64>,
    JsonBody(request): JsonBody<AlertDismissRequest>,
) -> AppResult<Json<AlertDetail>> {
    let principal = caller.principal.clone();
    let detail = state
        .run(move |app| {
            app.alerts
                .dismiss(seq, &request.reason, request.version, &principal)
        })
        .await?;
    Ok(Json(detail_view(detail)))
}

/// Reopens a resolved or dismissed alert; a reason is kept as a note.
#[utoipa::path(post, path = "/v1/alerts/{seq}/reopen", tag = "alerts",
    params(("seq" = i64, Path, description = "the alert's sequence number")),
    request_body = AlertTransitionRequest,
    responses((status = 200, body = AlertDetail), (status = 404, body = ApiError),
        (status = 409, description = "changed meanwhile (reload), or not closed", body = ApiError)),
    security(("api_key" = ["alerts:write"])))]
pub async fn reopen(
    State(state): State<AppState>,
    caller: Caller<AlertsWrite>,
    PathParams(seq): PathParams<i64>,
    JsonBody(request): JsonBody<AlertTransitionRequest>,
) -> AppResult<Json<AlertDetail>> {
    let principal = caller.principal.clone();
    let detail = state
        .run(move |app| {
            let reason = request.reason.as_deref();
            app.alerts.reopen(seq, reason, request.version, &principal)
        })
        .await?;
    Ok(Json(detail_view(detail)))
}

/// Assigns an open or acknowledged alert to an operator, or to nobody (`null`).
#[utoipa::path(post, path = "/v1/alerts/{seq}/assign", tag = "alerts",
    params(("seq" = i64, Path, description = "the alert's sequence number")),
    request_body = AlertAssignRequest,
    responses((status = 200, body = AlertDetail), (status = 404, body = ApiError),
        (status = 409, description = "changed meanwhile (reload), or closed", body = ApiError)),
    security(("api_key" = ["alerts:write"])))]
pub async fn assign(
    State(state): State<AppState>,
    caller: Caller<AlertsWrite>,
    PathParams(seq): PathParams<i64>,
    JsonBody(request): JsonBody<AlertAssignRequest>,
) -> AppResult<Json<AlertDetail>> {
    let principal = caller.principal.clone();
    let detail = state
        .run(move |app| {
            let assignee = request.assignee.as_deref();
            app.alerts
                .assign(seq, assignee, request.version, &principal)
        })
        .await?;
    Ok(Json(detail_view(detail)))
}

/// Adds a note to an alert.
#[utoipa::path(post, path = "/v1/alerts/{seq}/notes", tag = "alerts",
    params(("seq" = i64, Path, description = "the alert's sequence number")),
    request_body = AlertNoteRequest,
    responses((status = 201, body = AlertDetail), (status = 404, body = ApiError)),
    security(("api_key" = ["alerts:write"])))]
pub async fn add_note(
    State(state): State<AppState>,
    caller: Caller<AlertsWrite>,
    PathParams(seq): PathParams<i64>,
    JsonBody(request): JsonBody<AlertNoteRequest>,
) -> AppResult<(StatusCode, Json<AlertDetail>)> {
    let principal = caller.principal.clone();
    let detail = state
        .run(move |app| app.alerts.note(seq, &request.text, &principal))
        .await?;
    Ok((StatusCode::CREATED, Json(detail_view(detail))))
}
