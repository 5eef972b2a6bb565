//! Replaying logged traffic through an edited policy before it is submitted (decision 0045).
//!
//! The logged events of a time range are read back (newest first, up to a bound, then put in
//! the order they happened) and decided twice: by the live version and by the edited source,
//! each in a fresh engine over its own copy of the lists, so that rules adding entries change
//! neither the other side nor the lists serving traffic. The comparison is the core's
//! [`ReplayTally`]. Nothing is stored; reading the events is recorded in the audit log like
//! any read of logged decisions.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use shopguard_core::audit::RecordClass;
use shopguard_core::replay::{ReplaySummary, ReplayTally};
use shopguard_core::Engine;
use shopguard_storage::{DecisionQuery, DecisionRecord, Scope};

use super::PolicyService;
use crate::actor::Principal;
use crate::error::{ServiceError, ServiceResult};

/// Most events one replay decides.
pub const REPLAY_MAX_EVENTS: u32 = 100_000;
/// Events a replay decides when the request names no bound.
pub const REPLAY_DEFAULT_EVENTS: u32 = 20_000;
/// The longest range a replay reads (31 days).
pub const REPLAY_MAX_SPAN_MS: i64 = 31 * 86_400_000;
/// Decisions read from the log per page.
const PAGE: u32 = 1_000;

/// What to replay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRequest {
    /// The edited policy (TOML).
    pub source: String,
    /// From this time (inclusive, ms since epoch).
    pub from_ms: i64,
    /// Until this time (exclusive).
    pub to_ms: i64,
    /// At most this many events, the most recent of the range (1 to [`REPLAY_MAX_EVENTS`]).
    pub max_events: u32,
}

/// What a replay found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayReport {
    /// The live version the edit was compared with.
    pub live_version: u64,
    /// The range asked for.
    pub from_ms: i64,
    /// The range asked for (exclusive end).
    pub to_ms: i64,
    /// Whether the range held more events than `max_events` (only the most recent were
    /// replayed).
    pub capped: bool,
    /// When the first replayed event happened.
    pub first_event_ms: Option<i64>,
    /// When the last replayed event happened.
    pub last_event_ms: Option<i64>,
    /// How long the replay took (ms).
    pub elapsed_ms: u64,
    /// The comparison.
    pub summary: ReplaySummary,
}

/// The longest "last N hours" a replay takes (31 days).
pub const REPLAY_MAX_HOURS: u32 = 744;
/// The hours a replay reads when the request names neither a start nor hours.
pub const REPLAY_DEFAULT_HOURS: u32 = 24;

impl ReplayRequest {
    /// A request from optional parts: the range `from_ms`..`to_ms`, or the last `hours`
    /// (default [`REPLAY_DEFAULT_HOURS`]) before `to_ms` (default `now_ms`); at most
    /// `max_events` (default [`REPLAY_DEFAULT_EVENTS`]). Checked as [`PolicyService::replay`]
    /// checks it.
    pub fn new(
        source: String,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        hours: Option<u32>,
        max_events: Option<u32>,
        now_ms: i64,
    ) -> ServiceResult<ReplayRequest> {
        let to_ms = to_ms.unwrap_or(now_ms);
        let from_ms = match (from_ms, hours) {
            (Some(from_ms), _) => from_ms,
            (None, hours) => {
                let hours = hours.unwrap_or(REPLAY_DEFAULT_HOURS);
                if !(1..=REPLAY_MAX_HOURS).contains(&hours) {
                    return Err(ServiceError::invalid(
                        "hours",
                        format!("hours: {hours} is out of range; give 1 to {REPLAY_MAX_HOURS}"),
                    ));
                }
                to_ms.saturating_sub(i64::from(hours) * 3_600_000)
            }
        };
        let request = ReplayRequest {
            source,
            from_ms,
            to_ms,
            max_events: max_events.unwrap_or(REPLAY_DEFAULT_EVENTS),
        };
        request.check()?;
        Ok(request)
    }

