//! Hostile input never panics: arbitrary rule text compiles or is refused, arbitrary JSON is
//! parsed into an event or refused.

use proptest::prelude::*;
use shopguard_core::cel::{compile_bool, Environment, FeatureDecl};
use shopguard_core::{Event, EventInput, ListRegistry};

fn compiles_without_panic(source: &str) {
    let lists = ListRegistry::new();
    let features = vec![FeatureDecl {
        name: "f".into(),
        integer: true,
    }];
    let _ = compile_bool(
        source,
        Environment {
            features: &features,
            lists: &lists,
        },
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics_the_compiler(source in "\\PC{0,80}") {
        compiles_without_panic(&source);
    }

    #[test]
    fn cel_shaped_text_never_panics_the_compiler(
        parts in prop::collection::vec(prop::sample::select(vec![
            "event.amount", "event.kind", "features.f", "profile.exists", "event.attrs.x", "1", "2.5", "'a'", "true",
            "[1, 2]", "{'k': 1}", "&&", "||", "!", "==", "<", "+", "-", "*", "/", "%", "in", "(", ")", "?", ":", ".size()",
            ".exists(x, x > 1)", "size(", "has(", "int(", "in_list('l', ", ",", "[", "]", "{", "}", "'\\u00e9'", "\\", "\"",
        ]), 1..12)
    ) {
        compiles_without_panic(&parts.join(" "));
    }

    #[test]
    fn arbitrary_json_never_panics_event_validation(
        kind in prop::sample::select(vec!["payment", "login_failed", "register", "nope", ""]),
        user in "\\PC{0,300}",
        ip in "\\PC{0,45}",
        amount in prop::option::of(prop::num::f64::ANY),
        lat in prop::option::of(-200.0f64..200.0),
        occurred in prop::option::of(any::<i64>()),
    ) {
        let body = serde_json::json!({ "kind": kind, "user_id": user, "ip": ip, "latitude": lat, "longitude": lat, "occurred_at_ms": occurred, "amount": amount.filter(|a| a.is_finite()), "currency": "CNY" });
        if let Ok(input) = serde_json::from_value::<EventInput>(body) {
            let _ = Event::try_from_input(input, 1_700_000_000_000, || "id".into());
        }
    }
}

/// Long chains within the 8 KiB limit are refused or compiled, never a stack overflow
/// (which would abort the server, not fail one request).
#[test]
fn deep_and_long_expressions_do_not_overflow_the_stack() {
    let chains = [
        format!("{}1 == 1", "1 + ".repeat(1_900)),
        format!("{}true", "!".repeat(7_000)),
        format!("{}1{} == 1", "(".repeat(3_000), ")".repeat(3_000)),
        format!("{}true", "true && ".repeat(1_000)),
        format!("[{}1] == [1]", "[".repeat(2_000)),
    ];
    for source in chains {
        compiles_without_panic(&source);
    }
    let lists = ListRegistry::new();
    let error = compile_bool(
        &format!("{}1 == 1", "1 + ".repeat(1_900)),
        Environment {
            features: &[],
            lists: &lists,
        },
    )
    .unwrap_err();
    assert!(error.message.contains("nests deeper"), "{error}");
}
