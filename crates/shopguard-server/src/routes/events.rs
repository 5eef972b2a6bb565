//! `POST /v1/events`, `POST /v1/events/batch`, `POST /v1/decisions/{id}/challenge`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use shopguard_api_types::{
    ApiError, BatchRequest, BatchResponse, ChallengeResultRequest, Decision, ErrorCode, EventInput,
};
use shopguard_core::event::EventError;
use shopguard_core::{json, Event};
use shopguard_storage::{DecisionRecord, RecordRef};

use crate::error::{AppError, AppResult};
use crate::extract::{
    parse_json, parse_json_naming_the_fault, utf8_or_empty, Caller, EventsWrite, JsonBody,
    PathParams, RawBody,
};
use crate::metrics::DecisionTally;
use crate::state::{new_id_at, now_ms, AppState};

fn validate(input: EventInput, now: i64) -> Result<Event, EventError> {
    if input.kind.is_some_and(|kind| !kind.is_client_reportable()) {
        return Err(EventError::new(
            "kind",
            "challenge results are reported at POST /v1/decisions/{id}/challenge",
        ));
    }
    shopguard_core::event::check_received_time(&input)?;
    Event::try_from_input(input, now, || new_id_at(now))
}

/// The API error for an invalid event; `prefix` places it in a batch (`events[3].`).
fn invalid_event(error: &EventError, prefix: &str) -> AppError {
    AppError::new(ErrorCode::InvalidEvent, format!("{prefix}{error}"))
        .with_field(format!("{prefix}{}", error.field))
}

/// Parses and validates a batch in one pass: each event becomes an [`Event`] as soon as it is
/// read (no list of raw inputs is built first). The hand-written reader goes first; when it
/// cannot read the body, or an event in it is invalid or one too many, serde reads the body
/// again and names the fault.
fn parse_batch(body: &[u8], now: i64, limit: usize) -> AppResult<Vec<Event>> {
    // An event takes a few hundred bytes of JSON: room for the usual batch at once.
    let capacity = (body.len() / 256).clamp(1, limit.max(1));
    let mut events = Vec::with_capacity(capacity);
    let read = json::read_event_batch(utf8_or_empty(body), |input| {
        if events.len() == limit {
            return false;
        }
        match validate(input, now) {
            Ok(event) => events.push(event),
            Err(_) => return false,
        }
        true
    });
    if read {
        Ok(events)
    } else {
        parse_batch_naming_the_fault(body, now, limit, capacity)
    }
}

/// The slow path of [`parse_batch`], with serde: stops at the first invalid event, and gives
/// the errors parsing first and validating after would give: a malformed body names the JSON
/// path, an invalid event its position and field, a long batch its size.
fn parse_batch_naming_the_fault(
    body: &[u8],
    now: i64,
    limit: usize,
    capacity: usize,
) -> AppResult<Vec<Event>> {
    let refused = std::cell::RefCell::new(None);
    let seed = BatchSeed(BatchReading {
        now,
        limit,
        capacity,
        refused: &refused,
    });
    let mut deserializer = serde_json::Deserializer::from_str(utf8_or_empty(body));
    let parsed = serde::de::DeserializeSeed::deserialize(seed, &mut deserializer)
        .and_then(|events| deserializer.end().map(|()| events));
    match parsed {
        Ok(events) => Ok(events),
        Err(error) => Err(refused.take().unwrap_or_else(|| {
            // Parse again, the slow way, to name the JSON path of the fault.
            match parse_json_naming_the_fault::<BatchRequest>(body) {
                Err(named) => named,
                Ok(_) => AppError::new(ErrorCode::MalformedBody, format!("body: {error}")),
            }
        })),
    }
}

/// Parses one event: the hand-written reader first, serde when it cannot read the body.
fn parse_event(body: &[u8]) -> AppResult<EventInput> {
    let text = utf8_or_empty(body);
    if let Some((input, after)) = json::read_event_input(text, 0) {
        let rest = &text.as_bytes()[after..];
        if rest
            .iter()
            .all(|byte| matches!(byte, b' ' | b'\n' | b'\t' | b'\r'))
        {
            return Ok(input);
        }
    }
    parse_json(body)
}

