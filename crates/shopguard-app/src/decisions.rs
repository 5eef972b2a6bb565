//! Decisions: decide an event, encode the answer and the log record once, queue it for the
//! log; read the log back. Shared by the HTTP API now and a stream consumer later.
//!
//! How a submission is acknowledged follows `decision_ack`: in durable mode (the default)
//! submitting hands out a [`Receipt`] the caller awaits before it answers; in queued mode it
//! hands out none, and the answer may go before the decision is on disk.

use std::sync::Arc;

use shopguard_core::audit::RecordClass;
use shopguard_core::event::EventKind;
use shopguard_core::{Decision, Engine, Event};
use shopguard_storage::decision_log::{DecisionLog, Receipt, TryAppendError};
use shopguard_storage::{DecisionQuery, DecisionRecord, LogBatch, RecordRef, Store, StoreResult};

use crate::actor::Principal;
use crate::audit::AuditService;
use crate::config::DecisionAck;
use crate::error::{ServiceError, ServiceResult};
use crate::ids::new_id_at;

/// Counts of matching decisions stop here ([`DecisionService::count`]).
pub const COUNT_CAP: u64 = 10_000;

/// Most denials [`DecisionService::top_denied`] reads (the most recent of its range).
pub const TOP_DENIED_SAMPLE: u32 = 20_000;

/// The entities behind the most denials of a range ([`DecisionService::top_denied`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TopDenied {
    /// The top entities of each kind.
    pub top: shopguard_core::top_entities::TopEntities,
    /// Whether counting stopped at [`TOP_DENIED_SAMPLE`] denials: the range may hold more,
    /// and only the most recent were counted.
    pub sampled: bool,
}

/// Decisions of a user read at most, looking for a challenge's reported result.
pub const CHALLENGE_RESULT_SCAN: usize = 20_000;

/// A challenge's result as the platform reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeResult {
    /// The decision of the `challenge_passed` or `challenge_failed` event.
    pub decision_id: String,
    /// The kind of challenge, as the report's event names it.
    pub challenge: Option<String>,
    /// Whether the user passed it.
    pub passed: bool,
    /// When it was reported (the report's event time, ms since epoch).
    pub at_ms: i64,
}

/// The decision service.
pub struct DecisionService {
    engine: Arc<Engine>,
    store: Arc<dyn Store>,
    log: Arc<DecisionLog>,
    audit: Arc<AuditService>,
    ack: DecisionAck,
}

impl std::fmt::Debug for DecisionService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionService").finish_non_exhaustive()
    }
}

impl DecisionService {
    /// A service over the engine, the store, the log writer and the audit service, that
    /// acknowledges submissions as `ack` says.
    pub fn new(
        engine: Arc<Engine>,
        store: Arc<dyn Store>,
        log: Arc<DecisionLog>,
        audit: Arc<AuditService>,
        ack: DecisionAck,
    ) -> DecisionService {
        DecisionService {
            engine,
            store,
            log,
            audit,
            ack,
        }
    }

    /// When submissions are acknowledged.
    pub fn ack(&self) -> DecisionAck {
        self.ack
    }

    /// The log writer (for its statistics and shutdown).
    pub fn log(&self) -> &Arc<DecisionLog> {
        &self.log
    }

    /// Decides an event at `now_ms` (the time its decision id carries), without logging.
    pub fn decide(&self, event: &Event, now_ms: i64) -> Decision {
        // The event's state is asked of memory all at once, so that its cache misses overlap
        // instead of following one another (decision 0015).
        self.engine.prefetch_and_decide(event, new_id_at(now_ms))
    }

    /// Decides the reported result of a challenge as a `challenge_passed` or
    /// `challenge_failed` event.
    pub fn report_challenge(
        &self,
        decision_id: &str,
        passed: bool,
        now_ms: i64,
    ) -> ServiceResult<(Event, Decision)> {
        self.engine
            .report_challenge(decision_id, passed, now_ms, new_id_at(now_ms))
            .map_err(|error| ServiceError::Conflict(error.to_string()))
    }

    /// The result the platform reported for the challenge `record` asked for, if any: looked
    /// up in the decision log, where a report is logged as the decision of a
    /// `challenge_passed` or `challenge_failed` event of the same user naming the challenged
    /// decision (decision 0046). A report comes within the challenge's lifetime
    /// ([`shopguard_core::engine::CHALLENGE_TTL_MS`]) of the challenged event, so only that
    /// window of the user's decisions is read, and no more than
    /// [`CHALLENGE_RESULT_SCAN`] of them. Reading the decision was recorded by [`Self::get`].
    pub fn challenge_result(
        &self,
        record: &DecisionRecord,
    ) -> ServiceResult<Option<ChallengeResult>> {
        if record.decision.challenge.is_none() {
            return Ok(None);
        }
        let from_ms = record.event.occurred_at_ms;
        let mut query = DecisionQuery {
            user_id: Some(record.event.user_id.clone()),
            from_ms: Some(from_ms),
            to_ms: Some(
                from_ms
                    .saturating_add(shopguard_core::engine::CHALLENGE_TTL_MS)
                    .saturating_add(1),
            ),
            limit: 1_000,
            ..DecisionQuery::default()
        };
        let mut scanned = 0;
        while scanned < CHALLENGE_RESULT_SCAN {
            let page = self.store.query_decisions(&query)?;
            scanned += page.len();
            let found = page.iter().find(|candidate| {
                matches!(
                    candidate.event.kind,
                    EventKind::ChallengePassed | EventKind::ChallengeFailed
                ) && candidate
                    .event
                    .attrs
                    .get("decision_id")
                    .and_then(|id| id.as_str())
                    == Some(record.decision.decision_id.as_str())
            });
            if let Some(found) = found {
                return Ok(Some(ChallengeResult {
                    decision_id: found.decision.decision_id.clone(),
                    challenge: found
                        .event
                        .attrs
                        .get("challenge")
                        .and_then(|kind| kind.as_str())
                        .map(str::to_owned),
                    passed: found.event.kind == EventKind::ChallengePassed,
                    at_ms: found.event.occurred_at_ms,
                }));
            }
            match page.last() {
                Some(last) if page.len() == query.limit as usize => {
                    query.before_id = Some(last.decision.decision_id.clone());
                }
                _ => break,
            }
        }
        Ok(None)
    }

