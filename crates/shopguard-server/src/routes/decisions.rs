//! `GET /v1/decisions`, `GET /v1/decisions/{id}` (alerts are in [`super::alerts`]).

use axum::extract::State;
use axum::Json;
use shopguard_api_types::{ApiError, DecisionList, DecisionsQuery, LoggedDecision, UnmaskQuery};
use shopguard_core::privacy::mask_event_json;
use shopguard_storage::{DecisionQuery, DecisionRecord};

use crate::error::{AppError, AppResult};
use crate::extract::{page_limit, Caller, DecisionsRead, Params, PathParams};
use crate::state::AppState;

fn logged(record: DecisionRecord, unmasked: bool) -> AppResult<LoggedDecision> {
    let mut event = serde_json::to_value(&record.event).map_err(AppError::internal)?;
    if !unmasked {
        mask_event_json(&mut event);
    }
    Ok(LoggedDecision {
        event,
        decision: record.decision,
    })
}

/// Decisions by entity, outcome, rule and time range, newest first, a page at a time
/// (`before_id`), with the number of all that match.
#[utoipa::path(get, path = "/v1/decisions", tag = "decisions", params(DecisionsQuery),
    responses((status = 200, body = DecisionList), (status = 400, body = ApiError)),
    security(("api_key" = ["decisions:read"])))]
pub async fn list_decisions(
    State(state): State<AppState>,
    caller: Caller<DecisionsRead>,
    Params(query): Params<DecisionsQuery>,
) -> AppResult<Json<DecisionList>> {
    let limit = page_limit(query.limit)?;
    let principal = caller.principal.clone();
    let (records, (total, total_capped), unmasked) = state
        .run(move |app| {
            let object = query
                .user_id
                .as_ref()
                .map_or_else(|| "decisions".to_owned(), |user| format!("user:{user}"));
            let store_query = DecisionQuery {
                user_id: query.user_id,
                ip: query.ip,
                device_id: query.device_id,
                outcome: query.outcome.map(|outcome| outcome.as_str().to_owned()),
                from_ms: query.from_ms,
                to_ms: query.to_ms,
                rule_id: query.rule_id,
                before_id: query.before_id,
                limit,
            };
            // Decisions carry personal data (IPs, devices, contacts): every read is audited.
            let decisions = app.decisions()?;
            let records = decisions.query(&store_query, &principal)?;
            let total = decisions.count(&store_query, &principal)?;
            let unmasked = app.audit.unmask_allowed(query.unmask, &principal, object)?;
            Ok((records, total, unmasked))
        })
        .await?;
    let decisions = records
        .into_iter()
        .map(|record| logged(record, unmasked))
        .collect::<AppResult<_>>()?;
    Ok(Json(DecisionList {
        decisions,
        total,
        total_capped,
    }))
}

/// One decision with its event.
#[utoipa::path(get, path = "/v1/decisions/{decision_id}", tag = "decisions",
    params(("decision_id" = String, Path, description = "decision id"), UnmaskQuery),
    responses((status = 200, body = LoggedDecision), (status = 404, body = ApiError)),
    security(("api_key" = ["decisions:read"])))]
pub async fn get_decision(
    State(state): State<AppState>,
    caller: Caller<DecisionsRead>,
    PathParams(decision_id): PathParams<String>,
    Params(unmask): Params<UnmaskQuery>,
) -> AppResult<Json<LoggedDecision>> {
    let principal = caller.principal.clone();
    let (record, unmasked) = state
        .run(move |app| {
            let object = format!("decision:{decision_id}");
            let unmasked = app
                .audit
                .unmask_allowed(unmask.unmask, &principal, object)?;
            Ok((app.decisions()?.get(&decision_id, &principal)?, unmasked))
        })
        .await?;
    Ok(Json(logged(record, unmasked)?))
}
