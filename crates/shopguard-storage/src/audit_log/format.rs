//! The audit folder's formats: entry payloads, file names, the tree's level files and the
//! checkpoint frames.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use shopguard_core::audit::{self, AuditEntry, Checkpoint, RecordClass};
use shopguard_core::merkle::{self, Hash, NodeSource};

use super::corrupt;
use crate::files::io;
use crate::frames::{self, FrameError, ScanEnd};
use crate::{StoreError, StoreResult};

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
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
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

    pub(super) fn decode(payload: &[u8]) -> Result<Stored, &'static str> {
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

pub(super) fn segment_path(folder: &Path, segment: u64) -> PathBuf {
    folder.join(format!("entries-{segment:08x}.log"))
}

pub(super) fn offsets_path(folder: &Path, segment: u64) -> PathBuf {
    folder.join(format!("entries-{segment:08x}.off"))
}

pub(super) fn level_path(folder: &Path, level: u32) -> PathBuf {
    folder.join(format!("tree-{level:02}.bin"))
}

/// The tree's level files, read by position.
pub(super) struct LevelFiles {
    /// Level `n` at index `n`, for every level file present.
    files: Vec<File>,
}

impl LevelFiles {
    /// Opens every level file once, for the many node reads of one proof or root.
    pub(super) fn open(folder: &Path) -> LevelFiles {
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

pub(super) fn open_level(folder: &Path, level: u32) -> StoreResult<File> {
    OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(false)
        .open(level_path(folder, level))
        .map_err(io("opening the audit tree"))
}

/// Segment numbers present in the folder, ascending.
pub(super) fn segments_in(folder: &Path) -> StoreResult<Vec<u64>> {
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
pub(super) fn read_checkpoints(folder: &Path) -> StoreResult<Vec<Checkpoint>> {
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

/// Tree nodes completed by an append, grouped by level, written with one positional write
/// per level.
#[derive(Default)]
pub(super) struct NodeBuffers {
    /// Per level: index of the first node and the hashes.
    levels: Vec<Option<(u64, Vec<u8>)>>,
}

impl NodeBuffers {
    pub(super) fn add(&mut self, level: u32, index: u64, hash: &Hash) {
        let level = level as usize;
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, || None);
        }
        let (_, bytes) = self.levels[level].get_or_insert_with(|| (index, Vec::new()));
        bytes.extend_from_slice(hash);
    }

    pub(super) fn write(&self, folder: &Path, files: &mut Vec<File>) -> StoreResult<()> {
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
