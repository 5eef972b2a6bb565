//! The audit log: proofs, recovery, retention, and tampering through the files themselves.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use shopguard_core::audit::{self, AuditContent, Checkpoint, RecordClass};
use shopguard_core::audit_purge::{decode_purge, PurgeRequest, DAY_MS};
use shopguard_core::merkle;
use shopguard_storage::audit_log::{AuditLog, AuditQuery, NewAuditEntry, SEGMENT_ENTRIES};
use shopguard_storage::frames;

fn entry(n: u64, class: RecordClass) -> NewAuditEntry {
    NewAuditEntry {
        at_ms: 1_000_000 + n as i64 * 1_000,
        class,
        content: AuditContent {
            actor: format!("operator{}", n % 3),
            action: if n.is_multiple_of(2) {
                "list.entry.add"
            } else {
                "policy.activate"
            }
            .into(),
            object: format!("object:{n}"),
            detail: serde_json::json!({ "n": n }),
        },
    }
}

/// A log of `count` entries in batches of 7, checkpointed at `checkpoint_at` and at the end.
fn filled(count: u64, checkpoint_at: u64) -> (tempfile::TempDir, AuditLog) {
    let folder = tempfile::tempdir().unwrap();
    let log = AuditLog::open(folder.path()).unwrap();
    let all: Vec<NewAuditEntry> = (0..count).map(|n| entry(n, RecordClass::Other)).collect();
    let mut done = 0;
    for batch in all.chunks(7) {
        if done <= checkpoint_at && checkpoint_at < done + batch.len() as u64 {
            log.append(&batch[..(checkpoint_at - done) as usize])
                .unwrap();
            log.checkpoint(5).unwrap();
            log.append(&batch[(checkpoint_at - done) as usize..])
                .unwrap();
        } else {
            log.append(batch).unwrap();
        }
        done += batch.len() as u64;
    }
    log.checkpoint(9).unwrap();
    (folder, log)
}

fn segment_file(data: &Path) -> PathBuf {
    data.join("audit").join("entries-00000000.log")
}

/// The payloads of a segment file, to be changed and written back with good checksums, as
/// an attacker with write access to the disk would.
fn payloads(path: &Path) -> Vec<Vec<u8>> {
    let file = File::open(path).unwrap();
    let mut payloads = Vec::new();
    frames::scan_frames(&file, |_, payload| {
        payloads.push(payload.to_vec());
        Ok(())
    })
    .unwrap();
    payloads
}

fn write_payloads(path: &Path, payloads: &[Vec<u8>]) {
    let mut bytes = Vec::new();
    for payload in payloads {
        frames::push_frame(&mut bytes, payload);
    }
    std::fs::write(path, bytes).unwrap();
}

/// Changes the actor in a payload's content JSON; with `recommit`, also recomputes the
/// commitment from the salt, as someone who read the salt could.
fn edit_actor(payload: &mut Vec<u8>, recommit: bool) {
    let json = String::from_utf8(payload[82..].to_vec()).unwrap();
    let edited = json.replace("operator", "intruder");
    assert_ne!(json, edited);
    payload.truncate(82);
    payload.extend_from_slice(edited.as_bytes());
    if recommit {
        let mut salt = [0u8; 32];
        salt.copy_from_slice(&payload[50..82]);
        let commitment = audit::commitment(&salt, edited.as_bytes());
        payload[17..49].copy_from_slice(&commitment);
    }
}

fn verify(data: &Path, log: &AuditLog, extra: &[Checkpoint]) -> (u64, String) {
    let report = log.verify(&log.public_key(), extra).unwrap();
    let problem = report.first_problem.expect("verification must fail");
    let _ = data;
    (problem.seq, problem.what)
}

