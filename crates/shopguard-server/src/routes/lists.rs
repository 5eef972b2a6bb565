//! `/v1/lists`: block, allow and watch lists.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use shopguard_api_types::{
    AddListEntryRequest, ApiError, CreateListRequest, ErrorCode, ImportProblem, ImportQuery,
    ImportReport, ListEntriesQuery, ListEntry, ListEntryPage, ListIndex, ListInfo,
    RemoveListEntryQuery,
};
use shopguard_core::lists::{List, ListError, NEVER};
use shopguard_storage::{ListEntryRecord, ListRecord};
use std::sync::Arc;

use crate::error::{AppError, AppResult};
use crate::extract::{Caller, JsonBody, ListsWrite, Params, TextBody};
use crate::state::{now_ms, AppState};
use shopguard_core::audit::RecordClass;
use shopguard_core::privacy::DataClass;
use shopguard_core::ListKind;

/// Entries written to storage per transaction during an import.
const IMPORT_CHUNK: usize = 50_000;

fn list_error(error: ListError) -> AppError {
    match error {
        ListError::NoSuchList(_) => AppError::new(ErrorCode::NotFound, error.to_string()),
        ListError::KindConflict { .. } => AppError::new(ErrorCode::Conflict, error.to_string()),
        _ => AppError::new(ErrorCode::InvalidListValue, error.to_string()),
    }
}

fn find_list(state: &AppState, name: &str) -> AppResult<Arc<List>> {
    state
        .engine
        .lists()
        .get(name)
        .ok_or_else(|| list_error(ListError::NoSuchList(name.to_owned())))
}

fn expiry(now: i64, ttl_seconds: Option<u64>) -> AppResult<Option<i64>> {
    ttl_seconds
        .map(|ttl| {
            i64::try_from(ttl)
                .ok()
                .and_then(|ttl| ttl.checked_mul(1_000))
                .and_then(|ttl| now.checked_add(ttl))
                .ok_or_else(|| {
                    AppError::new(ErrorCode::InvalidParameter, "ttl_seconds: too large")
                        .with_field("ttl_seconds")
                })
        })
        .transpose()
}

/// How a list value appears in the audit log: as it is, unless the list holds personal data
/// (emails, phones); then masked, with the SHA-256 of the value so that an auditor holding a
/// value can confirm it.
fn audit_value(kind: ListKind, value: &str) -> serde_json::Value {
    let class = match kind {
        ListKind::Email => DataClass::Email,
        ListKind::Phone => DataClass::Phone,
        _ => return serde_json::Value::String(value.to_owned()),
    };
    serde_json::json!({
        "masked": class.mask(value),
        "sha256": hex_sha256(value),
    })
}

fn hex_sha256(value: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(value.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn entry(record: ListEntryRecord) -> ListEntry {
    ListEntry {
        value: record.value,
        expires_at_ms: record.expires_at_ms,
        added_by: record.added_by,
        reason: record.reason,
        created_at_ms: record.created_at_ms,
    }
}

/// Every list with its size.
#[utoipa::path(get, path = "/v1/lists", tag = "lists", responses((status = 200, body = ListIndex)), security(("api_key" = ["lists:write"])))]
pub async fn list_lists(
    State(state): State<AppState>,
    _caller: Caller<ListsWrite>,
) -> AppResult<Json<ListIndex>> {
    let store = state.store.clone();
    let stored = tokio::task::spawn_blocking(move || store.lists()).await??;
    let lists = state
        .engine
        .lists()
        .all()
        .into_iter()
        .map(|list| ListInfo {
            description: stored
                .iter()
                .find(|record| record.name == list.name())
                .map(|record| record.description.clone())
                .unwrap_or_default(),
            name: list.name().to_owned(),
            kind: list.kind(),
            entries: list.len(),
        })
        .collect();
    Ok(Json(ListIndex { lists }))
}

/// Creates a list (idempotent for the same kind).
#[utoipa::path(post, path = "/v1/lists", tag = "lists", request_body = CreateListRequest,
    responses((status = 201, body = ListInfo), (status = 400, body = ApiError), (status = 409, body = ApiError)), security(("api_key" = ["lists:write"])))]
