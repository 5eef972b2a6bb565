//! Alert triage as stored: the state analysts give an alert (status, assignee) and the
//! notes they write on it, beside the alerts the decision log writer stores
//! ([`crate::DecisionStore::append_decisions`]).
//!
//! - Triage state is one row per touched alert (`alert_triage`): the status as its code
//!   ([`AlertStatus::code`], never the declaration order), the assignee, a version for
//!   optimistic concurrency, who changed it last and when. An alert without a row is open,
//!   unassigned, at version 0.
//! - Notes are append-only rows (`alert_notes`), at most [`MAX_ALERT_NOTE_CHARS`]
//!   characters each.
//! - A change is compare and set on the version the caller read: a change made meanwhile
//!   makes it answer `None` and change nothing. Every change is stored with its audit entry
//!   in one transaction.
//! - Purging old decisions ([`crate::DecisionStore::purge_decisions_before`]) drops the
//!   triage rows and notes of the alerts it removes.

use serde::{Deserialize, Serialize};
pub use shopguard_core::alerts::{AlertStatus, MAX_ALERT_NOTE_CHARS};

use crate::audit_log::NewAuditEntry;
use crate::decisions::AlertRecord;
use crate::StoreResult;

/// Most alerts [`AlertStore::count_alerts`] counts before it stops and says so.
pub const ALERT_COUNT_CAP: u64 = 10_000;

/// The triage state of one alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertTriage {
    /// Where it stands.
    pub status: AlertStatus,
    /// The operator working it, if any.
    pub assignee: Option<String>,
    /// Changes made so far (0 for an untouched alert); a change names the version it read.
    pub version: i64,
    /// When it last changed (ms since epoch); `None` while untouched.
    pub updated_at_ms: Option<i64>,
    /// Who changed it last (an actor); `None` while untouched.
    pub updated_by: Option<String>,
}

impl AlertTriage {
    /// The state of an alert nobody has touched: open, unassigned, version 0.
    pub fn untouched() -> AlertTriage {
        AlertTriage {
            status: AlertStatus::Open,
            assignee: None,
            version: 0,
            updated_at_ms: None,
            updated_by: None,
        }
    }
}

/// An alert with its triage state: one row of the queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TriagedAlert {
    /// The alert as the rule raised it.
    pub alert: AlertRecord,
    /// Its triage state.
    pub triage: AlertTriage,
}

/// A note written on an alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertNote {
    /// Who wrote it (an actor).
    pub author: String,
    /// When (ms since epoch).
    pub at_ms: i64,
    /// The text, at most [`MAX_ALERT_NOTE_CHARS`] characters.
    pub text: String,
    /// The status change this note gives the reason for, when it was written with one.
    pub status: Option<AlertStatus>,
}

/// One alert with its triage state and every note, oldest note first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertDetail {
    /// The alert as the rule raised it.
    pub alert: AlertRecord,
    /// Its triage state.
    pub triage: AlertTriage,
    /// Its notes, oldest first.
    pub notes: Vec<AlertNote>,
}

/// Whose alerts a queue shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssigneeFilter {
    /// Only alerts nobody is assigned to.
    Unassigned,
    /// Only alerts assigned to this operator.
    Is(String),
}

/// Which alerts a queue shows; every given field must match. Newest first (by `seq`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertFilter {
    /// Only alerts in this status (an untouched alert is open).
    pub status: Option<AlertStatus>,
    /// Only alerts of this assignee, or only unassigned ones.
    pub assignee: Option<AssigneeFilter>,
    /// Only this severity (`low`, `medium`, `high`, `critical`).
    pub severity: Option<String>,
    /// Only alerts raised by this rule.
    pub rule_id: Option<String>,
    /// Raised at or after this time (ms since epoch).
    pub from_ms: Option<i64>,
    /// Raised before this time (ms since epoch).
    pub to_ms: Option<i64>,
    /// Only alerts with a smaller `seq` (the cursor: the last `seq` of the previous page).
    pub before_seq: Option<i64>,
    /// At most this many (1 to 1,000; other values are brought into that range).
    pub limit: u32,
}

impl Default for AlertFilter {
    fn default() -> Self {
        AlertFilter {
            status: None,
            assignee: None,
            severity: None,
            rule_id: None,
            from_ms: None,
            to_ms: None,
            before_seq: None,
            limit: 100,
        }
    }
}

impl AlertFilter {
    /// The limit brought into 1 to 1,000.
    pub fn bounded_limit(&self) -> u32 {
        self.limit.clamp(1, 1_000)
    }

    /// The assignee filter as the backends' queries take it: a mode (0 any, 1 unassigned,
    /// 2 this name) and the name.
    pub(crate) fn assignee_mode(&self) -> (i32, Option<&str>) {
        match &self.assignee {
            None => (0, None),
            Some(AssigneeFilter::Unassigned) => (1, None),
            Some(AssigneeFilter::Is(name)) => (2, Some(name.as_str())),
        }
    }
}

/// How many alerts match a filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertCount {
    /// The number, at most [`ALERT_COUNT_CAP`].
    pub total: u64,
    /// Whether counting stopped at [`ALERT_COUNT_CAP`] (there are at least that many).
    pub capped: bool,
}

impl AlertCount {
    /// The count of `counted` rows, where the backend counted at most one past the cap.
    pub(crate) fn of(counted: u64) -> AlertCount {
        AlertCount {
            total: counted.min(ALERT_COUNT_CAP),
            capped: counted > ALERT_COUNT_CAP,
        }
    }
}

/// A change of an alert's triage state: its new status and assignee, by whom and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertChange<'a> {
    /// The new status.
    pub status: AlertStatus,
    /// The new assignee (`None`: nobody).
    pub assignee: Option<&'a str>,
    /// Who changes it (an actor).
    pub by: &'a str,
    /// When (ms since epoch).
    pub at_ms: i64,
    /// A note stored with the change when it is made (the reason), and not otherwise.
    pub note: Option<&'a AlertNote>,
}

/// Alert triage: the queue, each alert's state and notes.
pub trait AlertStore: Send + Sync {
    /// One alert with its triage state and notes; `None` when there is no such alert.
    fn alert(&self, seq: i64) -> StoreResult<Option<AlertDetail>>;
    /// Alerts matching `filter`, newest (highest `seq`) first, at most its limit.
    fn alert_queue(&self, filter: &AlertFilter) -> StoreResult<Vec<TriagedAlert>>;
    /// How many alerts match `filter` regardless of its cursor and limit, counting up to
    /// [`ALERT_COUNT_CAP`].
    fn count_alerts(&self, filter: &AlertFilter) -> StoreResult<AlertCount>;
    /// Sets an alert's status and assignee if its version is still `expected_version`,
    /// recording `audit`; returns the new version, or `None` (and records nothing) when
    /// the alert changed meanwhile. `NotFound` when there is no such alert.
    fn change_alert(
        &self,
        seq: i64,
        expected_version: i64,
        change: &AlertChange<'_>,
        audit: &NewAuditEntry,
    ) -> StoreResult<Option<i64>>;
    /// Appends a note to an alert, recording `audit`. `NotFound` when there is no such
    /// alert.
    fn add_alert_note(&self, seq: i64, note: &AlertNote, audit: &NewAuditEntry) -> StoreResult<()>;
}
