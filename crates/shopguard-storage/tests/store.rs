//! Conformance tests every `Store` backend must pass. The macro is invoked once per backend;
//! today the embedded backend. Tests of the embedded backend's decision segments follow.

use std::sync::Arc;

use shopguard_core::{Engine, Event, EventInput, EventKind, ListKind, ListRegistry};
use shopguard_storage::decision_log::DecisionLog;
use shopguard_storage::{
    api_keys, DecisionQuery, DecisionRecord, ListEntryRecord, ListRecord, LogBatch, Scope, Store,
    StoreError,
};

const POLICY: &str = r#"
[policy]
name = "storage-test"
[[rules]]
id = "big"
when = "event.kind == 'payment' && event.amount > 100.0"
outcome = "review"
reason = "large payment"
actions = [{ alert = "high" }]
"#;

fn record(
    engine: &Engine,
    user: &str,
    ip: &str,
    amount: f64,
    at_ms: i64,
    id: &str,
) -> DecisionRecord {
    let event = Event::try_from_input(
        EventInput {
            kind: Some(EventKind::Payment),
            user_id: Some(user.into()),
            ip: Some(ip.into()),
            amount: Some(amount),
            currency: Some("CNY".into()),
            occurred_at_ms: Some(at_ms),
            ..EventInput::default()
        },
        at_ms,
        || format!("event-{id}"),
    )
    .unwrap();
    let decision = engine.decide(&event, id.to_owned());
    DecisionRecord { decision, event }
}

