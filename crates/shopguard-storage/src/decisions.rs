//! The decision log and alerts: what every backend stores of each decision.

use serde::{Deserialize, Serialize};
use shopguard_core::{Decision, Event};

use crate::{LogBatch, StoreResult};

/// A decision with the event it was made for: one row of the decision log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The decision.
    pub decision: Decision,
    /// The event.
    pub event: Event,
}

impl DecisionRecord {
    /// The record as a pair of references.
    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            decision: &self.decision,
            event: &self.event,
        }
    }
}

/// A decision and its event, borrowed: what a request logs without moving its event into a
/// [`DecisionRecord`].
#[derive(Clone, Copy, Debug)]
pub struct RecordRef<'a> {
    /// The decision.
    pub decision: &'a Decision,
    /// The event.
    pub event: &'a Event,
}

/// An alert raised by a rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Sequence number (0 before it is stored).
    pub seq: i64,
    /// When it was raised.
    pub created_at_ms: i64,
    /// Severity name.
    pub severity: String,
    /// Rule that raised it.
    pub rule_id: String,
    /// Decision it belongs to.
    pub decision_id: String,
    /// The user.
    pub user_id: String,
    /// The IP, if known.
    pub ip: Option<String>,
    /// The rule's reason.
    pub message: String,
}

/// Filter for decision-log queries; every given field must match.
///
/// Recorded in audit entries as JSON: a field added later must default when absent (the
/// struct is `#[serde(default)]`), so that entries written before it still read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecisionQuery {
    /// The user.
    pub user_id: Option<String>,
    /// The IP address.
    pub ip: Option<String>,
    /// The device.
    pub device_id: Option<String>,
    /// The outcome.
    pub outcome: Option<String>,
    /// From this time (inclusive, ms since epoch).
    pub from_ms: Option<i64>,
    /// Until this time (exclusive).
    pub to_ms: Option<i64>,
    /// Only decisions where this rule matched, enforced or shadow.
    pub rule_id: Option<String>,
    /// A cursor: only decisions that come strictly after the decision with this id in the
    /// order results come in (newest logged first), i.e. the next page after a page that
    /// ended with it. Both backends order by position in the log (the order of appending),
    /// so decisions with equal times are neither repeated nor skipped. A cursor naming a
    /// decision not in the log (never logged, or purged) gives an empty page.
    pub before_id: Option<String>,
    /// At most this many, newest first.
    pub limit: u32,
}

/// The decision log, with the alerts and list additions decisions raise.
pub trait DecisionStore: Send + Sync {
    /// Appends batches of decisions with the alerts they raised and the list entries their
    /// actions added (so a rule's block survives a restart). Idempotent for alerts and list
    /// entries, so that a writer may retry a batch whose append failed.
    fn append_decisions(&self, batches: &[LogBatch]) -> StoreResult<()>;
    /// One decision.
    fn decision(&self, decision_id: &str) -> StoreResult<Option<DecisionRecord>>;
    /// Decisions matching a query, newest first.
    fn query_decisions(&self, query: &DecisionQuery) -> StoreResult<Vec<DecisionRecord>>;
    /// How many decisions match `query`, ignoring its limit and cursor, counting no further
    /// than `cap`: `(count, false)` is exact; `(count, true)` means at least `count` match
    /// (more than `cap` do and `count` is `cap`, or, for a query without a user, IP or device,
    /// the backend stopped at its scan bound; see each backend).
    fn count_decisions(&self, query: &DecisionQuery, cap: u64) -> StoreResult<(u64, bool)>;
    /// Alerts in a time range, newest first.
    fn query_alerts(
        &self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AlertRecord>>;
    /// Deletes decisions and alerts older than `cutoff_ms`; returns how many decisions.
    fn purge_decisions_before(&self, cutoff_ms: i64) -> StoreResult<usize>;
    /// Number of decisions stored.
    fn decision_count(&self) -> StoreResult<u64>;
    /// Re-encrypts the personal fields of logged decisions with the newest data key (and
    /// encrypts any written in the clear); returns how many records changed. `progress`
    /// hears (done, total) in units the backend chooses.
    fn reencrypt_decisions(&self, progress: &mut dyn FnMut(usize, usize)) -> StoreResult<u64>;
    /// [`DecisionStore::reencrypt_decisions`] that may stop early: `progress(done, total)`
    /// answers whether to go on. Stopping leaves every record readable, and a later call
    /// changes only what is left. A backend without stop points runs to the end.
    fn reencrypt_decisions_until(
        &self,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> StoreResult<u64> {
        self.reencrypt_decisions(&mut |done, total| {
            let _ = progress(done, total);
        })
    }
}
