//! The security organisation's directory and the response playbooks:
//! `/v1/directory/members`, `/v1/directory/contacts`, `/v1/directory/escalation/{group}` and
//! `/v1/playbooks`.
//!
//! Contacts (email, phone, IM handle) are personal data: every view shows them masked, and
//! only `GET …/{id}/contacts?unmask=true` by a caller with `pii:unmask` shows them in the
//! clear (recorded in the audit log). A change names the `version` it was based on; when the
//! record changed meanwhile the answer is `409 conflict`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use shopguard_core::directory::{Contacts, ExternalContactType, GroupRole, ResponseGroup};
pub use shopguard_core::playbook::{LevelTask, Playbook, ResponseLevel, TaskTemplate};

/// A member of the security organisation (contacts masked unless unmasked).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DirectoryMember {
    /// Stable id.
    pub id: String,
    /// The name shown.
    pub display_name: String,
    /// Their operator account, if linked.
    pub operator: Option<String>,
    /// Their group.
    pub group: ResponseGroup,
    /// The group's name in Chinese.
    pub group_label_zh: String,
    /// The group's name in English.
    pub group_label_en: String,
    /// Their role in the group.
    pub role: GroupRole,
    /// Their backup's member id.
    pub backup: Option<String>,
    /// How to reach them, masked.
    pub contacts: Contacts,
    /// False once offboarded.
    pub active: bool,
    /// Send it with a change.
    pub version: i64,
    /// When created (ms since epoch).
    pub created_at_ms: i64,
    /// When last changed (ms since epoch).
    pub updated_at_ms: i64,
    /// Who changed it last.
    pub updated_by: String,
}

/// `GET /v1/directory/members` answer: every member, active or not, by group and role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DirectoryMemberList {
    /// The members.
    pub members: Vec<DirectoryMember>,
}

/// Body of `POST /v1/directory/members`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMemberRequest {
    /// The name shown, 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub display_name: String,
    /// The person's operator account (must exist; empty or absent: none).
    #[serde(default)]
    #[schema(max_length = 64)]
    pub operator: Option<String>,
    /// Their group.
    pub group: ResponseGroup,
    /// Their role (one active leader and one active deputy per group).
    pub role: GroupRole,
    /// Their backup: another active member's id (empty or absent: none).
    #[serde(default)]
    #[schema(max_length = 100)]
    pub backup: Option<String>,
    /// How to reach them.
    #[serde(default)]
    pub contacts: Contacts,
}

/// Body of `PATCH /v1/directory/members/{id}`: given fields change, others stay. For
/// `operator`, `backup` and each contact, an empty string removes the value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    /// The version the change is based on.
    pub version: i64,
    /// New name.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub display_name: Option<String>,
    /// New operator account ("" unlinks).
    #[serde(default)]
    #[schema(max_length = 64)]
    pub operator: Option<String>,
    /// New group.
    #[serde(default)]
    pub group: Option<ResponseGroup>,
    /// New role.
    #[serde(default)]
    pub role: Option<GroupRole>,
    /// New backup ("" removes).
    #[serde(default)]
    #[schema(max_length = 100)]
    pub backup: Option<String>,
    /// Contact changes: each given field replaces the stored one ("" removes it).
    #[serde(default)]
    pub contacts: Option<Contacts>,
    /// `false` offboards the member (kept for history); `true` brings them back.
    #[serde(default)]
    pub active: Option<bool>,
}

/// `GET …/{id}/contacts` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ContactsView {
    /// The contacts, masked unless `unmasked`.
    pub contacts: Contacts,
    /// Whether they are shown in the clear (the read was recorded in the audit log).
    pub unmasked: bool,
}

/// Query of `GET …/{id}/contacts`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ContactsQuery {
    /// Show the contacts in the clear (needs `pii:unmask`; recorded).
    pub unmask: Option<bool>,
}

