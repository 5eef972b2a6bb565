//! The decision log: `GET /v1/decisions` and `GET /v1/decisions/{id}` (alerts are in
//! [`crate::alerts`]).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::events::{Decision, Outcome};

/// Filters of `GET /v1/decisions`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DecisionsQuery {
    /// Only this user.
    pub user_id: Option<String>,
    /// Only this IP address.
    pub ip: Option<String>,
    /// Only this device.
    pub device_id: Option<String>,
    /// Only this outcome.
    pub outcome: Option<Outcome>,
    /// From this time, inclusive (ms since epoch).
    pub from_ms: Option<i64>,
    /// Until this time, exclusive (ms since epoch).
    pub to_ms: Option<i64>,
    /// Only decisions where this rule matched, enforced or shadow.
    pub rule_id: Option<String>,
    /// The next page: only decisions logged before the one with this id (the last
    /// decision of the previous page). An id not in the log gives an empty page.
    pub before_id: Option<String>,
    /// At most this many: 1 to 1,000, 100 when absent; a larger value is refused (`400`,
    /// naming the maximum), never clamped.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Show personal data unmasked (needs the `pii:unmask` scope; audited).
    pub unmask: Option<bool>,
}

/// Whether to show personal data unmasked (needs the `pii:unmask` scope; audited).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UnmaskQuery {
    /// Show personal data unmasked.
    pub unmask: Option<bool>,
}

/// A decision from the log, with its event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoggedDecision {
    /// The decision.
    pub decision: Decision,
    /// The event as validated; personal data (phone, email, ID and card numbers, names,
    /// addresses) masked unless unmasking was asked for and allowed.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

/// `GET /v1/decisions` answer, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DecisionList {
    /// The decisions.
    pub decisions: Vec<LoggedDecision>,
    /// How many decisions match the filters (all pages), counted up to 10,000.
    pub total: u64,
    /// Whether counting stopped before the end: at least `total` match.
    pub total_capped: bool,
}