pub async fn create_list(
    State(state): State<AppState>,
    caller: Caller<ListsWrite>,
    JsonBody(request): JsonBody<CreateListRequest>,
) -> AppResult<(StatusCode, Json<ListInfo>)> {
    let list = state
        .engine
        .lists()
        .ensure(&request.name, request.kind)
        .map_err(list_error)?;
    let store = state.store.clone();
    let record = ListRecord {
        name: request.name.clone(),
        kind: request.kind,
        description: request.description.clone(),
        created_at_ms: now_ms(),
    };
    tokio::task::spawn_blocking(move || store.ensure_list(&record)).await??;
    state
        .record_audit(
            RecordClass::ListChange,
            caller.audit_actor(),
            "list.create",
            format!("list:{}", request.name),
            serde_json::json!({ "kind": request.kind.as_str() }),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ListInfo {
            name: request.name,
            kind: request.kind,
            description: request.description,
            entries: list.len(),
        }),
    ))
}

/// Entries of a list, by value, a page at a time.
#[utoipa::path(get, path = "/v1/lists/{name}/entries", tag = "lists", params(("name" = String, Path, description = "list name"), ListEntriesQuery),
    responses((status = 200, body = ListEntryPage), (status = 404, body = ApiError)), security(("api_key" = ["lists:write"])))]
pub async fn list_entries(
    State(state): State<AppState>,
    caller: Caller<ListsWrite>,
    Path(name): Path<String>,
    Params(query): Params<ListEntriesQuery>,
) -> AppResult<Json<ListEntryPage>> {
    let list = find_list(&state, &name)?;
    // Email and phone lists hold personal data: masked unless unmasking is allowed.
    let personal = match list.kind() {
        ListKind::Email => Some(DataClass::Email),
        ListKind::Phone => Some(DataClass::Phone),
        _ => None,
    };
    let unmasked = match personal {
        Some(_) => {
            state
                .unmask_allowed(query.unmask, &caller.principal, format!("list:{name}"))
                .await?
        }
        None => true,
    };
    let limit = query.limit.unwrap_or(100).clamp(1, 1_000);
    let store = state.store.clone();
    let records = tokio::task::spawn_blocking(move || {
        store.list_entries(&name, query.after.as_deref(), limit)
    })
    .await??;
    let next_after = (records.len() == limit as usize)
        .then(|| records.last().map(|record| record.value.clone()))
        .flatten();
    let mask = |mut shown: ListEntry| {
        if let (Some(class), false) = (personal, unmasked) {
            shown.value = class.mask(&shown.value);
        }
        shown
    };
    Ok(Json(ListEntryPage {
        entries: records.into_iter().map(entry).map(mask).collect(),
        next_after,
    }))
}

/// Adds or refreshes one entry.
#[utoipa::path(post, path = "/v1/lists/{name}/entries", tag = "lists", params(("name" = String, Path, description = "list name")), request_body = AddListEntryRequest,
    responses((status = 201, body = ListEntry), (status = 400, body = ApiError), (status = 404, body = ApiError)), security(("api_key" = ["lists:write"])))]
pub async fn add_entry(
    State(state): State<AppState>,
    caller: Caller<ListsWrite>,
    Path(name): Path<String>,
    JsonBody(request): JsonBody<AddListEntryRequest>,
) -> AppResult<(StatusCode, Json<ListEntry>)> {
    let list = find_list(&state, &name)?;
    let now = now_ms();
    let expires_at_ms = expiry(now, request.ttl_seconds)?;
    let key = list.kind().normalize(&request.value).map_err(list_error)?;
    let record = ListEntryRecord {
        value: key.to_string(),
        expires_at_ms,
        added_by: caller.actor(),
        reason: request.reason,
        created_at_ms: now,
    };
    let store = state.store.clone();
    let stored = record.clone();
    let object = format!("list:{name}");
    tokio::task::spawn_blocking(move || store.upsert_list_entries(&name, &[stored])).await??;
    list.insert_many([(key, expires_at_ms.unwrap_or(NEVER))]);
    state
        .record_audit(
            RecordClass::ListChange,
            caller.audit_actor(),
            "list.entry.add",
            object,
            serde_json::json!({ "value": audit_value(list.kind(), &record.value), "expires_at_ms": expires_at_ms, "reason": record.reason }),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(entry(record))))
}

