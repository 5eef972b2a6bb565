//! Lists and entries in SQLite.

use rusqlite::{params, OptionalExtension, Transaction};

use super::{db, EmbeddedStore};
use crate::lists::{ListChange, ListEntryRecord, ListRecord, ListStore};
use crate::{NewAuditEntry, StoreError, StoreResult};

const UPSERT_ENTRY: &str = "INSERT INTO list_entries (list, value, expires_at_ms, added_by, reason, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
     ON CONFLICT (list, value) DO UPDATE SET expires_at_ms = excluded.expires_at_ms, added_by = excluded.added_by,
     reason = excluded.reason, created_at_ms = excluded.created_at_ms";

fn entry_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ListEntryRecord> {
    Ok(ListEntryRecord {
        value: row.get(0)?,
        expires_at_ms: row.get(1)?,
        added_by: row.get(2)?,
        reason: row.get(3)?,
        created_at_ms: row.get(4)?,
    })
}

/// Adds or replaces entries of `list` within `transaction` (for people's changes and for the
/// entries rule actions add, which arrive with their decisions).
pub(super) fn upsert_entries<'a>(
    transaction: &Transaction<'_>,
    entries: impl IntoIterator<Item = (&'a str, &'a ListEntryRecord)>,
    operation: &'static str,
) -> StoreResult<()> {
    let mut statement = transaction
        .prepare_cached(UPSERT_ENTRY)
        .map_err(db(operation))?;
    for (list, entry) in entries {
        statement
            .execute(params![
                list,
                entry.value,
                entry.expires_at_ms,
                entry.added_by,
                entry.reason,
                entry.created_at_ms
            ])
            .map_err(db(operation))?;
    }
    Ok(())
}

