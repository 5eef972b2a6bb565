//! Operators (people): login sessions (`POST /v1/auth/login`, `POST /v1/auth/logout`,
//! `/v1/auth/sessions`) and temporary role grants (`/v1/grants`).

use serde::{Deserialize, Serialize};
use shopguard_core::whole_number;
use utoipa::{IntoParams, ToSchema};

pub use shopguard_core::rbac::Role;

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

/// A session: use `token` as `Authorization: Bearer <token>` until `expires_at_ms`, or
/// until it is idle for the node's `session_idle_minutes`, or ended (`POST /v1/auth/logout`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// The session token (shown once).
    pub token: String,
    /// The session's public id (as `GET /v1/auth/sessions` lists it).
    pub session_id: String,
    /// When it stops working.
    pub expires_at_ms: i64,
    /// The operator's standing roles.
    pub roles: Vec<Role>,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("session_id", &self.session_id)
            .field("expires_at_ms", &self.expires_at_ms)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/auth/logout` query.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogoutQuery {
    /// `true`: end every session of the caller, not only the calling one (answers `200`
    /// with how many ended).
    pub everywhere: Option<bool>,
}

/// `POST /v1/auth/logout?everywhere=true` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LogoutEverywhere {
    /// How many sessions were ended, the calling one included.
    pub ended: u64,
}

/// One of the caller's sessions that may still be used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    /// Its public id (`DELETE /v1/auth/sessions/{session_id}` ends it).
    pub session_id: String,
    /// When it began (the login).
    pub created_at_ms: i64,
    /// When it ends at the latest.
    pub expires_at_ms: i64,
    /// When activity on it was last recorded (recorded at most once a minute).
    pub last_seen_at_ms: i64,
    /// The caller's address at login, when known.
    pub client: Option<String>,
    /// Whether this is the session the request came with.
    pub current: bool,
}

/// `GET /v1/auth/sessions` answer: the caller's sessions still in use, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionList {
    /// The sessions.
    pub sessions: Vec<Session>,
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
    #[serde(deserialize_with = "whole_number::deserialize")]
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
