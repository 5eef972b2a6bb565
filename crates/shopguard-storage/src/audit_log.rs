//! The tamper-evident audit log on disk: entries in checksummed frames, the RFC 6962 Merkle
//! tree over them in one file per level, and signed checkpoints.
//!
//! # Layout of `<data>/audit/`
//! - `entries-SSSSSSSS.log`: segment `S` holds entries `S·2^20 .. (S+1)·2^20`, one
//!   [frame](crate::frames) each. Payload: `seq u64 | at_ms i64 | class u8 | commitment [32] |
//!   has_content u8 | salt [32] | content JSON` (little-endian; salt and content are absent
//!   once purged). A sealed segment has `entries-SSSSSSSS.off` beside it: each entry's byte
//!   offset, `u64` LE.
//! - `tree-LL.bin`: the hashes of the perfect subtrees of level `LL` (32 bytes each, by
//!   index). Level 0 holds the leaf hashes.
//! - `checkpoints.log`: frames of signed [`Checkpoint`]s, as JSON.
//! - `LOCK`: held by the one process that has the log open.
//!
//! The Ed25519 signing key is `<data>/audit-signing.key` (hex seed, mode 0600).
//!
//! # Durability
//! [`AuditLog::append`] returns once its entries are flushed to the disk. Concurrent callers
//! share one `fdatasync` (group commit). The tree files are flushed at each checkpoint; at
//! open, everything after the last checkpoint is recomputed from the entries, so a crash can
//! leave no tree node that disagrees with the entries.
//!
//! # What verification proves
//! [`AuditLog::verify`] trusts nothing it reads. It recomputes every commitment and leaf,
//! rebuilds the tree and compares its root with every signed checkpoint (and with any the
//! auditor brings). It reports the first entry that is damaged, edited, missing, inserted or
//! out of order.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ed25519_dalek::{SigningKey, VerifyingKey};
use parking_lot::{Condvar, Mutex};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use shopguard_core::audit::{self, AuditContent, AuditEntry, Checkpoint, RecordClass};
use shopguard_core::merkle::{self, Frontier, Hash, NodeSource, ProofError};

use crate::files::{io, open_append, sync_folder};
use crate::frames::{self, FrameError, ScanEnd};
use crate::{StoreError, StoreResult};

/// Entries per segment file.
pub const SEGMENT_ENTRIES: u64 = 1 << 20;
/// Name of the signing key file in the data folder.
pub const SIGNING_KEY_FILE: &str = "audit-signing.key";

fn corrupt(operation: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        operation,
        detail: detail.into(),
    }
}

/// An entry to append.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAuditEntry {
    /// When it happened (ms since epoch).
    pub at_ms: i64,
    /// Its record class (decides retention).
    pub class: RecordClass,
    /// Who did what to which object.
    pub content: AuditContent,
}

/// Filter of [`AuditLog::query`]; every given field must match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditQuery {
    /// Actor, exactly.
    pub actor: Option<String>,
    /// Action, exactly, or a prefix ending in `.` (`list.` matches `list.entry.add`).
    pub action: Option<String>,
    /// Object, exactly.
    pub object: Option<String>,
    /// Record class.
    pub class: Option<RecordClass>,
    /// From this time (inclusive).
    pub from_ms: Option<i64>,
    /// Until this time (exclusive).
    pub to_ms: Option<i64>,
    /// Only entries before this sequence number (for paging).
    pub before_seq: Option<u64>,
    /// At most this many, newest first (1 to 1,000).
    pub limit: u32,
}

/// An entry in its stored form.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Stored {
    pub(crate) seq: u64,
    pub(crate) at_ms: i64,
    pub(crate) class: RecordClass,
    pub(crate) commitment: Hash,
    /// `(salt, content JSON)`, until purged.
    pub(crate) content: Option<([u8; 32], Vec<u8>)>,
}