#[test]
fn proofs_verify_against_signed_checkpoints() {
    let (_folder, log) = filled(100, 37);
    let checkpoints = log.checkpoints().unwrap();
    assert_eq!(
        checkpoints.iter().map(|c| c.size).collect::<Vec<_>>(),
        vec![37, 100]
    );
    let key = log.public_key();
    for checkpoint in &checkpoints {
        assert!(checkpoint.verify(&key));
        let root = checkpoint.root_hash().unwrap();
        assert_eq!(log.root(checkpoint.size).unwrap(), root);
        for seq in 0..checkpoint.size {
            let (found, proof) = log.inclusion_proof(seq, checkpoint.size).unwrap();
            assert_eq!(found.seq, seq);
            let leaf = found.leaf_hash().unwrap();
            assert!(merkle::verify_inclusion(
                &leaf,
                seq,
                checkpoint.size,
                &proof,
                &root
            ));
        }
    }
    let proof = log.consistency_proof(37, 100).unwrap();
    assert!(merkle::verify_consistency(
        37,
        100,
        &checkpoints[0].root_hash().unwrap(),
        &checkpoints[1].root_hash().unwrap(),
        &proof
    ));
    let report = log.verify(&key, &[]).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.entries, report.checkpoints_checked), (100, 2));
    assert!(log.inclusion_proof(100, 100).is_err());
    assert!(log.consistency_proof(10, 101).is_err());
}

