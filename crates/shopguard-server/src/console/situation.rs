//! What the situation page shows: every second the recorder reads the node's running
//! totals ([`Metrics::totals`]) and keeps the differences, per second for the last 15
//! minutes and per minute for the last 30 days, with the rules that matched per minute.
//!
//! The event path pays nothing for an open page: the counters are the ones `/metrics`
//! already keeps (plus one map of rule matches, touched only by requests whose rules
//! matched); the page and its stream read this recorder, never the decision log. The series
//! are this node's, since it started (decision 0039 says what is left for history across
//! restarts and nodes).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use crate::metrics::{Metrics, Totals};

/// Seconds kept at one-second resolution.
const SECONDS_KEPT: usize = 15 * 60;
/// Minutes kept at one-minute resolution.
const MINUTES_KEPT: usize = 30 * 24 * 60;

/// Counts over an interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Events decided.
    pub events: u64,
    /// Decisions that allowed.
    pub allow: u64,
    /// Decisions that challenged.
    pub challenge: u64,
    /// Decisions sent to review.
    pub review: u64,
    /// Decisions that denied.
    pub deny: u64,
    /// Challenges reported passed.
    pub passed: u64,
    /// Challenges reported failed.
    pub failed: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.events += other.events;
        self.allow += other.allow;
        self.challenge += other.challenge;
        self.review += other.review;
        self.deny += other.deny;
        self.passed += other.passed;
        self.failed += other.failed;
    }

    fn between(earlier: &Totals, later: &Totals) -> Counts {
        let outcome =
            |index: usize| later.by_outcome[index].saturating_sub(earlier.by_outcome[index]);
        Counts {
            events: later.events.saturating_sub(earlier.events),
            allow: outcome(0),
            challenge: outcome(1),
            review: outcome(2),
            deny: outcome(3),
            passed: later
                .challenges_passed
                .saturating_sub(earlier.challenges_passed),
            failed: later
                .challenges_failed
                .saturating_sub(earlier.challenges_failed),
        }
    }
}

/// One rule's matches in a range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleCount {
    /// The rule's id.
    pub rule: String,
    /// Whether it is a shadow rule (recorded, not acted on).
    pub shadow: bool,
    /// Matches.
    pub count: u64,
}

/// The situation over a range, as the page and its stream show it.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// The range, in minutes.
    pub range_minutes: u32,
    /// Events in the last complete second.
    pub events_per_second: u64,
    /// Counts over the range.
    pub totals: Counts,
    /// Events per step over the range (seconds for 15 minutes, else minutes), oldest first.
    pub series: Vec<u64>,
    /// Denials per step, aligned with `series`.
    pub deny_series: Vec<u64>,
    /// The ten rules that matched most in the range.
    pub top_rules: Vec<RuleCount>,
    /// When the recorder started (ms since the epoch): nothing older is known.
    pub since_ms: i64,
}

#[derive(Debug, Default)]
struct Minute {
    minute: i64,
    counts: Counts,
    rules: HashMap<(String, bool), u64>,
}

#[derive(Debug, Default)]
struct Series {
    last: Option<Totals>,
    seconds: VecDeque<(i64, Counts)>,
    minutes: VecDeque<Minute>,
    since_ms: i64,
}

/// The recorder: series of counts, filled every second.
#[derive(Debug, Default)]
pub struct Situation {
    series: Mutex<Series>,
}

