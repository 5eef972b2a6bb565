//! Dynamic CEL values: what untyped parts of an expression evaluate to.
//!
//! Most of a rule is compiled to closures over typed Rust values (`bool`, `i64`, `f64`, `&str`);
//! [`Value`] carries the rest: free attributes (`event.attrs`), list and map literals,
//! comprehension variables. Operations on it follow the CEL specification: no implicit
//! conversion in arithmetic, numeric comparison across int, uint and double, errors for
//! overflow, division by zero and missing map keys.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use super::time::{Duration, Timestamp};

/// A runtime CEL value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `bool`.
    Bool(bool),
    /// `int` (64-bit signed).
    Int(i64),
    /// `uint` (64-bit unsigned).
    UInt(u64),
    /// `double`.
    Double(f64),
    /// `string`.
    String(Arc<str>),
    /// `bytes`.
    Bytes(Arc<[u8]>),
    /// `list(dyn)`.
    List(Arc<[Value]>),
    /// `map(dyn, dyn)`, as entries in insertion order.
    Map(Arc<[(Value, Value)]>),
    /// `google.protobuf.Timestamp`.
    Timestamp(Timestamp),
    /// `google.protobuf.Duration`.
    Duration(Duration),
    /// A type value (`int`, `type(x)`), by its CEL name.
    Type(&'static str),
}

/// An evaluation error: the rule that raised it does not match, and the error is counted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

impl EvalError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        EvalError(message.into())
    }
}

/// Result of evaluating part of an expression.
pub type EvalResult<T> = Result<T, EvalError>;

