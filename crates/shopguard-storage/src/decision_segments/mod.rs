//! The decision log on disk: append-only segment files, each with a sorted entity index.
//!
//! # Layout of `<data>/decisions/`
//! Segments are numbered from 1, as 16 hex digits; numbers grow with time.
//! - `NNNN.log`: frames ([`crate::frames`]), one per decision. A payload is the event's time
//!   (`i64` LE, ms since epoch) followed by the record in its binary form
//!   ([`crate::record_format`]; logs written before it hold `{"decision":…,"event":…}` JSON
//!   there, which is still read).
//! - `NNNN.idx`, written once when the segment is sealed (it reached the size limit, or a
//!   retention purge needed it closed): a header (magic `SGDIDX01`, the log's length, record
//!   count, earliest and latest event time, entry count), a fan-out table of 4,096 cumulative
//!   counts by the top 12 bits of the hash, a CRC-32 of all that, then the entries
//!   `(hash u64, record offset u64)` sorted, then every record's offset in log order.
//!
//! Every record is indexed under four 64-bit keys, each an xxh3 hash of the text seeded by
//! what it is: its decision id, its user, its IP and its device (the last two when present).
//! Readers decode the record and compare the real values, so a hash collision can never
//! return another entity's decisions.
//!
//! # Invariants
//! - Only the newest segment is written, and only by whole frames. At open, its frames are
//!   read back and a torn tail (a crash in the middle of a write) is cut off.
//! - A sealed segment's index is trusted only when its header checksum holds and it records
//!   the log's current length; otherwise it is rebuilt from the log.
//! - Readers see a record once its batch is written: the in-memory index of the open segment
//!   is extended after the write returns.
//!
//! # Costs
//! Appending is one `write` (and, by default, one `fdatasync`) per batch plus four hash
//! computations per record: no per-record tree update. A lookup costs one small read per
//! sealed segment whose time range overlaps the query, plus a scan of the open segment's
//! in-memory index. Retention deletes whole segments, and rewrites the one segment that
//! straddles the cut-off.
//!
//! # Files of this module
//! - `keys.rs`: the four index keys of a record and their hashes.
//! - `payload.rs`: a frame's payload (time prefix and record), sealing personal fields.
//! - `index.rs`: the open segment's in-memory index, and a sealed segment's index file.
//! - `append.rs`: appending batches, and sealing a full segment.
//! - `read.rs`: lookups and queries.
//! - `rewrite.rs`: retention, and the segment rewrite it shares with re-encryption.
//! - `reencrypt.rs`: re-encryption of personal fields.
//! - here: the settings, the folder's layout and opening it (recovery of a torn tail).

mod append;
mod index;
mod keys;
mod payload;
mod read;
mod reencrypt;
mod rewrite;

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::files::{io, open_append, sync_folder};
use crate::frames::ScanEnd;
use crate::keyring::Keyring;
use crate::{StoreError, StoreResult};
use append::Appender;
use index::{RunIndex, SealedSegment};

pub(crate) use keys::{keys_of, RecordKeys};
pub(crate) use payload::{decode_payload, encode_payload};

/// Settings of the segment files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentSettings {
    /// A segment is sealed once it holds this many bytes.
    pub segment_bytes: u64,
    /// Whether each appended batch is flushed to the disk (`fdatasync`) before `append`
    /// returns. Without it, a power loss can lose batches the operating system had not yet
    /// written; a process crash cannot.
    pub sync_each_batch: bool,
}

impl Default for SegmentSettings {
    fn default() -> Self {
        SegmentSettings {
            segment_bytes: 128 * 1024 * 1024,
            sync_each_batch: true,
        }
    }
}

fn log_path(folder: &Path, id: u64) -> PathBuf {
    folder.join(format!("{id:016x}.log"))
}

fn index_path(folder: &Path, id: u64) -> PathBuf {
    folder.join(format!("{id:016x}.idx"))
}

/// The open segment as readers see it.
#[derive(Debug)]
struct OpenSegment {
    id: u64,
    log: Arc<File>,
    index: RunIndex,
}

#[derive(Debug)]
struct Segments {
    sealed: Vec<Arc<SealedSegment>>,
    open: OpenSegment,
}

