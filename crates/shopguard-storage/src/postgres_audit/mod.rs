//! The tamper-evident audit log on PostgreSQL: the same entries, leaf hashing, RFC 6962
//! Merkle tree, salted commitments and Ed25519-signed checkpoints as the file-based
//! [`AuditLog`](crate::audit_log::AuditLog), kept in rows so that several nodes share one log
//! (`docs/decisions/0020-audit-log-on-postgresql.md`).
//!
//! # Tables (in the schema given to [`PostgresAuditLog::open`])
//! - `audit_log_entries (seq, at_ms, class, commitment, salt, content)`: one row per entry;
//!   `salt` and `content` (the content JSON, as bytes) are `NULL` once purged.
//! - `audit_log_tree (level, idx, hash)`: the hashes of the perfect subtrees, written in the
//!   same transaction as the entries that complete them; level 0 holds the leaf hashes.
//! - `audit_log_head (size, public_key, format)`: one row; every append moves it (`UPDATE … WHERE
//!   size = <where this node's tree ends>`), which locks it until the commit, so appends from
//!   every node are serialised; it also records the key that signs checkpoints.
//! - `audit_log_checkpoints`: the signed checkpoints.
//! - `audit_log_migrations`: the versions of `migrations/postgres_audit/NNNN_name.sql`
//!   applied, at open, under an advisory lock.
//!
//! # Durability
//! [`PostgresAuditLog::append`] returns once the transaction holding the entries, their tree
//! nodes and the new head has committed (durable under the server's default
//! `synchronous_commit = on`). A crash loses nothing acknowledged and leaves nothing to
//! recompute: entries, tree and head change together or not at all.
//!
//! # What verification proves
//! [`verify_database`] (and [`PostgresAuditLog::verify`]) trust nothing they read: every
//! commitment and leaf is recomputed, sequence numbers must run from 0 without gaps, each
//! leaf must equal the one recorded at append time, every inner tree node must be the hash
//! of the two below it, the tree is rebuilt and its root compared with every signed
//! checkpoint (and those the auditor brings), the head and the recorded leaves must not
//! count more entries than the log holds, and every entry without content must be covered
//! by a purge record in the log ([`shopguard_core::audit_purge`]).

use std::cell::RefCell;
use std::time::Duration;

use ed25519_dalek::{SigningKey, VerifyingKey};
use parking_lot::{Condvar, Mutex};
use postgres::{Client, GenericClient, NoTls};
use rand::RngCore;
use sha2::{Digest, Sha256};
use shopguard_core::audit::{self, AuditEntry, Checkpoint, RecordClass};
use shopguard_core::audit_purge::{
    decode_purge, PurgeRecord, PurgeRequest, PURGE_CONTENT_MARKER, PURGE_RECORD_FORMAT,
};
use shopguard_core::merkle::{self, Frontier, Hash, NodeSource, ProofError};

use crate::audit_log::{AuditQuery, NewAuditEntry, Stored, VerifyReport, FOLDER_FORMAT};
use crate::audit_store::AuditLogStore;
use crate::{StoreError, StoreResult};

mod verify;
pub(crate) use verify::verify_in;

pub use verify::{read_database_checkpoints, verify_database, verify_database_with_progress};

/// The migrations, in order: (version, name, SQL). Versions start at 1 with no gaps.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "audit_log",
        include_str!("../../migrations/postgres_audit/0001_audit_log.sql"),
    ),
    (
        2,
        "audit_log_format",
        include_str!("../../migrations/postgres_audit/0002_audit_log_format.sql"),
    ),
];

/// Seed of the advisory-lock key that serialises migrations, derived with the schema name.
const MIGRATION_LOCK_SEED: &[u8] = b"shopguard audit log migrations";

/// Idle reader connections kept for reuse.
const IDLE_READERS: usize = 4;

/// Entries read per round trip by [`PostgresAuditLog::query`].
const QUERY_PAGE: i64 = 1_000;

// Driver errors are mapped as the rest of the PostgreSQL backend maps them.
use crate::postgres::{db, describe};

fn corrupt(operation: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        operation,
        detail: detail.into(),
    }
}

/// Whether `schema` is a plain lowercase identifier (it is written into SQL as is).
fn valid_schema(schema: &str) -> bool {
    let mut bytes = schema.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
        && schema.len() <= 63
        && !schema.starts_with("pg_")
}

/// Where the log lives: a server and a schema in it.
#[derive(Clone)]
struct Target {
    config: postgres::Config,
    schema: String,
}

impl Target {
    fn new(url: &str, schema: &str) -> StoreResult<Target> {
        if !valid_schema(schema) {
            return Err(StoreError::Conflict(format!(
                "schema name '{schema}' is not a lowercase identifier of at most 63 characters"
            )));
        }
        let mut config: postgres::Config =
            url.parse()
                .map_err(|error: postgres::Error| StoreError::Backend {
                    operation: "reading the PostgreSQL URL",
                    message: describe(&error),
                    retryable: false,
                })?;
        config
            .options(&format!("-c search_path={schema}"))
            .application_name(&format!("shopguard-audit:{schema}"))
            .connect_timeout(Duration::from_secs(5));
        Ok(Target {
            config,
            schema: schema.to_owned(),
        })
    }

    fn connect(&self) -> StoreResult<Client> {
        self.config
            .connect(NoTls)
            .map_err(db("connecting to PostgreSQL"))
    }
}

