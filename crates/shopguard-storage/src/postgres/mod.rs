//! The PostgreSQL backend: every relational aggregate in one schema of a PostgreSQL
//! database, so that several nodes can share it.
//!
//! - The traits are synchronous and called from blocking threads and the decision-log
//!   writer, so the driver is the synchronous `postgres` crate with a small `r2d2` pool
//!   (`docs/decisions/0019-postgresql-backend.md`).
//! - Everything lives in the schema given to [`PostgresStore::open`] (each pooled
//!   connection sets its `search_path` to it), so tests and several deployments can share
//!   a database. The schema name is the one piece of SQL not passed as a parameter, which
//!   is why it must be a plain lowercase identifier.
//! - Migrations (`migrations/postgres/NNNN_name.sql`) are applied at open, all in one
//!   transaction under an advisory lock, so nodes starting together do not race; applied
//!   versions are recorded in `schema_migrations`.
//! - Every change method stores its audit entry in `audit_outbox` in the same transaction
//!   as the change; a change that does nothing records nothing.

use std::sync::Arc;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{NoTls, Transaction};
use r2d2_postgres::PostgresConnectionManager;

use crate::audit_log::NewAuditEntry;
use crate::keyring::{DataKeyRecord, Keyring, MasterKey};
use crate::{StoreError, StoreResult};

mod alerts;
mod api_keys;
mod audit_outbox;
mod data_keys;
mod decisions;
mod directory;
mod incidents;
mod lists;
mod operators;
mod playbooks;
mod policies;
mod situation;
mod snapshots;
mod tasks;

pub use snapshots::PostgresSnapshots;

/// The migrations, in order: (version, name, SQL). Versions start at 1 and increase. Each
/// version missing from a database is applied whenever it appears, even below one already
/// applied (changes developed side by side may land in either order), so a database migrated
/// before it arrived still receives it.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "list_changes",
        include_str!("../../migrations/postgres/0002_list_changes.sql"),
    ),
    (
        3,
        "outbox_claims",
        include_str!("../../migrations/postgres/0003_outbox_claims.sql"),
    ),
    (
        4,
        "tasks",
        include_str!("../../migrations/postgres/0004_tasks.sql"),
    ),
    (
        5,
        "decision_entity_keys",
        include_str!("../../migrations/postgres/0005_decision_entity_keys.sql"),
    ),
    (
        6,
        "totp_steps",
        include_str!("../../migrations/postgres/0006_totp_steps.sql"),
    ),
    (
        7,
        "session_ends",
        include_str!("../../migrations/postgres/0007_session_ends.sql"),
    ),
    (
        8,
        "alert_triage",
        include_str!("../../migrations/postgres/0008_alert_triage.sql"),
    ),
    (
        9,
        "decision_rules",
        include_str!("../../migrations/postgres/0009_decision_rules.sql"),
    ),
    (
        10,
        "incidents",
        include_str!("../../migrations/postgres/0010_incidents.sql"),
    ),
    (
        11,
        "directory_playbooks",
        include_str!("../../migrations/postgres/0011_directory_playbooks.sql"),
    ),
    (
        12,
        "situation_history",
        include_str!("../../migrations/postgres/0012_situation_history.sql"),
    ),
];

/// Seed of the advisory-lock key derived from the schema name.
const MIGRATION_LOCK_SEED: u64 = 0x5347_4d49_4752_4154;

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;
type Connection = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

/// Settings of the PostgreSQL backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostgresSettings {
    /// Most connections the pool opens.
    pub pool_size: u32,
    /// How long to wait for a connection (to open one, or for one to be free).
    pub connect_timeout: Duration,
}

impl Default for PostgresSettings {
    fn default() -> Self {
        PostgresSettings {
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Turns a driver error into the backend-neutral [`StoreError::Backend`]. Serialisation
/// failures, deadlocks, a server shutting down and lost connections are worth another try.
pub(crate) fn db(operation: &'static str) -> impl FnOnce(postgres::Error) -> StoreError {
    move |error| StoreError::Backend {
        operation,
        retryable: is_retryable(&error),
        message: describe(&error),
    }
}

pub(crate) fn describe(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db_error) => format!("{} ({})", db_error.message(), db_error.code().code()),
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        }
    }
}

