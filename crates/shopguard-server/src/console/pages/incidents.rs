//! Incidents (DB33/T 978-2015): the queue with filters, the report form (§10.3), and an
//! incident's page with its grade and the clauses behind it, the actions of its lifecycle and
//! its field-by-field history — each through the incident service, which checks the scopes,
//! the version read and the standard's rules.

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use minijinja::context;
use serde::{Deserialize, Serialize};
use shopguard_app::incidents::IncidentReport;
use shopguard_core::incident::{
    Category, GradingInputs, Level, Status, SystemImportance, SystemLoss, Verdict,
};
use shopguard_storage::{IncidentFilter, Scope};

use crate::console::{Reply, Ui};
use crate::error::AppError;

/// Incidents per page.
const PAGE: u32 = 50;

fn invalid(field: &'static str, message: String) -> AppError {
    AppError::new(shopguard_api_types::ErrorCode::InvalidParameter, message).with_field(field)
}

/// A choice of a labelled enum, in the page's language.
#[derive(Debug, Serialize)]
struct Choice {
    value: &'static str,
    label: &'static str,
}

macro_rules! choices {
    ($enum:ty, $zh:expr) => {
        <$enum>::ALL
            .iter()
            .map(|item| Choice {
                value: item.as_str(),
                label: if $zh {
                    item.label_zh()
                } else {
                    item.label_en()
                },
            })
            .collect::<Vec<_>>()
    };
}

fn parse<T: std::str::FromStr<Err = String>>(
    ui: &Ui,
    field: &'static str,
    text: &str,
) -> Result<Option<T>, axum::response::Response> {
    match text.trim() {
        "" => Ok(None),
        text => text
            .parse::<T>()
            .map(Some)
            .map_err(|message| ui.fail(invalid(field, message))),
    }
}

/// The queue's filter form.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct QueueForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    category: String,
    before_id: Option<i64>,
}

/// `GET /console/incidents`: newest first, filtered by status, level and category.
pub(crate) async fn queue(ui: Ui, Query(form): Query<QueueForm>) -> Reply {
    ui.require(Scope::IncidentsRead)?;
    let filter = IncidentFilter {
        status: parse::<Status>(&ui, "status", &form.status)?,
        level: parse::<Level>(&ui, "level", &form.level)?,
        category: parse::<Category>(&ui, "category", &form.category)?,
        before_id: form.before_id,
        limit: PAGE,
        ..IncidentFilter::default()
    };
    let principal = ui.principal.clone();
    let page = ui
        .run(move |app| app.incidents.list(&filter, &principal))
        .await?;
    let zh = ui.chinese();
    let rows: Vec<_> = page
        .incidents
        .iter()
        .map(|incident| {
            context! {
                id => incident.id,
                title => incident.title,
                category => if zh { incident.category.label_zh() } else { incident.category.label_en() },
                level => incident.effective_level().map(|level| if zh { level.label_zh() } else { level.label_en() }),
                status => incident.status.as_str(),
                assignee => incident.assignee,
                reported_at_ms => incident.reported_at_ms,
                is_drill => incident.is_drill,
            }
        })
        .collect();
    ui.page(
        "incidents.html",
        context! {
            form => form,
            rows => rows,
            total => page.total,
            total_capped => page.total_capped,
            next_before_id => page.next_before_id,
            statuses => choices!(Status, zh),
            levels => choices!(Level, zh),
            categories => choices!(Category, zh),
            can_report => ui.principal.grants(Scope::IncidentsReport),
        },
    )
}

/// `GET /console/incidents/new`: the report form (报告单).
pub(crate) async fn report_form(ui: Ui) -> Reply {
    ui.require(Scope::IncidentsReport)?;
    let zh = ui.chinese();
    ui.page(
        "incident_new.html",
        context! { categories => choices!(Category, zh) },
    )
}

/// The report form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct ReportForm {
    csrf: String,
    title: String,
    category: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    evidence: String,
    #[serde(default)]
    affected_systems: String,
    #[serde(default)]
    unsure_of_level: Option<String>,
}

/// `POST /console/incidents/new`: reports an incident; to its page.
pub(crate) async fn report(ui: Ui, Form(form): Form<ReportForm>) -> Reply {
    ui.verify_csrf(&form.csrf)?;
    ui.require(Scope::IncidentsReport)?;
    let category = parse::<Category>(&ui, "category", &form.category)?
        .ok_or_else(|| ui.fail(invalid("category", "category: choose one".into())))?;
    let report = IncidentReport {
        title: form.title,
        category,
        tags: Vec::new(),
        discovered_at_ms: None,
        affected_systems: form
            .affected_systems
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect(),
        description: form.description,
        evidence: form.evidence,
        observables: Vec::new(),
        unsure_of_level: form.unsure_of_level.is_some(),
        is_drill: false,
    };
    let principal = ui.principal.clone();
    let incident = ui
        .run(move |app| app.incidents.report(report, &principal))
        .await?;
    Ok(Redirect::to(&format!("/console/incidents/{}", incident.id)).into_response())
}

