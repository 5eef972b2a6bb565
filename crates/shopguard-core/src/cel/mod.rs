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
//!   `has(event.field)` tests presence. `event.attrs` is a `map(string, dyn)`; `event.time` is
//!   `event.occurred_at_ms` as a `google.protobuf.Timestamp`.
//! - `features.<name>`: the policy's velocity features (`int` for count and distinct, `double`
//!   for sum), computed on first use, after the event itself was counted.
//! - `profile.<field>`: facts about the acting user before this event (see
//!   [`crate::profile::PROFILE_FIELDS`]); `first_seen_at`, `last_login_at` and
//!   `password_reset_at` are timestamps (absent: `has()` is false, the value is the epoch).
//! - Functions: CEL's standard library (`size`, `contains`, `startsWith`, `endsWith`,
//!   `matches`, the conversions `int`, `uint`, `double`, `string`, `bool`, `bytes`,
//!   `timestamp`, `duration`, `dyn`, `type`, and the timestamp and duration accessors
//!   `getFullYear` ... `getMilliseconds` with an optional time zone), type values (`int`,
//!   `type(x) == string`), the macros (`has`, `all`, `exists`, `exists_one`, `map`, `filter`),
//!   the strings extension (`charAt`, `indexOf`, `lastIndexOf`, `lowerAscii`, `upperAscii`,
//!   `replace`, `split`, `substring`, `trim`, `join`, `reverse`, `format`, `strings.quote`),
//!   the math extension (`math.greatest`, `math.least`, `math.ceil`, `math.floor`,
//!   `math.round`, `math.trunc`, `math.abs`, `math.sign`, `math.isNaN`, `math.isInf`,
//!   `math.isFinite`, `math.sqrt`, `math.bitAnd` ... `math.bitShiftRight`), and shopguard's
//!   `in_list(name, value)` and `email_domain(text)`. Map fields may be named in backticks
//!   (``attrs.`content-type` ``).
//!
//! The official conformance suite runs in `tests/cel_conformance.rs`.
//!
//! # Deviations from the specification, on purpose
//! - Expressions are always type-checked: an operand of the wrong static type is a compile
//!   error even where an unchecked interpreter would short-circuit past it (`false && 32`),
//!   and so is an unknown name (`x || true`).
//! - `matches` takes its pattern as a literal, compiled once with the `regex` crate (RE2 syntax).
//! - Arithmetic mixing int and double is a compile error, as in checked CEL; comparisons across
//!   numeric types are allowed (CEL's runtime numeric comparison).
//! - Literal arguments of `timestamp()`, `duration()`, `bool()`, `bytes()` and `type()` are
//!   converted when the rule is compiled, so a malformed one is a compile error.
//! - Not supported: protobuf messages and their construction, optional values (`?.`,
//!   `optional.of`), two-variable comprehensions.

pub mod compile;
mod convert;
mod format;
mod functions;
pub mod schema;
pub mod time;
pub mod value;

pub use compile::{
    compile_bool, compile_parsed_bool, compile_value, parse_expr, CompileError, CompiledExpr,
    CompiledValue, ParsedExpr,
};
pub use schema::{Activation, Environment, FeatureDecl, FeatureReader};
pub use value::{EvalError, EvalResult, Value};
