//! The conformance suite every backend must pass (modelled on Quickwit's metastore test
//! suite): one test per trait method, in `suite`, run by `store_test_suite!` once against the
//! embedded backend (a fresh temporary folder per test) and once against PostgreSQL (a fresh
//! schema per test, dropped afterwards). Tests of the embedded backend's decision segments
//! follow.
//!
//! PostgreSQL is found at `SHOPGUARD_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); when it cannot be reached, its tests fail.

use std::sync::Arc;

use shopguard_core::{Engine, Event, EventInput, EventKind, ListRegistry};
use shopguard_storage::{
    DataKeyStore, DecisionQuery, DecisionRecord, DecisionStore, LogBatch, Store, StoreError,
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

mod suite;

/// The embedded backend in a fresh temporary folder.
struct EmbeddedFixture {
    folder: tempfile::TempDir,
}

impl suite::FixtureBackend for EmbeddedFixture {
    fn open(&self) -> Arc<dyn Store> {
        Arc::new(shopguard_storage::embedded::EmbeddedStore::open(self.folder.path()).unwrap())
    }

    fn snapshots(&self, node: &str) -> Box<dyn shopguard_storage::SnapshotStore> {
        let folder = self.folder.path().join("nodes").join(node);
        std::fs::create_dir_all(&folder).unwrap();
        Box::new(shopguard_storage::snapshot::FileSnapshots::new(&folder))
    }
}

fn embedded_fixture() -> suite::Fixture {
    suite::Fixture::new(Box::new(EmbeddedFixture {
        folder: tempfile::tempdir().unwrap(),
    }))
}

mod embedded {
    crate::suite::store_test_suite!(super::embedded_fixture);
    crate::suite::directory::directory_test_suite!(super::embedded_fixture);
}

/// Where the PostgreSQL tests find their server.
fn postgres_url() -> String {
    std::env::var("SHOPGUARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The PostgreSQL backend in a fresh schema of the test database, dropped afterwards.
struct PostgresFixture {
    url: String,
    schema: String,
    /// The store the snapshots go through, kept for them.
    snapshot_store: std::sync::OnceLock<shopguard_storage::postgres::PostgresStore>,
}

impl PostgresFixture {
    fn new() -> PostgresFixture {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let schema = format!(
            "sg_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        PostgresFixture {
            url: postgres_url(),
            schema,
            snapshot_store: std::sync::OnceLock::new(),
        }
    }

    fn open_store(&self) -> shopguard_storage::postgres::PostgresStore {
        let master = shopguard_storage::keyring::LocalMasterKey::from_bytes(&[7u8; 32]);
        shopguard_storage::postgres::PostgresStore::open(&self.url, &self.schema, Box::new(master))
            .unwrap_or_else(|error| {
                panic!(
                    "the PostgreSQL tests need a server at {} (set SHOPGUARD_TEST_POSTGRES_URL; \
                     .ci/run starts one): {error}",
                    self.url
                )
            })
    }
}

impl suite::FixtureBackend for PostgresFixture {
    fn open(&self) -> Arc<dyn Store> {
        Arc::new(self.open_store())
    }

    fn snapshots(&self, node: &str) -> Box<dyn shopguard_storage::SnapshotStore> {
        Box::new(
            self.snapshot_store
                .get_or_init(|| self.open_store())
                .snapshots(node),
        )
    }
}

impl Drop for PostgresFixture {
    fn drop(&mut self) {
        drop(self.snapshot_store.take());
        if let Err(error) =
            shopguard_storage::postgres::PostgresStore::drop_schema(&self.url, &self.schema)
        {
            eprintln!("could not drop test schema {}: {error}", self.schema);
        }
    }
}

fn postgres_fixture() -> suite::Fixture {
    suite::Fixture::new(Box::new(PostgresFixture::new()))
}

mod postgres {
    crate::suite::store_test_suite!(super::postgres_fixture);
    crate::suite::directory::directory_test_suite!(super::postgres_fixture);
}

/// What only the PostgreSQL backend promises.
mod postgres_only {
    use super::*;
    use shopguard_core::ListKind;
    use shopguard_storage::keyring::LocalMasterKey;
    use shopguard_storage::postgres::{PostgresSettings, PostgresStore};
    use shopguard_storage::{ListRecord, ListStore};

    fn master() -> Box<LocalMasterKey> {
        Box::new(LocalMasterKey::from_bytes(&[7u8; 32]))
    }

    fn sql(fixture: &PostgresFixture) -> ::postgres::Client {
        ::postgres::Client::connect(&fixture.url, ::postgres::NoTls).unwrap()
    }

    #[test]
    fn nodes_opening_a_new_schema_together_migrate_it_once_and_share_one_data_key() {
        let fixture = PostgresFixture::new();
        let stores: Vec<PostgresStore> = std::thread::scope(|scope| {
            let openers: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| fixture.open_store()))
                .collect();
            openers
                .into_iter()
                .map(|opener| opener.join().unwrap())
                .collect()
        });
        let mut client = sql(&fixture);
        let schema = &fixture.schema;
        let migrations: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {schema}.schema_migrations"),
                &[],
            )
            .unwrap()
            .get(0);
        let keys: i64 = client
            .query_one(&format!("SELECT count(*) FROM {schema}.data_keys"), &[])
            .unwrap()
            .get(0);
        // Each migration applied once, one data key.
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
            .unwrap()
            .count() as i64;
        assert_eq!((migrations, keys), (files, 1));
        let sealed = stores[0].keyring().unwrap().seal("secret").unwrap();
        assert_eq!(
            stores[3].keyring().unwrap().open(&sealed).unwrap(),
            "secret"
        );
    }

    #[test]
    fn a_retried_batch_stores_its_decisions_once() {
        let fixture = PostgresFixture::new();
        let store = fixture.open_store();
        store
            .ensure_list(
                &ListRecord {
                    name: "ip_watch".into(),
                    kind: ListKind::Ip,
                    description: String::new(),
                    created_at_ms: 0,
                },
                &suite::audit("list.create", "l"),
            )
            .unwrap();
        let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
        let records: Vec<DecisionRecord> = (0..10)
            .map(|n| {
                record(
                    &engine,
                    "alice",
                    "192.0.2.1",
                    500.0,
                    1_000 + n,
                    &format!("r{n}"),
                )
            })
            .collect();
        let batch = LogBatch::of(Some(store.keyring().unwrap()), &records).unwrap();
        store
            .append_decisions(std::slice::from_ref(&batch))
            .unwrap();
        store
            .append_decisions(std::slice::from_ref(&batch))
            .unwrap();
        assert_eq!(store.decision_count().unwrap(), 10);
        assert_eq!(store.query_alerts(None, None, 100).unwrap().len(), 10);
    }

    #[test]
    fn a_schema_of_the_earlier_migrations_moves_its_decisions_to_the_entity_index() {
        let fixture = PostgresFixture::new();
        let store = fixture.open_store();
        // As migrations 1 to 3 left a schema: three B-trees, migration 5 not applied.
        sql(&fixture)
            .batch_execute(&format!(
                "SET search_path TO {};
                 DROP INDEX decisions_by_entity;
                 CREATE INDEX decisions_by_user ON decisions(user_id, occurred_at_ms);
                 CREATE INDEX decisions_by_ip ON decisions(ip, occurred_at_ms) WHERE ip IS NOT NULL;
                 CREATE INDEX decisions_by_device ON decisions(device_id, occurred_at_ms) WHERE device_id IS NOT NULL;
                 DELETE FROM schema_migrations WHERE version = 5;",
                fixture.schema
            ))
            .unwrap();
        let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
        let records: Vec<DecisionRecord> = (0..30)
            .map(|n| {
                let user = ["alice", "bob", "carol"][n % 3];
                let ip = format!("192.0.2.{}", n % 5);
                record(
                    &engine,
                    user,
                    &ip,
                    5.0,
                    1_000 + n as i64,
                    &format!("m{n:02}"),
                )
            })
            .collect();
        store
            .append_decisions(&[LogBatch::of(Some(store.keyring().unwrap()), &records).unwrap()])
            .unwrap();
        drop(store);

        let store = fixture.open_store();
        let indexes: Vec<String> = sql(&fixture)
            .query(
                "SELECT indexname::text FROM pg_indexes WHERE schemaname = $1 AND tablename = 'decisions' ORDER BY 1",
                &[&fixture.schema],
            )
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(
            indexes,
            [
                "decisions_by_entity",
                "decisions_by_time",
                "decisions_decision_id_key",
                "decisions_pkey"
            ]
        );
        let bob_on_3 = DecisionQuery {
            user_id: Some("bob".into()),
            ip: Some("192.0.2.3".into()),
            limit: 100,
            ..DecisionQuery::default()
        };
        let found: Vec<String> = store
            .query_decisions(&bob_on_3)
            .unwrap()
            .into_iter()
            .map(|record| record.decision.decision_id)
            .collect();
        // n % 3 == 1 and n % 5 == 3: 13 and 28, newest first.
        assert_eq!(found, ["m28", "m13"]);
        let plan = store.explain_decision_query(&bob_on_3, true).unwrap();
        assert!(plan.contains("decisions_by_entity"), "{plan}");
    }

    #[test]
    fn personal_fields_are_sealed_in_the_table() {
        let fixture = PostgresFixture::new();
        let store = fixture.open_store();
        let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
        let mut one = record(&engine, "alice", "192.0.2.1", 5.0, 1_000, "p1");
        one.event.phone = Some("+86 13812341234".into());
        store
            .append_decisions(&[
                LogBatch::of(Some(store.keyring().unwrap()), &[one.clone()]).unwrap()
            ])
            .unwrap();
        let stored: Vec<u8> = sql(&fixture)
            .query_one(
                &format!("SELECT record FROM {}.decisions", fixture.schema),
                &[],
            )
            .unwrap()
            .get(0);
        let text = String::from_utf8_lossy(&stored);
        assert!(
            !text.contains("13812341234") && text.contains("enc1.1."),
            "{text}"
        );
        assert_eq!(store.decision("p1").unwrap().unwrap(), one);
    }

    #[test]
    fn a_schema_newer_than_this_build_is_refused() {
        let fixture = PostgresFixture::new();
        drop(fixture.open_store());
        sql(&fixture)
            .execute(
                &format!(
                    "INSERT INTO {}.schema_migrations (version, name) VALUES (999, 'future')",
                    fixture.schema
                ),
                &[],
            )
            .unwrap();
        let master = LocalMasterKey::from_bytes(&[7u8; 32]);
        let error =
            PostgresStore::open(&fixture.url, &fixture.schema, Box::new(master)).unwrap_err();
        assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    }

    #[test]
    fn a_wrong_master_key_is_refused_at_open() {
        let fixture = PostgresFixture::new();
        drop(fixture.open_store());
        let wrong = LocalMasterKey::from_bytes(&[8u8; 32]);
        assert!(PostgresStore::open(&fixture.url, &fixture.schema, Box::new(wrong)).is_err());
    }

    #[test]
    fn a_schema_name_that_is_not_a_plain_identifier_is_refused() {
        let error =
            PostgresStore::open(&postgres_url(), "x; DROP SCHEMA public", master()).unwrap_err();
        assert!(matches!(error, StoreError::Conflict(_)), "{error}");
    }

    #[test]
    fn an_unreachable_server_is_a_retryable_error_naming_no_driver_type() {
        let settings = PostgresSettings {
            connect_timeout: std::time::Duration::from_millis(500),
            ..PostgresSettings::default()
        };
        let error = PostgresStore::open_with(
            "postgres://postgres@127.0.0.1:1/test",
            "sg_nowhere",
            master(),
            settings,
        )
        .unwrap_err();
        assert!(error.is_retryable(), "{error}");
        assert!(matches!(error, StoreError::Backend { .. }));
    }
}

