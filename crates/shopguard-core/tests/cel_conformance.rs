//! The official CEL conformance suite (cel-spec's simple tests, vendored under `cel-spec/`)
//! run through shopguard's compiler.
//!
//! Every case the compiler can express is compiled with [`compile_value`] and evaluated on an
//! empty activation; cases that need protobuf message types, a container, or variables bound
//! by the test are counted as skipped, by reason. A case passes when it yields the expected
//! value (same type, same value) or, when an error is expected, any compile or evaluation
//! error. It is *wrong* when it yields a different value, or a value where an error is
//! expected: that fails the test always. Missing support (an error where a value is expected)
//! only counts against the pass rate, which must stay at or above the floors below.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value as Json;
use shopguard_core::cel::{compile_value, Activation, Environment, FeatureReader, Value};
use shopguard_core::profile::ProfileView;
use shopguard_core::{Event, EventInput, EventKind, ListRegistry};

/// The core sections: at least 97% of their expressible cases, taken together, must pass.
const CORE_SECTIONS: &[&str] = &[
    "basic",
    "comparisons",
    "logic",
    "integer_math",
    "fp_math",
    "string",
    "lists",
    "macros",
    "conversions",
    "timestamps",
    "fields",
];
const CORE_FLOOR: f64 = 0.97;
/// The strings and math extensions: at least 90% of each one's expressible cases.
const EXTENSION_SECTIONS: &[&str] = &["string_ext", "math_ext"];
const EXTENSION_FLOOR: f64 = 0.90;

struct NoFeatures;

impl FeatureReader for NoFeatures {
    fn feature(&self, _index: usize) -> f64 {
        0.0
    }
}

/// What a case expects.
enum Expected {
    Value(Value),
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Pass,
    /// An error where a value was expected: something not supported.
    Missing,
    /// A different value, or a value where an error was expected.
    Wrong,
}

/// Why a case is not run.
fn skip_reason(case: &Json) -> Option<&'static str> {
    let expr = case["expr"].as_str().unwrap_or_default();
    if case.get("typeEnv").is_some() || case.get("bindings").is_some() {
        return Some("variables bound by the test");
    }
    if case.get("container").is_some() {
        return Some("protobuf container");
    }
    if case.get("checkOnly").is_some() || case.get("typedResult").is_some() {
        return Some("type-checker only");
    }
    if mentions_message(expr) || case.get("value").is_some_and(holds_message) {
        return Some("protobuf messages");
    }
    None
}

/// Whether an expression constructs or names a protobuf message (`TestAllTypes{...}`,
/// `google.protobuf.Int32Value{}`), other than the Timestamp and Duration type names.
fn mentions_message(expr: &str) -> bool {
    let bytes = expr.as_bytes();
    let constructs = bytes
        .windows(2)
        .any(|pair| (pair[0].is_ascii_alphanumeric() || pair[0] == b'_') && pair[1] == b'{');
    let names_proto_type = expr.match_indices("google.protobuf.").any(|(at, prefix)| {
        let rest = &expr[at + prefix.len()..];
        !(rest.starts_with("Timestamp") || rest.starts_with("Duration"))
    });
    constructs
        || names_proto_type
        || expr.contains("TestAllTypes")
        || expr.contains(".proto2.")
        || expr.contains(".proto3.")
}

fn holds_message(value: &Json) -> bool {
    match value {
        Json::Object(map) => map.contains_key("objectValue") || map.values().any(holds_message),
        Json::Array(items) => items.iter().any(holds_message),
        _ => false,
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut bytes = Vec::new();
    for byte in text.bytes().filter(|byte| *byte != b'=') {
        let Some(sextet) = alphabet.iter().position(|candidate| *candidate == byte) else {
            panic!("bad base64 in the vendored suite: {text}");
        };
        bits = bits << 6 | sextet as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
        }
    }
    bytes
}

