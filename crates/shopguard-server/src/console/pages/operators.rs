//! Operators and access: one's own sessions (end one, or all), temporary grants (request;
//! administrators approve others'), and, for administrators, every operator with their
//! roles and offboarding — all through the operator service.

use axum::extract::Path;
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use minijinja::context;
use serde::Deserialize;
use shopguard_core::rbac::Role;
use shopguard_storage::Scope;

use crate::console::auth::CsrfForm;
use crate::console::{Reply, Ui};
use crate::error::AppError;
use crate::state::now_ms;

/// `GET /console/operators`.
pub(crate) async fn index(ui: Ui) -> Reply {
    let principal = ui.principal.clone();
    let admin = ui.principal.grants(Scope::Admin);
    let (sessions, grants, operators) = ui
        .run(move |app| {
            let sessions = app.operators.sessions(&principal)?;
            let me = principal.actor.operator().unwrap_or_default().to_owned();
            let grants = app
                .operators
                .grants()?
                .into_iter()
                .filter(|grant| admin || grant.username == me)
                .collect::<Vec<_>>();
            let operators = if admin {
                app.operators.list()?
            } else {
                Vec::new()
            };
            Ok((sessions, grants, operators))
        })
        .await?;
    let now = now_ms();
    let current = ui.principal.session_id.clone();
    let sessions: Vec<_> = sessions
        .into_iter()
        .map(|session| {
            context! {
                current => Some(&session.session_id) == current.as_ref(),
                session_id => session.session_id,
                created_at_ms => session.created_at_ms,
                last_seen_at_ms => session.last_seen_at_ms,
                expires_at_ms => session.expires_at_ms,
                client => session.client,
            }
        })
        .collect();
    let grants: Vec<_> = grants
        .into_iter()
        .map(|grant| {
            context! {
                active => grant.is_active(now),
                id => grant.id,
                username => grant.username,
                role => grant.role.as_str(),
                reason => grant.reason,
                requested_at_ms => grant.requested_at_ms,
                hours => grant.duration_ms / 3_600_000,
                approved_by => grant.approved_by,
                expires_at_ms => grant.expires_at_ms,
            }
        })
        .collect();
    let operators: Vec<_> = operators
        .into_iter()
        .map(|operator| {
            context! {
                username => operator.username,
                roles => operator.roles.iter().map(|role| role.as_str()).collect::<Vec<_>>(),
                created_at_ms => operator.created_at_ms,
                disabled_at_ms => operator.disabled_at_ms,
            }
        })
        .collect();
    let roles: Vec<&str> = Role::ALL.iter().map(|role| role.as_str()).collect();
    ui.page(
        "operators.html",
        context! { sessions => sessions, grants => grants, operators => operators, roles => roles },
    )
}

fn back() -> Reply {
    Ok(Redirect::to("/console/operators").into_response())
}

/// `POST /console/operators/sessions/{id}/end`: ends one of one's own sessions.
pub(crate) async fn end_session(
    ui: Ui,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Reply {
    ui.verify_csrf(&form.csrf)?;
    let principal = ui.principal.clone();
    ui.run(move |app| app.operators.end_session(&id, &principal))
        .await?;
    back()
}

/// `POST /console/operators/sessions/end-all`: ends every session of the operator, this one
/// included (back to the sign-in page).
pub(crate) async fn end_all(ui: Ui, Form(form): Form<CsrfForm>) -> Reply {
    ui.verify_csrf(&form.csrf)?;
    let principal = ui.principal.clone();
    ui.run(move |app| app.operators.logout_everywhere(&principal))
        .await?;
    Ok(Redirect::to("/console/login").into_response())
}

/// The grant request form.
#[derive(Debug, Deserialize)]
pub(crate) struct GrantForm {
    csrf: String,
    role: String,
    reason: String,
    hours: u64,
}

/// `POST /console/operators/grants`: asks for a role for some hours (another administrator
/// approves).
pub(crate) async fn request_grant(ui: Ui, Form(form): Form<GrantForm>) -> Reply {
    ui.verify_csrf(&form.csrf)?;
    let role: Role = form.role.parse().map_err(|message: String| {
        ui.fail(
            AppError::new(shopguard_api_types::ErrorCode::InvalidParameter, message)
                .with_field("role"),
        )
    })?;
    let actor = ui.principal.actor.clone();
    let seconds = form.hours.saturating_mul(3_600);
    ui.run(move |app| {
        app.operators
            .request_grant(&actor, role, &form.reason, seconds)
    })
    .await?;
    back()
}

/// `POST /console/operators/grants/{id}/approve` (administrators; never one's own).
pub(crate) async fn approve_grant(
    ui: Ui,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Reply {
    ui.verify_csrf(&form.csrf)?;
    ui.require(Scope::Admin)?;
    let actor = ui.principal.actor.clone();
    ui.run(move |app| app.operators.approve_grant(id, &actor))
        .await?;
    back()
}

/// `POST /console/operators/{username}/disable`: offboards an operator (administrators);
/// their sessions stop at once.
pub(crate) async fn disable(
    ui: Ui,
    Path(username): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Reply {
    ui.verify_csrf(&form.csrf)?;
    ui.require(Scope::Admin)?;
    let actor = ui.principal.actor.clone();
    ui.run(move |app| app.operators.disable(&username, &actor))
        .await?;
    back()
}