/// Several nodes on one schema: two store instances, as two nodes would open them.
mod postgres_nodes {
    use super::*;
    use shopguard_storage::tasks::{NewTask, TaskKind, TaskOutcome, TaskStatus};
    use shopguard_storage::{Lease, ScheduleStore, ScheduledJob, TaskStore};
    use std::collections::HashSet;

    fn submit(store: &dyn TaskStore, id: &str, at: i64) {
        store
            .create_task(
                &NewTask {
                    id: id.into(),
                    kind: TaskKind::ListImport,
                    requested_by: "system".into(),
                    parameters: serde_json::json!({}),
                    created_at_ms: at,
                },
                &suite::audit("task.submit", id),
            )
            .unwrap();
    }

    fn lease(worker: &str, now_ms: i64) -> Lease<'_> {
        Lease {
            worker,
            now_ms,
            duration_ms: 60_000,
        }
    }

    /// Eight workers on two nodes claim forty tasks at once: every task is claimed
    /// exactly once.
    #[test]
    fn workers_on_two_nodes_never_claim_one_task_twice() {
        let fixture = PostgresFixture::new();
        let nodes = [fixture.open_store(), fixture.open_store()];
        for n in 0..40 {
            submit(&nodes[n % 2], &format!("t{n:02}"), n as i64);
        }
        let claims: Vec<(String, String)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..8)
                .map(|w| {
                    let node = &nodes[w % 2];
                    scope.spawn(move || {
                        let worker = format!("node{}-{w}", w % 2);
                        let mut mine = Vec::new();
                        while let Some(task) = node.claim_next_task(&lease(&worker, 1_000)).unwrap()
                        {
                            assert_eq!(task.claimed_by.as_deref(), Some(worker.as_str()));
                            mine.push((task.id, worker.clone()));
                        }
                        mine
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| worker.join().unwrap())
                .collect()
        });
        assert_eq!(claims.len(), 40, "{claims:?}");
        let distinct: HashSet<&str> = claims.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(distinct.len(), 40);
        let workers: HashSet<&str> = claims.iter().map(|(_, w)| w.as_str()).collect();
        assert!(workers.len() > 1, "the work was shared: {workers:?}");
    }

    /// Node A claims a task and dies; node B cannot take it while A's lease holds, takes it
    /// over once the lease has run out, reads its input and checkpoint, and ends it. A, back
    /// from a stall, can no longer record progress or end it.
    #[test]
    fn a_task_whose_node_died_is_taken_over_once_its_lease_runs_out() {
        let fixture = PostgresFixture::new();
        let a = fixture.open_store();
        let b = fixture.open_store();
        a.put_task_input("t1", "192.0.2.1\n192.0.2.2").unwrap();
        submit(&a, "t1", 1);
        let claimed = a.claim_next_task(&lease("node-a", 1_000)).unwrap().unwrap();
        assert_eq!(claimed.lease_until_ms, Some(61_000));
        let checkpoint = serde_json::json!({ "lines": 1 });
        a.update_task_progress("t1", &lease("node-a", 2_000), 1, 2, Some(&checkpoint))
            .unwrap();
        drop(a);
        assert!(b
            .claim_next_task(&lease("node-b", 61_999))
            .unwrap()
            .is_none());
        let taken = b
            .claim_next_task(&lease("node-b", 62_000))
            .unwrap()
            .unwrap();
        assert_eq!(taken.id, "t1");
        assert_eq!(
            taken.result,
            Some(checkpoint),
            "resumes from the checkpoint"
        );
        assert_eq!(taken.done, 1);
        assert_eq!(
            b.task_input("t1").unwrap().as_deref(),
            Some("192.0.2.1\n192.0.2.2")
        );

        let a = fixture.open_store();
        assert!(
            a.requeue_running_tasks("node-a").unwrap().is_empty(),
            "a restarted node-a does not take back what node-b holds"
        );
        assert!(matches!(
            a.update_task_progress("t1", &lease("node-a", 62_001), 2, 2, None),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            a.finish_task(
                "t1",
                "node-a",
                &TaskOutcome::Succeeded(serde_json::Value::Null),
                62_002,
                &suite::audit("task.finish", "t1")
            ),
            Err(StoreError::Conflict(_))
        ));
        b.finish_task(
            "t1",
            "node-b",
            &TaskOutcome::Succeeded(serde_json::json!({ "added": 2 })),
            62_003,
            &suite::audit("task.finish", "t1"),
        )
        .unwrap();
        let ended = a.task("t1").unwrap().unwrap();
        assert_eq!(ended.status, TaskStatus::Succeeded);
        assert_eq!(ended.claimed_by.as_deref(), Some("node-b"));
    }

    /// Sixteen claimers on two nodes race for each of five due times of one job: each due
    /// time is won once.
    #[test]
    fn a_scheduled_job_fires_once_per_due_time_across_nodes() {
        let fixture = PostgresFixture::new();
        let nodes = [fixture.open_store(), fixture.open_store()];
        nodes[0]
            .put_scheduled_job(&ScheduledJob {
                name: "retention".into(),
                interval_ms: 1_000,
                last_run_at_ms: None,
                next_due_at_ms: 1_000,
            })
            .unwrap();
        for round in 1..=5i64 {
            let now = round * 1_000;
            let wins: usize = std::thread::scope(|scope| {
                let claimers: Vec<_> = (0..16)
                    .map(|c| {
                        let node = &nodes[c % 2];
                        scope.spawn(move || {
                            // Each claimer read the job before the race, as a node's
                            // scheduler holds it in memory.
                            node.claim_scheduled_job("retention", now, now)
                                .unwrap()
                                .is_some() as usize
                        })
                    })
                    .collect();
                claimers.into_iter().map(|c| c.join().unwrap()).sum()
            });
            assert_eq!(wins, 1, "round {round}");
        }
        let job = nodes[1].scheduled_jobs().unwrap().remove(0);
        assert_eq!(
            (job.last_run_at_ms, job.next_due_at_ms),
            (Some(5_000), 6_000)
        );
    }
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

        assert_eq!(
            store
                .rotate_data_key(5, &|id| crate::suite::audit("key.rotate", &id.to_string()))
                .unwrap(),
            2
        );
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

