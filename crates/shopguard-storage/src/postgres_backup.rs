//! Backup of a PostgreSQL node's schema, and verified restore into a new schema.
//!
//! # The backup folder (format 1)
//! - `database.sql`: `pg_dump` of the node's schema as plain SQL, data as multi-row
//!   `INSERT`s (`--inserts --rows-per-insert`), without owners or privileges. Plain SQL keeps
//!   the dump readable and diffable, and lets [`restore`] apply it in one transaction through
//!   the same driver as the store, without `psql`.
//! - `audit-signing.key`: the data folder's audit signing key (the public key checks the
//!   restored audit log; the node needs the seed to go on signing checkpoints).
//! - `MANIFEST.json`: [`PostgresManifest`]: the backend, the schema dumped, what the dump
//!   holds (decisions, audit entries and the audit root, API keys, policy versions) and the
//!   size and SHA-256 of every file.
//!
//! The master key is never copied, exactly as for the embedded backup: a stolen backup keeps
//! its personal fields encrypted, and restore takes the key separately.
//!
//! # Consistency
//! The counts and the audit root are read in one repeatable-read transaction whose snapshot
//! is exported to `pg_dump --snapshot`: the manifest describes exactly the rows dumped, while
//! the nodes go on writing.
//!
//! # Restore
//! Into a schema with no tables (a new one, usually): every file is checked against the
//! manifest; the dump is applied in one transaction with its schema name changed to the
//! target's (qualified names only, and the sequence names given to `setval`; row data is
//! never touched); the audit log is verified ([`verify_database`]) and the store opened with
//! the master key (which also applies migrations newer than the dump) and counted. Anything
//! that fails drops the restored schema again: a restore either reports success or leaves
//! nothing behind.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use postgres::{IsolationLevel, NoTls};
use serde::{Deserialize, Serialize};

use crate::audit_log::{self, SIGNING_KEY_FILE};
use crate::backup::{copy_file, corrupt, sha256_of, BackedUpFile, MANIFEST};
use crate::files::{io, sync_folder};
use crate::keyring::{LocalMasterKey, MASTER_KEY_FILE};
use crate::postgres::{connection_config, db, PostgresSettings, PostgresStore};
use crate::postgres_audit::{verify_database, verify_in};
use crate::{ApiKeyStore, DecisionStore, PolicyStore, StoreError, StoreResult};

/// The format of a PostgreSQL backup folder.
pub const FORMAT: u32 = 1;
/// The `backend` a PostgreSQL backup's manifest names.
pub const BACKEND: &str = "postgresql";
/// The dump's file name in a backup folder.
pub const DUMP_FILE: &str = "database.sql";
/// Rows per `INSERT` in the dump.
const ROWS_PER_INSERT: u32 = 1_000;

/// What a PostgreSQL backup holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostgresManifest {
    /// Format of the backup folder ([`FORMAT`]).
    pub format: u32,
    /// Always [`BACKEND`]: tells this backup from a data-folder one.
    pub backend: String,
    /// When it was taken (ms since epoch).
    pub created_at_ms: i64,
    /// The schema dumped.
    pub schema: String,
    /// `pg_dump --version` of the tool that wrote the dump.
    pub pg_dump: String,
    /// Decisions in the dump.
    pub decisions: u64,
    /// Audit entries in the dump.
    pub audit_entries: u64,
    /// Root of the dumped audit tree, hex.
    pub audit_root: String,
    /// API keys in the dump.
    pub api_keys: usize,
    /// Policy versions in the dump.
    pub policy_versions: usize,
    /// Every file, with its hash.
    pub files: Vec<BackedUpFile>,
}

/// What a restore checked and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresRestoreReport {
    /// The manifest of the restored backup.
    pub manifest: PostgresManifest,
    /// Files whose hashes were checked.
    pub files_checked: usize,
    /// Audit checkpoints whose signatures and roots were checked.
    pub audit_checkpoints_checked: usize,
}

