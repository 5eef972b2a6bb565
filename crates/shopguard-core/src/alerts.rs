//! Alert triage: the states an alert passes through while analysts work the queue, and the
//! moves allowed between them.
//!
//! ```text
//!            ┌──────────────► acknowledged ──┐
//!            │                    │          │
//!   open ────┼──────────────► resolved ◄─────┤
//!    ▲       │                    │          │
//!    │       └──────────────► dismissed ◄────┘
//!    └──────── reopen ◄───────────┘ (from resolved or dismissed)
//! ```
//!
//! An alert nobody has touched is [`AlertStatus::Open`]. The status is stored as its code
//! (an explicit table, never the declaration order, see [`crate::codes`]) and the names are
//! the wire spelling.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Most characters (Unicode scalar values) of an alert note or a reason.
pub const MAX_ALERT_NOTE_CHARS: usize = 2_000;

/// Where an alert stands in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Nobody has taken it up yet (or it was reopened).
    Open,
    /// Someone is looking at it.
    Acknowledged,
    /// Handled: the risk was real and was dealt with.
    Resolved,
    /// Closed without action (a false positive, a duplicate).
    Dismissed,
}

// Stored in `alert_triage.status`. Append only.
crate::stored_codes!(AlertStatus, "alert status", {
    Open = 1,
    Acknowledged = 2,
    Resolved = 3,
    Dismissed = 4,
});

impl AlertStatus {
    /// Every status, in code order.
    pub const ALL: [AlertStatus; 4] = [
        AlertStatus::Open,
        AlertStatus::Acknowledged,
        AlertStatus::Resolved,
        AlertStatus::Dismissed,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
            AlertStatus::Dismissed => "dismissed",
        }
    }

    /// Whether the alert is closed (resolved or dismissed): it must be reopened before it is
    /// acknowledged or assigned again.
    pub fn is_closed(self) -> bool {
        matches!(self, AlertStatus::Resolved | AlertStatus::Dismissed)
    }

    /// Whether an alert in this status may move to `next`.
    pub fn can_become(self, next: AlertStatus) -> bool {
        use AlertStatus::*;
        matches!(
            (self, next),
            (Open, Acknowledged | Resolved | Dismissed)
                | (Acknowledged, Resolved | Dismissed)
                | (Resolved | Dismissed, Open)
        )
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<AlertStatus, String> {
        AlertStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "unknown alert status '{text}': use open, acknowledged, resolved or dismissed"
                )
            })
    }
}

/// A triage move the transition table refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TriageError {
    /// The status cannot move there from where it is.
    #[error("an alert that is {from} cannot become {to}")]
    Transition {
        /// Where it is.
        from: AlertStatus,
        /// Where it was asked to go.
        to: AlertStatus,
    },
    /// A closed alert cannot be assigned.
    #[error("an alert that is {0} cannot be assigned; reopen it first")]
    AssignClosed(AlertStatus),
}

/// Checks a status change against the transition table.
pub fn check_transition(from: AlertStatus, to: AlertStatus) -> Result<(), TriageError> {
    if from.can_become(to) {
        Ok(())
    } else {
        Err(TriageError::Transition { from, to })
    }
}

/// Checks that an alert in `status` may be assigned (or unassigned): not while closed.
pub fn check_assignable(status: AlertStatus) -> Result<(), TriageError> {
    if status.is_closed() {
        Err(TriageError::AssignClosed(status))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AlertStatus::*;

    #[test]
    fn the_transition_table_is_exactly_as_documented() {
        let allowed = [
            (Open, Acknowledged),
            (Open, Resolved),
            (Open, Dismissed),
            (Acknowledged, Resolved),
            (Acknowledged, Dismissed),
            (Resolved, Open),
            (Dismissed, Open),
        ];
        for from in AlertStatus::ALL {
            for to in AlertStatus::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from} -> {to}");
                assert_eq!(check_transition(from, to).is_ok(), expected);
            }
        }
        assert_eq!(
            check_transition(Resolved, Acknowledged)
                .unwrap_err()
                .to_string(),
            "an alert that is resolved cannot become acknowledged"
        );
    }

    #[test]
    fn only_open_or_acknowledged_alerts_are_assigned() {
        assert!(check_assignable(Open).is_ok());
        assert!(check_assignable(Acknowledged).is_ok());
        assert_eq!(
            check_assignable(Dismissed),
            Err(TriageError::AssignClosed(Dismissed))
        );
        assert!(check_assignable(Resolved).is_err());
    }

    #[test]
    fn names_read_back() {
        for status in AlertStatus::ALL {
            assert_eq!(status.as_str().parse::<AlertStatus>(), Ok(status));
        }
        assert!("closed".parse::<AlertStatus>().is_err());
    }
}