fn is_retryable(error: &postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        Some(code) => {
            *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::TOO_MANY_CONNECTIONS
                || code.code().starts_with("08")
        }
        // No SQLSTATE: the error came from the connection (I/O), not the server.
        None => error.as_db_error().is_none(),
    }
}

/// Whether a driver error is a uniqueness violation.
fn is_unique_violation(error: &postgres::Error) -> bool {
    error.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// Whether `schema` is a plain lowercase identifier (it is written into SQL as is).
fn valid_schema(schema: &str) -> bool {
    let mut bytes = schema.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
        && schema.len() <= 63
        && !schema.starts_with("pg_")
}

pub(crate) fn connection_config(
    url: &str,
    schema: &str,
    settings: &PostgresSettings,
) -> StoreResult<postgres::Config> {
    if !valid_schema(schema) {
        return Err(StoreError::Conflict(format!(
            "schema name '{schema}' is not a lowercase identifier of at most 63 characters"
        )));
    }
    let mut config: postgres::Config =
        url.parse()
            .map_err(|error: postgres::Error| StoreError::Backend {
                operation: "reading the postgresql url",
                message: error.to_string(),
                retryable: false,
            })?;
    config
        .options(&format!("-c search_path={schema}"))
        .application_name("shopguard")
        .connect_timeout(settings.connect_timeout);
    Ok(config)
}

/// The PostgreSQL store.
pub struct PostgresStore {
    pool: Pool,
    schema: String,
    /// This opening's name, for its claims on audit-outbox rows.
    instance: String,
    keyring: Arc<Keyring>,
    master: Box<dyn MasterKey>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Opens the store in `schema` of the database at `url`
    /// (`postgres://user:password@host:port/database`) with default settings: creates the
    /// schema when needed, applies migrations, loads the data keys (making the first on first
    /// start) with `master`.
    pub fn open(url: &str, schema: &str, master: Box<dyn MasterKey>) -> StoreResult<PostgresStore> {
        PostgresStore::open_with(url, schema, master, PostgresSettings::default())
    }

    /// Opens the store with these settings (see [`PostgresStore::open`]).
    pub fn open_with(
        url: &str,
        schema: &str,
        master: Box<dyn MasterKey>,
        settings: PostgresSettings,
    ) -> StoreResult<PostgresStore> {
        let config = connection_config(url, schema, &settings)?;
        let pool = r2d2::Pool::builder()
            .max_size(settings.pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(settings.connect_timeout)
            .build(PostgresConnectionManager::new(config, NoTls))
            .map_err(pool_error("connecting to postgresql"))?;
        let mut client = pool.get().map_err(pool_error("connecting to postgresql"))?;
        let records = migrate(&mut client, schema, master.as_ref())?;
        let keyring = Arc::new(Keyring::from_records(master.as_ref(), &records)?);
        drop(client);
        let mut instance = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut instance);
        Ok(PostgresStore {
            pool,
            schema: schema.to_owned(),
            instance: hex::encode(instance),
            keyring,
            master,
        })
    }

    /// The schema this store lives in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// This node's engine snapshots, kept under `node_id` (velocity state is per node).
    pub fn snapshots(&self, node_id: &str) -> PostgresSnapshots {
        PostgresSnapshots::new(self.pool.clone(), node_id)
    }

    /// Drops `schema` and everything in it from the database at `url` (for tests and for
    /// removing a deployment); nothing happens when there is no such schema.
    pub fn drop_schema(url: &str, schema: &str) -> StoreResult<()> {
        let settings = PostgresSettings::default();
        let config = connection_config(url, schema, &settings)?;
        let operation = "dropping a schema";
        let mut client = config.connect(NoTls).map_err(db(operation))?;
        // The name was checked to be a plain identifier by `connection_config`.
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .map_err(db(operation))
    }

    fn client(&self, operation: &'static str) -> StoreResult<Connection> {
        self.pool.get().map_err(pool_error(operation))
    }

    /// Runs `work` in one transaction and stores the audit entry it returns in the outbox
    /// within the same transaction: the change and its record commit together, or neither
    /// does.
    fn audited<T>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&mut Transaction<'_>) -> StoreResult<(T, Option<NewAuditEntry>)>,
    ) -> StoreResult<T> {
        let mut client = self.client(operation)?;
        let mut transaction = client.transaction().map_err(db(operation))?;
        let (result, audit) = work(&mut transaction)?;
        if let Some(entry) = audit {
            audit_outbox::insert(&mut transaction, &entry)?;
        }
        transaction.commit().map_err(db(operation))?;
        Ok(result)
    }
}

