//! Lists: every list with its size; a list's entries (paged, searched by prefix), with who
//! added each and why; adding and removing entries with expiry and reason.

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use minijinja::context;
use serde::{Deserialize, Serialize};
use shopguard_app::lists::EntryTerms;
use shopguard_app::tasks::ImportAnswer;
use shopguard_storage::Scope;

use crate::console::{Reply, Ui};

/// Entries per page.
const PAGE: u32 = 100;

/// `GET /console/lists`.
pub(crate) async fn index(ui: Ui) -> Reply {
    ui.require(Scope::DecisionsRead)?;
    let lists = ui.run(|app| app.lists.summaries()).await?;
    let lists: Vec<_> = lists
        .into_iter()
        .map(|list| {
            context! {
                name => list.name,
                kind => list.kind.as_str(),
                description => list.description,
                entries => list.entries,
            }
        })
        .collect();
    ui.page("lists.html", context! { lists => lists })
}

/// `?q=` (values starting with it) and `?after=` (the next page).
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct EntriesQuery {
    #[serde(default)]
    q: String,
    after: Option<String>,
}

/// `GET /console/lists/{name}`.
pub(crate) async fn show(
    ui: Ui,
    Path(name): Path<String>,
    Query(query): Query<EntriesQuery>,
) -> Reply {
    ui.require(Scope::DecisionsRead)?;
    let prefix = query.q.trim().to_owned();
    // Entries come in value order: a search starts after the prefix less its last character.
    let after = query.after.clone().or_else(|| {
        let mut before = prefix.clone();
        before.pop();
        (!before.is_empty()).then_some(before)
    });
    let list_name = name.clone();
    let (summary, page) = ui
        .run(move |app| {
            let summary = app
                .lists
                .summaries()?
                .into_iter()
                .find(|summary| summary.name == list_name);
            // Personal values (emails, phones) stay masked here; the API unmasks on request.
            // An unknown list is `NotFound` from `entries`.
            let page = app
                .lists
                .entries(&list_name, after.as_deref(), PAGE, false)?;
            Ok((summary, page))
        })
        .await?;
    let mut entries: Vec<_> = page.entries;
    if !prefix.is_empty() {
        entries.retain(|entry| entry.value.starts_with(&prefix));
    }
    let next_after = page.next_after.filter(|_| entries.len() == PAGE as usize);
    let entries: Vec<_> = entries
        .into_iter()
        .map(|entry| {
            context! {
                value => entry.value,
                expires_at_ms => entry.expires_at_ms,
                added_by => entry.added_by,
                reason => entry.reason,
                created_at_ms => entry.created_at_ms,
            }
        })
        .collect();
    ui.page(
        "list.html",
        context! {
            name => name,
            kind => summary.as_ref().map(|summary| summary.kind.as_str()),
            description => summary.as_ref().map(|summary| summary.description.clone()),
            size => summary.as_ref().map(|summary| summary.entries),
            q => prefix,
            entries => entries,
            next_after => next_after,
            import_max => IMPORT_MAX_BYTES,
        },
    )
}

/// The add form: value, reason, lifetime in hours (empty for none), and where to go back to.
#[derive(Debug, Deserialize)]
pub(crate) struct AddForm {
    csrf: String,
    /// The list, when the form names it (the entity page's form) rather than the path.
    list: Option<String>,
    value: String,
    reason: String,
    #[serde(default)]
    hours: String,
    back: Option<String>,
}

fn back_to(back: Option<&str>, list: &str) -> String {
    match back {
        Some(path) if path.starts_with("/console/") && !path.contains("//") => path.to_owned(),
        _ => format!(
            "/console/lists/{}",
            crate::console::auth::encode_component(list)
        ),
    }
}

/// A lifetime in whole hours (empty for none), in seconds.
fn ttl_of(ui: &Ui, hours: &str) -> Result<Option<u64>, axum::response::Response> {
    match hours.trim() {
        "" => Ok(None),
        hours => hours
            .parse::<u64>()
            .ok()
            .filter(|hours| (1..=24 * 3_650).contains(hours))
            .map(|hours| Some(hours * 3_600))
            .ok_or_else(|| {
                ui.fail(
                    crate::error::AppError::new(
                        shopguard_api_types::ErrorCode::InvalidParameter,
                        ui.text("lists.bad_hours"),
                    )
                    .with_field("hours"),
                )
            }),
    }
}

/// `POST /console/list-entries`: the entity page's form, which names the list in a field.
pub(crate) async fn add_named(ui: Ui, Form(form): Form<AddForm>) -> Reply {
    let name = form.list.clone().unwrap_or_default();
    add(ui, Path(name), Form(form)).await
}