    fn check(&self) -> ServiceResult<()> {
        if self.to_ms <= self.from_ms {
            return Err(ServiceError::invalid(
                "to_ms",
                "to_ms: the range ends before it starts; give to_ms after from_ms",
            ));
        }
        if self.to_ms.saturating_sub(self.from_ms) > REPLAY_MAX_SPAN_MS {
            return Err(ServiceError::invalid(
                "from_ms",
                "from_ms: a replay reads at most 31 days; narrow the range",
            ));
        }
        if !(1..=REPLAY_MAX_EVENTS).contains(&self.max_events) {
            return Err(ServiceError::invalid(
                "max_events",
                format!(
                    "max_events: {} is out of range; give 1 to {REPLAY_MAX_EVENTS}",
                    self.max_events
                ),
            ));
        }
        Ok(())
    }
}

impl PolicyService {
    /// Replays the logged events of a range through the live policy and the edited source
    /// and reports the decisions that would change, rule by rule. Needs `policy:write` and
    /// `decisions:read`; changes nothing; the read is recorded in the audit log.
    pub fn replay(
        &self,
        request: &ReplayRequest,
        caller: &Principal,
    ) -> ServiceResult<ReplayReport> {
        for scope in [Scope::PolicyWrite, Scope::DecisionsRead] {
            if !caller.grants(scope) {
                return Err(ServiceError::forbidden(format!(
                    "a replay needs scope '{scope}'"
                )));
            }
        }
        request.check()?;
        let started = Instant::now();
        // The edit first: a source that does not compile reads nothing.
        // A field of a JSON request: refused as an invalid `source` (400), with the message
        // and position the policy check gives.
        let edited_parsed = shopguard_core::ParsedPolicy::parse(&request.source)
            .map_err(|error| ServiceError::invalid("source", format!("source: {error}")))?;
        let live = self.live()?;
        let live_engine = Engine::new(
            &live.source,
            live.version,
            Arc::new(self.engine.lists().copy()),
        )?;
        let edited_engine = Engine::with_parsed(
            &edited_parsed,
            live.version + 1,
            Arc::new(self.engine.lists().copy()),
        )
        .map_err(|error| ServiceError::invalid("source", format!("source: {error}")))?;
        self.audit.record(self.audit.entry(
            RecordClass::DataAccess,
            &caller.actor,
            "policy.replay",
            "decisions".to_owned(),
            serde_json::json!({
                "from_ms": request.from_ms,
                "to_ms": request.to_ms,
                "max_events": request.max_events,
            }),
        ))?;
        let (mut records, capped) = self.read_range(request)?;
        records.reverse(); // oldest first, as they happened
        let mut tally = ReplayTally::new();
        for record in &records {
            let id = record.decision.decision_id.clone();
            let live_decision = live_engine.decide(&record.event, id.clone());
            let edited_decision = edited_engine.decide(&record.event, id);
            tally.record(&record.decision, &live_decision, &edited_decision);
        }
        Ok(ReplayReport {
            live_version: live.version,
            from_ms: request.from_ms,
            to_ms: request.to_ms,
            capped,
            first_event_ms: records.first().map(|record| record.event.occurred_at_ms),
            last_event_ms: records.last().map(|record| record.event.occurred_at_ms),
            elapsed_ms: started.elapsed().as_millis() as u64,
            summary: tally.finish(),
        })
    }

    /// The most recent `max_events` logged decisions of the range, newest first, and whether
    /// there were more.
    fn read_range(&self, request: &ReplayRequest) -> ServiceResult<(Vec<DecisionRecord>, bool)> {
        let wanted = request.max_events as usize;
        let mut records: Vec<DecisionRecord> = Vec::new();
        let mut before_id: Option<String> = None;
        loop {
            // One more than needed tells whether the range holds more.
            let limit = PAGE.min((wanted + 1 - records.len()) as u32);
            let page = self.store.query_decisions(&DecisionQuery {
                from_ms: Some(request.from_ms),
                to_ms: Some(request.to_ms),
                before_id: before_id.clone(),
                limit,
                ..DecisionQuery::default()
            })?;
            let full = page.len() == limit as usize;
            before_id = page
                .last()
                .map(|record| record.decision.decision_id.clone());
            records.extend(page);
            if records.len() > wanted {
                records.truncate(wanted);
                return Ok((records, true));
            }
            if !full || before_id.is_none() {
                return Ok((records, false));
            }
        }
    }
}