/// Removes one entry.
#[utoipa::path(delete, path = "/v1/lists/{name}/entries", tag = "lists", params(("name" = String, Path, description = "list name"), RemoveListEntryQuery),
    responses((status = 204), (status = 404, body = ApiError)), security(("api_key" = ["lists:write"])))]
pub async fn remove_entry(
    State(state): State<AppState>,
    caller: Caller<ListsWrite>,
    Path(name): Path<String>,
    Params(query): Params<RemoveListEntryQuery>,
) -> AppResult<StatusCode> {
    let list = find_list(&state, &name)?;
    let key = list.kind().normalize(&query.value).map_err(list_error)?;
    let store = state.store.clone();
    let value = key.to_string();
    let object = format!("list:{name}");
    let removed_value = value.clone();
    let stored =
        tokio::task::spawn_blocking(move || store.remove_list_entry(&name, &value)).await??;
    let in_memory = list.remove(&query.value).map_err(list_error)?;
    if stored || in_memory {
        state
            .record_audit(
                RecordClass::ListChange,
                caller.audit_actor(),
                "list.entry.remove",
                object,
                serde_json::json!({ "value": audit_value(list.kind(), &removed_value) }),
            )
            .await?;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::new(
            ErrorCode::NotFound,
            format!("'{}' is not in the list", query.value),
        ))
    }
}

/// Imports entries from text: one value per line; blank lines and `#` comments are skipped.
/// Valid lines are added even when others are refused; the report lists the refused ones.
#[utoipa::path(post, path = "/v1/lists/{name}/import", tag = "lists", params(("name" = String, Path, description = "list name"), ImportQuery),
    request_body(content = String, content_type = "text/plain"),
    responses((status = 200, body = ImportReport), (status = 404, body = ApiError)), security(("api_key" = ["lists:write"])))]
pub async fn import_entries(
    State(state): State<AppState>,
    caller: Caller<ListsWrite>,
    Path(name): Path<String>,
    Params(query): Params<ImportQuery>,
    TextBody(text): TextBody,
) -> AppResult<Json<ImportReport>> {
    let list = find_list(&state, &name)?;
    let now = now_ms();
    let expires_at_ms = expiry(now, query.ttl_seconds)?;
    let reason = query.reason.unwrap_or_else(|| "bulk import".to_owned());
    let actor = caller.actor();
    let store = state.store.clone();
    let object = format!("list:{name}");
    let report = tokio::task::spawn_blocking(move || -> AppResult<ImportReport> {
        let mut keys = Vec::new();
        let mut invalid = Vec::new();
        let mut invalid_count = 0;
        for (index, line) in text.lines().enumerate() {
            let value = line.split('#').next().unwrap_or("").trim();
            if value.is_empty() {
                continue;
            }
            match list.kind().normalize(value) {
                Ok(key) => keys.push(key),
                Err(error) => {
                    invalid_count += 1;
                    if invalid.len() < 100 {
                        invalid.push(ImportProblem {
                            line: index + 1,
                            message: error.to_string(),
                        });
                    }
                }
            }
        }
        for chunk in keys.chunks(IMPORT_CHUNK) {
            let records: Vec<ListEntryRecord> = chunk
                .iter()
                .map(|key| ListEntryRecord {
                    value: key.to_string(),
                    expires_at_ms,
                    added_by: actor.clone(),
                    reason: reason.clone(),
                    created_at_ms: now,
                })
                .collect();
            store.upsert_list_entries(&name, &records)?;
        }
        let added = keys.len();
        list.insert_many(
            keys.into_iter()
                .map(|key| (key, expires_at_ms.unwrap_or(NEVER))),
        );
        Ok(ImportReport {
            added,
            invalid_count,
            invalid,
        })
    })
    .await??;
    state
        .record_audit(
            RecordClass::ListChange,
            caller.audit_actor(),
            "list.import",
            object,
            serde_json::json!({ "added": report.added, "invalid": report.invalid_count }),
        )
        .await?;
    Ok(Json(report))
}