impl Value {
    /// CEL name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null_type",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::UInt(_) => "uint",
            Value::Double(_) => "double",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Timestamp(_) => "google.protobuf.Timestamp",
            Value::Duration(_) => "google.protobuf.Duration",
            Value::Type(_) => "type",
        }
    }

    /// The value's type as a CEL type value (`type(x)`).
    pub fn cel_type(&self) -> Value {
        Value::Type(self.type_name())
    }

    /// Converts a JSON value (event attributes) into a CEL value: integers become `int`
    /// (or `uint` above `i64::MAX`), other numbers `double`.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(flag) => Value::Bool(*flag),
            serde_json::Value::Number(number) => {
                if let Some(int) = number.as_i64() {
                    Value::Int(int)
                } else if let Some(uint) = number.as_u64() {
                    Value::UInt(uint)
                } else {
                    Value::Double(number.as_f64().unwrap_or(f64::NAN))
                }
            }
            serde_json::Value::String(text) => Value::String(Arc::from(text.as_str())),
            serde_json::Value::Array(items) => {
                Value::List(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(entries) => Value::Map(
                entries
                    .iter()
                    .map(|(key, value)| {
                        (
                            Value::String(Arc::from(key.as_str())),
                            Value::from_json(value),
                        )
                    })
                    .collect(),
            ),
        }
    }

    /// The value as a `bool`, or a type error.
    pub fn as_bool(&self) -> EvalResult<bool> {
        match self {
            Value::Bool(flag) => Ok(*flag),
            other => Err(type_error("bool", other)),
        }
    }

    /// The value as an `int`, or a type error.
    pub fn as_int(&self) -> EvalResult<i64> {
        match self {
            Value::Int(int) => Ok(*int),
            other => Err(type_error("int", other)),
        }
    }

    /// The value as a `uint`, or a type error.
    pub fn as_uint(&self) -> EvalResult<u64> {
        match self {
            Value::UInt(uint) => Ok(*uint),
            other => Err(type_error("uint", other)),
        }
    }

    /// The value as a `double`, or a type error.
    pub fn as_double(&self) -> EvalResult<f64> {
        match self {
            Value::Double(double) => Ok(*double),
            other => Err(type_error("double", other)),
        }
    }

    /// The value as a `string`, or a type error.
    pub fn as_str(&self) -> EvalResult<&str> {
        match self {
            Value::String(text) => Ok(text),
            other => Err(type_error("string", other)),
        }
    }

    /// CEL equality: same-type structural equality, numeric across int/uint/double,
    /// and `false` (not an error) across other types.
    pub fn cel_equals(&self, other: &Value) -> bool {
        if let Some(ordering) = numeric_cmp(self, other) {
            return ordering == Some(Ordering::Equal);
        }
        match (self, other) {
            (Value::List(left), Value::List(right)) => {
                left.len() == right.len()
                    && left.iter().zip(right.iter()).all(|(a, b)| a.cel_equals(b))
            }
            (Value::Map(left), Value::Map(right)) => {
                left.len() == right.len()
                    && left.iter().all(|(key, value)| {
                        map_get(right, key).is_some_and(|other_value| other_value.cel_equals(value))
                    })
            }
            _ => self == other,
        }
    }

    /// CEL ordering (`<`, `<=`, ...): numbers across types, strings, bools, bytes.
    pub fn cel_compare(&self, other: &Value) -> EvalResult<Ordering> {
        if let Some(ordering) = numeric_cmp(self, other) {
            return ordering.ok_or_else(|| EvalError::new("comparison with NaN"));
        }
        match (self, other) {
            (Value::String(a), Value::String(b)) => Ok(a.cmp(b)),
            (Value::Bool(a), Value::Bool(b)) => Ok(a.cmp(b)),
            (Value::Bytes(a), Value::Bytes(b)) => Ok(a.cmp(b)),
            (Value::Timestamp(a), Value::Timestamp(b)) => Ok(a.cmp(b)),
            (Value::Duration(a), Value::Duration(b)) => Ok(a.cmp(b)),
            (a, b) => Err(EvalError::new(format!(
                "no such overload: {} < {}",
                a.type_name(),
                b.type_name()
            ))),
        }
    }

    /// Whether `self` is an element of the list, or a key of the map, `container`.
    pub fn cel_in(&self, container: &Value) -> EvalResult<bool> {
        match container {
            Value::List(items) => Ok(items.iter().any(|item| item.cel_equals(self))),
            Value::Map(entries) => Ok(map_get(entries, self).is_some()),
            other => Err(EvalError::new(format!(
                "no such overload: _ in {}",
                other.type_name()
            ))),
        }
    }

    /// `container[index]` for lists and maps.
    pub fn cel_index(&self, index: &Value) -> EvalResult<Value> {
        match self {
            Value::List(items) => {
                let position = match index {
                    Value::Int(int) => *int,
                    Value::UInt(uint) => i64::try_from(*uint).unwrap_or(i64::MAX),
                    Value::Double(double) if double.fract() == 0.0 => *double as i64,
                    other => {
                        return Err(EvalError::new(format!(
                            "invalid list index of type {}",
                            other.type_name()
                        )))
                    }
                };
                usize::try_from(position)
                    .ok()
                    .and_then(|position| items.get(position))
                    .cloned()
                    .ok_or_else(|| EvalError::new(format!("index out of range: {position}")))
            }
            Value::Map(entries) => map_get(entries, index)
                .cloned()
                .ok_or_else(|| EvalError::new(format!("no such key: {index}"))),
            other => Err(EvalError::new(format!(
                "no such overload: {}[_]",
                other.type_name()
            ))),
        }
    }

    /// `size()` of a string (code points), bytes, list or map.
    pub fn cel_size(&self) -> EvalResult<i64> {
        let size = match self {
            Value::String(text) => text.chars().count(),
            Value::Bytes(bytes) => bytes.len(),
            Value::List(items) => items.len(),
            Value::Map(entries) => entries.len(),
            other => {
                return Err(EvalError::new(format!(
                    "no such overload: size({})",
                    other.type_name()
                )))
            }
        };
        Ok(size as i64)
    }

    /// Binary arithmetic (`+ - * / %`) with CEL's rules.
    pub fn cel_arith(&self, operator: ArithOp, other: &Value) -> EvalResult<Value> {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => operator.int(*a, *b).map(Value::Int),
            (Value::UInt(a), Value::UInt(b)) => operator.uint(*a, *b).map(Value::UInt),
            (Value::Double(a), Value::Double(b)) => operator.double(*a, *b).map(Value::Double),
            (Value::String(a), Value::String(b)) if operator == ArithOp::Add => {
                Ok(Value::String(Arc::from(format!("{a}{b}"))))
            }
            (Value::List(a), Value::List(b)) if operator == ArithOp::Add => {
                Ok(Value::List(a.iter().chain(b.iter()).cloned().collect()))
            }
            (Value::Bytes(a), Value::Bytes(b)) if operator == ArithOp::Add => {
                Ok(Value::Bytes(a.iter().chain(b.iter()).copied().collect()))
            }
            (Value::Timestamp(time), Value::Duration(span)) if operator == ArithOp::Add => {
                time.checked_add(*span).map(Value::Timestamp)
            }
            (Value::Duration(span), Value::Timestamp(time)) if operator == ArithOp::Add => {
                time.checked_add(*span).map(Value::Timestamp)
            }
            (Value::Timestamp(time), Value::Duration(span)) if operator == ArithOp::Sub => {
                time.checked_sub(*span).map(Value::Timestamp)
            }
            (Value::Timestamp(a), Value::Timestamp(b)) if operator == ArithOp::Sub => {
                a.since(*b).map(Value::Duration)
            }
            (Value::Duration(a), Value::Duration(b)) if operator == ArithOp::Add => {
                a.checked_add(*b).map(Value::Duration)
            }
            (Value::Duration(a), Value::Duration(b)) if operator == ArithOp::Sub => {
                a.checked_sub(*b).map(Value::Duration)
            }
            (a, b) => Err(EvalError::new(format!(
                "no such overload: {} {} {}",
                a.type_name(),
                operator.symbol(),
                b.type_name()
            ))),
        }
    }
}

fn type_error(wanted: &str, found: &Value) -> EvalError {
    EvalError::new(format!("expected {wanted}, found {}", found.type_name()))
}

