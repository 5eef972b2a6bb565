//! Engine benchmark: one core, the shipped policy (46 rules, 23 features), 1,000,000 IP and
//! CIDR entries in the block list, simulated marketplace traffic.
//!
//! Reports throughput, per-event latency percentiles, list lookup cost and memory per velocity
//! key-window. Run with `cargo bench -p shopguard-core --bench engine`; the figures go to
//! `docs/benchmarks.md`. Per-event percentiles are why this is a plain harness: criterion and
//! divan report means and medians of batches, not the tail of single events.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shopguard_core::features::{Aggregation, EntityKey, FeatureState, WindowShape};
use shopguard_core::lists::{ListKey, NEVER};
use shopguard_core::{Engine, Event, EventKind, ListRegistry};
use shopguard_sim::{generate, seed_list_entries, SimConfig};

const POLICY: &str = include_str!("../../../examples/marketplace.toml");

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// The process's peak resident memory so far (`VmHWM`), in bytes.
fn peak_resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0)
        * 1024
}

fn percentile(sorted: &[u64], fraction: f64) -> f64 {
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index] as f64 / 1000.0
}

fn million_ip_entries(engine: &Engine) -> (u32, f64) {
    let list = engine.lists().get("ip_block").unwrap();
    let mut rng = SmallRng::seed_from_u64(1);
    // 900,000 single addresses and 100,000 /24 ranges in the attackers' space (185-195.x), so
    // normal traffic is looked up against the full tables without matching.
    let mut unique = std::collections::HashSet::with_capacity(1_000_000);
    let mut entries = Vec::with_capacity(1_000_000);
    while entries.len() < 1_000_000 {
        let address = u32::from(Ipv4Addr::new(
            rng.gen_range(185..=195),
            rng.gen(),
            rng.gen(),
            rng.gen(),
        ));
        let (network, prefix) = if entries.len() % 10 == 0 {
            (address & 0xFFFF_FF00, 24)
        } else {
            (address, 32)
        };
        if unique.insert((network, prefix)) {
            entries.push((
                ListKey::Network(IpAddr::V4(Ipv4Addr::from(network)), prefix),
                NEVER,
            ));
        }
    }
    let started = Instant::now();
    let added = list.insert_many(entries) as u32;
    (added, started.elapsed().as_secs_f64())
}

const MEMORY_ENV: &str = "SHOPGUARD_BENCH_MEMORY_SHAPE";

/// Shapes measured for memory: name, aggregation, events per key (distinct values for
/// distinct-counts), spread one bucket apart.
const MEMORY_SHAPES: [(&str, Aggregation, u32); 3] = [
    ("count, 1 event per key", Aggregation::Count, 1),
    ("count, 4 buckets per key", Aggregation::Count, 4),
    (
        "distinct, 2 values per key",
        Aggregation::Distinct(EntityKey::Ip),
        2,
    ),
];

/// Child mode: fill one feature state with a million keys and print bytes per key.
fn measure_memory(shape_name: &str) {
    let Some((_, aggregation, events_per_key)) = MEMORY_SHAPES
        .iter()
        .find(|(name, _, _)| *name == shape_name)
    else {
        return;
    };
    let state = FeatureState::new(WindowShape {
        aggregation: *aggregation,
        group_by: EntityKey::User,
        window_ms: 3_600_000,
        kinds: vec![EventKind::LoginFailed],
        filter: None,
    });
    let distinct = matches!(aggregation, Aggregation::Distinct(_));
    let before = resident_bytes();
    for key in 0..1_000_000u64 {
        for step in 0..u64::from(*events_per_key) {
            state.add(
                key.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                (step * 61_000) as i64,
                1.0,
                distinct.then_some(step),
            );
        }
    }
    let bytes = resident_bytes().saturating_sub(before) as f64 / 1_000_000.0;
    black_box(&state);
    println!("{bytes:.0}");
}

/// Set to a number of simulated users to replace the default traffic with a larger population.
const USERS_ENV: &str = "ENGINE_BENCH_USERS";