/// `GET /console/incidents/{id}`: the incident, its grade with reasons, its history.
pub(crate) async fn show(ui: Ui, Path(id): Path<i64>) -> Reply {
    ui.require(Scope::IncidentsRead)?;
    let principal = ui.principal.clone();
    let (incident, history) = ui
        .run(move |app| {
            let incident = app.incidents.get(id, &principal)?;
            let history = app.incidents.history(id, &principal)?;
            Ok((incident, history))
        })
        .await?;
    let zh = ui.chinese();
    let label = |zh_text: &'static str, en_text: &'static str| if zh { zh_text } else { en_text };
    let reasons: Vec<_> = incident
        .grade_reasons
        .iter()
        .map(|reason| {
            context! {
                clause => reason.clause,
                level => reason.level.map(|level| label(level.label_zh(), level.label_en())),
                text => if zh { reason.zh.clone() } else { reason.en.clone() },
            }
        })
        .collect();
    let history: Vec<_> = history
        .iter()
        .rev()
        .map(|entry| {
            context! {
                version => entry.version,
                at_ms => entry.at_ms,
                actor => entry.actor,
                action => entry.action,
                field => entry.field,
                old => entry.old.to_string(),
                new => entry.new.to_string(),
                reason => entry.reason,
            }
        })
        .collect();
    ui.page(
        "incident.html",
        context! {
            incident => incident,
            category => label(incident.category.label_zh(), incident.category.label_en()),
            level => incident.effective_level().map(|level| label(level.label_zh(), level.label_en())),
            computed_level => incident.computed_level.map(|level| label(level.label_zh(), level.label_en())),
            importance => incident.importance.map(|value| label(value.label_zh(), value.label_en())),
            loss => incident.loss.map(|value| label(value.label_zh(), value.label_en())),
            status => label(incident.status.label_zh(), incident.status.label_en()),
            reasons => reasons,
            history => history,
            statuses => choices!(Status, zh),
            verdicts => choices!(Verdict, zh),
            importances => choices!(SystemImportance, zh),
            losses => choices!(SystemLoss, zh),
            can_write => ui.principal.grants(Scope::IncidentsWrite),
        },
    )
}

/// An action's form on an incident's page: the version read, and the action's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct ActionForm {
    csrf: String,
    version: i64,
    action: String,
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    importance: String,
    #[serde(default)]
    loss: String,
    #[serde(default)]
    affected_users: String,
    #[serde(default)]
    platform_users: String,
}

fn number(
    ui: &Ui,
    field: &'static str,
    text: &str,
) -> Result<Option<u64>, axum::response::Response> {
    match text.trim() {
        "" => Ok(None),
        text => text.parse::<u64>().map(Some).map_err(|_| {
            ui.fail(invalid(
                field,
                format!("{field}: '{text}' is not a whole number"),
            ))
        }),
    }
}

/// `POST /console/incidents/{id}`: triage, grade or move the incident; back to its page.
pub(crate) async fn act(ui: Ui, Path(id): Path<i64>, Form(form): Form<ActionForm>) -> Reply {
    ui.verify_csrf(&form.csrf)?;
    ui.require(Scope::IncidentsWrite)?;
    let principal = ui.principal.clone();
    let version = form.version;
    let reason = form.reason.trim().to_owned();
    match form.action.as_str() {
        "triage" => {
            let verdict = parse::<Verdict>(&ui, "verdict", &form.verdict)?
                .ok_or_else(|| ui.fail(invalid("verdict", "verdict: choose one".into())))?;
            ui.run(move |app| {
                app.incidents
                    .triage(id, version, verdict, &reason, &principal)
            })
            .await?;
        }
        "grade" => {
            let inputs = GradingInputs {
                importance: parse::<SystemImportance>(&ui, "importance", &form.importance)?,
                loss: parse::<SystemLoss>(&ui, "loss", &form.loss)?,
                affected_users: number(&ui, "affected_users", &form.affected_users)?,
                platform_users: number(&ui, "platform_users", &form.platform_users)?,
            };
            ui.run(move |app| app.incidents.grade(id, version, inputs, &principal))
                .await?;
        }
        "transition" => {
            let to = parse::<Status>(&ui, "to", &form.to)?
                .ok_or_else(|| ui.fail(invalid("to", "to: choose a status".into())))?;
            let summary = (to == Status::Reviewed).then(|| reason.clone());
            ui.run(move |app| {
                let reason = (!reason.is_empty()).then_some(reason.as_str());
                app.incidents
                    .transition(id, version, to, reason, summary.as_deref(), &principal)
            })
            .await?;
        }
        other => {
            return Err(ui.fail(invalid(
                "action",
                format!("action: '{other}' is not one of triage, grade, transition"),
            )))
        }
    }
    Ok(Redirect::to(&format!("/console/incidents/{id}")).into_response())
}
