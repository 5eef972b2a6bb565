//! The shipped marketplace policy compiles, is large enough, passes its own fixtures, and
//! decides simulated traffic the same with and without prefetching.

use std::sync::Arc;

use shopguard_core::{check_policy, Engine, Event, ListRegistry, Outcome};

const POLICY: &str = include_str!("../../../examples/marketplace.toml");

#[test]
fn shipped_policy_compiles_and_its_fixtures_pass() {
    Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).expect("the shipped policy compiles");
    let check = check_policy(POLICY).unwrap_or_else(|error| panic!("{error}"));
    assert!(check.rules >= 40, "{} rules", check.rules);
    assert!(check.features >= 10, "{} features", check.features);
    assert!(check.fixtures.len() >= 5);
}

#[test]
fn prefetching_changes_no_decision() {
    let traffic = shopguard_sim::generate(&shopguard_sim::SimConfig {
        users: 150,
        days: 2,
        instances_per_attack: 3,
        ..Default::default()
    });
    let events: Vec<Event> = traffic
        .into_iter()
        .map(|labelled| {
            let at = labelled.event.occurred_at_ms.unwrap();
            Event::try_from_input(labelled.event, at, || "e".to_owned()).unwrap()
        })
        .collect();
    let plain = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
    let prefetching = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
    // The server's way: one load of the policy and the lists for the prefetch and the decision.
    // It prefetches only once the engine holds many profiles, so `plain` and it first see
    // that many users log out.
    let server_way = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
    for user in 0..shopguard_core::engine::PREFETCH_MIN_PROFILES {
        let input: shopguard_core::EventInput = serde_json::from_value(serde_json::json!({
            "kind": "logout", "user_id": format!("warm{user}"), "occurred_at_ms": 1_000
        }))
        .unwrap();
        let event = Event::try_from_input(input, 1_000, || "w".to_owned()).unwrap();
        plain.decide(&event, "w".to_owned());
        server_way.decide(&event, "w".to_owned());
    }
    assert!(server_way.profile_count() >= shopguard_core::engine::PREFETCH_MIN_PROFILES);
    let mut denied = 0;
    for (position, event) in events.iter().enumerate() {
        if let Some(next) = events.get(position + 1) {
            prefetching.prefetch(next);
        }
        let id = format!("d{position}");
        let expected = plain.decide(event, id.clone());
        assert_eq!(
            prefetching.decide(event, id.clone()),
            expected,
            "event {position}"
        );
        assert_eq!(
            server_way.prefetch_and_decide(event, id),
            expected,
            "event {position}"
        );
        denied += usize::from(expected.outcome == Outcome::Deny);
    }
    assert!(denied > 0, "the traffic holds attacks the policy denies");
    assert_eq!(plain.feature_key_count(), prefetching.feature_key_count());
    assert_eq!(plain.feature_key_count(), server_way.feature_key_count());
}
