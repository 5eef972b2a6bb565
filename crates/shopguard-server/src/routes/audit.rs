//! `GET /v1/audit/entries`, `GET /v1/audit/entries/{seq}`, `GET /v1/audit/consistency`,
//! `GET|POST /v1/audit/checkpoints`, `GET /v1/audit/retention`.

use axum::extract::State;
use axum::Json;
use shopguard_api_types::{
    ApiError, AuditEntriesQuery, AuditEntryList, Checkpoint, CheckpointList, ConsistencyProof,
    ConsistencyQuery, ErrorCode, InclusionProof, InclusionQuery, RecordClass, RetentionReport,
    RetentionRule,
};
use shopguard_core::audit::{hex_encode, key_id};
use shopguard_storage::audit_log::AuditQuery;

use crate::error::{AppError, AppResult};
use crate::extract::{page_limit, Admin, AuditRead, Caller, Params, PathParams};
use crate::state::AppState;

/// Audit entries, newest first, filtered.
#[utoipa::path(get, path = "/v1/audit/entries", tag = "audit", params(AuditEntriesQuery),
    responses((status = 200, body = AuditEntryList), (status = 400, body = ApiError)), security(("api_key" = ["audit:read"])))]
pub async fn list_entries(
    State(state): State<AppState>,
    _caller: Caller<AuditRead>,
    Params(query): Params<AuditEntriesQuery>,
) -> AppResult<Json<AuditEntryList>> {
    if query.before_seq.is_some_and(|seq| seq > i64::MAX as u64) {
        return Err(AppError::new(
            ErrorCode::InvalidParameter,
            "before_seq: larger than any sequence number (the maximum is 2^63 - 1)",
        )
        .with_field("before_seq"));
    }
    let query = AuditQuery {
        actor: query.actor,
        action: query.action,
        object: query.object,
        class: query.class,
        from_ms: query.from_ms,
        to_ms: query.to_ms,
        before_seq: query.before_seq,
        limit: page_limit(query.limit)?,
    };
    let (entries, tree_size) = state
        .run(move |app| Ok((app.audit.query(&query)?, app.audit.size())))
        .await?;
    Ok(Json(AuditEntryList { entries, tree_size }))
}

/// One entry with the proof that it is in the tree of `tree_size` entries (by default the
/// whole log).
#[utoipa::path(get, path = "/v1/audit/entries/{seq}", tag = "audit", params(("seq" = u64, Path, description = "the entry's sequence number"), InclusionQuery),
    responses((status = 200, body = InclusionProof), (status = 404, body = ApiError)), security(("api_key" = ["audit:read"])))]
pub async fn get_entry(
    State(state): State<AppState>,
    _caller: Caller<AuditRead>,
    PathParams(seq): PathParams<u64>,
    Params(query): Params<InclusionQuery>,
) -> AppResult<Json<InclusionProof>> {
    let tree_size = match query.tree_size {
        Some(size) => size,
        None => state.run(|app| Ok(app.audit.size())).await?,
    };
    if seq >= tree_size {
        return Err(AppError::new(
            ErrorCode::NotFound,
            format!("entry {seq} is not in a tree of {tree_size} entries"),
        ));
    }
    let (entry, tree_size, proof, root) = state
        .run(move |app| {
            let (entry, size, proof) = app.audit.entry_with_proof(seq, Some(tree_size))?;
            Ok((entry, size, proof, app.audit.root(size)?))
        })
        .await?;
    let leaf = entry
        .leaf_hash()
        .ok_or_else(|| AppError::internal("stored commitment is malformed"))?;
    Ok(Json(InclusionProof {
        leaf_hash: hex_encode(&leaf),
        root: hex_encode(&root),
        proof: proof.iter().map(|hash| hex_encode(hash)).collect(),
        entry,
        tree_size,
    }))
}

