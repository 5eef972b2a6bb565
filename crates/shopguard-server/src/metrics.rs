//! Prometheus metrics, served at `/metrics` in the text exposition format.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use shopguard_core::{Decision, EventKind, Outcome};

/// Label of an event kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// Event kind.
    pub kind: String,
}

/// Label of an outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// Decision outcome.
    pub outcome: String,
}

/// Whether a rule hit was enforced or shadow.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum RuleMode {
    /// Enforced.
    Enforce,
    /// Shadow.
    Shadow,
}

/// Labels of a rule hit.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabel {
    /// Rule id.
    pub rule: String,
    /// Mode.
    pub mode: RuleMode,
}

/// Label of an HTTP route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    /// Matched route pattern.
    pub route: String,
    /// Status code.
    pub status: u16,
}

fn latency_histogram() -> Histogram {
    // 1 µs to about 8 s.
    Histogram::new(exponential_buckets(0.000_001, 2.0, 24))
}

/// Upper bounds of [`EngineLatency`]'s buckets: 1 µs doubling to about 8 s, then the rest.
const ENGINE_BUCKETS: usize = 24;

/// The engine's time per event: a histogram with lock-free buckets, fed a request's worth of
/// observations at once through a [`DecisionTally`] (the library's histogram takes a lock per
/// observation, which two request threads deciding 300,000 events a second fight over).
#[derive(Clone, Debug, Default)]
pub struct EngineLatency(Arc<LatencyCounts>);

#[derive(Debug, Default)]
struct LatencyCounts {
    /// Per bucket, the last one for everything above 8 s.
    buckets: [AtomicU64; ENGINE_BUCKETS + 1],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

/// The bucket of a duration: the first whose upper bound (1 µs × 2^i) holds it.
fn latency_bucket(seconds: f64) -> usize {
    let micros = seconds * 1e6;
    if micros <= 1.0 {
        0
    } else {
        (micros.log2().ceil() as usize).min(ENGINE_BUCKETS)
    }
}

impl EncodeMetric for EngineLatency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let counts = &self.0;
        let buckets: Vec<(f64, u64)> = counts
            .buckets
            .iter()
            .enumerate()
            .map(|(index, count)| {
                let upper = if index < ENGINE_BUCKETS {
                    1e-6 * f64::from(1u32 << index)
                } else {
                    f64::MAX
                };
                (upper, count.load(Relaxed))
            })
            .collect();
        encoder.encode_histogram::<()>(
            counts.sum_nanos.load(Relaxed) as f64 / 1e9,
            counts.count.load(Relaxed),
            &buckets,
            None,
        )
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

impl TypedMetric for EngineLatency {
    const TYPE: MetricType = MetricType::Histogram;
}

/// Counts of a run of decisions, kept by one request and added to the shared metrics once
/// ([`Metrics::record`]).
#[derive(Debug)]
pub struct DecisionTally {
    by_kind: [u32; EventKind::ALL.len()],
    by_outcome: [u32; 4],
    latency: [u32; ENGINE_BUCKETS + 1],
    latency_nanos: u64,
    decisions: u64,
    rule_errors: u64,
    /// Rule hits, rare enough to pass on one by one.
    hits: Vec<RuleLabel>,
}

impl Default for DecisionTally {
    fn default() -> Self {
        DecisionTally {
            by_kind: [0; EventKind::ALL.len()],
            by_outcome: [0; 4],
            latency: [0; ENGINE_BUCKETS + 1],
            latency_nanos: 0,
            decisions: 0,
            rule_errors: 0,
            hits: Vec::new(),
        }
    }
}

impl DecisionTally {
    /// Counts a decision and the engine time it took.
    pub fn add(&mut self, decision: &Decision, engine_seconds: f64) {
        self.by_kind[decision.kind.index()] += 1;
        self.by_outcome[decision.outcome as usize] += 1;
        self.latency[latency_bucket(engine_seconds)] += 1;
        self.latency_nanos += (engine_seconds * 1e9) as u64;
        self.decisions += 1;
        self.rule_errors += decision.errors.len() as u64;
        for (rules, mode) in [
            (&decision.matched, RuleMode::Enforce),
            (&decision.shadow_matched, RuleMode::Shadow),
        ] {
            self.hits.extend(rules.iter().map(|rule| RuleLabel {
                rule: rule.rule_id.clone(),
                mode: mode.clone(),
            }));
        }
    }
}

/// The non-zero counts of `counts`, with their index.
fn nonzero(counts: &[u32]) -> impl Iterator<Item = (usize, u64)> + '_ {
    counts
        .iter()
        .enumerate()
        .filter(|(_, count)| **count > 0)
        .map(|(index, count)| (index, u64::from(*count)))
}

