//! Operators (people): creation under the password and separation-of-duty rules, login with
//! password and TOTP, sessions, temporary grants approved by another person, offboarding.
//!
//! A TOTP code is accepted once: the login stores the code's time step with the session, and
//! a later login must bring a later step (a code seen over a shoulder or replayed from a
//! proxy log within its window is refused). Logins are limited per name, per client address
//! and across the node ([`crate::login_limits`], decision 0035).
//!
//! Sessions are cached for [`SESSION_CACHE_TTL`] after they were read, with the operator's
//! scopes: a request then costs no store read. Disabling an operator (or approving a grant
//! to them) on this node drops their cached sessions at once; another node sees it within
//! the TTL, as with API keys (decision 0035).
//!
//! Sessions end before they expire (decision 0036): the operator logs out (one session or
//! all of theirs), ends one of their own sessions, or an administrator ends anyone's. An
//! ended session is dropped from this node's cache at once; other nodes refuse it within
//! the TTL. A session idle for `session_idle_minutes` is refused too. Activity is written
//! to storage at most once a minute per session ([`TOUCH_INTERVAL_MS`]), so the idle limit
//! may strike up to a minute early, never late.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::sync::ShardedLock;

use shopguard_core::audit::RecordClass;
use shopguard_core::credentials;
use shopguard_core::rbac::{self, Role, Scope};
use shopguard_storage::operators::{GrantRecord, OperatorRecord, SessionRecord};
use shopguard_storage::Store;

use crate::actor::{Actor, Principal};
use crate::audit::AuditService;
use crate::clock::Clock;
use crate::error::{ServiceError, ServiceResult};
use crate::login_limits::{LoginLimits, LoginThrottle};

/// Longest temporary grant: seven days.
pub const MAX_GRANT_SECONDS: u64 = 7 * 86_400;

/// How long a session read from storage answers requests without another read: a disable
/// made on another node takes effect here within it.
pub const SESSION_CACHE_TTL: Duration = Duration::from_secs(1);
/// Activity on a session is written to storage at most this often (a minute): requests in
/// between do not write.
pub const TOUCH_INTERVAL_MS: i64 = 60_000;
/// Sessions held in the cache before it is cleared.
const SESSION_CACHE_LIMIT: usize = 10_000;

/// A session as the cache holds it: what its token must hash to, and whom it stands for.
struct CachedSession {
    secret_sha256: Vec<u8>,
    username: String,
    /// When the answer stops being valid: the session's end, its idle deadline, or the
    /// first grant's end (the TTL is counted by `fetched`).
    valid_until_ms: i64,
    /// When it was read from storage, by the service's clock.
    fetched_ms: i64,
    principal: Arc<Principal>,
}

/// A new operator's enrolment: the TOTP secret, shown once.
#[derive(Debug)]
pub struct Enrolment {
    /// The secret in base32, for typing into an authenticator app.
    pub totp_base32: String,
    /// The `otpauth://` URI, for a QR code.
    pub totp_uri: String,
}

/// A session opened by a login.
#[derive(Debug)]
pub struct Login {
    /// The session token (`sgs_…`), shown once.
    pub token: String,
    /// The session's public id (part of the token; safe to show and log).
    pub session_id: String,
    /// When it ends.
    pub expires_at_ms: i64,
    /// The operator's standing roles.
    pub roles: Vec<Role>,
}

/// The operator service.
pub struct OperatorService {
    store: Arc<dyn Store>,
    audit: Arc<AuditService>,
    session_ms: i64,
    /// Idle limit in ms; 0: none.
    idle_ms: i64,
    clock: Clock,
    throttle: LoginThrottle,
    sessions: ShardedLock<HashMap<String, CachedSession>>,
}

impl std::fmt::Debug for OperatorService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorService").finish_non_exhaustive()
    }
}