impl Situation {
    /// Records the running totals read at `now_ms`: the difference from the previous read is
    /// the second that just ended.
    pub fn record(&self, now_ms: i64, totals: Totals) {
        let second = now_ms.div_euclid(1_000);
        let minute = now_ms.div_euclid(60_000);
        let mut series = self.series.lock();
        let Some(last) = series.last.replace(totals) else {
            series.since_ms = now_ms;
            return;
        };
        let current = series.last.as_ref().map(|now| Counts::between(&last, now));
        let current = current.unwrap_or_default();
        let rules: Vec<((String, bool), u64)> = {
            let before: HashMap<&(String, bool), u64> = last
                .rules
                .iter()
                .map(|(key, count)| (key, *count))
                .collect();
            series
                .last
                .as_ref()
                .map(|now| {
                    now.rules
                        .iter()
                        .filter_map(|(key, count)| {
                            let grown = count.saturating_sub(*before.get(key).unwrap_or(&0));
                            (grown > 0).then(|| (key.clone(), grown))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        series.seconds.push_back((second, current));
        while series.seconds.len() > SECONDS_KEPT {
            series.seconds.pop_front();
        }
        if series
            .minutes
            .back()
            .is_none_or(|held| held.minute != minute)
        {
            series.minutes.push_back(Minute {
                minute,
                ..Minute::default()
            });
            while series.minutes.len() > MINUTES_KEPT {
                series.minutes.pop_front();
            }
        }
        if let Some(held) = series.minutes.back_mut() {
            held.counts.add(&current);
            for (key, grown) in rules {
                *held.rules.entry(key).or_default() += grown;
            }
        }
    }

    /// The situation over the last `range_minutes` (15 to 43,200) before `now_ms`.
    pub fn summary(&self, range_minutes: u32, now_ms: i64) -> Summary {
        let range_minutes = range_minutes.clamp(15, 43_200);
        let series = self.series.lock();
        let from_second = now_ms.div_euclid(1_000) - i64::from(range_minutes) * 60;
        let from_minute = now_ms.div_euclid(60_000) - i64::from(range_minutes) + 1;
        let mut totals = Counts::default();
        let mut rules: HashMap<&(String, bool), u64> = HashMap::new();
        let minutes = series
            .minutes
            .iter()
            .filter(|held| held.minute >= from_minute);
        for held in minutes.clone() {
            totals.add(&held.counts);
            for (key, count) in &held.rules {
                *rules.entry(key).or_default() += count;
            }
        }
        let (series_values, deny_series) = if range_minutes <= 15 {
            let seconds = series
                .seconds
                .iter()
                .filter(|(second, _)| *second > from_second);
            (
                seconds.clone().map(|(_, counts)| counts.events).collect(),
                seconds.map(|(_, counts)| counts.deny).collect(),
            )
        } else {
            (
                minutes.clone().map(|held| held.counts.events).collect(),
                minutes.map(|held| held.counts.deny).collect(),
            )
        };
        let mut top_rules: Vec<RuleCount> = rules
            .into_iter()
            .map(|((rule, shadow), count)| RuleCount {
                rule: rule.clone(),
                shadow: *shadow,
                count,
            })
            .collect();
        top_rules.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.rule.cmp(&b.rule)));
        top_rules.truncate(10);
        Summary {
            range_minutes,
            events_per_second: series.seconds.back().map_or(0, |(_, counts)| counts.events),
            totals,
            series: series_values,
            deny_series,
            top_rules,
            since_ms: series.since_ms,
        }
    }
}

/// Starts reading `metrics` into `situation` every second, on the current Tokio runtime
/// (none in some unit tests: then nothing is recorded).
pub fn start_recorder(situation: Arc<Situation>, metrics: Arc<Metrics>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            situation.record(crate::state::now_ms(), metrics.totals());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(events: u64, deny: u64, rule_hits: u64) -> Totals {
        Totals {
            events,
            by_outcome: [events - deny, 0, 0, deny],
            challenges_passed: 0,
            challenges_failed: 0,
            rules: vec![(("r1".into(), false), rule_hits)],
        }
    }

    #[test]
    fn differences_of_running_totals_become_seconds_and_minutes() {
        let situation = Situation::default();
        let start = 1_800_000_000_000;
        situation.record(start, totals(100, 10, 5));
        situation.record(start + 1_000, totals(150, 12, 6));
        situation.record(start + 2_000, totals(180, 20, 9));
        let summary = situation.summary(15, start + 2_000);
        assert_eq!(summary.events_per_second, 30);
        assert_eq!(summary.totals.events, 80);
        assert_eq!(summary.totals.deny, 10);
        assert_eq!(summary.series, vec![50, 30]);
        assert_eq!(summary.deny_series, vec![2, 8]);
        assert_eq!(
            summary.top_rules,
            vec![RuleCount {
                rule: "r1".into(),
                shadow: false,
                count: 4
            }]
        );
        // An hour later, the 15-minute range holds nothing; the day still holds it all.
        assert_eq!(situation.summary(15, start + 3_600_000).totals.events, 0);
        assert_eq!(
            situation.summary(1_440, start + 3_600_000).totals.events,
            80
        );
    }
}
