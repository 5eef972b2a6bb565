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
//! - `checkpoints.log`: frames of signed [`Checkpoint`](shopguard_core::audit::Checkpoint)s,
//!   as JSON.
//! - `FORMAT`: the folder's format, `2` (written once; absent in folders of format 1, which
//!   did not record purges: see [`shopguard_core::audit_purge`]).
//! - `LOCK`: held by the one process that has the log open.
//!
//! The Ed25519 signing key is `<data>/audit-signing.key` (hex seed, mode 0600).
//!
//! # Durability
//! [`AuditLog::append`] returns once its entries are flushed to the disk. Concurrent callers
//! share one `fdatasync` (group commit). The tree files are flushed at each checkpoint; at
//! open, everything after the last checkpoint is recomputed from the entries, so a crash can
//! leave no tree node that disagrees with the entries. A log that holds fewer entries than
//! one of its own checkpoints covers is refused at open ([`StoreError::Truncated`]): entries
//! were removed, and appending would reuse their numbers.
//!
//! # What verification proves
//! [`AuditLog::verify`] trusts nothing it reads. It recomputes every commitment and leaf,
//! rebuilds the tree and compares its root with every signed checkpoint (and with any the
//! auditor brings). It reports the first entry that is damaged, edited, missing, inserted or
//! out of order, a tree that records more leaves than there are entries (a removed tail), and
//! any entry without content that no purge record covers (a forged purge).
//!
//! # Modules
//! `format` (payloads, file names, level files), `key` (the signing key), `writer` (open,
//! append, checkpoints), `reader` (entries, queries, proofs), `purge` (retention, and the
//! format-1 upgrade), `verify`.

mod format;
mod key;
mod purge;
mod reader;
mod verify;
mod writer;

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use ed25519_dalek::SigningKey;
use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};
use shopguard_core::audit::{AuditContent, RecordClass};
use shopguard_core::merkle::Frontier;

use crate::StoreError;

pub(crate) use format::Stored;
pub use key::{load_or_create_signing_key, public_key_of};
pub use reader::read_checkpoints_of;
pub use verify::{verify_data_dir, verify_data_dir_with_progress, Problem, VerifyReport};

/// Entries per segment file.
pub const SEGMENT_ENTRIES: u64 = 1 << 20;
/// The format of the audit folder this build writes (see `FORMAT`).
pub const FOLDER_FORMAT: u32 = 2;
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

impl AuditQuery {
    /// Whether `entry`'s content matches the actor, action and object asked for (an entry
    /// whose content was purged matches only a query that asks for none of them). Class and
    /// time are matched by the backends' own reads.
    pub(crate) fn matches_content(&self, entry: &shopguard_core::audit::AuditEntry) -> bool {
        if self.actor.is_none() && self.action.is_none() && self.object.is_none() {
            return true;
        }
        let Some(content) = &entry.content else {
            return false;
        };
        self.actor
            .as_ref()
            .is_none_or(|actor| *actor == content.actor)
            && self
                .object
                .as_ref()
                .is_none_or(|object| *object == content.object)
            && self.action.as_ref().is_none_or(|action| {
                *action == content.action
                    || (action.ends_with('.') && content.action.starts_with(action.as_str()))
            })
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
