//! Replaying logged traffic through an edited policy: the comparison, kept pure.
//!
//! A replay decides the same events twice, once with the live policy and once with the edited
//! one, each in a fresh engine over the same copy of the lists (decision 0045), and feeds
//! both answers here. [`ReplayTally`] counts outcomes on each side, the hits of every rule on
//! each side, and the decisions whose outcome changes, naming for each the rules that started
//! or stopped matching. Comparing two fresh replays, rather than the edited replay with what
//! was logged, keeps warm-up out of the answer: velocity counts start empty in both, so only
//! the policy differs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::decision::{Decision, Outcome};

/// Changed decisions a report lists one by one; the rest are counted.
pub const CHANGES_SHOWN: usize = 200;

/// How often one rule matched on each side of a replay.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleReplay {
    /// The rule.
    pub rule_id: String,
    /// Enforced matches under the live policy.
    pub live_hits: u64,
    /// Enforced matches under the edited policy.
    pub edited_hits: u64,
    /// Shadow matches under the live policy.
    pub live_shadow_hits: u64,
    /// Shadow matches under the edited policy.
    pub edited_shadow_hits: u64,
    /// Decisions whose outcome changed and where this rule started matching (enforced).
    pub changes_started: u64,
    /// Decisions whose outcome changed and where this rule stopped matching (enforced).
    pub changes_stopped: u64,
}

/// One decision whose outcome the edit changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayChange {
    /// The logged decision's id.
    pub decision_id: String,
    /// When the event happened (ms since epoch).
    pub occurred_at_ms: i64,
    /// The event's kind.
    pub kind: String,
    /// The acting user.
    pub user_id: String,
    /// What the log says was answered then.
    pub logged: Outcome,
    /// The live policy's answer in the replay.
    pub live: Outcome,
    /// The edited policy's answer in the replay.
    pub edited: Outcome,
    /// Enforced rules that match under the edit and did not before.
    pub rules_started: Vec<String>,
    /// Enforced rules that matched before and do not under the edit.
    pub rules_stopped: Vec<String>,
}

/// Outcome counts of one side.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutcomeCounts {
    /// Allowed.
    pub allow: u64,
    /// Challenged.
    pub challenge: u64,
    /// Sent to review.
    pub review: u64,
    /// Denied.
    pub deny: u64,
}

impl OutcomeCounts {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Allow => self.allow += 1,
            Outcome::Challenge => self.challenge += 1,
            Outcome::Review => self.review += 1,
            Outcome::Deny => self.deny += 1,
        }
    }
}

/// What a replay found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplaySummary {
    /// Events replayed.
    pub events: u64,
    /// Outcomes under the live policy.
    pub live: OutcomeCounts,
    /// Outcomes under the edited policy.
    pub edited: OutcomeCounts,
    /// Decisions whose outcome changes.
    pub changed: u64,
    /// Decisions whose outcome the edit makes stricter (allow → challenge → review → deny).
    pub stricter: u64,
    /// Decisions whose outcome the edit makes more lenient.
    pub more_lenient: u64,
    /// Every rule that matched on either side, those behind changes first, then by name.
    pub rules: Vec<RuleReplay>,
    /// The first [`CHANGES_SHOWN`] changed decisions, oldest first.
    pub changes: Vec<ReplayChange>,
}

/// How strict an outcome is, for "stricter" and "more lenient".
fn strictness(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Allow => 0,
        Outcome::Challenge => 1,
        Outcome::Review => 2,
        Outcome::Deny => 3,
    }
}

/// Counts a replay as its decisions come (oldest first).
#[derive(Debug, Default)]
pub struct ReplayTally {
    summary: ReplaySummary,
    rules: BTreeMap<String, RuleReplay>,
}

impl ReplayTally {
    /// An empty tally.
    pub fn new() -> ReplayTally {
        ReplayTally::default()
    }

    fn rule(&mut self, rule_id: &str) -> &mut RuleReplay {
        self.rules
            .entry(rule_id.to_owned())
            .or_insert_with(|| RuleReplay {
                rule_id: rule_id.to_owned(),
                ..RuleReplay::default()
            })
    }

    /// Records one event: the logged answer and both replayed ones.
    pub fn record(&mut self, logged: &Decision, live: &Decision, edited: &Decision) {
        self.summary.events += 1;
        self.summary.live.add(live.outcome);
        self.summary.edited.add(edited.outcome);
        for matched in &live.matched {
            self.rule(&matched.rule_id).live_hits += 1;
        }
        for matched in &edited.matched {
            self.rule(&matched.rule_id).edited_hits += 1;
        }
        for matched in &live.shadow_matched {
            self.rule(&matched.rule_id).live_shadow_hits += 1;
        }
        for matched in &edited.shadow_matched {
            self.rule(&matched.rule_id).edited_shadow_hits += 1;
        }
        if live.outcome == edited.outcome {
            return;
        }
        self.summary.changed += 1;
        if strictness(edited.outcome) > strictness(live.outcome) {
            self.summary.stricter += 1;
        } else {
            self.summary.more_lenient += 1;
        }
        let matched_in = |decision: &Decision, rule_id: &str| {
            decision.matched.iter().any(|rule| rule.rule_id == rule_id)
        };
        let started: Vec<String> = edited
            .matched
            .iter()
            .filter(|rule| !matched_in(live, &rule.rule_id))
            .map(|rule| rule.rule_id.clone())
            .collect();
        let stopped: Vec<String> = live
            .matched
            .iter()
            .filter(|rule| !matched_in(edited, &rule.rule_id))
            .map(|rule| rule.rule_id.clone())
            .collect();
        for rule_id in &started {
            self.rule(rule_id).changes_started += 1;
        }
        for rule_id in &stopped {
            self.rule(rule_id).changes_stopped += 1;
        }
        if self.summary.changes.len() < CHANGES_SHOWN {
            self.summary.changes.push(ReplayChange {
                decision_id: logged.decision_id.clone(),
                occurred_at_ms: logged.occurred_at_ms,
                kind: logged.kind.as_str().to_owned(),
                user_id: logged.user_id.clone(),
                logged: logged.outcome,
                live: live.outcome,
                edited: edited.outcome,
                rules_started: started,
                rules_stopped: stopped,
            });
        }
    }

