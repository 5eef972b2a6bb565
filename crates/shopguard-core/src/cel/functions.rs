//! Functions evaluated over dynamic values: CEL's strings extension (`charAt`, `indexOf`,
//! `replace`, `split`, `format`, `strings.quote`, ...), its math extension (`math.greatest`,
//! `math.abs`, the bit operations, ...) and the timestamp and duration accessors
//! (`getHours`, `getDayOfWeek`, ... with an optional time zone).
//!
//! The compiler resolves a call to one of these by name when the expression is compiled
//! ([`resolve`]); argument types are checked when it runs, and a call with the wrong types or
//! number of arguments is a "no such overload" error, never a panic. Positions in strings
//! count code points, as CEL does.

use std::cmp::Ordering;
use std::sync::Arc;

use super::format::format;
use super::time::CalendarField;
use super::value::{EvalError, EvalResult, Value};

/// A function over evaluated arguments; a method call passes its receiver first.
pub(crate) type Function = fn(&[Value]) -> EvalResult<Value>;

/// The function a call names: `receiver` for the method form (`s.charAt(1)`), otherwise the
/// global form, with its namespace (`math.abs(x)`).
pub(crate) fn resolve(name: &str, receiver: bool) -> Option<Function> {
    if receiver {
        if CalendarField::from_method(name).is_some() {
            return calendar_accessor(name);
        }
        return Some(match name {
            "charAt" => char_at,
            "indexOf" => index_of,
            "lastIndexOf" => last_index_of,
            "replace" => replace,
            "split" => split,
            "substring" => substring,
            "join" => join,
            "reverse" => reverse,
            "format" => format,
            _ => return None,
        });
    }
    Some(match name {
        "strings.quote" => quote,
        "math.greatest" => |args| extreme(args, Ordering::Greater),
        "math.least" => |args| extreme(args, Ordering::Less),
        "math.ceil" => |args| double_op(args, f64::ceil),
        "math.floor" => |args| double_op(args, f64::floor),
        "math.round" => |args| double_op(args, f64::round),
        "math.trunc" => |args| double_op(args, f64::trunc),
        "math.sqrt" => sqrt,
        "math.abs" => abs,
        "math.sign" => sign,
        "math.isNaN" => |args| double_test(args, f64::is_nan),
        "math.isInf" => |args| double_test(args, f64::is_infinite),
        "math.isFinite" => |args| double_test(args, f64::is_finite),
        "math.bitAnd" => |args| bit_op(args, |a, b| a & b),
        "math.bitOr" => |args| bit_op(args, |a, b| a | b),
        "math.bitXor" => |args| bit_op(args, |a, b| a ^ b),
        "math.bitNot" => bit_not,
        "math.bitShiftLeft" => |args| shift(args, true),
        "math.bitShiftRight" => |args| shift(args, false),
        _ => return None,
    })
}

fn no_overload(function: &str, args: &[Value]) -> EvalError {
    let types: Vec<&str> = args.iter().map(Value::type_name).collect();
    EvalError::new(format!(
        "no such overload: {function}({})",
        types.join(", ")
    ))
}

fn index_error(index: i64) -> EvalError {
    EvalError::new(format!("index out of range: {index}"))
}

/// The byte offset of code point `position` in `subject`, if `position` is within
/// `0..=len` (the end counts).
fn byte_offset(subject: &str, position: i64) -> Option<usize> {
    let position = usize::try_from(position).ok()?;
    if position == 0 {
        return Some(0);
    }
    subject
        .char_indices()
        .map(|(offset, _)| offset)
        .chain(std::iter::once(subject.len()))
        .nth(position)
}

fn char_count(subject: &str, byte_offset: usize) -> i64 {
    subject[..byte_offset].chars().count() as i64
}

fn char_at(args: &[Value]) -> EvalResult<Value> {
    let [Value::String(subject), Value::Int(position)] = args else {
        return Err(no_overload("charAt", args));
    };
    let start = byte_offset(subject, *position).ok_or_else(|| index_error(*position))?;
    let found: String = subject[start..].chars().take(1).collect();
    Ok(Value::String(Arc::from(found)))
}

