//! What a rule can see: the activation handed to compiled expressions, and the typed tables of
//! event fields that the compiler checks names and types against.

use std::cell::RefCell;

use crate::event::Event;
use crate::lists::{ListRegistry, ListsView};
use crate::profile::ProfileView;

use super::value::{EvalResult, Value};

/// Reads velocity features by their index in the policy, computing each on first use.
pub trait FeatureReader {
    /// Current value of feature `index` for the event being decided.
    fn feature(&self, index: usize) -> f64;
}

/// A feature as the compiler sees it: its name and whether it is integer-valued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureDecl {
    /// Name used as `features.<name>`.
    pub name: String,
    /// `int` in CEL (counts, distinct counts) when true, `double` (sums) otherwise.
    pub integer: bool,
}

/// Everything the compiler resolves names against.
#[derive(Clone, Copy)]
pub struct Environment<'e> {
    /// The policy's features, in index order.
    pub features: &'e [FeatureDecl],
    /// Lists that `in_list` may name.
    pub lists: &'e ListRegistry,
}

/// Inputs of one evaluation.
pub struct Activation<'a> {
    /// The event being decided.
    pub event: &'a Event,
    /// Its velocity features.
    pub features: &'a (dyn FeatureReader + 'a),
    /// The acting user's profile before this event.
    pub profile: &'a ProfileView,
    /// Block, allow and watch lists, loaded once for the decision.
    pub lists: &'a ListsView,
    /// Comprehension variables, by slot. An accumulator may hold an error, which a later
    /// decisive element can still absorb (`[0, 1].exists(x, 1 / x == 1)` is true).
    pub(crate) locals: RefCell<Vec<EvalResult<Value>>>,
}

impl<'a> Activation<'a> {
    /// An activation over these inputs.
    pub fn new(
        event: &'a Event,
        features: &'a (dyn FeatureReader + 'a),
        profile: &'a ProfileView,
        lists: &'a ListsView,
    ) -> Self {
        Activation {
            event,
            features,
            profile,
            lists,
            locals: RefCell::new(Vec::new()),
        }
    }

    /// Makes room for `slots` comprehension variables.
    pub(crate) fn reserve_locals(&self, slots: usize) {
        if slots > 0 {
            let mut locals = self.locals.borrow_mut();
            if locals.len() < slots {
                locals.resize(slots, Ok(Value::Null));
            }
        }
    }
}

/// How the compiler reads one typed field of a record `S` (an event or a profile view).
/// `None` means the field is absent: it reads as the zero value and `has()` is false.
pub enum FieldReader<S: ?Sized> {
    /// A `string` field.
    Str(for<'x> fn(&'x S) -> Option<&'x str>),
    /// An `int` field.
    Int(fn(&S) -> Option<i64>),
    /// A `double` field.
    Double(fn(&S) -> Option<f64>),
    /// A `bool` field.
    Bool(fn(&S) -> Option<bool>),
    /// A `google.protobuf.Timestamp` field, read as milliseconds since the Unix epoch.
    Timestamp(fn(&S) -> Option<i64>),
}

/// How a rule reads `event.<name>`, with its CEL type: the fields of the event field table
/// (`event.rs`), `email_domain`, derived from `email`, and `time`, the timestamp of
/// `occurred_at_ms`. `ip` and `attrs` are handled by the compiler itself; `None` for any
/// other name.
pub fn event_field(name: &str) -> Option<FieldReader<Event>> {
    match name {
        "email_domain" => Some(FieldReader::Str(Event::email_domain)),
        "time" => Some(FieldReader::Timestamp(|event| Some(event.occurred_at_ms))),
        _ => Event::cel_field(name),
    }
}

/// Looks up a field in a table of typed fields.
pub fn find_field<'t, S: ?Sized>(
    table: &'t [(&str, FieldReader<S>)],
    name: &str,
) -> Option<&'t FieldReader<S>> {
    table
        .iter()
        .find(|(field_name, _)| *field_name == name)
        .map(|(_, reader)| reader)
}