/// Whether the backup folder `from` holds a PostgreSQL backup (its manifest says so).
pub fn is_postgres_backup(from: &Path) -> bool {
    #[derive(Deserialize)]
    struct Backend {
        backend: Option<String>,
    }
    fs::read(from.join(MANIFEST))
        .ok()
        .and_then(|text| serde_json::from_slice::<Backend>(&text).ok())
        .and_then(|manifest| manifest.backend)
        .is_some_and(|backend| backend == BACKEND)
}

/// Finds `pg_dump`: on `PATH`, else in the newest `/usr/lib/postgresql/<version>/bin`.
pub fn find_pg_dump() -> StoreResult<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut packaged: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
                    Some((version, entry.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    packaged.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    on_path
        .into_iter()
        .chain(packaged.into_iter().map(|(_, folder)| folder))
        .map(|folder| folder.join("pg_dump"))
        .find(|candidate| candidate.is_file())
        .ok_or(StoreError::Unavailable(
            "pg_dump, which backs up a PostgreSQL node: install the PostgreSQL client tools \
             (version 15 or newer, e.g. the postgresql-client package) or put pg_dump on PATH",
        ))
}

fn pg_dump_version(pg_dump: &Path) -> StoreResult<String> {
    let output = Command::new(pg_dump)
        .arg("--version")
        .output()
        .map_err(io("running pg_dump --version"))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn refuse_non_empty(folder: &Path, what: &str) -> StoreResult<()> {
    if fs::read_dir(folder).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(StoreError::Conflict(format!(
            "{} is not empty; {what} into a new folder",
            folder.display()
        )));
    }
    Ok(())
}

/// Backs up `schema` of the database at `url`, and the audit signing key of `data_dir`, into
/// `out` (which must not exist or be empty).
pub fn backup(
    url: &str,
    schema: &str,
    data_dir: &Path,
    out: &Path,
    now_ms: i64,
) -> StoreResult<PostgresManifest> {
    let operation = "backing up a postgresql schema";
    refuse_non_empty(out, "back up")?;
    let pg_dump = find_pg_dump()?;
    let version = pg_dump_version(&pg_dump)?;
    let key = audit_log::public_key_of(data_dir)?;
    fs::create_dir_all(out).map_err(io(operation))?;

    let config = connection_config(url, schema, &PostgresSettings::default())?;
    let mut client = config.connect(NoTls).map_err(db(operation))?;
    let mut transaction = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(db(operation))?;
    let snapshot: String = transaction
        .query_one("SELECT pg_export_snapshot()", &[])
        .map_err(db(operation))?
        .get(0);
    let counts = transaction
        .query_one(
            "SELECT (SELECT count(*) FROM decisions), (SELECT count(*) FROM api_keys),
                    (SELECT count(*) FROM policy_versions)",
            &[],
        )
        .map_err(db(operation))?;
    let (decisions, api_keys, policy_versions): (i64, i64, i64) =
        (counts.get(0), counts.get(1), counts.get(2));
    let audit = verify_in(&mut transaction, &key, &[], &mut |_| {})?;

    // pg_dump reads the same snapshot while this transaction holds it open.
    let dump = out.join(DUMP_FILE);
    let output = Command::new(&pg_dump)
        .arg(format!("--dbname={url}"))
        .arg(format!("--schema={schema}"))
        .arg(format!("--snapshot={snapshot}"))
        .arg(format!("--file={}", dump.display()))
        .args([
            "--format=plain",
            "--no-owner",
            "--no-privileges",
            "--inserts",
        ])
        .arg(format!("--rows-per-insert={ROWS_PER_INSERT}"))
        .output()
        .map_err(io("running pg_dump"))?;
    if !output.status.success() {
        return Err(StoreError::Backend {
            operation,
            message: format!(
                "pg_dump failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            retryable: false,
        });
    }
    transaction.commit().map_err(db(operation))?;
    File::open(&dump)
        .and_then(|file| file.sync_all())
        .map_err(io(operation))?;
    copy_file(
        &data_dir.join(SIGNING_KEY_FILE),
        &out.join(SIGNING_KEY_FILE),
        false,
    )?;

    let mut files = Vec::new();
    for name in [DUMP_FILE, SIGNING_KEY_FILE] {
        let (bytes, sha256) = sha256_of(&out.join(name))?;
        files.push(BackedUpFile {
            path: name.to_owned(),
            bytes,
            sha256,
        });
    }
    let manifest = PostgresManifest {
        format: FORMAT,
        backend: BACKEND.to_owned(),
        created_at_ms: now_ms,
        schema: schema.to_owned(),
        pg_dump: version,
        decisions: decisions.max(0) as u64,
        audit_entries: audit.entries,
        audit_root: audit.root,
        api_keys: api_keys.max(0) as usize,
        policy_versions: policy_versions.max(0) as usize,
        files,
    };
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|error| corrupt(operation, error.to_string()))?;
    let mut file = File::create(out.join(MANIFEST)).map_err(io(operation))?;
    file.write_all(&json)
        .and_then(|()| file.sync_all())
        .map_err(io(operation))?;
    sync_folder(out, operation)?;
    Ok(manifest)
}

/// Reads and checks a PostgreSQL backup's manifest and files; returns the manifest.
pub fn check_backup(from: &Path) -> StoreResult<PostgresManifest> {
    let operation = "checking a backup";
    let text = fs::read(from.join(MANIFEST)).map_err(io(operation))?;
    let manifest: PostgresManifest =
        serde_json::from_slice(&text).map_err(|error| corrupt(operation, error.to_string()))?;
    if manifest.backend != BACKEND || manifest.format != FORMAT {
        return Err(corrupt(
            operation,
            format!(
                "a {} backup of format {}; this build reads {BACKEND} backups of format {FORMAT}",
                manifest.backend, manifest.format
            ),
        ));
    }
    for required in [DUMP_FILE, SIGNING_KEY_FILE] {
        if !manifest.files.iter().any(|file| file.path == required) {
            return Err(corrupt(
                operation,
                format!("the manifest lists no {required}"),
            ));
        }
    }
    for file in &manifest.files {
        if file.path.contains("..") || Path::new(&file.path).is_absolute() {
            return Err(corrupt(operation, format!("unsafe path {}", file.path)));
        }
        let (bytes, sha256) = sha256_of(&from.join(&file.path)).map_err(|_| {
            corrupt(
                operation,
                format!("{} is missing from the backup", file.path),
            )
        })?;
        if bytes != file.bytes || sha256 != file.sha256 {
            return Err(corrupt(
                operation,
                format!(
                    "{} does not match the manifest (its hash changed): the backup is damaged or was altered",
                    file.path
                ),
            ));
        }
    }
    Ok(manifest)
}

/// Restores the backup in `from` into `schema` of the database at `url` (which must hold no
/// tables) and its key files into `data_dir` (which must not exist or be empty). The master
/// key (never in a backup) comes from `master_key_file`, which is then placed in the new
/// data folder, or from `SHOPGUARD_MASTER_KEY`.
pub fn restore(
    from: &Path,
    url: &str,
    schema: &str,
    data_dir: &Path,
    master_key_file: Option<&Path>,
) -> StoreResult<PostgresRestoreReport> {
    let operation = "restoring a postgresql backup";
    refuse_non_empty(data_dir, "restore")?;
    let manifest = check_backup(from)?;
    let master = match (master_key_file, LocalMasterKey::from_environment()) {
        (Some(path), _) => LocalMasterKey::from_file(path)?,
        (None, Some(from_environment)) => from_environment?,
        (None, None) => return Err(StoreError::Unavailable(
            "the master key: a backup never holds it; pass its file or set SHOPGUARD_MASTER_KEY",
        )),
    };
    let key = audit_log::public_key_of(from)?;
    let dump = fs::read_to_string(from.join(DUMP_FILE)).map_err(io(operation))?;
    let sql = retarget(&dump, &manifest.schema, schema);

    let config = connection_config(url, schema, &PostgresSettings::default())?;
    let mut client = config.connect(NoTls).map_err(db(operation))?;
    let mut transaction = client.transaction().map_err(db(operation))?;
    let tables: i64 = transaction
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1",
            &[&schema],
        )
        .map_err(db(operation))?
        .get(0);
    if tables > 0 {
        return Err(StoreError::Conflict(format!(
            "schema {schema} is not empty; restore into a new schema"
        )));
    }
    // The name is a checked plain identifier (connection_config refused anything else).
    transaction
        .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .map_err(db(operation))?;
    transaction.batch_execute(&sql).map_err(db(operation))?;
    transaction.commit().map_err(db(operation))?;
    drop(client);

    let checked = check_restored(url, schema, &key, master, &manifest, from, data_dir);
    match checked {
        Ok(checkpoints) => {
            if let Some(path) = master_key_file {
                copy_file(path, &data_dir.join(MASTER_KEY_FILE), false)?;
            }
            Ok(PostgresRestoreReport {
                files_checked: manifest.files.len(),
                audit_checkpoints_checked: checkpoints,
                manifest,
            })
        }
        Err(error) => {
            if let Err(drop_error) = PostgresStore::drop_schema(url, schema) {
                tracing::error!(schema, error = %drop_error, "cannot drop a failed restore");
            }
            let _ = fs::remove_dir_all(data_dir);
            Err(error)
        }
    }
}

