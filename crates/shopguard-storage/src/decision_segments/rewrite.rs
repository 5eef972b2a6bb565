//! Rewriting sealed segments: retention (whole segments deleted, the one straddling the
//! cut-off rewritten) and the rewrite that re-encryption also uses.

use std::fs::{self, File};
use std::io::Write;
use std::sync::Arc;

use super::index::{sort_entries, write_index, RunIndex, SealedSegment};
use super::keys::keys_of;
use super::payload::{decode, frame_error, split_payload};
use super::{index_path, log_path, DecisionSegments};
use crate::files::{io, sync_folder};
use crate::frames::{self, FrameError, ScanEnd};
use crate::{StoreError, StoreResult};

impl DecisionSegments {
    /// Deletes decisions whose event happened before `cutoff_ms`: segments wholly older are
    /// removed, a segment that straddles the cut-off is rewritten without its old records.
    /// Returns how many decisions were deleted.
    pub fn purge_before(&self, cutoff_ms: i64) -> StoreResult<usize> {
        let _rewriting = self.rewriting.lock();
        let mut appender = self.appender.lock();
        let open_has_old = self
            .segments
            .read()
            .open
            .index
            .span
            .is_some_and(|span| span.earliest_ms < cutoff_ms);
        if open_has_old {
            self.seal_open(&mut appender)?;
        }
        let sealed = self.segments.read().sealed.clone();
        let mut removed = 0u64;
        for segment in sealed
            .iter()
            .filter(|segment| segment.span.earliest_ms < cutoff_ms)
        {
            if segment.span.latest_ms < cutoff_ms {
                self.replace_sealed(segment.id, None)?;
                let _ = fs::remove_file(index_path(&self.folder, segment.id));
                fs::remove_file(log_path(&self.folder, segment.id))
                    .map_err(io("deleting an expired decision segment"))?;
                removed += segment.records;
            } else {
                let kept = self.rewrite_segment(
                    segment,
                    "rewriting a decision segment for retention",
                    &mut |at_ms, body| Ok((at_ms >= cutoff_ms).then(|| body.to_vec())),
                )?;
                removed += segment.records - kept.records;
                self.replace_sealed(segment.id, Some(Arc::new(kept)))?;
            }
        }
        sync_folder(&self.folder, "syncing the decision log folder")?;
        Ok(removed as usize)
    }

    pub(super) fn replace_sealed(
        &self,
        id: u64,
        with: Option<Arc<SealedSegment>>,
    ) -> StoreResult<()> {
        let mut segments = self.segments.write();
        let Some(position) = segments.sealed.iter().position(|segment| segment.id == id) else {
            return Err(StoreError::NotFound(format!("decision segment {id}")));
        };
        match with {
            Some(segment) => segments.sealed[position] = segment,
            None => {
                segments.sealed.remove(position);
            }
        }
        Ok(())
    }

    /// Rewrites `segment` through `transform(event time, record bytes)`, which returns the
    /// record's new bytes or `None` to drop it; the new log and index replace the old ones
    /// (log renamed first: a crash between the two renames leaves an index that names
    /// another length, which is then rebuilt).
    pub(super) fn rewrite_segment(
        &self,
        segment: &SealedSegment,
        operation: &'static str,
        transform: &mut RecordTransform<'_>,
    ) -> StoreResult<SealedSegment> {
        let temporary = self.folder.join(format!("{:016x}.log.tmp", segment.id));
        let mut output = Vec::with_capacity(segment.log_bytes as usize);
        let mut index = RunIndex::default();
        let mut failure = None;
        let scan = frames::scan_frames(&segment.log, |offset, payload| {
            let bad = |reason| FrameError::Bad { offset, reason };
            let (at_ms, body) = split_payload(payload).map_err(|_| bad("record too short"))?;
            let changed = match transform(at_ms, body) {
                Ok(changed) => changed,
                Err(error) => {
                    failure.get_or_insert(error);
                    return Ok(());
                }
            };
            if let Some(new_body) = changed {
                let record = decode(&new_body).map_err(|_| bad("record is not a decision"))?;
                index.add(output.len() as u64, at_ms, keys_of(record.as_ref()).iter());
                frames::push_frame_with(&mut output, |out| {
                    out.extend_from_slice(&at_ms.to_le_bytes());
                    out.extend_from_slice(&new_body);
                });
            }
            Ok(())
        })
        .map_err(frame_error(operation))?;
        if let Some(error) = failure {
            return Err(error);
        }
        if let ScanEnd::BadFrameAt { offset, reason } = scan {
            return Err(StoreError::Corrupt {
                operation,
                detail: format!(
                    "segment {} has a bad frame at byte {offset}: {reason}",
                    segment.id
                ),
            });
        }
        let mut file = File::create(&temporary).map_err(io(operation))?;
        file.write_all(&output).map_err(io(operation))?;
        file.sync_all().map_err(io(operation))?;
        fs::rename(&temporary, log_path(&self.folder, segment.id)).map_err(io(operation))?;
        sort_entries(&mut index);
        write_index(&self.folder, segment.id, output.len() as u64, &index)?;
        SealedSegment::open(&self.folder, segment.id)
    }
}

/// What a segment rewrite does to each record: given its event time and bytes, the new bytes,
/// or `None` to drop it.
pub(super) type RecordTransform<'a> = dyn FnMut(i64, &[u8]) -> StoreResult<Option<Vec<u8>>> + 'a;

/// Calls `visit(record bytes)` for every record of a sealed segment.
pub(super) fn scan_records(
    segment: &SealedSegment,
    visit: &mut dyn FnMut(&[u8]),
) -> StoreResult<()> {
    frames::scan_frames(&segment.log, |offset, payload| {
        let (_, body) = split_payload(payload).map_err(|_| FrameError::Bad {
            offset,
            reason: "record too short",
        })?;
        visit(body);
        Ok(())
    })
    .map_err(frame_error("reading a decision segment"))?;
    Ok(())
}