macro_rules! store_test_suite {
    ($backend:ident, $open:expr) => {
        mod $backend {
            use super::*;

            fn open() -> (tempfile::TempDir, Arc<dyn Store>) {
                let folder = tempfile::tempdir().unwrap();
                let store: Arc<dyn Store> = Arc::new(($open)(folder.path()));
                (folder, store)
            }

            #[test]
            fn api_keys_round_trip_and_revoke() {
                let (_folder, store) = open();
                let key = api_keys::generate(
                    "checkout",
                    vec![Scope::EventsWrite, Scope::DecisionsRead],
                    5,
                );
                store.insert_api_key(&key.record).unwrap();
                let found = store.api_key(&key.record.key_id).unwrap().unwrap();
                assert_eq!(found, key.record);
                let (_, secret) = api_keys::split_token(&key.token).unwrap();
                assert!(found.secret_matches(secret));
                assert!(store.revoke_api_key(&key.record.key_id, 9).unwrap());
                assert!(!store.revoke_api_key(&key.record.key_id, 9).unwrap());
                assert!(!store
                    .api_key(&key.record.key_id)
                    .unwrap()
                    .unwrap()
                    .grants(Scope::EventsWrite));
                assert!(store.api_key("0000000000000000").unwrap().is_none());
            }

            #[test]
            fn policy_versions_are_kept_and_activated() {
                let (_folder, store) = open();
                assert!(store.active_policy().unwrap().is_none());
                let first = store
                    .insert_policy_version("a", "alice", "first", 1)
                    .unwrap();
                let second = store
                    .insert_policy_version("b", "bob", "second", 2)
                    .unwrap();
                assert_eq!((first, second), (1, 2));
                store.mark_policy_pending(second).unwrap();
                assert!(
                    store
                        .policy_version(second)
                        .unwrap()
                        .unwrap()
                        .pending_approval
                );
                assert!(store.approve_policy_version(second, "carol", 3).unwrap());
                assert!(
                    !store.approve_policy_version(second, "carol", 3).unwrap(),
                    "once"
                );
                let approved = store.policy_version(second).unwrap().unwrap();
                assert!(!approved.pending_approval);
                assert_eq!(approved.approved_by.as_deref(), Some("carol"));
                store.activate_policy_version(second, "bob", 3).unwrap();
                assert_eq!(store.active_policy().unwrap().unwrap().source, "b");
                store.activate_policy_version(first, "alice", 4).unwrap();
                assert_eq!(store.active_policy().unwrap().unwrap().version, 1);
                assert!(matches!(
                    store.activate_policy_version(99, "x", 5),
                    Err(StoreError::NotFound(_))
                ));
                let versions = store.policy_versions().unwrap();
                assert_eq!(
                    versions.iter().map(|v| v.version).collect::<Vec<_>>(),
                    vec![2, 1]
                );
            }

            #[test]
            fn list_entries_upsert_page_expire() {
                let (_folder, store) = open();
                let list = ListRecord {
                    name: "ip_block".into(),
                    kind: ListKind::Ip,
                    description: "".into(),
                    created_at_ms: 0,
                };
                store.ensure_list(&list).unwrap();
                store.ensure_list(&list).unwrap();
                let conflicting = ListRecord {
                    kind: ListKind::Email,
                    ..list.clone()
                };
                assert!(matches!(
                    store.ensure_list(&conflicting),
                    Err(StoreError::Conflict(_))
                ));
                let entries: Vec<ListEntryRecord> = (0..25)
                    .map(|n| ListEntryRecord {
                        value: format!("10.0.0.{n:02}"),
                        expires_at_ms: (n % 5 == 0).then_some(100),
                        added_by: "test".into(),
                        reason: "why".into(),
                        created_at_ms: 1,
                    })
                    .collect();
                store.upsert_list_entries("ip_block", &entries).unwrap();
                let page = store.list_entries("ip_block", None, 10).unwrap();
                assert_eq!(page.len(), 10);
                let next = store
                    .list_entries("ip_block", Some(&page[9].value), 100)
                    .unwrap();
                assert_eq!(next.len(), 15);
                let mut live = 0;
                store
                    .for_each_list_entry("ip_block", 100, &mut |batch| live += batch.len())
                    .unwrap();
                assert_eq!(live, 20, "expired entries are not loaded");
                assert_eq!(store.purge_expired_list_entries(100).unwrap(), 5);
                assert!(store.remove_list_entry("ip_block", "10.0.0.01").unwrap());
                assert!(!store.remove_list_entry("ip_block", "10.0.0.01").unwrap());
            }

            #[test]
            fn decisions_are_logged_queried_and_purged() {
                let (_folder, store) = open();
                let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
                let log = DecisionLog::start(store.clone(), 1_000);
                for n in 0..50i64 {
                    let user = if n % 2 == 0 { "alice" } else { "bob" };
                    let mut batch = log.batch(1);
                    batch
                        .push(&record(
                            &engine,
                            user,
                            "192.0.2.9",
                            (n * 10) as f64,
                            1_000 + n,
                            &format!("d{n:03}"),
                        ))
                        .unwrap();
                    log.append(batch).unwrap();
                }
                log.flush().unwrap();
                assert_eq!(store.decision_count().unwrap(), 50);
                let alice = store
                    .query_decisions(&DecisionQuery {
                        user_id: Some("alice".into()),
                        limit: 100,
                        ..DecisionQuery::default()
                    })
                    .unwrap();
                assert_eq!(alice.len(), 25);
                assert!(
                    alice
                        .windows(2)
                        .all(|pair| pair[0].decision.occurred_at_ms
                            >= pair[1].decision.occurred_at_ms),
                    "newest first"
                );
                let reviewed = store
                    .query_decisions(&DecisionQuery {
                        outcome: Some("review".into()),
                        from_ms: Some(1_020),
                        limit: 100,
                        ..DecisionQuery::default()
                    })
                    .unwrap();
                assert_eq!(reviewed.len(), 30, "amounts 200..490 are over 100");
                let one = store.decision("d042").unwrap().unwrap();
                assert_eq!(one.event.amount, Some(420.0));
                let alerts = store.query_alerts(None, None, 1_000).unwrap();
                assert_eq!(alerts.len(), 39, "every payment over 100 raised an alert");
                assert_eq!(store.purge_decisions_before(1_025).unwrap(), 25);
                assert_eq!(store.decision_count().unwrap(), 25);
                log.close();
                let mut late = log.batch(1);
                late.push(&record(&engine, "x", "192.0.2.1", 1.0, 1, "late"))
                    .unwrap();
                assert!(matches!(log.append(late), Err(StoreError::LogClosed)));
            }

            #[test]
            fn a_full_queue_makes_writers_wait_and_loses_nothing() {
                let (_folder, store) = open();
                let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
                // Room for four records: most appends of three find the queue full and wait.
                let log = Arc::new(DecisionLog::start(store.clone(), 4));
                let writers: Vec<_> = (0..2)
                    .map(|writer| {
                        let log = log.clone();
                        let engine = &engine;
                        let records: Vec<DecisionRecord> = (0..60)
                            .map(|n| {
                                let id = format!("w{writer}-{n:02}");
                                record(engine, "carol", "192.0.2.7", 5.0, 2_000 + n, &id)
                            })
                            .collect();
                        std::thread::spawn(move || {
                            for three in records.chunks(3) {
                                let mut batch = log.batch(three.len());
                                for record in three {
                                    batch.push(record).unwrap();
                                }
                                log.append(batch).unwrap();
                            }
                        })
                    })
                    .collect();
                for writer in writers {
                    writer.join().unwrap();
                }
                log.flush().unwrap();
                assert_eq!(store.decision_count().unwrap(), 120);
                assert!(store.decision("w1-59").unwrap().is_some());
                // One batch larger than the whole queue still goes through.
                let mut large = log.batch(10);
                for n in 0..10 {
                    large
                        .push(&record(
                            &engine,
                            "dan",
                            "192.0.2.8",
                            500.0,
                            3_000 + n,
                            &format!("l{n}"),
                        ))
                        .unwrap();
                }
                assert_eq!(
                    large.alerts().len(),
                    10,
                    "every payment over 100 raises an alert"
                );
                log.append(large).unwrap();
                log.flush().unwrap();
                assert_eq!(store.decision_count().unwrap(), 130);
                assert_eq!(
                    log.stats()
                        .queued
                        .load(std::sync::atomic::Ordering::Relaxed),
                    0
                );
            }
        }
    };
}

