//! API keys in PostgreSQL.

use postgres::Row;

use super::{db, PostgresStore};
use crate::api_keys::{ApiKeyRecord, ApiKeyStore, Scope};
use crate::{NewAuditEntry, StoreResult};

const COLUMNS: &str =
    "SELECT key_id, name, secret_sha256, scopes, created_at_ms, revoked_at_ms FROM api_keys";

fn api_key_from_row(row: &Row) -> ApiKeyRecord {
    let scopes: &str = row.get(3);
    ApiKeyRecord {
        key_id: row.get(0),
        name: row.get(1),
        secret_sha256: row.get(2),
        scopes: scopes
            .split(',')
            .filter_map(|scope| scope.parse::<Scope>().ok())
            .collect(),
        created_at_ms: row.get(4),
        revoked_at_ms: row.get(5),
    }
}

impl ApiKeyStore for PostgresStore {
    fn insert_api_key(&self, record: &ApiKeyRecord, audit: &NewAuditEntry) -> StoreResult<()> {
        let operation = "storing an API key";
        let scopes: Vec<&str> = record.scopes.iter().map(|scope| scope.as_str()).collect();
        self.audited(operation, |transaction| {
            transaction
                .execute(
                    "INSERT INTO api_keys (key_id, name, secret_sha256, scopes, created_at_ms, revoked_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &record.key_id,
                        &record.name,
                        &record.secret_sha256,
                        &scopes.join(","),
                        &record.created_at_ms,
                        &record.revoked_at_ms,
                    ],
                )
                .map_err(db(operation))?;
            Ok(((), Some(audit.clone())))
        })
    }

    fn api_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let operation = "reading an API key";
        let row = self
            .client(operation)?
            .query_opt(&format!("{COLUMNS} WHERE key_id = $1"), &[&key_id])
            .map_err(db(operation))?;
        Ok(row.as_ref().map(api_key_from_row))
    }

    fn api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        let operation = "listing API keys";
        let rows = self
            .client(operation)?
            .query(&format!("{COLUMNS} ORDER BY created_at_ms, key_id"), &[])
            .map_err(db(operation))?;
        Ok(rows.iter().map(api_key_from_row).collect())
    }

    fn revoke_api_key(&self, key_id: &str, at_ms: i64, audit: &NewAuditEntry) -> StoreResult<bool> {
        let operation = "revoking an API key";
        self.audited(operation, |transaction| {
            let changed = transaction
                .execute(
                    "UPDATE api_keys SET revoked_at_ms = $2 WHERE key_id = $1 AND revoked_at_ms IS NULL",
                    &[&key_id, &at_ms],
                )
                .map_err(db(operation))?;
            Ok((changed == 1, (changed == 1).then(|| audit.clone())))
        })
    }
}
