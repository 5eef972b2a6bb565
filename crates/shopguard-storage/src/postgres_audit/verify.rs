//! Verification of the audit log in PostgreSQL, for a node and for an auditor who holds only
//! the public key: everything is read in one read-only snapshot and recomputed.

use ed25519_dalek::VerifyingKey;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, GenericClient, IsolationLevel};
use shopguard_core::audit::Checkpoint;
use shopguard_core::audit_purge::PurgeCheck;
use shopguard_core::merkle::Frontier;

use super::{corrupt, db, Target};
use crate::audit_log::{Problem, VerifyReport};
use crate::StoreResult;

/// Every checkpoint stored in the schema, oldest first.
pub(super) fn read_checkpoints<C: GenericClient>(client: &mut C) -> StoreResult<Vec<Checkpoint>> {
    let operation = "reading audit checkpoints";
    let rows = client
        .query(
            "SELECT size, root, at_ms, key_id, signature FROM audit_log_checkpoints ORDER BY id",
            &[],
        )
        .map_err(db(operation))?;
    let mut checkpoints = Vec::with_capacity(rows.len());
    for row in rows {
        let size: i64 = row.try_get(0).map_err(db(operation))?;
        checkpoints.push(Checkpoint {
            size: u64::try_from(size)
                .map_err(|_| corrupt(operation, format!("a checkpoint of {size} entries")))?,
            root: row.try_get(1).map_err(db(operation))?,
            at_ms: row.try_get(2).map_err(db(operation))?,
            key_id: row.try_get(3).map_err(db(operation))?,
            signature: row.try_get(4).map_err(db(operation))?,
        });
    }
    Ok(checkpoints)
}

/// The checkpoints stored in `schema` of the database at `url`, oldest first, read without
/// opening the log: what an auditor exports to keep.
pub fn read_database_checkpoints(url: &str, schema: &str) -> StoreResult<Vec<Checkpoint>> {
    let target = Target::new(url, schema)?;
    let mut client = target.connect()?;
    read_checkpoints(&mut client)
}

/// Verifies the audit log in `schema` of the database at `url` without opening it for
/// writing and without the signing key: `key` is the public key the auditor trusts, `extra`
/// the checkpoints they kept. The same checks as [`AuditLog::verify`] on files.
///
/// [`AuditLog::verify`]: crate::audit_log::AuditLog::verify
pub fn verify_database(
    url: &str,
    schema: &str,
    key: &VerifyingKey,
    extra: &[Checkpoint],
) -> StoreResult<VerifyReport> {
    verify_database_with_progress(url, schema, key, extra, &mut |_| {})
}

/// [`verify_database`], calling `progress(entries verified)` every 65,536 entries.
pub fn verify_database_with_progress(
    url: &str,
    schema: &str,
    key: &VerifyingKey,
    extra: &[Checkpoint],
    progress: &mut dyn FnMut(u64),
) -> StoreResult<VerifyReport> {
    let target = Target::new(url, schema)?;
    let mut client = target.connect()?;
    verify_client(&mut client, key, extra, progress)
}

/// Checkpoints in size order, compared with the rebuilt tree as it grows.
struct CheckpointCursor {
    sorted: Vec<Checkpoint>,
    next: usize,
    checked: usize,
    /// Size of the last checkpoint reached: a mismatch is reported from there.
    last_checkpointed: u64,
}

impl CheckpointCursor {
    fn check(&mut self, frontier: &Frontier, note: &mut dyn FnMut(u64, String)) {
        while let Some(checkpoint) = self
            .sorted
            .get(self.next)
            .filter(|checkpoint| checkpoint.size == frontier.size())
        {
            self.next += 1;
            self.checked += 1;
            if checkpoint.root_hash() != Some(frontier.root()) {
                note(
                    self.last_checkpointed,
                    format!(
                        "entries {}..{} do not match the checkpoint of {} entries signed at {}: an entry in that range was changed",
                        self.last_checkpointed, checkpoint.size, checkpoint.size, checkpoint.at_ms
                    ),
                );
            }
            self.last_checkpointed = checkpoint.size;
        }
    }
}