/// Applies the migrations not yet applied, in one transaction under an advisory lock so that
/// nodes starting together do not race, creating the schema when needed.
fn migrate(client: &mut Client, schema: &str) -> StoreResult<()> {
    let operation = "migrating the audit log schema";
    let lock_key = {
        let mut hasher = Sha256::new();
        hasher.update(MIGRATION_LOCK_SEED);
        hasher.update(schema.as_bytes());
        let digest = hasher.finalize();
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(bytes)
    };
    let mut transaction = client.transaction().map_err(db(operation))?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key])
        .map_err(db(operation))?;
    // The schema name was checked by `valid_schema`: it is safe to write into SQL.
    transaction
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             SET LOCAL search_path TO {schema};
             CREATE TABLE IF NOT EXISTS audit_log_migrations (
                 version    integer     PRIMARY KEY,
                 name       text        NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             );"
        ))
        .map_err(db(operation))?;
    let applied: Vec<i32> = transaction
        .query(
            "SELECT version FROM audit_log_migrations ORDER BY version",
            &[],
        )
        .map_err(db(operation))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if let Some(newest) = applied.last() {
        if *newest > MIGRATIONS.len() as i32 {
            return Err(StoreError::Conflict(format!(
                "the audit log in schema {schema} is at migration {newest}, newer than this build knows ({}): upgrade shopguard",
                MIGRATIONS.len()
            )));
        }
    }
    for (version, name, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        tracing::info!(version, name, schema, "applying an audit log migration");
        transaction.batch_execute(sql).map_err(db(operation))?;
        transaction
            .execute(
                "INSERT INTO audit_log_migrations (version, name) VALUES ($1, $2)",
                &[version, name],
            )
            .map_err(db(operation))?;
    }
    transaction.commit().map_err(db(operation))
}

/// Tree nodes read through a connection or transaction, for [`merkle`]'s algorithms.
struct DbNodes<'a, C: GenericClient> {
    client: RefCell<&'a mut C>,
}

impl<'a, C: GenericClient> DbNodes<'a, C> {
    fn new(client: &'a mut C) -> DbNodes<'a, C> {
        DbNodes {
            client: RefCell::new(client),
        }
    }
}

impl<C: GenericClient> NodeSource for DbNodes<'_, C> {
    type Error = StoreError;
    fn node(&self, level: u32, index: u64) -> StoreResult<Hash> {
        let operation = "reading the audit tree";
        let level_code = i16::try_from(level)
            .map_err(|_| corrupt(operation, format!("tree level {level} is out of range")))?;
        let index_value = i64::try_from(index)
            .map_err(|_| corrupt(operation, format!("tree index {index} is out of range")))?;
        let row = self
            .client
            .borrow_mut()
            .query_opt(
                "SELECT hash FROM audit_log_tree WHERE level = $1 AND idx = $2",
                &[&level_code, &index_value],
            )
            .map_err(db(operation))?
            .ok_or_else(|| {
                corrupt(
                    operation,
                    format!("tree node {index} of level {level} is missing"),
                )
            })?;
        let bytes: Vec<u8> = row.try_get(0).map_err(db(operation))?;
        bytes.try_into().map_err(|_| {
            corrupt(
                operation,
                format!("tree node {index} of level {level} is not 32 bytes"),
            )
        })
    }
}

const ENTRY_COLUMNS: &str = "seq, at_ms, class, commitment, salt, content";

/// Decodes the columns [`ENTRY_COLUMNS`] (from index 0) into the entry form the file log
/// uses too; says what is wrong otherwise.
fn stored_from_row(row: &postgres::Row) -> Result<Stored, String> {
    let seq: i64 = row.try_get(0).map_err(|error| error.to_string())?;
    let at_ms: i64 = row.try_get(1).map_err(|error| error.to_string())?;
    let class_code: i16 = row.try_get(2).map_err(|error| error.to_string())?;
    let commitment: Vec<u8> = row.try_get(3).map_err(|error| error.to_string())?;
    let salt: Option<Vec<u8>> = row.try_get(4).map_err(|error| error.to_string())?;
    let content: Option<Vec<u8>> = row.try_get(5).map_err(|error| error.to_string())?;
    let seq = u64::try_from(seq).map_err(|_| format!("negative sequence number {seq}"))?;
    let class = u8::try_from(class_code)
        .ok()
        .and_then(RecordClass::from_code)
        .ok_or_else(|| format!("unknown record class {class_code}"))?;
    let commitment: Hash = commitment
        .try_into()
        .map_err(|_| "commitment is not 32 bytes".to_owned())?;
    let content = match (salt, content) {
        (Some(salt), Some(json)) => {
            let salt: [u8; 32] = salt
                .try_into()
                .map_err(|_| "salt is not 32 bytes".to_owned())?;
            Some((salt, json))
        }
        (None, None) => None,
        _ => return Err("salt and content must be both present or both purged".into()),
    };
    Ok(Stored {
        seq,
        at_ms,
        class,
        commitment,
        content,
    })
}

fn decode_row(operation: &'static str, row: &postgres::Row) -> StoreResult<Stored> {
    stored_from_row(row)
        .map_err(|detail| corrupt(operation, format!("{detail}; run `shopguard audit verify`")))
}

/// An entry count or number as PostgreSQL's `bigint`.
fn to_i64(operation: &'static str, value: u64) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| {
        corrupt(
            operation,
            format!("{value} is beyond the entries a log can hold"),
        )
    })
}

/// The appending side: one connection and the tree's right edge as this node last saw it.
struct Writer {
    client: Option<Client>,
    frontier: Frontier,
    /// [`APPEND_SQL`] prepared on `client`.
    append_statement: Option<postgres::Statement>,
}

/// The audit log in a PostgreSQL schema. Appends from every node sharing the schema are
/// serialised by a lock on the head row; reads and verification run beside them.
pub struct PostgresAuditLog {
    target: Target,
    key: SigningKey,
    writer: Mutex<Writer>,
    queue: Mutex<AppendQueue>,
    /// Signalled when a group of queued calls was written (or failed).
    written: Condvar,
    readers: Mutex<Vec<Client>>,
    /// The size this node last saw, for [`AuditLogStore::size`] when the database cannot
    /// be asked.
    last_size: std::sync::atomic::AtomicU64,
    /// Whether the relational store's audit outbox is in this schema
    /// ([`PostgresAuditLog::with_outbox`]).
    outbox_beside: bool,
}

impl std::fmt::Debug for PostgresAuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresAuditLog")
            .field("schema", &self.target.schema)
            .field(
                "entries",
                &self.last_size.load(std::sync::atomic::Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

/// A reader connection, back to the pool when dropped (unless it broke).
struct Reader<'a> {
    log: &'a PostgresAuditLog,
    client: Option<Client>,
}

impl std::ops::Deref for Reader<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("present until dropped")
    }
}

