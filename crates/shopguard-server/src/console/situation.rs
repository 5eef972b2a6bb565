//! What the situation page shows: every second the recorder reads the node's running
//! totals ([`Metrics::totals`]) and keeps the differences, per second for the last 15
//! minutes and per minute for the last 30 days, with the rules that matched per minute.
//!
//! The event path pays nothing for an open page: the counters are the ones `/metrics`
//! already keeps (plus one map of rule matches, touched only by requests whose rules
//! matched); the page and its stream read this recorder, never the decision log.
//!
//! History across restarts and nodes (decision 0047): each minute, once over, is stored
//! through the situation service, and every 30 seconds the recorder reads back every node's
//! stored minutes (the top rules of the week and month ranges every 5 minutes). Ranges
//! longer than 15 minutes show those, plus this node's minutes newer than the last read.
//! The 15-minute range is this node's, per second, live.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use shopguard_app::{Actor, App, Principal};
use shopguard_storage::{Scope, SituationMinute};

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

/// Every node's stored minutes, as last read, with the top rules of each longer range.
#[derive(Debug, Default)]
struct History {
    /// Minutes before this one were read (exclusive end of the read).
    upto_minute: i64,
    /// The minutes read, summed over nodes, oldest first.
    minutes: Vec<SituationMinute>,
    /// The top rules of each range longer than 15 minutes, by range, with when they were read.
    top_rules: HashMap<u32, (i64, Vec<RuleCount>)>,
}

/// The recorder: series of counts, filled every second.
#[derive(Debug, Default)]
pub struct Situation {
    series: Mutex<Series>,
    history: Mutex<Option<History>>,
}

impl Counts {
    fn of_stored(minute: &SituationMinute) -> Counts {
        let count = |value: i64| u64::try_from(value).unwrap_or(0);
        Counts {
            events: count(minute.events),
            allow: count(minute.allow),
            challenge: count(minute.challenge),
            review: count(minute.review),
            deny: count(minute.deny),
            passed: count(minute.passed),
            failed: count(minute.failed),
        }
    }
}

impl Minute {
    fn to_stored(&self) -> SituationMinute {
        let count = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        SituationMinute {
            minute: self.minute,
            events: count(self.counts.events),
            allow: count(self.counts.allow),
            challenge: count(self.counts.challenge),
            review: count(self.counts.review),
            deny: count(self.counts.deny),
            passed: count(self.counts.passed),
            failed: count(self.counts.failed),
            rules: self
                .rules
                .iter()
                .map(|((rule, shadow), matches)| (rule.clone(), *shadow, count(*matches)))
                .collect(),
        }
    }
}