/// Verifies through `client`, in one read-only repeatable-read transaction.
pub(super) fn verify_client(
    client: &mut Client,
    key: &VerifyingKey,
    extra: &[Checkpoint],
    progress: &mut dyn FnMut(u64),
) -> StoreResult<VerifyReport> {
    let operation = "verifying the audit log";
    let mut transaction = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(db(operation))?;
    let report = verify_in(&mut transaction, key, extra, progress)?;
    transaction.commit().map_err(db(operation))?;
    Ok(report)
}

/// Verifies within `transaction` (whose snapshot it reads), whose search path is the
/// schema of the audit log: for a backup, inside the snapshot it dumps.
pub(crate) fn verify_in(
    transaction: &mut postgres::Transaction<'_>,
    key: &VerifyingKey,
    extra: &[Checkpoint],
    progress: &mut dyn FnMut(u64),
) -> StoreResult<VerifyReport> {
    let operation = "verifying the audit log";
    let mut problem: Option<Problem> = None;
    let mut note = |seq: u64, what: String| {
        if problem.is_none() {
            problem = Some(Problem { seq, what });
        }
    };
    let mut checkpoints = read_checkpoints(transaction)?;
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
    let mut cursor = CheckpointCursor {
        sorted: checkpoints,
        next: 0,
        checked: 0,
        last_checkpointed: 0,
    };
    let counts = transaction
        .query_one(
            "SELECT (SELECT size FROM audit_log_head),
                    (SELECT count(*) FROM audit_log_tree WHERE level = 0)",
            &[],
        )
        .map_err(db(operation))?;
    let head_size: Option<i64> = counts.try_get(0).map_err(db(operation))?;
    let recorded_leaves: i64 = counts.try_get(1).map_err(db(operation))?;

    let mut frontier = Frontier::new();
    let mut purged = 0u64;
    let mut purges = PurgeCheck::new();
    cursor.check(&frontier, &mut note);
    let no_parameters: [&(dyn postgres::types::ToSql + Sync); 0] = [];
    let mut rows = transaction
        .query_raw(
            // The columns of `ENTRY_COLUMNS`, then the leaf recorded at append time.
            "SELECT e.seq, e.at_ms, e.class, e.commitment, e.salt, e.content, t.hash
             FROM audit_log_entries e
             LEFT JOIN audit_log_tree t ON t.level = 0 AND t.idx = e.seq
             ORDER BY e.seq",
            no_parameters,
        )
        .map_err(db(operation))?;
    while let Some(row) = rows.next().map_err(db(operation))? {
        let expected = frontier.size();
        let stored = match super::stored_from_row(&row) {
            Ok(stored) => stored,
            Err(reason) => {
                note(
                    expected,
                    format!("entry {expected} cannot be read: {reason}"),
                );
                break;
            }
        };
        if stored.seq != expected {
            note(
                expected,
                format!(
                    "entry {expected} is missing or out of order: found entry {} in its place",
                    stored.seq
                ),
            );
            break;
        }
        match &stored.content {
            Some((salt, json)) => {
                if shopguard_core::audit::commitment(salt, json) != stored.commitment {
                    note(
                        expected,
                        format!(
                            "entry {expected}: its content does not match its commitment (edited)"
                        ),
                    );
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
        let recorded: Option<Vec<u8>> = row.try_get(6).map_err(db(operation))?;
        match recorded {
            Some(recorded) if recorded.as_slice() != leaf.as_slice() => note(
                expected,
                format!(
                    "entry {expected} differs from the entry the tree recorded when it was appended (edited, or moved from another position)"
                ),
            ),
            Some(_) => {}
            None => note(
                expected,
                format!(
                    "entry {expected} has no leaf in the tree recorded at append time (inserted afterwards)"
                ),
            ),
        }
        frontier.push(leaf, |_, _, _| {});
        if frontier.size().is_multiple_of(65_536) {
            progress(frontier.size());
        }
        cursor.check(&frontier, &mut note);
    }
    drop(rows);
    let purged_before_records = purges.finish(&mut note);
    let entries = frontier.size();
    if let Some(checkpoint) = cursor.sorted.get(cursor.next) {
        note(
            entries,
            format!(
                "the log has {entries} entries but a checkpoint signed at {} covers {}: entries from {entries} on were removed",
                checkpoint.at_ms, checkpoint.size
            ),
        );
    }
    let entries_signed = i64::try_from(entries).unwrap_or(i64::MAX);
    if recorded_leaves > entries_signed {
        note(
            entries,
            format!(
                "the tree recorded {recorded_leaves} leaves but the log has {entries} entries: entries from {entries} on were removed"
            ),
        );
    }
    match head_size {
        Some(head) if head > entries_signed => note(
            entries,
            format!(
                "the log's head counts {head} entries but the log has {entries}: entries from {entries} on were removed"
            ),
        ),
        Some(head) if head < entries_signed => note(
            u64::try_from(head).unwrap_or(0),
            format!(
                "the log's head counts {head} entries but the log has {entries}: entries from {head} on were inserted afterwards"
            ),
        ),
        Some(_) => {}
        None => note(entries, "the log's head row is missing".to_owned()),
    }
    // After the entries' own checks: a removed tail also leaves inner nodes without children.
    check_inner_nodes(transaction, entries, &mut note)?;
    Ok(VerifyReport {
        entries,
        purged,
        purged_before_records,
        checkpoints_checked: cursor.checked,
        root: hex::encode(frontier.root()),
        first_problem: problem,
    })
}

/// Checks the tree's nodes above the leaves: each must be the hash of the two below it (the
/// lowest one that is not is named: above it, a consistent rewrite of the path), and each
/// level must hold every node the entries complete. The leaves themselves were compared
/// with the entries; with this, every stored node is checked, so proofs served from the
/// tree cannot differ from the entries undetected.
fn check_inner_nodes(
    transaction: &mut postgres::Transaction<'_>,
    entries: u64,
    note: &mut dyn FnMut(u64, String),
) -> StoreResult<()> {
    let operation = "verifying the audit tree";
    let mismatch = transaction
        .query_opt(
            "SELECT p.level, p.idx FROM audit_log_tree p
             LEFT JOIN audit_log_tree l ON l.level = p.level - 1 AND l.idx = 2 * p.idx
             LEFT JOIN audit_log_tree r ON r.level = p.level - 1 AND r.idx = 2 * p.idx + 1
             WHERE p.level > 0
               AND (l.hash IS NULL OR r.hash IS NULL
                    OR p.hash <> sha256('\\x01'::bytea || l.hash || r.hash))
             ORDER BY p.level, p.idx
             LIMIT 1",
            &[],
        )
        .map_err(db(operation))?;
    if let Some(row) = mismatch {
        let level: i16 = row.try_get(0).map_err(db(operation))?;
        let index: i64 = row.try_get(1).map_err(db(operation))?;
        let level = u32::try_from(level).unwrap_or(0).min(63);
        let first = u64::try_from(index).unwrap_or(0).saturating_mul(1 << level);
        let last = first.saturating_add((1 << level) - 1);
        note(
            first,
            format!(
                "tree node {index} of level {level} (entries {first}..={last}) is not the hash of the two nodes below it: the tree was edited"
            ),
        );
    }
    let levels = transaction
        .query(
            "SELECT level, count(*) FROM audit_log_tree GROUP BY level ORDER BY level",
            &[],
        )
        .map_err(db(operation))?;
    let mut held = [0u64; 64];
    for row in levels {
        let level: i16 = row.try_get(0).map_err(db(operation))?;
        let count: i64 = row.try_get(1).map_err(db(operation))?;
        if let Some(slot) = usize::try_from(level)
            .ok()
            .and_then(|level| held.get_mut(level))
        {
            *slot = u64::try_from(count).unwrap_or(0);
        }
    }
    for (level, &count) in held.iter().enumerate().skip(1) {
        let needed = entries >> level;
        if count < needed {
            note(
                count << level,
                format!(
                    "tree level {level} holds {count} nodes but {entries} entries need {needed}: tree nodes were removed"
                ),
            );
            break;
        }
    }
    Ok(())
}