impl Stored {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.at_ms.to_le_bytes());
        out.push(self.class.code());
        out.extend_from_slice(&self.commitment);
        match &self.content {
            Some((salt, json)) => {
                out.push(1);
                out.extend_from_slice(salt);
                out.extend_from_slice(json);
            }
            None => out.push(0),
        }
    }

    fn decode(payload: &[u8]) -> Result<Stored, &'static str> {
        const FIXED: usize = 8 + 8 + 1 + 32 + 1;
        if payload.len() < FIXED {
            return Err("entry shorter than its header");
        }
        let word = |at: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&payload[at..at + 8]);
            bytes
        };
        let class = RecordClass::from_code(payload[16]).ok_or("unknown record class")?;
        let mut commitment = [0u8; 32];
        commitment.copy_from_slice(&payload[17..49]);
        let content = match payload[49] {
            0 if payload.len() == FIXED => None,
            1 if payload.len() >= FIXED + 32 => {
                let mut salt = [0u8; 32];
                salt.copy_from_slice(&payload[FIXED..FIXED + 32]);
                Some((salt, payload[FIXED + 32..].to_vec()))
            }
            _ => return Err("malformed content marker"),
        };
        Ok(Stored {
            seq: u64::from_le_bytes(word(0)),
            at_ms: i64::from_le_bytes(word(8)),
            class,
            commitment,
            content,
        })
    }

    pub(crate) fn leaf(&self) -> Hash {
        merkle::leaf_hash(&audit::leaf_data(
            self.seq,
            self.at_ms,
            self.class,
            &self.commitment,
        ))
    }

    pub(crate) fn to_entry(&self) -> StoreResult<AuditEntry> {
        let content = match &self.content {
            Some((_, json)) => Some(serde_json::from_slice(json).map_err(|error| {
                corrupt(
                    "decoding an audit entry",
                    format!("entry {}: {error}", self.seq),
                )
            })?),
            None => None,
        };
        Ok(AuditEntry {
            seq: self.seq,
            at_ms: self.at_ms,
            class: self.class,
            content,
            commitment: hex::encode(self.commitment),
        })
    }
}

fn segment_path(folder: &Path, segment: u64) -> PathBuf {
    folder.join(format!("entries-{segment:08x}.log"))
}

fn offsets_path(folder: &Path, segment: u64) -> PathBuf {
    folder.join(format!("entries-{segment:08x}.off"))
}

fn level_path(folder: &Path, level: u32) -> PathBuf {
    folder.join(format!("tree-{level:02}.bin"))
}

/// The tree's level files, read by position.
struct LevelFiles {
    /// Level `n` at index `n`, for every level file present.
    files: Vec<File>,
}

impl LevelFiles {
    /// Opens every level file once, for the many node reads of one proof or root.
    fn open(folder: &Path) -> LevelFiles {
        let files = (0..64u32)
            .map_while(|level| File::open(level_path(folder, level)).ok())
            .collect();
        LevelFiles { files }
    }
}

impl NodeSource for LevelFiles {
    type Error = StoreError;
    fn node(&self, level: u32, index: u64) -> StoreResult<Hash> {
        let file = self.files.get(level as usize).ok_or_else(|| {
            corrupt(
                "reading the audit tree",
                format!("tree level {level} is missing"),
            )
        })?;
        let mut hash = [0u8; 32];
        file.read_exact_at(&mut hash, index * 32)
            .map_err(io("reading the audit tree"))?;
        Ok(hash)
    }
}

/// Loads the signing key from the data folder, creating it (mode 0600) on first use.
pub fn load_or_create_signing_key(data_dir: &Path) -> StoreResult<SigningKey> {
    let path = data_dir.join(SIGNING_KEY_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let seed = audit::hex_decode::<32>(text.trim())
                .ok_or_else(|| corrupt("reading the audit signing key", "not 64 hex digits"))?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut seed);
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options
                .open(&path)
                .map_err(io("creating the audit signing key"))?;
            file.write_all(format!("{}\n", hex::encode(seed)).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(io("creating the audit signing key"))?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(error) => Err(io("reading the audit signing key")(error)),
    }
}

/// The appending side, under one lock.
struct Writer {
    frontier: Frontier,
    segment_file: File,
    segment_length: u64,
    /// Offsets of the open segment's entries.
    offsets: Vec<u64>,
    levels: Vec<File>,
    frame_buffer: Vec<u8>,
    payload: Vec<u8>,
}

#[derive(Default)]
struct Durable {
    synced: u64,
    syncing: bool,
}