impl std::ops::DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("present until dropped")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let mut idle = self.log.readers.lock();
            if !client.is_closed() && idle.len() < IDLE_READERS {
                idle.push(client);
            }
        }
    }
}

impl PostgresAuditLog {
    /// Opens the audit log in `schema` of the database at `url` (a `postgres://` URL),
    /// creating the schema and applying migrations when needed.
    ///
    /// `signing_key` signs checkpoints; the node keeps it in its data folder
    /// ([`load_or_create_signing_key`](crate::audit_log::load_or_create_signing_key)). The
    /// first node to open the log records its public key in the database; a node holding
    /// another key is refused, since every node must sign with the same key.
    ///
    /// Refuses a log whose entries end before its own head or last checkpoint (rows were
    /// deleted): `shopguard audit verify` names the first missing entry.
    pub fn open(url: &str, schema: &str, signing_key: SigningKey) -> StoreResult<PostgresAuditLog> {
        let target = Target::new(url, schema)?;
        let mut client = target.connect()?;
        migrate(&mut client, schema)?;
        let operation = "opening the audit log";
        let public_key = signing_key.verifying_key();
        let frontier = {
            let mut transaction = client.transaction().map_err(db(operation))?;
            let head = transaction
                .query_one(
                    "SELECT size, public_key FROM audit_log_head FOR UPDATE",
                    &[],
                )
                .map_err(db(operation))?;
            let size: i64 = head.try_get(0).map_err(db(operation))?;
            let stored_key: Option<Vec<u8>> = head.try_get(1).map_err(db(operation))?;
            match stored_key {
                None => {
                    transaction
                        .execute(
                            "UPDATE audit_log_head SET public_key = $1",
                            &[&public_key.as_bytes().as_slice()],
                        )
                        .map_err(db(operation))?;
                }
                Some(stored) if stored == public_key.as_bytes() => {}
                Some(stored) => {
                    return Err(StoreError::Conflict(format!(
                        "the audit log in schema {schema} is signed by the key {}, but this node holds {}: every node must use the same audit signing key",
                        hex::encode(&stored),
                        hex::encode(public_key.as_bytes()),
                    )));
                }
            }
            let size = u64::try_from(size)
                .map_err(|_| corrupt(operation, format!("the head counts {size} entries")))?;
            let ends: postgres::Row = transaction
                .query_one(
                    "SELECT (SELECT coalesce(max(seq) + 1, 0) FROM audit_log_entries),
                            (SELECT coalesce(max(size), 0) FROM audit_log_checkpoints)",
                    &[],
                )
                .map_err(db(operation))?;
            let entries_end: i64 = ends.try_get(0).map_err(db(operation))?;
            let checkpointed: i64 = ends.try_get(1).map_err(db(operation))?;
            let expected = checkpointed.max(size as i64);
            if entries_end < expected {
                return Err(truncated(
                    schema,
                    u64::try_from(entries_end).unwrap_or(0),
                    u64::try_from(expected).unwrap_or(0),
                ));
            }
            let frontier = Frontier::from_source(&DbNodes::new(&mut transaction), size)?;
            transaction.commit().map_err(db(operation))?;
            frontier
        };
        let size = frontier.size();
        let log = PostgresAuditLog {
            target,
            key: signing_key,
            writer: Mutex::new(Writer {
                client: Some(client),
                frontier,
                append_statement: None,
            }),
            queue: Mutex::new(AppendQueue::default()),
            written: Condvar::new(),
            readers: Mutex::new(Vec::new()),
            last_size: std::sync::atomic::AtomicU64::new(size),
            outbox_beside: false,
        };
        log.upgrade_format()?;
        Ok(log)
    }

    /// Declares that the relational store's audit outbox (`audit_outbox`,
    /// [`PostgresStore`](crate::postgres::PostgresStore)) lives in this log's schema, so that
    /// [`PostgresAuditLog::drain_outbox`] moves it into the log in the log's own transaction.
    pub fn with_outbox(mut self) -> PostgresAuditLog {
        self.outbox_beside = true;
        self
    }

    /// The schema the log lives in.
    pub fn schema(&self) -> &str {
        &self.target.schema
    }

