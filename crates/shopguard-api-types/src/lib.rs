//! shopguard's HTTP API contract: what clients send and receive, and the error codes.
//!
//! Every error response has the same shape, [`ApiError`]: a lowercase `message` for people,
//! a stable `code` for programs, its `type` (the class of error) and a `link` to the docs.
//! The table of codes is [`ErrorCode`]; each maps to one HTTP status.
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use shopguard_core::audit::{AuditContent, AuditEntry, Checkpoint, RecordClass};
pub use shopguard_core::decision::{
    ActionTaken, AlertSeverity, ChallengeKind, Decision, MatchedRule, Outcome, RuleError,
};
pub use shopguard_core::event::{Channel, EventInput, EventKind};
pub use shopguard_core::lists::ListKind;
pub use shopguard_core::rbac::Role;

/// Class of an error, for clients that branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// The request is wrong; fix it before retrying.
    InvalidRequest,
    /// Missing, unknown or insufficient credentials.
    Auth,
    /// Too many requests; retry later.
    RateLimited,
    /// shopguard failed; retry later, and tell its operators.
    Internal,
}

/// Every error code, with its HTTP status and type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not valid JSON, or a field has the wrong type or is unknown.
    MalformedBody,
    /// An event failed validation (required field missing, bad value).
    InvalidEvent,
    /// A query parameter or other input is invalid.
    InvalidParameter,
    /// The body is larger than allowed.
    PayloadTooLarge,
    /// A batch has more events than allowed.
    BatchTooLarge,
    /// The policy does not compile, or its fixture tests fail.
    InvalidPolicy,
    /// A list value does not fit the list's kind.
    InvalidListValue,
    /// No API key was given, or it is malformed, unknown or revoked.
    MissingOrInvalidApiKey,
    /// The API key lacks the scope this route needs.
    InsufficientScope,
    /// Rate limit exceeded for this API key.
    RateLimited,
    /// The thing named does not exist.
    NotFound,
    /// It conflicts with what exists.
    Conflict,
    /// No challenge is waiting under that decision id.
    ChallengeNotPending,
    /// Something failed inside shopguard.
    Internal,
}

impl ErrorCode {
    /// The HTTP status for this code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::MalformedBody
            | ErrorCode::InvalidEvent
            | ErrorCode::InvalidParameter
            | ErrorCode::BatchTooLarge
            | ErrorCode::InvalidListValue => 400,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::InvalidPolicy => 422,
            ErrorCode::MissingOrInvalidApiKey => 401,
            ErrorCode::InsufficientScope => 403,
            ErrorCode::RateLimited => 429,
            ErrorCode::NotFound | ErrorCode::ChallengeNotPending => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::Internal => 500,
        }
    }

    /// The class of the error.
    pub fn error_type(self) -> ErrorType {
        match self {
            ErrorCode::MissingOrInvalidApiKey | ErrorCode::InsufficientScope => ErrorType::Auth,
            ErrorCode::RateLimited => ErrorType::RateLimited,
            ErrorCode::Internal => ErrorType::Internal,
            _ => ErrorType::InvalidRequest,
        }
    }

    /// The snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedBody => "malformed_body",
            ErrorCode::InvalidEvent => "invalid_event",
            ErrorCode::InvalidParameter => "invalid_parameter",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::BatchTooLarge => "batch_too_large",
            ErrorCode::InvalidPolicy => "invalid_policy",
            ErrorCode::InvalidListValue => "invalid_list_value",
            ErrorCode::MissingOrInvalidApiKey => "missing_or_invalid_api_key",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::ChallengeNotPending => "challenge_not_pending",
            ErrorCode::Internal => "internal",
        }
    }
}

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    /// What went wrong, for people; names the field at fault where there is one.
    pub message: String,
    /// Stable code, for programs.
    pub code: ErrorCode,
    /// Class of error.
    #[serde(rename = "type")]
    pub error_type: ErrorType,
    /// Where the code is documented.
    pub link: String,
    /// The field at fault, as a path (`events[3].amount`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            message: message.into(),
            code,
            error_type: code.error_type(),
            link: format!("https://shopguard.invalid/docs/errors#{}", code.as_str()),
            field: None,
        }
    }

    /// The same error, naming a field.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

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

/// Filters of `GET /v1/decisions`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
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
    /// At most this many (1 to 1000; 100 by default).
    pub limit: Option<u32>,
    /// Show personal data unmasked (needs the `pii:unmask` scope; audited).
    pub unmask: Option<bool>,
}

/// Whether to show personal data unmasked (needs the `pii:unmask` scope; audited).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
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
}

/// Time range of `GET /v1/alerts`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// From this time, inclusive (ms since epoch).
    pub from_ms: Option<i64>,
    /// Until this time, exclusive.
    pub to_ms: Option<i64>,
    /// At most this many (1 to 1000; 100 by default).
    pub limit: Option<u32>,
}

