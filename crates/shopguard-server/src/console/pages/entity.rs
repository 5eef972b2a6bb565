//! An entity's page: a user, IP address, device, email, card or card BIN — the user's profile,
//! the live policy's velocity values for it, the lists it is on, its recent decisions (users,
//! IPs and devices: the decision log is searched by those), and one-click listing with expiry
//! and reason.

use axum::extract::Path;
use minijinja::context;
use serde::Serialize;
use shopguard_core::features::EntityKey;
use shopguard_storage::{DecisionQuery, Scope};

use crate::console::{Reply, Ui};
use crate::error::AppError;
use crate::state::now_ms;

/// Decisions shown on an entity's page.
const RECENT: u32 = 50;

/// The kinds of entity with a page, and the velocity key each is counted under.
const KINDS: [(&str, EntityKey); 6] = [
    ("user", EntityKey::User),
    ("ip", EntityKey::Ip),
    ("device", EntityKey::Device),
    ("email", EntityKey::Email),
    ("card", EntityKey::Card),
    ("card_bin", EntityKey::CardBin),
];

/// The kinds the decision log is searched by.
const SEARCHED: [&str; 3] = ["user", "ip", "device"];

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
    let key = KINDS
        .iter()
        .find(|(name, _)| *name == kind)
        .map(|(_, key)| *key);
    let Some(key) = key.filter(|_| !value.is_empty() && value.len() <= 256) else {
        return Err(ui.fail(AppError::new(
            shopguard_api_types::ErrorCode::NotFound,
            format!(
                "no entity page for {kind} '{value}': use user, ip, device, email, card or card_bin"
            ),
        )));
    };
    let searched = SEARCHED.contains(&kind.as_str());
    let principal = ui.principal.clone();
    let (lookup_kind, lookup_value) = (kind.clone(), value.clone());
    let (records, lists, profile, velocity) = ui
        .run(move |app| {
            let now = now_ms();
            let profile = match lookup_kind.as_str() {
                "user" => app.entities.profile(&lookup_value, &principal)?,
                _ => None,
            };
            let velocity = app.entities.velocity(key, &lookup_value, now, &principal)?;
            let mut query = DecisionQuery {
                limit: RECENT,
                ..DecisionQuery::default()
            };
            match lookup_kind.as_str() {
                "user" => query.user_id = Some(lookup_value.clone()),
                "ip" => query.ip = Some(lookup_value.clone()),
                _ => query.device_id = Some(lookup_value.clone()),
            }
            let records = if searched {
                app.decisions()?.query(&query, &principal)?
            } else {
                Vec::new()
            };
            let mut lists = Vec::new();
            for summary in app.lists.summaries()? {
                let list = app.lists.find(&summary.name)?;
                lists.push(Membership {
                    listed: list.contains(&lookup_value, now),
                    kind: summary.kind.as_str(),
                    name: summary.name,
                });
            }
            Ok((records, lists, profile, velocity))
        })
        .await?;
    let velocity: Vec<_> = velocity
        .iter()
        .map(|value| {
            context! {
                feature => value.feature,
                aggregation => value.aggregation,
                window_minutes => value.window_ms / 60_000,
                value => value.value,
            }
        })
        .collect();
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
            searched => searched,
            profile => profile,
            velocity => velocity,
        },
    )
}