/// The audit log. Appends are serialised; reads and verification may run beside them.
pub struct AuditLog {
    folder: PathBuf,
    key: SigningKey,
    writer: Mutex<Writer>,
    durable: Mutex<Durable>,
    synced_signal: Condvar,
    written: AtomicU64,
    checkpoints: Mutex<File>,
    /// Set when a write failed half-way: further appends are refused until a restart
    /// recovers the files.
    poisoned: std::sync::atomic::AtomicBool,
    _lock: File,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("folder", &self.folder)
            .field("entries", &self.written.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn open_level(folder: &Path, level: u32) -> StoreResult<File> {
    OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(false)
        .open(level_path(folder, level))
        .map_err(io("opening the audit tree"))
}

/// Segment numbers present in the folder, ascending.
fn segments_in(folder: &Path) -> StoreResult<Vec<u64>> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(folder).map_err(io("listing the audit folder"))? {
        let name = entry.map_err(io("listing the audit folder"))?.file_name();
        let name = name.to_string_lossy();
        if let Some(number) = name
            .strip_prefix("entries-")
            .and_then(|rest| rest.strip_suffix(".log"))
        {
            if let Ok(segment) = u64::from_str_radix(number, 16) {
                segments.push(segment);
            }
        }
    }
    segments.sort_unstable();
    Ok(segments)
}

/// Reads every checkpoint stored in the folder.
fn read_checkpoints(folder: &Path) -> StoreResult<Vec<Checkpoint>> {
    let Ok(file) = File::open(folder.join("checkpoints.log")) else {
        return Ok(Vec::new());
    };
    let mut checkpoints = Vec::new();
    let end = frames::scan_frames(&file, |offset, payload| {
        let checkpoint = serde_json::from_slice(payload).map_err(|_| FrameError::Bad {
            offset,
            reason: "not a checkpoint",
        })?;
        checkpoints.push(checkpoint);
        Ok(())
    })
    .map_err(|error| corrupt("reading audit checkpoints", error.to_string()))?;
    if let ScanEnd::BadFrameAt { offset, reason } = end {
        tracing::warn!(offset, reason, "audit checkpoints end in a damaged frame");
    }
    Ok(checkpoints)
}

impl AuditLog {
    /// Opens (creating when needed) the audit log in `<data_dir>/audit`, with the signing
    /// key of the data folder. Recovers from a crash: a torn entry at the end is cut off and
    /// the tree after the last checkpoint is recomputed.
    pub fn open(data_dir: &Path) -> StoreResult<AuditLog> {
        let key = load_or_create_signing_key(data_dir)?;
        let folder = data_dir.join("audit");
        fs::create_dir_all(&folder).map_err(io("creating the audit folder"))?;
        let lock = File::create(folder.join("LOCK")).map_err(io("locking the audit log"))?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Conflict(format!(
                "the audit log in {} is open in another process",
                folder.display()
            )));
        }
        let segments = segments_in(&folder)?;
        let open_segment = segments.last().copied().unwrap_or(0);
        let segment_file = open_append(
            &segment_path(&folder, open_segment),
            "opening the audit log",
        )?;
        let mut offsets = Vec::new();
        let mut good_end = 0u64;
        let end = frames::scan_frames(&segment_file, |offset, payload| {
            offsets.push(offset);
            good_end = offset + (frames::HEADER + payload.len()) as u64;
            Ok(())
        })
        .map_err(|error| corrupt("opening the audit log", error.to_string()))?;
        if let ScanEnd::BadFrameAt { offset, reason } = end {
            tracing::warn!(
                segment = open_segment,
                offset,
                reason,
                "cutting a torn write off the audit log"
            );
            segment_file
                .set_len(good_end)
                .and_then(|()| segment_file.sync_all())
                .map_err(io("truncating a torn audit segment"))?;
        }
        let size = open_segment * SEGMENT_ENTRIES + offsets.len() as u64;

