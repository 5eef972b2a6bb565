//! Verification of an audit folder: everything recomputed from the files, trusting none.

use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use shopguard_core::audit::{self, Checkpoint};
use shopguard_core::audit_purge::PurgeCheck;
use shopguard_core::merkle::Frontier;

use super::format::{level_path, read_checkpoints, segment_path, segments_in, Stored};
use super::{corrupt, AuditLog, SEGMENT_ENTRIES};
use crate::files::io;
use crate::frames::{self, ScanEnd};
use crate::StoreResult;

impl AuditLog {
    /// Recomputes everything and compares it with the signed checkpoints (those stored, and
    /// `extra` ones an auditor kept), using `key` to check signatures.
    pub fn verify(&self, key: &VerifyingKey, extra: &[Checkpoint]) -> StoreResult<VerifyReport> {
        verify_folder(&self.folder, key, extra, &mut |_| {})
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
    /// Of which purged (content deleted at the end of retention), each covered by a purge
    /// record.
    pub purged: u64,
    /// Of the purged, those accepted as found when a log written before purges were
    /// recorded was upgraded (listed in its legacy purge record).
    #[serde(default)]
    pub purged_before_records: u64,
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
    // Read before the entries: on a running node, leaves are written after their entries,
    // so the entries read next are at least as many.
    let recorded_leaves = fs::metadata(level_path(folder, 0)).map_or(0, |meta| meta.len() / 32);
    let mut purges = PurgeCheck::new();
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
                    } else {
                        purges.content(expected, stored.at_ms, json, &mut note);
                    }
                }
                None => {
                    purged += 1;
                    purges.purged(expected, stored.at_ms, stored.class, &mut note);
                }
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
    let purged_before_records = purges.finish(&mut note);
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
    if recorded_leaves > frontier.size() {
        note(
            frontier.size(),
            format!(
                "the tree recorded {recorded_leaves} leaves but the log has {} entries: entries from {} on were removed",
                frontier.size(),
                frontier.size()
            ),
        );
    }
    Ok(VerifyReport {
        entries: frontier.size(),
        purged,
        purged_before_records,
        checkpoints_checked: checked,
        root: hex::encode(frontier.root()),
        first_problem: problem,
    })
}