fn main() {
    if let Ok(shape) = std::env::var(MEMORY_ENV) {
        measure_memory(&shape);
        return;
    }
    let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).expect("shipped policy");
    for (list, value) in seed_list_entries() {
        engine
            .lists()
            .get(list)
            .unwrap()
            .insert(&value, None)
            .unwrap();
    }
    let rss_before_lists = resident_bytes();
    let (entries, load_seconds) = million_ip_entries(&engine);
    let list_bytes = resident_bytes().saturating_sub(rss_before_lists);

    // List lookups alone.
    let list = engine.lists().get("ip_block").unwrap();
    let mut rng = SmallRng::seed_from_u64(2);
    let probes: Vec<IpAddr> = (0..1_000_000)
        .map(|_| IpAddr::V4(Ipv4Addr::from(rng.gen::<u32>())))
        .collect();
    let started = Instant::now();
    let hits = probes.iter().filter(|ip| list.contains_ip(**ip, 0)).count();
    let lookup_ns = started.elapsed().as_nanos() as f64 / probes.len() as f64;
    // The same probes, each asked of memory eight lookups ahead.
    let started = Instant::now();
    let prefetched_hits = (0..probes.len())
        .filter(|&position| {
            if let Some(ahead) = probes.get(position + 8) {
                list.prefetch_ip(*ahead);
            }
            list.contains_ip(probes[position], 0)
        })
        .count();
    let prefetched_lookup_ns = started.elapsed().as_nanos() as f64 / probes.len() as f64;
    assert_eq!(prefetched_hits, hits);

    // Traffic: by default 2,000 users over 10 days plus 20 instances of each attack (about
    // 70,000 events). `ENGINE_BENCH_USERS=200000` sends a population whose feature and profile
    // tables outgrow the processor's caches, as a large platform's do (over 2 days).
    let sim = match std::env::var(USERS_ENV)
        .ok()
        .and_then(|users| users.parse().ok())
    {
        Some(users) => SimConfig {
            users,
            days: 2,
            instances_per_attack: (users / 1_000).clamp(2, 200),
            ..SimConfig::default()
        },
        None => SimConfig::default(),
    };
    let events: Vec<Event> = generate(&sim)
        .into_iter()
        .enumerate()
        .map(|(position, labelled)| {
            let at = labelled.event.occurred_at_ms.unwrap();
            Event::try_from_input(labelled.event, at, || format!("e{position}")).unwrap()
        })
        .collect();

    // Warm-up pass over the first tenth, then the measured pass over the rest (events are in
    // time order, so counts build up as they would in production).
    let warm = events.len() / 10;
    for (position, event) in events[..warm].iter().enumerate() {
        black_box(engine.decide(event, format!("w{position}")));
    }
    let ids: Vec<String> = (0..events.len())
        .map(|position| format!("d{position}"))
        .collect();
    let mut latencies = Vec::with_capacity(events.len());
    let started = Instant::now();
    for (event, id) in events[warm..].iter().zip(ids[warm..].iter()) {
        let one = Instant::now();
        black_box(engine.decide(event, id.clone()));
        latencies.push(one.elapsed().as_nanos() as u64);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let measured = latencies.len();

    // Throughput without the per-event clock reads: the same events again, each pass 20 days
    // after the one before, cycling through three ways: plain; asking memory for each next
    // event's state first (as the batch endpoint does); and asking for each event's own state
    // just before deciding it (all that a single-event request can do: no lead time, but the
    // misses overlap instead of following one another). Three passes of each, so that they are
    // compared over the same stretch of a noisy machine; the medians are reported.
    let shift = 20 * 86_400_000;
    let mut replay: Vec<Event> = events[warm..].to_vec();
    let mut rates: [Vec<f64>; 3] = Default::default();
    for pass in 0..9 {
        for event in &mut replay {
            event.occurred_at_ms += shift;
        }
        let way = pass % 3;
        let started = Instant::now();
        for (position, (event, id)) in replay.iter().zip(ids[warm..].iter()).enumerate() {
            let decision = match way {
                1 => {
                    if let Some(next) = replay.get(position + 1) {
                        engine.prefetch_when_large(next);
                    }
                    engine.decide(event, id.clone())
                }
                2 => engine.prefetch_and_decide(event, id.clone()),
                _ => engine.decide(event, id.clone()),
            };
            black_box(decision);
        }
        rates[way].push(measured as f64 / started.elapsed().as_secs_f64());
    }
    let median = |rates: &mut Vec<f64>| {
        rates.sort_by(f64::total_cmp);
        rates[rates.len() / 2]
    };
    let [mut plain_rates, mut prefetched_rates, mut own_rates] = rates;
    let bulk_rate = median(&mut plain_rates);
    let prefetched_rate = median(&mut prefetched_rates);
    let own_rate = median(&mut own_rates);

    // A snapshot of everything the events built up, as the server takes one every 30 s.
    let keys_before_expiry = engine.feature_key_count();
    let peak_before = peak_resident_bytes();
    let started = Instant::now();
    let snapshot_bytes = black_box(engine.snapshot()).map_or(0, |bytes| bytes.len());
    let snapshot_ms = started.elapsed().as_secs_f64() * 1e3;
    let snapshot_peak_growth = peak_resident_bytes().saturating_sub(peak_before);

    // One expiry pass, as the server runs every 5 s, just after the last event (the keys of
    // the passes before, 20 days earlier and more, are idle by then).
    let last_at = replay.last().map_or(0, |event| event.occurred_at_ms);
    let started = Instant::now();
    let expired = engine.maintain(last_at).feature_keys_expired;
    let expiry_ms = started.elapsed().as_secs_f64() * 1e3;
    // The usual pass: the next one, 5 s later, finds next to nothing to drop.
    let keys_left = engine.feature_key_count();
    let started = Instant::now();
    let expired_again = engine.maintain(last_at + 5_000).feature_keys_expired;
    let quiet_expiry_ms = started.elapsed().as_secs_f64() * 1e3;

    // Memory per velocity key-window: each shape is measured in a child process of its own, so
    // that memory freed by earlier work is not reused and hidden.
    let memory: Vec<(String, String)> = MEMORY_SHAPES
        .iter()
        .map(|(name, _, _)| {
            let output = std::process::Command::new(std::env::current_exe().unwrap())
                .env(MEMORY_ENV, name)
                .output()
                .unwrap();
            (
                name.to_string(),
                String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            )
        })
        .collect();

    println!("shopguard engine benchmark (one thread)");
    println!("  policy: 46 rules, 23 features; ip_block: {entries} entries (90% /32, 10% /24), loaded in {load_seconds:.2} s, ~{} MB RSS", list_bytes / 1_000_000);
    println!("  list lookup, 1,000,000 random IPv4 probes: {lookup_ns:.0} ns each ({hits} hits); {prefetched_lookup_ns:.0} ns each with each probe prefetched 8 lookups ahead");
    println!(
        "  events decided: {measured} (after {warm} warm-up), {} simulated users",
        sim.users
    );
    println!(
        "  throughput, timed per event: {:.0} events/s",
        measured as f64 / elapsed
    );
    println!("  throughput, bulk (median of 3 passes): {bulk_rate:.0} events/s");
    println!(
        "  throughput, bulk with the next event's state prefetched (median of 3 passes, \
         cycling with the other ways): {prefetched_rate:.0} events/s ({:+.1}%)",
        (prefetched_rate / bulk_rate - 1.0) * 100.0
    );
    println!(
        "  throughput, bulk with each event's own state prefetched just before it is decided \
         (median of 3 passes): {own_rate:.0} events/s ({:+.1}%)",
        (own_rate / bulk_rate - 1.0) * 100.0
    );
    println!(
        "  latency per event: p50 {:.2} us, p99 {:.2} us, p99.9 {:.2} us, max {:.2} us",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
        percentile(&latencies, 1.0)
    );
    println!(
        "  snapshot: {keys_before_expiry} feature keys, {} MB, taken in {snapshot_ms:.0} ms, peak memory +{} MB",
        snapshot_bytes / 1_000_000,
        snapshot_peak_growth / 1_000_000
    );
    println!(
        "  expiry pass: {keys_before_expiry} feature keys walked, {expired} expired, in {expiry_ms:.0} ms"
    );
    println!(
        "  next expiry pass: {keys_left} feature keys walked, {expired_again} expired, in {quiet_expiry_ms:.1} ms"
    );
    for (name, bytes) in memory {
        println!("  memory per velocity key-window ({name}): {bytes} bytes (RSS growth over 1,000,000 keys, own process)");
    }
}