        // The tree: trusted up to the last checkpoint (flushed then), recomputed after it.
        let checkpointed = read_checkpoints(&folder)?
            .iter()
            .map(|checkpoint| checkpoint.size)
            .filter(|&checkpoint_size| checkpoint_size <= size)
            .max()
            .unwrap_or(0);
        // A level file shorter than the checkpoint needs (lost, or damaged by hand) moves the
        // trusted size back to what every level still holds.
        let mut trusted = checkpointed;
        for level in 0..64u32 {
            if checkpointed >> level == 0 {
                break;
            }
            let nodes = fs::metadata(level_path(&folder, level)).map_or(0, |meta| meta.len() / 32);
            trusted = trusted.min(((nodes + 1) << level) - 1);
        }
        let mut levels = Vec::new();
        for level in 0..64u32 {
            let path = level_path(&folder, level);
            if level > 0 && (size >> level) == 0 && !path.exists() {
                break;
            }
            let file = open_level(&folder, level)?;
            file.set_len((trusted >> level) * 32)
                .map_err(io("recovering the audit tree"))?;
            levels.push(file);
        }
        let frontier = Frontier::from_source(&LevelFiles::open(&folder), trusted)?;
        let checkpoints =
            open_append(&folder.join("checkpoints.log"), "opening audit checkpoints")?;
        let log = AuditLog {
            key,
            writer: Mutex::new(Writer {
                frontier,
                segment_file,
                segment_length: good_end,
                offsets,
                levels,
                frame_buffer: Vec::with_capacity(1 << 16),
                payload: Vec::with_capacity(1_024),
            }),
            durable: Mutex::new(Durable {
                synced: size,
                syncing: false,
            }),
            synced_signal: Condvar::new(),
            written: AtomicU64::new(size),
            checkpoints: Mutex::new(checkpoints),
            poisoned: std::sync::atomic::AtomicBool::new(false),
            folder,
            _lock: lock,
        };
        log.replay_tree(trusted, size)?;
        sync_folder(&log.folder, "syncing the audit folder")?;
        Ok(log)
    }

    /// Recomputes the tree nodes of entries `from .. to` from the stored entries.
    fn replay_tree(&self, from: u64, to: u64) -> StoreResult<()> {
        if from == to {
            return Ok(());
        }
        tracing::info!(
            from,
            to,
            "recomputing the audit tree after the last checkpoint"
        );
        let mut writer = self.writer.lock();
        let writer = &mut *writer;
        let mut nodes = NodeBuffers::default();
        self.scan_stored(from / SEGMENT_ENTRIES, &mut |stored| {
            if stored.seq >= from && stored.seq < to {
                writer.frontier.push(stored.leaf(), |level, index, hash| {
                    nodes.add(level, index, hash)
                });
            }
            Ok(stored.seq + 1 < to)
        })?;
        nodes.write(&self.folder, &mut writer.levels)
    }

    /// The public key that verifies this log's checkpoints.
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Entries appended so far.
    pub fn size(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Appends entries; returns their sequence numbers once they are on the disk.
    pub fn append(&self, entries: &[NewAuditEntry]) -> StoreResult<Vec<u64>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let seqs = self.write(entries)?;
        self.wait_durable(seqs.end)?;
        Ok(seqs.collect())
    }

    fn write(&self, entries: &[NewAuditEntry]) -> StoreResult<std::ops::Range<u64>> {
        let mut guard = self.writer.lock();
        if self.poisoned.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable(
                "the audit log (a write failed; restart the node to recover it)",
            ));
        }
        let result = self.write_locked(&mut guard, entries);
        if let Err(error) = &result {
            self.poisoned.store(true, Ordering::Release);
            tracing::error!(error = %error, "audit append failed; refusing appends until restart");
        }
        result
    }

    fn write_locked(
        &self,
        writer: &mut Writer,
        entries: &[NewAuditEntry],
    ) -> StoreResult<std::ops::Range<u64>> {
        let mut rng = rand::thread_rng();
        let first = writer.frontier.size();
        let mut nodes = NodeBuffers::default();
        writer.frame_buffer.clear();
        for entry in entries {
            let seq = writer.frontier.size();
            if seq > 0 && seq.is_multiple_of(SEGMENT_ENTRIES) && !writer.offsets.is_empty() {
                self.flush_frames(writer)?;
                self.seal_segment(writer, seq / SEGMENT_ENTRIES)?;
            }
            let json = serde_json::to_vec(&entry.content)
                .map_err(|error| corrupt("encoding an audit entry", error.to_string()))?;
            let mut salt = [0u8; 32];
            rng.fill_bytes(&mut salt);
            let stored = Stored {
                seq,
                at_ms: entry.at_ms,
                class: entry.class,
                commitment: audit::commitment(&salt, &json),
                content: Some((salt, json)),
            };
            writer.payload.clear();
            stored.encode(&mut writer.payload);
            writer
                .offsets
                .push(writer.segment_length + writer.frame_buffer.len() as u64);
            frames::push_frame(&mut writer.frame_buffer, &writer.payload);
            writer.frontier.push(stored.leaf(), |level, index, hash| {
                nodes.add(level, index, hash)
            });
        }
        self.flush_frames(writer)?;
        nodes.write(&self.folder, &mut writer.levels)?;
        let end = writer.frontier.size();
        self.written.store(end, Ordering::Release);
        Ok(first..end)
    }

    fn flush_frames(&self, writer: &mut Writer) -> StoreResult<()> {
        if writer.frame_buffer.is_empty() {
            return Ok(());
        }
        if let Err(error) = writer.segment_file.write_all(&writer.frame_buffer) {
            let _ = writer.segment_file.set_len(writer.segment_length);
            return Err(io("appending to the audit log")(error));
        }
        writer.segment_length += writer.frame_buffer.len() as u64;
        writer.frame_buffer.clear();
        Ok(())
    }

    /// Flushes the full segment, writes its offsets and starts segment `next`.
    fn seal_segment(&self, writer: &mut Writer, next: u64) -> StoreResult<()> {
        let operation = "sealing an audit segment";
        writer.segment_file.sync_all().map_err(io(operation))?;
        let offsets: Vec<u8> = writer
            .offsets
            .iter()
            .flat_map(|offset| offset.to_le_bytes())
            .collect();
        let path = offsets_path(&self.folder, next - 1);
        fs::write(&path, &offsets)
            .and_then(|()| File::open(&path)?.sync_all())
            .map_err(io(operation))?;
        writer.segment_file = open_append(&segment_path(&self.folder, next), operation)?;
        writer.segment_length = 0;
        writer.offsets.clear();
        sync_folder(&self.folder, "syncing the audit folder")
    }

    /// Waits until entries before `upto` are on the disk, flushing them if nobody else is.
    fn wait_durable(&self, upto: u64) -> StoreResult<()> {
        let mut durable = self.durable.lock();
        loop {
            if durable.synced >= upto {
                return Ok(());
            }
            if durable.syncing {
                self.synced_signal.wait(&mut durable);
                continue;
            }
            durable.syncing = true;
            drop(durable);
            let result = (|| {
                let (file, target) = {
                    let writer = self.writer.lock();
                    let file = writer
                        .segment_file
                        .try_clone()
                        .map_err(io("flushing the audit log"))?;
                    (file, writer.frontier.size())
                };
                file.sync_data().map_err(io("flushing the audit log"))?;
                Ok(target)
            })();
            durable = self.durable.lock();
            durable.syncing = false;
            if let Ok(target) = result {
                durable.synced = durable.synced.max(target);
            }
            self.synced_signal.notify_all();
            result?;
        }
    }

    /// Signs the current size and root, stores the checkpoint and returns it. Flushes the tree
    /// files first, so that the tree up to here need not be recomputed after a crash.
    pub fn checkpoint(&self, now_ms: i64) -> StoreResult<Checkpoint> {
        let operation = "writing an audit checkpoint";
        let checkpoint = {
            let writer = self.writer.lock();
            writer.segment_file.sync_data().map_err(io(operation))?;
            for level in &writer.levels {
                level.sync_data().map_err(io(operation))?;
            }
            Checkpoint::sign(
                &self.key,
                writer.frontier.size(),
                &writer.frontier.root(),
                now_ms,
            )
        };
        let json = serde_json::to_vec(&checkpoint)
            .map_err(|error| corrupt(operation, error.to_string()))?;
        let mut frame = Vec::new();
        frames::push_frame(&mut frame, &json);
        let mut file = self.checkpoints.lock();
        file.write_all(&frame)
            .and_then(|()| file.sync_data())
            .map_err(io(operation))?;
        Ok(checkpoint)
    }

    /// Every stored checkpoint, oldest first.
    pub fn checkpoints(&self) -> StoreResult<Vec<Checkpoint>> {
        read_checkpoints(&self.folder)
    }

    /// Calls `visit` with every stored entry from segment `first_segment` on, in order, until
    /// it returns `false`.
    fn scan_stored(
        &self,
        first_segment: u64,
        visit: &mut dyn FnMut(Stored) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        for segment in segments_in(&self.folder)?
            .into_iter()
            .filter(|&segment| segment >= first_segment)
        {
            let file = File::open(segment_path(&self.folder, segment))
                .map_err(io("reading the audit log"))?;
            let mut stop = false;
            let mut failure = None;
            frames::scan_frames(&file, |offset, payload| {
                if stop {
                    return Ok(());
                }
                let stored =
                    Stored::decode(payload).map_err(|reason| FrameError::Bad { offset, reason })?;
                match visit(stored) {
                    Ok(more) => stop = !more,
                    Err(error) => {
                        failure = Some(error);
                        stop = true;
                    }
                }
                Ok(())
            })
            .map_err(|error| corrupt("reading the audit log", error.to_string()))?;
            if let Some(error) = failure {
                return Err(error);
            }
            if stop {
                break;
            }
        }
        Ok(())
    }

    /// Reads one stored entry by sequence number.
    fn stored(&self, seq: u64) -> StoreResult<Option<Stored>> {
        if seq >= self.size() {
            return Ok(None);
        }
        let segment = seq / SEGMENT_ENTRIES;
        let position = (seq % SEGMENT_ENTRIES) as usize;
        let offset = {
            let writer = self.writer.lock();
            let open_segment = writer.frontier.size().saturating_sub(1) / SEGMENT_ENTRIES;
            if segment == open_segment && !writer.offsets.is_empty() {
                writer.offsets.get(position).copied()
            } else {
                None
            }
        };
        let offset = match offset {
            Some(offset) => offset,
            None => {
                let file = File::open(offsets_path(&self.folder, segment))
                    .map_err(io("reading audit offsets"))?;
                let mut bytes = [0u8; 8];
                file.read_exact_at(&mut bytes, position as u64 * 8)
                    .map_err(io("reading audit offsets"))?;
                u64::from_le_bytes(bytes)
            }
        };
        let file =
            File::open(segment_path(&self.folder, segment)).map_err(io("reading the audit log"))?;
        let payload = frames::read_frame_at(&file, offset)
            .map_err(|error| corrupt("reading the audit log", error.to_string()))?;
        let stored =
            Stored::decode(&payload).map_err(|reason| corrupt("reading the audit log", reason))?;
        if stored.seq != seq {
            return Err(corrupt(
                "reading the audit log",
                format!(
                    "entry {seq} is stored as {}; run `shopguard audit verify`",
                    stored.seq
                ),
            ));
        }
        Ok(Some(stored))
    }

    /// One entry.
    pub fn entry(&self, seq: u64) -> StoreResult<Option<AuditEntry>> {
        self.stored(seq)?
            .map(|stored| stored.to_entry())
            .transpose()
    }

    /// Entries matching `query`, newest first.
    pub fn query(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let limit = query.limit.clamp(1, 1_000) as usize;
        let before = query.before_seq.unwrap_or(u64::MAX).min(self.size());
        let mut found = Vec::new();
        let mut segments = segments_in(&self.folder)?;
        segments.retain(|&segment| segment * SEGMENT_ENTRIES < before);
        for segment in segments.into_iter().rev() {
            let mut in_segment = Vec::new();
            let file = File::open(segment_path(&self.folder, segment))
                .map_err(io("querying the audit log"))?;
            frames::scan_frames(&file, |offset, payload| {
                let stored =
                    Stored::decode(payload).map_err(|reason| FrameError::Bad { offset, reason })?;
                if stored.seq < before && matches_time_and_class(&stored, query) {
                    in_segment.push(stored);
                }
                Ok(())
            })
            .map_err(|error| corrupt("querying the audit log", error.to_string()))?;
            for stored in in_segment.into_iter().rev() {
                let entry = stored.to_entry()?;
                if matches_content(&entry, query) {
                    found.push(entry);
                    if found.len() == limit {
                        return Ok(found);
                    }
                }
            }
        }
        Ok(found)
    }

    /// The entry `seq` with the proof that it is in the tree of `tree_size` entries.
    pub fn inclusion_proof(
        &self,
        seq: u64,
        tree_size: u64,
    ) -> StoreResult<(AuditEntry, Vec<Hash>)> {
        if tree_size > self.size() {
            return Err(StoreError::NotFound(format!(
                "a tree of {tree_size} entries"
            )));
        }
        let stored = self
            .stored(seq)?
            .ok_or_else(|| StoreError::NotFound(format!("audit entry {seq}")))?;
        let proof = merkle::inclusion_proof(&LevelFiles::open(&self.folder), seq, tree_size)
            .map_err(proof_error)?;
        Ok((stored.to_entry()?, proof))
    }

    /// The proof that the tree of `old_size` entries is a prefix of the tree of `new_size`.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> StoreResult<Vec<Hash>> {
        if new_size > self.size() {
            return Err(StoreError::NotFound(format!(
                "a tree of {new_size} entries"
            )));
        }
        merkle::consistency_proof(&LevelFiles::open(&self.folder), old_size, new_size)
            .map_err(proof_error)
    }

    /// The root of the tree of the first `size` entries.
    pub fn root(&self, size: u64) -> StoreResult<Hash> {
        if size > self.size() {
            return Err(StoreError::NotFound(format!("a tree of {size} entries")));
        }
        merkle::root(&LevelFiles::open(&self.folder), size)
    }

    /// Removes the content of entries whose retention ended (`retention(class)` gives the days
    /// a class is kept, `None` for long-term), keeping their commitments so that the tree
    /// still verifies. Returns how many entries were purged now.
    pub fn purge_expired(
        &self,
        now_ms: i64,
        retention: &dyn Fn(RecordClass) -> Option<u32>,
    ) -> StoreResult<u64> {
        let expired = |stored: &Stored| {
            stored.content.is_some()
                && retention(stored.class)
                    .is_some_and(|days| stored.at_ms < now_ms - i64::from(days) * 86_400_000)
        };
        let mut purged = 0;
        // Appends wait while segments are rewritten; purges run rarely.
        let mut guard = self.writer.lock();
        let writer = &mut *guard;
        self.flush_frames(writer)?;
        let open_segment = writer.frontier.size().saturating_sub(1) / SEGMENT_ENTRIES;
        for segment in segments_in(&self.folder)? {
            let path = segment_path(&self.folder, segment);
            let file = File::open(&path).map_err(io("purging the audit log"))?;
            let mut rewritten = Vec::new();
            let mut offsets = Vec::new();
            let mut changed = 0u64;
            frames::scan_frames(&file, |offset, payload| {
                let mut stored =
                    Stored::decode(payload).map_err(|reason| FrameError::Bad { offset, reason })?;
                if expired(&stored) {
                    stored.content = None;
                    changed += 1;
                }
                let mut encoded = Vec::with_capacity(payload.len());
                stored.encode(&mut encoded);
                offsets.push(rewritten.len() as u64);
                frames::push_frame(&mut rewritten, &encoded);
                Ok(())
            })
            .map_err(|error| corrupt("purging the audit log", error.to_string()))?;
            if changed == 0 {
                continue;
            }
            let temporary = self.folder.join(format!("entries-{segment:08x}.log.tmp"));
            let mut output = File::create(&temporary).map_err(io("purging the audit log"))?;
            output
                .write_all(&rewritten)
                .and_then(|()| output.sync_all())
                .and_then(|()| fs::rename(&temporary, &path))
                .map_err(io("purging the audit log"))?;
            let offset_bytes: Vec<u8> = offsets.iter().flat_map(|o| o.to_le_bytes()).collect();
            if segment == open_segment {
                writer.segment_file = open_append(&path, "purging the audit log")?;
                writer.segment_length = rewritten.len() as u64;
                writer.offsets = offsets;
            } else {
                fs::write(offsets_path(&self.folder, segment), &offset_bytes)
                    .map_err(io("purging the audit log"))?;
            }
            purged += changed;
        }
        sync_folder(&self.folder, "syncing the audit folder")?;
        Ok(purged)
    }

    /// Recomputes everything and compares it with the signed checkpoints (those stored, and
    /// `extra` ones an auditor kept), using `key` to check signatures.
    pub fn verify(&self, key: &VerifyingKey, extra: &[Checkpoint]) -> StoreResult<VerifyReport> {
        verify_folder(&self.folder, key, extra, &mut |_| {})
    }
}

