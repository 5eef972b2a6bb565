//! Lists and entries in PostgreSQL.

use std::collections::HashMap;

use postgres::{GenericClient, Row};

use super::{db, PostgresStore};
use crate::lists::{ListChange, ListEntryRecord, ListRecord, ListStore};
use crate::{NewAuditEntry, StoreError, StoreResult};

/// Rows per upsert statement.
const UPSERT_CHUNK: usize = 10_000;
/// Rows handed to a visitor at once while loading.
const LOAD_CHUNK: usize = 10_000;

fn entry_from_row(row: &Row) -> ListEntryRecord {
    ListEntryRecord {
        value: row.get(0),
        expires_at_ms: row.get(1),
        added_by: row.get(2),
        reason: row.get(3),
        created_at_ms: row.get(4),
    }
}

/// Adds or replaces entries through `client` (inside the caller's transaction), a
/// multi-row statement per chunk. When the same (list, value) comes more than once, the
/// last one wins, as it would one statement after another.
pub(super) fn upsert_entries<'a>(
    client: &mut impl GenericClient,
    entries: impl IntoIterator<Item = (&'a str, &'a ListEntryRecord)>,
    operation: &'static str,
) -> StoreResult<()> {
    let mut last: HashMap<(&str, &str), usize> = HashMap::new();
    let entries: Vec<(&str, &ListEntryRecord)> = entries.into_iter().collect();
    for (index, (list, entry)) in entries.iter().enumerate() {
        last.insert((list, entry.value.as_str()), index);
    }
    let unique: Vec<&(&str, &ListEntryRecord)> = entries
        .iter()
        .enumerate()
        .filter(|(index, (list, entry))| last.get(&(*list, entry.value.as_str())) == Some(index))
        .map(|(_, pair)| pair)
        .collect();
    for chunk in unique.chunks(UPSERT_CHUNK) {
        let lists: Vec<&str> = chunk.iter().map(|(list, _)| *list).collect();
        let values: Vec<&str> = chunk
            .iter()
            .map(|(_, entry)| entry.value.as_str())
            .collect();
        let expiries: Vec<Option<i64>> =
            chunk.iter().map(|(_, entry)| entry.expires_at_ms).collect();
        let added_by: Vec<&str> = chunk
            .iter()
            .map(|(_, entry)| entry.added_by.as_str())
            .collect();
        let reasons: Vec<&str> = chunk
            .iter()
            .map(|(_, entry)| entry.reason.as_str())
            .collect();
        let created: Vec<i64> = chunk.iter().map(|(_, entry)| entry.created_at_ms).collect();
        client
            .execute(
                "INSERT INTO list_entries (list, value, expires_at_ms, added_by, reason, created_at_ms)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bigint[])
                 ON CONFLICT (list, value) DO UPDATE SET expires_at_ms = excluded.expires_at_ms,
                 added_by = excluded.added_by, reason = excluded.reason, created_at_ms = excluded.created_at_ms",
                &[&lists, &values, &expiries, &added_by, &reasons, &created],
            )
            .map_err(db(operation))?;
    }
    Ok(())
}

/// Appends rows to the change feed through `client` (inside the caller's transaction).
fn record_changes(
    client: &mut impl GenericClient,
    list: &str,
    values: &[&str],
    expiries: &[Option<i64>],
    removed: bool,
    at_ms: i64,
    operation: &'static str,
) -> StoreResult<()> {
    for (values, expiries) in values
        .chunks(UPSERT_CHUNK)
        .zip(expiries.chunks(UPSERT_CHUNK))
    {
        client
            .execute(
                "INSERT INTO list_changes (list, value, expires_at_ms, removed, at_ms)
                 SELECT $1, value, expires_at_ms, $4, $5 FROM unnest($2::text[], $3::bigint[]) AS t(value, expires_at_ms)",
                &[&list, &values, &expiries, &removed, &at_ms],
            )
            .map_err(db(operation))?;
    }
    Ok(())
}

impl ListStore for PostgresStore {
    fn ensure_list(&self, record: &ListRecord, audit: &NewAuditEntry) -> StoreResult<bool> {
        let operation = "creating a list";
        self.audited(operation, |transaction| {
            let inserted = transaction
                .execute(
                    "INSERT INTO lists (name, kind, description, created_at_ms) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (name) DO NOTHING",
                    &[&record.name, &record.kind.as_str(), &record.description, &record.created_at_ms],
                )
                .map_err(db(operation))?;
            if inserted == 1 {
                return Ok((true, Some(audit.clone())));
            }
            let kind: String = transaction
                .query_one("SELECT kind FROM lists WHERE name = $1", &[&record.name])
                .map_err(db(operation))?
                .get(0);
            if kind == record.kind.as_str() {
                Ok((false, None))
            } else {
                Err(StoreError::Conflict(format!(
                    "list '{}' exists with kind {kind}",
                    record.name
                )))
            }
        })
    }