/// Verifies the restored audit log and counts the restored store against the manifest;
/// writes the key files into `data_dir`. Returns the checkpoints checked.
fn check_restored(
    url: &str,
    schema: &str,
    key: &ed25519_dalek::VerifyingKey,
    master: LocalMasterKey,
    manifest: &PostgresManifest,
    from: &Path,
    data_dir: &Path,
) -> StoreResult<usize> {
    let operation = "checking a restored schema";
    let report = verify_database(url, schema, key, &[])?;
    if let Some(problem) = &report.first_problem {
        return Err(corrupt(
            operation,
            format!(
                "the backup's audit log fails verification at entry {}: {}",
                problem.seq, problem.what
            ),
        ));
    }
    if (report.entries, report.root.as_str())
        != (manifest.audit_entries, manifest.audit_root.as_str())
    {
        return Err(corrupt(
            operation,
            format!(
                "the restored audit log has {} entries (root {}), the manifest says {} (root {})",
                report.entries, report.root, manifest.audit_entries, manifest.audit_root
            ),
        ));
    }
    let store = PostgresStore::open(url, schema, Box::new(master))?;
    let counted = (
        store.decision_count()?,
        store.api_keys()?.len(),
        store.policy_versions()?.len(),
    );
    if counted
        != (
            manifest.decisions,
            manifest.api_keys,
            manifest.policy_versions,
        )
    {
        return Err(corrupt(
            operation,
            format!(
                "the restored store holds {counted:?} (decisions, API keys, policy versions), \
                 the manifest says ({}, {}, {})",
                manifest.decisions, manifest.api_keys, manifest.policy_versions
            ),
        ));
    }
    drop(store);
    copy_file(
        &from.join(SIGNING_KEY_FILE),
        &data_dir.join(SIGNING_KEY_FILE),
        false,
    )?;
    Ok(report.checkpoints_checked)
}

