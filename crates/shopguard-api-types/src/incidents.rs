//! Incidents (DB33/T 978-2015): `GET|POST /v1/incidents`, `GET|PATCH /v1/incidents/{id}`,
//! `POST /v1/incidents/{id}/triage|grade|override|transition|reassess|escalate|assign`,
//! `POST /v1/incidents/from-alerts`, `GET /v1/incidents/{id}/history`,
//! `GET /v1/incidents/{id}/diff` and `GET /v1/incidents/grading`.
//!
//! Every change names the `version` of the incident it was based on; when someone changed
//! the incident meanwhile the change is refused with `409 conflict`, and the client reloads
//! and decides again. A move the lifecycle refuses is also `409`, saying what is missing.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use shopguard_core::incident::grading::{
    BandBetween, GradeReason, GradeRoute, GradingConfig, SystemImportance, SystemLoss,
};
pub use shopguard_core::incident::record::{Incident, Observable, ObservableKind};
pub use shopguard_core::incident::{
    Category, ConsequenceTag, FieldDiff, HistoryEntry, Level, Status as IncidentStatus, Verdict,
};

/// Filters of `GET /v1/incidents`; every given one must match. Newest (highest id) first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IncidentsQuery {
    /// Only incidents in this status.
    pub status: Option<IncidentStatus>,
    /// Only incidents whose effective level (override, else computed) is this one.
    pub level: Option<Level>,
    /// Only this category.
    pub category: Option<Category>,
    /// Only incidents assigned to this operator.
    pub assignee: Option<String>,
    /// Only incidents assigned to nobody (`true`); not together with `assignee`.
    pub unassigned: Option<bool>,
    /// Only drills (`true`) or only real incidents (`false`).
    pub drill: Option<bool>,
    /// Reported at or after this time (ms since epoch).
    pub reported_from_ms: Option<i64>,
    /// Reported before this time (ms since epoch).
    pub reported_to_ms: Option<i64>,
    /// Only incidents with an observable of this kind (with `observable_value`).
    pub observable_kind: Option<ObservableKind>,
    /// Only incidents with an observable of this exact value (with `observable_kind`).
    #[param(max_length = 500)]
    pub observable_value: Option<String>,
    /// Only incidents older than this id: the `next_before_id` of the previous page.
    pub before_id: Option<i64>,
    /// At most this many: 1 to 1,000, 100 when absent; a larger value is refused (`400`).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// `GET /v1/incidents` answer, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IncidentList {
    /// The incidents.
    pub incidents: Vec<Incident>,
    /// How many match the filters in all (`before_id` and `limit` aside), up to 10,000.
    pub total: u64,
    /// Whether counting stopped at 10,000.
    pub total_capped: bool,
    /// The `before_id` of the next page, when this one was full.
    pub next_before_id: Option<i64>,
}

/// Body of `POST /v1/incidents`: the report form (§10.3). Anyone but an auditor may report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentReportRequest {
    /// A short title, 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: String,
    /// The category (§6.2).
    pub category: Category,
    /// Negative consequences (§8.3.3), each once.
    #[serde(default)]
    #[schema(max_items = 6)]
    pub tags: Vec<ConsequenceTag>,
    /// When it was discovered (ms since epoch).
    #[serde(default)]
    pub discovered_at_ms: Option<i64>,
    /// The affected systems, at most 50 names of 1 to 200 characters.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub affected_systems: Vec<String>,
    /// What happened, at most 20,000 characters.
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub description: String,
    /// The evidence, at most 20,000 characters.
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub evidence: String,
    /// What was seen: IPs, accounts, devices, URLs, listings, card BINs; at most 100.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub observables: Vec<Observable>,
    /// The reporter is not sure of the level (§10.3).
    #[serde(default)]
    pub unsure_of_level: bool,
    /// Part of a drill.
    #[serde(default)]
    pub is_drill: bool,
}

