//! Decisions: what shopguard answers for an event, and why.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::event::EventKind;

/// The answer for an event, from least to most severe. The most severe outcome among the
/// enforced rules that matched wins, except that a matched `allow` rule exempts the event.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Let it through.
    Allow,
    /// Ask the user to prove themselves (captcha, TOTP, SMS code) first.
    Challenge,
    /// Let it wait for an analyst.
    Review,
    /// Refuse it.
    Deny,
}

// Stored in every binary decision record (the decision's and each matched rule's).
// Append only.
crate::stored_codes!(Outcome, "outcome", {
    Allow = 0,
    Challenge = 1,
    Review = 2,
    Deny = 3,
});

impl Outcome {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Challenge => "challenge",
            Outcome::Review => "review",
            Outcome::Deny => "deny",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        Ok(match text {
            "allow" => Outcome::Allow,
            "challenge" => Outcome::Challenge,
            "review" => Outcome::Review,
            "deny" => Outcome::Deny,
            _ => return Err(()),
        })
    }
}

/// The kind of challenge, weakest first; the strongest one asked for wins.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeKind {
    /// A captcha.
    Captcha,
    /// A one-time code by SMS.
    Sms,
    /// A TOTP code from the user's authenticator.
    Totp,
}

// Stored in every binary decision record (there as the code + 1, 0 meaning none).
// Append only.
crate::stored_codes!(ChallengeKind, "challenge kind", {
    Captcha = 0,
    Sms = 1,
    Totp = 2,
});

impl ChallengeKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeKind::Captcha => "captcha",
            ChallengeKind::Sms => "sms",
            ChallengeKind::Totp => "totp",
        }
    }
}

/// Whether a rule changes decisions or only records its matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleMode {
    /// Its outcome counts.
    #[default]
    Enforce,
    /// Its matches are recorded, never acted on.
    Shadow,
}

/// Severity of an alert raised by a rule.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSeverity {
    /// Worth a look.
    Low,
    /// Needs attention today.
    Medium,
    /// Needs attention now.
    High,
    /// Wake someone up.
    Critical,
}

impl AlertSeverity {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSeverity::Low => "low",
            AlertSeverity::Medium => "medium",
            AlertSeverity::High => "high",
            AlertSeverity::Critical => "critical",
        }
    }
}

/// A rule that matched an event.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchedRule {
    /// Rule id.
    pub rule_id: String,
    /// Human-readable reason.
    pub reason: String,
    /// The rule's outcome.
    pub outcome: Outcome,
    /// Points it adds to the score.
    pub score: u32,
    /// Whether it only observed.
    pub shadow: bool,
}

/// Something a decision did besides answering.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionTaken {
    /// An entity was added to a list.
    AddedToList {
        /// The list.
        list: String,
        /// The normalised value added.
        value: String,
        /// When the entry expires (ms since epoch), if it does.
        expires_at_ms: Option<i64>,
        /// The rule that asked for it.
        rule_id: String,
    },
    /// An alert was raised for analysts.
    Alert {
        /// Its severity.
        severity: AlertSeverity,
        /// The rule that raised it.
        rule_id: String,
        /// The rule's reason.
        message: String,
    },
}

/// A rule whose evaluation failed; it counts as not matching.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleError {
    /// The rule.
    pub rule_id: String,
    /// The evaluation error.
    pub message: String,
}

/// shopguard's answer for one event.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Unique, time-ordered id (UUIDv7); challenge results refer to it.
    pub decision_id: String,
    /// The event's id.
    pub event_id: String,
    /// The event's kind.
    pub kind: EventKind,
    /// The acting user.
    pub user_id: String,
    /// The answer.
    pub outcome: Outcome,
    /// Which challenge to present, when the outcome is `challenge`.
    pub challenge: Option<ChallengeKind>,
    /// Risk score, 0 to 100: the sum of the enforced matched rules' scores, capped.
    pub score: u32,
    /// Enforced rules that matched, in policy order.
    pub matched: Vec<MatchedRule>,
    /// Shadow rules that matched: recorded, not acted on.
    pub shadow_matched: Vec<MatchedRule>,
    /// Actions taken.
    pub actions: Vec<ActionTaken>,
    /// Rules whose evaluation failed (treated as not matching), with the error.
    pub errors: Vec<RuleError>,
    /// Version of the policy that decided.
    pub policy_version: u64,
    /// When the event happened (ms since epoch).
    pub occurred_at_ms: i64,
}
