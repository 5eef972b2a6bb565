//! Purges of audit content, recorded in the log itself, and their check.
//!
//! A purge removes the salt and content of entries past their class's retention and keeps
//! their leaves. Before it removes anything, the log appends a *purge record*: an entry
//! (class `configuration`, action [`PURGE_ACTION`]) whose detail is a [`PurgeRecord`]
//! naming who purged, when, and the rule per class:
//!
//! ```text
//! entries of class C older than cutoff_ms = record time − days·86,400,000, below below_seq
//! ```
//!
//! `below_seq` is the record's own sequence number, so a purge never reaches an entry
//! appended after it; `previous` is the sequence number of the log's previous purge record,
//! so that removing a purge record's content breaks the chain. Purge records themselves are
//! never purged.
//!
//! [`PurgeCheck`] is the verification, shared by every backend: fed every entry in order, it
//! accepts an entry without content only when a purge record after it has a rule for its
//! class whose cutoff is later than the entry's time, and a rule only when its class has a
//! retention period, its days are at least [`MIN_RETENTION_DAYS`] and its cutoff follows
//! from the record's time.
//!
//! Logs written before purges were recorded (format 1) get one *legacy* record when a build
//! of format 2 first opens them: it lists the entries found purged then ([`PurgeRecord::adopted`]),
//! which verification accepts as they are; it must be the log's first purge record.

use serde::{Deserialize, Serialize};

use crate::audit::{AuditContent, RecordClass};

/// The action of a purge record.
pub const PURGE_ACTION: &str = "audit.purge";
/// The object of a purge record.
pub const PURGE_OBJECT: &str = "audit:purge";
/// The shortest retention a purge may apply (DB33/T 978-2015 §8.4.2: at least a year).
pub const MIN_RETENTION_DAYS: u32 = 365;
/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;
/// The version of [`PurgeRecord`] written now.
pub const PURGE_RECORD_FORMAT: u32 = 1;

/// What every purge record's content JSON holds, as written by `serde_json` (the field
/// order of [`AuditContent`]); a cheap test before decoding a content fully.
pub const PURGE_CONTENT_MARKER: &str = "\"action\":\"audit.purge\"";

/// The rule a purge applied to one class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeRule {
    /// The class purged.
    pub class: RecordClass,
    /// Its retention, in days.
    pub days: u32,
    /// Entries of the class strictly older than this (ms since epoch) were purged.
    pub cutoff_ms: i64,
}

/// The detail of a purge record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeRecord {
    /// The version of this record ([`PURGE_RECORD_FORMAT`]).
    pub format: u32,
    /// Only entries before this sequence number (the record's own) were purged.
    pub below_seq: u64,
    /// The sequence number of the log's previous purge record, if any.
    pub previous: Option<u64>,
    /// The rule of each class purged.
    pub rules: Vec<PurgeRule>,
    /// How many entries lost their content to this purge.
    pub purged: u64,
    /// Whether this is the legacy record of purges made before they were recorded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legacy: bool,
    /// For the legacy record: the entries found purged, as `[first, end)` ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adopted: Vec<[u64; 2]>,
}

/// Why a purge cannot be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PurgeError {
    /// A class kept for good was given a retention period.
    #[error("{} records are kept for good and are never purged", .0.as_str())]
    KeptForGood(RecordClass),
    /// A retention period below the legal minimum.
    #[error("{} records must be kept at least {MIN_RETENTION_DAYS} days, not {days}", .class.as_str())]
    TooShort {
        /// The class.
        class: RecordClass,
        /// The days asked for.
        days: u32,
    },
}

/// What a purge is asked to do: at what time, by whom, with which retention per class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurgeRequest {
    /// The time of the purge (ms since epoch); cutoffs count back from it.
    pub at_ms: i64,
    /// Who purges (`system` for the node's hourly job).
    pub actor: String,
    /// The retention of each class to purge, in days.
    pub retention: Vec<(RecordClass, u32)>,
}