    fn lists(&self) -> StoreResult<Vec<ListRecord>> {
        let operation = "listing lists";
        let rows = self
            .client(operation)?
            .query(
                "SELECT name, kind, description, created_at_ms FROM lists ORDER BY name",
                &[],
            )
            .map_err(db(operation))?;
        rows.iter()
            .map(|row| {
                let name: String = row.get(0);
                let kind: &str = row.get(1);
                let kind = kind.parse().map_err(|_| StoreError::Corrupt {
                    operation,
                    detail: format!("list '{name}' has unknown kind '{kind}'"),
                })?;
                Ok(ListRecord {
                    name,
                    kind,
                    description: row.get(2),
                    created_at_ms: row.get(3),
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
            let values: Vec<&str> = entries.iter().map(|entry| entry.value.as_str()).collect();
            let expiries: Vec<Option<i64>> =
                entries.iter().map(|entry| entry.expires_at_ms).collect();
            record_changes(
                transaction,
                list,
                &values,
                &expiries,
                false,
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
                    "DELETE FROM list_entries WHERE list = $1 AND value = $2",
                    &[&list, &value],
                )
                .map_err(db(operation))?;
            if changed == 1 {
                record_changes(
                    transaction,
                    list,
                    &[value],
                    &[None],
                    true,
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
        let operation = "listing list entries";
        // Ordered byte by byte (COLLATE "C"), as SQLite orders text.
        let rows = self
            .client(operation)?
            .query(
                "SELECT value, expires_at_ms, added_by, reason, created_at_ms FROM list_entries
                 WHERE list = $1 AND value COLLATE \"C\" > $2 ORDER BY value COLLATE \"C\" LIMIT $3",
                &[&list, &after.unwrap_or(""), &i64::from(limit)],
            )
            .map_err(db(operation))?;
        Ok(rows.iter().map(entry_from_row).collect())
    }

    fn for_each_list_entry(
        &self,
        list: &str,
        now_ms: i64,
        visit: &mut dyn FnMut(&[ListEntryRecord]),
    ) -> StoreResult<()> {
        let operation = "loading list entries";
        let mut client = self.client(operation)?;
        let mut transaction = client.transaction().map_err(db(operation))?;
        // A portal reads the rows a chunk at a time, so a large list is never all in memory.
        let portal = transaction
            .bind(
                "SELECT value, expires_at_ms, added_by, reason, created_at_ms FROM list_entries
                 WHERE list = $1 AND (expires_at_ms IS NULL OR expires_at_ms > $2)",
                &[&list, &now_ms],
            )
            .map_err(db(operation))?;
        loop {
            let rows = transaction
                .query_portal(&portal, LOAD_CHUNK as i32)
                .map_err(db(operation))?;
            if rows.is_empty() {
                break;
            }
            let batch: Vec<ListEntryRecord> = rows.iter().map(entry_from_row).collect();
            visit(&batch);
            if rows.len() < LOAD_CHUNK {
                break;
            }
        }
        transaction.commit().map_err(db(operation))
    }

    fn purge_expired_list_entries(
        &self,
        now_ms: i64,
        changes_before_ms: i64,
    ) -> StoreResult<usize> {
        let operation = "purging expired list entries";
        let mut client = self.client(operation)?;
        client
            .execute(
                "DELETE FROM list_changes WHERE at_ms < $1",
                &[&changes_before_ms],
            )
            .map_err(db(operation))?;
        let removed = client
            .execute(
                "DELETE FROM list_entries WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= $1",
                &[&now_ms],
            )
            .map_err(db(operation))?;
        Ok(removed as usize)
    }

    fn list_changes_after(&self, seq: i64, limit: u32) -> StoreResult<Vec<ListChange>> {
        let operation = "reading list changes";
        let rows = self
            .client(operation)?
            .query(
                "SELECT seq, list, value, expires_at_ms, removed FROM list_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&seq, &i64::from(limit)],
            )
            .map_err(db(operation))?;
        Ok(rows
            .iter()
            .map(|row| ListChange {
                seq: row.get(0),
                list: row.get(1),
                value: row.get(2),
                expires_at_ms: row.get(3),
                removed: row.get(4),
            })
            .collect())
    }

    fn last_list_change(&self) -> StoreResult<i64> {
        let operation = "reading the last list change";
        let row = self
            .client(operation)?
            .query_one("SELECT COALESCE(MAX(seq), 0) FROM list_changes", &[])
            .map_err(db(operation))?;
        Ok(row.get(0))
    }
}
