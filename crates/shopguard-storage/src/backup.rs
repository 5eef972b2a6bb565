//! Online backup of a data folder, and verified restore.
//!
//! A backup is a folder holding a copy of everything durable and a `MANIFEST.json` with each
//! file's size and SHA-256, and what the copy contains: decisions, audit entries and the
//! audit root. It can be taken while a node runs:
//! - SQLite is copied with `VACUUM INTO`, a consistent snapshot in one read transaction;
//! - the append-only logs (decision segments, audit entries, audit checkpoints) are copied
//!   and each copy is cut after its last whole frame, so a write in progress is left out;
//! - the audit checkpoints are copied first, then the tree, then the entries, so that every
//!   copied checkpoint covers entries and tree nodes that are in the copy too.
//!
//! The master key (`master.key`) is never copied: a stolen backup keeps its personal fields
//! encrypted. Restore needs it given separately.
//!
//! A retention purge that rewrites a segment while the backup copies it can make that copy
//! fail its checks at restore: take backups outside the hourly purge, or take another.
//!
//! Restore checks every file against the manifest, verifies the audit log (every entry, the
//! tree, every checkpoint), opens the copied store and compares its counts with the
//! manifest, and only then moves the files into the (new, empty) data folder.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit_log::{self, AuditLog};
use crate::decision_segments::SegmentSettings;
use crate::embedded::EmbeddedStore;
use crate::files::{io, sync_folder};
use crate::frames::{self, ScanEnd};
use crate::keyring::{LocalMasterKey, MasterKey};
use crate::{ApiKeyStore, DecisionStore, PolicyStore, StoreError, StoreResult};

/// Name of the manifest in a backup folder.
pub const MANIFEST: &str = "MANIFEST.json";
const FORMAT: u32 = 1;

/// One file of a backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackedUpFile {
    /// Path relative to the backup folder.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// What a backup holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format of the backup folder.
    pub format: u32,
    /// When it was taken (ms since epoch).
    pub created_at_ms: i64,
    /// The data folder it was taken from.
    pub source: String,
    /// Decisions in the copy.
    pub decisions: u64,
    /// Audit entries in the copy.
    pub audit_entries: u64,
    /// Root of the copied audit tree, hex.
    pub audit_root: String,
    /// API keys in the copy.
    pub api_keys: usize,
    /// Policy versions in the copy.
    pub policy_versions: usize,
    /// Every file, with its hash.
    pub files: Vec<BackedUpFile>,
}

/// What a restore checked and did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreReport {
    /// The manifest of the restored backup.
    pub manifest: Manifest,
    /// Files whose hashes were checked.
    pub files_checked: usize,
    /// Audit checkpoints whose signatures and roots were checked.
    pub audit_checkpoints_checked: usize,
}

pub(crate) fn corrupt(operation: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        operation,
        detail: detail.into(),
    }
}

/// Copies `from` to `to`; for frame files, cuts the copy after its last whole frame.
pub(crate) fn copy_file(from: &Path, to: &Path, framed: bool) -> StoreResult<()> {
    let operation = "copying a file into the backup";
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(io(operation))?;
    }
    fs::copy(from, to).map_err(io(operation))?;
    if framed {
        let copy = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(to)
            .map_err(io(operation))?;
        let mut good_end = 0u64;
        let end = frames::scan_frames(&copy, |offset, payload| {
            good_end = offset + (frames::HEADER + payload.len()) as u64;
            Ok(())
        })
        .map_err(|error| corrupt(operation, error.to_string()))?;
        if let ScanEnd::BadFrameAt { .. } = end {
            copy.set_len(good_end).map_err(io(operation))?;
        }
    }
    File::open(to)
        .and_then(|file| file.sync_all())
        .map_err(io(operation))
}

pub(crate) fn sha256_of(path: &Path) -> StoreResult<(u64, String)> {
    let mut file = File::open(path).map_err(io("hashing a backup file"))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let read = file
            .read(&mut buffer)
            .map_err(io("hashing a backup file"))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        bytes += read as u64;
    }
    Ok((bytes, hex::encode(hasher.finalize())))
}

