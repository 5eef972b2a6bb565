//! The embedded backend: everything in the data folder, no service to run.
//!
//! - Small, mutable state (API keys, policies, lists, alerts) is in SQLite in WAL mode, in
//!   `<data folder>/shopguard.db`. One connection writes (SQLite allows one writer at a time
//!   anyway); reads go to a small pool of read-only connections, which WAL lets run beside the
//!   writer. Every statement is parameterised. The schema is versioned with
//!   `PRAGMA user_version` and migrated at open.
//! - The decision log, which is large and append-only, is in segment files under
//!   `<data folder>/decisions/` ([`DecisionSegments`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use rusqlite::{params, Connection, OpenFlags, Transaction};

use crate::audit_log::NewAuditEntry;
use crate::decision_segments::{DecisionSegments, SegmentSettings};
use crate::keyring::{DataKeyRecord, Keyring, LocalMasterKey, MasterKey};
use crate::{StoreError, StoreResult};
use std::sync::Arc;

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
mod tasks;

/// The migrations, in order: (version, SQL). Versions increase but may skip a number that
/// a change developed side by side takes (it is inserted in its place when it lands); the
/// database's `user_version` is the last version applied, and every later one is applied at
/// open.
const MIGRATIONS: &[(usize, &str)] = &[
    (1, include_str!("../../migrations/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/0002_decision_segments.sql"),
    ),
    (3, include_str!("../../migrations/0003_audit_queue.sql")),
    (4, include_str!("../../migrations/0004_data_keys.sql")),
    (5, include_str!("../../migrations/0005_operators.sql")),
    (6, include_str!("../../migrations/0006_policy_approval.sql")),
    (7, include_str!("../../migrations/0007_tasks.sql")),
    (8, include_str!("../../migrations/0008_list_changes.sql")),
    (9, include_str!("../../migrations/0009_totp_steps.sql")),
    (10, include_str!("../../migrations/0010_task_leases.sql")),
    (11, include_str!("../../migrations/0011_session_ends.sql")),
    (12, include_str!("../../migrations/0012_alert_triage.sql")),
    (13, include_str!("../../migrations/0013_incidents.sql")),
    (
        14,
        include_str!("../../migrations/0014_directory_playbooks.sql"),
    ),
    (
        15,
        include_str!("../../migrations/0015_situation_history.sql"),
    ),
];
const READERS: usize = 4;

