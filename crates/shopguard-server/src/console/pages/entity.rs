//! An entity's page: a user, IP address, device or email — the lists it is on, its recent
//! decisions, and one-click listing with expiry and reason.

use axum::extract::Path;
use minijinja::context;
use serde::Serialize;
use shopguard_storage::{DecisionQuery, Scope};

use crate::console::{Reply, Ui};
use crate::error::AppError;
use crate::state::now_ms;

/// Decisions shown on an entity's page.
const RECENT: u32 = 50;

/// The kinds of entity with a page, and the decision-log field that finds them.
const KINDS: [&str; 3] = ["user", "ip", "device"];

/// A list, and whether the entity is on it.
#[derive(Debug, Serialize)]
struct Membership {
    name: String,
    kind: &'static str,
    listed: bool,
}

/// `GET /console/entity/{kind}/{value}`.
pub(crate) async fn show(ui: Ui, Path((kind, value)): Path<(String, String)>) -> Reply {
    ui.require(Scope::DecisionsRead)?;
    if !KINDS.contains(&kind.as_str()) || value.is_empty() || value.len() > 256 {
        return Err(ui.fail(AppError::new(
            shopguard_api_types::ErrorCode::NotFound,
            format!("no entity page for {kind} '{value}': use user, ip or device"),
        )));
    }
    let principal = ui.principal.clone();
    let (lookup_kind, lookup_value) = (kind.clone(), value.clone());
    let (records, lists) = ui
        .run(move |app| {
            let mut query = DecisionQuery {
                limit: RECENT,
                ..DecisionQuery::default()
            };
            match lookup_kind.as_str() {
                "user" => query.user_id = Some(lookup_value.clone()),
                "ip" => query.ip = Some(lookup_value.clone()),
                _ => query.device_id = Some(lookup_value.clone()),
            }
            let records = app.decisions()?.query(&query, &principal)?;
            let now = now_ms();
            let mut lists = Vec::new();
            for summary in app.lists.summaries()? {
                let list = app.lists.find(&summary.name)?;
                lists.push(Membership {
                    listed: list.contains(&lookup_value, now),
                    kind: summary.kind.as_str(),
                    name: summary.name,
                });
            }
            Ok((records, lists))
        })
        .await?;
    let mut outcomes = [0u64; 4];
    for record in &records {
        outcomes[record.decision.outcome as usize] += 1;
    }
    let first_seen = records
        .iter()
        .map(|record| record.decision.occurred_at_ms)
        .min();
    let rows: Vec<_> = records
        .iter()
        .map(|record| {
            context! {
                decision_id => record.decision.decision_id,
                occurred_at_ms => record.decision.occurred_at_ms,
                kind => record.decision.kind.as_str(),
                outcome => record.decision.outcome.as_str(),
                score => record.decision.score,
                rules => record.decision.matched.iter().map(|rule| rule.rule_id.clone()).collect::<Vec<_>>(),
            }
        })
        .collect();
    ui.page(
        "entity.html",
        context! {
            kind => kind,
            value => value,
            rows => rows,
            lists => lists,
            outcomes => outcomes,
            first_seen => first_seen,
        },
    )
}