/// Directory contacts are personal data: the database file holds them sealed, never in the
/// clear (the suite checks they read back; this checks what is on disk).
#[test]
fn directory_contacts_are_sealed_at_rest() {
    use shopguard_core::directory::{Contacts, GroupRole, Member, ResponseGroup};
    let folder = tempfile::tempdir().unwrap();
    let store = shopguard_storage::embedded::EmbeddedStore::open(folder.path()).unwrap();
    let member = Member {
        id: "m1".into(),
        display_name: "Li Lei".into(),
        operator: None,
        group: ResponseGroup::Response,
        role: GroupRole::Leader,
        backup: None,
        contacts: Contacts {
            email: Some("li.lei@example.com".into()),
            phone: Some("13812341234".into()),
            im: Some("wx_lilei".into()),
        },
        active: true,
    };
    shopguard_storage::DirectoryStore::insert_directory_member(
        &store,
        &member,
        shopguard_storage::ChangeBy { by: "t", at_ms: 1 },
        &suite::audit("directory.member.create", "m1"),
    )
    .unwrap();
    let connection = rusqlite::Connection::open(folder.path().join("shopguard.db")).unwrap();
    let sealed: String = connection
        .query_row("SELECT contacts_sealed FROM directory_members", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert!(
        sealed.starts_with(shopguard_storage::keyring::SEALED_PREFIX),
        "{sealed}"
    );
    for clear in ["li.lei", "13812341234", "wx_lilei"] {
        assert!(!sealed.contains(clear));
    }
}
