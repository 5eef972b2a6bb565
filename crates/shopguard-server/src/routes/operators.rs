//! `POST /v1/auth/login`; `POST /v1/grants`, `POST /v1/grants/{id}/approve`, `GET /v1/grants`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use shopguard_api_types::{
    ApiError, ErrorCode, Grant, GrantList, GrantRequest, LoginRequest, LoginResponse, RecordClass,
};
use shopguard_core::{credentials, rbac};
use shopguard_storage::operators::{GrantRecord, SessionRecord};

use crate::error::{AppError, AppResult};
use crate::extract::{Admin, Caller, DecisionsRead, JsonBody};
use crate::state::{now_ms, AppState};

/// Longest temporary grant: seven days.
const MAX_GRANT_SECONDS: u64 = 7 * 86_400;

fn view(grant: GrantRecord, now: i64) -> Grant {
    Grant {
        active: grant.is_active(now),
        id: grant.id,
        username: grant.username,
        role: grant.role,
        reason: grant.reason,
        requested_at_ms: grant.requested_at_ms,
        duration_ms: grant.duration_ms,
        approved_by: grant.approved_by,
        expires_at_ms: grant.expires_at_ms,
    }
}

fn refused() -> AppError {
    AppError::new(
        ErrorCode::MissingOrInvalidApiKey,
        "unknown operator, wrong password or wrong code",
    )
}

/// Logs an operator in with password and TOTP code; returns a session token. Every attempt
/// is audited; failures all look alike, and cost the same whether the name exists or not.
#[utoipa::path(post, path = "/v1/auth/login", tag = "operators", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ApiError), (status = 429, body = ApiError)))]
pub async fn login(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<LoginRequest>,
) -> AppResult<Json<LoginResponse>> {
    if request.username.len() > 128 || request.password.len() > 1_024 {
        return Err(refused());
    }
    if state.login_limiter.check_key(&request.username).is_err() {
        return Err(AppError::new(
            ErrorCode::RateLimited,
            "too many login attempts for this operator; wait a minute",
        ));
    }
    let store = state.store.clone();
    let username = request.username.clone();
    let now = now_ms();
    let ttl_ms = i64::from(state.config.operator_session_hours) * 3_600_000;
    let outcome =
        tokio::task::spawn_blocking(move || -> AppResult<Option<(String, LoginResponse)>> {
            let operator = store.operator(&username)?;
            let hash = operator
                .as_ref()
                .map_or(credentials::DUMMY_PASSWORD_HASH, |operator| {
                    operator.password_hash.as_str()
                });
            let password_ok = credentials::verify_password(hash, &request.password);
            let Some(operator) = operator.filter(|operator| operator.disabled_at_ms.is_none())
            else {
                return Ok(None);
            };
            let code_ok = credentials::totp_matches(
                &operator.totp_secret,
                &request.totp_code,
                (now / 1_000) as u64,
            );
            if !(password_ok && code_ok) {
                return Ok(None);
            }
            let (token, session_id, secret_sha256) = credentials::new_session_token();
            store.insert_session(&SessionRecord {
                session_id: session_id.clone(),
                secret_sha256,
                username: operator.username.clone(),
                created_at_ms: now,
                expires_at_ms: now + ttl_ms,
            })?;
            Ok(Some((
                session_id,
                LoginResponse {
                    token,
                    expires_at_ms: now + ttl_ms,
                    roles: operator.roles,
                },
            )))
        })
        .await??;
    let succeeded = outcome.is_some();
    state
        .record_audit(
            RecordClass::Login,
            format!("operator:{}", request.username),
            if succeeded {
                "operator.login"
            } else {
                "operator.login_failed"
            },
            format!("operator:{}", request.username),
            outcome.as_ref().map_or(
                serde_json::Value::Null,
                |(session_id, _)| serde_json::json!({ "session": session_id }),
            ),
        )
        .await?;
    outcome
        .map(|(_, response)| Json(response))
        .ok_or_else(refused)
}

/// Asks for a role for a while, with a reason; another operator with `admin` approves it.
/// Only operators (not API keys) ask.
#[utoipa::path(post, path = "/v1/grants", tag = "operators", request_body = GrantRequest,
    responses((status = 201, body = Grant), (status = 400, body = ApiError), (status = 409, body = ApiError)), security(("api_key" = ["decisions:read"])))]