impl PurgeRequest {
    /// The rules, refusing classes kept for good and periods below the minimum.
    pub fn rules(&self) -> Result<Vec<PurgeRule>, PurgeError> {
        self.retention
            .iter()
            .map(|&(class, days)| {
                check_rule(class, days)?;
                Ok(PurgeRule {
                    class,
                    days,
                    cutoff_ms: cutoff(self.at_ms, days),
                })
            })
            .collect()
    }
}

fn check_rule(class: RecordClass, days: u32) -> Result<(), PurgeError> {
    if class.kept_long_term() {
        return Err(PurgeError::KeptForGood(class));
    }
    if days < MIN_RETENTION_DAYS {
        return Err(PurgeError::TooShort { class, days });
    }
    Ok(())
}

fn cutoff(at_ms: i64, days: u32) -> i64 {
    at_ms.saturating_sub(i64::from(days) * DAY_MS)
}

impl PurgeRule {
    /// Whether this rule removes the content of an entry of `class` written at `at_ms`.
    pub fn covers(&self, class: RecordClass, at_ms: i64) -> bool {
        self.class == class && at_ms < self.cutoff_ms
    }
}

impl PurgeRecord {
    /// The content of the entry recording this purge.
    pub fn content(&self, actor: &str) -> AuditContent {
        AuditContent {
            actor: actor.to_owned(),
            action: PURGE_ACTION.to_owned(),
            object: PURGE_OBJECT.to_owned(),
            detail: serde_json::to_value(self).unwrap_or(serde_json::Value::Null),
        }
    }

    /// The record class of purge records.
    pub const CLASS: RecordClass = RecordClass::Configuration;
}

/// Whether an entry's content JSON is a purge record's (never purged, and read by
/// verification). A cheap byte test first: almost every entry is not one.
pub fn is_purge_content(json: &[u8]) -> bool {
    decode_purge(json).is_some()
}

/// The purge record in an entry's content JSON: `None` when it is not a purge record,
/// `Some(Err)` when it claims to be one but cannot be read.
pub fn decode_purge(json: &[u8]) -> Option<Result<PurgeRecord, String>> {
    let text = std::str::from_utf8(json).ok()?;
    if !text.contains(PURGE_CONTENT_MARKER) {
        return None;
    }
    let content: AuditContent = serde_json::from_str(text).ok()?;
    if content.action != PURGE_ACTION {
        return None;
    }
    Some(serde_json::from_value(content.detail).map_err(|error| error.to_string()))
}

/// Verification of purges, fed every entry in sequence order (see the module docs).
#[derive(Debug, Default)]
pub struct PurgeCheck {
    /// The last purge record seen.
    last_record: Option<u64>,
    /// Purged entries no record has accepted yet, by class code: `(seq, at_ms)`.
    pending: Vec<Vec<(u64, i64)>>,
    /// Entries accepted from a legacy record.
    adopted: u64,
}

/// A problem found by [`PurgeCheck`]: the entry concerned and what is wrong.
pub type PurgeProblem = (u64, String);

impl PurgeCheck {
    /// A check before the first entry.
    pub fn new() -> PurgeCheck {
        PurgeCheck::default()
    }

    /// An entry that still has its content (`json`).
    pub fn content(
        &mut self,
        seq: u64,
        at_ms: i64,
        json: &[u8],
        problems: &mut dyn FnMut(u64, String),
    ) {
        match decode_purge(json) {
            None => {}
            Some(Err(reason)) => problems(
                seq,
                format!("entry {seq} is a purge record that cannot be read: {reason}"),
            ),
            Some(Ok(record)) => self.record(seq, at_ms, &record, problems),
        }
    }

    /// An entry whose salt and content are gone.
    pub fn purged(
        &mut self,
        seq: u64,
        at_ms: i64,
        class: RecordClass,
        problems: &mut dyn FnMut(u64, String),
    ) {
        if class.kept_long_term() {
            problems(
                seq,
                format!(
                    "entry {seq} of class {} has no content, but that class is kept for good: a forged purge",
                    class.as_str()
                ),
            );
            return;
        }
        let code = usize::from(class.code());
        if self.pending.len() <= code {
            self.pending.resize_with(code + 1, Vec::new);
        }
        self.pending[code].push((seq, at_ms));
    }