fn index_of(args: &[Value]) -> EvalResult<Value> {
    let (subject, part, from) = match args {
        [Value::String(subject), Value::String(part)] => (subject, part, 0),
        [Value::String(subject), Value::String(part), Value::Int(from)] => (subject, part, *from),
        _ => return Err(no_overload("indexOf", args)),
    };
    let start = byte_offset(subject, from).ok_or_else(|| index_error(from))?;
    Ok(Value::Int(
        subject[start..]
            .find(&**part)
            .map_or(-1, |found| char_count(subject, start + found)),
    ))
}

fn last_index_of(args: &[Value]) -> EvalResult<Value> {
    let (subject, part, last) = match args {
        [Value::String(subject), Value::String(part)] => {
            (subject, part, subject.chars().count() as i64)
        }
        [Value::String(subject), Value::String(part), Value::Int(last)] => (subject, part, *last),
        _ => return Err(no_overload("lastIndexOf", args)),
    };
    let start = byte_offset(subject, last).ok_or_else(|| index_error(last))?;
    // The last match that begins at or before `last` (it may run past it).
    let found = (0..=start)
        .rev()
        .filter(|offset| subject.is_char_boundary(*offset))
        .find(|offset| subject[*offset..].starts_with(&**part));
    Ok(Value::Int(
        found.map_or(-1, |offset| char_count(subject, offset)),
    ))
}

fn replace(args: &[Value]) -> EvalResult<Value> {
    let (subject, from, to, limit) = match args {
        [Value::String(subject), Value::String(from), Value::String(to)] => (subject, from, to, -1),
        [Value::String(subject), Value::String(from), Value::String(to), Value::Int(limit)] => {
            (subject, from, to, *limit)
        }
        _ => return Err(no_overload("replace", args)),
    };
    let replaced = match usize::try_from(limit) {
        Ok(count) => subject.replacen(&**from, to, count),
        Err(_) => subject.replace(&**from, to),
    };
    Ok(Value::String(Arc::from(replaced)))
}

fn split(args: &[Value]) -> EvalResult<Value> {
    let (subject, separator, limit) = match args {
        [Value::String(subject), Value::String(separator)] => (subject, separator, -1),
        [Value::String(subject), Value::String(separator), Value::Int(limit)] => {
            (subject, separator, *limit)
        }
        _ => return Err(no_overload("split", args)),
    };
    let piece = |part: &str| Value::String(Arc::from(part));
    let parts: Vec<Value> = match usize::try_from(limit) {
        Ok(0) => Vec::new(),
        Ok(count) if separator.is_empty() => {
            let mut parts: Vec<Value> = Vec::new();
            let mut rest: &str = subject;
            while parts.len() + 1 < count {
                let mut chars = rest.chars();
                let Some(first) = chars.next() else { break };
                parts.push(piece(&first.to_string()));
                rest = chars.as_str();
            }
            if !rest.is_empty() {
                parts.push(piece(rest));
            }
            parts
        }
        Ok(count) => subject.splitn(count, &**separator).map(piece).collect(),
        Err(_) if separator.is_empty() => subject
            .chars()
            .map(|character| piece(&character.to_string()))
            .collect(),
        Err(_) => subject.split(&**separator).map(piece).collect(),
    };
    Ok(Value::List(parts.into()))
}

fn substring(args: &[Value]) -> EvalResult<Value> {
    let (subject, start, end) = match args {
        [Value::String(subject), Value::Int(start)] => {
            (subject, *start, subject.chars().count() as i64)
        }
        [Value::String(subject), Value::Int(start), Value::Int(end)] => (subject, *start, *end),
        _ => return Err(no_overload("substring", args)),
    };
    let start_offset = byte_offset(subject, start).ok_or_else(|| index_error(start))?;
    let end_offset = byte_offset(subject, end).ok_or_else(|| index_error(end))?;
    if start > end {
        return Err(EvalError::new(format!(
            "invalid substring range. start: {start}, end: {end}"
        )));
    }
    Ok(Value::String(Arc::from(&subject[start_offset..end_offset])))
}

fn join(args: &[Value]) -> EvalResult<Value> {
    let (items, separator) = match args {
        [Value::List(items)] => (items, ""),
        [Value::List(items), Value::String(separator)] => (items, &**separator),
        _ => return Err(no_overload("join", args)),
    };
    let mut joined = String::new();
    for (position, item) in items.iter().enumerate() {
        if position > 0 {
            joined.push_str(separator);
        }
        joined.push_str(item.as_str()?);
    }
    Ok(Value::String(Arc::from(joined)))
}

