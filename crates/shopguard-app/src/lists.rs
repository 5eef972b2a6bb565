//! Lists: create, add and remove entries, import, page through entries.
//!
//! Order of every change: storage (entries and the audit entry in one transaction), the
//! audit log settled, then the engine's in-memory list.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use shopguard_core::audit::RecordClass;
use shopguard_core::lists::{EntryBounds, List, ListError, ListKey, NEVER};
use shopguard_core::privacy::DataClass;
use shopguard_core::{Engine, ListKind};
use shopguard_storage::{ListEntryRecord, ListRecord, Store};

use crate::actor::Actor;
use crate::audit::AuditService;
use crate::clock::now_ms;
use crate::error::{ServiceError, ServiceResult};

/// Entries written to storage per transaction during an import.
const IMPORT_CHUNK: usize = 50_000;
/// Refused lines reported in detail by an import.
const IMPORT_PROBLEMS_SHOWN: usize = 100;

/// A list with its size and description.
#[derive(Clone, Debug, PartialEq)]
pub struct ListSummary {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: ListKind,
    /// Description.
    pub description: String,
    /// Entries held in memory now.
    pub entries: usize,
}

/// A page of entries.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryPage {
    /// The entries, by value; personal values masked unless unmasking was allowed.
    pub entries: Vec<ListEntryRecord>,
    /// Where the next page starts, when there may be one.
    pub next_after: Option<String>,
}

/// A refused line of an import.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportProblem {
    /// Line number, from 1.
    pub line: usize,
    /// Why.
    pub message: String,
}

/// What an import did.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportOutcome {
    /// Entries added or refreshed.
    pub added: usize,
    /// Lines refused.
    pub invalid_count: usize,
    /// The first refused lines.
    pub invalid: Vec<ImportProblem>,
}

/// Changes of other nodes applied per read of the change feed.
const CHANGES_PER_READ: u32 = 100_000;

/// The list service.
pub struct ListService {
    engine: Arc<Engine>,
    store: Arc<dyn Store>,
    audit: Arc<AuditService>,
    /// The last change of the feed this node's memory reflects.
    followed: AtomicI64,
    /// What people may add.
    bounds: EntryBounds,
}

/// How entries are added: for how long, why, and whether a range wider than the node's
/// bounds (`list_min_ipv4_prefix`, `list_min_ipv6_prefix`) is meant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryTerms {
    /// Lifetime in seconds; forever when absent.
    pub ttl_seconds: Option<u64>,
    /// Why they are listed.
    pub reason: String,
    /// Add ranges wider than the bounds all the same.
    pub force: bool,
}

impl EntryTerms {
    /// Terms with a reason, no lifetime and no forcing.
    pub fn because(reason: impl Into<String>) -> Self {
        EntryTerms {
            reason: reason.into(),
            ..EntryTerms::default()
        }
    }
}

impl std::fmt::Debug for ListService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListService").finish_non_exhaustive()
    }
}

fn list_error(error: ListError) -> ServiceError {
    match error {
        ListError::NoSuchList(_) => ServiceError::NotFound(error.to_string()),
        ListError::KindConflict { .. } => ServiceError::Conflict(error.to_string()),
        _ => ServiceError::InvalidListValue(error.to_string()),
    }
}

/// The personal-data class of a list's values, if they are personal (emails, phones).
pub fn personal_class(kind: ListKind) -> Option<DataClass> {
    match kind {
        ListKind::Email => Some(DataClass::Email),
        ListKind::Phone => Some(DataClass::Phone),
        _ => None,
    }
}

/// How a list value appears in the audit log: as it is, unless the list holds personal data;
/// then masked, with the SHA-256 of the value so that an auditor holding a value can
/// confirm it.
fn audit_value(kind: ListKind, value: &str) -> serde_json::Value {
    use sha2::Digest;
    match personal_class(kind) {
        None => serde_json::Value::String(value.to_owned()),
        Some(class) => serde_json::json!({
            "masked": class.mask(value),
            "sha256": hex::encode(sha2::Sha256::digest(value.as_bytes())),
        }),
    }
}

/// Expiry `ttl_seconds` from `now`, refused when it overflows.
fn expiry(now: i64, ttl_seconds: Option<u64>) -> ServiceResult<Option<i64>> {
    ttl_seconds
        .map(|ttl| {
            i64::try_from(ttl)
                .ok()
                .and_then(|ttl| ttl.checked_mul(1_000))
                .and_then(|ttl| now.checked_add(ttl))
                .ok_or_else(|| ServiceError::invalid("ttl_seconds", "ttl_seconds: too large"))
        })
        .transpose()
}