/// Files of `folder` (relative to it) whose names satisfy `keep`, sorted.
fn files_in(folder: &Path, keep: impl Fn(&str) -> bool) -> StoreResult<Vec<String>> {
    let Ok(entries) = fs::read_dir(folder) else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io("listing the data folder"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry
            .file_type()
            .map_err(io("listing the data folder"))?
            .is_file()
            && keep(&name)
        {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Takes a backup of `data_dir` into `out` (which must not exist or be empty). `progress` is
/// called with the number of files done and the total.
pub fn backup(
    data_dir: &Path,
    out: &Path,
    now_ms: i64,
    progress: &mut dyn FnMut(usize, usize),
) -> StoreResult<Manifest> {
    let operation = "taking a backup";
    if fs::read_dir(out).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(StoreError::Conflict(format!(
            "{} is not empty; back up into a new folder",
            out.display()
        )));
    }
    if !data_dir.join("shopguard.db").exists() {
        return Err(StoreError::NotFound(format!(
            "a shopguard data folder at {}",
            data_dir.display()
        )));
    }
    fs::create_dir_all(out).map_err(io(operation))?;

    // What to copy, in order: checkpoints before the tree before the entries.
    let mut plan: Vec<(PathBuf, bool)> = Vec::new();
    for name in ["audit-signing.key", "engine-state.snap"] {
        if data_dir.join(name).exists() {
            plan.push((PathBuf::from(name), false));
        }
    }
    let audit = Path::new("audit");
    // The folder's format marker: without it a copy of a format 2 log would open as format 1.
    if data_dir.join("audit/FORMAT").exists() {
        plan.push((audit.join("FORMAT"), false));
    }
    if data_dir.join("audit/checkpoints.log").exists() {
        plan.push((audit.join("checkpoints.log"), true));
    }
    for name in files_in(&data_dir.join("audit"), |name| name.starts_with("tree-"))? {
        plan.push((audit.join(name), false));
    }
    for name in files_in(&data_dir.join("audit"), |name| {
        name.starts_with("entries-") && (name.ends_with(".log") || name.ends_with(".off"))
    })? {
        let framed = name.ends_with(".log");
        plan.push((audit.join(name), framed));
    }
    for name in files_in(&data_dir.join("decisions"), |name| {
        name.ends_with(".log") || name.ends_with(".idx")
    })? {
        let framed = name.ends_with(".log");
        plan.push((Path::new("decisions").join(name), framed));
    }
    let total = plan.len() + 1;

    // SQLite first: a consistent snapshot of keys, policies, lists and alerts.
    let connection = rusqlite::Connection::open_with_flags(
        data_dir.join("shopguard.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .map_err(|error| StoreError::Backend {
        operation,
        message: error.to_string(),
        retryable: false,
    })?;
    connection
        .execute(
            "VACUUM INTO ?1",
            [out.join("shopguard.db").to_string_lossy().as_ref()],
        )
        .map_err(|error| StoreError::Backend {
            operation,
            message: error.to_string(),
            retryable: false,
        })?;
    drop(connection);
    progress(1, total);
    for (done, (relative, framed)) in plan.iter().enumerate() {
        copy_file(&data_dir.join(relative), &out.join(relative), *framed)?;
        progress(done + 2, total);
    }

    // Describe the copy: open it as a store would (read-only checks), then hash every file.
    // The master key stays out of the backup: encrypted fields stay encrypted in the copy.
    let master = Box::new(LocalMasterKey::load(data_dir)?);
    let (decisions, audit_entries, audit_root, api_keys, policy_versions) =
        contents_of(out, master)?;
    let mut files = Vec::new();
    let mut relative_paths: Vec<PathBuf> = vec![PathBuf::from("shopguard.db")];
    relative_paths.extend(plan.into_iter().map(|(path, _)| path));
    for relative in relative_paths {
        let (bytes, sha256) = sha256_of(&out.join(&relative))?;
        files.push(BackedUpFile {
            path: relative.to_string_lossy().into_owned(),
            bytes,
            sha256,
        });
    }
    let manifest = Manifest {
        format: FORMAT,
        created_at_ms: now_ms,
        source: data_dir.display().to_string(),
        decisions,
        audit_entries,
        audit_root,
        api_keys,
        policy_versions,
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

/// Opens a copied data folder and counts what it holds. Opening recovers the logs exactly as
/// a node would at start (an index or tree rebuilt where the copy's was cut short).
fn contents_of(
    folder: &Path,
    master: Box<dyn MasterKey>,
) -> StoreResult<(u64, u64, String, usize, usize)> {
    let store = EmbeddedStore::open_with_master(folder, SegmentSettings::default(), master)?;
    let audit = AuditLog::open(folder)?;
    let size = audit.size();
    let root = hex::encode(audit.root(size)?);
    Ok((
        store.decision_count()?,
        size,
        root,
        store.api_keys()?.len(),
        store.policy_versions()?.len(),
    ))
}

/// Reads and checks a backup's manifest and files; returns the manifest.
pub fn check_backup(from: &Path) -> StoreResult<Manifest> {
    let operation = "checking a backup";
    let text = fs::read(from.join(MANIFEST)).map_err(io(operation))?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|error| corrupt(operation, error.to_string()))?;
    if manifest.format != FORMAT {
        return Err(corrupt(
            operation,
            format!("backup format {} is not {FORMAT}", manifest.format),
        ));
    }
    for file in &manifest.files {
        if file.path.contains("..") || Path::new(&file.path).is_absolute() {
            return Err(corrupt(operation, format!("unsafe path {}", file.path)));
        }
        let path = from.join(&file.path);
        let (bytes, sha256) = sha256_of(&path).map_err(|_| {
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

/// Restores the backup in `from` into `data_dir`, which must not exist or be empty. Nothing
/// is written there unless every check passes. The master key (never in a backup) comes from
/// `master_key_file`, which is then placed in the new data folder, or from
/// `SHOPGUARD_MASTER_KEY`.
pub fn restore(
    from: &Path,
    data_dir: &Path,
    master_key_file: Option<&Path>,
) -> StoreResult<RestoreReport> {
    let operation = "restoring a backup";
    if fs::read_dir(data_dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(StoreError::Conflict(format!(
            "{} is not empty; restore into a new folder",
            data_dir.display()
        )));
    }
    let manifest = check_backup(from)?;
    let master = match (master_key_file, LocalMasterKey::from_environment()) {
        (Some(path), _) => LocalMasterKey::from_file(path)?,
        (None, Some(from_environment)) => from_environment?,
        (None, None) => return Err(StoreError::Unavailable(
            "the master key: a backup never holds it; pass its file or set SHOPGUARD_MASTER_KEY",
        )),
    };
    // Work on a scratch copy: opening the stores to count writes indexes and lock files.
    let parent = data_dir
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io(operation))?;
    let scratch = tempfile_in(parent)?;
    for file in &manifest.files {
        copy_file(&from.join(&file.path), &scratch.join(&file.path), false)?;
    }
    let key = audit_log::public_key_of(&scratch)?;
    let report = audit_log::verify_data_dir(&scratch, &key, &[])?;
    if let Some(problem) = &report.first_problem {
        let _ = fs::remove_dir_all(&scratch);
        return Err(corrupt(
            operation,
            format!(
                "the backup's audit log fails verification at entry {}: {}",
                problem.seq, problem.what
            ),
        ));
    }
    if let Some(path) = master_key_file {
        copy_file(path, &scratch.join(crate::keyring::MASTER_KEY_FILE), false)?;
    }
    let counted = contents_of(&scratch, Box::new(master));
    let mismatch = match &counted {
        Ok((decisions, entries, root, keys, policies)) => {
            (*decisions, *entries, root.as_str(), *keys, *policies)
                != (
                    manifest.decisions,
                    manifest.audit_entries,
                    manifest.audit_root.as_str(),
                    manifest.api_keys,
                    manifest.policy_versions,
                )
        }
        Err(_) => true,
    };
    if mismatch {
        let _ = fs::remove_dir_all(&scratch);
        counted?;
        return Err(corrupt(
            operation,
            "the restored store does not hold what the manifest says",
        ));
    }
    for stale in ["decisions/LOCK", "audit/LOCK"] {
        let _ = fs::remove_file(scratch.join(stale));
    }
    if data_dir.exists() {
        fs::remove_dir(data_dir).map_err(io(operation))?;
    }
    fs::rename(&scratch, data_dir).map_err(io(operation))?;
    sync_folder(parent, operation)?;
    Ok(RestoreReport {
        files_checked: manifest.files.len(),
        audit_checkpoints_checked: report.checkpoints_checked,
        manifest,
    })
}

/// A new, empty folder beside the target, for a restore in progress.
fn tempfile_in(parent: &Path) -> StoreResult<PathBuf> {
    for attempt in 0..100u32 {
        let candidate = parent.join(format!(
            ".shopguard-restore-{}-{attempt}",
            std::process::id()
        ));
        if fs::create_dir(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(StoreError::Conflict(format!(
        "cannot create a scratch folder in {}",
        parent.display()
    )))
}