    fn reader(&self) -> StoreResult<Reader<'_>> {
        let idle = self.readers.lock().pop();
        // An idle connection may have been closed by the server meanwhile (a restart, an
        // administrator): one round trip checks it, so that reads do not fail for it.
        let client = match idle.map(|mut client| {
            let alive = client.is_valid(Duration::from_secs(2)).is_ok();
            (client, alive)
        }) {
            Some((client, true)) => client,
            _ => self.target.connect()?,
        };
        Ok(Reader {
            log: self,
            client: Some(client),
        })
    }

    fn note_size(&self, size: u64) {
        self.last_size
            .fetch_max(size, std::sync::atomic::Ordering::AcqRel);
    }

    /// The number of entries, as the database says now.
    fn current_size(&self) -> StoreResult<u64> {
        let operation = "reading the audit log's size";
        let mut reader = self.reader()?;
        let size: i64 = reader
            .query_one("SELECT size FROM audit_log_head", &[])
            .map_err(db(operation))?
            .try_get(0)
            .map_err(db(operation))?;
        let size = u64::try_from(size)
            .map_err(|_| corrupt(operation, format!("the head counts {size} entries")))?;
        self.note_size(size);
        Ok(size)
    }

    /// Runs `work` in a transaction of the writer connection that holds the head row's lock,
    /// with the frontier brought up to the head's size (another node may have appended).
    fn with_head<T>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&mut postgres::Transaction<'_>, &mut Frontier) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut guard = self.writer.lock();
        self.with_head_locked(&mut guard, operation, work)
    }

    /// [`Self::with_head`] with the writer already locked by the caller.
    fn with_head_locked<T>(
        &self,
        writer: &mut Writer,
        operation: &'static str,
        work: impl FnOnce(&mut postgres::Transaction<'_>, &mut Frontier) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.ensure_connected(writer)?;
        let Writer {
            client, frontier, ..
        } = writer;
        let Some(connection) = client.as_mut() else {
            return Err(StoreError::Unavailable("the audit log's connection"));
        };
        let result = head_transaction(connection, frontier, operation, work);
        self.settle(writer, result)
    }

    /// Opens the writer connection when there is none, or the one there is was closed.
    fn ensure_connected(&self, writer: &mut Writer) -> StoreResult<()> {
        if writer.client.as_ref().is_none_or(Client::is_closed) {
            writer.append_statement = None;
            writer.client = Some(self.target.connect()?);
        }
        Ok(())
    }

    /// Keeps the frontier a committed write grew; after a retryable failure, drops the
    /// connection, which may be broken without knowing it yet (the server ended the session),
    /// so that the next call starts on a new one.
    fn settle<T>(&self, writer: &mut Writer, result: StoreResult<(T, Frontier)>) -> StoreResult<T> {
        match result {
            Ok((value, grown)) => {
                writer.frontier = grown;
                self.note_size(writer.frontier.size());
                Ok(value)
            }
            Err(error) => {
                if error.is_retryable() {
                    writer.client = None;
                    writer.append_statement = None;
                }
                Err(error)
            }
        }
    }

    /// Writes the queued calls in one statement, committed on its own, when no other node
    /// appended since this one last did (one round trip); otherwise locks the head, catches
    /// up with the tree and writes them in that transaction.
    fn append_locked(
        &self,
        writer: &mut Writer,
        calls: &[(u64, Vec<Prepared>)],
    ) -> StoreResult<Vec<std::ops::Range<u64>>> {
        let operation = "appending to the audit log";
        self.ensure_connected(writer)?;
        let Writer {
            client,
            frontier,
            append_statement,
        } = writer;
        let Some(connection) = client.as_mut() else {
            return Err(StoreError::Unavailable("the audit log's connection"));
        };
        let result = (|| {
            let statement = match append_statement {
                Some(statement) => statement.clone(),
                None => {
                    let statement = connection.prepare(APPEND_SQL).map_err(db(operation))?;
                    *append_statement = Some(statement.clone());
                    statement
                }
            };
            let mut grown = frontier.clone();
            if let Some(ranges) = write_entries(connection, &statement, &mut grown, calls)? {
                return Ok((ranges, grown));
            }
            head_transaction(connection, frontier, operation, |transaction, grown| {
                write_entries(transaction, &statement, grown, calls)?.ok_or_else(|| {
                    corrupt(
                        operation,
                        "the log's head moved while this node held its lock",
                    )
                })
            })
        })();
        self.settle(writer, result)
    }

    /// Appends entries; returns their sequence numbers once the transaction holding them has
    /// committed.
    ///
    /// Calls made together on this node share one transaction (group commit): a call queues
    /// its entries; when no call is writing, it writes everything queued so far, and the
    /// calls it wrote for are woken with their sequence numbers.
    pub fn append(&self, entries: &[NewAuditEntry]) -> StoreResult<Vec<u64>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let prepared = entries
            .iter()
            .map(Prepared::new)
            .collect::<StoreResult<Vec<_>>>()?;
        let mut queue = self.queue.lock();
        queue.next_ticket += 1;
        let ticket = queue.next_ticket;
        queue.waiting.push((ticket, prepared));
        // Wait until another call wrote these entries, or until no call is writing, in which
        // case this one writes everything queued.
        loop {
            if let Some(result) = queue.done.remove(&ticket) {
                return result;
            }
            if !queue.writing {
                queue.writing = true;
                break;
            }
            self.written.wait(&mut queue);
        }
        let waiting = std::mem::take(&mut queue.waiting);
        drop(queue);
        debug_assert!(waiting.iter().any(|(queued, _)| *queued == ticket));
        let written = {
            let mut writer = self.writer.lock();
            self.append_locked(&mut writer, &waiting)
        };
        let mut queue = self.queue.lock();
        let mut own = Err(StoreError::Unavailable("the audit log's group commit"));
        match written {
            Ok(ranges) => {
                for ((queued, _), range) in waiting.iter().zip(ranges) {
                    let seqs = Ok(range.collect());
                    if *queued == ticket {
                        own = seqs;
                    } else {
                        queue.done.insert(*queued, seqs);
                    }
                }
            }
            Err(error) => {
                for (queued, _) in &waiting {
                    if *queued != ticket {
                        queue.done.insert(
                            *queued,
                            Err(StoreError::Backend {
                                operation: "appending to the audit log",
                                message: error.to_string(),
                                retryable: error.is_retryable(),
                            }),
                        );
                    }
                }
                own = Err(error);
            }
        }
        queue.writing = false;
        drop(queue);
        self.written.notify_all();
        own
    }

    /// Moves up to `limit` of the oldest entries of the audit outbox into the log, in one
    /// transaction that takes the head row's lock, deletes the outbox rows (`RETURNING`
    /// them) and appends them with their tree nodes and the new head: one commit, where
    /// the outbox path through [`AuditOutbox`](crate::AuditOutbox) takes three (claim,
    /// append, delete). Returns how many entries moved.
    ///
    /// Every node drains under the head row's lock, so an outbox row is moved exactly once
    /// (its deletion and its entry commit together), and a drain that finds the outbox
    /// empty returns only after any drain that had taken its rows has committed: a change
    /// whose outbox row is gone is in the log. Rows another node claimed less than a minute
    /// ago through the outbox path (a node of an earlier version) are left to it. An empty
    /// outbox costs one read and no transaction.
    ///
    /// Needs [`PostgresAuditLog::with_outbox`].
    pub fn drain_outbox(&self, limit: u32) -> StoreResult<usize> {
        let operation = "moving the audit outbox into the log";
        if !self.outbox_beside {
            return Err(StoreError::Conflict(
                "this audit log was not opened beside the store's audit outbox".into(),
            ));
        }
        let mut guard = self.writer.lock();
        let writer = &mut *guard;
        self.ensure_connected(writer)?;
        let Writer {
            client,
            frontier,
            append_statement,
        } = writer;
        let Some(connection) = client.as_mut() else {
            return Err(StoreError::Unavailable("the audit log's connection"));
        };
        let result = (|| {
            let queued: bool = connection
                .query_one("SELECT EXISTS (SELECT 1 FROM audit_outbox)", &[])
                .map_err(db(operation))?
                .try_get(0)
                .map_err(db(operation))?;
            if !queued {
                return Ok((0, frontier.clone()));
            }
            let statement = match append_statement {
                Some(statement) => statement.clone(),
                None => {
                    let statement = connection.prepare(APPEND_SQL).map_err(db(operation))?;
                    *append_statement = Some(statement.clone());
                    statement
                }
            };
            let mut transaction = connection.transaction().map_err(db(operation))?;
            let size: i64 = transaction
                .query_one("SELECT size FROM audit_log_head FOR UPDATE", &[])
                .map_err(db(operation))?
                .try_get(0)
                .map_err(db(operation))?;
            let size = u64::try_from(size)
                .map_err(|_| corrupt(operation, format!("the head counts {size} entries")))?;
            if size != frontier.size() {
                // Another node appended since this one last did.
                *frontier = Frontier::from_source(&DbNodes::new(&mut transaction), size)?;
            }
            let claim_expired = now_ms() - OUTBOX_CLAIM_EXPIRES_MS;
            let mut rows = transaction
                .query(DRAIN_SQL, &[&i64::from(limit.max(1)), &claim_expired])
                .map_err(db(operation))?;
            if rows.is_empty() {
                // Nothing written: ending without a commit waits for no flush.
                transaction.rollback().map_err(db(operation))?;
                return Ok((0, frontier.clone()));
            }
            rows.sort_by_key(|row| row.get::<_, i64>(0));
            let entries = rows
                .iter()
                .map(|row| outbox_entry(row, operation))
                .collect::<StoreResult<Vec<NewAuditEntry>>>()?;
            let mut grown = frontier.clone();
            write_entries(
                &mut transaction,
                &statement,
                &mut grown,
                &[(
                    0,
                    entries
                        .iter()
                        .map(Prepared::new)
                        .collect::<StoreResult<Vec<_>>>()?,
                )],
            )?
            .ok_or_else(|| {
                corrupt(
                    operation,
                    "the log's head moved while this node held its lock",
                )
            })?;
            transaction.commit().map_err(db(operation))?;
            Ok((entries.len(), grown))
        })();
        self.settle(writer, result)
    }

    /// Signs the current size and root, stores the checkpoint and returns it. Holds the head
    /// row's lock meanwhile, so that no append slips between the root and the signature.
    pub fn checkpoint(&self, now_ms: i64) -> StoreResult<Checkpoint> {
        let operation = "writing an audit checkpoint";
        self.with_head(operation, |transaction, frontier| {
            let checkpoint = Checkpoint::sign(&self.key, frontier.size(), &frontier.root(), now_ms);
            let size = to_i64(operation, checkpoint.size)?;
            transaction
                .execute(
                    "INSERT INTO audit_log_checkpoints (size, root, at_ms, key_id, signature)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[
                        &size,
                        &checkpoint.root,
                        &checkpoint.at_ms,
                        &checkpoint.key_id,
                        &checkpoint.signature,
                    ],
                )
                .map_err(db(operation))?;
            Ok(checkpoint)
        })
    }

    /// Every stored checkpoint, oldest first.
    pub fn checkpoints(&self) -> StoreResult<Vec<Checkpoint>> {
        verify::read_checkpoints(&mut *self.reader()?)
    }

    /// One entry.
    pub fn entry(&self, seq: u64) -> StoreResult<Option<AuditEntry>> {
        let operation = "reading an audit entry";
        let Ok(seq_value) = i64::try_from(seq) else {
            return Ok(None);
        };
        let row = self
            .reader()?
            .query_opt(
                &format!("SELECT {ENTRY_COLUMNS} FROM audit_log_entries WHERE seq = $1"),
                &[&seq_value],
            )
            .map_err(db(operation))?;
        row.map(|row| decode_row(operation, &row)?.to_entry())
            .transpose()
    }

    /// Entries matching `query`, newest first. Sequence numbers, time and class are filtered
    /// by the database; actor, action and object on the decoded content, as the file-based
    /// log does.
    pub fn query(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let operation = "querying the audit log";
        let limit = query.limit.clamp(1, 1_000) as usize;
        let mut before = i64::try_from(query.before_seq.unwrap_or(u64::MAX)).unwrap_or(i64::MAX);
        let class = query.class.map(|class| i16::from(class.code()));
        let mut reader = self.reader()?;
        let mut found = Vec::new();
        loop {
            let rows = reader
                .query(
                    &format!(
                        "SELECT {ENTRY_COLUMNS} FROM audit_log_entries
                         WHERE seq < $1
                           AND ($2::bigint IS NULL OR at_ms >= $2)
                           AND ($3::bigint IS NULL OR at_ms < $3)
                           AND ($4::smallint IS NULL OR class = $4)
                         ORDER BY seq DESC LIMIT $5"
                    ),
                    &[&before, &query.from_ms, &query.to_ms, &class, &QUERY_PAGE],
                )
                .map_err(db(operation))?;
            let page_length = rows.len();
            for row in &rows {
                let stored = decode_row(operation, row)?;
                before = stored.seq as i64;
                let entry = stored.to_entry()?;
                if query.matches_content(&entry) {
                    found.push(entry);
                    if found.len() == limit {
                        return Ok(found);
                    }
                }
            }
            if page_length < QUERY_PAGE as usize {
                return Ok(found);
            }
        }
    }

    /// The entry `seq` with the proof that it is in the tree of `tree_size` entries.
    pub fn inclusion_proof(
        &self,
        seq: u64,
        tree_size: u64,
    ) -> StoreResult<(AuditEntry, Vec<Hash>)> {
        if tree_size > self.current_size()? {
            return Err(StoreError::NotFound(format!(
                "a tree of {tree_size} entries"
            )));
        }
        let proof = merkle::inclusion_proof(&DbNodes::new(&mut *self.reader()?), seq, tree_size)
            .map_err(proof_error)?;
        let entry = self
            .entry(seq)?
            .ok_or_else(|| StoreError::NotFound(format!("audit entry {seq}")))?;
        Ok((entry, proof))
    }

    /// The proof that the tree of `old_size` entries is a prefix of the tree of `new_size`.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> StoreResult<Vec<Hash>> {
        if new_size > self.current_size()? {
            return Err(StoreError::NotFound(format!(
                "a tree of {new_size} entries"
            )));
        }
        merkle::consistency_proof(&DbNodes::new(&mut *self.reader()?), old_size, new_size)
            .map_err(proof_error)
    }

    /// The root of the tree of the first `size` entries.
    pub fn root(&self, size: u64) -> StoreResult<Hash> {
        if size > self.current_size()? {
            return Err(StoreError::NotFound(format!("a tree of {size} entries")));
        }
        merkle::root(&DbNodes::new(&mut *self.reader()?), size)
    }

    /// Removes the salt and content of the entries `request` reaches (classes past their
    /// retention), keeping their commitments so that the tree still verifies. In the same
    /// transaction, holding the head's lock, first appends the purge record that names the
    /// rules, who purges and when ([`shopguard_core::audit_purge`]); nothing is recorded when
    /// nothing is to be purged. Refuses classes kept for good and retention below the legal
    /// minimum. Purge records themselves are never purged. Returns how many entries were
    /// purged now.
    pub fn purge_expired(&self, request: &PurgeRequest) -> StoreResult<u64> {
        let operation = "purging the audit log";
        let rules = request
            .rules()
            .map_err(|error| StoreError::Conflict(error.to_string()))?;
        let marker = PURGE_CONTENT_MARKER.as_bytes();
        const REACHED: &str = "class = $1 AND at_ms < $2 AND seq < $3 AND content IS NOT NULL
             AND position($4::bytea in content) = 0";
        self.with_head(operation, |transaction, frontier| {
            let below = to_i64(operation, frontier.size())?;
            let mut count = 0u64;
            for rule in &rules {
                let reached: i64 = transaction
                    .query_one(
                        &format!("SELECT count(*) FROM audit_log_entries WHERE {REACHED}"),
                        &[&i16::from(rule.class.code()), &rule.cutoff_ms, &below, &marker],
                    )
                    .map_err(db(operation))?
                    .try_get(0)
                    .map_err(db(operation))?;
                count += u64::try_from(reached).unwrap_or(0);
            }
            if count == 0 {
                return Ok(0);
            }
            let record = PurgeRecord {
                format: PURGE_RECORD_FORMAT,
                below_seq: frontier.size(),
                previous: last_purge_record(transaction)?,
                rules: rules.clone(),
                purged: count,
                legacy: false,
                adopted: Vec::new(),
            };
            append_in(
                transaction,
                frontier,
                &[NewAuditEntry {
                    at_ms: request.at_ms,
                    class: PurgeRecord::CLASS,
                    content: record.content(&request.actor),
                }],
            )?;
            let mut purged = 0;
            for rule in &rules {
                purged += transaction
                    .execute(
                        &format!(
                            "UPDATE audit_log_entries SET salt = NULL, content = NULL WHERE {REACHED}"
                        ),
                        &[&i16::from(rule.class.code()), &rule.cutoff_ms, &below, &marker],
                    )
                    .map_err(db(operation))?;
            }
            Ok(purged)
        })
    }

    /// Brings a log written before purges were recorded (head `format` 1) to the current
    /// format: the entries found purged, except those of classes kept for good, are listed in
    /// one legacy purge record, which verification accepts as the log's first purge record.
    fn upgrade_format(&self) -> StoreResult<()> {
        let operation = "upgrading the audit log";
        self.with_head(operation, |transaction, frontier| {
            let format: i16 = transaction
                .query_one("SELECT format FROM audit_log_head", &[])
                .map_err(db(operation))?
                .try_get(0)
                .map_err(db(operation))?;
            if i64::from(format) > i64::from(FOLDER_FORMAT) {
                return Err(StoreError::Conflict(format!(
                    "the audit log is of format {format}, newer than this build writes ({FOLDER_FORMAT}): upgrade shopguard"
                )));
            }
            if i64::from(format) == i64::from(FOLDER_FORMAT) {
                return Ok(());
            }
            if frontier.size() > 0 {
                if last_purge_record(transaction)?.is_some() {
                    tracing::warn!("the audit log's head says format 1 but it holds purge records; not accepting earlier purges");
                } else {
                    let kept: Vec<i16> = RecordClass::ALL
                        .into_iter()
                        .filter(|class| class.kept_long_term())
                        .map(|class| i16::from(class.code()))
                        .collect();
                    let rows = transaction
                        .query(
                            "SELECT seq FROM audit_log_entries
                             WHERE content IS NULL AND NOT (class = ANY($1)) ORDER BY seq",
                            &[&kept],
                        )
                        .map_err(db(operation))?;
                    let mut adopted: Vec<[u64; 2]> = Vec::new();
                    for row in &rows {
                        let seq: i64 = row.try_get(0).map_err(db(operation))?;
                        let seq = u64::try_from(seq).unwrap_or(0);
                        match adopted.last_mut() {
                            Some(range) if range[1] == seq => range[1] += 1,
                            _ => adopted.push([seq, seq + 1]),
                        }
                    }
                    let record = PurgeRecord {
                        format: PURGE_RECORD_FORMAT,
                        below_seq: frontier.size(),
                        previous: None,
                        rules: Vec::new(),
                        purged: rows.len() as u64,
                        legacy: true,
                        adopted,
                    };
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX));
                    append_in(
                        transaction,
                        frontier,
                        &[NewAuditEntry {
                            at_ms: now,
                            class: PurgeRecord::CLASS,
                            content: record.content("system"),
                        }],
                    )?;
                    tracing::warn!(
                        entries = rows.len(),
                        "audit log upgraded to format 2: entries purged before purges were recorded are accepted as found"
                    );
                }
            }
            transaction
                .execute(
                    "UPDATE audit_log_head SET format = $1",
                    &[&(FOLDER_FORMAT as i16)],
                )
                .map_err(db(operation))?;
            Ok(())
        })
    }

    /// Recomputes everything and compares it with the signed checkpoints (those stored, and
    /// `extra` ones an auditor kept), using `key` to check signatures.
    pub fn verify(&self, key: &VerifyingKey, extra: &[Checkpoint]) -> StoreResult<VerifyReport> {
        verify::verify_client(&mut *self.reader()?, key, extra, &mut |_| {})
    }
}