impl ListService {
    /// A service over the engine's lists, the store and the audit service, whose memory
    /// reflects the change feed up to `followed` (read before the lists were loaded).
    pub fn new(
        engine: Arc<Engine>,
        store: Arc<dyn Store>,
        audit: Arc<AuditService>,
        followed: i64,
    ) -> Self {
        ListService {
            engine,
            store,
            audit,
            followed: AtomicI64::new(followed),
            bounds: EntryBounds::default(),
        }
    }

    /// The same service, holding new entries to `bounds`.
    pub fn with_entry_bounds(mut self, bounds: EntryBounds) -> Self {
        self.bounds = bounds;
        self
    }

    /// Applies to memory the changes made through other nodes (and this one's own again,
    /// which changes nothing); returns how many were read. Called every second.
    pub fn sync(&self) -> ServiceResult<usize> {
        let mut applied = 0;
        loop {
            let after = self.followed.load(Ordering::Acquire);
            let changes = self.store.list_changes_after(after, CHANGES_PER_READ)?;
            let Some(last) = changes.last().map(|change| change.seq) else {
                return Ok(applied);
            };
            for change in &changes {
                let Some(list) = self.engine.lists().get(&change.list) else {
                    continue;
                };
                if change.removed {
                    // A value that no longer parses cannot be in memory either.
                    let _ = list.remove(&change.value);
                } else if let Ok(key) = list.kind().normalize(&change.value) {
                    list.insert_many([(key, change.expires_at_ms.unwrap_or(NEVER))]);
                }
            }
            applied += changes.len();
            self.followed.fetch_max(last, Ordering::AcqRel);
            if changes.len() < CHANGES_PER_READ as usize {
                return Ok(applied);
            }
        }
    }

    /// The list named, or `NotFound`.
    pub fn find(&self, name: &str) -> ServiceResult<Arc<List>> {
        self.engine
            .lists()
            .get(name)
            .ok_or_else(|| list_error(ListError::NoSuchList(name.to_owned())))
    }

    /// Every list with its size.
    pub fn summaries(&self) -> ServiceResult<Vec<ListSummary>> {
        let stored = self.store.lists()?;
        Ok(self
            .engine
            .lists()
            .all()
            .into_iter()
            .map(|list| ListSummary {
                description: stored
                    .iter()
                    .find(|record| record.name == list.name())
                    .map(|record| record.description.clone())
                    .unwrap_or_default(),
                name: list.name().to_owned(),
                kind: list.kind(),
                entries: list.len(),
            })
            .collect())
    }

    /// Creates a list (nothing happens when it exists with the same kind).
    pub fn create(
        &self,
        name: &str,
        kind: ListKind,
        description: &str,
        actor: &Actor,
    ) -> ServiceResult<ListSummary> {
        if let Some(existing) = self.engine.lists().get(name) {
            if existing.kind() != kind {
                return Err(list_error(ListError::KindConflict {
                    name: name.to_owned(),
                    existing: existing.kind(),
                    requested: kind,
                }));
            }
        }
        let entry = self.audit.entry(
            RecordClass::ListChange,
            actor,
            "list.create",
            format!("list:{name}"),
            serde_json::json!({ "kind": kind.as_str() }),
        );
        self.store.ensure_list(
            &ListRecord {
                name: name.to_owned(),
                kind,
                description: description.to_owned(),
                created_at_ms: now_ms(),
            },
            &entry,
        )?;
        self.audit.settle()?;
        let list = self.engine.lists().ensure(name, kind).map_err(list_error)?;
        Ok(ListSummary {
            name: name.to_owned(),
            kind,
            description: description.to_owned(),
            entries: list.len(),
        })
    }

    /// Adds or refreshes one entry; returns it as stored.
    pub fn add_entry(
        &self,
        name: &str,
        value: &str,
        terms: &EntryTerms,
        actor: &Actor,
    ) -> ServiceResult<ListEntryRecord> {
        let list = self.find(name)?;
        let now = now_ms();
        let expires_at_ms = expiry(now, terms.ttl_seconds)?;
        let reason = terms.reason.as_str();
        let key = list
            .kind()
            .normalize_new_entry(value, self.bounds, terms.force)
            .map_err(list_error)?;
        let record = ListEntryRecord {
            value: key.to_string(),
            expires_at_ms,
            added_by: actor.to_string(),
            reason: reason.to_owned(),
            created_at_ms: now,
        };
        let entry = self.audit.entry(
            RecordClass::ListChange,
            actor,
            "list.entry.add",
            format!("list:{name}"),
            serde_json::json!({ "value": audit_value(list.kind(), &record.value), "expires_at_ms": expires_at_ms, "reason": reason }),
        );
        self.store
            .upsert_list_entries(name, std::slice::from_ref(&record), &entry)?;
        self.audit.settle()?;
        list.insert_many([(key, expires_at_ms.unwrap_or(NEVER))]);
        Ok(record)
    }