/// Running totals since the node started (see [`Metrics::totals`]).
#[derive(Clone, Debug, Default)]
pub struct Totals {
    /// Events decided.
    pub events: u64,
    /// Decisions by outcome: allow, challenge, review, deny.
    pub by_outcome: [u64; 4],
    /// Challenges reported passed.
    pub challenges_passed: u64,
    /// Challenges reported failed.
    pub challenges_failed: u64,
    /// Matches per (rule id, shadow).
    pub rules: Vec<((String, bool), u64)>,
}

/// Every metric shopguard exports.
pub struct Metrics {
    registry: Registry,
    /// Events decided, by kind.
    pub events: Family<KindLabel, Counter>,
    /// Decisions, by outcome.
    pub decisions: Family<OutcomeLabel, Counter>,
    /// Rule matches.
    pub rule_hits: Family<RuleLabel, Counter>,
    /// Rule evaluation errors.
    pub rule_errors: Counter,
    /// Time the engine spent per event.
    pub engine_latency: EngineLatency,
    /// HTTP request duration, by route and status.
    pub http_latency: Family<RouteLabel, Histogram, fn() -> Histogram>,
    /// Requests refused by the rate limiter.
    pub rate_limited: Counter,
    /// Decisions waiting to be written.
    pub log_queued: Gauge,
    /// Decisions written to the log.
    pub log_written: Gauge,
    /// Decisions the log gave up on.
    pub log_failed: Gauge,
    /// Live velocity keys.
    pub feature_keys: Gauge,
    /// Live policy version.
    pub policy_version: Gauge,
    /// `events` per kind, resolved once (indexed by `EventKind::index`).
    events_by_kind: Vec<Counter>,
    /// `decisions` per outcome, resolved once (allow, challenge, review, deny).
    decisions_by_outcome: Vec<Counter>,
    /// Rule matches by (rule, shadow), readable by the console's situation recorder (the
    /// family above only encodes).
    rule_totals: parking_lot::Mutex<std::collections::HashMap<(String, bool), u64>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("shopguard");
        let metrics = Metrics {
            events: Family::default(),
            decisions: Family::default(),
            rule_hits: Family::default(),
            rule_errors: Counter::default(),
            engine_latency: EngineLatency::default(),
            http_latency: Family::new_with_constructor(latency_histogram),
            rate_limited: Counter::default(),
            log_queued: Gauge::default(),
            log_written: Gauge::default(),
            log_failed: Gauge::default(),
            feature_keys: Gauge::default(),
            policy_version: Gauge::default(),
            registry: Registry::default(),
            events_by_kind: Vec::new(),
            decisions_by_outcome: Vec::new(),
            rule_totals: parking_lot::Mutex::default(),
        };
        registry.register("events", "Events decided, by kind", metrics.events.clone());
        registry.register(
            "decisions",
            "Decisions, by outcome",
            metrics.decisions.clone(),
        );
        registry.register(
            "rule_hits",
            "Rule matches, by rule and mode",
            metrics.rule_hits.clone(),
        );
        registry.register(
            "rule_errors",
            "Rule evaluations that failed",
            metrics.rule_errors.clone(),
        );
        registry.register(
            "engine_latency_seconds",
            "Engine time per event",
            metrics.engine_latency.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request duration",
            metrics.http_latency.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by the rate limiter",
            metrics.rate_limited.clone(),
        );
        registry.register(
            "decision_log_queued",
            "Decisions waiting to be written",
            metrics.log_queued.clone(),
        );
        registry.register(
            "decision_log_written",
            "Decisions written since start",
            metrics.log_written.clone(),
        );
        registry.register(
            "decision_log_failed",
            "Decisions the log gave up on",
            metrics.log_failed.clone(),
        );
        registry.register(
            "feature_keys",
            "Live velocity feature keys",
            metrics.feature_keys.clone(),
        );
        registry.register(
            "policy_version",
            "Live policy version",
            metrics.policy_version.clone(),
        );
        let events_by_kind = EventKind::ALL
            .iter()
            .map(|kind| {
                metrics
                    .events
                    .get_or_create(&KindLabel {
                        kind: kind.as_str().to_owned(),
                    })
                    .clone()
            })
            .collect();
        let decisions_by_outcome = [
            Outcome::Allow,
            Outcome::Challenge,
            Outcome::Review,
            Outcome::Deny,
        ]
        .iter()
        .map(|outcome| {
            metrics
                .decisions
                .get_or_create(&OutcomeLabel {
                    outcome: outcome.as_str().to_owned(),
                })
                .clone()
        })
        .collect();
        Metrics {
            registry,
            events_by_kind,
            decisions_by_outcome,
            ..metrics
        }
    }
}