/// What reading a batch needs: the receive time, the size limit, how many events to make
/// room for, and where to leave the API error that stopped the reading.
#[derive(Clone, Copy)]
struct BatchReading<'a> {
    now: i64,
    limit: usize,
    capacity: usize,
    refused: &'a std::cell::RefCell<Option<AppError>>,
}

/// Reads `{"events": [...]}` into validated events.
struct BatchSeed<'a>(BatchReading<'a>);

impl<'de> serde::de::DeserializeSeed<'de> for BatchSeed<'_> {
    type Value = Vec<Event>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Vec<Event>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for BatchSeed<'_> {
    type Value = Vec<Event>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an object with an `events` array")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Vec<Event>, A::Error> {
        use serde::de::Error;
        let mut events = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key != "events" {
                return Err(A::Error::unknown_field(&key, &["events"]));
            }
            if events.is_some() {
                return Err(A::Error::duplicate_field("events"));
            }
            events = Some(map.next_value_seed(EventsSeed(self.0))?);
        }
        events.ok_or_else(|| A::Error::missing_field("events"))
    }
}

/// Reads the `events` array, validating each event as it comes.
struct EventsSeed<'a>(BatchReading<'a>);

impl<'de> serde::de::DeserializeSeed<'de> for EventsSeed<'_> {
    type Value = Vec<Event>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Vec<Event>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for EventsSeed<'_> {
    type Value = Vec<Event>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an array of events")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Event>, A::Error> {
        use serde::de::Error;
        let reading = self.0;
        let mut events = Vec::with_capacity(reading.capacity);
        while let Some(input) = seq.next_element::<EventInput>()? {
            if events.len() == reading.limit {
                // Count the rest without keeping it, to say how long the batch was.
                let mut count = events.len() + 1;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    count += 1;
                }
                let limit = reading.limit;
                *reading.refused.borrow_mut() = Some(
                    AppError::new(
                        ErrorCode::BatchTooLarge,
                        format!("events: {count} events, the limit is {limit}"),
                    )
                    .with_field("events"),
                );
                return Err(A::Error::custom("batch too large"));
            }
            match validate(input, reading.now) {
                Ok(event) => events.push(event),
                Err(error) => {
                    let prefix = format!("events[{}].", events.len());
                    *reading.refused.borrow_mut() = Some(invalid_event(&error, &prefix));
                    return Err(A::Error::custom("invalid event"));
                }
            }
        }
        Ok(events)
    }
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
    RawBody(body): RawBody,
) -> AppResult<impl IntoResponse> {
    let event =
        validate(parse_event(&body)?, now_ms()).map_err(|error| invalid_event(&error, ""))?;
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
    RawBody(body): RawBody,
) -> AppResult<impl IntoResponse> {
    let now = now_ms();
    let events = parse_batch(&body, now, state.config.max_batch_events)?;
    // A decision takes a few hundred bytes of JSON.
    let mut answer = Vec::with_capacity(32 + events.len() * 512);
    let mut batch = state.app.decisions()?.batch(events.len());
    answer.extend_from_slice(b"{\"decisions\":[");
    let mut tally = DecisionTally::default();
    for (position, event) in events.iter().enumerate() {
        let decision = state.decide_counted(event, now, &mut tally)?;
        if position > 0 {
            answer.push(b',');
        }
        let record = RecordRef {
            decision: &decision,
            event,
        };
        state.encode_record(record, &mut answer, &mut batch)?;
    }
    state.metrics.record(tally);
    state.submit_log_batch(batch).await?;
    answer.extend_from_slice(b"]}");
    Ok(json(answer))
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
    PathParams(decision_id): PathParams<String>,
    JsonBody(result): JsonBody<ChallengeResultRequest>,
) -> AppResult<impl IntoResponse> {
    let started = std::time::Instant::now();
    let (event, decision) = state
        .app
        .decisions()?
        .report_challenge(&decision_id, result.passed, now_ms())
        .map_err(|error| AppError::new(ErrorCode::ChallengeNotPending, error.to_string()))?;
    state
        .metrics
        .observe(&decision, started.elapsed().as_secs_f64());
    Ok(json(
        state.log_record(DecisionRecord { decision, event }).await?,
    ))
}