/// Rewrites a dump of schema `from` to create its objects in schema `to`: drops the dump's
/// `CREATE SCHEMA` (the restore makes the target) and its psql meta-commands, and renames every qualified name
/// `from.` outside string literals, and the sequence names given to `pg_catalog.setval` and
/// `nextval`.
/// Row data (string literals elsewhere) and comments are left exactly as dumped.
pub fn retarget(dump: &str, from: &str, to: &str) -> String {
    let create = format!("CREATE SCHEMA {from};");
    let qualified = format!("{from}.");
    let identifier = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    let mut out = String::with_capacity(dump.len());
    let mut rest = dump;
    let mut last: Option<char> = None;
    // Whether the string literal being read names a sequence (`setval('schema.seq', …)`,
    // `DEFAULT nextval('schema.seq'::regclass)`).
    let mut in_string: Option<bool> = None;
    while let Some(c) = rest.chars().next() {
        if let Some(names_sequence) = in_string {
            if c == '\'' {
                // A doubled quote inside a literal toggles out and back in.
                in_string = None;
            } else if names_sequence && last == Some('\'') && rest.starts_with(&qualified) {
                out.push_str(to);
                out.push('.');
                rest = &rest[qualified.len()..];
                last = Some('.');
                continue;
            }
        } else if c == '\'' {
            let before = out.trim_end();
            in_string =
                Some(before.ends_with("pg_catalog.setval(") || before.ends_with("nextval("));
        } else if c == '-' && rest.starts_with("--") {
            // A comment runs to the end of its line and is kept as dumped.
            let end = rest.find('\n').map_or(rest.len(), |newline| newline + 1);
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            last = Some('\n');
            continue;
        } else if c == '\\' && last.is_none_or(|before| before == '\n') {
            // A psql meta-command on its own line (pg_dump 15.14 and later wrap the dump in
            // `\restrict` … `\unrestrict`): for psql only, so left out.
            let end = rest.find('\n').map_or(rest.len(), |newline| newline + 1);
            rest = &rest[end..];
            continue;
        } else if rest.starts_with(&create) && last.is_none_or(|before| before == '\n') {
            rest = &rest[create.len()..];
            continue;
        } else if rest.starts_with(&qualified)
            && !last.is_some_and(|before| identifier(before) || before == '.' || before == '"')
        {
            out.push_str(to);
            out.push('.');
            rest = &rest[qualified.len()..];
            last = Some('.');
            continue;
        }
        out.push(c);
        last = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retargeting_renames_qualified_names_and_setval_but_never_row_data() {
        let dump = "\\restrict abc\n--\n-- Name: sg_a; Type: SCHEMA; Schema: -; Owner: -\n--\n\
CREATE SCHEMA sg_a;\n\
CREATE TABLE sg_a.lists (name text);\n\
ALTER TABLE sg_a.t ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME sg_a.t_seq_seq);\n\
INSERT INTO sg_a.lists VALUES ('sg_a.lists', 'it''s sg_a.x'), ('\nsg_a.y');\n\
INSERT INTO xsg_a.lists VALUES (1);\n\
ALTER TABLE ONLY sg_a.c ALTER COLUMN id SET DEFAULT nextval('sg_a.c_id_seq'::regclass);\n\
SELECT pg_catalog.setval('sg_a.t_seq_seq', 42, true);\n\\unrestrict abc\n";
        let expected = "--\n-- Name: sg_a; Type: SCHEMA; Schema: -; Owner: -\n--\n\
\n\
CREATE TABLE sg_b.lists (name text);\n\
ALTER TABLE sg_b.t ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME sg_b.t_seq_seq);\n\
INSERT INTO sg_b.lists VALUES ('sg_a.lists', 'it''s sg_a.x'), ('\nsg_a.y');\n\
INSERT INTO xsg_a.lists VALUES (1);\n\
ALTER TABLE ONLY sg_b.c ALTER COLUMN id SET DEFAULT nextval('sg_b.c_id_seq'::regclass);\n\
SELECT pg_catalog.setval('sg_b.t_seq_seq', 42, true);\n";
        assert_eq!(retarget(dump, "sg_a", "sg_b"), expected);
    }
}