fn proof_error(error: ProofError<StoreError>) -> StoreError {
    match error {
        ProofError::OutOfRange(detail) => StoreError::NotFound(detail),
        ProofError::Source(error) => error,
    }
}

fn matches_time_and_class(stored: &Stored, query: &AuditQuery) -> bool {
    query.from_ms.is_none_or(|from| stored.at_ms >= from)
        && query.to_ms.is_none_or(|to| stored.at_ms < to)
        && query.class.is_none_or(|class| class == stored.class)
}

fn matches_content(entry: &AuditEntry, query: &AuditQuery) -> bool {
    if query.actor.is_none() && query.action.is_none() && query.object.is_none() {
        return true;
    }
    let Some(content) = &entry.content else {
        return false;
    };
    query
        .actor
        .as_ref()
        .is_none_or(|actor| *actor == content.actor)
        && query
            .object
            .as_ref()
            .is_none_or(|object| *object == content.object)
        && query.action.as_ref().is_none_or(|action| {
            *action == content.action
                || (action.ends_with('.') && content.action.starts_with(action.as_str()))
        })
}

/// Tree nodes completed by an append, grouped by level, written with one positional write
/// per level.
#[derive(Default)]
struct NodeBuffers {
    /// Per level: index of the first node and the hashes.
    levels: Vec<Option<(u64, Vec<u8>)>>,
}

