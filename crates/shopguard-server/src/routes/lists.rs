//! `/v1/lists`: block, allow and watch lists; thin callers of the list service.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use shopguard_api_types::{
    AddListEntryRequest, ApiError, CreateListRequest, ImportProblem, ImportQuery, ImportReport,
    ListEntriesQuery, ListEntry, ListEntryPage, ListIndex, ListInfo, RemoveListEntryQuery, Task,
};
use shopguard_app::lists::{personal_class, EntryTerms, ImportOutcome, ListSummary};
use shopguard_app::tasks::ImportAnswer;
use shopguard_storage::ListEntryRecord;

use axum::response::{IntoResponse, Response};

use crate::error::AppResult;
use crate::extract::{page_limit, Caller, JsonBody, ListsWrite, Params, PathParams, TextBody};
use crate::routes::tasks::task_view;
use crate::state::AppState;

fn entry(record: ListEntryRecord) -> ListEntry {
    ListEntry {
        value: record.value,
        expires_at_ms: record.expires_at_ms,
        added_by: record.added_by,
        reason: record.reason,
        created_at_ms: record.created_at_ms,
    }
}

fn info(summary: ListSummary) -> ListInfo {
    ListInfo {
        name: summary.name,
        kind: summary.kind,
        description: summary.description,
        entries: summary.entries,
    }
}

/// Every list with its size.
#[utoipa::path(get, path = "/v1/lists", tag = "lists", responses((status = 200, body = ListIndex)), security(("api_key" = ["lists:write"])))]
pub async fn list_lists(
    State(state): State<AppState>,
    _caller: Caller<ListsWrite>,
) -> AppResult<Json<ListIndex>> {
    let summaries = state.run(|app| app.lists.summaries()).await?;
    Ok(Json(ListIndex {
        lists: summaries.into_iter().map(info).collect(),
    }))
}

/// Creates a list (idempotent for the same kind).
#[utoipa::path(post, path = "/v1/lists", tag = "lists", request_body = CreateListRequest,
    responses((status = 201, body = ListInfo), (status = 400, body = ApiError), (status = 409, body = ApiError)), security(("api_key" = ["lists:write"])))]
pub async fn create_list(
    State(state): State<AppState>,
    caller: Caller<ListsWrite>,
    JsonBody(request): JsonBody<CreateListRequest>,
) -> AppResult<(StatusCode, Json<ListInfo>)> {
    let actor = caller.actor().clone();
    let created = state
        .run(move |app| {
            app.lists
                .create(&request.name, request.kind, &request.description, &actor)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(info(created))))
}

/// Entries of a list, by value, a page at a time.
#[utoipa::path(get, path = "/v1/lists/{name}/entries", tag = "lists", params(("name" = String, Path, description = "list name"), ListEntriesQuery),
    responses((status = 200, body = ListEntryPage), (status = 404, body = ApiError)), security(("api_key" = ["lists:write"])))]
pub async fn list_entries(
    State(state): State<AppState>,
    caller: Caller<ListsWrite>,
    PathParams(name): PathParams<String>,
    Params(query): Params<ListEntriesQuery>,
) -> AppResult<Json<ListEntryPage>> {
    let principal = caller.principal.clone();
    let limit = page_limit(query.limit)?;
    let page = state
        .run(move |app| {
            // Email and phone lists hold personal data: masked unless unmasking is allowed.
            let personal = personal_class(app.lists.find(&name)?.kind()).is_some();
            let unmasked = !personal
                || app
                    .audit
                    .unmask_allowed(query.unmask, &principal, format!("list:{name}"))?;

            app.lists
                .entries(&name, query.after.as_deref(), limit, unmasked)
        })
        .await?;
    Ok(Json(ListEntryPage {
        entries: page.entries.into_iter().map(entry).collect(),
        next_after: page.next_after,
    }))
}

/// Adds or refreshes one entry.
#[utoipa::path(post, path = "/v1/lists/{name}/entries", tag = "lists", params(("name" = String, Path, description = "list name")), request_body = AddListEntryRequest,
    responses((status = 201, body = ListEntry), (status = 400, body = ApiError), (status = 404, body = ApiError)), security(("api_key" = ["lists:write"])))]
pub async fn add_entry(
    State(state): State<AppState>,
    caller: Caller<ListsWrite>,
    PathParams(name): PathParams<String>,
    JsonBody(request): JsonBody<AddListEntryRequest>,
) -> AppResult<(StatusCode, Json<ListEntry>)> {
    let actor = caller.actor().clone();
    let added = state
        .run(move |app| {
            let terms = EntryTerms {
                ttl_seconds: request.ttl_seconds,
                reason: request.reason,
                force: request.force,
            };
            app.lists.add_entry(&name, &request.value, &terms, &actor)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(entry(added))))
}

/// Removes one entry.
#[utoipa::path(delete, path = "/v1/lists/{name}/entries", tag = "lists", params(("name" = String, Path, description = "list name"), RemoveListEntryQuery),
    responses((status = 204), (status = 404, body = ApiError)), security(("api_key" = ["lists:write"])))]
pub async fn remove_entry(
    State(state): State<AppState>,
    caller: Caller<ListsWrite>,
    PathParams(name): PathParams<String>,
    Params(query): Params<RemoveListEntryQuery>,
) -> AppResult<StatusCode> {
    let actor = caller.actor().clone();
    state
        .run(move |app| app.lists.remove_entry(&name, &query.value, &actor))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a finished import did, as the API reports it.
fn import_report(outcome: ImportOutcome) -> ImportReport {
    ImportReport {
        added: outcome.added,
        invalid_count: outcome.invalid_count,
        invalid: outcome
            .invalid
            .into_iter()
            .map(|problem| ImportProblem {
                line: problem.line,
                message: problem.message,
            })
            .collect(),
    }
}

/// Imports entries from text: one value per line; blank lines and `#` comments are skipped.
/// Valid lines are added even when others are refused; the report lists the refused ones.
/// Up to 100,000 lines are imported at once (`200`); a larger text is queued as a task
/// (`202`, poll `GET /v1/tasks/{id}`), whose result has the shape of an import report.
#[utoipa::path(post, path = "/v1/lists/{name}/import", tag = "lists", params(("name" = String, Path, description = "list name"), ImportQuery),
    request_body(content = String, content_type = "text/plain"),
    responses((status = 200, body = ImportReport), (status = 202, body = Task), (status = 404, body = ApiError)), security(("api_key" = ["lists:write"])))]
pub async fn import_entries(
    State(state): State<AppState>,
    caller: Caller<ListsWrite>,
    PathParams(name): PathParams<String>,
    Params(query): Params<ImportQuery>,
    TextBody(text): TextBody,
) -> AppResult<Response> {
    let actor = caller.actor().clone();
    let terms = EntryTerms {
        ttl_seconds: query.ttl_seconds,
        reason: query.reason.unwrap_or_else(|| "bulk import".to_owned()),
        force: query.force.unwrap_or(false),
    };
    let answer = state
        .run(move |app| {
            app.tasks
                .import_list(&app.lists, &name, &text, &terms, &actor)
        })
        .await?;
    Ok(match answer {
        ImportAnswer::Done(outcome) => Json(import_report(outcome)).into_response(),
        ImportAnswer::Queued(task) => (StatusCode::ACCEPTED, Json(task_view(task))).into_response(),
    })
}
