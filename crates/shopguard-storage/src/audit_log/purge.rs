//! Retention: removing the content of entries past their class's retention, after a purge
//! record in the log says which and why ([`shopguard_core::audit_purge`]); and the upgrade
//! of folders written before purges were recorded.

use std::fs::{self, File};
use std::io::Write;

use shopguard_core::audit_purge::{
    decode_purge, PurgeRecord, PurgeRequest, PurgeRule, PURGE_RECORD_FORMAT,
};

use super::format::{offsets_path, segment_path, segments_in, Stored};
use super::{corrupt, AuditLog, NewAuditEntry, Writer, FOLDER_FORMAT, SEGMENT_ENTRIES};
use crate::files::{io, open_append, sync_folder};
use crate::frames::{self, FrameError};
use crate::{StoreError, StoreResult};

/// The file naming the folder's format.
const FORMAT_FILE: &str = "FORMAT";

/// Who the log names as the author of the record of an upgrade.
const UPGRADE_ACTOR: &str = "system";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// Whether `stored` still has content that is not a purge record's (those are kept).
fn purgeable(stored: &Stored) -> bool {
    stored
        .content
        .as_ref()
        .is_some_and(|(_, json)| decode_purge(json).is_none())
}

impl AuditLog {
    /// Removes the salt and content of the entries `request` reaches (classes past their
    /// retention), keeping their commitments so that the tree still verifies. First appends,
    /// and flushes, the purge record that names the rules, who purges and when; nothing is
    /// recorded when nothing is to be purged. Refuses classes kept for good and retention
    /// below the legal minimum. Returns how many entries were purged now.
    pub fn purge_expired(&self, request: &PurgeRequest) -> StoreResult<u64> {
        let rules = request
            .rules()
            .map_err(|error| StoreError::Conflict(error.to_string()))?;
        // Appends wait while segments are rewritten; purges run rarely.
        let mut guard = self.writer.lock();
        let writer = &mut *guard;
        self.flush_frames(writer)?;
        let below = writer.frontier.size();
        let reached = |stored: &Stored| {
            purgeable(stored)
                && rules
                    .iter()
                    .any(|rule| rule.covers(stored.class, stored.at_ms))
        };
        let mut previous = None;
        let mut count = 0u64;
        self.scan_stored(0, &mut |stored| {
            if let Some((_, json)) = &stored.content {
                if matches!(decode_purge(json), Some(Ok(_))) {
                    previous = Some(stored.seq);
                }
            }
            if reached(&stored) {
                count += 1;
            }
            Ok(true)
        })?;
        if count == 0 {
            return Ok(0);
        }
        let record = PurgeRecord {
            format: PURGE_RECORD_FORMAT,
            below_seq: below,
            previous,
            rules: rules.clone(),
            purged: count,
            legacy: false,
            adopted: Vec::new(),
        };
        self.append_locked(
            writer,
            &[NewAuditEntry {
                at_ms: request.at_ms,
                class: PurgeRecord::CLASS,
                content: record.content(&request.actor),
            }],
        )?;
        self.rewrite_segments(writer, below, &reached)
    }

    /// Rewrites every segment holding an entry before `below` that `expired` selects, without
    /// its salt and content; returns how many entries changed.
    fn rewrite_segments(
        &self,
        writer: &mut Writer,
        below: u64,
        expired: &dyn Fn(&Stored) -> bool,
    ) -> StoreResult<u64> {
        let mut purged = 0;
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
                if stored.seq < below && expired(&stored) {
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

    /// Brings a folder written before purges were recorded (no `FORMAT` file) to the current
    /// format: the entries found purged, except those of classes kept for good, are listed in
    /// one legacy purge record, which verification accepts as the log's first purge record.
    /// A new folder only gets the file.
    pub(super) fn upgrade_format(&self) -> StoreResult<()> {
        let operation = "upgrading the audit log";
        let marker = self.folder.join(FORMAT_FILE);
        match fs::read_to_string(&marker) {
            Ok(text) => {
                let format: u32 = text.trim().parse().map_err(|_| {
                    corrupt(operation, format!("{} is not a number", marker.display()))
                })?;
                if format > FOLDER_FORMAT {
                    return Err(StoreError::Conflict(format!(
                        "the audit log in {} is of format {format}, newer than this build writes ({FOLDER_FORMAT}): upgrade shopguard",
                        self.folder.display()
                    )));
                }
                return Ok(());
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(io(operation)(error)),
        }
        let mut guard = self.writer.lock();
        let writer = &mut *guard;
        let size = writer.frontier.size();
        if size > 0 {
            let mut adopted: Vec<[u64; 2]> = Vec::new();
            let mut count = 0u64;
            let mut records = false;
            self.scan_stored(0, &mut |stored| {
                match &stored.content {
                    None if !stored.class.kept_long_term() => {
                        count += 1;
                        match adopted.last_mut() {
                            Some(range) if range[1] == stored.seq => range[1] += 1,
                            _ => adopted.push([stored.seq, stored.seq + 1]),
                        }
                    }
                    Some((_, json)) if decode_purge(json).is_some() => records = true,
                    _ => {}
                }
                Ok(true)
            })?;
            if records {
                // Only a folder that lost its `FORMAT` file holds purge records without it:
                // earlier purges are not accepted again.
                tracing::warn!(
                    folder = %self.folder.display(),
                    "the audit folder has no FORMAT file but holds purge records; writing the file only"
                );
            } else {
                let record = PurgeRecord {
                    format: PURGE_RECORD_FORMAT,
                    below_seq: size,
                    previous: None,
                    rules: Vec::<PurgeRule>::new(),
                    purged: count,
                    legacy: true,
                    adopted,
                };
                self.append_locked(
                    writer,
                    &[NewAuditEntry {
                        at_ms: now_ms(),
                        class: PurgeRecord::CLASS,
                        content: record.content(UPGRADE_ACTOR),
                    }],
                )?;
                tracing::warn!(
                    entries = count,
                    "audit log upgraded to format 2: entries purged before purges were recorded are accepted as found"
                );
            }
        }
        let mut file = File::create(&marker).map_err(io(operation))?;
        file.write_all(format!("{FOLDER_FORMAT}\n").as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io(operation))?;
        sync_folder(&self.folder, "syncing the audit folder")
    }
}