/// Turns a SQLite error into the backend-neutral [`StoreError::Backend`]; a busy or locked
/// database is worth another try.
fn db(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |error| {
        let retryable = matches!(
            error.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        StoreError::Backend {
            operation,
            message: error.to_string(),
            retryable,
        }
    }
}

/// Whether a SQLite error is a uniqueness or other constraint violation.
fn is_constraint(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
}

/// The embedded store: SQLite plus the decision segments.
pub struct EmbeddedStore {
    path: PathBuf,
    /// The decision log; `None` when opened for administration only.
    decisions: Option<DecisionSegments>,
    /// Data keys for field encryption, with the master key that wraps them.
    keys: Option<(Arc<Keyring>, Box<dyn MasterKey>)>,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens (creating when needed) the store in `data_dir` with default settings, and
    /// migrates it.
    pub fn open(data_dir: &Path) -> StoreResult<EmbeddedStore> {
        EmbeddedStore::open_with(data_dir, SegmentSettings::default())
    }

    /// Opens the store in `data_dir` without the decision log, for administrative commands
    /// (API keys) that may run beside a serving node, which holds the log's lock. Decision
    /// calls on such a store fail with [`StoreError::Unavailable`].
    pub fn open_for_administration(data_dir: &Path) -> StoreResult<EmbeddedStore> {
        EmbeddedStore::open_inner(data_dir, None, None)
    }

    /// Opens the store in `data_dir`, with the given settings of the decision segments. The
    /// master key comes from `SHOPGUARD_MASTER_KEY` or `<data_dir>/master.key`.
    pub fn open_with(data_dir: &Path, settings: SegmentSettings) -> StoreResult<EmbeddedStore> {
        EmbeddedStore::open_inner(data_dir, Some(settings), None)
    }

    /// Opens the store in `data_dir` with this master key (a KMS, or a key kept apart from
    /// a backup).
    pub fn open_with_master(
        data_dir: &Path,
        settings: SegmentSettings,
        master: Box<dyn MasterKey>,
    ) -> StoreResult<EmbeddedStore> {
        EmbeddedStore::open_inner(data_dir, Some(settings), Some(master))
    }

    fn open_inner(
        data_dir: &Path,
        settings: Option<SegmentSettings>,
        master: Option<Box<dyn MasterKey>>,
    ) -> StoreResult<EmbeddedStore> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            operation: "creating the data folder",
            source,
        })?;
        let path = data_dir.join("shopguard.db");
        let writer = Connection::open(&path).map_err(db("opening the database"))?;
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA busy_timeout = 5000;
                 PRAGMA wal_autocheckpoint = 10000;
                 PRAGMA cache_size = -65536;
                 PRAGMA mmap_size = 268435456;
                 PRAGMA temp_store = MEMORY;",
            )
            .map_err(db("configuring the database"))?;
        migrate(&writer)?;
        let readers = (0..READERS)
            .map(|_| {
                let reader = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(db("opening a reader"))?;
                reader
                    .execute_batch("PRAGMA busy_timeout = 5000;")
                    .map_err(db("configuring a reader"))?;
                Ok(Mutex::new(reader))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let master = match master {
            Some(master) => master,
            None => Box::new(LocalMasterKey::load(data_dir)?),
        };
        let keys = Some(load_keyring(&writer, master)?);
        let decisions = match (settings, &keys) {
            (Some(settings), Some((keyring, _))) => Some(
                DecisionSegments::open(&data_dir.join("decisions"), settings)?
                    .with_keyring(keyring.clone()),
            ),
            _ => None,
        };
        Ok(EmbeddedStore {
            path,
            decisions,
            keys,
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn decisions(&self) -> StoreResult<&DecisionSegments> {
        self.decisions.as_ref().ok_or(StoreError::Unavailable(
            "the decision log (the store was opened for administration only)",
        ))
    }

    fn read<T>(&self, work: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let index = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let reader = self.readers[index].lock();
        work(&reader)
    }

    /// Runs `work` in one write transaction and stores the audit entry it returns in the
    /// outbox within the same transaction: the change and its record commit together, or
    /// neither does.
    fn audited<T>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&Transaction<'_>) -> StoreResult<(T, Option<NewAuditEntry>)>,
    ) -> StoreResult<T> {
        let mut writer = self.writer.lock();
        let transaction = writer.transaction().map_err(db(operation))?;
        let (result, audit) = work(&transaction)?;
        if let Some(entry) = audit {
            audit_outbox::insert(&transaction, &entry)?;
        }
        transaction.commit().map_err(db(operation))?;
        Ok(result)
    }

    fn keyring_ref(&self) -> StoreResult<&Keyring> {
        self.keys
            .as_ref()
            .map(|(keyring, _)| keyring.as_ref())
            .ok_or(StoreError::Unavailable("field encryption"))
    }

    /// The keyring the decision log seals personal fields with, when the store has one.
    pub fn log_sealer(&self) -> Option<Arc<Keyring>> {
        self.decisions.as_ref().and_then(DecisionSegments::sealer)
    }
}

fn migrate(connection: &Connection) -> StoreResult<()> {
    let current: usize = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(db("reading the schema version"))?;
    let newest = MIGRATIONS.last().map_or(0, |(version, _)| *version);
    if current > newest {
        return Err(StoreError::Corrupt {
            operation: "opening the database",
            detail: format!("schema version {current} is newer than this build knows ({newest})"),
        });
    }
    for (version, migration) in MIGRATIONS.iter().filter(|(version, _)| *version > current) {
        connection
            .execute_batch(&format!(
                "BEGIN; {migration}; PRAGMA user_version = {version}; COMMIT;"
            ))
            .map_err(db("migrating the schema"))?;
        tracing::info!(version, "migrated the embedded database schema");
    }
    Ok(())
}

/// Loads the master key and the data keys, making the first data key on first start.
fn load_keyring(
    connection: &Connection,
    master: Box<dyn MasterKey>,
) -> StoreResult<(Arc<Keyring>, Box<dyn MasterKey>)> {
    let records = data_key_records(connection)?;
    let keyring = Arc::new(Keyring::from_records(master.as_ref(), &records)?);
    if records.is_empty() {
        add_data_key(connection, &keyring, master.as_ref(), 1, 0)?;
    }
    Ok((keyring, master))
}

fn data_key_records(connection: &Connection) -> StoreResult<Vec<DataKeyRecord>> {
    let operation = "reading data keys";
    let mut statement = connection
        .prepare("SELECT id, wrapped, master_id, created_at_ms FROM data_keys ORDER BY id")
        .map_err(db(operation))?;
    let rows = statement
        .query_map([], |row| {
            Ok(DataKeyRecord {
                id: row.get(0)?,
                wrapped: row.get(1)?,
                master_id: row.get(2)?,
                created_at_ms: row.get(3)?,
            })
        })
        .map_err(db(operation))?;
    rows.collect::<Result<_, _>>().map_err(db(operation))
}

fn add_data_key(
    connection: &Connection,
    keyring: &Keyring,
    master: &dyn MasterKey,
    id: u32,
    now_ms: i64,
) -> StoreResult<()> {
    let (key, record) = Keyring::new_data_key(master, id, now_ms)?;
    connection
        .execute(
            "INSERT INTO data_keys (id, wrapped, master_id, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![
                record.id,
                record.wrapped,
                record.master_id,
                record.created_at_ms
            ],
        )
        .map_err(db("storing a data key"))?;
    keyring.add(id, &key);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_upwards_and_match_their_files() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap())
            .filter(|entry| entry.file_type().unwrap().is_file())
            .map(|entry| entry.file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(MIGRATIONS.first().map(|(version, _)| *version), Some(1));
        assert!(MIGRATIONS.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert_eq!(files.len(), MIGRATIONS.len());
        for ((version, sql), file) in MIGRATIONS.iter().zip(&files) {
            assert!(file.starts_with(&format!("{version:04}_")), "{file}");
            let on_disk = std::fs::read_to_string(format!("{folder}/{file}")).unwrap();
            assert_eq!(&on_disk, sql, "{file}");
        }
    }
}
