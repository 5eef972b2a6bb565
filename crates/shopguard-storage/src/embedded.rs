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
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::api_keys::{ApiKeyRecord, Scope};
use crate::audit_log::NewAuditEntry;
use crate::decision_segments::{DecisionSegments, SegmentSettings};
use crate::keyring::{DataKeyRecord, Keyring, LocalMasterKey, MasterKey};
use crate::operators::{GrantRecord, OperatorRecord, SessionRecord};
use crate::{
    AlertRecord, DecisionQuery, DecisionRecord, ListEntryRecord, ListRecord, LogBatch,
    PolicyVersion, Store, StoreError, StoreResult,
};
use shopguard_core::rbac::Role;
use std::sync::Arc;

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_decision_segments.sql"),
    include_str!("../migrations/0003_audit_queue.sql"),
    include_str!("../migrations/0004_data_keys.sql"),
    include_str!("../migrations/0005_operators.sql"),
    include_str!("../migrations/0006_policy_approval.sql"),
];
const READERS: usize = 4;

fn db(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Database { operation, source }
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
}

fn migrate(connection: &Connection) -> StoreResult<()> {
    let current: usize = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(db("reading the schema version"))?;
    if current > MIGRATIONS.len() {
        return Err(StoreError::Corrupt {
            operation: "opening the database",
            detail: format!(
                "schema version {current} is newer than this build knows ({})",
                MIGRATIONS.len()
            ),
        });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(current) {
        let version = index + 1;
        connection
            .execute_batch(&format!(
                "BEGIN; {migration}; PRAGMA user_version = {version}; COMMIT;"
            ))
            .map_err(db("migrating the schema"))?;
        tracing::info!(version, "migrated the embedded database schema");
    }
    Ok(())
}

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

fn policy_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<PolicyVersion> {
    Ok(PolicyVersion {
        version: row.get::<_, i64>(0)? as u64,
        source: row.get(1)?,
        sha256: row.get(2)?,
        author: row.get(3)?,
        comment: row.get(4)?,
        created_at_ms: row.get(5)?,
        pending_approval: row.get(6)?,
        approved_by: row.get(7)?,
    })
}

fn entry_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ListEntryRecord> {
    Ok(ListEntryRecord {
        value: row.get(0)?,
        expires_at_ms: row.get(1)?,
        added_by: row.get(2)?,
        reason: row.get(3)?,
        created_at_ms: row.get(4)?,
    })
}

fn alert_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRecord> {
    Ok(AlertRecord {
        seq: row.get(0)?,
        created_at_ms: row.get(1)?,
        severity: row.get(2)?,
        rule_id: row.get(3)?,
        decision_id: row.get(4)?,
        user_id: row.get(5)?,
        ip: row.get(6)?,
        message: row.get(7)?,
    })
}

impl Store for EmbeddedStore {
    fn insert_api_key(&self, record: &ApiKeyRecord) -> StoreResult<()> {
        let scopes: Vec<&str> = record.scopes.iter().map(|scope| scope.as_str()).collect();
        self.writer
            .lock()
            .execute(
                "INSERT INTO api_keys (key_id, name, secret_sha256, scopes, created_at_ms, revoked_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![record.key_id, record.name, record.secret_sha256, scopes.join(","), record.created_at_ms, record.revoked_at_ms],
            )
            .map_err(db("storing an API key"))?;
        Ok(())
    }

    fn api_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        self.read(|connection| {
            connection
                .query_row(
                    "SELECT key_id, name, secret_sha256, scopes, created_at_ms, revoked_at_ms FROM api_keys WHERE key_id = ?1",
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
                .prepare("SELECT key_id, name, secret_sha256, scopes, created_at_ms, revoked_at_ms FROM api_keys ORDER BY created_at_ms")
                .map_err(db("listing API keys"))?;
            let rows = statement.query_map([], api_key_from_row).map_err(db("listing API keys"))?;
            rows.collect::<Result<_, _>>().map_err(db("listing API keys"))
        })
    }

    fn revoke_api_key(&self, key_id: &str, at_ms: i64) -> StoreResult<bool> {
        let changed = self
            .writer
            .lock()
            .execute("UPDATE api_keys SET revoked_at_ms = ?2 WHERE key_id = ?1 AND revoked_at_ms IS NULL", params![key_id, at_ms])
            .map_err(db("revoking an API key"))?;
        Ok(changed == 1)
    }

    fn insert_policy_version(
        &self,
        source: &str,
        author: &str,
        comment: &str,
        at_ms: i64,
    ) -> StoreResult<u64> {
        let writer = self.writer.lock();
        writer
            .execute(
                "INSERT INTO policy_versions (source, sha256, author, comment, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![source, hex::encode(Sha256::digest(source.as_bytes())), author, comment, at_ms],
            )
            .map_err(db("storing a policy version"))?;
        Ok(writer.last_insert_rowid() as u64)
    }

    fn mark_policy_pending(&self, version: u64) -> StoreResult<()> {
        self.writer
            .lock()
            .execute(
                "UPDATE policy_versions SET pending_approval = 1 WHERE version = ?1",
                [version as i64],
            )
            .map_err(db("marking a policy version pending"))?;
        Ok(())
    }

    fn approve_policy_version(
        &self,
        version: u64,
        approver: &str,
        at_ms: i64,
    ) -> StoreResult<bool> {
        let changed = self
            .writer
            .lock()
            .execute(
                "UPDATE policy_versions SET pending_approval = 0, approved_by = ?2, approved_at_ms = ?3
                 WHERE version = ?1 AND pending_approval = 1",
                params![version as i64, approver, at_ms],
            )
            .map_err(db("approving a policy version"))?;
        Ok(changed == 1)
    }

    fn activate_policy_version(&self, version: u64, by: &str, at_ms: i64) -> StoreResult<()> {
        let writer = self.writer.lock();
        let exists: bool = writer
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM policy_versions WHERE version = ?1)",
                [version as i64],
                |row| row.get(0),
            )
            .map_err(db("activating a policy version"))?;
        if !exists {
            return Err(StoreError::NotFound(format!("policy version {version}")));
        }
        writer
            .execute(
                "INSERT INTO policy_active (id, version, activated_at_ms, activated_by) VALUES (1, ?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version, activated_at_ms = excluded.activated_at_ms, activated_by = excluded.activated_by",
                params![version as i64, at_ms, by],
            )
            .map_err(db("activating a policy version"))?;
        Ok(())
    }

    fn active_policy(&self) -> StoreResult<Option<PolicyVersion>> {
        self.read(|connection| {
            connection
                .query_row(
                    "SELECT p.version, p.source, p.sha256, p.author, p.comment, p.created_at_ms, p.pending_approval, p.approved_by
                     FROM policy_active a JOIN policy_versions p ON p.version = a.version WHERE a.id = 1",
                    [],
                    policy_from_row,
                )
                .optional()
                .map_err(db("reading the active policy"))
        })
    }

    fn policy_version(&self, version: u64) -> StoreResult<Option<PolicyVersion>> {
        self.read(|connection| {
            connection
                .query_row(
                    "SELECT version, source, sha256, author, comment, created_at_ms, pending_approval, approved_by FROM policy_versions WHERE version = ?1",
                    [version as i64],
                    policy_from_row,
                )
                .optional()
                .map_err(db("reading a policy version"))
        })
    }

    fn policy_versions(&self) -> StoreResult<Vec<PolicyVersion>> {
        self.read(|connection| {
            let mut statement = connection
                .prepare("SELECT version, '', sha256, author, comment, created_at_ms, pending_approval, approved_by FROM policy_versions ORDER BY version DESC")
                .map_err(db("listing policy versions"))?;
            let rows = statement.query_map([], policy_from_row).map_err(db("listing policy versions"))?;
            rows.collect::<Result<_, _>>().map_err(db("listing policy versions"))
        })
    }

    fn ensure_list(&self, record: &ListRecord) -> StoreResult<()> {
        let writer = self.writer.lock();
        let existing: Option<String> = writer
            .query_row(
                "SELECT kind FROM lists WHERE name = ?1",
                [&record.name],
                |row| row.get(0),
            )
            .optional()
            .map_err(db("reading a list"))?;
        match existing {
            Some(kind) if kind == record.kind.as_str() => Ok(()),
            Some(kind) => Err(StoreError::Conflict(format!(
                "list '{}' exists with kind {kind}",
                record.name
            ))),
            None => {
                writer
                    .execute(
                        "INSERT INTO lists (name, kind, description, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
                        params![record.name, record.kind.as_str(), record.description, record.created_at_ms],
                    )
                    .map_err(db("creating a list"))?;
                Ok(())
            }
        }
    }

    fn lists(&self) -> StoreResult<Vec<ListRecord>> {
        self.read(|connection| {
            let mut statement = connection
                .prepare("SELECT name, kind, description, created_at_ms FROM lists ORDER BY name")
                .map_err(db("listing lists"))?;
            let rows = statement
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get(2)?,
                        row.get(3)?,
                    ))
                })
                .map_err(db("listing lists"))?;
            let mut lists = Vec::new();
            for row in rows {
                let (name, kind, description, created_at_ms) = row.map_err(db("listing lists"))?;
                let kind = kind.parse().map_err(|_| StoreError::Corrupt {
                    operation: "listing lists",
                    detail: format!("list '{name}' has unknown kind '{kind}'"),
                })?;
                lists.push(ListRecord {
                    name,
                    kind,
                    description,
                    created_at_ms,
                });
            }
            Ok(lists)
        })
    }

    fn upsert_list_entries(&self, list: &str, entries: &[ListEntryRecord]) -> StoreResult<()> {
        let mut writer = self.writer.lock();
        let transaction = writer.transaction().map_err(db("adding list entries"))?;
        {
            let mut statement = transaction
                .prepare_cached(
                    "INSERT INTO list_entries (list, value, expires_at_ms, added_by, reason, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (list, value) DO UPDATE SET expires_at_ms = excluded.expires_at_ms, added_by = excluded.added_by,
                     reason = excluded.reason, created_at_ms = excluded.created_at_ms",
                )
                .map_err(db("adding list entries"))?;
            for entry in entries {
                statement
                    .execute(params![
                        list,
                        entry.value,
                        entry.expires_at_ms,
                        entry.added_by,
                        entry.reason,
                        entry.created_at_ms
                    ])
                    .map_err(db("adding list entries"))?;
            }
        }
        transaction.commit().map_err(db("adding list entries"))
    }

    fn remove_list_entry(&self, list: &str, value: &str) -> StoreResult<bool> {
        let changed = self
            .writer
            .lock()
            .execute(
                "DELETE FROM list_entries WHERE list = ?1 AND value = ?2",
                params![list, value],
            )
            .map_err(db("removing a list entry"))?;
        Ok(changed == 1)
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

    fn purge_expired_list_entries(&self, now_ms: i64) -> StoreResult<usize> {
        self.writer
            .lock()
            .execute(
                "DELETE FROM list_entries WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ?1",
                [now_ms],
            )
            .map_err(db("purging expired list entries"))
    }

    fn append_decisions(&self, batches: &[LogBatch]) -> StoreResult<()> {
        // SQLite first, and idempotently (alerts are unique per decision and rule, list
        // additions are upserts): if the segment write then fails, the writer's retry of the
        // whole batch adds nothing twice.
        let additions = batches.iter().flat_map(|batch| batch.list_additions());
        let alerts = batches.iter().flat_map(|batch| batch.alerts());
        let mut alerts = alerts.peekable();
        let mut additions = additions.peekable();
        if additions.peek().is_some() || alerts.peek().is_some() {
            let mut writer = self.writer.lock();
            let transaction = writer.transaction().map_err(db("appending alerts"))?;
            {
                let mut insert_entry = transaction
                    .prepare_cached(
                        "INSERT INTO list_entries (list, value, expires_at_ms, added_by, reason, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (list, value) DO UPDATE SET expires_at_ms = excluded.expires_at_ms, added_by = excluded.added_by,
                         reason = excluded.reason, created_at_ms = excluded.created_at_ms",
                    )
                    .map_err(db("recording list additions"))?;
                for (list, entry) in additions {
                    insert_entry
                        .execute(params![
                            list,
                            entry.value,
                            entry.expires_at_ms,
                            entry.added_by,
                            entry.reason,
                            entry.created_at_ms
                        ])
                        .map_err(db("recording list additions"))?;
                }
                let mut insert_alert = transaction
                    .prepare_cached(
                        "INSERT OR IGNORE INTO alerts (created_at_ms, severity, rule_id, decision_id, user_id, ip, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )
                    .map_err(db("appending alerts"))?;
                for alert in alerts {
                    insert_alert
                        .execute(params![
                            alert.created_at_ms,
                            alert.severity,
                            alert.rule_id,
                            alert.decision_id,
                            alert.user_id,
                            alert.ip,
                            alert.message
                        ])
                        .map_err(db("appending alerts"))?;
                }
            }
            transaction.commit().map_err(db("appending alerts"))?;
        }
        self.decisions()?.append(batches)
    }

    fn log_sealer(&self) -> Option<Arc<Keyring>> {
        self.decisions.as_ref().and_then(DecisionSegments::sealer)
    }

    fn decision(&self, decision_id: &str) -> StoreResult<Option<DecisionRecord>> {
        self.decisions()?.decision(decision_id)
    }

    fn query_decisions(&self, query: &DecisionQuery) -> StoreResult<Vec<DecisionRecord>> {
        self.decisions()?.query(query)
    }

    fn query_alerts(
        &self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AlertRecord>> {
        self.read(|connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT seq, created_at_ms, severity, rule_id, decision_id, user_id, ip, message FROM alerts
                     WHERE created_at_ms >= ?1 AND created_at_ms < ?2 ORDER BY created_at_ms DESC, seq DESC LIMIT ?3",
                )
                .map_err(db("querying alerts"))?;
            let rows = statement
                .query_map(params![from_ms.unwrap_or(i64::MIN), to_ms.unwrap_or(i64::MAX), limit.clamp(1, 1_000)], alert_from_row)
                .map_err(db("querying alerts"))?;
            rows.collect::<Result<_, _>>().map_err(db("querying alerts"))
        })
    }

    fn purge_decisions_before(&self, cutoff_ms: i64) -> StoreResult<usize> {
        let removed = self.decisions()?.purge_before(cutoff_ms)?;
        self.writer
            .lock()
            .execute("DELETE FROM alerts WHERE created_at_ms < ?1", [cutoff_ms])
            .map_err(db("purging old alerts"))?;
        Ok(removed)
    }

    fn decision_count(&self) -> StoreResult<u64> {
        Ok(self.decisions()?.count())
    }

    fn insert_operator(&self, operator: &OperatorRecord) -> StoreResult<()> {
        let roles: Vec<&str> = operator.roles.iter().map(|role| role.as_str()).collect();
        let totp_secret = self.keyring()?.seal(&hex::encode(&operator.totp_secret))?;
        let result = self.writer.lock().execute(
            "INSERT INTO operators (username, password_hash, totp_secret, roles, created_at_ms, disabled_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![operator.username, operator.password_hash, totp_secret, roles.join(","), operator.created_at_ms, operator.disabled_at_ms],
        );
        match result {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(error, _))
                if error.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::Conflict(format!(
                    "operator '{}' exists",
                    operator.username
                )))
            }
            Err(error) => Err(db("storing an operator")(error)),
        }
    }

    fn operator(&self, username: &str) -> StoreResult<Option<OperatorRecord>> {
        let row = self.read(|connection| {
            connection
                .query_row(
                    "SELECT username, password_hash, totp_secret, roles, created_at_ms, disabled_at_ms FROM operators WHERE username = ?1",
                    [username],
                    operator_row,
                )
                .optional()
                .map_err(db("reading an operator"))
        })?;
        row.map(|row| self.operator_from(row)).transpose()
    }

    fn operators(&self) -> StoreResult<Vec<OperatorRecord>> {
        let rows = self.read(|connection| {
            let mut statement = connection
                .prepare("SELECT username, password_hash, totp_secret, roles, created_at_ms, disabled_at_ms FROM operators ORDER BY username")
                .map_err(db("listing operators"))?;
            let rows = statement.query_map([], operator_row).map_err(db("listing operators"))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db("listing operators"))
        })?;
        rows.into_iter()
            .map(|row| self.operator_from(row))
            .collect()
    }

    fn disable_operator(&self, username: &str, at_ms: i64) -> StoreResult<bool> {
        let changed = self
            .writer
            .lock()
            .execute(
                "UPDATE operators SET disabled_at_ms = ?2 WHERE username = ?1 AND disabled_at_ms IS NULL",
                params![username, at_ms],
            )
            .map_err(db("disabling an operator"))?;
        Ok(changed == 1)
    }

    fn insert_session(&self, session: &SessionRecord) -> StoreResult<()> {
        self.writer
            .lock()
            .execute(
                "INSERT INTO sessions (session_id, secret_sha256, username, created_at_ms, expires_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![session.session_id, session.secret_sha256, session.username, session.created_at_ms, session.expires_at_ms],
            )
            .map_err(db("storing a session"))?;
        Ok(())
    }

    fn session(&self, session_id: &str) -> StoreResult<Option<SessionRecord>> {
        self.read(|connection| {
            connection
                .query_row(
                    "SELECT session_id, secret_sha256, username, created_at_ms, expires_at_ms FROM sessions WHERE session_id = ?1",
                    [session_id],
                    |row| {
                        Ok(SessionRecord {
                            session_id: row.get(0)?,
                            secret_sha256: row.get(1)?,
                            username: row.get(2)?,
                            created_at_ms: row.get(3)?,
                            expires_at_ms: row.get(4)?,
                        })
                    },
                )
                .optional()
                .map_err(db("reading a session"))
        })
    }

    fn insert_grant(&self, grant: &GrantRecord) -> StoreResult<i64> {
        let writer = self.writer.lock();
        writer
            .execute(
                "INSERT INTO grants (username, role, reason, requested_by, requested_at_ms, duration_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![grant.username, grant.role.as_str(), grant.reason, grant.requested_by, grant.requested_at_ms, grant.duration_ms],
            )
            .map_err(db("storing a grant"))?;
        Ok(writer.last_insert_rowid())
    }

    fn grant(&self, id: i64) -> StoreResult<Option<GrantRecord>> {
        self.read(|connection| {
            connection
                .query_row(&format!("{GRANT_COLUMNS} WHERE id = ?1"), [id], grant_row)
                .optional()
                .map_err(db("reading a grant"))
        })
    }

    fn approve_grant(&self, id: i64, approver: &str, at_ms: i64) -> StoreResult<bool> {
        let changed = self
            .writer
            .lock()
            .execute(
                "UPDATE grants SET approved_by = ?2, approved_at_ms = ?3, expires_at_ms = ?3 + duration_ms
                 WHERE id = ?1 AND approved_by IS NULL",
                params![id, approver, at_ms],
            )
            .map_err(db("approving a grant"))?;
        Ok(changed == 1)
    }

    fn grants(&self, username: Option<&str>) -> StoreResult<Vec<GrantRecord>> {
        self.read(|connection| {
            let mut statement = connection
                .prepare_cached(&format!(
                    "{GRANT_COLUMNS} WHERE (?1 IS NULL OR username = ?1) ORDER BY id DESC LIMIT 1000"
                ))
                .map_err(db("listing grants"))?;
            let rows = statement
                .query_map([username], grant_row)
                .map_err(db("listing grants"))?;
            rows.collect::<Result<_, _>>().map_err(db("listing grants"))
        })
    }

    fn rotate_data_key(&self, now_ms: i64) -> StoreResult<u32> {
        let (keyring, master) = self.keys.as_ref().ok_or(StoreError::Unavailable(
            "field encryption (opened for administration only)",
        ))?;
        let next = keyring.active_id() + 1;
        add_data_key(&self.writer.lock(), keyring, master.as_ref(), next, now_ms)?;
        Ok(next)
    }

    fn reencrypt_decisions(&self, progress: &mut dyn FnMut(usize, usize)) -> StoreResult<u64> {
        self.decisions()?.reencrypt(progress)
    }

    fn queue_audit_entry(&self, entry: &NewAuditEntry) -> StoreResult<()> {
        let content =
            serde_json::to_string(&entry.content).map_err(|error| StoreError::Corrupt {
                operation: "queueing an audit entry",
                detail: error.to_string(),
            })?;
        self.writer
            .lock()
            .execute(
                "INSERT INTO audit_queue (at_ms, class, content) VALUES (?1, ?2, ?3)",
                params![entry.at_ms, entry.class.as_str(), content],
            )
            .map_err(db("queueing an audit entry"))?;
        Ok(())
    }

    fn queued_audit_entries(&self, limit: u32) -> StoreResult<Vec<(i64, NewAuditEntry)>> {
        let operation = "reading queued audit entries";
        let rows: Vec<(i64, i64, String, String)> = {
            let writer = self.writer.lock();
            let mut statement = writer
                .prepare_cached(
                    "SELECT id, at_ms, class, content FROM audit_queue ORDER BY id LIMIT ?1",
                )
                .map_err(db(operation))?;
            let rows = statement
                .query_map([limit], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .map_err(db(operation))?;
            rows.collect::<Result<_, _>>().map_err(db(operation))?
        };
        rows.into_iter()
            .map(|(id, at_ms, class, content)| {
                let corrupt = |detail: String| StoreError::Corrupt { operation, detail };
                Ok((
                    id,
                    NewAuditEntry {
                        at_ms,
                        class: class.parse().map_err(corrupt)?,
                        content: serde_json::from_str(&content)
                            .map_err(|error| corrupt(error.to_string()))?,
                    },
                ))
            })
            .collect()
    }

    fn delete_queued_audit_entries(&self, ids: &[i64]) -> StoreResult<()> {
        let mut writer = self.writer.lock();
        let transaction = writer
            .transaction()
            .map_err(db("removing queued audit entries"))?;
        {
            let mut delete = transaction
                .prepare_cached("DELETE FROM audit_queue WHERE id = ?1")
                .map_err(db("removing queued audit entries"))?;
            for id in ids {
                delete
                    .execute([id])
                    .map_err(db("removing queued audit entries"))?;
            }
        }
        transaction
            .commit()
            .map_err(db("removing queued audit entries"))
    }
}