/// Runs `work` in a transaction on `connection` holding the head row's lock, on a copy of
/// `frontier` brought up to the head's size; returns what `work` returned and the frontier
/// it grew, once committed.
fn head_transaction<T>(
    connection: &mut Client,
    frontier: &mut Frontier,
    operation: &'static str,
    work: impl FnOnce(&mut postgres::Transaction<'_>, &mut Frontier) -> StoreResult<T>,
) -> StoreResult<(T, Frontier)> {
    let mut transaction = connection.transaction().map_err(db(operation))?;
    let size: i64 = transaction
        .query_one("SELECT size FROM audit_log_head FOR UPDATE", &[])
        .map_err(db(operation))?
        .try_get(0)
        .map_err(db(operation))?;
    let size = u64::try_from(size)
        .map_err(|_| corrupt(operation, format!("the head counts {size} entries")))?;
    if size != frontier.size() {
        // Another node appended since this one last did.
        *frontier = Frontier::from_source(&DbNodes::new(&mut transaction), size)?;
    }
    let mut grown = frontier.clone();
    let value = work(&mut transaction, &mut grown)?;
    transaction.commit().map_err(db(operation))?;
    Ok((value, grown))
}

/// How long a claim on outbox rows by a node of an earlier version (which claimed, appended
/// and deleted in three steps) holds; the relational store's outbox path uses the same.
const OUTBOX_CLAIM_EXPIRES_MS: i64 = 60_000;

/// Takes the oldest outbox rows (`$1` of them) not claimed by a node still moving them the
/// old way (a claim at or after `$2`), deleting them in the drain's transaction.
const DRAIN_SQL: &str = "
    DELETE FROM audit_outbox WHERE id IN (
        SELECT id FROM audit_outbox
        WHERE claimed_by IS NULL OR claimed_at_ms < $2
        ORDER BY id LIMIT $1 FOR UPDATE)
    RETURNING id, at_ms, class, content";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// The entry an outbox row (`id, at_ms, class, content` of [`DRAIN_SQL`]) holds.
fn outbox_entry(row: &postgres::Row, operation: &'static str) -> StoreResult<NewAuditEntry> {
    let class: &str = row.try_get(2).map_err(db(operation))?;
    let content: &str = row.try_get(3).map_err(db(operation))?;
    Ok(NewAuditEntry {
        at_ms: row.try_get(1).map_err(db(operation))?,
        class: class
            .parse()
            .map_err(|detail: String| corrupt(operation, detail))?,
        content: serde_json::from_str(content)
            .map_err(|error| corrupt(operation, error.to_string()))?,
    })
}

/// An entry ready to be written: its content encoded, salted and committed to.
struct Prepared {
    at_ms: i64,
    class: RecordClass,
    commitment: Hash,
    salt: [u8; 32],
    json: Vec<u8>,
}

impl Prepared {
    /// Encodes `entry`'s content under a fresh random salt.
    fn new(entry: &NewAuditEntry) -> StoreResult<Prepared> {
        let json = serde_json::to_vec(&entry.content)
            .map_err(|error| corrupt("encoding an audit entry", error.to_string()))?;
        let mut salt = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut salt);
        Ok(Prepared {
            at_ms: entry.at_ms,
            class: entry.class,
            commitment: audit::commitment(&salt, &json),
            salt,
            json,
        })
    }
}

