//! Type conversions: `int()`, `uint()`, `double()`, `string()`, `bool()`, `bytes()`,
//! `timestamp()`, `duration()`, and how a double is printed.
//!
//! Each conversion takes a runtime [`Value`] and fails, rather than wraps or rounds, when
//! the result would leave its type's range (`int(1e99)`, `uint(-1)`).

use std::sync::Arc;

use super::time::{Duration, Timestamp};
use super::value::{EvalError, EvalResult, Value};

/// A conversion function, by its CEL name.
pub(crate) type Conversion = fn(Value) -> EvalResult<Value>;

/// The conversion called `name`, if there is one.
pub(crate) fn conversion(name: &str) -> Option<Conversion> {
    Some(match name {
        "int" => to_int,
        "uint" => to_uint,
        "double" => to_double,
        "string" => to_string,
        "bool" => to_bool,
        "bytes" => to_bytes,
        "timestamp" => to_timestamp,
        "duration" => to_duration,
        "dyn" => Ok,
        "type" => |value: Value| Ok(value.cel_type()),
        _ => return None,
    })
}

fn no_overload(function: &str, value: &Value) -> EvalError {
    EvalError::new(format!(
        "no such overload: {function}({})",
        value.type_name()
    ))
}

fn to_int(value: Value) -> EvalResult<Value> {
    match value {
        Value::Int(int) => Ok(Value::Int(int)),
        Value::UInt(uint) => i64::try_from(uint)
            .map(Value::Int)
            .map_err(|_| EvalError::new("int() range error")),
        // Both bounds exclusive: -2^63 as a double may stand for a value just below it.
        Value::Double(double)
            if double.is_finite()
                && double > -9.223_372_036_854_776e18
                && double < 9.223_372_036_854_776e18 =>
        {
            Ok(Value::Int(double.trunc() as i64))
        }
        Value::Double(_) => Err(EvalError::new("int() range error")),
        Value::String(text) => text
            .parse()
            .map(Value::Int)
            .map_err(|_| EvalError::new("int() of a non-integer string")),
        Value::Timestamp(time) => Ok(Value::Int(time.seconds())),
        Value::Duration(span) => Ok(Value::Int(span.nanos())),
        other => Err(no_overload("int", &other)),
    }
}

fn to_uint(value: Value) -> EvalResult<Value> {
    match value {
        Value::UInt(uint) => Ok(Value::UInt(uint)),
        Value::Int(int) => u64::try_from(int)
            .map(Value::UInt)
            .map_err(|_| EvalError::new("uint() range error")),
        Value::Double(double)
            if double.is_finite() && (0.0..1.844_674_407_370_955_2e19).contains(&double) =>
        {
            Ok(Value::UInt(double.trunc() as u64))
        }
        Value::Double(_) => Err(EvalError::new("uint() range error")),
        Value::String(text) => text
            .parse()
            .map(Value::UInt)
            .map_err(|_| EvalError::new("uint() of a non-integer string")),
        other => Err(no_overload("uint", &other)),
    }
}

fn to_double(value: Value) -> EvalResult<Value> {
    match value {
        Value::Double(double) => Ok(Value::Double(double)),
        Value::Int(int) => Ok(Value::Double(int as f64)),
        Value::UInt(uint) => Ok(Value::Double(uint as f64)),
        Value::String(text) => text
            .parse()
            .map(Value::Double)
            .map_err(|_| EvalError::new("double() of a non-numeric string")),
        other => Err(no_overload("double", &other)),
    }
}

fn to_string(value: Value) -> EvalResult<Value> {
    let text = match value {
        Value::String(text) => return Ok(Value::String(text)),
        Value::Bool(flag) => flag.to_string(),
        Value::Int(int) => int.to_string(),
        Value::UInt(uint) => uint.to_string(),
        Value::Double(double) => format_double(double),
        Value::Bytes(bytes) => String::from_utf8(bytes.to_vec())
            .map_err(|_| EvalError::new("string() of invalid UTF-8 bytes"))?,
        Value::Timestamp(time) => time.to_string(),
        Value::Duration(span) => span.to_string(),
        Value::Type(name) => name.to_owned(),
        other => return Err(no_overload("string", &other)),
    };
    Ok(Value::String(Arc::from(text)))
}

fn to_bool(value: Value) -> EvalResult<Value> {
    match value {
        Value::Bool(flag) => Ok(Value::Bool(flag)),
        Value::String(text) => match &*text {
            "1" | "t" | "true" | "TRUE" | "True" => Ok(Value::Bool(true)),
            "0" | "f" | "false" | "FALSE" | "False" => Ok(Value::Bool(false)),
            _ => Err(EvalError::new(format!(
                "type conversion error: bool('{text}')"
            ))),
        },
        other => Err(no_overload("bool", &other)),
    }
}

fn to_bytes(value: Value) -> EvalResult<Value> {
    match value {
        Value::Bytes(bytes) => Ok(Value::Bytes(bytes)),
        Value::String(text) => Ok(Value::Bytes(Arc::from(text.as_bytes()))),
        other => Err(no_overload("bytes", &other)),
    }
}

fn to_timestamp(value: Value) -> EvalResult<Value> {
    match value {
        Value::Timestamp(time) => Ok(Value::Timestamp(time)),
        Value::String(text) => Timestamp::parse(&text).map(Value::Timestamp),
        Value::Int(seconds) => Timestamp::from_seconds(seconds).map(Value::Timestamp),
        other => Err(no_overload("timestamp", &other)),
    }
}

fn to_duration(value: Value) -> EvalResult<Value> {
    match value {
        Value::Duration(span) => Ok(Value::Duration(span)),
        Value::String(text) => Duration::parse(&text).map(Value::Duration),
        Value::Int(seconds) => Duration::from_seconds(seconds).map(Value::Duration),
        other => Err(no_overload("duration", &other)),
    }
}

/// A double as CEL prints it: the shortest text that reads back as the same number, in
/// positional form unless the exponent is below -4 or above 20 (`1e+21`); `NaN`, `+Inf`,
/// `-Inf` for the special values.
pub(crate) fn format_double(double: f64) -> String {
    if double.is_nan() {
        return "NaN".into();
    }
    if double.is_infinite() {
        return if double > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let scientific = format!("{double:e}");
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return double.to_string();
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..21).contains(&exponent) {
        return double.to_string();
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_cel_prints_them() {
        assert_eq!(format_double(123.456), "123.456");
        assert_eq!(format_double(-4.5e-3), "-0.0045");
        assert_eq!(format_double(1e21), "1e+21");
        assert_eq!(format_double(1.5e-7), "1.5e-07");
        assert_eq!(format_double(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_double(1e20), "100000000000000000000");
    }

    #[test]
    fn conversions_fail_outside_their_range() {
        assert!(to_int(Value::Double(1e99)).is_err());
        assert!(to_int(Value::UInt(u64::MAX)).is_err());
        assert!(to_uint(Value::Int(-1)).is_err());
        assert!(to_uint(Value::Double(-0.5)).is_err());
        assert!(to_bool(Value::String("TrUe".into())).is_err());
        assert_eq!(
            to_bool(Value::String("t".into())).unwrap(),
            Value::Bool(true)
        );
    }
}
