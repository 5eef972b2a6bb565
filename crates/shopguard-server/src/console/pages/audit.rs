//! The audit log: entries by actor, action, object and time; verifying the whole log from
//! the browser (the tree, every checkpoint's signature, purges against their records).

use axum::extract::{Path, Query};
use axum::Form;
use minijinja::context;
use serde::{Deserialize, Serialize};
use shopguard_api_types::ErrorCode;
use shopguard_core::audit::hex_encode;
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
    let (entries, size, mut checkpoints) = ui
        .run(move |app| {
            Ok((
                app.audit.query(&query)?,
                app.audit.size(),
                app.audit.checkpoints()?,
            ))
        })
        .await?;
    let skip = checkpoints.len().saturating_sub(CHECKPOINTS_SHOWN);
    checkpoints.drain(..skip);
    let checkpoints: Vec<_> = checkpoints.iter().rev().map(checkpoint_context).collect();
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
        context! {
            filter => filter,
            entries => entries,
            older => older,
            size => size,
            checkpoints => checkpoints,
            retention => retention(&ui),
        },
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

/// Checkpoints offered in the consistency form (the most recent ones).
const CHECKPOINTS_SHOWN: usize = 200;

/// `GET /console/audit/retention`-like part of the audit page: how long each class of record
/// is kept, as the API's retention report says.
fn retention(ui: &Ui) -> minijinja::Value {
    let rules: Vec<_> = crate::routes::audit::retention_rules(&ui.state)
        .into_iter()
        .map(|rule| {
            context! {
                class => rule.class.as_str(),
                days => rule.days,
                long_term => rule.class.kept_long_term(),
                basis => rule.basis,
            }
        })
        .collect();
    context! {
        rules => rules,
        decision_days => ui.state.config.decision_retention_days,
    }
}

/// A checkpoint as the browser needs it to check its signature.
fn checkpoint_context(checkpoint: &shopguard_core::audit::Checkpoint) -> minijinja::Value {
    context! {
        size => checkpoint.size,
        root => checkpoint.root,
        at_ms => checkpoint.at_ms,
        key_id => checkpoint.key_id,
        signature => checkpoint.signature,
    }
}

/// `GET /console/audit/entries/{seq}/proof` (htmx): the entry's leaf data, its inclusion proof
/// in the tree of the latest signed checkpoint, that checkpoint and the key that signs them,
/// as data attributes; the console script does the hashing and the signature check, so the
/// verdict does not rest on the server's word (decision 0046).
pub(crate) async fn proof(ui: Ui, Path(seq): Path<u64>) -> Reply {
    ui.require(Scope::AuditRead)?;
    let (checkpoints, public_key) = ui
        .run(|app| Ok((app.audit.checkpoints()?, app.audit.public_key()?)))
        .await?;
    let public_key = hex_encode(public_key.as_bytes());
    let Some(checkpoint) = checkpoints.last().filter(|last| last.size > seq).cloned() else {
        let size = ui.run(|app| Ok(app.audit.size())).await?;
        if seq >= size {
            return Err(ui.fail(AppError::new(
                ErrorCode::NotFound,
                format!("entry {seq} is not in a tree of {size} entries"),
            )));
        }
        return ui.page(
            "audit_proof.html",
            context! { seq => seq, covered => false },
        );
    };
    let size = checkpoint.size;
    let (entry, _, path) = ui
        .run(move |app| app.audit.entry_with_proof(seq, Some(size)))
        .await?;
    let path: Vec<String> = path.iter().map(|hash| hex_encode(hash)).collect();
    ui.page(
        "audit_proof.html",
        context! {
            seq => seq,
            covered => true,
            at_ms => entry.at_ms,
            class => entry.class.as_str(),
            class_code => entry.class.code(),
            commitment => entry.commitment,
            proof => path.join(","),
            checkpoint => checkpoint_context(&checkpoint),
            public_key => public_key,
        },
    )
}

/// The two checkpoints an auditor compares.
#[derive(Debug, Deserialize)]
pub(crate) struct ConsistencyForm {
    from: u64,
    to: u64,
}

/// `GET /console/audit/consistency?from=&to=` (htmx): two signed checkpoints (named by their
/// sizes) and the proof that the first tree is a prefix of the second, as data attributes for
/// the console script to check.
pub(crate) async fn consistency(ui: Ui, Query(form): Query<ConsistencyForm>) -> Reply {
    ui.require(Scope::AuditRead)?;
    let (from, to) = if form.from <= form.to {
        (form.from, form.to)
    } else {
        (form.to, form.from)
    };
    let (checkpoints, public_key) = ui
        .run(|app| Ok((app.audit.checkpoints()?, app.audit.public_key()?)))
        .await?;
    let find = |size: u64| {
        checkpoints
            .iter()
            .rev()
            .find(|checkpoint| checkpoint.size == size)
            .cloned()
            .ok_or_else(|| {
                ui.fail(
                    AppError::new(
                        ErrorCode::NotFound,
                        format!("no signed checkpoint of {size} entries"),
                    )
                    .with_field("from"),
                )
            })
    };
    let (first, second) = (find(from)?, find(to)?);
    let path = ui.run(move |app| app.audit.consistency(from, to)).await?;
    let path: Vec<String> = path.iter().map(|hash| hex_encode(hash)).collect();
    ui.page(
        "audit_consistency.html",
        context! {
            first => checkpoint_context(&first),
            second => checkpoint_context(&second),
            proof => path.join(","),
            public_key => hex_encode(public_key.as_bytes()),
        },
    )
}