/// Appends `entries` in a transaction that holds the head's lock, `frontier` being where the
/// tree ends.
fn append_in<C: GenericClient>(
    client: &mut C,
    frontier: &mut Frontier,
    entries: &[NewAuditEntry],
) -> StoreResult<()> {
    let operation = "appending to the audit log";
    let prepared = entries
        .iter()
        .map(Prepared::new)
        .collect::<StoreResult<Vec<_>>>()?;
    let statement = client.prepare(APPEND_SQL).map_err(db(operation))?;
    write_entries(client, &statement, frontier, &[(0, prepared)])?.ok_or_else(|| {
        corrupt(
            operation,
            "the log's head moved while this node held its lock",
        )
    })?;
    Ok(())
}

/// The sequence number of the log's last purge record.
fn last_purge_record<C: GenericClient>(client: &mut C) -> StoreResult<Option<u64>> {
    let operation = "finding the last audit purge record";
    let rows = client
        .query(
            "SELECT seq, content FROM audit_log_entries
             WHERE content IS NOT NULL AND position($1::bytea in content) > 0
             ORDER BY seq DESC",
            &[&PURGE_CONTENT_MARKER.as_bytes()],
        )
        .map_err(db(operation))?;
    for row in rows {
        let seq: i64 = row.try_get(0).map_err(db(operation))?;
        let content: Vec<u8> = row.try_get(1).map_err(db(operation))?;
        if matches!(decode_purge(&content), Some(Ok(_))) {
            return Ok(u64::try_from(seq).ok());
        }
    }
    Ok(None)
}