store_test_suite!(embedded, |path: &std::path::Path| {
    shopguard_storage::embedded::EmbeddedStore::open(path).unwrap()
});

#[test]
fn snapshots_are_written_atomically_and_read_back() {
    let folder = tempfile::tempdir().unwrap();
    assert!(shopguard_storage::snapshot::read_snapshot(folder.path())
        .unwrap()
        .is_none());
    shopguard_storage::snapshot::write_snapshot(folder.path(), b"state").unwrap();
    shopguard_storage::snapshot::write_snapshot(folder.path(), b"state two").unwrap();
    assert_eq!(
        shopguard_storage::snapshot::read_snapshot(folder.path())
            .unwrap()
            .unwrap(),
        b"state two"
    );
}

mod decision_segments {
    use super::*;
    use shopguard_storage::decision_segments::{DecisionSegments, SegmentSettings};
    use std::path::Path;

    /// Segments of 2 KiB: a few records each, so that queries cross many sealed segments.
    const SMALL: SegmentSettings = SegmentSettings {
        segment_bytes: 2_048,
        sync_each_batch: false,
    };

    /// `records` as the one batch of an append.
    fn batch(records: &[DecisionRecord]) -> [LogBatch; 1] {
        [LogBatch::of(None, records).unwrap()]
    }

    fn entries(count: i64) -> Vec<DecisionRecord> {
        let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
        (0..count)
            .map(|n| {
                let user = format!("user{}", n % 7);
                let ip = format!("198.51.100.{}", n % 5);
                record(
                    &engine,
                    &user,
                    &ip,
                    n as f64,
                    10_000 + n,
                    &format!("id{n:04}"),
                )
            })
            .collect()
    }

    fn user_query(user: &str) -> DecisionQuery {
        DecisionQuery {
            user_id: Some(user.into()),
            limit: 1_000,
            ..DecisionQuery::default()
        }
    }

