//! Appending: one vectored write and one `fdatasync` per call, and sealing a full segment.

use std::fs::File;
use std::io::{IoSlice, Write};
use std::sync::Arc;

use super::index::{sort_entries, write_index, RunIndex, SealedSegment};
use super::{log_path, DecisionSegments, OpenSegment};
use crate::files::{io, open_append, sync_folder};
use crate::log_batch::LogBatch;
use crate::{StoreError, StoreResult};

/// The appending side: the open segment's file and its length.
#[derive(Debug)]
pub(super) struct Appender {
    pub(super) file: File,
    pub(super) length: u64,
}

impl DecisionSegments {
    /// Appends batches of decisions: one vectored write, then (by default) one flush to the
    /// disk. On failure nothing of them is kept.
    pub fn append(&self, batches: &[LogBatch]) -> StoreResult<()> {
        let operation = "appending to the decision log";
        if self.keyring.is_some() && batches.iter().any(|batch| !batch.is_sealed()) {
            return Err(StoreError::Conflict(
                "this decision log encrypts personal fields: its batches must come from \
                 LogBatch::new with the store's log_sealer"
                    .into(),
            ));
        }
        let mut appender = self.appender.lock();
        let appender = &mut *appender;
        let mut added = RunIndex::default();
        let mut offset = appender.length;
        for batch in batches {
            for record in batch.records() {
                added.add(
                    offset + record.start as u64,
                    record.at_ms,
                    record.keys.iter(),
                );
            }
            offset += batch.frames().len() as u64;
        }
        let slices: Vec<&[u8]> = batches.iter().map(LogBatch::frames).collect();
        if let Err(error) = write_all_vectored(&appender.file, &slices) {
            // Cut off whatever part of the batches reached the file.
            let _ = appender.file.set_len(appender.length);
            return Err(StoreError::Io {
                operation,
                source: error,
            });
        }
        if self.settings.sync_each_batch {
            appender.file.sync_data().map_err(io(operation))?;
            drop_cached_pages(&appender.file, appender.length, offset);
        }
        appender.length = offset;
        self.segments.write().open.index.extend(added);
        if appender.length >= self.settings.segment_bytes {
            self.seal_open(appender)?;
        }
        Ok(())
    }

    /// Seals the open segment (writes its index) and starts the next one.
    pub(super) fn seal_open(&self, appender: &mut Appender) -> StoreResult<()> {
        let operation = "sealing a decision segment";
        appender.file.sync_all().map_err(io(operation))?;
        // The open index is sorted in place under the write lock (queries of the open segment
        // filter it by hash, and sorting by hash then offset keeps their order). Only the
        // appender (held here) changes it, so the lock is then downgraded, and queries keep
        // seeing the open segment's records while its index is written.
        let id = {
            let mut segments = self.segments.write();
            let open = &mut segments.open;
            sort_entries(&mut open.index);
            let segments = parking_lot::RwLockWriteGuard::downgrade(segments);
            write_index(
                &self.folder,
                segments.open.id,
                appender.length,
                &segments.open.index,
            )?;
            segments.open.id
        };
        let sealed = Arc::new(SealedSegment::open(&self.folder, id)?);
        let next = id + 1;
        let path = log_path(&self.folder, next);
        let file = open_append(&path, operation)?;
        sync_folder(&self.folder, "syncing the decision log folder")?;
        let reader = File::open(&path).map_err(io(operation))?;
        appender.file = file;
        appender.length = 0;
        let mut segments = self.segments.write();
        segments.sealed.push(sealed);
        // The next segment's index reuses this one's vectors: they are already the right size
        // and their pages are already mapped, where fresh ones would fault in every page as
        // they grow (a fifth of the log writer's time).
        let mut index = std::mem::take(&mut segments.open.index);
        index.clear();
        segments.open = OpenSegment {
            id: next,
            log: Arc::new(reader),
            index,
        };
        Ok(())
    }
}

/// Writes every byte of `slices` to `file`, in as few `writev` calls as the kernel allows.
pub(super) fn write_all_vectored(mut file: &File, slices: &[&[u8]]) -> std::io::Result<()> {
    // The kernel takes at most IOV_MAX (1,024) slices per call.
    for group in slices.chunks(1_024) {
        let mut io_slices: Vec<IoSlice<'_>> = group
            .iter()
            .filter(|bytes| !bytes.is_empty())
            .map(|bytes| IoSlice::new(bytes))
            .collect();
        let mut remaining = &mut io_slices[..];
        while !remaining.is_empty() {
            match file.write_vectored(remaining) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(written) => IoSlice::advance_slices(&mut remaining, written),
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(())
}

/// Asks the kernel to drop the page cache of `from..to` of a file just flushed to the disk:
/// the log is written once and seldom read, and pages handed back are reused for the next
/// writes, which makes those writes cheaper than ever-new pages (see
/// `docs/benchmarks.md`). Only whole pages are dropped; failure is harmless.
pub(super) fn drop_cached_pages(file: &File, from: u64, to: u64) {
    pub(super) const PAGE: u64 = 4_096;
    let start = from / PAGE * PAGE;
    let end = to / PAGE * PAGE;
    if let Some(length) = std::num::NonZeroU64::new(end.saturating_sub(start)) {
        let _ = rustix::fs::fadvise(file, start, Some(length), rustix::fs::Advice::DontNeed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::unix::fs::FileExt;

    #[test]
    fn vectored_writes_pass_the_kernels_slice_limit_and_skip_empty_slices() {
        let file = tempfile::tempfile().unwrap();
        let pieces: Vec<Vec<u8>> = (0..2_500u32)
            .map(|n| vec![(n % 251) as u8; (n % 7) as usize])
            .collect();
        let slices: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        write_all_vectored(&file, &slices).unwrap();
        let mut written = vec![0u8; file.metadata().unwrap().len() as usize];
        file.read_exact_at(&mut written, 0).unwrap();
        assert_eq!(written, pieces.concat());
    }
}
