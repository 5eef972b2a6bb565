//! What a rule can see: the activation handed to compiled expressions, and the typed tables of
//! event fields that the compiler checks names and types against.

use std::cell::RefCell;

use crate::event::Event;
use crate::lists::{ListRegistry, ListsView};
use crate::profile::ProfileView;

use super::value::Value;

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
    /// Comprehension variables, by slot.
    pub(crate) locals: RefCell<Vec<Value>>,
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
}

/// Fields of `event`, with their CEL types. `ip` and `attrs` are handled by the compiler itself.
pub const EVENT_FIELDS: &[(&str, FieldReader<Event>)] = &[
    ("event_id", FieldReader::Str(|e| Some(&e.event_id))),
    ("kind", FieldReader::Str(|e| Some(e.kind.as_str()))),
    (
        "occurred_at_ms",
        FieldReader::Int(|e| Some(e.occurred_at_ms)),
    ),
    ("user_id", FieldReader::Str(|e| Some(&e.user_id))),
    ("device_id", FieldReader::Str(|e| e.device_id.as_deref())),
    ("user_agent", FieldReader::Str(|e| e.user_agent.as_deref())),
    ("channel", FieldReader::Str(|e| Some(e.channel.as_str()))),
    ("session_id", FieldReader::Str(|e| e.session_id.as_deref())),
    ("email", FieldReader::Str(|e| e.email.as_deref())),
    ("email_domain", FieldReader::Str(Event::email_domain)),
    ("phone", FieldReader::Str(|e| e.phone.as_deref())),
    ("country", FieldReader::Str(|e| e.country.as_deref())),
    ("city", FieldReader::Str(|e| e.city.as_deref())),
    (
        "latitude",
        FieldReader::Double(|e| e.location.map(|(lat, _)| lat)),
    ),
    (
        "longitude",
        FieldReader::Double(|e| e.location.map(|(_, lon)| lon)),
    ),
    ("amount", FieldReader::Double(|e| e.amount)),
    ("currency", FieldReader::Str(|e| e.currency.as_deref())),
    (
        "counterparty_id",
        FieldReader::Str(|e| e.counterparty_id.as_deref()),
    ),
    ("order_id", FieldReader::Str(|e| e.order_id.as_deref())),
    ("listing_id", FieldReader::Str(|e| e.listing_id.as_deref())),
    (
        "payment_method",
        FieldReader::Str(|e| e.payment_method.as_deref()),
    ),
    ("card_bin", FieldReader::Str(|e| e.card_bin.as_deref())),
    (
        "card_fingerprint",
        FieldReader::Str(|e| e.card_fingerprint.as_deref()),
    ),
    ("purpose", FieldReader::Str(|e| e.purpose.as_deref())),
    ("success", FieldReader::Bool(|e| e.success)),
    (
        "failure_reason",
        FieldReader::Str(|e| e.failure_reason.as_deref()),
    ),
    (
        "changed_field",
        FieldReader::Str(|e| e.changed_field.as_deref()),
    ),
    ("title", FieldReader::Str(|e| e.title.as_deref())),
    ("text", FieldReader::Str(|e| e.text.as_deref())),
    ("target_id", FieldReader::Str(|e| e.target_id.as_deref())),
];

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
