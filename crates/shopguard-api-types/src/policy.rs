//! Policies and their versions: `/v1/policy`, `/v1/policy/versions`, `/v1/policy/check`,
//! `/v1/policy/rollback` and approvals.

use serde::{Deserialize, Serialize};
use shopguard_core::whole_number;
use utoipa::{IntoParams, ToSchema};

/// A policy version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PolicyInfo {
    /// Version number.
    pub version: u64,
    /// SHA-256 of the source.
    pub sha256: String,
    /// Who stored it.
    pub author: String,
    /// Why.
    pub comment: String,
    /// When (ms since epoch).
    pub created_at_ms: i64,
    /// Whether it is live.
    pub active: bool,
    /// Whether it waits for approval.
    #[serde(default)]
    pub pending_approval: bool,
    /// Who approved it, when it needed approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// TOML source (only where a single version is returned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// `GET /v1/policy/versions` answer, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PolicyVersionList {
    /// The versions.
    pub versions: Vec<PolicyInfo>,
}

/// Outcome of one fixture test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FixtureResult {
    /// Fixture name.
    pub name: String,
    /// Events run.
    pub events: usize,
    /// Whether it passed.
    pub passed: bool,
    /// What failed.
    pub failures: Vec<String>,
}

/// Answer to a policy check or update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PolicyCheckResponse {
    /// The version stored (absent for a check); live unless `pending_approval`.
    pub version: Option<u64>,
    /// Whether the stored version waits for someone other than its author to approve it
    /// (`POST /v1/policy/versions/{version}/approve`), because it adds or changes punitive
    /// rules.
    #[serde(default)]
    pub pending_approval: bool,
    /// The punitive rules (enforced, denying or listing) it adds or changes.
    #[serde(default)]
    pub punitive_rules: Vec<String>,
    /// Rules compiled.
    pub rules: usize,
    /// Features compiled.
    pub features: usize,
    /// Fixture results.
    pub fixtures: Vec<FixtureResult>,
}

/// `PUT /v1/policy` and `POST /v1/policy/check` query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PolicyUpdateQuery {
    /// Why the policy changes (kept with the version).
    pub comment: Option<String>,
}

/// `POST /v1/policy/rollback` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The version to make live again.
    #[serde(deserialize_with = "whole_number::deserialize")]
    pub version: u64,
}

/// A policy's TOML source, the body of `POST /v1/policy/check` and `PUT /v1/policy`
/// (`application/toml`; `text/plain` is read alike): lists, scoring, features, rules and
/// fixtures, as `docs/policies.md` describes. The body must be UTF-8; a source that does not
/// compile, or whose fixtures fail, is refused with `422 invalid_policy`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!(POLICY_EXAMPLE))]
pub struct PolicySource(pub String);

/// A small complete policy, the example of [`PolicySource`].
pub const POLICY_EXAMPLE: &str = "[policy]\nname = \"example\"\n\n[[rules]]\nid = \"many_failed_logins\"\nwhen = \"event.kind == 'login_failed' && event.user_id == 'mallory'\"\noutcome = \"challenge\"\nreason = \"failed logins by a watched user\"\n";

/// `POST /v1/policy/replay` body: an edited policy and the logged traffic to replay it on.
/// The range is `from_ms` to `to_ms`, or the last `hours` hours (default 24) up to `to_ms`
/// (default now); at most 31 days.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequestBody {
    /// The edited policy (TOML), as `PUT /v1/policy` takes it.
    #[schema(max_length = 1048576, example = json!(POLICY_EXAMPLE))]
    pub source: String,
    /// From this time (ms since epoch, inclusive); with it, `hours` is not used.
    #[serde(default, deserialize_with = "whole_number::deserialize_option")]
    pub from_ms: Option<i64>,
    /// Until this time (ms since epoch, exclusive); default now.
    #[serde(default, deserialize_with = "whole_number::deserialize_option")]
    pub to_ms: Option<i64>,
    /// The last this many hours before `to_ms`, when `from_ms` is not given (1 to 744;
    /// default 24).
    #[serde(default, deserialize_with = "whole_number::deserialize_option")]
    #[schema(minimum = 1, maximum = 744)]
    pub hours: Option<u32>,
    /// At most this many events, the most recent of the range (1 to 100,000; default 20,000).
    #[serde(default, deserialize_with = "whole_number::deserialize_option")]
    #[schema(minimum = 1, maximum = 100000)]
    pub max_events: Option<u32>,
}

/// `POST /v1/policy/replay` answer: what the edited policy would have decided differently
/// from the live one on the logged events of the range. Both are replayed from empty
/// velocity counts over a copy of today's lists, so only the policy differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReplayResponse {
    /// The live version the edit was compared with.
    pub live_version: u64,
    /// The range replayed (ms since epoch, inclusive).
    pub from_ms: i64,
    /// The range replayed (exclusive end).
    pub to_ms: i64,
    /// Whether the range held more events than `max_events` (only the most recent were
    /// replayed).
    pub capped: bool,
    /// When the first replayed event happened.
    pub first_event_ms: Option<i64>,
    /// When the last replayed event happened.
    pub last_event_ms: Option<i64>,
    /// How long the replay took (ms).
    pub elapsed_ms: u64,
    /// Outcomes on each side, rules, and the decisions that change.
    pub summary: shopguard_core::replay::ReplaySummary,
}