#[test]
fn queries_filter_by_actor_action_object_and_time() {
    let (_folder, log) = filled(60, 10);
    let by_actor = log
        .query(&AuditQuery {
            actor: Some("operator1".into()),
            limit: 1_000,
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(by_actor.len(), 20);
    assert!(
        by_actor.windows(2).all(|pair| pair[0].seq > pair[1].seq),
        "newest first"
    );
    let lists = log
        .query(&AuditQuery {
            action: Some("list.".into()),
            from_ms: Some(1_000_000 + 30 * 1_000),
            limit: 1_000,
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(lists.len(), 15);
    let one = log
        .query(&AuditQuery {
            object: Some("object:42".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].seq, 42);
    assert_eq!(log.entry(42).unwrap().unwrap(), one[0]);
    let page = log
        .query(&AuditQuery {
            before_seq: Some(5),
            limit: 3,
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![4, 3, 2]
    );
}

#[test]
fn an_edited_entry_is_named() {
    let (folder, log) = filled(100, 37);
    let path = segment_file(folder.path());
    let mut stored = payloads(&path);
    edit_actor(&mut stored[10], false);
    write_payloads(&path, &stored);
    let (seq, what) = verify(folder.path(), &log, &[]);
    assert_eq!(seq, 10);
    assert!(what.contains("commitment"), "{what}");
}

#[test]
fn an_edit_with_a_recomputed_commitment_is_named() {
    let (folder, log) = filled(100, 37);
    let path = segment_file(folder.path());
    let mut stored = payloads(&path);
    edit_actor(&mut stored[60], true);
    write_payloads(&path, &stored);
    let (seq, what) = verify(folder.path(), &log, &[]);
    assert_eq!(seq, 60);
    assert!(
        what.contains("differs from the entry the tree recorded"),
        "{what}"
    );

    // The same edit with the tree files rewritten to match: the signed checkpoint catches it.
    for level in 0..8 {
        let _ = std::fs::remove_file(
            folder
                .path()
                .join("audit")
                .join(format!("tree-{level:02}.bin")),
        );
    }
    let (seq, what) = verify(folder.path(), &log, &[]);
    assert_eq!(seq, 37, "the range after the last good checkpoint");
    assert!(
        what.contains("do not match the checkpoint of 100"),
        "{what}"
    );
}

#[test]
fn a_deleted_inserted_or_reordered_entry_is_named() {
    for (case, expected_seq) in [("delete", 10), ("insert", 6), ("reorder", 20)] {
        let (folder, log) = filled(100, 37);
        let path = segment_file(folder.path());
        let mut stored = payloads(&path);
        match case {
            "delete" => {
                stored.remove(10);
            }
            "insert" => {
                let copy = stored[5].clone();
                stored.insert(6, copy);
            }
            _ => stored.swap(20, 21),
        }
        write_payloads(&path, &stored);
        let (seq, what) = verify(folder.path(), &log, &[]);
        assert_eq!(seq, expected_seq, "{case}: {what}");
        assert!(what.contains("missing or out of order"), "{case}: {what}");
    }
}

#[test]
fn a_removed_tail_a_flipped_bit_and_a_forged_checkpoint_are_caught() {
    let (folder, log) = filled(100, 37);
    let path = segment_file(folder.path());
    let mut stored = payloads(&path);
    stored.truncate(95);
    write_payloads(&path, &stored);
    let (seq, what) = verify(folder.path(), &log, &[]);
    assert_eq!(seq, 95);
    assert!(what.contains("were removed"), "{what}");

    let (folder, log) = filled(100, 37);
    let path = segment_file(folder.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
    let (_, what) = verify(folder.path(), &log, &[]);
    assert!(
        what.contains("damaged") || what.contains("cannot be read"),
        "{what}"
    );

    let (folder, log) = filled(100, 37);
    let mut forged = log.checkpoints().unwrap().pop().unwrap();
    forged.size = 99;
    let (_, what) = verify(folder.path(), &log, &[forged]);
    assert!(what.contains("valid signature"), "{what}");
}

#[test]
fn a_rewritten_history_fails_against_the_auditors_own_checkpoint() {
    // The auditor keeps a checkpoint. Someone then rewrites every file consistently,
    // commitments, tree and all, and deletes the stored checkpoints; only the auditor's copy
    // can tell.
    let (folder, log) = filled(50, 20);
    let kept = log.checkpoints().unwrap()[0].clone();
    drop(log);
    let path = segment_file(folder.path());
    let mut stored = payloads(&path);
    edit_actor(&mut stored[3], true);
    write_payloads(&path, &stored);
    let audit_folder = folder.path().join("audit");
    std::fs::remove_file(audit_folder.join("checkpoints.log")).unwrap();
    for level in 0..8 {
        let _ = std::fs::remove_file(audit_folder.join(format!("tree-{level:02}.bin")));
    }
    let log = AuditLog::open(folder.path()).unwrap();
    assert!(log.verify(&log.public_key(), &[]).unwrap().is_intact());
    let report = log.verify(&log.public_key(), &[kept]).unwrap();
    let problem = report.first_problem.unwrap();
    assert_eq!(problem.seq, 0);
    assert!(
        problem.what.contains("checkpoint of 20"),
        "{}",
        problem.what
    );
}

#[test]
fn reopening_recomputes_the_tree_after_the_last_checkpoint() {
    let (folder, log) = filled(80, 30);
    let last = log.checkpoints().unwrap().pop().unwrap();
    let more: Vec<NewAuditEntry> = (80..90).map(|n| entry(n, RecordClass::Other)).collect();
    log.append(&more).unwrap();
    drop(log);
    // A crash lost the tree writes after the checkpoint of 80, and left half an entry.
    let leaves = folder.path().join("audit").join("tree-00.bin");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&leaves)
        .unwrap();
    file.set_len(50 * 32).unwrap();
    drop(file);
    let path = segment_file(folder.path());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[40, 0, 0, 0, 1, 2, 3, 4, 5]);
    std::fs::write(&path, bytes).unwrap();

    let log = AuditLog::open(folder.path()).unwrap();
    assert_eq!(log.size(), 90);
    let report = log.verify(&log.public_key(), &[]).unwrap();
    assert!(report.is_intact(), "{report:?}");
    let proof = log.consistency_proof(80, 90).unwrap();
    assert!(merkle::verify_consistency(
        80,
        90,
        &last.root_hash().unwrap(),
        &log.root(90).unwrap(),
        &proof
    ));
    log.append(&[entry(90, RecordClass::Login)]).unwrap();
    log.checkpoint(10).unwrap();
    assert!(log.verify(&log.public_key(), &[]).unwrap().is_intact());
}

#[test]
fn purging_keeps_the_tree_verifiable_and_long_term_classes_whole() {
    let folder = tempfile::tempdir().unwrap();
    let log = AuditLog::open(folder.path()).unwrap();
    let entries: Vec<NewAuditEntry> = (0..40)
        .map(|n| {
            entry(
                n,
                if n % 4 == 0 {
                    RecordClass::Login
                } else {
                    RecordClass::Configuration
                },
            )
        })
        .collect();
    log.append(&entries).unwrap();
    log.checkpoint(1).unwrap();
    // A year of retention for configuration, at a time when the first 20 are older.
    let now = 1_000_000 + 20 * 1_000 + 365 * DAY_MS;
    let request = PurgeRequest {
        at_ms: now,
        actor: "operator:ana".into(),
        retention: vec![(RecordClass::Configuration, 365)],
    };
    let purged = log.purge_expired(&request).unwrap();
    assert_eq!(purged, 15, "entries 0..20 that are not logins");
    assert_eq!(
        log.purge_expired(&request).unwrap(),
        0,
        "nothing more, nothing recorded"
    );
    assert_eq!(log.size(), 41, "the purge record");
    let record = log.entry(40).unwrap().unwrap().content.unwrap();
    assert_eq!(record.actor, "operator:ana");
    let detail = decode_purge(&serde_json::to_vec(&record).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        (detail.below_seq, detail.previous, detail.purged),
        (40, None, 15)
    );
    assert!(log.entry(1).unwrap().unwrap().content.is_none());
    assert!(
        log.entry(4).unwrap().unwrap().content.is_some(),
        "a login is kept"
    );
    assert!(log.entry(21).unwrap().unwrap().content.is_some());
    let report = log.verify(&log.public_key(), &[]).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.purged, 15);
    log.append(&[entry(41, RecordClass::Other)]).unwrap();
    assert!(log.verify(&log.public_key(), &[]).unwrap().is_intact());

    // A second purge names the first; classes kept for good and short periods are refused.
    let later = PurgeRequest {
        at_ms: now + 10 * 1_000,
        ..request.clone()
    };
    assert_eq!(
        log.purge_expired(&later).unwrap(),
        7,
        "entries 20..30 that are not logins"
    );
    let second = log.entry(42).unwrap().unwrap().content.unwrap();
    let second = decode_purge(&serde_json::to_vec(&second).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(second.previous, Some(40));
    for retention in [(RecordClass::Login, 400), (RecordClass::Other, 30)] {
        let refused = PurgeRequest {
            retention: vec![retention],
            ..request.clone()
        };
        assert!(log.purge_expired(&refused).is_err(), "{retention:?}");
    }
    assert!(log.entry(4).unwrap().unwrap().content.is_some());
    assert!(log.verify(&log.public_key(), &[]).unwrap().is_intact());

    // Removing the first purge record's content breaks the chain.
    drop(log);
    let path = segment_file(folder.path());
    let mut stored = payloads(&path);
    forge_purge(&mut stored[40]);
    write_payloads(&path, &stored);
    let log = AuditLog::open(folder.path()).unwrap();
    let (seq, what) = verify(folder.path(), &log, &[]);
    assert_eq!(seq, 42, "{what}");
    assert!(what.contains("a purge record was removed"), "{what}");
}

// Issue 17: a folder written before purges were recorded (no FORMAT file) is upgraded at
// open: one legacy purge record lists the entries found purged, and it then verifies.
#[test]
fn a_format_one_folder_is_upgraded_with_a_record_of_its_earlier_purges() {
    let (folder, log) = filled(30, 10);
    drop(log);
    std::fs::remove_file(folder.path().join("audit").join("FORMAT")).unwrap();
    let path = segment_file(folder.path());
    let mut stored = payloads(&path);
    for seq in [3, 4, 20] {
        forge_purge(&mut stored[seq]);
    }
    write_payloads(&path, &stored);
    let log = AuditLog::open(folder.path()).unwrap();
    assert_eq!(log.size(), 31);
    let record = log.entry(30).unwrap().unwrap().content.unwrap();
    let detail = decode_purge(&serde_json::to_vec(&record).unwrap())
        .unwrap()
        .unwrap();
    assert!(detail.legacy);
    assert_eq!(detail.adopted, vec![[3, 5], [20, 21]]);
    let report = log.verify(&log.public_key(), &[]).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.purged, report.purged_before_records), (3, 3));
    // The marker is written: a later open records nothing, and a later forgery is caught.
    drop(log);
    let mut stored = payloads(&path);
    forge_purge(&mut stored[25]);
    write_payloads(&path, &stored);
    let log = AuditLog::open(folder.path()).unwrap();
    assert_eq!(log.size(), 31);
    let (seq, _) = verify(folder.path(), &log, &[]);
    assert_eq!(seq, 25);
}

#[test]
fn concurrent_appends_share_flushes_and_lose_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let log = Arc::new(AuditLog::open(folder.path()).unwrap());
    let threads: Vec<_> = (0..8u64)
        .map(|thread| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..200u64)
                    .flat_map(|n| {
                        log.append(&[entry(thread * 1_000 + n, RecordClass::Other)])
                            .unwrap()
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..1_600).collect::<Vec<_>>());
    log.checkpoint(2).unwrap();
    assert!(log.verify(&log.public_key(), &[]).unwrap().is_intact());
    assert_eq!(SEGMENT_ENTRIES, 1 << 20);
}

#[test]
fn one_process_at_a_time() {
    let folder = tempfile::tempdir().unwrap();
    let _log = AuditLog::open(folder.path()).unwrap();
    assert!(AuditLog::open(folder.path()).is_err());
}

/// Removes an entry's salt and content from its payload, as a purge does, keeping the
/// commitment (the frame's checksum is recomputed by `write_payloads`).
fn forge_purge(payload: &mut Vec<u8>) {
    payload.truncate(50);
    payload[49] = 0;
}

// Issue 17: a purge forged by editing the files (salt and content removed, checksum fixed)
// passed verification and was counted "purged at the end of retention".
#[test]
fn a_forged_purge_of_a_recent_entry_is_named() {
    let (folder, log) = filled(100, 37);
    let path = segment_file(folder.path());
    let mut stored = payloads(&path);
    forge_purge(&mut stored[10]);
    write_payloads(&path, &stored);
    let (seq, what) = verify(folder.path(), &log, &[]);
    assert_eq!(seq, 10, "{what}");
    assert!(what.contains("no purge record"), "{what}");
}

// Issue 17: the same for an entry of a class kept for good (logins are never purged).
#[test]
fn a_forged_purge_of_a_login_entry_is_named() {
    let folder = tempfile::tempdir().unwrap();
    let log = AuditLog::open(folder.path()).unwrap();
    let entries: Vec<NewAuditEntry> = (0..20).map(|n| entry(n, RecordClass::Login)).collect();
    log.append(&entries).unwrap();
    log.checkpoint(3).unwrap();
    let path = segment_file(folder.path());
    let mut stored = payloads(&path);
    forge_purge(&mut stored[4]);
    write_payloads(&path, &stored);
    let (seq, what) = verify(folder.path(), &log, &[]);
    assert_eq!(seq, 4, "{what}");
    assert!(what.contains("kept for good"), "{what}");
}

// Issue 17: removing the last entries after the last checkpoint passed verification,
// though the tree file still held their leaves.
#[test]
fn a_removed_tail_after_the_last_checkpoint_is_caught_by_the_recorded_leaves() {
    for removed in [1usize, 2] {
        let (folder, log) = filled(100, 37);
        log.append(&[
            entry(100, RecordClass::Other),
            entry(101, RecordClass::Other),
        ])
        .unwrap();
        let path = segment_file(folder.path());
        let mut stored = payloads(&path);
        stored.truncate(102 - removed);
        write_payloads(&path, &stored);
        let (seq, what) = verify(folder.path(), &log, &[]);
        assert_eq!(seq, 102 - removed as u64, "{what}");
        assert!(what.contains("the tree recorded 102 leaves"), "{what}");
    }
}

// Issue 17: a node restarted on a log shorter than its own last checkpoint reused the
// removed sequence numbers without a warning.
#[test]
fn a_log_shorter_than_its_last_checkpoint_is_refused_at_open() {
    let (folder, log) = filled(100, 37);
    drop(log);
    let path = segment_file(folder.path());
    let mut stored = payloads(&path);
    stored.truncate(98);
    write_payloads(&path, &stored);
    let error = AuditLog::open(folder.path()).unwrap_err().to_string();
    assert!(error.contains("holds 98 entries"), "{error}");
    assert!(error.contains("covers 100"), "{error}");
    assert!(error.contains("shopguard restore"), "{error}");
    assert!(error.contains("mv "), "{error}");
}

// Issue 17: an auditor who keeps checkpoints catches a tail cut below them, even when the
// tree was rebuilt and every stored checkpoint deleted.
#[test]
fn a_tail_cut_below_a_kept_checkpoint_is_always_caught() {
    let (folder, log) = filled(60, 20);
    let kept = log.checkpoints().unwrap();
    drop(log);
    let path = segment_file(folder.path());
    let mut stored = payloads(&path);
    stored.truncate(55);
    write_payloads(&path, &stored);
    let audit_folder = folder.path().join("audit");
    std::fs::remove_file(audit_folder.join("checkpoints.log")).unwrap();
    for level in 0..8 {
        let _ = std::fs::remove_file(audit_folder.join(format!("tree-{level:02}.bin")));
    }
    let log = AuditLog::open(folder.path()).unwrap();
    assert_eq!(log.size(), 55);
    let report = log.verify(&log.public_key(), &kept).unwrap();
    let problem = report
        .first_problem
        .expect("the kept checkpoint of 60 catches it");
    assert_eq!(problem.seq, 55);
    assert!(problem.what.contains("covers 60"), "{}", problem.what);
}