fn pool_error(operation: &'static str) -> impl FnOnce(r2d2::Error) -> StoreError {
    move |error| StoreError::Backend {
        operation,
        message: error.to_string(),
        retryable: true,
    }
}

/// Applies the migrations this build knows and the database lacks, and makes the first
/// data key on first start; returns the data keys. One transaction under an advisory lock
/// keyed by the schema: a second node starting at the same time waits, then finds it done.
fn migrate(
    client: &mut postgres::Client,
    schema: &str,
    master: &dyn MasterKey,
) -> StoreResult<Vec<DataKeyRecord>> {
    let operation = "migrating the postgresql schema";
    let mut transaction = client.transaction().map_err(db(operation))?;
    let lock_key =
        xxhash_rust::xxh3::xxh3_64_with_seed(schema.as_bytes(), MIGRATION_LOCK_SEED) as i64;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key])
        .map_err(db(operation))?;
    // The schema name is a checked identifier; identifiers cannot be parameters.
    transaction
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    INTEGER PRIMARY KEY,
                 name       TEXT NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             );"
        ))
        .map_err(db(operation))?;
    let applied: Vec<i32> = transaction
        .query("SELECT version FROM schema_migrations", &[])
        .map_err(db(operation))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if let Some(unknown) = applied
        .iter()
        .find(|version| !MIGRATIONS.iter().any(|(known, _, _)| known == *version))
    {
        let known = MIGRATIONS.last().map_or(0, |(version, _, _)| *version);
        return Err(StoreError::Corrupt {
            operation,
            detail: format!(
                "schema migration {unknown} is not one this build knows (up to {known}): a newer build migrated it"
            ),
        });
    }
    for (version, name, sql) in MIGRATIONS
        .iter()
        .filter(|(version, _, _)| !applied.contains(version))
    {
        transaction.batch_execute(sql).map_err(db(operation))?;
        transaction
            .execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[version, name],
            )
            .map_err(db(operation))?;
        tracing::info!(version, name, schema, "migrated the postgresql schema");
    }
    let mut records = data_keys::records(&mut transaction)?;
    if records.is_empty() {
        let (_, record) = Keyring::new_data_key(master, 1, 0)?;
        data_keys::insert(&mut transaction, &record)?;
        records.push(record);
    }
    transaction.commit().map_err(db(operation))?;
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_upwards_from_one_and_match_their_files() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
        let mut files: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(MIGRATIONS.first().map(|(version, _, _)| *version), Some(1));
        assert!(MIGRATIONS.windows(2).all(|pair| pair[0].0 < pair[1].0));
        let expected: Vec<String> = MIGRATIONS
            .iter()
            .map(|(version, name, _)| format!("{version:04}_{name}.sql"))
            .collect();
        assert_eq!(files, expected);
    }

    #[test]
    fn only_plain_identifiers_are_schema_names() {
        for good in ["shopguard", "sg_test_1", "_x"] {
            assert!(valid_schema(good), "{good}");
        }
        for bad in [
            "",
            "Shop",
            "a-b",
            "a;drop",
            "1abc",
            "pg_catalog",
            &"a".repeat(64),
        ] {
            assert!(!valid_schema(bad), "{bad}");
        }
    }
}
