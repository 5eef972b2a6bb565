//! Replaying history is deterministic whatever the wall clock does meanwhile: maintenance
//! passes that run between chunks of a replay, with the wall clock far past the replayed
//! time, drop nothing the replay still needs (issue 17: a 7-second pause in a replay turned
//! a challenged login after credential stuffing, and a denied login after brute force, into
//! allows, because the pass expired velocity keys and list entries by the wall clock).

use std::sync::Arc;

use shopguard_core::{Decision, Engine, Event, ListRegistry, Outcome};
use shopguard_sim::{generate, seed_lists, AttackKind, Label, LabelledEvent, SimConfig};

const POLICY: &str = include_str!("../../../examples/marketplace.toml");

/// Thirty days after the replayed traffic: the wall clock of a replay run later.
const WALL_CLOCK_AHEAD_MS: i64 = 30 * 86_400_000;

fn engine() -> Engine {
    let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
    seed_lists(&engine).unwrap();
    engine
}

fn events(traffic: &[LabelledEvent]) -> Vec<Event> {
    traffic
        .iter()
        .enumerate()
        .map(|(position, labelled)| {
            let at = labelled.event.occurred_at_ms.unwrap_or_default();
            Event::try_from_input(labelled.event.clone(), at, || format!("sim-{position}")).unwrap()
        })
        .collect()
}

/// Decides every event in order; after every `chunk` events (if any), runs a maintenance
/// pass with the wall clock at `wall_clock_ms`.
fn replay(events: &[Event], pauses: Option<(usize, i64)>) -> Vec<Decision> {
    let engine = engine();
    let mut decisions = Vec::with_capacity(events.len());
    for (position, event) in events.iter().enumerate() {
        if let Some((chunk, wall_clock_ms)) = pauses {
            if position > 0 && position % chunk == 0 {
                engine.maintain(wall_clock_ms);
            }
        }
        decisions.push(engine.decide(event, format!("d-{position}")));
    }
    decisions
}

#[test]
fn maintenance_passes_during_a_replay_change_no_decision() {
    let config = SimConfig {
        users: 150,
        days: 2,
        instances_per_attack: 4,
        ..SimConfig::default()
    };
    let traffic = generate(&config);
    let events = events(&traffic);
    let end_ms = events.last().unwrap().occurred_at_ms;
    let straight = replay(&events, None);
    let paused = replay(&events, Some((97, end_ms + WALL_CLOCK_AHEAD_MS)));

    // The replay must exercise what the issue reports: credential stuffing challenged and
    // brute force denied in the straight run.
    let flagged = |kind: AttackKind, outcome: Outcome| {
        traffic
            .iter()
            .zip(&straight)
            .filter(|(labelled, decision)| {
                matches!(labelled.label, Label::Attack { kind: k, .. } if k == kind)
                    && decision.outcome == outcome
            })
            .count()
    };
    let caught = |kind| flagged(kind, Outcome::Deny) + flagged(kind, Outcome::Challenge);
    assert!(
        caught(AttackKind::CredentialStuffing) > 0,
        "the replay holds no caught credential stuffing"
    );
    assert!(
        caught(AttackKind::BruteForce) > 0,
        "the replay holds no caught brute force"
    );

    let differing: Vec<String> = straight
        .iter()
        .zip(&paused)
        .zip(&traffic)
        .filter(|((left, right), _)| {
            (left.outcome, &left.matched, left.score)
                != (right.outcome, &right.matched, right.score)
        })
        .take(5)
        .map(|((left, right), labelled)| {
            format!(
                "{} ({:?}): {:?} without pauses, {:?} with",
                left.event_id, labelled.label, left.outcome, right.outcome
            )
        })
        .collect();
    assert!(differing.is_empty(), "decisions differ: {differing:#?}");
}

#[test]
fn entries_added_by_rules_during_a_replay_survive_passes_until_the_replay_passes_them() {
    // A constructed brute force: the rule that blocks the IP adds it with an expiry in event
    // time; a pass with the wall clock far ahead must not drop it while the replay is
    // still before that expiry.
    let config = SimConfig {
        users: 40,
        days: 2,
        instances_per_attack: 2,
        ..SimConfig::default()
    };
    let events = events(&generate(&config));
    let end_ms = events.last().unwrap().occurred_at_ms;
    let straight = replay(&events, None);
    let paused = replay(&events, Some((13, end_ms + WALL_CLOCK_AHEAD_MS)));
    let outcomes = |decisions: &[Decision]| -> Vec<Outcome> {
        decisions.iter().map(|decision| decision.outcome).collect()
    };
    assert_eq!(outcomes(&straight), outcomes(&paused));
}