/// Body of `POST /v1/incidents/from-alerts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentFromAlertsRequest {
    /// The alerts to promote (their `seq`), 1 to 1,000; none may belong to an incident.
    #[schema(min_items = 1, max_items = 1000)]
    pub alerts: Vec<i64>,
    /// A short title, 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: String,
    /// The category (§6.2).
    pub category: Category,
    /// What happened, at most 20,000 characters.
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub description: String,
    /// Part of a drill.
    #[serde(default)]
    pub is_drill: bool,
}

/// Body of `PATCH /v1/incidents/{id}`: the report fields to change; absent ones stay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentPatchRequest {
    /// The version of the incident the change is based on.
    pub version: i64,
    /// Why, at most 2,000 characters (kept in the history).
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
    /// A new title, 1 to 200 characters.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: Option<String>,
    /// A new category.
    #[serde(default)]
    pub category: Option<Category>,
    /// New consequence tags.
    #[serde(default)]
    #[schema(max_items = 6)]
    pub tags: Option<Vec<ConsequenceTag>>,
    /// A new description.
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub description: Option<String>,
    /// New evidence.
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub evidence: Option<String>,
    /// New affected systems.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub affected_systems: Option<Vec<String>>,
    /// New observables.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub observables: Option<Vec<Observable>>,
    /// A new "not sure of the level" flag.
    #[serde(default)]
    pub unsure_of_level: Option<bool>,
}

/// Body of `POST /v1/incidents/{id}/triage` (§10.5 b).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentTriageRequest {
    /// The version of the incident the change is based on.
    pub version: i64,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, 1 to 2,000 characters.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub reason: String,
}

/// Body of `POST /v1/incidents/{id}/grade`: the inputs of §6.3, each optional.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentGradeRequest {
    /// The version of the incident the change is based on.
    pub version: i64,
    /// The importance of the affected system (§6.3.2).
    #[serde(default)]
    pub importance: Option<SystemImportance>,
    /// The loss it suffered (§6.3.3).
    #[serde(default)]
    pub loss: Option<SystemLoss>,
    /// How many users the incident affects.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub affected_users: Option<u64>,
    /// How many users the platform has (at least the affected users).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub platform_users: Option<u64>,
}

/// Body of `POST /v1/incidents/{id}/override`: a level set by hand (or `null` to clear it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentOverrideRequest {
    /// The version of the incident the change is based on.
    pub version: i64,
    /// The level, or `null` to go back to the computed one.
    #[serde(default)]
    pub level: Option<Level>,
    /// Why, 1 to 2,000 characters.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub reason: String,
}

/// Body of `POST /v1/incidents/{id}/transition`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentTransitionRequest {
    /// The version of the incident the change is based on.
    pub version: i64,
    /// Where to: assessed, responding, recovered, closed, reviewed (triage has its own
    /// route).
    pub to: IncidentStatus,
    /// Why, at most 2,000 characters (required to reopen: closed → responding).
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
    /// The review's summary, at most 20,000 characters (required to become reviewed).
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub summary: Option<String>,
}

/// Body of `POST /v1/incidents/{id}/reassess` and `/escalate`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentRecordRequest {
    /// The version of the incident the change is based on.
    pub version: i64,
    /// A note, at most 2,000 characters (kept in the history).
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

/// Body of `POST /v1/incidents/{id}/assign`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentAssignRequest {
    /// The version of the incident the change is based on.
    pub version: i64,
    /// The operator's username (existing and enabled), or `null` to unassign.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    pub assignee: Option<String>,
}

/// `GET /v1/incidents/{id}/history` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IncidentHistory {
    /// One entry per changed field per version, oldest first.
    pub entries: Vec<HistoryEntry>,
}

/// Query of `GET /v1/incidents/{id}/diff`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IncidentDiffQuery {
    /// The earlier version (0: before the incident existed).
    #[param(minimum = 0)]
    pub from: i64,
    /// The later version, at most the current one (the default).
    #[param(minimum = 0)]
    pub to: Option<i64>,
}

/// `GET /v1/incidents/{id}/diff` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IncidentDiff {
    /// The earlier version.
    pub from: i64,
    /// The later version.
    pub to: i64,
    /// Each field that differs, with its values at `from` and at `to`.
    pub fields: Vec<FieldDiff>,
}
