//! Decision search and a decision's page (the event masked; unmasking is an explicit,
//! audited click for operators who hold `pii:unmask`).

use axum::extract::{Path, Query};
use axum::Form;
use minijinja::context;
use serde::{Deserialize, Serialize};
use shopguard_app::decisions::ChallengeResult;
use shopguard_core::event::EventKind;
use shopguard_core::privacy::mask_event_json;
use shopguard_storage::{DecisionQuery, DecisionRecord, Scope};

use crate::console::auth::CsrfForm;
use crate::console::{Reply, Ui};
use crate::error::AppError;

/// Rows per page of results.
const PAGE: u32 = 50;

/// The search form's fields (all optional; times in the operator's time zone).
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct SearchForm {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    ip: String,
    #[serde(default)]
    device_id: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    rule_id: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// After this decision (the last of the page before): the next page.
    #[serde(default)]
    before_id: String,
}

fn text(field: &str) -> Option<String> {
    let trimmed = field.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// A `datetime-local` value (`2026-12-03T15:20`) in `zone`, as ms since the epoch.
pub(crate) fn local_time(value: &str, zone: &str) -> Result<Option<i64>, String> {
    let Some(value) = text(value) else {
        return Ok(None);
    };
    let civil: jiff::civil::DateTime = value
        .parse()
        .map_err(|_| format!("'{value}' is not a date and time (2026-12-03T15:20)"))?;
    let zoned = civil
        .to_zoned(crate::console::i18n::time_zone(zone))
        .map_err(|error| error.to_string())?;
    Ok(Some(zoned.timestamp().as_millisecond()))
}

/// One row of the results.
#[derive(Debug, Serialize)]
struct Row {
    decision_id: String,
    occurred_at_ms: i64,
    kind: &'static str,
    user_id: String,
    ip: Option<String>,
    device_id: Option<String>,
    outcome: &'static str,
    score: u32,
    rules: Vec<String>,
}

fn row(record: &DecisionRecord) -> Row {
    Row {
        decision_id: record.decision.decision_id.clone(),
        occurred_at_ms: record.decision.occurred_at_ms,
        kind: record.decision.kind.as_str(),
        user_id: record.decision.user_id.clone(),
        ip: record.event.ip.map(|ip| ip.to_string()),
        device_id: record.event.device_id.as_deref().map(str::to_owned),
        outcome: record.decision.outcome.as_str(),
        score: record.decision.score,
        rules: record
            .decision
            .matched
            .iter()
            .map(|rule| rule.rule_id.clone())
            .collect(),
    }
}

/// `GET /console/decisions?user_id=&ip=&device_id=&outcome=&rule_id=&from=&to=&before_id=`:
/// the search form and, when anything is asked, the number of matching decisions and the
/// newest of them (50 a page; the next page is the one after the last decision shown).
pub(crate) async fn search(ui: Ui, Query(form): Query<SearchForm>) -> Reply {
    ui.require(Scope::DecisionsRead)?;
    let asked = [
        &form.user_id,
        &form.ip,
        &form.device_id,
        &form.outcome,
        &form.rule_id,
        &form.from,
        &form.to,
        &form.before_id,
    ]
    .iter()
    .any(|field| !field.trim().is_empty());
    let from_ms = local_time(&form.from, &ui.prefs.tz).map_err(|message| {
        ui.fail(
            AppError::new(shopguard_api_types::ErrorCode::InvalidParameter, message)
                .with_field("from"),
        )
    })?;
    let to_ms = local_time(&form.to, &ui.prefs.tz).map_err(|message| {
        ui.fail(
            AppError::new(shopguard_api_types::ErrorCode::InvalidParameter, message)
                .with_field("to"),
        )
    })?;
    let outcome = text(&form.outcome);
    if let Some(outcome) = &outcome {
        if !["allow", "challenge", "review", "deny"].contains(&outcome.as_str()) {
            return Err(ui.fail(AppError::new(
                shopguard_api_types::ErrorCode::InvalidParameter,
                format!("unknown outcome '{outcome}'"),
            )));
        }
    }
    let mut rows = Vec::new();
    let (mut total, mut total_capped) = (0, false);
    if asked {
        let query = DecisionQuery {
            user_id: text(&form.user_id),
            ip: text(&form.ip),
            device_id: text(&form.device_id),
            outcome,
            rule_id: text(&form.rule_id),
            from_ms,
            to_ms,
            before_id: text(&form.before_id),
            limit: PAGE,
        };
        let principal = ui.principal.clone();
        let (records, counted) = ui
            .run(move |app| {
                let decisions = app.decisions()?;
                let records = decisions.query(&query, &principal)?;
                Ok((records, decisions.count(&query, &principal)?))
            })
            .await?;
        rows = records.iter().map(row).collect();
        (total, total_capped) = counted;
    }
    let older = (rows.len() == PAGE as usize)
        .then(|| rows.last().map(|last| last.decision_id.clone()))
        .flatten();
    ui.page(
        "decisions.html",
        context! {
            form => form,
            asked => asked,
            rows => rows,
            older => older,
            total => total,
            total_capped => total_capped,
        },
    )
}

/// A decision with its event for the page.
fn decision_page(
    ui: &Ui,
    record: DecisionRecord,
    result: Option<ChallengeResult>,
    unmasked: bool,
) -> Reply {
    let mut event =
        serde_json::to_value(&record.event).map_err(|error| ui.fail(AppError::internal(error)))?;
    let masked = if unmasked {
        0
    } else {
        mask_event_json(&mut event)
    };
    let event_json = serde_json::to_string_pretty(&event).unwrap_or_default();
    let summary = row(&record);
    // A challenge's reported result links back to the decision that asked for it.
    let challenged = matches!(
        record.event.kind,
        EventKind::ChallengePassed | EventKind::ChallengeFailed
    )
    .then(|| record.event.attrs.get("decision_id"))
    .flatten()
    .and_then(|id| id.as_str())
    .map(str::to_owned);
    ui.page(
        "decision.html",
        context! {
            summary => summary,
            decision => record.decision,
            event_json => event_json,
            masked => masked,
            unmasked => unmasked,
            challenged => challenged,
            challenge_result => result.map(|result| context! {
                decision_id => result.decision_id,
                challenge => result.challenge,
                passed => result.passed,
                at_ms => result.at_ms,
            }),
        },
    )
}

/// `GET /console/decisions/{id}`.
pub(crate) async fn show(ui: Ui, Path(id): Path<String>) -> Reply {
    ui.require(Scope::DecisionsRead)?;
    let principal = ui.principal.clone();
    let (record, result) = ui
        .run(move |app| {
            let decisions = app.decisions()?;
            let record = decisions.get(&id, &principal)?;
            let result = decisions.challenge_result(&record)?;
            Ok((record, result))
        })
        .await?;
    decision_page(&ui, record, result, false)
}

/// `POST /console/decisions/{id}/unmask`: the decision with its personal data shown, for an
/// operator holding `pii:unmask`; recorded in the audit log before anything is shown.
pub(crate) async fn unmask(ui: Ui, Path(id): Path<String>, Form(form): Form<CsrfForm>) -> Reply {
    ui.verify_csrf(&form.csrf)?;
    ui.require(Scope::DecisionsRead)?;
    ui.require(Scope::PiiUnmask)?;
    let principal = ui.principal.clone();
    let (record, result, unmasked) = ui
        .run(move |app| {
            let unmasked =
                app.audit
                    .unmask_allowed(Some(true), &principal, format!("decision:{id}"))?;
            let decisions = app.decisions()?;
            let record = decisions.get(&id, &principal)?;
            let result = decisions.challenge_result(&record)?;
            Ok((record, result, unmasked))
        })
        .await?;
    decision_page(&ui, record, result, unmasked)
}
