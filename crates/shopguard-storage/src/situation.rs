//! The situation's history: per node and per minute, the decisions a node made by outcome,
//! the challenges reported, and the rules that matched (decision 0047). Each node writes a
//! minute once it is over; readers sum the nodes. Kept 31 days.
//!
//! These are counters, not state anyone changes: writing them records no audit entry, like
//! the schedule's bookkeeping.

use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// Days of situation history kept.
pub const SITUATION_DAYS_KEPT: i64 = 31;

/// Rule ids longer than this are not kept in the history (rule ids are short; the bound keeps
/// a row small).
pub const MAX_RULE_ID_BYTES: usize = 128;

/// What happened in one minute (on one node, or summed over nodes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SituationMinute {
    /// The minute (ms since the epoch divided by 60,000).
    pub minute: i64,
    /// Events decided.
    pub events: i64,
    /// Decisions that allowed.
    pub allow: i64,
    /// Decisions that challenged.
    pub challenge: i64,
    /// Decisions sent to review.
    pub review: i64,
    /// Decisions that denied.
    pub deny: i64,
    /// Challenges reported passed.
    pub passed: i64,
    /// Challenges reported failed.
    pub failed: i64,
    /// Matches per rule in the minute: (rule id, shadow, matches).
    pub rules: Vec<(String, bool, i64)>,
}

/// A rule's matches over a range, summed over nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SituationRule {
    /// The rule's id.
    pub rule_id: String,
    /// Whether it is a shadow rule.
    pub shadow: bool,
    /// Matches.
    pub matches: i64,
}

/// The situation's history.
pub trait SituationStore: Send + Sync {
    /// Stores `node`'s counts of a minute; storing a minute again replaces it (a retry after
    /// a failed write is harmless). Rule ids over [`MAX_RULE_ID_BYTES`] are left out.
    fn record_situation_minute(&self, node: &str, minute: &SituationMinute) -> StoreResult<()>;
    /// The minutes from `from_minute` until `to_minute` (exclusive), each summed over the
    /// nodes, oldest first; minutes nobody recorded are absent. Their `rules` are empty: ask
    /// [`situation_top_rules`](Self::situation_top_rules).
    fn situation_minutes(
        &self,
        from_minute: i64,
        to_minute: i64,
    ) -> StoreResult<Vec<SituationMinute>>;
    /// The `limit` rules that matched most from `from_minute` until `to_minute` (exclusive),
    /// summed over nodes; most matches first, then by id.
    fn situation_top_rules(
        &self,
        from_minute: i64,
        to_minute: i64,
        limit: u32,
    ) -> StoreResult<Vec<SituationRule>>;
    /// Removes the history before `minute` (every node's); returns the minutes removed.
    fn purge_situation_before(&self, minute: i64) -> StoreResult<usize>;
}