fn reverse(args: &[Value]) -> EvalResult<Value> {
    match args {
        [Value::String(subject)] => Ok(Value::String(Arc::from(
            subject.chars().rev().collect::<String>(),
        ))),
        [Value::List(items)] => Ok(Value::List(items.iter().rev().cloned().collect())),
        _ => Err(no_overload("reverse", args)),
    }
}

fn quote(args: &[Value]) -> EvalResult<Value> {
    let [Value::String(subject)] = args else {
        return Err(no_overload("strings.quote", args));
    };
    let mut quoted = String::with_capacity(subject.len() + 2);
    quoted.push('"');
    for character in subject.chars() {
        match character {
            '\u{7}' => quoted.push_str("\\a"),
            '\u{8}' => quoted.push_str("\\b"),
            '\u{c}' => quoted.push_str("\\f"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            '\u{b}' => quoted.push_str("\\v"),
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    Ok(Value::String(Arc::from(quoted)))
}

fn calendar_accessor(name: &str) -> Option<Function> {
    macro_rules! accessor {
        ($field:expr) => {
            |args: &[Value]| match args {
                [Value::Timestamp(time)] => time.field($field, None).map(Value::Int),
                [Value::Timestamp(time), Value::String(zone)] => {
                    time.field($field, Some(zone)).map(Value::Int)
                }
                [Value::Duration(span)] => span.field($field).map(Value::Int),
                _ => Err(no_overload("calendar accessor", args)),
            }
        };
    }
    Some(match CalendarField::from_method(name)? {
        CalendarField::FullYear => accessor!(CalendarField::FullYear),
        CalendarField::Month => accessor!(CalendarField::Month),
        CalendarField::Date => accessor!(CalendarField::Date),
        CalendarField::DayOfMonth => accessor!(CalendarField::DayOfMonth),
        CalendarField::DayOfWeek => accessor!(CalendarField::DayOfWeek),
        CalendarField::DayOfYear => accessor!(CalendarField::DayOfYear),
        CalendarField::Hours => accessor!(CalendarField::Hours),
        CalendarField::Minutes => accessor!(CalendarField::Minutes),
        CalendarField::Seconds => accessor!(CalendarField::Seconds),
        CalendarField::Milliseconds => accessor!(CalendarField::Milliseconds),
    })
}

fn is_number(value: &Value) -> bool {
    matches!(value, Value::Int(_) | Value::UInt(_) | Value::Double(_))
}

/// `math.greatest` / `math.least` over several numbers or one list of them.
fn extreme(args: &[Value], wanted: Ordering) -> EvalResult<Value> {
    let name = if wanted == Ordering::Greater {
        "math.greatest"
    } else {
        "math.least"
    };
    let candidates: &[Value] = match args {
        [Value::List(items)] => items,
        [single] if !is_number(single) => return Err(no_overload(name, args)),
        _ => args,
    };
    let mut best: Option<&Value> = None;
    for candidate in candidates {
        if !is_number(candidate) {
            return Err(no_overload(name, args));
        }
        best = match best {
            None => Some(candidate),
            Some(current) => match candidate.cel_compare(current) {
                Ok(ordering) if ordering == wanted => Some(candidate),
                Ok(_) => Some(current),
                // NaN: it wins, as the specification's examples have it.
                Err(_) if matches!(candidate, Value::Double(double) if double.is_nan()) => {
                    Some(candidate)
                }
                Err(_) => Some(current),
            },
        };
    }
    best.cloned().ok_or_else(|| no_overload(name, args))
}

fn double_op(args: &[Value], operation: fn(f64) -> f64) -> EvalResult<Value> {
    match args {
        [Value::Double(double)] => Ok(Value::Double(operation(*double))),
        _ => Err(no_overload("math function", args)),
    }
}

fn double_test(args: &[Value], test: fn(f64) -> bool) -> EvalResult<Value> {
    match args {
        [Value::Double(double)] => Ok(Value::Bool(test(*double))),
        _ => Err(no_overload("math test", args)),
    }
}

fn sqrt(args: &[Value]) -> EvalResult<Value> {
    match args {
        [Value::Double(double)] => Ok(Value::Double(double.sqrt())),
        [Value::Int(int)] => Ok(Value::Double((*int as f64).sqrt())),
        [Value::UInt(uint)] => Ok(Value::Double((*uint as f64).sqrt())),
        _ => Err(no_overload("math.sqrt", args)),
    }
}

fn abs(args: &[Value]) -> EvalResult<Value> {
    match args {
        [Value::Int(int)] => int
            .checked_abs()
            .map(Value::Int)
            .ok_or_else(|| EvalError::new("integer overflow in math.abs")),
        [Value::UInt(uint)] => Ok(Value::UInt(*uint)),
        [Value::Double(double)] => Ok(Value::Double(double.abs())),
        _ => Err(no_overload("math.abs", args)),
    }
}

fn sign(args: &[Value]) -> EvalResult<Value> {
    match args {
        [Value::Int(int)] => Ok(Value::Int(int.signum())),
        [Value::UInt(uint)] => Ok(Value::UInt(u64::from(*uint > 0))),
        [Value::Double(double)] if double.is_nan() || *double == 0.0 => Ok(Value::Double(*double)),
        [Value::Double(double)] => Ok(Value::Double(double.signum())),
        _ => Err(no_overload("math.sign", args)),
    }
}

fn bit_op(args: &[Value], operation: fn(u64, u64) -> u64) -> EvalResult<Value> {
    match args {
        [Value::Int(a), Value::Int(b)] => Ok(Value::Int(operation(*a as u64, *b as u64) as i64)),
        [Value::UInt(a), Value::UInt(b)] => Ok(Value::UInt(operation(*a, *b))),
        _ => Err(no_overload("math bit operation", args)),
    }
}

fn bit_not(args: &[Value]) -> EvalResult<Value> {
    match args {
        [Value::Int(int)] => Ok(Value::Int(!int)),
        [Value::UInt(uint)] => Ok(Value::UInt(!uint)),
        _ => Err(no_overload("math.bitNot", args)),
    }
}

/// `math.bitShiftLeft` / `math.bitShiftRight`: shifts of 64 or more give 0; a right shift of
/// an `int` is logical (the sign bit is not copied); a negative offset is an error.
fn shift(args: &[Value], left: bool) -> EvalResult<Value> {
    let (bits, offset, signed) = match args {
        [Value::Int(int), Value::Int(offset)] => (*int as u64, *offset, true),
        [Value::UInt(uint), Value::Int(offset)] => (*uint, *offset, false),
        _ => return Err(no_overload("math bit shift", args)),
    };
    let Ok(offset) = u32::try_from(offset) else {
        return Err(EvalError::new(format!(
            "math bit shift: negative offset {offset}"
        )));
    };
    let shifted = if offset >= 64 {
        0
    } else if left {
        bits << offset
    } else {
        bits >> offset
    };
    Ok(if signed {
        Value::Int(shifted as i64)
    } else {
        Value::UInt(shifted)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(text: &str) -> Value {
        Value::String(Arc::from(text))
    }

    #[test]
    fn positions_count_code_points() {
        let subject = string("ta©o©αT");
        assert_eq!(
            index_of(&[subject.clone(), string("©"), Value::Int(3)]).unwrap(),
            Value::Int(4)
        );
        assert_eq!(
            last_index_of(&[subject.clone(), string("©α"), Value::Int(4)]).unwrap(),
            Value::Int(4)
        );
        assert_eq!(
            substring(&[subject.clone(), Value::Int(2), Value::Int(6)]).unwrap(),
            string("©o©α")
        );
        assert!(char_at(&[subject.clone(), Value::Int(8)]).is_err());
        assert!(substring(&[subject, Value::Int(-1)]).is_err());
    }

    #[test]
    fn wrong_argument_types_are_errors() {
        assert!(char_at(&[Value::Int(42), Value::Int(2)]).is_err());
        assert!(split(&[string("42"), Value::Int(2)]).is_err());
        assert!(extreme(&[], Ordering::Greater).is_err());
        assert!(shift(&[Value::UInt(1), Value::Int(-1)], true).is_err());
        assert!(abs(&[Value::Int(i64::MIN)]).is_err());
    }
}
