//! The audit log: entries by actor, action, object and time; verifying the whole log from
//! the browser (the tree, every checkpoint's signature, purges against their records).

use axum::extract::Query;
use axum::Form;
use minijinja::context;
use serde::{Deserialize, Serialize};
use shopguard_storage::audit_log::AuditQuery;
use shopguard_storage::Scope;

use crate::console::auth::CsrfForm;
use crate::console::pages::decisions::local_time;
use crate::console::{Reply, Ui};
use crate::error::AppError;

/// Entries per page.
const PAGE: u32 = 100;

/// The filter form.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct AuditFilter {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    object: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    before_seq: Option<u64>,
}

fn given(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// `GET /console/audit`.
pub(crate) async fn index(ui: Ui, Query(filter): Query<AuditFilter>) -> Reply {
    ui.require(Scope::AuditRead)?;
    let bad_time = |field: &'static str| {
        move |message: String| {
            AppError::new(shopguard_api_types::ErrorCode::InvalidParameter, message)
                .with_field(field)
        }
    };
    let from_ms = local_time(&filter.from, &ui.prefs.tz)
        .map_err(bad_time("from"))
        .map_err(|error| ui.fail(error))?;
    let to_ms = local_time(&filter.to, &ui.prefs.tz)
        .map_err(bad_time("to"))
        .map_err(|error| ui.fail(error))?;
    let query = AuditQuery {
        actor: given(&filter.actor),
        action: given(&filter.action),
        object: given(&filter.object),
        class: None,
        from_ms,
        to_ms,
        before_seq: filter.before_seq,
        limit: PAGE,
    };
    let (entries, size) = ui
        .run(move |app| Ok((app.audit.query(&query)?, app.audit.size())))
        .await?;
    let older = (entries.len() == PAGE as usize)
        .then(|| entries.last().map(|entry| entry.seq))
        .flatten();
    let entries: Vec<_> = entries
        .into_iter()
        .map(|entry| {
            let content = entry.content.as_ref();
            context! {
                seq => entry.seq,
                at_ms => entry.at_ms,
                class => entry.class.as_str(),
                actor => content.map(|content| content.actor.clone()),
                action => content.map(|content| content.action.clone()),
                object => content.map(|content| content.object.clone()),
                detail => content
                    .filter(|content| !content.detail.is_null())
                    .map(|content| content.detail.to_string()),
            }
        })
        .collect();
    ui.page(
        "audit.html",
        context! { filter => filter, entries => entries, older => older, size => size },
    )
}

/// `POST /console/audit/verify` (htmx): verifies the whole log and shows the report in place.
pub(crate) async fn verify(ui: Ui, Form(form): Form<CsrfForm>) -> Reply {
    ui.verify_csrf(&form.csrf)?;
    ui.require(Scope::AuditRead)?;
    let report = ui.run(|app| app.audit.verify(&[])).await?;
    let intact = report.is_intact();
    ui.page(
        "audit_verify.html",
        context! { report => report, intact => intact },
    )
}