    /// An empty log batch for about `records` decisions.
    pub fn batch(&self, records: usize) -> LogBatch {
        self.log.batch(records)
    }

    /// Appends a decision's JSON to `answer` and its record to `batch`.
    pub fn encode(
        &self,
        record: RecordRef<'_>,
        answer: &mut Vec<u8>,
        batch: &mut LogBatch,
    ) -> ServiceResult<()> {
        shopguard_core::json::write_decision_json(record.decision, answer)
            .map_err(|error| ServiceError::Internal(format!("encoding a decision: {error}")))?;
        batch.push_ref(record)?;
        Ok(())
    }

    /// Queues a batch without waiting; gives it back when the queue is full. In durable mode
    /// the answer must wait for the [`Receipt`] handed out.
    pub fn try_submit(&self, batch: LogBatch) -> Result<Option<Receipt>, TryAppendError> {
        match self.ack {
            DecisionAck::Durable => self.log.try_append_durable(batch).map(Some),
            DecisionAck::Queued => self.log.try_append(batch).map(|()| None),
        }
    }

    /// Queues a batch, waiting while the queue is full (call off the async threads). In
    /// durable mode the answer must wait for the [`Receipt`] handed out.
    pub fn submit_waiting(&self, batch: LogBatch) -> StoreResult<Option<Receipt>> {
        match self.ack {
            DecisionAck::Durable => self.log.append_durable(batch).map(Some),
            DecisionAck::Queued => self.log.append(batch).map(|()| None),
        }
    }

    /// One logged decision. Reading decisions is recorded (they carry personal data).
    pub fn get(&self, decision_id: &str, caller: &Principal) -> ServiceResult<DecisionRecord> {
        self.audit.record(self.audit.entry(
            RecordClass::DataAccess,
            &caller.actor,
            "decisions.read",
            format!("decision:{decision_id}"),
            serde_json::Value::Null,
        ))?;
        self.store.decision(decision_id)?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "decision '{decision_id}' not found (it may still be queued for the log)"
            ))
        })
    }

    /// Logged decisions matching a query, newest first; the query is recorded first.
    pub fn query(
        &self,
        query: &DecisionQuery,
        caller: &Principal,
    ) -> ServiceResult<Vec<DecisionRecord>> {
        let object = query
            .user_id
            .as_ref()
            .map_or_else(|| "decisions".to_owned(), |user| format!("user:{user}"));
        self.audit.record(self.audit.entry(
            RecordClass::DataAccess,
            &caller.actor,
            "decisions.query",
            object,
            serde_json::to_value(query).unwrap_or_default(),
        ))?;
        Ok(self.store.query_decisions(query)?)
    }

    /// The users, IPs, networks and devices behind the most denials logged from `from_ms`
    /// until `to_ms`, `top` of each, counted over the most recent [`TOP_DENIED_SAMPLE`]
    /// denials of the range. Needs `decisions:read`; recorded in the audit log (the answer
    /// names users).
    pub fn top_denied(
        &self,
        from_ms: i64,
        to_ms: i64,
        top: usize,
        caller: &Principal,
    ) -> ServiceResult<TopDenied> {
        if !caller.grants(shopguard_storage::Scope::DecisionsRead) {
            return Err(ServiceError::forbidden(
                "reading decisions needs scope 'decisions:read'",
            ));
        }
        self.audit.record(self.audit.entry(
            RecordClass::DataAccess,
            &caller.actor,
            "decisions.top_denied",
            "decisions".to_owned(),
            serde_json::json!({ "from_ms": from_ms, "to_ms": to_ms }),
        ))?;
        let mut tally = shopguard_core::top_entities::TopEntityTally::new();
        let mut read: u32 = 0;
        let mut before_id: Option<String> = None;
        let sampled = loop {
            let limit = (TOP_DENIED_SAMPLE - read).min(1_000);
            let page = self.store.query_decisions(&DecisionQuery {
                outcome: Some("deny".to_owned()),
                from_ms: Some(from_ms),
                to_ms: Some(to_ms),
                before_id: before_id.take(),
                limit,
                ..DecisionQuery::default()
            })?;
            for record in &page {
                tally.add(
                    &record.event.user_id,
                    record.event.ip,
                    record.event.device_id.as_deref(),
                );
            }
            read += page.len() as u32;
            if page.len() < limit as usize {
                break false;
            }
            if read >= TOP_DENIED_SAMPLE {
                break true;
            }
            before_id = page
                .last()
                .map(|record| record.decision.decision_id.clone());
        };
        Ok(TopDenied {
            top: tally.finish(top),
            sampled,
        })
    }

    /// How many logged decisions match a query (its limit and cursor ignored), counted up to
    /// [`COUNT_CAP`]: `(count, true)` says at least `count` match. Not recorded in the audit
    /// log: a count reveals no decision, and the page it goes with is recorded by
    /// [`DecisionService::query`].
    pub fn count(&self, query: &DecisionQuery, caller: &Principal) -> ServiceResult<(u64, bool)> {
        tracing::debug!(caller = %caller.id, "counting decisions");
        Ok(self.store.count_decisions(query, COUNT_CAP)?)
    }
}
