//! Opening the log (with crash recovery), appending with group commit, and signing
//! checkpoints.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use ed25519_dalek::VerifyingKey;
use parking_lot::{Condvar, Mutex};
use rand::RngCore;
use shopguard_core::audit::{self, Checkpoint};
use shopguard_core::merkle::Frontier;

use super::format::{
    level_path, offsets_path, open_level, read_checkpoints, segment_path, segments_in, LevelFiles,
    NodeBuffers, Stored,
};
use super::key::load_or_create_signing_key;
use super::{corrupt, AuditLog, Durable, NewAuditEntry, Writer, SEGMENT_ENTRIES};
use crate::files::{io, open_append, sync_folder};
use crate::frames::{self, ScanEnd};
use crate::{StoreError, StoreResult};

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

        // Entries a checkpoint covers were flushed before it was signed: a log that ends
        // before its newest checkpoint lost entries, and appending would reuse their numbers.
        let stored_checkpoints = read_checkpoints(&folder)?;
        if let Some(newest) = stored_checkpoints
            .iter()
            .filter(|checkpoint| checkpoint.size > size)
            .max_by_key(|checkpoint| checkpoint.size)
        {
            return Err(truncated(data_dir, &folder, size, newest));
        }
        // The tree: trusted up to the last checkpoint (flushed then), recomputed after it.
        let checkpointed = stored_checkpoints
            .iter()
            .map(|checkpoint| checkpoint.size)
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
        log.upgrade_format()?;
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

    pub(super) fn write_locked(
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

    /// Appends `entries` with the writer already locked, and flushes them to the disk before
    /// returning (no group commit: for the rare entries written under the lock, such as
    /// purge records).
    pub(super) fn append_locked(
        &self,
        writer: &mut Writer,
        entries: &[NewAuditEntry],
    ) -> StoreResult<std::ops::Range<u64>> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable(
                "the audit log (a write failed; restart the node to recover it)",
            ));
        }
        let result = self.write_locked(writer, entries).and_then(|seqs| {
            writer
                .segment_file
                .sync_data()
                .map_err(io("flushing the audit log"))?;
            Ok(seqs)
        });
        match &result {
            Ok(seqs) => {
                let mut durable = self.durable.lock();
                durable.synced = durable.synced.max(seqs.end);
            }
            Err(error) => {
                self.poisoned.store(true, Ordering::Release);
                tracing::error!(error = %error, "audit append failed; refusing appends until restart");
            }
        }
        result
    }

    pub(super) fn flush_frames(&self, writer: &mut Writer) -> StoreResult<()> {
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
}

/// The refusal to open a log shorter than its own checkpoint `newest`, with the ways out.
fn truncated(data_dir: &Path, folder: &Path, entries: u64, newest: &Checkpoint) -> StoreError {
    let moved_aside = format!("{}.truncated-{}", folder.display(), newest.at_ms);
    StoreError::Truncated {
        log: format!("in {} (checkpoint signed at {})", folder.display(), newest.at_ms),
        entries,
        covered: newest.size,
        recovery: format!(
            "`shopguard audit verify --data-dir {data}` names what is missing; restore the data folder from a backup (`shopguard restore --from BACKUP --data-dir NEW`), or keep this log for investigation and start a new one (`mv {folder} {moved_aside}`)",
            data = data_dir.display(),
            folder = folder.display(),
        ),
    }
}