    /// The summary: rules behind changes first (most changes first), then by name.
    pub fn finish(mut self) -> ReplaySummary {
        let mut rules: Vec<RuleReplay> = self.rules.into_values().collect();
        rules.sort_by(|a, b| {
            let changes = |rule: &RuleReplay| rule.changes_started + rule.changes_stopped;
            changes(b)
                .cmp(&changes(a))
                .then_with(|| a.rule_id.cmp(&b.rule_id))
        });
        self.summary.rules = rules;
        self.summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::MatchedRule;
    use crate::event::EventKind;

    fn decision(id: &str, outcome: Outcome, rules: &[&str], shadow: &[&str]) -> Decision {
        let matched = |ids: &[&str], shadow: bool| {
            ids.iter()
                .map(|rule| MatchedRule {
                    rule_id: (*rule).to_owned(),
                    reason: String::new(),
                    outcome,
                    score: 0,
                    shadow,
                })
                .collect()
        };
        Decision {
            decision_id: id.into(),
            event_id: format!("e-{id}"),
            kind: EventKind::LoginSucceeded,
            user_id: "u1".into(),
            outcome,
            challenge: None,
            score: 0,
            matched: matched(rules, false),
            shadow_matched: matched(shadow, true),
            actions: Vec::new(),
            errors: Vec::new(),
            policy_version: 1,
            occurred_at_ms: 1_000,
        }
    }

    #[test]
    fn a_change_names_the_rules_that_started_and_stopped_matching() {
        let mut tally = ReplayTally::new();
        // Unchanged: both allow, a shadow rule matches only in the edit.
        tally.record(
            &decision("a", Outcome::Allow, &[], &[]),
            &decision("a", Outcome::Allow, &[], &[]),
            &decision("a", Outcome::Allow, &[], &["watch"]),
        );
        // Stricter: a new rule denies.
        tally.record(
            &decision("b", Outcome::Allow, &[], &[]),
            &decision("b", Outcome::Allow, &[], &[]),
            &decision("b", Outcome::Deny, &["new_deny"], &[]),
        );
        // More lenient: a rule's threshold was raised, it stops matching.
        tally.record(
            &decision("c", Outcome::Challenge, &["old"], &[]),
            &decision("c", Outcome::Challenge, &["old", "both"], &[]),
            &decision("c", Outcome::Allow, &["both"], &[]),
        );
        let summary = tally.finish();
        assert_eq!(summary.events, 3);
        assert_eq!(summary.changed, 2);
        assert_eq!((summary.stricter, summary.more_lenient), (1, 1));
        assert_eq!(summary.live.allow, 2);
        assert_eq!(summary.live.challenge, 1);
        assert_eq!(summary.edited.deny, 1);
        assert_eq!(summary.edited.allow, 2);
        assert_eq!(summary.changes.len(), 2);
        assert_eq!(summary.changes[0].rules_started, vec!["new_deny"]);
        assert!(summary.changes[0].rules_stopped.is_empty());
        assert_eq!(summary.changes[1].rules_stopped, vec!["old"]);
        assert_eq!(summary.changes[1].logged, Outcome::Challenge);
        let rule = |id: &str| {
            summary
                .rules
                .iter()
                .find(|rule| rule.rule_id == id)
                .unwrap()
        };
        assert_eq!(rule("new_deny").changes_started, 1);
        assert_eq!(rule("old").changes_stopped, 1);
        assert_eq!((rule("both").live_hits, rule("both").edited_hits), (1, 1));
        assert_eq!(rule("watch").edited_shadow_hits, 1);
        // Rules behind changes come first, then by name.
        assert_eq!(summary.rules[0].rule_id, "new_deny");
        assert_eq!(summary.rules[1].rule_id, "old");
        assert_eq!(summary.rules[2].rule_id, "both");
    }

    #[test]
    fn only_the_first_changes_are_listed_but_all_are_counted() {
        let mut tally = ReplayTally::new();
        for index in 0..(CHANGES_SHOWN + 5) {
            let id = format!("d{index}");
            tally.record(
                &decision(&id, Outcome::Allow, &[], &[]),
                &decision(&id, Outcome::Allow, &[], &[]),
                &decision(&id, Outcome::Review, &["r"], &[]),
            );
        }
        let summary = tally.finish();
        assert_eq!(summary.changed, (CHANGES_SHOWN + 5) as u64);
        assert_eq!(summary.changes.len(), CHANGES_SHOWN);
        assert_eq!(summary.rules[0].changes_started, (CHANGES_SHOWN + 5) as u64);
    }
}
