//! Prometheus metrics, served at `/metrics` in the text exposition format.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
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
    pub engine_latency: Histogram,
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
            engine_latency: latency_histogram(),
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
        self.events_by_kind[decision.kind.index()].inc();
        self.decisions_by_outcome[decision.outcome as usize].inc();
        for rule in &decision.matched {
            self.rule_hits
                .get_or_create(&RuleLabel {
                    rule: rule.rule_id.clone(),
                    mode: RuleMode::Enforce,
                })
                .inc();
        }
        for rule in &decision.shadow_matched {
            self.rule_hits
                .get_or_create(&RuleLabel {
                    rule: rule.rule_id.clone(),
                    mode: RuleMode::Shadow,
                })
                .inc();
        }
        if !decision.errors.is_empty() {
            self.rule_errors.inc_by(decision.errors.len() as u64);
        }
        self.engine_latency.observe(engine_seconds);
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