    fn record(
        &mut self,
        seq: u64,
        at_ms: i64,
        record: &PurgeRecord,
        problems: &mut dyn FnMut(u64, String),
    ) {
        if record.below_seq != seq {
            problems(
                seq,
                format!(
                    "purge record {seq} reaches entries below {}, not below itself: forged",
                    record.below_seq
                ),
            );
        }
        if record.previous != self.last_record {
            let found = self
                .last_record
                .map_or_else(|| "none".to_owned(), |last| last.to_string());
            let named = record
                .previous
                .map_or_else(|| "none".to_owned(), |previous| previous.to_string());
            problems(
                seq,
                format!(
                    "purge record {seq} names {named} as the previous purge record, but the previous one in the log is {found}: a purge record was removed or forged"
                ),
            );
        }
        if record.legacy {
            if self.last_record.is_some() {
                problems(
                    seq,
                    format!("purge record {seq} accepts earlier purges, but only a log's first purge record may: forged"),
                );
            } else {
                for pending in &mut self.pending {
                    pending.retain(|(purged, _)| {
                        let listed = record
                            .adopted
                            .iter()
                            .any(|[first, end]| (*first..*end).contains(purged));
                        if listed {
                            self.adopted += 1;
                        }
                        !listed
                    });
                }
            }
        }
        for rule in &record.rules {
            if let Err(error) = check_rule(rule.class, rule.days) {
                problems(seq, format!("purge record {seq}: {error}"));
                continue;
            }
            if rule.cutoff_ms != cutoff(at_ms, rule.days) {
                problems(
                    seq,
                    format!(
                        "purge record {seq}: its cutoff for {} records ({}) is not {} days before its own time",
                        rule.class.as_str(),
                        rule.cutoff_ms,
                        rule.days
                    ),
                );
                continue;
            }
            if let Some(pending) = self.pending.get_mut(usize::from(rule.class.code())) {
                pending.retain(|&(_, purged_at)| !rule.covers(rule.class, purged_at));
            }
        }
        self.last_record = Some(seq);
    }