/// An outside organisation's contact (contacts masked unless unmasked).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExternalContactView {
    /// Stable id.
    pub id: String,
    /// What kind of organisation (§5.1.4).
    pub kind: ExternalContactType,
    /// The kind's name in Chinese, as the standard writes it.
    pub kind_label_zh: String,
    /// The organisation.
    pub organisation: String,
    /// The person or desk.
    pub name: String,
    /// How to reach them, masked.
    pub contacts: Contacts,
    /// Notes.
    pub notes: String,
    /// False once no longer used.
    pub active: bool,
    /// Send it with a change.
    pub version: i64,
    /// When created (ms since epoch).
    pub created_at_ms: i64,
    /// When last changed (ms since epoch).
    pub updated_at_ms: i64,
    /// Who changed it last.
    pub updated_by: String,
}

/// `GET /v1/directory/contacts` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExternalContactList {
    /// The contacts, by type, organisation and name.
    pub contacts: Vec<ExternalContactView>,
}

/// Body of `POST /v1/directory/contacts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExternalContactRequest {
    /// What kind of organisation.
    pub kind: ExternalContactType,
    /// The organisation, 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub organisation: String,
    /// The person or desk, 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    /// How to reach them.
    #[serde(default)]
    pub contacts: Contacts,
    /// Notes, at most 2,000 characters.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub notes: String,
}

/// Body of `PATCH /v1/directory/contacts/{id}`: given fields change, others stay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateExternalContactRequest {
    /// The version the change is based on.
    pub version: i64,
    /// New kind.
    #[serde(default)]
    pub kind: Option<ExternalContactType>,
    /// New organisation.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub organisation: Option<String>,
    /// New person or desk.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    /// Contact changes ("" removes a value).
    #[serde(default)]
    pub contacts: Option<Contacts>,
    /// New notes.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
    /// `false` retires the contact (kept for history).
    #[serde(default)]
    pub active: Option<bool>,
}

/// `GET /v1/directory/escalation/{group}` answer: whom to escalate to, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EscalationChain {
    /// The group.
    pub group: ResponseGroup,
    /// Its leader, its deputy, then the leadership group's leader (active members only,
    /// each once), contacts masked.
    pub chain: Vec<EscalationStep>,
}

/// One person of an escalation chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EscalationStep {
    /// Member id.
    pub member_id: String,
    /// Their name.
    pub display_name: String,
    /// Their group.
    pub group: ResponseGroup,
    /// Their role.
    pub role: GroupRole,
    /// Their operator account, if linked.
    pub operator: Option<String>,
    /// How to reach them, masked.
    pub contacts: Contacts,
}

/// A version of the playbook.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlaybookVersionView {
    /// Its number.
    pub version: i64,
    /// Whether it is the active one.
    pub active: bool,
    /// Who wrote it.
    pub author: String,
    /// When (ms since epoch).
    pub created_at_ms: i64,
    /// Why.
    pub comment: String,
    /// The playbook.
    pub playbook: Playbook,
}

/// `GET /v1/playbooks` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlaybookVersionList {
    /// The active version's number.
    pub active_version: i64,
    /// Every version, newest first.
    pub versions: Vec<PlaybookVersionView>,
}

/// `GET /v1/playbooks/active` and `POST /v1/playbooks/{version}/activate` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ActivePlaybookView {
    /// The active version.
    #[serde(flatten)]
    pub version: PlaybookVersionView,
    /// When it was activated (ms since epoch).
    pub activated_at_ms: i64,
    /// Who activated it.
    pub activated_by: String,
}

/// Body of `POST /v1/playbooks`: a new version (not activated).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlaybookRequest {
    /// The playbook: task keys unique across levels, both titles given, due times 1 minute
    /// to 90 days, at most 50 tasks per level.
    pub playbook: Playbook,
    /// Why, at most 1,000 characters.
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub comment: String,
}

/// Body of `POST /v1/playbooks/{version}/activate`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivatePlaybookRequest {
    /// The version the caller saw active (compare and set).
    pub expected_active: i64,
}

/// Query of `GET /v1/playbooks/active/tasks`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PlaybookTasksQuery {
    /// The incident level: `I`, `II`, `III` or `IV`.
    pub level: ResponseLevel,
}

/// `GET /v1/playbooks/active/tasks` answer: the tasks an incident at `level` gets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlaybookTasks {
    /// The active playbook version they come from.
    pub version: i64,
    /// The level.
    pub level: ResponseLevel,
    /// Cumulative: level IV's first, then III's, ... up to `level`.
    pub tasks: Vec<LevelTask>,
}
