//! `POST /v1/events`, `POST /v1/events/batch`, `POST /v1/decisions/{id}/challenge`.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use shopguard_api_types::{
    ApiError, BatchRequest, BatchResponse, ChallengeResultRequest, Decision, ErrorCode, EventInput,
};
use shopguard_core::Event;
use shopguard_storage::DecisionRecord;

use crate::error::{AppError, AppResult};
use crate::extract::{Caller, EventsWrite, JsonBody};
use crate::state::{now_ms, AppState};

fn validate(input: EventInput, now: i64, prefix: &str) -> AppResult<Event> {
    if input.kind.is_some_and(|kind| !kind.is_client_reportable()) {
        return Err(AppError::new(ErrorCode::InvalidEvent, format!("{prefix}kind: challenge results are reported at POST /v1/decisions/{{id}}/challenge"))
            .with_field(format!("{prefix}kind")));
    }
    Event::try_from_input(input, now, || uuid::Uuid::now_v7().to_string()).map_err(|error| {
        AppError::new(ErrorCode::InvalidEvent, format!("{prefix}{error}"))
            .with_field(format!("{prefix}{}", error.field))
    })
}

fn json(body: Vec<u8>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], body)
}

/// Decides one event.
#[utoipa::path(post, path = "/v1/events", tag = "events", request_body = EventInput,
    responses((status = 200, body = Decision), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 429, body = ApiError)),
    security(("api_key" = ["events:write"])))]
pub async fn post_event(
    State(state): State<AppState>,
    _caller: Caller<EventsWrite>,
    JsonBody(input): JsonBody<EventInput>,
) -> AppResult<impl IntoResponse> {
    let event = validate(input, now_ms(), "")?;
    Ok(json(state.decide(event).await?))
}

/// Decides a batch of events, in order. The whole batch is validated first: one invalid
/// event refuses the batch, and nothing of it is decided or logged.
#[utoipa::path(post, path = "/v1/events/batch", tag = "events", request_body = BatchRequest,
    responses((status = 200, body = BatchResponse), (status = 400, body = ApiError), (status = 401, body = ApiError)),
    security(("api_key" = ["events:write"])))]
pub async fn post_batch(
    State(state): State<AppState>,
    _caller: Caller<EventsWrite>,
    JsonBody(batch): JsonBody<BatchRequest>,
) -> AppResult<impl IntoResponse> {
    let limit = state.config.max_batch_events;
    if batch.events.len() > limit {
        return Err(AppError::new(
            ErrorCode::BatchTooLarge,
            format!(
                "events: {} events, the limit is {limit}",
                batch.events.len()
            ),
        )
        .with_field("events"));
    }
    let now = now_ms();
    let events = batch
        .events
        .into_iter()
        .enumerate()
        .map(|(index, input)| validate(input, now, &format!("events[{index}].")))
        .collect::<AppResult<Vec<Event>>>()?;
    let mut body = b"{\"decisions\":[".to_vec();
    for (position, event) in events.into_iter().enumerate() {
        let decision = state.decide_only(&event);
        if position > 0 {
            body.push(b',');
        }
        body.extend(state.log_record(DecisionRecord { decision, event }).await?);
    }
    body.extend_from_slice(b"]}");
    Ok(json(body))
}

/// Reports whether the user passed the challenge a decision asked for. The result is decided
/// as a `challenge_passed` or `challenge_failed` event, so rules can act on failures.
#[utoipa::path(post, path = "/v1/decisions/{decision_id}/challenge", tag = "events", request_body = ChallengeResultRequest,
    params(("decision_id" = String, Path, description = "the decision that asked for the challenge")),
    responses((status = 200, body = Decision), (status = 404, body = ApiError)),
    security(("api_key" = ["events:write"])))]
pub async fn post_challenge_result(
    State(state): State<AppState>,
    _caller: Caller<EventsWrite>,
    Path(decision_id): Path<String>,
    JsonBody(result): JsonBody<ChallengeResultRequest>,
) -> AppResult<impl IntoResponse> {
    let started = std::time::Instant::now();
    let (event, decision) = state
        .engine
        .report_challenge(
            &decision_id,
            result.passed,
            now_ms(),
            uuid::Uuid::now_v7().to_string(),
        )
        .map_err(|error| AppError::new(ErrorCode::ChallengeNotPending, error.to_string()))?;
    state
        .metrics
        .observe(&decision, started.elapsed().as_secs_f64());
    Ok(json(
        state.log_record(DecisionRecord { decision, event }).await?,
    ))
}