/// Appends rows to the change feed within `transaction`.
fn record_changes<'a>(
    transaction: &Transaction<'_>,
    list: &str,
    changes: impl IntoIterator<Item = (&'a str, Option<i64>, bool)>,
    at_ms: i64,
    operation: &'static str,
) -> StoreResult<()> {
    let mut statement = transaction
        .prepare_cached(
            "INSERT INTO list_changes (list, value, expires_at_ms, removed, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(db(operation))?;
    for (value, expires_at_ms, removed) in changes {
        statement
            .execute(params![list, value, expires_at_ms, removed, at_ms])
            .map_err(db(operation))?;
    }
    Ok(())
}

impl ListStore for EmbeddedStore {
    fn ensure_list(&self, record: &ListRecord, audit: &NewAuditEntry) -> StoreResult<bool> {
        let operation = "creating a list";
        self.audited(operation, |transaction| {
            let existing: Option<String> = transaction
                .query_row(
                    "SELECT kind FROM lists WHERE name = ?1",
                    [&record.name],
                    |row| row.get(0),
                )
                .optional()
                .map_err(db(operation))?;
            match existing {
                Some(kind) if kind == record.kind.as_str() => Ok((false, None)),
                Some(kind) => Err(StoreError::Conflict(format!(
                    "list '{}' exists with kind {kind}",
                    record.name
                ))),
                None => {
                    transaction
                        .execute(
                            "INSERT INTO lists (name, kind, description, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
                            params![record.name, record.kind.as_str(), record.description, record.created_at_ms],
                        )
                        .map_err(db(operation))?;
                    Ok((true, Some(audit.clone())))
                }
            }
        })
    }

    fn lists(&self) -> StoreResult<Vec<ListRecord>> {
        let operation = "listing lists";
        let rows: Vec<(String, String, String, i64)> = self.read(|connection| {
            let mut statement = connection
                .prepare("SELECT name, kind, description, created_at_ms FROM lists ORDER BY name")
                .map_err(db(operation))?;
            let rows = statement
                .query_map([], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .map_err(db(operation))?;
            rows.collect::<Result<_, _>>().map_err(db(operation))
        })?;
        rows.into_iter()
            .map(|(name, kind, description, created_at_ms)| {
                let kind = kind.parse().map_err(|_| StoreError::Corrupt {
                    operation,
                    detail: format!("list '{name}' has unknown kind '{kind}'"),
                })?;
                Ok(ListRecord {
                    name,
                    kind,
                    description,
                    created_at_ms,
                })
            })
            .collect()
    }

    fn upsert_list_entries(
        &self,
        list: &str,
        entries: &[ListEntryRecord],
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let operation = "adding list entries";
        self.audited(operation, |transaction| {
            upsert_entries(
                transaction,
                entries.iter().map(|entry| (list, entry)),
                operation,
            )?;
            record_changes(
                transaction,
                list,
                entries
                    .iter()
                    .map(|entry| (entry.value.as_str(), entry.expires_at_ms, false)),
                audit.at_ms,
                operation,
            )?;
            Ok(((), Some(audit.clone())))
        })
    }

    fn remove_list_entry(
        &self,
        list: &str,
        value: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool> {
        let operation = "removing a list entry";
        self.audited(operation, |transaction| {
            let changed = transaction
                .execute(
                    "DELETE FROM list_entries WHERE list = ?1 AND value = ?2",
                    params![list, value],
                )
                .map_err(db(operation))?;
            if changed == 1 {
                record_changes(
                    transaction,
                    list,
                    [(value, None, true)],
                    audit.at_ms,
                    operation,
                )?;
            }
            Ok((changed == 1, (changed == 1).then(|| audit.clone())))
        })
    }

    fn list_entries(
        &self,
        list: &str,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<ListEntryRecord>> {
        self.read(|connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT value, expires_at_ms, added_by, reason, created_at_ms FROM list_entries
                     WHERE list = ?1 AND value > ?2 ORDER BY value LIMIT ?3",
                )
                .map_err(db("listing list entries"))?;
            let rows = statement
                .query_map(params![list, after.unwrap_or(""), limit], entry_from_row)
                .map_err(db("listing list entries"))?;
            rows.collect::<Result<_, _>>()
                .map_err(db("listing list entries"))
        })
    }

    fn for_each_list_entry(
        &self,
        list: &str,
        now_ms: i64,
        visit: &mut dyn FnMut(&[ListEntryRecord]),
    ) -> StoreResult<()> {
        self.read(|connection| {
            let mut statement = connection
                .prepare(
                    "SELECT value, expires_at_ms, added_by, reason, created_at_ms FROM list_entries
                     WHERE list = ?1 AND (expires_at_ms IS NULL OR expires_at_ms > ?2)",
                )
                .map_err(db("loading list entries"))?;
            let mut rows = statement
                .query(params![list, now_ms])
                .map_err(db("loading list entries"))?;
            let mut batch = Vec::with_capacity(10_000);
            while let Some(row) = rows.next().map_err(db("loading list entries"))? {
                batch.push(entry_from_row(row).map_err(db("loading list entries"))?);
                if batch.len() == batch.capacity() {
                    visit(&batch);
                    batch.clear();
                }
            }
            if !batch.is_empty() {
                visit(&batch);
            }
            Ok(())
        })
    }

    fn purge_expired_list_entries(
        &self,
        now_ms: i64,
        changes_before_ms: i64,
    ) -> StoreResult<usize> {
        let operation = "purging expired list entries";
        let writer = self.writer.lock();
        writer
            .execute(
                "DELETE FROM list_changes WHERE at_ms < ?1",
                [changes_before_ms],
            )
            .map_err(db(operation))?;
        writer
            .execute(
                "DELETE FROM list_entries WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ?1",
                [now_ms],
            )
            .map_err(db(operation))
    }

    fn list_changes_after(&self, seq: i64, limit: u32) -> StoreResult<Vec<ListChange>> {
        let operation = "reading list changes";
        self.read(|connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT seq, list, value, expires_at_ms, removed FROM list_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .map_err(db(operation))?;
            let rows = statement
                .query_map(params![seq, limit], |row| {
                    Ok(ListChange {
                        seq: row.get(0)?,
                        list: row.get(1)?,
                        value: row.get(2)?,
                        expires_at_ms: row.get(3)?,
                        removed: row.get(4)?,
                    })
                })
                .map_err(db(operation))?;
            rows.collect::<Result<_, _>>().map_err(db(operation))
        })
    }

    fn last_list_change(&self) -> StoreResult<i64> {
        self.read(|connection| {
            connection
                .query_row(
                    "SELECT COALESCE(MAX(seq), 0) FROM list_changes",
                    [],
                    |row| row.get(0),
                )
                .map_err(db("reading the last list change"))
        })
    }
}
