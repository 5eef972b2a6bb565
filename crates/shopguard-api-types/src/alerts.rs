//! The alert queue: `GET /v1/alerts`, `GET /v1/alerts/{seq}`, and the triage changes
//! `POST /v1/alerts/{seq}/acknowledge|resolve|dismiss|reopen|assign|notes`.
//!
//! Every change names the `version` of the alert's triage state it was based on (as read
//! from the queue or the alert); when someone changed the alert meanwhile the change is
//! refused with `409 conflict`, and the client reloads the alert and decides again.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use shopguard_core::alerts::AlertStatus;

use crate::events::AlertSeverity;

/// Filters of `GET /v1/alerts`; every given one must match. Newest (highest `seq`) first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// Only alerts in this status (an alert nobody has touched is `open`).
    pub status: Option<AlertStatus>,
    /// Only alerts assigned to this operator.
    pub assignee: Option<String>,
    /// Only alerts assigned to nobody (`true`); not together with `assignee`.
    pub unassigned: Option<bool>,
    /// Only this severity.
    pub severity: Option<AlertSeverity>,
    /// Only alerts raised by this rule.
    pub rule_id: Option<String>,
    /// Raised at or after this time (ms since epoch).
    pub from_ms: Option<i64>,
    /// Raised before this time (ms since epoch).
    pub to_ms: Option<i64>,
    /// Only alerts older than this `seq`: the `next_before_seq` of the previous page.
    pub before_seq: Option<i64>,
    /// At most this many: 1 to 1,000, 100 when absent; a larger value is refused (`400`,
    /// naming the maximum), never clamped.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// An alert raised by a rule, with its triage state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Alert {
    /// Sequence number.
    pub seq: i64,
    /// When (ms since epoch).
    pub created_at_ms: i64,
    /// Severity.
    pub severity: String,
    /// Rule that raised it.
    pub rule_id: String,
    /// Decision it came with.
    pub decision_id: String,
    /// The user.
    pub user_id: String,
    /// The IP.
    pub ip: Option<String>,
    /// The rule's reason.
    pub message: String,
    /// Where it stands in the queue.
    pub status: AlertStatus,
    /// The operator working it, if any.
    pub assignee: Option<String>,
    /// The version of its triage state (0 while untouched): send it with a change.
    pub version: i64,
    /// When its triage state last changed (ms since epoch); `null` while untouched.
    pub updated_at_ms: Option<i64>,
    /// Who changed it last; `null` while untouched.
    pub updated_by: Option<String>,
}

/// `GET /v1/alerts` answer, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertList {
    /// The alerts.
    pub alerts: Vec<Alert>,
    /// How many alerts match the filters in all (`before_seq` and `limit` aside), counted
    /// up to 10,000.
    pub total: u64,
    /// Whether counting stopped at 10,000 (there are at least that many).
    pub total_capped: bool,
    /// The `before_seq` of the next page, when this one was full.
    pub next_before_seq: Option<i64>,
}

/// A note on an alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertNote {
    /// Who wrote it.
    pub author: String,
    /// When (ms since epoch).
    pub at_ms: i64,
    /// The text.
    pub text: String,
    /// The status change it gives the reason for, when it was written with one.
    pub status: Option<AlertStatus>,
}

/// `GET /v1/alerts/{seq}` answer, and the answer of every change: the alert and its notes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertDetail {
    /// The alert with its triage state.
    pub alert: Alert,
    /// Its notes, oldest first.
    pub notes: Vec<AlertNote>,
}

/// Body of `POST /v1/alerts/{seq}/acknowledge`, `/resolve` and `/reopen`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertTransitionRequest {
    /// The version of the alert the change is based on.
    pub version: i64,
    /// Why, at most 2,000 characters, kept as a note (ignored to acknowledge).
    #[serde(default)]
    #[schema(max_length = 2000, pattern = r"\S")]
    pub reason: Option<String>,
}

/// Body of `POST /v1/alerts/{seq}/dismiss`: the reason is required.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertDismissRequest {
    /// The version of the alert the change is based on.
    pub version: i64,
    /// Why it is dismissed (a false positive, a duplicate), at most 2,000 characters, kept
    /// as a note.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub reason: String,
}

/// Body of `POST /v1/alerts/{seq}/assign`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertAssignRequest {
    /// The version of the alert the change is based on.
    pub version: i64,
    /// The operator's username (existing and enabled), or `null` to unassign.
    #[serde(default)]
    #[schema(min_length = 1)]
    pub assignee: Option<String>,
}

/// Body of `POST /v1/alerts/{seq}/notes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertNoteRequest {
    /// The note, 1 to 2,000 characters, not only blanks.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub text: String,
}
