//! Operators (the people using the console and the API), their sessions and temporary
//! grants, as stored.

use serde::{Deserialize, Serialize};
use shopguard_core::rbac::Role;

use crate::audit_log::NewAuditEntry;
use crate::StoreResult;

/// An operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorRecord {
    /// Login name, unique.
    pub username: String,
    /// Argon2id hash of the password, PHC form.
    pub password_hash: String,
    /// The TOTP secret (sealed with a data key at rest; clear here).
    #[serde(skip_serializing)]
    pub totp_secret: Vec<u8>,
    /// Standing roles.
    pub roles: Vec<Role>,
    /// When the operator was created.
    pub created_at_ms: i64,
    /// When the operator was disabled, if they were.
    pub disabled_at_ms: Option<i64>,
}

/// A login session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// Public id, part of the token.
    pub session_id: String,
    /// SHA-256 of the token's secret.
    pub secret_sha256: Vec<u8>,
    /// Whose session.
    pub username: String,
    /// When it began.
    pub created_at_ms: i64,
    /// When it ends at the latest.
    pub expires_at_ms: i64,
    /// When activity on it was last recorded (at most about a minute behind the last
    /// request: activity is recorded once a minute); `created_at_ms` at first.
    pub last_seen_at_ms: i64,
    /// When it was ended (logout, logout everywhere, ended by its operator or an
    /// administrator); `None` while it may still be used.
    pub ended_at_ms: Option<i64>,
    /// The caller's address at login, when known.
    pub client: Option<String>,
}

/// Most sessions [`OperatorStore::sessions_of`] returns.
pub const SESSIONS_LISTED: usize = 100;

/// A temporary grant of a role: requested with a reason, approved by someone else, expiring
/// on its own (DB33/T 978-2015 §8.3.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// Its id (0 before it is stored).
    pub id: i64,
    /// Who would hold the role.
    pub username: String,
    /// The role.
    pub role: Role,
    /// Why.
    pub reason: String,
    /// Who asked.
    pub requested_by: String,
    /// When.
    pub requested_at_ms: i64,
    /// For how long, once approved.
    pub duration_ms: i64,
    /// Who approved, once approved.
    pub approved_by: Option<String>,
    /// When it was approved.
    pub approved_at_ms: Option<i64>,
    /// When it ends, once approved.
    pub expires_at_ms: Option<i64>,
}

impl GrantRecord {
    /// Whether the grant is approved and not yet expired at `now_ms`.
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.approved_by.is_some() && self.expires_at_ms.is_some_and(|end| end > now_ms)
    }
}

/// Operators, their sessions and grants.
pub trait OperatorStore: Send + Sync {
    /// Stores a new operator; `Conflict` when the name is taken.
    fn insert_operator(&self, operator: &OperatorRecord, audit: &NewAuditEntry) -> StoreResult<()>;
    /// One operator.
    fn operator(&self, username: &str) -> StoreResult<Option<OperatorRecord>>;
    /// Every operator.
    fn operators(&self) -> StoreResult<Vec<OperatorRecord>>;
    /// Disables an operator: their sessions stop working at once; false (and nothing
    /// recorded) when there was no such active operator.
    fn disable_operator(
        &self,
        username: &str,
        at_ms: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool>;
    /// Stores a session (a login whose TOTP code was of time step `totp_step`), recording
    /// `audit` with it, if `totp_step` is later than the last step the operator logged in
    /// with; that step becomes the last. False, and nothing stored or recorded, when it is
    /// not: the code was used already (a replay within its window). The check and the
    /// update are one atomic step, so two nodes cannot both accept one code.
    fn insert_session(
        &self,
        session: &SessionRecord,
        totp_step: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool>;
    /// The last TOTP time step the operator logged in with; `None` before their first login
    /// (or when there is no such operator).
    fn last_totp_step(&self, username: &str) -> StoreResult<Option<i64>>;
    /// One session.
    fn session(&self, session_id: &str) -> StoreResult<Option<SessionRecord>>;
    /// Records activity on a session: its `last_seen_at_ms` becomes `now_ms` (never earlier
    /// than it was). Activity is not a change anyone audits: nothing is recorded.
    fn touch_session(&self, session_id: &str, now_ms: i64) -> StoreResult<()>;
    /// Ends a session at `now_ms`, recording `audit` with it; false (and nothing recorded)
    /// when there is no such session or it had ended already.
    fn end_session(
        &self,
        session_id: &str,
        now_ms: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool>;
    /// Ends every session of `username` not ended yet, recording `audit` with them; returns
    /// how many it ended (none: nothing recorded).
    fn end_sessions_of(
        &self,
        username: &str,
        now_ms: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<u64>;
    /// The sessions of `username`, ended and expired ones included, newest first, at most
    /// [`SESSIONS_LISTED`].
    fn sessions_of(&self, username: &str) -> StoreResult<Vec<SessionRecord>>;
    /// Stores a grant request; returns its id. `audit` makes the entry for that id.
    fn insert_grant(
        &self,
        grant: &GrantRecord,
        audit: &dyn Fn(i64) -> NewAuditEntry,
    ) -> StoreResult<i64>;
    /// One grant.
    fn grant(&self, id: i64) -> StoreResult<Option<GrantRecord>>;
    /// Approves a pending grant; false (and nothing recorded) when it was not pending.
    fn approve_grant(
        &self,
        id: i64,
        approver: &str,
        at_ms: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool>;
    /// Grants, newest first, of one operator or of all.
    fn grants(&self, username: Option<&str>) -> StoreResult<Vec<GrantRecord>>;
}