impl Situation {
    /// Records the running totals read at `now_ms`: the difference from the previous read is
    /// the second that just ended. Answers the minute that this second ended, if any, to be
    /// stored.
    pub fn record(&self, now_ms: i64, totals: Totals) -> Option<SituationMinute> {
        let second = now_ms.div_euclid(1_000);
        let minute = now_ms.div_euclid(60_000);
        let mut series = self.series.lock();
        let Some(last) = series.last.replace(totals) else {
            series.since_ms = now_ms;
            return None;
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
        let mut ended = None;
        if series
            .minutes
            .back()
            .is_none_or(|held| held.minute != minute)
        {
            ended = series.minutes.back().map(Minute::to_stored);
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
        ended
    }

    /// Takes in every node's stored minutes read up to `upto_minute` (exclusive), and the top
    /// rules of the ranges read with them (read at `now_ms`).
    fn store_history(
        &self,
        upto_minute: i64,
        minutes: Vec<SituationMinute>,
        top_rules: Vec<(u32, Vec<RuleCount>)>,
        now_ms: i64,
    ) {
        let mut history = self.history.lock();
        let history = history.get_or_insert_with(History::default);
        history.upto_minute = upto_minute;
        history.minutes = minutes;
        for (range, rules) in top_rules {
            history.top_rules.insert(range, (now_ms, rules));
        }
    }

    /// The longer ranges whose top rules are due to be read again at `now_ms`: those up to a
    /// day every 30 seconds, the week and the month every 5 minutes.
    fn rules_due(&self, now_ms: i64) -> Vec<u32> {
        let history = self.history.lock();
        RANGES_STORED
            .iter()
            .copied()
            .filter(|range| {
                let every = if *range <= 1_440 { 30_000 } else { 300_000 };
                history
                    .as_ref()
                    .and_then(|history| history.top_rules.get(range))
                    .is_none_or(|(read_at, _)| now_ms - read_at >= every)
            })
            .collect()
    }

    /// The situation over the last `range_minutes` (15 to 43,200) before `now_ms`.
    pub fn summary(&self, range_minutes: u32, now_ms: i64) -> Summary {
        let range_minutes = range_minutes.clamp(15, 43_200);
        if range_minutes > 15 {
            if let Some(summary) = self.summary_with_history(range_minutes, now_ms) {
                return summary;
            }
        }
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

impl Situation {
    /// A longer range from every node's stored minutes (as last read) and this node's
    /// minutes since; `None` before the first read.
    fn summary_with_history(&self, range_minutes: u32, now_ms: i64) -> Option<Summary> {
        let history = self.history.lock();
        let history = history.as_ref()?;
        let series = self.series.lock();
        let from_minute = now_ms.div_euclid(60_000) - i64::from(range_minutes) + 1;
        let mut by_minute: std::collections::BTreeMap<i64, Counts> = history
            .minutes
            .iter()
            .filter(|stored| stored.minute >= from_minute)
            .map(|stored| (stored.minute, Counts::of_stored(stored)))
            .collect();
        let mut rules: HashMap<(String, bool), u64> = history
            .top_rules
            .get(&range_minutes)
            .map(|(_, rules)| {
                rules
                    .iter()
                    .map(|rule| ((rule.rule.clone(), rule.shadow), rule.count))
                    .collect()
            })
            .unwrap_or_default();
        // This node's minutes not yet in what was read (the current one, at least).
        for held in series
            .minutes
            .iter()
            .filter(|held| held.minute >= from_minute.max(history.upto_minute))
        {
            by_minute.entry(held.minute).or_default().add(&held.counts);
            for (key, count) in &held.rules {
                *rules.entry(key.clone()).or_default() += count;
            }
        }
        let mut totals = Counts::default();
        for counts in by_minute.values() {
            totals.add(counts);
        }
        let mut top_rules: Vec<RuleCount> = rules
            .into_iter()
            .map(|((rule, shadow), count)| RuleCount {
                rule,
                shadow,
                count,
            })
            .collect();
        top_rules.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.rule.cmp(&b.rule)));
        top_rules.truncate(10);
        let stored_since = history.minutes.first().map(|stored| stored.minute * 60_000);
        Some(Summary {
            range_minutes,
            events_per_second: series.seconds.back().map_or(0, |(_, counts)| counts.events),
            totals,
            series: by_minute.values().map(|counts| counts.events).collect(),
            deny_series: by_minute.values().map(|counts| counts.deny).collect(),
            top_rules,
            since_ms: stored_since.map_or(series.since_ms, |stored| stored.min(series.since_ms)),
        })
    }
}

/// The ranges drawn from the stored history (those longer than 15 minutes).
const RANGES_STORED: [u32; 5] = [60, 360, 1_440, 10_080, 43_200];

/// How often every node's stored minutes are read again.
const HISTORY_READ_EVERY: Duration = Duration::from_secs(30);

/// Stores a minute that ended and, when due, reads every node's history back.
fn sync_history(
    app: &App,
    situation: &Situation,
    ended: Option<SituationMinute>,
    read: bool,
    now_ms: i64,
) {
    if let Some(minute) = ended {
        if let Err(error) = app.situation.record_minute(&minute) {
            tracing::warn!(%error, minute = minute.minute, "could not store a minute of the situation");
        }
    }
    if !read {
        return;
    }
    let system = Principal::new(Actor::System, vec![Scope::DecisionsRead]);
    let upto_minute = now_ms.div_euclid(60_000);
    let month = upto_minute - 43_200;
    let minutes = match app.situation.history(month, upto_minute, &system) {
        Ok(history) => history.minutes,
        Err(error) => {
            tracing::warn!(%error, "could not read the situation's history");
            return;
        }
    };
    let mut top_rules = Vec::new();
    for range in situation.rules_due(now_ms) {
        let from_minute = upto_minute - i64::from(range) + 1;
        match app.situation.history(from_minute, upto_minute, &system) {
            Ok(history) => top_rules.push((
                range,
                history
                    .top_rules
                    .into_iter()
                    .map(|rule| RuleCount {
                        rule: rule.rule_id,
                        shadow: rule.shadow,
                        count: u64::try_from(rule.matches).unwrap_or(0),
                    })
                    .collect(),
            )),
            Err(error) => tracing::warn!(%error, "could not read the situation's top rules"),
        }
    }
    situation.store_history(upto_minute, minutes, top_rules, now_ms);
}

/// Reads `metrics` into `situation` every second, storing each minute once over and reading
/// every node's history back every 30 seconds, until `stopping` turns true; the write or read
/// under way then finishes first, so that nothing holds the services after the stop.
pub async fn run_recorder(
    situation: Arc<Situation>,
    metrics: Arc<Metrics>,
    app: Arc<App>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_read: Option<std::time::Instant> = None;
    loop {
        if *stopping.borrow() {
            return;
        }
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopping.changed() => return,
        }
        let now = crate::state::now_ms();
        let ended = situation.record(now, metrics.totals());
        let read = ended.is_some() || last_read.is_none_or(|at| at.elapsed() >= HISTORY_READ_EVERY);
        if !read {
            continue;
        }
        last_read = Some(std::time::Instant::now());
        let (app, situation) = (app.clone(), situation.clone());
        // Storage is synchronous: off the runtime's threads, and awaited so that reads never
        // pile up behind a slow database.
        let _ = tokio::task::spawn_blocking(move || {
            sync_history(&app, &situation, ended, read, now);
        })
        .await;
    }
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

    #[test]
    fn a_minute_once_over_is_handed_out_to_be_stored() {
        let situation = Situation::default();
        let start = 1_800_000_000_000; // a minute's start (a multiple of 60,000)
        assert!(situation.record(start, totals(0, 0, 0)).is_none());
        assert!(situation.record(start + 1_000, totals(10, 1, 2)).is_none());
        assert!(situation.record(start + 2_000, totals(15, 1, 2)).is_none());
        let ended = situation.record(start + 60_000, totals(16, 1, 2)).unwrap();
        assert_eq!(ended.minute, start / 60_000);
        assert_eq!((ended.events, ended.deny, ended.allow), (15, 1, 14));
        assert_eq!(ended.rules, vec![("r1".to_owned(), false, 2)]);
        assert!(situation.record(start + 61_000, totals(17, 1, 2)).is_none());
    }

    #[test]
    fn longer_ranges_add_every_node_s_stored_minutes_to_this_node_s_newer_ones() {
        let situation = Situation::default();
        let minute = 30_000_000; // minutes since the epoch
        let at = |minute: i64, second: i64| minute * 60_000 + second * 1_000;
        situation.record(at(minute, 0), totals(0, 0, 0));
        situation.record(at(minute, 30), totals(10, 2, 1)); // this node, minute 0
        situation.record(at(minute + 1, 30), totals(14, 2, 1)); // this node, minute 1
                                                                // Read back at minute 1: every node's minute 0 (this node's 10 and another's 100),
                                                                // and an hour ago (another node, before this one started).
        let stored = |minute: i64, events: i64, deny: i64| SituationMinute {
            minute,
            events,
            allow: events - deny,
            deny,
            ..SituationMinute::default()
        };
        situation.store_history(
            minute + 1,
            vec![stored(minute - 50, 1_000, 10), stored(minute, 110, 12)],
            vec![(
                60,
                vec![RuleCount {
                    rule: "r9".into(),
                    shadow: false,
                    count: 7,
                }],
            )],
            at(minute + 1, 30),
        );
        let hour = situation.summary(60, at(minute + 1, 31));
        assert_eq!(
            hour.totals.events,
            1_000 + 110 + 4,
            "this node's minute 0 counted once"
        );
        assert_eq!(hour.totals.deny, 10 + 12);
        assert_eq!(hour.series, vec![1_000, 110, 4]);
        assert_eq!(hour.top_rules[0].rule, "r9");
        assert_eq!(
            hour.since_ms,
            at(minute - 50, 0),
            "history goes back past this node's start"
        );
        // The 15-minute range stays this node's own, per second.
        assert_eq!(situation.summary(15, at(minute + 1, 31)).totals.events, 14);
        // Only the ranges read: the day's top rules are due, the hour's are not yet.
        let due = situation.rules_due(at(minute + 1, 40));
        assert!(due.contains(&1_440) && !due.contains(&60), "{due:?}");
    }
}