impl NodeBuffers {
    fn add(&mut self, level: u32, index: u64, hash: &Hash) {
        let level = level as usize;
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, || None);
        }
        let (_, bytes) = self.levels[level].get_or_insert_with(|| (index, Vec::new()));
        bytes.extend_from_slice(hash);
    }

    fn write(&self, folder: &Path, files: &mut Vec<File>) -> StoreResult<()> {
        for (level, nodes) in self.levels.iter().enumerate() {
            let Some((first, bytes)) = nodes else {
                continue;
            };
            while files.len() <= level {
                files.push(open_level(folder, files.len() as u32)?);
            }
            files[level]
                .write_all_at(bytes, first * 32)
                .map_err(io("writing the audit tree"))?;
        }
        Ok(())
    }
}

/// What went wrong first, found by verification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The first entry concerned (for a range, its start).
    pub seq: u64,
    /// What is wrong.
    pub what: String,
}

/// The result of [`AuditLog::verify`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Entries read.
    pub entries: u64,
    /// Of which purged (content deleted at the end of retention).
    pub purged: u64,
    /// Checkpoints whose signature and root were checked.
    pub checkpoints_checked: usize,
    /// The root of the whole tree as recomputed, hex.
    pub root: String,
    /// The first problem, if any.
    pub first_problem: Option<Problem>,
}

