//! Decision-log append rate: simulated decisions written through `Store::append_decisions` in
//! the writer's batch size, on the SQLite backend in a temporary folder.
//! Run with `cargo bench -p shopguard-storage --bench decision_log`.

use std::sync::Arc;
use std::time::Instant;

use shopguard_core::{Engine, Event, ListRegistry};
use shopguard_sim::{generate, SimConfig};
use shopguard_storage::sqlite::SqliteStore;
use shopguard_storage::{DecisionRecord, ListRecord, LogEntry, Store};

const POLICY: &str = include_str!("../../../examples/marketplace.toml");

fn main() {
    let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
    let started = Instant::now();
    let entries: Vec<LogEntry> = generate(&SimConfig {
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
        LogEntry::new(DecisionRecord { decision, event }).unwrap()
    })
    .collect();
    let prepare = started.elapsed().as_secs_f64();
    let bytes: usize = entries.iter().map(|entry| entry.decision_json.len()).sum();

    let folder = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(folder.path()).unwrap();
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
    for batch in entries.chunks(4_096) {
        store.append_decisions(batch, &[]).unwrap();
    }
    let append = started.elapsed().as_secs_f64();
    let file_bytes: u64 = std::fs::read_dir(folder.path())
        .unwrap()
        .filter_map(|entry| entry.ok()?.metadata().ok())
        .map(|meta| meta.len())
        .sum();
    println!("decision log (SQLite, WAL, batches of 4,096)");
    println!(
        "  {} decisions prepared in {prepare:.2} s (average decision JSON {} bytes)",
        entries.len(),
        bytes / entries.len()
    );
    println!(
        "  appended in {append:.2} s: {:.0} decisions/s, {:.1} us each",
        entries.len() as f64 / append,
        append * 1e6 / entries.len() as f64
    );
    println!(
        "  files: {:.1} MB ({:.0} bytes per decision)",
        file_bytes as f64 / 1e6,
        file_bytes as f64 / entries.len() as f64
    );
}
