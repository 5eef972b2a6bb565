//! Decision-log append rate: simulated decisions encoded into `LogBatch`es (what request threads
//! do) and written through `Store::append_decisions` in the writer's batch size, on the embedded backend in a temporary folder, with and without
//! a flush to the disk per batch.
//! Run with `cargo bench -p shopguard-storage --bench decision_log`.

use std::sync::Arc;
use std::time::Instant;

use shopguard_core::{Engine, Event, ListRegistry};
use shopguard_sim::{generate, SimConfig};
use shopguard_storage::decision_segments::SegmentSettings;
use shopguard_storage::embedded::EmbeddedStore;
use shopguard_storage::{DecisionRecord, ListRecord, LogBatch, Store};

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
    for list in engine.lists().all() {
        let record = ListRecord {
            name: list.name().to_owned(),
            kind: list.kind(),
            description: String::new(),
            created_at_ms: 0,
        };
        store.ensure_list(&record).unwrap();
    }
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