/// An alert raised by a rule.
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
}

/// `GET /v1/alerts` answer, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertList {
    /// The alerts.
    pub alerts: Vec<Alert>,
}

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
    pub version: u64,
}

/// A list and its size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListInfo {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: ListKind,
    /// Description.
    pub description: String,
    /// Entries held in memory (expired ones not yet purged included).
    pub entries: usize,
}

/// `GET /v1/lists` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListIndex {
    /// The lists.
    pub lists: Vec<ListInfo>,
}

/// `POST /v1/lists` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateListRequest {
    /// Name: 1 to 64 of a-z, 0-9, `_`, `-`.
    pub name: String,
    /// Kind.
    pub kind: ListKind,
    /// Description.
    #[serde(default)]
    pub description: String,
}

/// A list entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListEntry {
    /// Normalised value.
    pub value: String,
    /// Expiry (ms since epoch), if any.
    pub expires_at_ms: Option<i64>,
    /// Who added it.
    pub added_by: String,
    /// Why.
    pub reason: String,
    /// When.
    pub created_at_ms: i64,
}

/// Paging of `GET /v1/lists/{name}/entries`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListEntriesQuery {
    /// Entries after this value (the previous page's `next_after`).
    pub after: Option<String>,
    /// At most this many (1 to 1000; 100 by default).
    pub limit: Option<u32>,
    /// Show email and phone entries unmasked (needs the `pii:unmask` scope; audited).
    pub unmask: Option<bool>,
}

/// A page of list entries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListEntryPage {
    /// The entries, by value.
    pub entries: Vec<ListEntry>,
    /// Pass as `after` for the next page; absent on the last.
    pub next_after: Option<String>,
}

/// `POST /v1/lists/{name}/entries` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddListEntryRequest {
    /// The value (IP or CIDR, email, domain, ...).
    pub value: String,
    /// Lifetime in seconds; forever when absent.
    pub ttl_seconds: Option<u64>,
    /// Why it is listed.
    pub reason: String,
}

/// `DELETE /v1/lists/{name}/entries` query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RemoveListEntryQuery {
    /// The value to remove.
    pub value: String,
}

/// `POST /v1/lists/{name}/import` query; the body is text, one value per line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// Lifetime of every entry, in seconds; forever when absent.
    pub ttl_seconds: Option<u64>,
    /// Why they are listed.
    pub reason: Option<String>,
}

/// A line that could not be imported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportProblem {
    /// 1-based line number.
    pub line: usize,
    /// Why.
    pub message: String,
}

/// Result of a bulk import.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    /// Entries added or refreshed.
    pub added: usize,
    /// Lines refused.
    pub invalid_count: usize,
    /// The first 100 refused lines.
    pub invalid: Vec<ImportProblem>,
}

/// `GET /healthz` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// Live policy version.
    pub policy_version: u64,
    /// Decisions waiting to be written.
    pub decisions_queued: u64,
}

/// Filters of `GET /v1/audit/entries`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditEntriesQuery {
    /// Only this actor (`key:<id>`, an operator, `system`).
    pub actor: Option<String>,
    /// Only this action, or actions under a prefix ending in `.` (`list.`).
    pub action: Option<String>,
    /// Only this object (`policy:3`, `list:ip_block`).
    pub object: Option<String>,
    /// Only this record class.
    pub class: Option<RecordClass>,
    /// From this time, inclusive (ms since epoch).
    pub from_ms: Option<i64>,
    /// Until this time, exclusive.
    pub to_ms: Option<i64>,
    /// Only entries before this sequence number (the next page).
    pub before_seq: Option<u64>,
    /// At most this many (1 to 1000; 100 by default).
    pub limit: Option<u32>,
}

/// `GET /v1/audit/entries` answer, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntryList {
    /// The entries.
    pub entries: Vec<AuditEntry>,
    /// Entries in the log now.
    pub tree_size: u64,
}

/// Parameters of `GET /v1/audit/entries/{seq}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// The tree the proof is for (a checkpoint's size); the whole log by default.
    pub tree_size: Option<u64>,
}

/// An entry with the proof that it is in the tree of `tree_size` entries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InclusionProof {
    /// The entry.
    pub entry: AuditEntry,
    /// Hash of the entry's leaf, hex.
    pub leaf_hash: String,
    /// Size of the tree.
    pub tree_size: u64,
    /// Root of that tree, hex.
    pub root: String,
    /// The audit path, leaf side first, hex (RFC 6962 §2.1.1).
    pub proof: Vec<String>,
}

/// Parameters of `GET /v1/audit/consistency`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// Size of the older tree (the checkpoint the auditor holds).
    pub from: u64,
    /// Size of the newer tree; the whole log by default.
    pub to: Option<u64>,
}