/// Whether a username is well formed: 1 to 64 letters, digits, `.`, `_` or `-`.
pub fn username_is_valid(username: &str) -> bool {
    !username.is_empty()
        && username.len() <= 64
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl OperatorService {
    /// A service whose sessions last `session_hours`, with these login limits.
    pub fn new(
        store: Arc<dyn Store>,
        audit: Arc<AuditService>,
        session_hours: u32,
        limits: LoginLimits,
    ) -> Self {
        OperatorService {
            store,
            audit,
            session_ms: i64::from(session_hours) * 3_600_000,
            idle_ms: 0,
            clock: Clock::system(),
            throttle: LoginThrottle::new(limits),
            sessions: ShardedLock::new(HashMap::new()),
        }
    }

    /// Refuses sessions idle for `idle_minutes` or longer; 0 sets no idle limit.
    pub fn with_idle_minutes(mut self, idle_minutes: u32) -> Self {
        self.idle_ms = i64::from(idle_minutes) * 60_000;
        self
    }

    /// Reads the time from `clock` (tests move a manual clock instead of waiting).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The time now, by the service's clock.
    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Creates an operator with a strong password and a new TOTP secret.
    pub fn create(
        &self,
        username: &str,
        password: &str,
        roles: Vec<Role>,
        actor: &Actor,
    ) -> ServiceResult<Enrolment> {
        if !username_is_valid(username) {
            return Err(ServiceError::invalid(
                "username",
                "username: 1 to 64 letters, digits, '.', '_' or '-'",
            ));
        }
        rbac::check_separation(&roles).map_err(|why| ServiceError::invalid("roles", why))?;
        credentials::check_password_strength(password, &[username])
            .map_err(|error| ServiceError::invalid("password", error.to_string()))?;
        let totp_secret = credentials::new_totp_secret();
        let (totp_base32, totp_uri) = credentials::totp_enrolment(&totp_secret, username)
            .ok_or_else(|| ServiceError::Internal("making the TOTP secret failed".into()))?;
        let password_hash = credentials::hash_password(password)
            .map_err(|error| ServiceError::Internal(format!("hashing the password: {error}")))?;
        let role_names: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
        let entry = self.audit.entry(
            RecordClass::AccessControl,
            actor,
            "operator.create",
            format!("operator:{username}"),
            serde_json::json!({ "roles": role_names }),
        );
        self.store.insert_operator(
            &OperatorRecord {
                username: username.to_owned(),
                password_hash,
                totp_secret,
                roles,
                created_at_ms: self.now_ms(),
                disabled_at_ms: None,
            },
            &entry,
        )?;
        self.audit.settle()?;
        Ok(Enrolment {
            totp_base32,
            totp_uri,
        })
    }

    /// Every operator.
    pub fn list(&self) -> ServiceResult<Vec<OperatorRecord>> {
        Ok(self.store.operators()?)
    }

    /// Logs an operator in with password and TOTP code, from `client` (the caller's address,
    /// when known). Refused without a look at the credentials when a login limit is reached
    /// ([`ServiceError::LoginThrottled`]). Every attempt past the limits is audited; failures
    /// all look alike and cost the same whether the name exists or not. A code whose time
    /// step is not later than that of the operator's last login is refused (a replay).
    pub fn login(
        &self,
        username: &str,
        password: &str,
        totp_code: &str,
        client: Option<IpAddr>,
    ) -> ServiceResult<Login> {
        let now = self.now_ms();
        self.throttle
            .admit(username, client, now)
            .map_err(ServiceError::LoginThrottled)?;
        let result = self.check_login(username, password, totp_code, client, now);
        if matches!(result, Err(ServiceError::Unauthenticated)) {
            self.throttle.failed(client, now);
        }
        result
    }

    fn check_login(
        &self,
        username: &str,
        password: &str,
        totp_code: &str,
        client: Option<IpAddr>,
        now: i64,
    ) -> ServiceResult<Login> {
        if username.len() > 128 || password.len() > 1_024 || totp_code.len() > 16 {
            return Err(ServiceError::Unauthenticated);
        }
        let operator = self.store.operator(username)?;
        let hash = operator
            .as_ref()
            .map_or(credentials::DUMMY_PASSWORD_HASH, |operator| {
                operator.password_hash.as_str()
            });
        let password_ok = credentials::verify_password(hash, password);
        let actor = Actor::Operator {
            username: username.to_owned(),
        };
        let failed = |why: &str| -> ServiceResult<Login> {
            self.audit.record(self.audit.entry(
                RecordClass::Login,
                &actor,
                "operator.login_failed",
                format!("operator:{username}"),
                if why.is_empty() {
                    serde_json::Value::Null
                } else {
                    serde_json::json!({ "reason": why })
                },
            ))?;
            Err(ServiceError::Unauthenticated)
        };
        let accepted = operator
            .filter(|operator| operator.disabled_at_ms.is_none())
            .and_then(|operator| {
                let step = credentials::totp_step_of(
                    &operator.totp_secret,
                    totp_code,
                    (now / 1_000) as u64,
                );
                step.filter(|_| password_ok).map(|step| (operator, step))
            });
        let Some((operator, totp_step)) = accepted else {
            return failed("");
        };
        let (token, session_id, secret_sha256) = credentials::new_session_token();
        let entry = self.audit.entry(
            RecordClass::Login,
            &actor,
            "operator.login",
            format!("operator:{username}"),
            serde_json::json!({ "session": session_id }),
        );
        let expires_at_ms = now + self.session_ms;
        let stored = self.store.insert_session(
            &SessionRecord {
                session_id: session_id.clone(),
                secret_sha256,
                username: operator.username.clone(),
                created_at_ms: now,
                expires_at_ms,
                last_seen_at_ms: now,
                ended_at_ms: None,
                client: client.map(|address| address.to_string()),
            },
            i64::try_from(totp_step).unwrap_or(i64::MAX),
            &entry,
        )?;
        if !stored {
            return failed("code already used");
        }
        self.audit.settle()?;
        Ok(Login {
            token,
            session_id,
            expires_at_ms,
            roles: operator.roles,
        })
    }

    /// The principal of a session token's parts from the cache, when a fresh entry answers;
    /// `None` when storage must be asked ([`Self::session_principal`]). Cheap enough for an
    /// async thread: a hash of the secret and a map lookup.
    pub fn cached_principal(&self, session_id: &str, secret: &str) -> Option<Arc<Principal>> {
        let now = self.now_ms();
        let sessions = self
            .sessions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cached = sessions.get(session_id)?;
        let age_ms = now - cached.fetched_ms;
        ((0..SESSION_CACHE_TTL.as_millis() as i64).contains(&age_ms)
            && cached.valid_until_ms > now
            && credentials::session_secret_matches(&cached.secret_sha256, secret))
        .then(|| cached.principal.clone())
    }

    /// The operator behind a session token's parts, with their scopes now; `None` when the
    /// session is unknown, expired, ended, idle past the limit, or its operator disabled.
    /// Answered from the cache while fresh ([`SESSION_CACHE_TTL`]); otherwise read from
    /// storage (session, operator, grants) and cached, recording activity on the session
    /// when the last was recorded [`TOUCH_INTERVAL_MS`] ago or more.
    pub fn session_principal(
        &self,
        session_id: &str,
        secret: &str,
    ) -> ServiceResult<Option<Arc<Principal>>> {
        if let Some(principal) = self.cached_principal(session_id, secret) {
            return Ok(Some(principal));
        }
        let now = self.now_ms();
        let Some(session) = self.store.session(session_id)? else {
            return Ok(None);
        };
        let Some(operator) = self.store.operator(&session.username)? else {
            return Ok(None);
        };
        if !credentials::session_secret_matches(&session.secret_sha256, secret)
            || !self.is_live(&session, now)
            || operator.disabled_at_ms.is_some()
        {
            return Ok(None);
        }
        let mut last_seen_at_ms = session.last_seen_at_ms;
        if now - last_seen_at_ms >= TOUCH_INTERVAL_MS {
            self.store.touch_session(&session.session_id, now)?;
            last_seen_at_ms = now;
        }
        let mut roles = operator.roles.clone();
        let mut valid_until_ms = session.expires_at_ms;
        if self.idle_ms > 0 {
            valid_until_ms = valid_until_ms.min(last_seen_at_ms.saturating_add(self.idle_ms));
        }
        for grant in self.store.grants(Some(&session.username))? {
            if grant.is_active(now) {
                roles.push(grant.role);
                valid_until_ms = valid_until_ms.min(grant.expires_at_ms.unwrap_or(i64::MAX));
            }
        }
        let principal = Arc::new(
            Principal::new(
                Actor::Operator {
                    username: operator.username.clone(),
                },
                rbac::scopes_of(&roles),
            )
            .with_session(session.session_id.clone()),
        );
        let mut sessions = self
            .sessions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if sessions.len() >= SESSION_CACHE_LIMIT {
            sessions.clear();
        }
        sessions.insert(
            session.session_id,
            CachedSession {
                secret_sha256: session.secret_sha256,
                username: operator.username,
                valid_until_ms,
                fetched_ms: now,
                principal: principal.clone(),
            },
        );
        Ok(Some(principal))
    }

    /// Whether a session may still be used at `now`: not ended, not expired, not idle for
    /// the idle limit or longer.
    fn is_live(&self, session: &SessionRecord, now: i64) -> bool {
        session.ended_at_ms.is_none()
            && session.expires_at_ms > now
            && (self.idle_ms == 0 || now - session.last_seen_at_ms < self.idle_ms)
    }

    /// The operator and session of a caller who came with a session token; API keys (and
    /// the command line) have no session and are refused.
    fn session_caller(caller: &Principal) -> ServiceResult<(&str, &str)> {
        match (caller.actor.operator(), caller.session_id.as_deref()) {
            (Some(username), Some(session_id)) => Ok((username, session_id)),
            _ => Err(ServiceError::forbidden(
                "sessions belong to operators: call this with a session token ('Bearer sgs_...') from POST /v1/auth/login, not an API key",
            )),
        }
    }

    /// Drops one cached session: its next request reads storage again.
    fn forget_session(&self, session_id: &str) {
        self.sessions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(session_id);
    }

    /// Ends the session the caller came with (logout). Its token is refused at once on this
    /// node and within [`SESSION_CACHE_TTL`] on others. Ending a session that ended
    /// meanwhile (a second logout racing the first) does nothing and succeeds.
    pub fn logout(&self, caller: &Principal) -> ServiceResult<()> {
        let (username, session_id) = Self::session_caller(caller)?;
        let entry = self.audit.entry(
            RecordClass::Login,
            &caller.actor,
            "operator.logout",
            format!("operator:{username}"),
            serde_json::json!({ "session": session_id }),
        );
        self.store.end_session(session_id, self.now_ms(), &entry)?;
        self.forget_session(session_id);
        self.audit.settle()
    }

    /// Ends every session of the caller, the one they came with included; returns how many
    /// were ended.
    pub fn logout_everywhere(&self, caller: &Principal) -> ServiceResult<u64> {
        let (username, session_id) = Self::session_caller(caller)?;
        let entry = self.audit.entry(
            RecordClass::Login,
            &caller.actor,
            "operator.logout_everywhere",
            format!("operator:{username}"),
            serde_json::json!({ "session": session_id }),
        );
        let ended = self
            .store
            .end_sessions_of(username, self.now_ms(), &entry)?;
        self.forget_sessions_of(username);
        self.audit.settle()?;
        Ok(ended)
    }

    /// The caller's sessions that may still be used (not ended, expired or idle past the
    /// limit), newest first; at most the newest [`shopguard_storage::operators::SESSIONS_LISTED`]
    /// sessions are looked at.
    pub fn sessions(&self, caller: &Principal) -> ServiceResult<Vec<SessionRecord>> {
        let (username, _) = Self::session_caller(caller)?;
        let now = self.now_ms();
        let mut sessions = self.store.sessions_of(username)?;
        sessions.retain(|session| self.is_live(session, now));
        Ok(sessions)
    }

    /// Ends session `session_id`: one of the caller's own, or anyone's for an
    /// administrator. `NotFound` when there is no such session or it ended already;
    /// `Forbidden` for another operator's session when the caller is not an administrator.
    pub fn end_session(&self, session_id: &str, caller: &Principal) -> ServiceResult<()> {
        let (username, _) = Self::session_caller(caller)?;
        let not_found = || ServiceError::NotFound(format!("no session '{session_id}' in use"));
        // Ids are 16 hex digits: anything else is no session, without a store read.
        if session_id.len() > 64 || !session_id.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
            return Err(not_found());
        }
        let session = self.store.session(session_id)?.ok_or_else(not_found)?;
        if session.username != username && !caller.grants(Scope::Admin) {
            return Err(ServiceError::forbidden(
                "only your own sessions, unless you are an administrator",
            ));
        }
        let entry = self.audit.entry(
            RecordClass::Login,
            &caller.actor,
            "operator.session_end",
            format!("operator:{}", session.username),
            serde_json::json!({ "session": session_id }),
        );
        if !self.store.end_session(session_id, self.now_ms(), &entry)? {
            return Err(not_found());
        }
        self.forget_session(session_id);
        self.audit.settle()
    }

    /// Drops the cached sessions of `username`: their next request reads storage again.
    fn forget_sessions_of(&self, username: &str) {
        self.sessions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, cached| cached.username != username);
    }

    /// Disables an operator: their sessions stop at once. Nobody disables themselves.
    pub fn disable(&self, username: &str, actor: &Actor) -> ServiceResult<()> {
        if actor.operator() == Some(username) {
            return Err(ServiceError::Conflict(
                "nobody disables themselves; ask another administrator".into(),
            ));
        }
        let entry = self.audit.entry(
            RecordClass::AccessControl,
            actor,
            "operator.disable",
            format!("operator:{username}"),
            serde_json::Value::Null,
        );
        if !self
            .store
            .disable_operator(username, self.now_ms(), &entry)?
        {
            return Err(ServiceError::NotFound(format!(
                "no active operator '{username}'"
            )));
        }
        // Before the answer: once the caller hears "disabled", no request on this node is
        // served from a session read before.
        self.forget_sessions_of(username);
        self.audit.settle()
    }

    /// An operator asks for `role` for a while, with a reason.
    pub fn request_grant(
        &self,
        actor: &Actor,
        role: Role,
        reason: &str,
        duration_seconds: u64,
    ) -> ServiceResult<GrantRecord> {
        let Some(username) = actor.operator() else {
            return Err(ServiceError::forbidden(
                "temporary grants are for operators; log in at POST /v1/auth/login",
            ));
        };
        if duration_seconds == 0 || duration_seconds > MAX_GRANT_SECONDS {
            return Err(ServiceError::invalid(
                "duration_seconds",
                format!("duration_seconds: must lie in 1..={MAX_GRANT_SECONDS}"),
            ));
        }
        if reason.trim().len() < 5 || reason.len() > 1_000 {
            return Err(ServiceError::invalid(
                "reason",
                "reason: say why, in 5 to 1000 characters",
            ));
        }
        let operator = self
            .store
            .operator(username)?
            .ok_or_else(|| ServiceError::Internal("session of an unknown operator".into()))?;
        let mut roles = operator.roles.clone();
        roles.push(role);
        rbac::check_separation(&roles).map_err(ServiceError::Conflict)?;
        let mut grant = GrantRecord {
            id: 0,
            username: username.to_owned(),
            role,
            reason: reason.to_owned(),
            requested_by: username.to_owned(),
            requested_at_ms: self.now_ms(),
            duration_ms: duration_seconds as i64 * 1_000,
            approved_by: None,
            approved_at_ms: None,
            expires_at_ms: None,
        };
        let detail = serde_json::json!({ "role": role.as_str(), "reason": reason, "duration_ms": grant.duration_ms });
        grant.id = self.store.insert_grant(&grant, &|id| {
            self.audit.entry(
                RecordClass::AccessControl,
                actor,
                "grant.request",
                format!("grant:{id}"),
                detail.clone(),
            )
        })?;
        self.audit.settle()?;
        Ok(grant)
    }

    /// Another operator approves a pending grant; it starts now and ends on its own.
    pub fn approve_grant(&self, id: i64, actor: &Actor) -> ServiceResult<GrantRecord> {
        let Some(approver) = actor.operator() else {
            return Err(ServiceError::forbidden(
                "grants are approved by a person: log in as an operator",
            ));
        };
        let now = self.now_ms();
        let grant = self
            .store
            .grant(id)?
            .ok_or_else(|| ServiceError::NotFound(format!("grant {id} not found")))?;
        if grant.requested_by == approver || grant.username == approver {
            return Err(ServiceError::forbidden("nobody approves their own grant"));
        }
        let operator = self
            .store
            .operator(&grant.username)?
            .ok_or_else(|| ServiceError::NotFound("the grantee no longer exists".into()))?;
        let mut roles = operator.roles.clone();
        roles.extend(
            self.store
                .grants(Some(&grant.username))?
                .iter()
                .filter(|other| other.is_active(now))
                .map(|other| other.role),
        );
        roles.push(grant.role);
        rbac::check_separation(&roles).map_err(ServiceError::Conflict)?;
        let entry = self.audit.entry(
            RecordClass::AccessControl,
            actor,
            "grant.approve",
            format!("grant:{id}"),
            serde_json::json!({ "username": grant.username, "role": grant.role.as_str(), "duration_ms": grant.duration_ms }),
        );
        if !self.store.approve_grant(id, approver, now, &entry)? {
            return Err(ServiceError::Conflict(format!("grant {id} is not pending")));
        }
        self.forget_sessions_of(&grant.username);
        self.audit.settle()?;
        self.store
            .grant(id)?
            .ok_or_else(|| ServiceError::Internal("approved grant vanished".into()))
    }

    /// Grants, newest first.
    pub fn grants(&self) -> ServiceResult<Vec<GrantRecord>> {
        Ok(self.store.grants(None)?)
    }
}
