//! `POST /v1/auth/login`, `POST /v1/auth/logout`, `GET /v1/auth/sessions`,
//! `DELETE /v1/auth/sessions/{session_id}`; `POST /v1/grants`, `POST /v1/grants/{id}/approve`,
//! `GET /v1/grants`; `POST /v1/operators/{username}/disable`: thin callers of the operator
//! service.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use shopguard_api_types::{
    ApiError, Grant, GrantList, GrantRequest, LoginRequest, LoginResponse, LogoutEverywhere,
    LogoutQuery, Session, SessionList,
};
use shopguard_storage::operators::{GrantRecord, SessionRecord};

use crate::error::AppResult;
use crate::extract::{
    Admin, Authenticated, Caller, ClientAddress, DecisionsRead, JsonBody, Params, PathParams,
};
use crate::state::{now_ms, AppState};

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

/// Logs an operator in with password and TOTP code; returns a session token. Every attempt
/// is audited; failures all look alike, and cost the same whether the name exists or not.
#[utoipa::path(post, path = "/v1/auth/login", tag = "operators", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ApiError), (status = 429, body = ApiError)))]
// Limited per operator name (`rate_limited`), and in failures per client address and across
// the node (`login_throttled`); both answer `Retry-After` (decision 0035).
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    JsonBody(request): JsonBody<LoginRequest>,
) -> AppResult<Json<LoginResponse>> {
    let login = state
        .run(move |app| {
            app.operators.login(
                &request.username,
                &request.password,
                &request.totp_code,
                client,
            )
        })
        .await?;
    Ok(Json(LoginResponse {
        token: login.token,
        session_id: login.session_id,
        expires_at_ms: login.expires_at_ms,
        roles: login.roles,
    }))
}

fn session_view(session: SessionRecord, current: Option<&str>) -> Session {
    Session {
        current: current == Some(session.session_id.as_str()),
        session_id: session.session_id,
        created_at_ms: session.created_at_ms,
        expires_at_ms: session.expires_at_ms,
        last_seen_at_ms: session.last_seen_at_ms,
        client: session.client,
    }
}

/// Ends the calling session: its token is refused from now on. With `everywhere=true`,
/// ends every session of the caller and answers how many. For operator sessions only: an
/// API key is refused with `403`.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "operators", params(LogoutQuery),
    responses((status = 200, body = LogoutEverywhere, description = "everywhere=true: every session of the caller ended"),
        (status = 204, description = "the calling session ended"),
        (status = 403, body = ApiError, description = "called with an API key, which has no session")),
    security(("api_key" = [])))]
pub async fn logout(
    State(state): State<AppState>,
    caller: Authenticated,
    Params(query): Params<LogoutQuery>,
) -> AppResult<Response> {
    let principal = caller.principal;
    if query.everywhere == Some(true) {
        let ended = state
            .run(move |app| app.operators.logout_everywhere(&principal))
            .await?;
        return Ok(Json(LogoutEverywhere { ended }).into_response());
    }
    state
        .run(move |app| app.operators.logout(&principal))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The caller's sessions still in use (not ended, expired or idle past the limit), newest
/// first, the calling one marked `current`. For operator sessions only.
#[utoipa::path(get, path = "/v1/auth/sessions", tag = "operators",
    responses((status = 200, body = SessionList),
        (status = 403, body = ApiError, description = "called with an API key, which has no session")),
    security(("api_key" = [])))]
pub async fn list_sessions(
    State(state): State<AppState>,
    caller: Authenticated,
) -> AppResult<Json<SessionList>> {
    let principal = caller.principal;
    let current = principal.session_id.clone();
    let sessions = state
        .run(move |app| app.operators.sessions(&principal))
        .await?;
    Ok(Json(SessionList {
        sessions: sessions
            .into_iter()
            .map(|session| session_view(session, current.as_deref()))
            .collect(),
    }))
}

/// Ends one session: one of the caller's own, or anyone's for an administrator. For
/// operator sessions only.
#[utoipa::path(delete, path = "/v1/auth/sessions/{session_id}", tag = "operators",
    params(("session_id" = String, Path, description = "the session")),
    responses((status = 204, description = "the session ended"),
        (status = 403, body = ApiError, description = "another operator's session and the caller is no administrator, or called with an API key"),
        (status = 404, body = ApiError, description = "no such session in use")),
    security(("api_key" = [])))]
pub async fn end_session(
    State(state): State<AppState>,
    caller: Authenticated,
    PathParams(session_id): PathParams<String>,
) -> AppResult<StatusCode> {
    let principal = caller.principal;
    state
        .run(move |app| app.operators.end_session(&session_id, &principal))
        .await?;
    Ok(StatusCode::NO_CONTENT)
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
    let actor = caller.actor().clone();
    let grant = state
        .run(move |app| {
            app.operators.request_grant(
                &actor,
                request.role,
                &request.reason,
                request.duration_seconds,
            )
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view(grant, now_ms()))))
}

/// Approves a pending grant. The approver is an operator with `admin` other than the one who
/// asked; the grant starts now and ends on its own.
#[utoipa::path(post, path = "/v1/grants/{id}/approve", tag = "operators",
    params(("id" = i64, Path, description = "the grant")),
    responses((status = 200, body = Grant), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)), security(("api_key" = ["admin"])))]
pub async fn approve_grant(
    State(state): State<AppState>,
    caller: Caller<Admin>,
    PathParams(id): PathParams<i64>,
) -> AppResult<Json<Grant>> {
    let actor = caller.actor().clone();
    let grant = state
        .run(move |app| app.operators.approve_grant(id, &actor))
        .await?;
    Ok(Json(view(grant, now_ms())))
}

/// Every grant, newest first.
#[utoipa::path(get, path = "/v1/grants", tag = "operators",
    responses((status = 200, body = GrantList)), security(("api_key" = ["admin"])))]
pub async fn list_grants(
    State(state): State<AppState>,
    _caller: Caller<Admin>,
) -> AppResult<Json<GrantList>> {
    let grants = state.run(|app| app.operators.grants()).await?;
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
    PathParams(username): PathParams<String>,
) -> AppResult<StatusCode> {
    let actor = caller.actor().clone();
    state
        .run(move |app| app.operators.disable(&username, &actor))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