/// `POST /console/lists/{name}/add`.
pub(crate) async fn add(ui: Ui, Path(name): Path<String>, Form(form): Form<AddForm>) -> Reply {
    ui.verify_csrf(&form.csrf)?;
    ui.require(Scope::ListsWrite)?;
    let ttl_seconds = ttl_of(&ui, &form.hours)?;
    let back = back_to(form.back.as_deref(), &name);
    let actor = ui.principal.actor.clone();
    ui.run(move |app| {
        let terms = EntryTerms {
            ttl_seconds,
            reason: form.reason.trim().to_owned(),
            force: false,
        };
        app.lists
            .add_entry(&name, form.value.trim(), &terms, &actor)
    })
    .await?;
    Ok(Redirect::to(&back).into_response())
}

/// The remove form.
#[derive(Debug, Deserialize)]
pub(crate) struct RemoveForm {
    csrf: String,
    value: String,
    back: Option<String>,
}

/// `POST /console/lists/{name}/remove`.
pub(crate) async fn remove(
    ui: Ui,
    Path(name): Path<String>,
    Form(form): Form<RemoveForm>,
) -> Reply {
    ui.verify_csrf(&form.csrf)?;
    ui.require(Scope::ListsWrite)?;
    let back = back_to(form.back.as_deref(), &name);
    let actor = ui.principal.actor.clone();
    ui.run(move |app| app.lists.remove_entry(&name, &form.value, &actor))
        .await?;
    Ok(Redirect::to(&back).into_response())
}

/// The largest text the console imports at once (8 MiB, some 500,000 addresses); larger
/// files go through the API (`POST /v1/lists/{name}/import`) or the CLI.
pub(crate) const IMPORT_MAX_BYTES: usize = 8 * 1024 * 1024;

/// The import form: the file's text (read by the console script from the file input), the
/// reason and the lifetime in hours.
#[derive(Debug, Deserialize)]
pub(crate) struct ImportForm {
    csrf: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    hours: String,
}

/// `POST /console/lists/{name}/import` (htmx): imports through the same task service as the
/// API. A small file is answered at once with its counts and refused lines; a large one
/// becomes a task whose progress the answer follows.
pub(crate) async fn import(
    ui: Ui,
    Path(name): Path<String>,
    Form(form): Form<ImportForm>,
) -> Reply {
    ui.verify_csrf(&form.csrf)?;
    ui.require(Scope::ListsWrite)?;
    if form.text.len() > IMPORT_MAX_BYTES {
        return Err(ui.fail(
            crate::error::AppError::new(
                shopguard_api_types::ErrorCode::InvalidParameter,
                ui.text("import.too_large"),
            )
            .with_field("text"),
        ));
    }
    let ttl_seconds = ttl_of(&ui, &form.hours)?;
    let reason = match form.reason.trim() {
        "" => "bulk import".to_owned(),
        reason => reason.to_owned(),
    };
    let actor = ui.principal.actor.clone();
    let list = name.clone();
    let answer = ui
        .run(move |app| {
            let terms = EntryTerms {
                ttl_seconds,
                reason,
                force: false,
            };
            app.tasks
                .import_list(&app.lists, &list, &form.text, &terms, &actor)
        })
        .await?;
    match answer {
        ImportAnswer::Done(outcome) => {
            let invalid: Vec<_> = outcome
                .invalid
                .into_iter()
                .map(|problem| context! { line => problem.line, message => problem.message })
                .collect();
            ui.page(
                "list_import.html",
                context! {
                    name => name,
                    done => true,
                    added => outcome.added,
                    invalid_count => outcome.invalid_count,
                    invalid => invalid,
                },
            )
        }
        ImportAnswer::Queued(task) => import_task_page(&ui, &name, task),
    }
}

/// A queued or running import task as the list page shows it: polled every second until it
/// ends, then its counts.
fn import_task_page(ui: &Ui, name: &str, task: shopguard_storage::tasks::TaskRecord) -> Reply {
    let ended = task.finished_at_ms.is_some();
    let result = task.result.unwrap_or(serde_json::Value::Null);
    ui.page(
        "list_import.html",
        context! {
            name => name,
            done => false,
            task => context! {
                id => task.id,
                status => task.status.as_str(),
                done => task.done,
                total => task.total,
                percent => (task.done * 100).checked_div(task.total).unwrap_or(0),
                ended => ended,
                error => task.error,
            },
            added => result.get("added").and_then(serde_json::Value::as_u64),
            invalid_count => result.get("invalid_count").and_then(serde_json::Value::as_u64),
            invalid => minijinja::Value::from_serialize(result.get("invalid").cloned().unwrap_or_default()),
        },
    )
}

/// `GET /console/lists/{name}/import/{task}` (htmx, every second while it runs): the import
/// task's progress, from the same task service as `GET /v1/tasks/{id}` (its submitter or an
/// administrator may see it).
pub(crate) async fn import_progress(ui: Ui, Path((name, id)): Path<(String, String)>) -> Reply {
    ui.require(Scope::ListsWrite)?;
    let principal = ui.principal.clone();
    let task = ui.run(move |app| app.tasks.get(&id, &principal)).await?;
    import_task_page(&ui, &name, task)
}