    /// After the last entry: reports the first purged entry no purge record accepted.
    /// Returns how many purged entries a legacy record accepted.
    pub fn finish(self, problems: &mut dyn FnMut(u64, String)) -> u64 {
        let first = self
            .pending
            .iter()
            .enumerate()
            .filter_map(|(code, pending)| pending.first().map(|&(seq, at)| (seq, at, code)))
            .min();
        if let Some((seq, at_ms, code)) = first {
            let class = u8::try_from(code)
                .ok()
                .and_then(RecordClass::from_code)
                .map_or("unknown", RecordClass::as_str);
            problems(
                seq,
                format!(
                    "entry {seq} ({class}, written at {at_ms}) has no content, but no purge record after it covers it: a forged purge"
                ),
            );
        }
        self.adopted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YEAR: i64 = 365 * DAY_MS;

    fn request(at_ms: i64, retention: Vec<(RecordClass, u32)>) -> PurgeRequest {
        PurgeRequest {
            at_ms,
            actor: "system".into(),
            retention,
        }
    }

    fn record(seq: u64, previous: Option<u64>, rules: Vec<PurgeRule>) -> Vec<u8> {
        let record = PurgeRecord {
            format: PURGE_RECORD_FORMAT,
            below_seq: seq,
            previous,
            rules,
            purged: 1,
            legacy: false,
            adopted: Vec::new(),
        };
        serde_json::to_vec(&record.content("system")).unwrap()
    }

    fn problems_of(run: impl FnOnce(&mut PurgeCheck, &mut dyn FnMut(u64, String))) -> Vec<u64> {
        let mut found = Vec::new();
        let mut check = PurgeCheck::new();
        let mut note = |seq: u64, _: String| found.push(seq);
        run(&mut check, &mut note);
        check.finish(&mut note);
        found
    }

    #[test]
    fn requests_refuse_classes_kept_for_good_and_short_periods() {
        assert_eq!(
            request(0, vec![(RecordClass::Login, 400)]).rules(),
            Err(PurgeError::KeptForGood(RecordClass::Login))
        );
        assert!(matches!(
            request(0, vec![(RecordClass::Other, 364)]).rules(),
            Err(PurgeError::TooShort { days: 364, .. })
        ));
        let rules = request(2 * YEAR, vec![(RecordClass::Other, 365)])
            .rules()
            .unwrap();
        assert_eq!(rules[0].cutoff_ms, YEAR);
    }

    #[test]
    fn a_purged_entry_needs_a_later_record_whose_rule_covers_it() {
        let rules = request(2 * YEAR, vec![(RecordClass::Other, 365)])
            .rules()
            .unwrap();
        let json = record(5, None, rules);
        assert!(is_purge_content(&json));
        // Old enough: accepted.
        let found = problems_of(|check, note| {
            check.purged(1, YEAR - 1, RecordClass::Other, note);
            check.content(5, 2 * YEAR, &json, note);
        });
        assert!(found.is_empty(), "{found:?}");
        // Too young, another class, no record, or a record before it: refused.
        for (at, class) in [(YEAR, RecordClass::Other), (0, RecordClass::Sanction)] {
            let found = problems_of(|check, note| {
                check.purged(1, at, class, note);
                check.content(5, 2 * YEAR, &json, note);
            });
            assert_eq!(found, vec![1]);
        }
        let found = problems_of(|check, note| check.purged(1, 0, RecordClass::Other, note));
        assert_eq!(found, vec![1]);
        let found = problems_of(|check, note| check.purged(1, 0, RecordClass::Login, note));
        assert_eq!(found, vec![1]);
    }

    #[test]
    fn forged_rules_and_a_broken_chain_are_named() {
        let forged = |rule: PurgeRule| record(5, None, vec![rule]);
        let short = forged(PurgeRule {
            class: RecordClass::Other,
            days: 1,
            cutoff_ms: 2 * YEAR - DAY_MS,
        });
        let login = forged(PurgeRule {
            class: RecordClass::Login,
            days: 400,
            cutoff_ms: 2 * YEAR - 400 * DAY_MS,
        });
        let shifted = forged(PurgeRule {
            class: RecordClass::Other,
            days: 365,
            cutoff_ms: 2 * YEAR,
        });
        for json in [short, login, shifted] {
            let found = problems_of(|check, note| check.content(5, 2 * YEAR, &json, note));
            assert_eq!(found, vec![5]);
        }
        // The second record names a first that the log no longer holds.
        let second = record(9, Some(5), Vec::new());
        let found = problems_of(|check, note| check.content(9, 2 * YEAR, &second, note));
        assert_eq!(found, vec![9]);
        // A record reaching beyond itself.
        let beyond = record(12, None, Vec::new());
        let found = problems_of(|check, note| check.content(9, 2 * YEAR, &beyond, note));
        assert_eq!(found, vec![9]);
    }

    #[test]
    fn a_legacy_record_accepts_what_it_lists_only_as_the_first_record() {
        let legacy = PurgeRecord {
            format: PURGE_RECORD_FORMAT,
            below_seq: 10,
            previous: None,
            rules: Vec::new(),
            purged: 0,
            legacy: true,
            adopted: vec![[2, 4]],
        };
        let json = serde_json::to_vec(&legacy.content("system")).unwrap();
        let mut check = PurgeCheck::new();
        let mut found = Vec::new();
        let mut note = |seq: u64, _: String| found.push(seq);
        check.purged(2, 0, RecordClass::Other, &mut note);
        check.purged(3, 0, RecordClass::Other, &mut note);
        check.purged(4, 0, RecordClass::Other, &mut note);
        check.content(10, 0, &json, &mut note);
        assert_eq!(check.finish(&mut note), 2);
        assert_eq!(found, vec![4]);
    }

    #[test]
    fn other_contents_are_not_purge_records() {
        let content = AuditContent {
            actor: "\"action\":\"audit.purge\"".into(),
            action: "list.entry.add".into(),
            object: "list:x".into(),
            detail: serde_json::Value::Null,
        };
        assert!(!is_purge_content(&serde_json::to_vec(&content).unwrap()));
        assert!(!is_purge_content(b"\xff"));
    }
}
