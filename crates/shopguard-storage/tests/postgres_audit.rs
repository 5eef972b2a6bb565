//! The audit log on PostgreSQL: proofs, checkpoints, retention, several nodes, and tampering
//! done directly through SQL, as someone holding the database's credentials would.
//!
//! Runs against the PostgreSQL server at `SHOPGUARD_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), each test in a fresh schema dropped after it.
//! An unreachable server fails the tests; they never skip.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ed25519_dalek::SigningKey;
use shopguard_core::audit::{self, AuditContent, Checkpoint, RecordClass};
use shopguard_core::audit_purge::{decode_purge, PurgeRequest, DAY_MS};
use shopguard_core::merkle::{self, Frontier};
use shopguard_storage::audit_log::{AuditQuery, NewAuditEntry};
use shopguard_storage::postgres_audit::{verify_database, PostgresAuditLog};
use shopguard_storage::{AuditLogStore, StoreError};

fn url() -> String {
    std::env::var("SHOPGUARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

/// A schema of its own for one test, dropped when the test ends.
struct Schema {
    name: String,
}

impl Schema {
    fn new() -> Schema {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "audit_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Schema { name }
    }

    fn open(&self) -> PostgresAuditLog {
        PostgresAuditLog::open(&url(), &self.name, key()).unwrap_or_else(|error| {
            panic!(
                "cannot open the audit log on PostgreSQL at {} ({error}): start PostgreSQL or set SHOPGUARD_TEST_POSTGRES_URL",
                url()
            )
        })
    }

    /// A connection whose search path is this schema, for changes made behind the log's back.
    fn sql(&self) -> postgres::Client {
        let mut client = postgres::Client::connect(&url(), postgres::NoTls).unwrap_or_else(|error| {
            panic!("PostgreSQL at {} is unreachable ({error}): start it or set SHOPGUARD_TEST_POSTGRES_URL", url())
        });
        client
            .batch_execute(&format!("SET search_path TO {}", self.name))
            .unwrap();
        client
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&url(), postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

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
fn filled(count: u64, checkpoint_at: u64) -> (Schema, PostgresAuditLog) {
    let schema = Schema::new();
    let log = schema.open();
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
    (schema, log)
}

/// The first problem verification reports, through the node and through an auditor's
/// connection with the public key only (both must agree).
fn first_problem(schema: &Schema, log: &PostgresAuditLog, extra: &[Checkpoint]) -> (u64, String) {
    let report = log.verify(&log.public_key(), extra).unwrap();
    let auditor = verify_database(&url(), &schema.name, &log.public_key(), extra).unwrap();
    assert_eq!(report, auditor);
    let problem = report.first_problem.expect("verification must fail");
    (problem.seq, problem.what)
}

fn assert_intact(log: &PostgresAuditLog) {
    let report = log.verify(&log.public_key(), &[]).unwrap();
    assert!(report.is_intact(), "{report:?}");
}

/// Rewrites entry `seq`'s content as an editor who read its salt would, with a commitment
/// that matches the new content.
fn rewrite_with_commitment(schema: &Schema, seq: i64) {
    let mut sql = schema.sql();
    let row = sql
        .query_one(
            "SELECT salt, content FROM audit_log_entries WHERE seq = $1",
            &[&seq],
        )
        .unwrap();
    let salt: Vec<u8> = row.get(0);
    let content: Vec<u8> = row.get(1);
    let edited = String::from_utf8(content)
        .unwrap()
        .replace("operator", "intruder")
        .into_bytes();
    let commitment = audit::commitment(&salt.try_into().unwrap(), &edited);
    sql.execute(
        "UPDATE audit_log_entries SET content = $1, commitment = $2 WHERE seq = $3",
        &[&edited, &commitment.as_slice(), &seq],
    )
    .unwrap();
}

/// Recomputes every tree node from the entries as they now are, as an editor covering their
/// tracks would.
fn rebuild_tree(schema: &Schema, log: &PostgresAuditLog) {
    let mut sql = schema.sql();
    let mut transaction = sql.transaction().unwrap();
    transaction
        .batch_execute("DELETE FROM audit_log_tree")
        .unwrap();
    let count: i64 = transaction
        .query_one("SELECT count(*) FROM audit_log_entries", &[])
        .unwrap()
        .get(0);
    let mut frontier = Frontier::new();
    let mut nodes = Vec::new();
    for seq in 0..count as u64 {
        let leaf = log.entry(seq).unwrap().unwrap().leaf_hash().unwrap();
        frontier.push(leaf, |level, index, hash| {
            nodes.push((level as i16, index as i64, hash.to_vec()))
        });
    }
    for (level, index, hash) in nodes {
        transaction
            .execute(
                "INSERT INTO audit_log_tree (level, idx, hash) VALUES ($1, $2, $3)",
                &[&level, &index, &hash],
            )
            .unwrap();
    }
    transaction
        .execute("UPDATE audit_log_head SET size = $1", &[&count])
        .unwrap();
    transaction.commit().unwrap();
}

#[test]
fn proofs_verify_against_signed_checkpoints() {
    let (_schema, log) = filled(100, 37);
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
    assert_eq!(AuditLogStore::size(&log), 100);
    assert!(matches!(
        log.inclusion_proof(100, 100),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        log.consistency_proof(10, 101),
        Err(StoreError::NotFound(_))
    ));
    assert!(log.entry(100).unwrap().is_none());
    assert!(log.entry(u64::MAX).unwrap().is_none());
}

#[test]
fn the_tree_matches_the_file_based_log_for_the_same_entries() {
    // Same leaves, same tree: a root computed from the entries alone equals the stored one.
    let (_schema, log) = filled(45, 10);
    let mut frontier = Frontier::new();
    for seq in 0..45 {
        frontier.push(
            log.entry(seq).unwrap().unwrap().leaf_hash().unwrap(),
            |_, _, _| {},
        );
    }
    assert_eq!(log.root(45).unwrap(), frontier.root());
    assert_eq!(log.root(0).unwrap(), merkle::empty_root());
}

#[test]
fn queries_filter_by_actor_action_object_and_time() {
    let (_schema, log) = filled(60, 10);
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
    let by_class = log
        .query(&AuditQuery {
            class: Some(RecordClass::Login),
            limit: 10,
            ..AuditQuery::default()
        })
        .unwrap();
    assert!(by_class.is_empty());
}

#[test]
fn an_updated_content_is_named() {
    let (schema, log) = filled(100, 37);
    schema
        .sql()
        .batch_execute(
            "UPDATE audit_log_entries
             SET content = convert_to(replace(convert_from(content, 'UTF8'), 'operator', 'intruder'), 'UTF8')
             WHERE seq = 10",
        )
        .unwrap();
    let (seq, what) = first_problem(&schema, &log, &[]);
    assert_eq!(seq, 10);
    assert!(what.contains("commitment"), "{what}");
}

#[test]
fn an_updated_class_is_named() {
    let (schema, log) = filled(100, 37);
    schema
        .sql()
        .batch_execute("UPDATE audit_log_entries SET class = 1 WHERE seq = 12")
        .unwrap();
    let (seq, what) = first_problem(&schema, &log, &[]);
    assert_eq!(seq, 12);
    assert!(
        what.contains("differs from the entry the tree recorded"),
        "{what}"
    );

    let (schema, log) = filled(100, 37);
    schema
        .sql()
        .batch_execute("UPDATE audit_log_entries SET class = 99 WHERE seq = 13")
        .unwrap();
    let (seq, what) = first_problem(&schema, &log, &[]);
    assert_eq!(seq, 13);
    assert!(what.contains("unknown record class 99"), "{what}");
}

#[test]
fn an_edit_with_a_recomputed_commitment_is_named_and_a_rewritten_tree_fails_the_checkpoint() {
    let (schema, log) = filled(100, 37);
    rewrite_with_commitment(&schema, 60);
    let (seq, what) = first_problem(&schema, &log, &[]);
    assert_eq!(seq, 60);
    assert!(
        what.contains("differs from the entry the tree recorded"),
        "{what}"
    );

    // The same edit with every tree node rewritten to match: the signed checkpoint catches it.
    rebuild_tree(&schema, &log);
    let (seq, what) = first_problem(&schema, &log, &[]);
    assert_eq!(seq, 37, "the range after the last good checkpoint");
    assert!(
        what.contains("do not match the checkpoint of 100"),
        "{what}"
    );
}

#[test]
fn a_deleted_entry_is_named_in_the_middle_and_at_the_tail() {
    let (schema, log) = filled(100, 37);
    schema
        .sql()
        .batch_execute("DELETE FROM audit_log_entries WHERE seq = 10")
        .unwrap();
    let (seq, what) = first_problem(&schema, &log, &[]);
    assert_eq!(seq, 10);
    assert!(what.contains("missing or out of order"), "{what}");

    // The tail below a checkpoint, with the head and the tree cut to match.
    let (schema, log) = filled(100, 37);
    schema
        .sql()
        .batch_execute(
            "DELETE FROM audit_log_entries WHERE seq >= 95;
             DELETE FROM audit_log_tree WHERE level = 0 AND idx >= 95;
             UPDATE audit_log_head SET size = 95;",
        )
        .unwrap();
    let (seq, what) = first_problem(&schema, &log, &[]);
    assert_eq!(seq, 95);
    assert!(what.contains("were removed"), "{what}");
    match PostgresAuditLog::open(&url(), &schema.name, key()) {
        Err(
            error @ StoreError::Truncated {
                entries: 95,
                covered: 100,
                ..
            },
        ) => {
            let message = error.to_string();
            assert!(message.contains("would reuse their numbers"), "{message}");
            assert!(message.contains("SET SCHEMA"), "{message}");
        }
        other => panic!("a node refuses a log shorter than its last checkpoint: {other:?}"),
    }

    // The tail after the last checkpoint: the head and the recorded leaves still count it.
    let (schema, log) = filled(100, 37);
    log.append(&[
        entry(100, RecordClass::Other),
        entry(101, RecordClass::Other),
    ])
    .unwrap();
    schema
        .sql()
        .batch_execute("DELETE FROM audit_log_entries WHERE seq = 101")
        .unwrap();
    let (seq, what) = first_problem(&schema, &log, &[]);
    assert_eq!(seq, 101);
    assert!(what.contains("were removed"), "{what}");
}

#[test]
fn a_forged_entry_is_named_at_the_tail_and_in_the_middle() {
    let (schema, log) = filled(100, 37);
    schema
        .sql()
        .batch_execute(
            "INSERT INTO audit_log_entries (seq, at_ms, class, commitment, salt, content)
             SELECT 100, at_ms, class, commitment, salt, content FROM audit_log_entries WHERE seq = 5",
        )
        .unwrap();
    let (seq, what) = first_problem(&schema, &log, &[]);
    assert_eq!(seq, 100);
    assert!(what.contains("inserted"), "{what}");

    // A copy of entry 5 slipped in as entry 6, every later entry moved up by one.
    let (schema, log) = filled(100, 37);
    schema
        .sql()
        .batch_execute(
            "UPDATE audit_log_entries SET seq = seq + 1000000 WHERE seq >= 6;
             UPDATE audit_log_entries SET seq = seq - 999999 WHERE seq >= 1000000;
             INSERT INTO audit_log_entries (seq, at_ms, class, commitment, salt, content)
             SELECT 6, at_ms, class, commitment, salt, content FROM audit_log_entries WHERE seq = 5;",
        )
        .unwrap();
    let (seq, what) = first_problem(&schema, &log, &[]);
    assert_eq!(seq, 6);
    assert!(
        what.contains("differs from the entry the tree recorded"),
        "{what}"
    );
}

#[test]
fn reordered_entries_are_named() {
    let (schema, log) = filled(100, 37);
    schema
        .sql()
        .batch_execute(
            "UPDATE audit_log_entries SET seq = 1000000 WHERE seq = 20;
             UPDATE audit_log_entries SET seq = 20 WHERE seq = 21;
             UPDATE audit_log_entries SET seq = 21 WHERE seq = 1000000;",
        )
        .unwrap();
    let (seq, what) = first_problem(&schema, &log, &[]);
    assert_eq!(seq, 20);
    assert!(what.contains("moved from another position"), "{what}");
}

#[test]
fn an_edited_or_removed_inner_tree_node_is_named() {
    // Proofs are read from the inner nodes: a node changed there (say, with the path above
    // it rewritten to match) is named although every entry and leaf is intact.
    let (schema, log) = filled(100, 37);
    schema
        .sql()
        .batch_execute("UPDATE audit_log_tree SET hash = sha256(hash) WHERE level = 2 AND idx = 3")
        .unwrap();
    let (seq, what) = first_problem(&schema, &log, &[]);
    assert_eq!(seq, 12);
    assert!(what.contains("tree node 3 of level 2"), "{what}");

    let (schema, log) = filled(100, 37);
    schema
        .sql()
        .batch_execute("DELETE FROM audit_log_tree WHERE level = 5")
        .unwrap();
    let (seq, what) = first_problem(&schema, &log, &[]);
    assert_eq!(seq, 0);
    assert!(what.contains("level 6"), "{what}");
}

#[test]
fn a_forged_checkpoint_is_caught() {
    let (schema, log) = filled(100, 37);
    let mut forged = log.checkpoints().unwrap().pop().unwrap();
    forged.size = 99;
    let (_, what) = first_problem(&schema, &log, &[forged]);
    assert!(what.contains("valid signature"), "{what}");

    schema
        .sql()
        .batch_execute("UPDATE audit_log_checkpoints SET at_ms = at_ms + 1 WHERE size = 37")
        .unwrap();
    let (seq, what) = first_problem(&schema, &log, &[]);
    assert_eq!(seq, 37);
    assert!(what.contains("valid signature"), "{what}");
}

#[test]
fn a_rewritten_history_fails_against_the_auditors_own_checkpoint() {
    // The auditor keeps a checkpoint. Someone then rewrites the rows consistently,
    // commitments, tree and all, and deletes the stored checkpoints; only the auditor's copy
    // can tell.
    let (schema, log) = filled(50, 20);
    let kept = log.checkpoints().unwrap()[0].clone();
    rewrite_with_commitment(&schema, 3);
    rebuild_tree(&schema, &log);
    schema
        .sql()
        .batch_execute("DELETE FROM audit_log_checkpoints")
        .unwrap();
    assert_intact(&log);
    let (seq, what) = first_problem(&schema, &log, &[kept]);
    assert_eq!(seq, 0);
    assert!(what.contains("checkpoint of 20"), "{what}");
}

#[test]
fn purging_keeps_the_tree_verifiable_and_long_term_classes_whole() {
    let schema = Schema::new();
    let log = schema.open();
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
    let request = purge_request(now, 365);
    let purged = log.purge_expired(&request).unwrap();
    assert_eq!(purged, 15, "entries 0..20 that are not logins");
    assert_eq!(log.purge_expired(&request).unwrap(), 0);
    // The purge is recorded first, as entry 40, with its rule.
    let record = log.entry(40).unwrap().unwrap().content.unwrap();
    assert_eq!(
        (record.actor.as_str(), record.action.as_str()),
        ("system", "audit.purge")
    );
    let detail = decode_purge(&serde_json::to_vec(&record).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        (detail.below_seq, detail.previous, detail.purged),
        (40, None, 15)
    );
    assert_eq!(detail.rules[0].cutoff_ms, now - 365 * DAY_MS);
    let first = log.entry(1).unwrap().unwrap();
    assert!(first.content.is_none());
    assert!(!first.commitment.is_empty());
    assert!(
        log.entry(4).unwrap().unwrap().content.is_some(),
        "a login is kept"
    );
    assert!(log.entry(21).unwrap().unwrap().content.is_some());
    let report = log.verify(&log.public_key(), &[]).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.purged, 15);
    // A purged entry still has its inclusion proof against the checkpoint.
    let checkpoint = log.checkpoints().unwrap().pop().unwrap();
    let (found, proof) = log.inclusion_proof(1, 40).unwrap();
    assert!(merkle::verify_inclusion(
        &found.leaf_hash().unwrap(),
        1,
        40,
        &proof,
        &checkpoint.root_hash().unwrap()
    ));
    log.append(&[entry(40, RecordClass::Other)]).unwrap();
    assert_intact(&log);
    // A retention that names a class kept for good, or is below a year, is refused.
    let login = PurgeRequest {
        retention: vec![(RecordClass::Login, 400)],
        ..request.clone()
    };
    assert!(matches!(
        log.purge_expired(&login),
        Err(StoreError::Conflict(_))
    ));
    assert!(log.purge_expired(&purge_request(now, 30)).is_err());
    assert!(log.entry(4).unwrap().unwrap().content.is_some());

    // Removing the purge record's content leaves the entries it purged uncovered.
    schema
        .sql()
        .batch_execute("UPDATE audit_log_entries SET salt = NULL, content = NULL WHERE seq = 40")
        .unwrap();
    let (seq, what) = first_problem(&schema, &log, &[]);
    assert_eq!(seq, 1, "{what}");
    assert!(what.contains("no purge record"), "{what}");
}

fn purge_request(at_ms: i64, days: u32) -> PurgeRequest {
    PurgeRequest {
        at_ms,
        actor: "system".into(),
        retention: vec![(RecordClass::Configuration, days)],
    }
}

// Issue 17: a log purged before purges were recorded (format 1) is upgraded at open: the
// entries found purged are listed in one legacy purge record, and verification accepts them.
#[test]
fn a_format_one_log_is_upgraded_with_a_record_of_its_earlier_purges() {
    let (schema, log) = filled(12, 5);
    drop(log);
    schema
        .sql()
        .batch_execute(
            "UPDATE audit_log_head SET format = 1;
             UPDATE audit_log_entries SET salt = NULL, content = NULL WHERE seq IN (2, 3, 7)",
        )
        .unwrap();
    let log = schema.open();
    assert_eq!(log.size(), 13, "the legacy record was appended");
    let record = log.entry(12).unwrap().unwrap().content.unwrap();
    let detail = decode_purge(&serde_json::to_vec(&record).unwrap())
        .unwrap()
        .unwrap();
    assert!(detail.legacy);
    assert_eq!(detail.adopted, vec![[2, 4], [7, 8]]);
    let report = log.verify(&log.public_key(), &[]).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.purged, report.purged_before_records), (3, 3));
    // Opened again, nothing more is recorded; a purge forged afterwards is caught.
    drop(log);
    let log = schema.open();
    assert_eq!(log.size(), 13);
    schema
        .sql()
        .batch_execute("UPDATE audit_log_entries SET salt = NULL, content = NULL WHERE seq = 9")
        .unwrap();
    let (seq, what) = first_problem(&schema, &log, &[]);
    assert_eq!(seq, 9, "{what}");
}

#[test]
fn a_forged_purge_of_a_class_kept_for_good_is_named() {
    let schema = Schema::new();
    let log = schema.open();
    let entries: Vec<NewAuditEntry> = (0..10)
        .map(|n| {
            entry(
                n,
                if n == 6 {
                    RecordClass::Login
                } else {
                    RecordClass::Other
                },
            )
        })
        .collect();
    log.append(&entries).unwrap();
    log.checkpoint(1).unwrap();
    schema
        .sql()
        .batch_execute("UPDATE audit_log_entries SET salt = NULL, content = NULL WHERE seq = 6")
        .unwrap();
    let (seq, what) = first_problem(&schema, &log, &[]);
    assert_eq!(seq, 6);
    assert!(what.contains("forged purge"), "{what}");
}

#[test]
fn two_nodes_append_in_turn_and_lose_nothing() {
    let schema = Schema::new();
    let nodes = [Arc::new(schema.open()), Arc::new(schema.open())];
    let threads: Vec<_> = (0..6u64)
        .map(|thread| {
            let log = nodes[(thread % 2) as usize].clone();
            std::thread::spawn(move || {
                (0..40u64)
                    .flat_map(|n| {
                        let batch: Vec<NewAuditEntry> = (0..1 + n % 3)
                            .map(|k| entry(thread * 1_000 + n * 10 + k, RecordClass::Other))
                            .collect();
                        log.append(&batch).unwrap()
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
    let total = seqs.len() as u64;
    assert_eq!(seqs, (0..total).collect::<Vec<_>>());
    // Either node signs a checkpoint over everything both wrote.
    let checkpoint = nodes[1].checkpoint(3).unwrap();
    assert_eq!(checkpoint.size, total);
    assert_eq!(
        nodes[0].root(total).unwrap(),
        checkpoint.root_hash().unwrap()
    );
    let report = nodes[0].verify(&nodes[0].public_key(), &[]).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.entries, total);
}

#[test]
fn a_node_with_another_signing_key_is_refused() {
    let schema = Schema::new();
    let _first = schema.open();
    let other = SigningKey::from_bytes(&[8u8; 32]);
    match PostgresAuditLog::open(&url(), &schema.name, other) {
        Err(StoreError::Conflict(message)) => {
            assert!(message.contains("same audit signing key"), "{message}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn migrations_apply_once_and_bad_input_is_an_error() {
    let schema = Schema::new();
    let first = schema.open();
    first.append(&[entry(0, RecordClass::Other)]).unwrap();
    drop(first);
    let again = schema.open();
    assert_eq!(AuditLogStore::size(&again), 1);
    let versions: i64 = schema
        .sql()
        .query_one("SELECT count(*) FROM audit_log_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(versions, 2);

    assert!(matches!(
        PostgresAuditLog::open(&url(), "Robert'); DROP TABLE x; --", key()),
        Err(StoreError::Conflict(_))
    ));
    match PostgresAuditLog::open("postgres://postgres@127.0.0.1:1/test", "unreachable", key()) {
        Err(StoreError::Backend { retryable, .. }) => assert!(retryable),
        other => panic!("expected a backend error, got {other:?}"),
    }
}

#[test]
fn a_lost_connection_is_retryable_and_the_next_append_reconnects() {
    let schema = Schema::new();
    let log = schema.open();
    log.append(&[entry(0, RecordClass::Other)]).unwrap();
    let terminated: i64 = schema
        .sql()
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                                   WHERE application_name = $1) AS killed",
            &[&format!("shopguard-audit:{}", schema.name)],
        )
        .unwrap()
        .get(0);
    assert!(terminated >= 1);
    match log.append(&[entry(1, RecordClass::Other)]) {
        Ok(seqs) => assert_eq!(seqs, vec![1]),
        Err(error) => assert!(error.is_retryable(), "{error}"),
    }
    let seqs = log.append(&[entry(2, RecordClass::Other)]).unwrap();
    assert!(seqs == vec![1] || seqs == vec![2], "{seqs:?}");
    assert_intact(&log);
}

/// Append throughput: one entry per call, 100 per call, and one per call from eight threads (run with `--no-capture` to read
/// the figures).
#[test]
fn append_throughput() {
    let schema = Schema::new();
    let log = schema.open();
    let singles = 500u64;
    let started = Instant::now();
    for n in 0..singles {
        log.append(&[entry(n, RecordClass::Other)]).unwrap();
    }
    let single_rate = singles as f64 / started.elapsed().as_secs_f64();
    let batches = 100u64;
    let started = Instant::now();
    for batch in 0..batches {
        let entries: Vec<NewAuditEntry> = (0..100)
            .map(|k| entry(singles + batch * 100 + k, RecordClass::Other))
            .collect();
        log.append(&entries).unwrap();
    }
    let batch_rate = (batches * 100) as f64 / started.elapsed().as_secs_f64();
    // Eight callers at once, one entry per call: they share transactions (group commit).
    let log = Arc::new(log);
    let per_thread = 100u64;
    let started = Instant::now();
    let threads: Vec<_> = (0..8u64)
        .map(|thread| {
            let log = log.clone();
            std::thread::spawn(move || {
                for n in 0..per_thread {
                    log.append(&[entry(thread * 1_000_000 + n, RecordClass::Other)])
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let concurrent_rate = (8 * per_thread) as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    log.checkpoint(1).unwrap();
    let report = log.verify(&log.public_key(), &[]).unwrap();
    let verify_rate = report.entries as f64 / started.elapsed().as_secs_f64();
    assert!(report.is_intact(), "{report:?}");
    eprintln!(
        "postgres audit log: {single_rate:.0} appends/s of 1 entry, {batch_rate:.0} entries/s in batches of 100, {concurrent_rate:.0} appends/s of 1 entry from 8 threads, verify {verify_rate:.0} entries/s"
    );
    assert_eq!(report.entries, singles + batches * 100 + 8 * per_thread);
    assert!(single_rate > 20.0 && batch_rate > 200.0 && concurrent_rate > 20.0);
}

// Issue 17: setting a recent entry's salt and content to NULL through SQL passed
// verification and was counted "purged at the end of retention".
#[test]
fn a_forged_purge_of_a_recent_entry_is_named() {
    let (schema, log) = filled(30, 10);
    schema
        .sql()
        .batch_execute("UPDATE audit_log_entries SET salt = NULL, content = NULL WHERE seq = 12")
        .unwrap();
    let (seq, what) = first_problem(&schema, &log, &[]);
    assert_eq!(seq, 12, "{what}");
    assert!(what.contains("no purge record"), "{what}");
}

// Issue 17: an auditor who keeps checkpoints catches a tail cut below them, even when the
// tree and the head were rebuilt and every stored checkpoint deleted.
#[test]
fn a_tail_cut_below_a_kept_checkpoint_is_always_caught() {
    let (schema, log) = filled(60, 20);
    let kept = log.checkpoints().unwrap();
    schema
        .sql()
        .batch_execute(
            "DELETE FROM audit_log_entries WHERE seq >= 55; DELETE FROM audit_log_checkpoints",
        )
        .unwrap();
    rebuild_tree(&schema, &log);
    assert_intact(&log);
    let (seq, what) = first_problem(&schema, &log, &kept);
    assert_eq!(seq, 55, "{what}");
    assert!(what.contains("covers 60"), "{what}");
}

/// The relational store in the log's schema, whose audit outbox the log drains.
fn store_beside(schema: &Schema) -> shopguard_storage::postgres::PostgresStore {
    let master = shopguard_storage::keyring::LocalMasterKey::from_bytes(&[7u8; 32]);
    shopguard_storage::postgres::PostgresStore::open(&url(), &schema.name, Box::new(master))
        .unwrap()
}

#[test]
fn draining_the_outbox_moves_each_entry_once_in_order() {
    use shopguard_storage::AuditOutbox;
    let schema = Schema::new();
    let store = store_beside(&schema);
    let log = schema.open().with_outbox();
    assert_eq!(log.drain_outbox(10).unwrap(), 0, "nothing queued");
    for n in 0..5 {
        store
            .queue_audit_entry(&entry(n, RecordClass::ListChange))
            .unwrap();
    }
    assert_eq!(log.drain_outbox(3).unwrap(), 3, "at most the limit");
    assert_eq!(log.drain_outbox(10).unwrap(), 2);
    assert_eq!(log.drain_outbox(10).unwrap(), 0);
    assert!(store.queued_audit_entries(10).unwrap().is_empty());
    let objects: Vec<String> = (0..5)
        .map(|seq| log.entry(seq).unwrap().unwrap().content.unwrap().object)
        .collect();
    assert_eq!(
        objects,
        (0..5).map(|n| format!("object:{n}")).collect::<Vec<_>>()
    );
    assert_eq!(
        log.entry(0).unwrap().unwrap().content.unwrap(),
        entry(0, RecordClass::ListChange).content
    );
    assert_intact(&log);
    // A log that was not told about the outbox does not touch it.
    assert!(AuditLogStore::drain_outbox(&schema.open(), 10)
        .unwrap()
        .is_none());
}

#[test]
fn two_nodes_draining_one_outbox_move_each_entry_exactly_once() {
    use shopguard_storage::AuditOutbox;
    let schema = Schema::new();
    let stores = [
        Arc::new(store_beside(&schema)),
        Arc::new(store_beside(&schema)),
    ];
    let logs = [
        Arc::new(schema.open().with_outbox()),
        Arc::new(schema.open().with_outbox()),
    ];
    // A row claimed a moment ago by a node of the earlier version is left to it.
    stores[0]
        .queue_audit_entry(&entry(9_999, RecordClass::Other))
        .unwrap();
    assert_eq!(stores[1].queued_audit_entries(10).unwrap().len(), 1);
    let threads: Vec<_> = (0..6u64)
        .map(|thread| {
            let store = stores[(thread % 2) as usize].clone();
            let log = logs[(thread % 2) as usize].clone();
            std::thread::spawn(move || {
                for n in 0..25u64 {
                    let mine = entry(thread * 1_000 + n, RecordClass::Other);
                    store.queue_audit_entry(&mine).unwrap();
                    log.drain_outbox(1_000).unwrap();
                    // Once a drain returns, the caller's own entry is in the log, whichever
                    // node moved it.
                    let found = log
                        .query(&AuditQuery {
                            object: Some(mine.content.object.clone()),
                            limit: 10,
                            ..AuditQuery::default()
                        })
                        .unwrap();
                    assert_eq!(found.len(), 1, "{}", mine.content.object);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(AuditLogStore::size(&*logs[0]), 150);
    let remaining: Vec<String> = schema
        .sql()
        .query("SELECT content FROM audit_outbox", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(remaining.len(), 1, "the claimed row stays");
    assert!(remaining[0].contains("object:9999"), "{remaining:?}");
    let report = logs[1].verify(&logs[1].public_key(), &[]).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.entries, 150);
}