/// The proof that the tree of `from` entries (a checkpoint an auditor holds) is a prefix of
/// the tree of `to` entries.
#[utoipa::path(get, path = "/v1/audit/consistency", tag = "audit", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyProof), (status = 404, body = ApiError)), security(("api_key" = ["audit:read"])))]
pub async fn consistency(
    State(state): State<AppState>,
    _caller: Caller<AuditRead>,
    Params(query): Params<ConsistencyQuery>,
) -> AppResult<Json<ConsistencyProof>> {
    let to = match query.to {
        Some(to) => to,
        None => state.run(|app| Ok(app.audit.size())).await?,
    };
    if query.from > to {
        // A larger tree is never a prefix of a smaller one: there is no such proof.
        return Err(AppError::new(
            ErrorCode::NotFound,
            format!(
                "there is no consistency proof from a tree of {} entries to a smaller one of {to}",
                query.from
            ),
        )
        .with_field("from"));
    }
    let from = query.from;
    let (proof, from_root, to_root) = state
        .run(move |app| {
            Ok((
                app.audit.consistency(from, to)?,
                app.audit.root(from)?,
                app.audit.root(to)?,
            ))
        })
        .await?;
    Ok(Json(ConsistencyProof {
        proof: proof.iter().map(|hash| hex_encode(hash)).collect(),
        from_root: hex_encode(&from_root),
        to_root: hex_encode(&to_root),
        from,
        to,
    }))
}

/// Every signed checkpoint, oldest first, and the key that signs them.
#[utoipa::path(get, path = "/v1/audit/checkpoints", tag = "audit",
    responses((status = 200, body = CheckpointList)), security(("api_key" = ["audit:read"])))]
pub async fn list_checkpoints(
    State(state): State<AppState>,
    _caller: Caller<AuditRead>,
) -> AppResult<Json<CheckpointList>> {
    let (checkpoints, public_key) = state
        .run(|app| Ok((app.audit.checkpoints()?, app.audit.public_key()?)))
        .await?;
    Ok(Json(CheckpointList {
        checkpoints,
        public_key: hex_encode(public_key.as_bytes()),
        key_id: key_id(&public_key),
    }))
}

/// Signs a checkpoint of the log as it is now.
#[utoipa::path(post, path = "/v1/audit/checkpoints", tag = "audit",
    responses((status = 200, body = Checkpoint)), security(("api_key" = ["admin"])))]
pub async fn create_checkpoint(
    State(state): State<AppState>,
    caller: Caller<Admin>,
) -> AppResult<Json<Checkpoint>> {
    let actor = caller.actor().clone();
    let checkpoint = state.run(move |app| app.audit.checkpoint(&actor)).await?;
    Ok(Json(checkpoint))
}

/// What is kept, and for how long (DB33/T 978-2015 §8.4.2).
#[utoipa::path(get, path = "/v1/audit/retention", tag = "audit",
    responses((status = 200, body = RetentionReport)), security(("api_key" = ["audit:read"])))]
pub async fn retention(
    State(state): State<AppState>,
    _caller: Caller<AuditRead>,
) -> AppResult<Json<RetentionReport>> {
    let audit = retention_rules(&state);
    Ok(Json(RetentionReport {
        audit,
        decision_days: state.config.decision_retention_days,
        audit_entries: state.run(|app| Ok(app.audit.size())).await?,
    }))
}

/// Each record class's retention and its basis, as the retention report gives them (the API
/// and the console's audit page both show this).
pub(crate) fn retention_rules(state: &AppState) -> Vec<RetentionRule> {
    RecordClass::ALL
        .into_iter()
        .map(|class| RetentionRule {
            class,
            days: state.app.audit.retention_days(class),
            basis: if class.kept_long_term() {
                "registration and login records are kept long-term (DB33/T 978-2015 §8.4.2 d)".into()
            } else if state.config.audit_retention_days_by_class.contains_key(&class) {
                "kept at least one year (DB33/T 978-2015 §8.4.2 d); audit_retention_days_by_class".into()
            } else {
                "other records are kept at least one year (DB33/T 978-2015 §8.4.2 d); audit_retention_days".into()
            },
        })
        .collect()
}