fn number_text(json: &Json) -> String {
    match json {
        Json::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A conformance `Value` (protobuf JSON form) as a CEL value.
fn expected_value(json: &Json) -> Value {
    let (kind, payload) = json
        .as_object()
        .and_then(|map| map.iter().next())
        .unwrap_or_else(|| panic!("unexpected value form: {json}"));
    match kind.as_str() {
        "nullValue" => Value::Null,
        "boolValue" => Value::Bool(payload.as_bool().unwrap()),
        "int64Value" => Value::Int(number_text(payload).parse().unwrap()),
        "uint64Value" => Value::UInt(number_text(payload).parse().unwrap()),
        "doubleValue" => Value::Double(match payload {
            Json::String(special) => match special.as_str() {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                other => other.parse().unwrap(),
            },
            number => number.as_f64().unwrap(),
        }),
        "stringValue" => Value::String(Arc::from(payload.as_str().unwrap())),
        "bytesValue" => Value::Bytes(Arc::from(base64_decode(payload.as_str().unwrap()))),
        "typeValue" => Value::Type(type_name(payload.as_str().unwrap())),
        "listValue" => Value::List(
            payload
                .get("values")
                .and_then(Json::as_array)
                .map(|values| values.iter().map(expected_value).collect())
                .unwrap_or_default(),
        ),
        "mapValue" => Value::Map(
            payload
                .get("entries")
                .and_then(Json::as_array)
                .map(|entries| {
                    entries
                        .iter()
                        .map(|entry| {
                            (
                                expected_value(&entry["key"]),
                                expected_value(&entry["value"]),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
        other => panic!("unexpected value kind {other}"),
    }
}

fn type_name(name: &str) -> &'static str {
    Box::leak(name.to_owned().into_boxed_str())
}

/// Strict equality for the suite: same type and same value (NaN equals NaN here).
fn same(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Double(a), Value::Double(b)) => a == b || (a.is_nan() && b.is_nan()),
        (Value::List(a), Value::List(b)) => {
            a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| same(x, y))
        }
        (Value::Map(a), Value::Map(b)) => {
            a.len() == b.len()
                && b.iter().all(|(key, value)| {
                    a.iter().any(|(other_key, other_value)| {
                        same(other_key, key) && same(other_value, value)
                    })
                })
        }
        (a, b) => a == b,
    }
}

fn sample_event() -> Event {
    let input = EventInput {
        kind: Some(EventKind::Payment),
        user_id: Some("u1".into()),
        ip: Some("203.0.113.9".into()),
        amount: Some(10.0),
        currency: Some("CNY".into()),
        ..EventInput::default()
    };
    Event::try_from_input(input, 1_700_000_000_000, || "e1".into()).unwrap()
}

fn run_case(case: &Json, event: &Event, lists: &ListRegistry) -> (Outcome, String) {
    let expr = case["expr"].as_str().unwrap_or_default();
    let expected = if case.get("evalError").is_some() {
        Expected::Error
    } else if let Some(value) = case.get("value") {
        Expected::Value(expected_value(value))
    } else {
        // A case without a matcher expects `true`.
        Expected::Value(Value::Bool(true))
    };
    let env = Environment {
        features: &[],
        lists,
    };
    let profile = ProfileView::default();
    let view = lists.view();
    let activation = Activation::new(event, &NoFeatures, &profile, &view);
    let result = compile_value(expr, env)
        .map_err(|error| format!("compile: {error}"))
        .and_then(|compiled| {
            compiled
                .eval(&activation)
                .map_err(|error| format!("eval: {error}"))
        });
    match (expected, result) {
        (Expected::Error, Err(_)) => (Outcome::Pass, String::new()),
        (Expected::Error, Ok(value)) => (Outcome::Wrong, format!("expected an error, got {value}")),
        (Expected::Value(wanted), Ok(value)) if same(&value, &wanted) => {
            (Outcome::Pass, String::new())
        }
        (Expected::Value(wanted), Ok(value)) => {
            (Outcome::Wrong, format!("expected {wanted}, got {value}"))
        }
        (Expected::Value(wanted), Err(error)) => {
            (Outcome::Missing, format!("expected {wanted}, got {error}"))
        }
    }
}

#[derive(Default)]
struct Tally {
    pass: usize,
    missing: usize,
    wrong: usize,
    skipped: BTreeMap<&'static str, usize>,
}

impl Tally {
    fn run(&self) -> usize {
        self.pass + self.missing + self.wrong
    }

    fn rate(&self) -> f64 {
        if self.run() == 0 {
            1.0
        } else {
            self.pass as f64 / self.run() as f64
        }
    }
}

#[test]
fn the_cel_conformance_suite_passes() {
    let suite: Json = serde_json::from_str(include_str!("cel-spec/simple.json")).unwrap();
    let event = sample_event();
    let lists = ListRegistry::new();
    let verbose = std::env::var_os("CEL_CONFORMANCE_VERBOSE").is_some();
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut wrong = Vec::new();
    for section in suite["sections"].as_array().unwrap() {
        let section_name = section["name"].as_str().unwrap().to_owned();
        let tally = tallies.entry(section_name.clone()).or_default();
        for group in section["groups"].as_array().unwrap() {
            let group_name = group["name"].as_str().unwrap_or_default();
            for case in group["tests"].as_array().unwrap() {
                let name = format!(
                    "{section_name}/{group_name}/{}",
                    case["name"].as_str().unwrap_or_default()
                );
                if let Some(reason) = skip_reason(case) {
                    *tally.skipped.entry(reason).or_default() += 1;
                    continue;
                }
                let (outcome, detail) = run_case(case, &event, &lists);
                match outcome {
                    Outcome::Pass => tally.pass += 1,
                    Outcome::Missing => tally.missing += 1,
                    Outcome::Wrong => {
                        tally.wrong += 1;
                        wrong.push(format!("{name}: `{}`: {detail}", case["expr"]));
                    }
                }
                if verbose && outcome != Outcome::Pass {
                    println!("{outcome:?} {name}: {} -> {detail}", case["expr"]);
                }
            }
        }
    }

    println!(
        "\n{:<14} {:>5} {:>5} {:>5} {:>5} {:>7}  skipped (reason: count)",
        "section", "pass", "fail", "wrong", "skip", "rate"
    );
    let mut below_floor = Vec::new();
    for (name, tally) in &tallies {
        let skipped: usize = tally.skipped.values().sum();
        let reasons: Vec<String> = tally
            .skipped
            .iter()
            .map(|(reason, count)| format!("{reason}: {count}"))
            .collect();
        println!(
            "{name:<14} {:>5} {:>5} {:>5} {:>5} {:>6.1}%  {}",
            tally.pass,
            tally.missing,
            tally.wrong,
            skipped,
            tally.rate() * 100.0,
            reasons.join(", ")
        );
        if EXTENSION_SECTIONS.contains(&name.as_str()) && tally.rate() < EXTENSION_FLOOR {
            below_floor.push(format!(
                "{name}: {:.1}% < {:.0}%",
                tally.rate() * 100.0,
                EXTENSION_FLOOR * 100.0
            ));
        }
    }
    let core = CORE_SECTIONS
        .iter()
        .fold(Tally::default(), |mut sum, name| {
            if let Some(tally) = tallies.get(*name) {
                sum.pass += tally.pass;
                sum.missing += tally.missing;
                sum.wrong += tally.wrong;
            }
            sum
        });
    println!(
        "core sections together: {} of {} ({:.1}%)",
        core.pass,
        core.run(),
        core.rate() * 100.0
    );
    for name in CORE_SECTIONS.iter().chain(EXTENSION_SECTIONS) {
        assert!(
            tallies.contains_key(*name),
            "section {name} is missing from the suite"
        );
    }

    assert!(
        wrong.is_empty(),
        "{} case(s) produced a wrong value:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(
        core.rate() >= CORE_FLOOR,
        "core sections pass {:.1}% of their expressible cases, below {:.0}%",
        core.rate() * 100.0,
        CORE_FLOOR * 100.0
    );
    assert!(
        below_floor.is_empty(),
        "pass rate below its floor: {}",
        below_floor.join("; ")
    );
}