/// The refusal to open a log that ends before its head or its own newest checkpoint, with
/// the ways out.
fn truncated(schema: &str, entries: u64, covered: u64) -> StoreError {
    let aside = format!("{schema}_truncated");
    let moves: String = [
        "audit_log_entries",
        "audit_log_tree",
        "audit_log_head",
        "audit_log_checkpoints",
        "audit_log_migrations",
    ]
    .iter()
    .map(|table| format!(" ALTER TABLE {schema}.{table} SET SCHEMA {aside};"))
    .collect();
    StoreError::Truncated {
        log: format!("in PostgreSQL schema {schema}"),
        entries,
        covered,
        recovery: format!(
            "`shopguard audit verify` names what is missing; restore the schema from a backup, or keep these rows for investigation and start a new log: psql -c 'CREATE SCHEMA {aside};{moves}'"
        ),
    }
}

/// Appends calls waiting for the writer connection, and the results of those written by
/// another call.
#[derive(Default)]
struct AppendQueue {
    next_ticket: u64,
    /// Whether a call is writing queued entries now.
    writing: bool,
    waiting: Vec<(u64, Vec<Prepared>)>,
    done: std::collections::HashMap<u64, StoreResult<Vec<u64>>>,
}

/// One append: moves the head from `$8` to `$7` entries (only if it is at `$8`: no other
/// node appended meanwhile, and it stays locked until the commit) and, if it moved, inserts
/// the entries and the tree nodes they complete. Returns how many heads moved (0 or 1).
const APPEND_SQL: &str = "
    WITH head AS (
        UPDATE audit_log_head SET size = $7 WHERE size = $8 RETURNING size
    ), new_entries AS (
        INSERT INTO audit_log_entries (seq, at_ms, class, commitment, salt, content)
        SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::smallint[],
                             $4::bytea[], $5::bytea[], $6::bytea[])
        WHERE EXISTS (SELECT 1 FROM head)
    ), new_nodes AS (
        INSERT INTO audit_log_tree (level, idx, hash)
        SELECT * FROM unnest($9::smallint[], $10::bigint[], $11::bytea[])
        WHERE EXISTS (SELECT 1 FROM head)
    )
    SELECT count(*) FROM head";