    fn segment_files(folder: &Path, extension: &str) -> Vec<std::path::PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == extension))
            .collect();
        files.sort();
        files
    }

    fn check_contents(log: &DecisionSegments, total: i64) {
        assert_eq!(log.count(), total as u64);
        for user in 0..7 {
            let found = log.query(&user_query(&format!("user{user}"))).unwrap();
            let expected: Vec<String> = (0..total)
                .rev()
                .filter(|n| n % 7 == user)
                .map(|n| format!("id{n:04}"))
                .collect();
            let ids: Vec<String> = found
                .iter()
                .map(|r| r.decision.decision_id.clone())
                .collect();
            assert_eq!(ids, expected, "user{user}, newest first");
        }
        let by_ip = log
            .query(&DecisionQuery {
                ip: Some("198.51.100.3".into()),
                from_ms: Some(10_000 + total / 2),
                limit: 1_000,
                ..DecisionQuery::default()
            })
            .unwrap();
        assert_eq!(
            by_ip.len() as i64,
            (total / 2..total).filter(|n| n % 5 == 3).count() as i64
        );
        for n in [0, total / 3, total - 1] {
            let id = format!("id{n:04}");
            assert_eq!(log.decision(&id).unwrap().unwrap().decision.decision_id, id);
        }
        assert!(log.decision("id9999").unwrap().is_none());
        let page = log
            .query(&DecisionQuery {
                limit: 10,
                ..DecisionQuery::default()
            })
            .unwrap();
        assert_eq!(page.len(), 10.min(total as usize));
    }

    #[test]
    fn queries_cross_sealed_segments_and_survive_reopening() {
        let folder = tempfile::tempdir().unwrap();
        let all = entries(300);
        {
            let log = DecisionSegments::open(folder.path(), SMALL).unwrap();
            for records in all.chunks(7) {
                log.append(&batch(records)).unwrap();
            }
            assert!(
                segment_files(folder.path(), "idx").len() > 10,
                "many sealed segments"
            );
            check_contents(&log, 300);
        }
        let log = DecisionSegments::open(folder.path(), SMALL).unwrap();
        check_contents(&log, 300);
    }

    #[test]
    fn only_one_opener_at_a_time() {
        let folder = tempfile::tempdir().unwrap();
        let first = DecisionSegments::open(folder.path(), SMALL).unwrap();
        assert!(matches!(
            DecisionSegments::open(folder.path(), SMALL),
            Err(StoreError::Conflict(_))
        ));
        drop(first);
        DecisionSegments::open(folder.path(), SMALL).unwrap();
    }

    #[test]
    fn a_torn_write_is_cut_off_and_kept_aside() {
        let folder = tempfile::tempdir().unwrap();
        let all = entries(40);
        {
            let log = DecisionSegments::open(folder.path(), SegmentSettings::default()).unwrap();
            log.append(&batch(&all[..30])).unwrap();
        }
        // A crash in the middle of a write: half a frame at the end of the open segment.
        let open_segment = segment_files(folder.path(), "log").pop().unwrap();
        let mut bytes = std::fs::read(&open_segment).unwrap();
        let whole = bytes.len();
        bytes.extend_from_slice(&[200, 1, 0, 0, 9, 9, 9, 9, 1, 2, 3]);
        std::fs::write(&open_segment, &bytes).unwrap();

        let log = DecisionSegments::open(folder.path(), SegmentSettings::default()).unwrap();
        check_contents(&log, 30);
        assert_eq!(
            std::fs::metadata(&open_segment).unwrap().len() as usize,
            whole
        );
        let kept = std::fs::read_dir(folder.path())
            .unwrap()
            .filter(|entry| {
                entry
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".cut-at-")
            })
            .count();
        assert_eq!(kept, 1, "the cut-off bytes are kept beside the log");
        log.append(&batch(&all[30..])).unwrap();
        check_contents(&log, 40);
    }

    #[test]
    fn a_missing_or_damaged_index_is_rebuilt() {
        let folder = tempfile::tempdir().unwrap();
        {
            let log = DecisionSegments::open(folder.path(), SMALL).unwrap();
            for records in entries(120).chunks(3) {
                log.append(&batch(records)).unwrap();
            }
        }
        let indexes = segment_files(folder.path(), "idx");
        assert!(indexes.len() >= 2);
        std::fs::remove_file(&indexes[0]).unwrap();
        let mut damaged = std::fs::read(indexes.last().unwrap()).unwrap();
        damaged[100] ^= 0xff;
        std::fs::write(indexes.last().unwrap(), &damaged).unwrap();
        let log = DecisionSegments::open(folder.path(), SMALL).unwrap();
        check_contents(&log, 120);
        assert!(indexes[0].exists(), "the index was written again");
    }

    #[test]
    fn retention_removes_old_segments_and_rewrites_the_straddling_one() {
        let folder = tempfile::tempdir().unwrap();
        let log = DecisionSegments::open(folder.path(), SMALL).unwrap();
        for records in entries(200).chunks(5) {
            log.append(&batch(records)).unwrap();
        }
        let before = segment_files(folder.path(), "log").len();
        assert_eq!(log.purge_before(10_000 + 137).unwrap(), 137);
        assert_eq!(log.count(), 63);
        assert!(segment_files(folder.path(), "log").len() < before);
        assert!(log.decision("id0136").unwrap().is_none());
        assert!(log.decision("id0137").unwrap().is_some());
        let everyone = log
            .query(&DecisionQuery {
                limit: 1_000,
                ..DecisionQuery::default()
            })
            .unwrap();
        assert_eq!(everyone.len(), 63);
        assert!(everyone
            .iter()
            .all(|record| record.decision.occurred_at_ms >= 10_137));
        drop(log);
        let reopened = DecisionSegments::open(folder.path(), SMALL).unwrap();
        assert_eq!(reopened.count(), 63);
        assert_eq!(reopened.query(&user_query("user3")).unwrap().len(), 9);
    }
    /// Writes `records` as a log of the JSON form that came before the binary one.
    fn write_json_segment(folder: &Path, id: u64, records: &[DecisionRecord]) {
        let mut bytes = Vec::new();
        for record in records {
            let mut payload = record.decision.occurred_at_ms.to_le_bytes().to_vec();
            payload.extend(serde_json::to_vec(record).unwrap());
            shopguard_storage::frames::push_frame(&mut bytes, &payload);
        }
        std::fs::write(folder.join(format!("{id:016x}.log")), bytes).unwrap();
    }

    #[test]
    fn logs_written_as_json_are_still_read_queried_and_purged() {
        let folder = tempfile::tempdir().unwrap();
        let all = entries(120);
        // An old sealed segment (no index yet) and an old open one, then new binary records.
        write_json_segment(folder.path(), 1, &all[..40]);
        write_json_segment(folder.path(), 2, &all[40..80]);
        let log = DecisionSegments::open(folder.path(), SMALL).unwrap();
        assert_eq!(log.count(), 80);
        for records in all[80..].chunks(4) {
            log.append(&batch(records)).unwrap();
        }
        check_contents(&log, 120);
        assert_eq!(log.decision("id0005").unwrap().unwrap(), all[5]);
        assert_eq!(log.decision("id0100").unwrap().unwrap(), all[100]);
        assert_eq!(log.purge_before(10_000 + 20).unwrap(), 20);
        drop(log);
        let reopened = DecisionSegments::open(folder.path(), SMALL).unwrap();
        assert_eq!(reopened.count(), 100);
        assert_eq!(reopened.decision("id0030").unwrap().unwrap(), all[30]);
        assert!(reopened.decision("id0019").unwrap().is_none());
    }

    #[test]
    fn a_binary_record_is_a_third_the_size_of_its_json() {
        let folder = tempfile::tempdir().unwrap();
        let all = entries(50);
        let log = DecisionSegments::open(folder.path(), SegmentSettings::default()).unwrap();
        log.append(&batch(&all)).unwrap();
        let binary: u64 = segment_files(folder.path(), "log")
            .iter()
            .map(|path| std::fs::metadata(path).unwrap().len())
            .sum();
        let json: usize = all
            .iter()
            .map(|record| serde_json::to_vec(record).unwrap().len())
            .sum();
        assert!(
            binary * 2 < json as u64,
            "binary {binary} bytes, JSON {json}"
        );
    }
}