    /// Removes one entry; `NotFound` when it was in neither storage nor memory.
    pub fn remove_entry(&self, name: &str, value: &str, actor: &Actor) -> ServiceResult<()> {
        let list = self.find(name)?;
        // A value that does not fit the list's kind cannot be in it.
        let key = list.kind().normalize(value).map_err(|error| {
            ServiceError::NotFound(format!("'{value}' is not in the list: {error}"))
        })?;
        let normalised = key.to_string();
        let entry = self.audit.entry(
            RecordClass::ListChange,
            actor,
            "list.entry.remove",
            format!("list:{name}"),
            serde_json::json!({ "value": audit_value(list.kind(), &normalised) }),
        );
        let stored = self.store.remove_list_entry(name, &normalised, &entry)?;
        self.audit.settle()?;
        let in_memory = list.remove(value).map_err(list_error)?;
        if !stored && in_memory {
            // Added by a rule action whose decision is still on its way to storage: the
            // removal is real, so it is recorded on its own.
            self.audit.record(entry)?;
        }
        if stored || in_memory {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!(
                "'{value}' is not in the list"
            )))
        }
    }

    /// Entries of a list, by value, a page at a time; personal values masked unless
    /// `unmasked`.
    pub fn entries(
        &self,
        name: &str,
        after: Option<&str>,
        limit: u32,
        unmasked: bool,
    ) -> ServiceResult<EntryPage> {
        let list = self.find(name)?;
        let limit = limit.clamp(1, 1_000);
        let mut records = self.store.list_entries(name, after, limit)?;
        let next_after = (records.len() == limit as usize)
            .then(|| records.last().map(|record| record.value.clone()))
            .flatten();
        if let (Some(class), false) = (personal_class(list.kind()), unmasked) {
            for record in &mut records {
                record.value = class.mask(&record.value);
            }
        }
        Ok(EntryPage {
            entries: records,
            next_after,
        })
    }

    /// Imports entries from text: one value per line; blank lines and `#` comments are
    /// skipped. Valid lines are added even when others are refused. `progress` hears
    /// (entries written, entries to write).
    pub fn import(
        &self,
        name: &str,
        text: &str,
        terms: &EntryTerms,
        actor: &Actor,
        progress: &mut dyn FnMut(usize, usize),
    ) -> ServiceResult<ImportOutcome> {
        let list = self.find(name)?;
        let now = now_ms();
        let expires_at_ms = expiry(now, terms.ttl_seconds)?;
        let reason = terms.reason.as_str();
        let mut keys: Vec<ListKey> = Vec::new();
        let mut invalid = Vec::new();
        let mut invalid_count = 0;
        for (index, line) in text.lines().enumerate() {
            let value = line.split('#').next().unwrap_or("").trim();
            if value.is_empty() {
                continue;
            }
            match list
                .kind()
                .normalize_new_entry(value, self.bounds, terms.force)
            {
                Ok(key) => keys.push(key),
                Err(error) => {
                    invalid_count += 1;
                    if invalid.len() < IMPORT_PROBLEMS_SHOWN {
                        invalid.push(ImportProblem {
                            line: index + 1,
                            message: error.to_string(),
                        });
                    }
                }
            }
        }
        let added_by = actor.to_string();
        let mut written = 0;
        for (part, chunk) in keys.chunks(IMPORT_CHUNK).enumerate() {
            let records: Vec<ListEntryRecord> = chunk
                .iter()
                .map(|key| ListEntryRecord {
                    value: key.to_string(),
                    expires_at_ms,
                    added_by: added_by.clone(),
                    reason: reason.to_owned(),
                    created_at_ms: now,
                })
                .collect();
            let entry = self.audit.entry(
                RecordClass::ListChange,
                actor,
                "list.import",
                format!("list:{name}"),
                serde_json::json!({ "part": part + 1, "entries": chunk.len(), "invalid": invalid_count, "reason": reason }),
            );
            self.store.upsert_list_entries(name, &records, &entry)?;
            written += chunk.len();
            progress(written, keys.len());
        }
        self.audit.settle()?;
        let added = keys.len();
        list.insert_many(
            keys.into_iter()
                .map(|key| (key, expires_at_ms.unwrap_or(NEVER))),
        );
        Ok(ImportOutcome {
            added,
            invalid_count,
            invalid,
        })
    }
}