const GRANT_COLUMNS: &str = "SELECT id, username, role, reason, requested_by, requested_at_ms, duration_ms, approved_by, approved_at_ms, expires_at_ms FROM grants";

fn grant_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<GrantRecord> {
    let role: String = row.get(2)?;
    Ok(GrantRecord {
        id: row.get(0)?,
        username: row.get(1)?,
        role: role.parse().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                rusqlite::types::Type::Text,
                format!("unknown role {role}").into(),
            )
        })?,
        reason: row.get(3)?,
        requested_by: row.get(4)?,
        requested_at_ms: row.get(5)?,
        duration_ms: row.get(6)?,
        approved_by: row.get(7)?,
        approved_at_ms: row.get(8)?,
        expires_at_ms: row.get(9)?,
    })
}

/// An operator row before its TOTP secret is opened.
type OperatorRow = (String, String, String, String, i64, Option<i64>);

fn operator_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<OperatorRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

impl EmbeddedStore {
    fn keyring(&self) -> StoreResult<&Keyring> {
        self.keys
            .as_ref()
            .map(|(keyring, _)| keyring.as_ref())
            .ok_or(StoreError::Unavailable("field encryption"))
    }

    fn operator_from(&self, row: OperatorRow) -> StoreResult<OperatorRecord> {
        let (username, password_hash, sealed_secret, roles, created_at_ms, disabled_at_ms) = row;
        let corrupt = |detail: String| StoreError::Corrupt {
            operation: "reading an operator",
            detail,
        };
        let totp_secret = hex::decode(self.keyring()?.open(&sealed_secret)?)
            .map_err(|error| corrupt(error.to_string()))?;
        let roles = roles
            .split(',')
            .filter(|role| !role.is_empty())
            .map(|role| role.parse())
            .collect::<Result<Vec<Role>, String>>()
            .map_err(corrupt)?;
        Ok(OperatorRecord {
            username,
            password_hash,
            totp_secret,
            roles,
            created_at_ms,
            disabled_at_ms,
        })
    }
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