/// The decision log's files. Appends come from one writer at a time (the log writer
/// thread); reads may run beside them. One process at a time may open the folder: it holds
/// an exclusive lock on `LOCK` while open.
#[derive(Debug)]
pub struct DecisionSegments {
    folder: PathBuf,
    _lock: File,
    /// Encrypts personal fields at rest when set.
    keyring: Option<Arc<Keyring>>,
    /// Held by whatever rewrites sealed segments (retention, re-encryption).
    rewriting: Mutex<()>,
    settings: SegmentSettings,
    appender: Mutex<Appender>,
    segments: RwLock<Segments>,
}

impl DecisionSegments {
    /// Opens (creating when needed) the decision log in `folder`, recovering the open segment
    /// after a crash.
    pub fn open(folder: &Path, settings: SegmentSettings) -> StoreResult<DecisionSegments> {
        fs::create_dir_all(folder).map_err(io("creating the decision log folder"))?;
        let lock = File::create(folder.join("LOCK")).map_err(io("locking the decision log"))?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Conflict(format!(
                "the decision log in {} is open in another process",
                folder.display()
            )));
        }
        let mut ids = Vec::new();
        for entry in fs::read_dir(folder).map_err(io("listing the decision log folder"))? {
            let entry = entry.map_err(io("listing the decision log folder"))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            } else if let Some(stem) = name.strip_suffix(".log") {
                if let Ok(id) = u64::from_str_radix(stem, 16) {
                    ids.push(id);
                }
            }
        }
        ids.sort_unstable();
        let mut sealed = Vec::new();
        let open_id = match ids.last() {
            // A newest segment with an index was sealed before a crash that came before the
            // next one was created.
            Some(&last) if !index_path(folder, last).exists() => last,
            Some(&last) => last + 1,
            None => 1,
        };
        for &id in ids.iter().filter(|&&id| id != open_id) {
            sealed.push(Arc::new(SealedSegment::open(folder, id)?));
        }
        let path = log_path(folder, open_id);
        let file = open_append(&path, "opening the open decision segment")?;
        let (index, end, scan) = RunIndex::rebuild(&file)?;
        if let ScanEnd::BadFrameAt { offset, reason } = scan {
            tracing::warn!(
                segment = open_id,
                offset,
                reason,
                "cutting a torn write off the decision log"
            );
            // Keep what is cut off beside the log: a torn write is harmless, but damage in
            // the middle of the segment would be evidence worth keeping.
            let length = file
                .metadata()
                .map_err(io("truncating a torn decision segment"))?
                .len();
            let mut tail = vec![0u8; (length - end) as usize];
            file.read_exact_at(&mut tail, end)
                .and_then(|()| {
                    fs::write(folder.join(format!("{open_id:016x}.cut-at-{end}")), &tail)
                })
                .map_err(io("keeping the cut-off tail of a decision segment"))?;
            file.set_len(end)
                .map_err(io("truncating a torn decision segment"))?;
            file.sync_all()
                .map_err(io("truncating a torn decision segment"))?;
        }
        sync_folder(folder, "syncing the decision log folder")?;
        let reader = File::open(&path).map_err(io("opening the open decision segment"))?;
        Ok(DecisionSegments {
            folder: folder.to_owned(),
            _lock: lock,
            keyring: None,
            rewriting: Mutex::new(()),
            settings,
            appender: Mutex::new(Appender { file, length: end }),
            segments: RwLock::new(Segments {
                sealed,
                open: OpenSegment {
                    id: open_id,
                    log: Arc::new(reader),
                    index,
                },
            }),
        })
    }

    /// Encrypts personal fields (level 3 and more: phone, email, ID and card numbers, names,
    /// addresses) with `keyring` before they reach the disk, and decrypts them on reads.
    pub fn with_keyring(mut self, keyring: Arc<Keyring>) -> DecisionSegments {
        self.keyring = Some(keyring);
        self
    }

    /// The keyring that batches for this log seal personal fields with, if any.
    pub fn sealer(&self) -> Option<Arc<Keyring>> {
        self.keyring.clone()
    }
}
