//! Reading the log: entries by number, queries, proofs and roots.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use shopguard_core::audit::{AuditEntry, Checkpoint};
use shopguard_core::merkle::{self, Hash, ProofError};

use super::format::{
    offsets_path, read_checkpoints, segment_path, segments_in, LevelFiles, Stored,
};
use super::{corrupt, AuditLog, AuditQuery, SEGMENT_ENTRIES};
use crate::files::io;
use crate::frames::{self, FrameError};
use crate::{StoreError, StoreResult};

impl AuditLog {
    /// Calls `visit` with every stored entry from segment `first_segment` on, in order, until
    /// it returns `false`.
    pub(super) fn scan_stored(
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
                if query.matches_content(&entry) {
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

/// The checkpoints stored in a data folder's audit log, oldest first, read without opening
/// the log (a node may hold it): what an auditor exports to keep.
pub fn read_checkpoints_of(data_dir: &Path) -> StoreResult<Vec<Checkpoint>> {
    read_checkpoints(&data_dir.join("audit"))
}
