//! The alert queue: filter by status, assignee, severity and rule; an alert's page with its
//! notes; acknowledge, assign (to oneself or anyone), resolve, dismiss, reopen and note —
//! each through the alert service, which checks `alerts:write` and the version read.

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use minijinja::context;
use serde::{Deserialize, Serialize};
use shopguard_storage::alerts::{AlertFilter, AlertStatus, AssigneeFilter};
use shopguard_storage::Scope;

use crate::console::{Reply, Ui};
use crate::error::AppError;

/// Alerts per page.
const PAGE: u32 = 50;

/// The queue's filter form.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct QueueForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    rule_id: String,
    before_seq: Option<i64>,
}

fn given(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn invalid(field: &'static str, message: String) -> AppError {
    AppError::new(shopguard_api_types::ErrorCode::InvalidParameter, message).with_field(field)
}

/// `GET /console/alerts` (open alerts first: the default filter is status "open").
pub(crate) async fn queue(ui: Ui, Query(mut form): Query<QueueForm>) -> Reply {
    ui.require(Scope::DecisionsRead)?;
    if form.status.is_empty() {
        form.status = "open".into();
    }
    let status = match form.status.as_str() {
        "any" => None,
        name => Some(
            name.parse::<AlertStatus>()
                .map_err(|message| ui.fail(invalid("status", message)))?,
        ),
    };
    let assignee = match form.assignee.trim() {
        "" => None,
        "-" => Some(AssigneeFilter::Unassigned),
        "me" => Some(AssigneeFilter::Is(
            ui.principal.actor.operator().unwrap_or_default().to_owned(),
        )),
        name => Some(AssigneeFilter::Is(name.to_owned())),
    };
    let filter = AlertFilter {
        status,
        assignee,
        severity: given(&form.severity),
        rule_id: given(&form.rule_id),
        before_seq: form.before_seq,
        limit: PAGE,
        ..AlertFilter::default()
    };
    let principal = ui.principal.clone();
    let page = ui
        .run(move |app| app.alerts.queue(&filter, &principal))
        .await?;
    let alerts: Vec<_> = page
        .alerts
        .iter()
        .map(|row| {
            context! {
                seq => row.alert.seq,
                created_at_ms => row.alert.created_at_ms,
                severity => row.alert.severity,
                rule_id => row.alert.rule_id,
                decision_id => row.alert.decision_id,
                user_id => row.alert.user_id,
                ip => row.alert.ip,
                message => row.alert.message,
                status => row.triage.status.as_str(),
                assignee => row.triage.assignee,
                version => row.triage.version,
            }
        })
        .collect();
    ui.page(
        "alerts.html",
        context! {
            form => form,
            alerts => alerts,
            total => page.total,
            total_capped => page.total_capped,
            next => page.next_before_seq,
        },
    )
}

/// `GET /console/alerts/{seq}`.
pub(crate) async fn show(ui: Ui, Path(seq): Path<i64>) -> Reply {
    ui.require(Scope::DecisionsRead)?;
    let principal = ui.principal.clone();
    let detail = ui.run(move |app| app.alerts.get(seq, &principal)).await?;
    let can_write = ui.principal.grants(Scope::AlertsWrite);
    let next: Vec<&str> = AlertStatus::ALL
        .iter()
        .filter(|status| detail.triage.status.can_become(**status))
        .map(|status| status.as_str())
        .collect();
    ui.page(
        "alert.html",
        context! {
            alert => detail.alert,
            status => detail.triage.status.as_str(),
            assignee => detail.triage.assignee,
            version => detail.triage.version,
            updated_at_ms => detail.triage.updated_at_ms,
            updated_by => detail.triage.updated_by,
            notes => detail.notes.iter().map(|note| context! {
                author => note.author,
                at_ms => note.at_ms,
                text => note.text,
                status => note.status.map(|status| status.as_str()),
            }).collect::<Vec<_>>(),
            next => next,
            can_write => can_write,
        },
    )
}

/// A change to an alert: what to do, the version read, and what it needs.
#[derive(Debug, Deserialize)]
pub(crate) struct ChangeForm {
    csrf: String,
    version: i64,
    /// `acknowledge`, `resolve`, `dismiss`, `reopen`, `assign`, `note`.
    action: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    assignee: String,
}

/// `POST /console/alerts/{seq}`: one change, then back to the alert's page (a stale version
/// is a 409 with the service's message, shown in place).
pub(crate) async fn change(ui: Ui, Path(seq): Path<i64>, Form(form): Form<ChangeForm>) -> Reply {
    ui.verify_csrf(&form.csrf)?;
    let principal = ui.principal.clone();
    let me = principal.actor.operator().unwrap_or_default().to_owned();
    ui.run(move |app| {
        let alerts = &app.alerts;
        let reason = given(&form.reason);
        let version = form.version;
        match form.action.as_str() {
            "acknowledge" => alerts.acknowledge(seq, version, &principal),
            "resolve" => alerts.resolve(seq, reason.as_deref(), version, &principal),
            "dismiss" => alerts.dismiss(seq, reason.as_deref().unwrap_or(""), version, &principal),
            "reopen" => alerts.reopen(seq, reason.as_deref(), version, &principal),
            "assign" => {
                let assignee = match form.assignee.trim() {
                    "" => None,
                    "me" => Some(me.as_str()),
                    name => Some(name),
                };
                alerts.assign(seq, assignee, version, &principal)
            }
            "note" => alerts.note(seq, reason.as_deref().unwrap_or(""), &principal),
            other => Err(shopguard_app::ServiceError::invalid(
                "action",
                format!("unknown action '{other}'"),
            )),
        }
    })
    .await?;
    Ok(Redirect::to(&format!("/console/alerts/{seq}")).into_response())
}
