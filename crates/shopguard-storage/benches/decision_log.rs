//! Decision-log append rate: simulated decisions encoded into `LogBatch`es (what request threads
//! do) and written through `Store::append_decisions` in the writer's batch size, on the embedded
//! backend in a temporary folder, with and without a flush to the disk per batch, then on
//! PostgreSQL in a fresh schema (batches encoded beforehand, as request threads do; only the
//! append is timed).
//! Run with `cargo bench -p shopguard-storage --bench decision_log`; PostgreSQL is found at
//! `SHOPGUARD_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`), and
//! skipped with a note when it cannot be reached.

use std::sync::Arc;
use std::time::Instant;

use shopguard_core::audit::{AuditContent, RecordClass};
use shopguard_core::{Engine, Event, ListRegistry};
use shopguard_sim::{generate, SimConfig};
use shopguard_storage::decision_segments::SegmentSettings;
use shopguard_storage::embedded::EmbeddedStore;
use shopguard_storage::keyring::LocalMasterKey;
use shopguard_storage::postgres::PostgresStore;
use shopguard_storage::{
    DataKeyStore, DecisionRecord, DecisionStore, ListRecord, LogBatch, NewAuditEntry, Store,
};

const POLICY: &str = include_str!("../../../examples/marketplace.toml");

fn main() {
    let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
    let started = Instant::now();
    let entries: Vec<DecisionRecord> = generate(&SimConfig {
        users: 3_000,
        days: 10,
        ..SimConfig::default()
    })
    .into_iter()
    .enumerate()
    .map(|(position, labelled)| {
        let at = labelled.event.occurred_at_ms.unwrap();
        let event = Event::try_from_input(labelled.event, at, || format!("e{position}")).unwrap();
        let decision = engine.decide(&event, format!("01940000-0000-7000-8000-{position:012}"));
        DecisionRecord { decision, event }
    })
    .collect();
    let prepare = started.elapsed().as_secs_f64();
    let bytes: usize = entries
        .iter()
        .map(|entry| serde_json::to_vec(&entry.decision).unwrap().len())
        .sum();

    for (label, sync_each_batch) in [("fdatasync per batch", true), ("no fdatasync", false)] {
        for batch_size in [4_096, 256] {
            append_all(&engine, &entries, label, sync_each_batch, batch_size);
        }
    }
    for batch_size in [8_192, 1_024] {
        append_postgres(&engine, &entries, batch_size);
    }
    println!(
        "  ({} decisions prepared in {prepare:.2} s, average decision JSON {} bytes)",
        entries.len(),
        bytes / entries.len()
    );
}

fn append_all(
    engine: &Engine,
    entries: &[DecisionRecord],
    label: &str,
    sync_each_batch: bool,
    batch_size: usize,
) {
    let folder = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open_with(
        folder.path(),
        SegmentSettings {
            sync_each_batch,
            ..SegmentSettings::default()
        },
    )
    .unwrap();
    ensure_lists(engine, &store);
    let started = Instant::now();
    for records in entries.chunks(batch_size) {
        let batch = LogBatch::of(store.log_sealer(), records).unwrap();
        store.append_decisions(&[batch]).unwrap();
    }
    let append = started.elapsed().as_secs_f64();
    let decisions_bytes: u64 = std::fs::read_dir(folder.path().join("decisions"))
        .unwrap()
        .filter_map(|entry| entry.ok()?.metadata().ok())
        .map(|meta| meta.len())
        .sum();
    println!(
        "decision log, segments, {label}, batches of {batch_size}: {} decisions in {append:.2} s: {:.0} decisions/s, {:.2} us each, {:.0} bytes on disk each",
        entries.len(),
        entries.len() as f64 / append,
        append * 1e6 / entries.len() as f64,
        decisions_bytes as f64 / entries.len() as f64
    );
}

/// Creates the lists the policy's actions add to.
fn ensure_lists(engine: &Engine, store: &dyn Store) {
    for list in engine.lists().all() {
        let record = ListRecord {
            name: list.name().to_owned(),
            kind: list.kind(),
            description: String::new(),
            created_at_ms: 0,
        };
        let audit = NewAuditEntry {
            at_ms: 0,
            class: RecordClass::ListChange,
            content: AuditContent {
                actor: "bench".into(),
                action: "list.create".into(),
                object: format!("list:{}", list.name()),
                detail: serde_json::Value::Null,
            },
        };
        store.ensure_list(&record, &audit).unwrap();
    }
}

fn append_postgres(engine: &Engine, entries: &[DecisionRecord], batch_size: usize) {
    let url = std::env::var("SHOPGUARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("sg_bench_{}", std::process::id());
    let master = Box::new(LocalMasterKey::from_bytes(&[3u8; 32]));
    let store = match PostgresStore::open(&url, &schema, master) {
        Ok(store) => store,
        Err(error) => {
            println!("decision log, postgresql: skipped, no server at {url}: {error}");
            return;
        }
    };
    ensure_lists(engine, &store);
    let keyring = store.keyring().unwrap();
    let batches: Vec<LogBatch> = entries
        .chunks(batch_size)
        .map(|records| LogBatch::of(Some(keyring.clone()), records).unwrap())
        .collect();
    let started = Instant::now();
    for batch in &batches {
        store.append_decisions(std::slice::from_ref(batch)).unwrap();
    }
    let append = started.elapsed().as_secs_f64();
    assert_eq!(store.decision_count().unwrap(), entries.len() as u64);
    println!(
        "decision log, postgresql, batches of {batch_size}: {} decisions in {append:.2} s: {:.0} decisions/s, {:.2} us each",
        entries.len(),
        entries.len() as f64 / append,
        append * 1e6 / entries.len() as f64,
    );
    drop(store);
    PostgresStore::drop_schema(&url, &schema).unwrap();
}