impl VerifyReport {
    /// Whether everything verified.
    pub fn is_intact(&self) -> bool {
        self.first_problem.is_none()
    }
}

/// Verifies the audit folder of a data folder without opening it for writing (it may be in
/// use by a server, or a copy taken by an auditor).
pub fn verify_data_dir(
    data_dir: &Path,
    key: &VerifyingKey,
    extra: &[Checkpoint],
) -> StoreResult<VerifyReport> {
    verify_folder(&data_dir.join("audit"), key, extra, &mut |_| {})
}

/// [`verify_data_dir`], calling `progress(entries verified)` every 65,536 entries.
pub fn verify_data_dir_with_progress(
    data_dir: &Path,
    key: &VerifyingKey,
    extra: &[Checkpoint],
    progress: &mut dyn FnMut(u64),
) -> StoreResult<VerifyReport> {
    verify_folder(&data_dir.join("audit"), key, extra, progress)
}

/// The public key stored in a data folder.
pub fn public_key_of(data_dir: &Path) -> StoreResult<VerifyingKey> {
    let text = fs::read_to_string(data_dir.join(SIGNING_KEY_FILE))
        .map_err(io("reading the audit signing key"))?;
    let seed = audit::hex_decode::<32>(text.trim())
        .ok_or_else(|| corrupt("reading the audit signing key", "not 64 hex digits"))?;
    Ok(SigningKey::from_bytes(&seed).verifying_key())
}