/// Looks a key up in map entries with CEL equality.
pub fn map_get<'m>(entries: &'m [(Value, Value)], key: &Value) -> Option<&'m Value> {
    entries
        .iter()
        .find(|(entry_key, _)| entry_key.cel_equals(key))
        .map(|(_, value)| value)
}

/// Ordering of two numbers of any numeric type; `None` when either is not a number,
/// `Some(None)` when they are incomparable (NaN).
fn numeric_cmp(left: &Value, right: &Value) -> Option<Option<Ordering>> {
    let ordering = match (left, right) {
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::UInt(a), Value::UInt(b)) => Some(a.cmp(b)),
        (Value::Int(a), Value::UInt(b)) => Some(i128::from(*a).cmp(&i128::from(*b))),
        (Value::UInt(a), Value::Int(b)) => Some(i128::from(*a).cmp(&i128::from(*b))),
        (Value::Double(a), Value::Double(b)) => a.partial_cmp(b),
        (Value::Double(a), Value::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Value::Int(a), Value::Double(b)) => (*a as f64).partial_cmp(b),
        (Value::Double(a), Value::UInt(b)) => a.partial_cmp(&(*b as f64)),
        (Value::UInt(a), Value::Double(b)) => (*a as f64).partial_cmp(b),
        _ => return None,
    };
    Some(ordering)
}

/// An arithmetic operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

impl ArithOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Rem => "%",
        }
    }

    /// Applies the operator to two ints, failing on overflow and division by zero.
    pub fn int(self, a: i64, b: i64) -> EvalResult<i64> {
        let result = match self {
            ArithOp::Add => a.checked_add(b),
            ArithOp::Sub => a.checked_sub(b),
            ArithOp::Mul => a.checked_mul(b),
            ArithOp::Div if b == 0 => return Err(EvalError::new("division by zero")),
            ArithOp::Div => a.checked_div(b),
            ArithOp::Rem if b == 0 => return Err(EvalError::new("modulus by zero")),
            ArithOp::Rem => a.checked_rem(b),
        };
        result.ok_or_else(|| EvalError::new("integer overflow"))
    }

    /// Applies the operator to two uints, failing on overflow and division by zero.
    pub fn uint(self, a: u64, b: u64) -> EvalResult<u64> {
        let result = match self {
            ArithOp::Add => a.checked_add(b),
            ArithOp::Sub => a.checked_sub(b),
            ArithOp::Mul => a.checked_mul(b),
            ArithOp::Div if b == 0 => return Err(EvalError::new("division by zero")),
            ArithOp::Div => a.checked_div(b),
            ArithOp::Rem if b == 0 => return Err(EvalError::new("modulus by zero")),
            ArithOp::Rem => a.checked_rem(b),
        };
        result.ok_or_else(|| EvalError::new("unsigned integer overflow"))
    }

    /// Applies the operator to two doubles (IEEE 754; `%` is not defined on doubles).
    pub fn double(self, a: f64, b: f64) -> EvalResult<f64> {
        Ok(match self {
            ArithOp::Add => a + b,
            ArithOp::Sub => a - b,
            ArithOp::Mul => a * b,
            ArithOp::Div => a / b,
            ArithOp::Rem => return Err(EvalError::new("no such overload: double % double")),
        })
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(flag) => write!(f, "{flag}"),
            Value::Int(int) => write!(f, "{int}"),
            Value::UInt(uint) => write!(f, "{uint}u"),
            Value::Double(double) => write!(f, "{double}"),
            Value::String(text) => write!(f, "{text:?}"),
            Value::Bytes(bytes) => write!(f, "b{:?}", String::from_utf8_lossy(bytes)),
            Value::Timestamp(time) => write!(f, "timestamp('{time}')"),
            Value::Duration(span) => write!(f, "duration('{span}')"),
            Value::Type(name) => f.write_str(name),
            Value::List(items) => {
                f.write_str("[")?;
                for (position, item) in items.iter().enumerate() {
                    if position > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Map(entries) => {
                f.write_str("{")?;
                for (position, (key, value)) in entries.iter().enumerate() {
                    if position > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key}: {value}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Builds a map value, refusing what the specification refuses: a key that is not an `int`,
/// `uint`, `bool` or `string`, and a key given twice (by CEL equality, so `1` and `1u` are the
/// same key).
pub fn build_map(entries: Vec<(Value, Value)>) -> EvalResult<Value> {
    for (position, (key, _)) in entries.iter().enumerate() {
        if !matches!(
            key,
            Value::Int(_) | Value::UInt(_) | Value::Bool(_) | Value::String(_)
        ) {
            return Err(EvalError::new(format!(
                "unsupported key type: {}",
                key.type_name()
            )));
        }
        if entries[..position]
            .iter()
            .any(|(earlier, _)| earlier.cel_equals(key))
        {
            return Err(EvalError::new(format!(
                "repeated key in map literal: {key}"
            )));
        }
    }
    Ok(Value::Map(entries.into()))
}