pub async fn request_grant(
    State(state): State<AppState>,
    caller: Caller<DecisionsRead>,
    JsonBody(request): JsonBody<GrantRequest>,
) -> AppResult<(StatusCode, Json<Grant>)> {
    let Some(username) = caller.principal.operator.clone() else {
        return Err(AppError::new(
            ErrorCode::InsufficientScope,
            "temporary grants are for operators; log in at POST /v1/auth/login",
        ));
    };
    if request.duration_seconds == 0 || request.duration_seconds > MAX_GRANT_SECONDS {
        return Err(AppError::new(
            ErrorCode::InvalidParameter,
            format!("duration_seconds: must lie in 1..={MAX_GRANT_SECONDS}"),
        )
        .with_field("duration_seconds"));
    }
    if request.reason.trim().len() < 5 || request.reason.len() > 1_000 {
        return Err(AppError::new(
            ErrorCode::InvalidParameter,
            "reason: say why, in 5 to 1000 characters",
        )
        .with_field("reason"));
    }
    let store = state.store.clone();
    let now = now_ms();
    let grant = tokio::task::spawn_blocking(move || -> AppResult<GrantRecord> {
        let operator = store
            .operator(&username)?
            .ok_or_else(|| AppError::internal("session of an unknown operator"))?;
        let mut roles = operator.roles.clone();
        roles.push(request.role);
        rbac::check_separation(&roles).map_err(|why| AppError::new(ErrorCode::Conflict, why))?;
        let mut grant = GrantRecord {
            id: 0,
            username: username.clone(),
            role: request.role,
            reason: request.reason,
            requested_by: username,
            requested_at_ms: now,
            duration_ms: request.duration_seconds as i64 * 1_000,
            approved_by: None,
            approved_at_ms: None,
            expires_at_ms: None,
        };
        grant.id = store.insert_grant(&grant)?;
        Ok(grant)
    })
    .await??;
    state
        .record_audit(
            RecordClass::AccessControl,
            caller.audit_actor(),
            "grant.request",
            format!("grant:{}", grant.id),
            serde_json::json!({ "role": grant.role.as_str(), "reason": grant.reason, "duration_ms": grant.duration_ms }),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view(grant, now))))
}

/// Approves a pending grant. The approver is an operator with `admin` other than the one who
/// asked; the grant starts now and ends on its own.
#[utoipa::path(post, path = "/v1/grants/{id}/approve", tag = "operators",
    params(("id" = i64, Path, description = "the grant")),
    responses((status = 200, body = Grant), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)), security(("api_key" = ["admin"])))]
pub async fn approve_grant(
    State(state): State<AppState>,
    caller: Caller<Admin>,
    Path(id): Path<i64>,
) -> AppResult<Json<Grant>> {
    let Some(approver) = caller.principal.operator.clone() else {
        return Err(AppError::new(
            ErrorCode::InsufficientScope,
            "grants are approved by a person: log in as an operator",
        ));
    };
    let store = state.store.clone();
    let now = now_ms();
    let grant = tokio::task::spawn_blocking(move || -> AppResult<GrantRecord> {
        let grant = store
            .grant(id)?
            .ok_or_else(|| AppError::new(ErrorCode::NotFound, format!("grant {id} not found")))?;
        if grant.requested_by == approver || grant.username == approver {
            return Err(AppError::new(
                ErrorCode::InsufficientScope,
                "nobody approves their own grant",
            ));
        }
        let operator = store
            .operator(&grant.username)?
            .ok_or_else(|| AppError::new(ErrorCode::NotFound, "the grantee no longer exists"))?;
        let mut roles = operator.roles.clone();
        roles.extend(
            store
                .grants(Some(&grant.username))?
                .iter()
                .filter(|other| other.is_active(now))
                .map(|other| other.role),
        );
        roles.push(grant.role);
        rbac::check_separation(&roles).map_err(|why| AppError::new(ErrorCode::Conflict, why))?;
        if !store.approve_grant(id, &approver, now)? {
            return Err(AppError::new(
                ErrorCode::Conflict,
                format!("grant {id} is not pending"),
            ));
        }
        store
            .grant(id)?
            .ok_or_else(|| AppError::internal("approved grant vanished"))
    })
    .await??;
    state
        .record_audit(
            RecordClass::AccessControl,
            caller.audit_actor(),
            "grant.approve",
            format!("grant:{id}"),
            serde_json::json!({ "username": grant.username, "role": grant.role.as_str(), "expires_at_ms": grant.expires_at_ms }),
        )
        .await?;
    Ok(Json(view(grant, now)))
}

/// Every grant, newest first.
#[utoipa::path(get, path = "/v1/grants", tag = "operators",
    responses((status = 200, body = GrantList)), security(("api_key" = ["admin"])))]
pub async fn list_grants(
    State(state): State<AppState>,
    _caller: Caller<Admin>,
) -> AppResult<Json<GrantList>> {
    let store = state.store.clone();
    let grants = tokio::task::spawn_blocking(move || store.grants(None)).await??;
    let now = now_ms();
    Ok(Json(GrantList {
        grants: grants.into_iter().map(|grant| view(grant, now)).collect(),
    }))
}

/// Disables an operator (leaving, compromised): their sessions stop working at once, and
/// they cannot log in again. Nobody disables themselves.
#[utoipa::path(post, path = "/v1/operators/{username}/disable", tag = "operators",
    params(("username" = String, Path, description = "the operator")),
    responses((status = 204), (status = 404, body = ApiError), (status = 409, body = ApiError)), security(("api_key" = ["admin"])))]
pub async fn disable_operator(
    State(state): State<AppState>,
    caller: Caller<Admin>,
    Path(username): Path<String>,
) -> AppResult<StatusCode> {
    if caller.principal.operator.as_deref() == Some(username.as_str()) {
        return Err(AppError::new(
            ErrorCode::Conflict,
            "nobody disables themselves; ask another administrator",
        ));
    }
    let store = state.store.clone();
    let target = username.clone();
    let disabled =
        tokio::task::spawn_blocking(move || store.disable_operator(&target, now_ms())).await??;
    if !disabled {
        return Err(AppError::new(
            ErrorCode::NotFound,
            format!("no active operator '{username}'"),
        ));
    }
    state
        .record_audit(
            RecordClass::AccessControl,
            caller.audit_actor(),
            "operator.disable",
            format!("operator:{username}"),
            serde_json::Value::Null,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