fn verify_folder(
    folder: &Path,
    key: &VerifyingKey,
    extra: &[Checkpoint],
    progress: &mut dyn FnMut(u64),
) -> StoreResult<VerifyReport> {
    let mut problem: Option<Problem> = None;
    let mut note = |seq: u64, what: String| {
        if problem.is_none() {
            problem = Some(Problem { seq, what });
        }
    };
    let mut checkpoints: Vec<Checkpoint> = read_checkpoints(folder)?;
    checkpoints.extend(extra.iter().cloned());
    for checkpoint in &checkpoints {
        if !checkpoint.verify(key) {
            note(
                checkpoint.size,
                format!(
                    "checkpoint of {} entries signed at {} does not carry a valid signature of this key",
                    checkpoint.size, checkpoint.at_ms
                ),
            );
        }
    }
    checkpoints.sort_by_key(|checkpoint| checkpoint.size);
    let mut pending = checkpoints.iter().peekable();
    let mut checked = 0usize;
    let mut frontier = Frontier::new();
    let mut purged = 0u64;
    // The tree as written at append time: used to name the exact entry that changed when
    // an edit kept its frame and commitment consistent.
    let mut written_leaves = File::open(level_path(folder, 0))
        .ok()
        .map(|file| BufReader::with_capacity(1 << 20, file));
    let mut last_checkpointed = 0u64;
    let check_roots = |frontier: &Frontier,
                       pending: &mut std::iter::Peekable<std::slice::Iter<'_, Checkpoint>>,
                       checked: &mut usize,
                       last_checkpointed: &mut u64,
                       note: &mut dyn FnMut(u64, String)| {
        while let Some(checkpoint) =
            pending.next_if(|checkpoint| checkpoint.size == frontier.size())
        {
            *checked += 1;
            if checkpoint.root_hash() != Some(frontier.root()) {
                note(
                    *last_checkpointed,
                    format!(
                        "entries {}..{} do not match the checkpoint of {} entries signed at {}: an entry in that range was changed",
                        *last_checkpointed,
                        checkpoint.size,
                        checkpoint.size,
                        checkpoint.at_ms
                    ),
                );
            }
            *last_checkpointed = checkpoint.size;
        }
    };
    check_roots(
        &frontier,
        &mut pending,
        &mut checked,
        &mut last_checkpointed,
        &mut note,
    );
    'segments: for segment in segments_in(folder)? {
        let expected_first = segment * SEGMENT_ENTRIES;
        if frontier.size() != expected_first {
            note(
                frontier.size(),
                format!("segment {segment} starts at entry {expected_first}, but entries end at {}: entries are missing", frontier.size()),
            );
            break;
        }
        let file =
            File::open(segment_path(folder, segment)).map_err(io("verifying the audit log"))?;
        let mut stop = false;
        let end = frames::scan_frames(&file, |offset, payload| {
            if stop {
                return Ok(());
            }
            let expected = frontier.size();
            let stored = match Stored::decode(payload) {
                Ok(stored) => stored,
                Err(reason) => {
                    note(expected, format!("entry {expected} (segment {segment}, byte {offset}) cannot be read: {reason}"));
                    stop = true;
                    return Ok(());
                }
            };
            if stored.seq != expected {
                note(
                    expected,
                    format!(
                        "entry {expected} is missing or out of order: found entry {} in its place (segment {segment}, byte {offset})",
                        stored.seq
                    ),
                );
                stop = true;
                return Ok(());
            }
            match &stored.content {
                Some((salt, json)) => {
                    if audit::commitment(salt, json) != stored.commitment {
                        note(expected, format!("entry {expected}: its content does not match its commitment (edited)"));
                    }
                }
                None => purged += 1,
            }
            let leaf = stored.leaf();
            if let Some(reader) = written_leaves.as_mut() {
                let mut written = [0u8; 32];
                match reader.read_exact(&mut written) {
                    Ok(()) if written != leaf => note(
                        expected,
                        format!("entry {expected} differs from the entry the tree recorded when it was appended (edited)"),
                    ),
                    Ok(()) => {}
                    Err(_) => written_leaves = None,
                }
            }
            frontier.push(leaf, |_, _, _| {});
            if frontier.size().is_multiple_of(65_536) {
                progress(frontier.size());
            }
            check_roots(&frontier, &mut pending, &mut checked, &mut last_checkpointed, &mut note);
            Ok(())
        })
        .map_err(|error| corrupt("verifying the audit log", error.to_string()))?;
        if let ScanEnd::BadFrameAt { offset, reason } = end {
            note(
                frontier.size(),
                format!(
                    "entry {} (segment {segment}, byte {offset}) is damaged: {reason}",
                    frontier.size()
                ),
            );
            break 'segments;
        }
        if stop {
            break 'segments;
        }
    }
    if let Some(checkpoint) = pending.next() {
        note(
            frontier.size(),
            format!(
                "the log has {} entries but a checkpoint signed at {} covers {}: entries from {} on were removed",
                frontier.size(),
                checkpoint.at_ms,
                checkpoint.size,
                frontier.size()
            ),
        );
    }
    Ok(VerifyReport {
        entries: frontier.size(),
        purged,
        checkpoints_checked: checked,
        root: hex::encode(frontier.root()),
        first_problem: problem,
    })
}