mod field_encryption {
    use super::*;
    use shopguard_storage::decision_segments::SegmentSettings;
    use shopguard_storage::embedded::EmbeddedStore;

    fn registration(engine: &Engine, n: i64, id: &str) -> DecisionRecord {
        let mut attrs = std::collections::BTreeMap::new();
        attrs.insert(
            "id_number".to_owned(),
            serde_json::json!("110101199003071234"),
        );
        let event = Event::try_from_input(
            EventInput {
                kind: Some(EventKind::Register),
                user_id: Some(format!("user{n}")),
                ip: Some("192.0.2.1".into()),
                phone: Some("+86 13812341234".into()),
                email: Some(format!("user{n}@example.com")),
                attrs: Some(attrs),
                occurred_at_ms: Some(1_000 + n),
                ..EventInput::default()
            },
            1_000 + n,
            || format!("event-{id}"),
        )
        .unwrap();
        let decision = engine.decide(&event, id.to_owned());
        DecisionRecord { decision, event }
    }

    fn segment_bytes(folder: &std::path::Path) -> Vec<u8> {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(folder.join("decisions")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "log") {
                bytes.extend(std::fs::read(path).unwrap());
            }
        }
        bytes
    }

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
    }

    #[test]
    fn personal_fields_are_encrypted_at_rest_rotated_and_reencrypted() {
        let folder = tempfile::tempdir().unwrap();
        let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
        let settings = SegmentSettings {
            segment_bytes: 8_192,
            sync_each_batch: false,
        };
        let store = EmbeddedStore::open_with(folder.path(), settings).unwrap();
        let first: Vec<DecisionRecord> = (0..20)
            .map(|n| registration(&engine, n, &format!("a{n}")))
            .collect();
        assert!(
            matches!(
                store.append_decisions(&[LogBatch::of(None, &first).unwrap()]),
                Err(StoreError::Conflict(_))
            ),
            "a batch encoded without the keyring is refused"
        );
        assert_eq!(store.decision_count().unwrap(), 0);
        store
            .append_decisions(&[LogBatch::of(store.log_sealer(), &first).unwrap()])
            .unwrap();
        let on_disk = segment_bytes(folder.path());
        assert!(
            !contains(&on_disk, "13812341234"),
            "phone encrypted at rest"
        );
        assert!(
            !contains(&on_disk, "user3@example.com"),
            "email encrypted at rest"
        );
        assert!(
            !contains(&on_disk, "110101199003071234"),
            "ID number encrypted at rest"
        );
        assert!(contains(&on_disk, "enc1.1."));
        let read = store.decision("a3").unwrap().unwrap();
        assert_eq!(read.event.phone.as_deref(), Some("+86 13812341234"));
        assert_eq!(read.event.email.as_deref(), Some("user3@example.com"));
        assert_eq!(read.event.attrs["id_number"], "110101199003071234");

        assert_eq!(store.rotate_data_key(5).unwrap(), 2);
        let second: Vec<DecisionRecord> = (20..30)
            .map(|n| registration(&engine, n, &format!("b{n}")))
            .collect();
        store
            .append_decisions(&[LogBatch::of(store.log_sealer(), &second).unwrap()])
            .unwrap();
        assert!(contains(&segment_bytes(folder.path()), "enc1.2."));
        assert_eq!(
            store
                .decision("a3")
                .unwrap()
                .unwrap()
                .event
                .phone
                .as_deref(),
            Some("+86 13812341234"),
            "old key still opens"
        );

        let mut steps = Vec::new();
        let changed = store
            .reencrypt_decisions(&mut |done, total| steps.push((done, total)))
            .unwrap();
        assert_eq!(changed, 20, "the records under key 1");
        assert!(steps.last().is_some_and(|(done, total)| done == total));
        let on_disk = segment_bytes(folder.path());
        assert!(
            !contains(&on_disk, "enc1.1."),
            "nothing left under the old key"
        );
        assert_eq!(store.decision_count().unwrap(), 30);
        drop(store);

        let reopened = EmbeddedStore::open_with(folder.path(), settings).unwrap();
        let all = reopened
            .query_decisions(&DecisionQuery {
                limit: 100,
                ..DecisionQuery::default()
            })
            .unwrap();
        assert_eq!(all.len(), 30);
        assert!(all
            .iter()
            .all(|record| record.event.phone.as_deref() == Some("+86 13812341234")));
        let alice = reopened
            .query_decisions(&DecisionQuery {
                user_id: Some("user7".into()),
                limit: 10,
                ..DecisionQuery::default()
            })
            .unwrap();
        assert_eq!(alice[0].event.email.as_deref(), Some("user7@example.com"));
    }

    #[test]
    fn a_wrong_master_key_is_refused_at_open() {
        let folder = tempfile::tempdir().unwrap();
        drop(EmbeddedStore::open(folder.path()).unwrap());
        std::fs::write(folder.path().join("master.key"), "11".repeat(32)).unwrap();
        let error = EmbeddedStore::open(folder.path()).unwrap_err();
        assert!(error.to_string().contains("wrong master key"), "{error}");
    }
}
