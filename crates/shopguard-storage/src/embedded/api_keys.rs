//! API keys in SQLite.

use rusqlite::{params, OptionalExtension};

use super::{db, EmbeddedStore};
use crate::api_keys::{ApiKeyRecord, ApiKeyStore, Scope};
use crate::{NewAuditEntry, StoreResult};

const COLUMNS: &str =
    "SELECT key_id, name, secret_sha256, scopes, created_at_ms, revoked_at_ms FROM api_keys";

fn api_key_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    let scopes: String = row.get(3)?;
    Ok(ApiKeyRecord {
        key_id: row.get(0)?,
        name: row.get(1)?,
        secret_sha256: row.get(2)?,
        scopes: scopes
            .split(',')
            .filter_map(|scope| scope.parse::<Scope>().ok())
            .collect(),
        created_at_ms: row.get(4)?,
        revoked_at_ms: row.get(5)?,
    })
}

impl ApiKeyStore for EmbeddedStore {
    fn insert_api_key(&self, record: &ApiKeyRecord, audit: &NewAuditEntry) -> StoreResult<()> {
        let operation = "storing an API key";
        let scopes: Vec<&str> = record.scopes.iter().map(|scope| scope.as_str()).collect();
        self.audited(operation, |transaction| {
            transaction
                .execute(
                    "INSERT INTO api_keys (key_id, name, secret_sha256, scopes, created_at_ms, revoked_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![record.key_id, record.name, record.secret_sha256, scopes.join(","), record.created_at_ms, record.revoked_at_ms],
                )
                .map_err(db(operation))?;
            Ok(((), Some(audit.clone())))
        })
    }

    fn api_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        self.read(|connection| {
            connection
                .query_row(
                    &format!("{COLUMNS} WHERE key_id = ?1"),
                    [key_id],
                    api_key_from_row,
                )
                .optional()
                .map_err(db("reading an API key"))
        })
    }

    fn api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        self.read(|connection| {
            let mut statement = connection
                .prepare(&format!("{COLUMNS} ORDER BY created_at_ms, key_id"))
                .map_err(db("listing API keys"))?;
            let rows = statement
                .query_map([], api_key_from_row)
                .map_err(db("listing API keys"))?;
            rows.collect::<Result<_, _>>()
                .map_err(db("listing API keys"))
        })
    }

    fn revoke_api_key(&self, key_id: &str, at_ms: i64, audit: &NewAuditEntry) -> StoreResult<bool> {
        let operation = "revoking an API key";
        self.audited(operation, |transaction| {
            let changed = transaction
                .execute(
                    "UPDATE api_keys SET revoked_at_ms = ?2 WHERE key_id = ?1 AND revoked_at_ms IS NULL",
                    params![key_id, at_ms],
                )
                .map_err(db(operation))?;
            Ok((changed == 1, (changed == 1).then(|| audit.clone())))
        })
    }
}
