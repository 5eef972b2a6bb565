//! The shipped policy against simulated traffic: every attack kind is detected with recall
//! of at least 0.95, and at most 1% of normal events are flagged.

use std::sync::Arc;

use shopguard_core::{Engine, ListRegistry};
use shopguard_sim::{generate, score_in_process, seed_lists, AttackKind, Scoreboard, SimConfig};

const POLICY: &str = include_str!("../../../examples/marketplace.toml");

fn run(config: &SimConfig) -> Scoreboard {
    let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
    seed_lists(&engine).unwrap();
    score_in_process(&engine, generate(config), |_| {}).unwrap()
}

#[test]
fn shipped_policy_detects_every_simulated_attack_with_few_false_positives() {
    let config = SimConfig {
        users: 600,
        days: 9,
        instances_per_attack: 12,
        ..SimConfig::default()
    };
    let scoreboard = run(&config);
    println!("{}", scoreboard.table());
    println!(
        "rules flagging normal traffic: {:?}",
        scoreboard.normal_flag_rules()
    );
    for kind in AttackKind::ALL {
        let score = &scoreboard.kinds[&kind];
        assert!(score.positives > 0, "{kind:?} produced no positive events");
        assert!(
            score.recall() >= 0.95,
            "{kind:?}: recall {:.3} < 0.95",
            score.recall()
        );
    }
    assert!(
        scoreboard.normal_events > 10_000,
        "{} normal events",
        scoreboard.normal_events
    );
    assert!(
        scoreboard.false_positive_rate() <= 0.01,
        "false-positive rate {:.4}",
        scoreboard.false_positive_rate()
    );
}

#[test]
fn generation_is_deterministic_per_seed() {
    let config = SimConfig {
        users: 50,
        days: 3,
        instances_per_attack: 1,
        ..SimConfig::default()
    };
    assert_eq!(generate(&config), generate(&config));
    let other = SimConfig {
        seed: 8,
        ..config.clone()
    };
    assert_ne!(generate(&config), generate(&other));
}
