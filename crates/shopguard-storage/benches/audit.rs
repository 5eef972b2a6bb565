//! Audit log throughput: durable appends (batched, and single entries from many threads with
//! group commit), then a full verification of the log.
//! Run with `cargo bench -p shopguard-storage --bench audit`; `AUDIT_BENCH_ENTRIES` sets the
//! size of the log that is verified (default 10,000,000; about 2.4 GB in a temporary folder).

use std::sync::Arc;
use std::time::Instant;

use shopguard_core::audit::{AuditContent, RecordClass};
use shopguard_storage::audit_log::{AuditLog, NewAuditEntry};

fn entry(n: u64) -> NewAuditEntry {
    NewAuditEntry {
        at_ms: 1_767_225_600_000 + n as i64,
        class: RecordClass::DataAccess,
        content: AuditContent {
            actor: format!("operator{}", n % 50),
            action: "user.unmask".into(),
            object: format!("user:{}", n % 1_000_003),
            detail: serde_json::json!({ "field": "phone", "reason": "incident 4711" }),
        },
    }
}

fn main() {
    let total: u64 = std::env::var("AUDIT_BENCH_ENTRIES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(10_000_000);
    let folder = tempfile::tempdir().unwrap();
    let log = Arc::new(AuditLog::open(folder.path()).unwrap());

    // Many threads, one entry per call: what operator and API actions look like.
    let started = Instant::now();
    let threads: Vec<_> = (0..16u64)
        .map(|thread| {
            let log = log.clone();
            std::thread::spawn(move || {
                for n in 0..2_000u64 {
                    log.append(&[entry(thread * 2_000 + n)]).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let single = started.elapsed().as_secs_f64();
    println!(
        "audit append, 16 threads x 2,000 single-entry calls, each durable: {:.0} entries/s ({:.1} us each)",
        32_000.0 / single,
        single * 1e6 / 32_000.0
    );

    // Batches of 1,000, each durable.
    let batch: Vec<NewAuditEntry> = (0..1_000).map(entry).collect();
    let remaining = total.saturating_sub(32_000);
    let started = Instant::now();
    let mut appended = 0u64;
    while appended < remaining {
        let take = (remaining - appended).min(1_000) as usize;
        log.append(&batch[..take]).unwrap();
        appended += take as u64;
        if appended.is_multiple_of(1_000_000) {
            log.checkpoint(0).unwrap();
        }
    }
    let batched = started.elapsed().as_secs_f64();
    println!(
        "audit append, batches of 1,000, each durable: {appended} entries in {batched:.2} s: {:.0} entries/s",
        appended as f64 / batched
    );
    log.checkpoint(0).unwrap();
    let bytes: u64 = std::fs::read_dir(folder.path().join("audit"))
        .unwrap()
        .filter_map(|entry| entry.ok()?.metadata().ok())
        .map(|meta| meta.len())
        .sum();

    let started = Instant::now();
    let report = log.verify(&log.public_key(), &[]).unwrap();
    let verify = started.elapsed().as_secs_f64();
    assert!(report.is_intact(), "{report:?}");
    println!(
        "audit verify: {} entries, {} checkpoints, in {verify:.2} s ({:.0} entries/s); {:.0} bytes on disk per entry",
        report.entries,
        report.checkpoints_checked,
        report.entries as f64 / verify,
        bytes as f64 / report.entries as f64
    );
}