/// Writes the entries of every queued call after the tree `frontier` ends, with their tree
/// nodes and the new head, through `client` ([`APPEND_SQL`] prepared as `statement`).
/// Returns each call's sequence numbers, or `None` (nothing written) when the head is no
/// longer where `frontier` ends.
fn write_entries<C: GenericClient>(
    client: &mut C,
    statement: &postgres::Statement,
    frontier: &mut Frontier,
    calls: &[(u64, Vec<Prepared>)],
) -> StoreResult<Option<Vec<std::ops::Range<u64>>>> {
    let operation = "appending to the audit log";
    let start = to_i64(operation, frontier.size())?;
    let count: usize = calls.iter().map(|(_, entries)| entries.len()).sum();
    let mut seqs = Vec::with_capacity(count);
    let mut times = Vec::with_capacity(count);
    let mut classes = Vec::with_capacity(count);
    let mut commitments = Vec::with_capacity(count);
    let mut salts = Vec::with_capacity(count);
    let mut contents = Vec::with_capacity(count);
    let mut node_levels: Vec<i16> = Vec::with_capacity(count * 2);
    let mut node_indexes: Vec<i64> = Vec::with_capacity(count * 2);
    let mut completed: Vec<Hash> = Vec::with_capacity(count * 2);
    let mut ranges = Vec::with_capacity(calls.len());
    for (_, entries) in calls {
        let first = frontier.size();
        for entry in entries {
            let seq = frontier.size();
            let leaf = merkle::leaf_hash(&audit::leaf_data(
                seq,
                entry.at_ms,
                entry.class,
                &entry.commitment,
            ));
            seqs.push(to_i64(operation, seq)?);
            times.push(entry.at_ms);
            classes.push(i16::from(entry.class.code()));
            commitments.push(entry.commitment.as_slice());
            salts.push(entry.salt.as_slice());
            contents.push(entry.json.as_slice());
            frontier.push(leaf, |level, index, hash| {
                // Levels are below 64 and indexes below the size, itself an i64.
                node_levels.push(level as i16);
                node_indexes.push(index as i64);
                completed.push(*hash);
            });
        }
        ranges.push(first..frontier.size());
    }
    let node_hashes: Vec<&[u8]> = completed.iter().map(|hash| hash.as_slice()).collect();
    let end = to_i64(operation, frontier.size())?;
    let moved: i64 = client
        .query_one(
            statement,
            &[
                &seqs,
                &times,
                &classes,
                &commitments,
                &salts,
                &contents,
                &end,
                &start,
                &node_levels,
                &node_indexes,
                &node_hashes,
            ],
        )
        .map_err(db(operation))?
        .try_get(0)
        .map_err(db(operation))?;
    Ok((moved == 1).then_some(ranges))
}

fn proof_error(error: ProofError<StoreError>) -> StoreError {
    match error {
        ProofError::OutOfRange(detail) => StoreError::NotFound(detail),
        ProofError::Source(error) => error,
    }
}

impl AuditLogStore for PostgresAuditLog {
    fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
    fn size(&self) -> u64 {
        match self.current_size() {
            Ok(size) => size,
            Err(error) => {
                tracing::warn!(error = %error, "cannot read the audit log's size; using the last one seen");
                self.last_size.load(std::sync::atomic::Ordering::Acquire)
            }
        }
    }
    fn append(&self, entries: &[NewAuditEntry]) -> StoreResult<Vec<u64>> {
        PostgresAuditLog::append(self, entries)
    }
    fn drain_outbox(&self, limit: u32) -> StoreResult<Option<usize>> {
        if !self.outbox_beside {
            return Ok(None);
        }
        PostgresAuditLog::drain_outbox(self, limit).map(Some)
    }
    fn checkpoint(&self, now_ms: i64) -> StoreResult<Checkpoint> {
        PostgresAuditLog::checkpoint(self, now_ms)
    }
    fn checkpoints(&self) -> StoreResult<Vec<Checkpoint>> {
        PostgresAuditLog::checkpoints(self)
    }
    fn entry(&self, seq: u64) -> StoreResult<Option<AuditEntry>> {
        PostgresAuditLog::entry(self, seq)
    }
    fn query(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        PostgresAuditLog::query(self, query)
    }
    fn inclusion_proof(&self, seq: u64, tree_size: u64) -> StoreResult<(AuditEntry, Vec<Hash>)> {
        PostgresAuditLog::inclusion_proof(self, seq, tree_size)
    }
    fn consistency_proof(&self, old_size: u64, new_size: u64) -> StoreResult<Vec<Hash>> {
        PostgresAuditLog::consistency_proof(self, old_size, new_size)
    }
    fn root(&self, size: u64) -> StoreResult<Hash> {
        PostgresAuditLog::root(self, size)
    }
    fn purge_expired(&self, request: &PurgeRequest) -> StoreResult<u64> {
        PostgresAuditLog::purge_expired(self, request)
    }
    fn verify(&self, key: &VerifyingKey, extra: &[Checkpoint]) -> StoreResult<VerifyReport> {
        PostgresAuditLog::verify(self, key, extra)
    }
}