/// The proof that one tree is a prefix of another (RFC 6962 §2.1.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProof {
    /// Size of the older tree.
    pub from: u64,
    /// Size of the newer tree.
    pub to: u64,
    /// Root of the older tree, hex.
    pub from_root: String,
    /// Root of the newer tree, hex.
    pub to_root: String,
    /// The proof, hex.
    pub proof: Vec<String>,
}

/// `GET /v1/audit/checkpoints` answer, oldest first, with the key that signs them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckpointList {
    /// The checkpoints.
    pub checkpoints: Vec<Checkpoint>,
    /// The Ed25519 public key, hex.
    pub public_key: String,
    /// Its id, as checkpoints name it.
    pub key_id: String,
}

/// How long one record class is kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RetentionRule {
    /// The record class.
    pub class: RecordClass,
    /// Days its content is kept; absent when kept long-term.
    pub days: Option<u32>,
    /// Why.
    pub basis: String,
}

/// `GET /v1/audit/retention` answer: what is kept and for how long.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RetentionReport {
    /// Audit log content, per record class. Purging deletes an entry's content and keeps
    /// its commitment, so the tree still verifies.
    pub audit: Vec<RetentionRule>,
    /// Days decisions and alerts are kept.
    pub decision_days: u32,
    /// Entries in the audit log.
    pub audit_entries: u64,
}

/// `POST /v1/data-keys/rotate` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DataKeyRotation {
    /// The data key that now encrypts personal fields.
    pub active_key: u32,
}

/// `POST /v1/data-keys/reencrypt` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReencryptReport {
    /// Logged decisions whose personal fields were re-encrypted.
    pub records_changed: u64,
    /// How long it took.
    pub seconds: f64,
}

/// `POST /v1/auth/login`: an operator's password and current TOTP code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The operator's name.
    pub username: String,
    /// The password.
    pub password: String,
    /// The 6-digit code from the authenticator app.
    pub totp_code: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A session: use `token` as `Authorization: Bearer <token>` until `expires_at_ms`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// The session token (shown once).
    pub token: String,
    /// When it stops working.
    pub expires_at_ms: i64,
    /// The operator's standing roles.
    pub roles: Vec<Role>,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("expires_at_ms", &self.expires_at_ms)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/grants`: ask for a role for a while, with a reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    /// The role wanted.
    pub role: Role,
    /// Why (an incident number, a ticket).
    pub reason: String,
    /// For how long once approved, in seconds (at most 7 days).
    pub duration_seconds: u64,
}

/// A temporary grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Grant {
    /// Its id.
    pub id: i64,
    /// Who holds (or would hold) the role.
    pub username: String,
    /// The role.
    pub role: Role,
    /// Why.
    pub reason: String,
    /// When it was asked for.
    pub requested_at_ms: i64,
    /// For how long, once approved, in ms.
    pub duration_ms: i64,
    /// Who approved it.
    pub approved_by: Option<String>,
    /// When it ends, once approved.
    pub expires_at_ms: Option<i64>,
    /// Whether it is in force now.
    pub active: bool,
}

/// `GET /v1/grants` answer, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GrantList {
    /// The grants.
    pub grants: Vec<Grant>,
}

/// What a task does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Re-encrypt logged decisions' personal fields with the active data key.
    Reencrypt,
    /// Import a large list text.
    ListImport,
}

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker is running it.
    Running,
    /// Done; see `result`.
    Succeeded,
    /// Stopped by an error; see `error`.
    Failed,
    /// Stopped at a caller's request; `result` says what was done until then.
    Cancelled,
}

/// A task: long work answered at once with `202` and polled at `GET /v1/tasks/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Task {
    /// Its id.
    pub id: String,
    /// What it does.
    pub kind: TaskKind,
    /// Where it is.
    pub status: TaskStatus,
    /// Units done (decision segments for `reencrypt`, lines for `list_import`).
    pub done: u64,
    /// Units to do, once known.
    pub total: u64,
    /// When it was submitted.
    pub created_at_ms: i64,
    /// When a worker last started it.
    pub started_at_ms: Option<i64>,
    /// When it ended.
    pub finished_at_ms: Option<i64>,
    /// Who submitted it.
    pub requested_by: String,
    /// Its parameters.
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
    /// Its result once ended (for `list_import`, the shape of an import report); while it
    /// runs, what it has done so far.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// Whether its cancellation was asked for.
    pub cancel_requested: bool,
}

/// `GET /v1/tasks` answer, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskList {
    /// The tasks.
    pub tasks: Vec<Task>,
}

/// `GET /v1/tasks` query.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    /// At most this many (1 to 1,000; 100 when absent).
    pub limit: Option<u32>,
}
