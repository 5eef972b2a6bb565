//! Events in, decisions out: `POST /v1/events`, `POST /v1/events/batch` and
//! `POST /v1/decisions/{id}/challenge`.
//!
//! The event and decision types themselves live in `shopguard-core` (the engine decides
//! them); they are re-exported here as part of the contract.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use shopguard_core::decision::{
    ActionTaken, AlertSeverity, ChallengeKind, Decision, MatchedRule, Outcome, RuleError,
};
pub use shopguard_core::event::{Channel, EventInput, EventKind};

/// `POST /v1/events/batch` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The events, decided in order.
    pub events: Vec<EventInput>,
}

/// `POST /v1/events/batch` answer: one decision per event, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BatchResponse {
    /// The decisions.
    pub decisions: Vec<Decision>,
}

/// `POST /v1/decisions/{id}/challenge` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeResultRequest {
    /// Whether the user passed the challenge.
    pub passed: bool,
}
