//! The shipped marketplace policy compiles, is large enough, and passes its own fixtures.

use std::sync::Arc;

use shopguard_core::{check_policy, Engine, ListRegistry};

const POLICY: &str = include_str!("../../../examples/marketplace.toml");

#[test]
fn shipped_policy_compiles_and_its_fixtures_pass() {
    Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).expect("the shipped policy compiles");
    let check = check_policy(POLICY).unwrap_or_else(|error| panic!("{error}"));
    assert!(check.rules >= 40, "{} rules", check.rules);
    assert!(check.features >= 10, "{} features", check.features);
    assert!(check.fixtures.len() >= 5);
}
