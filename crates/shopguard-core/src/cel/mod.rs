//! CEL rules compiled to closures.
//!
//! Expressions are parsed by the `cel` crate (the Rust implementation of Google's Common
//! Expression Language), type-checked here against shopguard's schema, and compiled into a
//! tree of Rust closures specialised by static type. A rule such as
//! `event.amount > 1000.0 && event.country != 'US' && features.orders_user_1h >= 5` becomes a
//! handful of direct field reads and comparisons, with no interpretation and no allocation.
//!
//! # The environment
//! - `event.<field>`: the event's fields (see [`schema::event_field`]); an absent field reads as
//!   its type's zero value (`''`, `0`, `0.0`, `false`), as protobuf fields do in CEL, and
//!   `has(event.field)` tests presence. `event.attrs` is a `map(string, dyn)`.
//! - `features.<name>`: the policy's velocity features (`int` for count and distinct, `double`
//!   for sum), computed on first use, after the event itself was counted.
//! - `profile.<field>`: facts about the acting user before this event (see
//!   [`crate::profile::PROFILE_FIELDS`]).
//! - Functions: the CEL standard ones on strings, lists and maps (`size`, `contains`,
//!   `startsWith`, `endsWith`, `matches`, `lowerAscii`, `upperAscii`, `int`, `uint`, `double`,
//!   `string`), the macros (`has`, `all`, `exists`, `exists_one`, `map`, `filter`), and
//!   shopguard's `in_list(name, value)` and `email_domain(text)`.
//!
//! # Deviations from the specification, on purpose
//! - `matches` takes its pattern as a literal, compiled once with the `regex` crate (RE2 syntax).
//! - Arithmetic mixing int and double is a compile error, as in checked CEL; comparisons across
//!   numeric types are allowed (CEL's runtime numeric comparison).
//! - Timestamps and durations are not supported: times reach rules as numbers
//!   (`event.occurred_at_ms`, `profile.seconds_since_last_login`).

pub mod compile;
mod convert;
mod format;
mod functions;
pub mod schema;
pub mod time;
pub mod value;

pub use compile::{compile_bool, compile_value, CompileError, CompiledExpr, CompiledValue};
pub use schema::{Activation, Environment, FeatureDecl, FeatureReader};
pub use value::{EvalError, EvalResult, Value};