impl Metrics {
    /// Counts a decision.
    pub fn observe(&self, decision: &Decision, engine_seconds: f64) {
        let mut tally = DecisionTally::default();
        tally.add(decision, engine_seconds);
        self.record(tally);
    }

    /// Adds a request's counts to the shared metrics.
    pub fn record(&self, tally: DecisionTally) {
        for (kind, count) in nonzero(&tally.by_kind) {
            self.events_by_kind[kind].inc_by(count);
        }
        for (outcome, count) in nonzero(&tally.by_outcome) {
            self.decisions_by_outcome[outcome].inc_by(count);
        }
        let latency = &self.engine_latency.0;
        for (bucket, count) in nonzero(&tally.latency) {
            latency.buckets[bucket].fetch_add(count, Relaxed);
        }
        latency.sum_nanos.fetch_add(tally.latency_nanos, Relaxed);
        latency.count.fetch_add(tally.decisions, Relaxed);
        for hit in &tally.hits {
            self.rule_hits.get_or_create(hit).inc();
        }
        if !tally.hits.is_empty() {
            let mut totals = self.rule_totals.lock();
            for hit in &tally.hits {
                let key = (hit.rule.clone(), hit.mode == RuleMode::Shadow);
                *totals.entry(key).or_default() += 1;
            }
        }
        if tally.rule_errors > 0 {
            self.rule_errors.inc_by(tally.rule_errors);
        }
    }

    /// The running totals the console's situation view samples every second: events, by
    /// outcome, challenge results, and matches per (rule, shadow).
    pub fn totals(&self) -> Totals {
        let kind = |kind: EventKind| self.events_by_kind[kind.index()].get();
        Totals {
            events: self.events_by_kind.iter().map(Counter::get).sum(),
            by_outcome: [0, 1, 2, 3].map(|index| self.decisions_by_outcome[index].get()),
            challenges_passed: kind(EventKind::ChallengePassed),
            challenges_failed: kind(EventKind::ChallengeFailed),
            rules: self
                .rule_totals
                .lock()
                .iter()
                .map(|(key, count)| (key.clone(), *count))
                .collect(),
        }
    }

    /// Copies the decision log's counters into their gauges.
    pub fn read_log_stats(&self, stats: &shopguard_storage::decision_log::LogStats) {
        use std::sync::atomic::Ordering::Relaxed;
        self.log_queued.set(stats.queued.load(Relaxed) as i64);
        self.log_written.set(stats.written.load(Relaxed) as i64);
        self.log_failed.set(stats.failed.load(Relaxed) as i64);
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopguard_core::{Engine, Event, EventInput, ListRegistry};

    #[test]
    fn a_tally_lands_in_the_shared_counters_and_buckets() {
        let engine = Engine::new(
            "[policy]\nname = 't'\n[[rules]]\nid = 'all'\nwhen = 'true'\noutcome = 'review'\nreason = 'r'\n",
            1,
            std::sync::Arc::new(ListRegistry::new()),
        )
        .unwrap();
        let event = Event::try_from_input(
            EventInput {
                kind: Some(EventKind::Logout),
                user_id: Some("u".into()),
                ..EventInput::default()
            },
            1_000,
            || "e".into(),
        )
        .unwrap();
        let decision = engine.decide(&event, "d".into());
        let metrics = Metrics::default();
        let mut tally = DecisionTally::default();
        // 0.5 µs, 3 µs (in the 4 µs bucket), 20 s (above every bound).
        for seconds in [0.000_000_5, 0.000_003, 20.0] {
            tally.add(&decision, seconds);
        }
        metrics.record(tally);
        metrics.observe(&decision, 0.000_003);
        let text = metrics.encode();
        for line in [
            "shopguard_events_total{kind=\"logout\"} 4",
            "shopguard_decisions_total{outcome=\"review\"} 4",
            "shopguard_rule_hits_total{rule=\"all\",mode=\"Enforce\"} 4",
            "shopguard_engine_latency_seconds_count 4",
            "shopguard_engine_latency_seconds_bucket{le=\"0.000001\"} 1",
            "shopguard_engine_latency_seconds_bucket{le=\"0.000004\"} 3",
            "shopguard_engine_latency_seconds_bucket{le=\"4.194304\"} 3",
            "shopguard_engine_latency_seconds_bucket{le=\"+Inf\"} 4",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
