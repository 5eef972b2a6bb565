//! `text.format(list)` of CEL's strings extension: `%s`, `%d`, `%f`, `%e`, `%b`, `%o`, `%x`,
//! `%X` and `%%`, with an optional precision (`%.3f`) for the floating-point clauses.
//!
//! `%s` prints any value except messages: lists as `[a, b]` and maps as `{k: v}` with their
//! entries sorted by the printed key, strings inside them unquoted. A clause applied to a
//! value it does not take, or without an argument left, is an error.

use std::sync::Arc;

use super::convert::format_double;
use super::value::{EvalError, EvalResult, Value};

/// `format(text, list)`: the receiver and its one argument.
pub(crate) fn format(args: &[Value]) -> EvalResult<Value> {
    let [Value::String(template), Value::List(arguments)] = args else {
        return Err(EvalError::new("no such overload: format"));
    };
    let mut output = String::with_capacity(template.len());
    let mut next_argument = 0usize;
    let mut chars = template.chars().peekable();
    while let Some(character) = chars.next() {
        if character != '%' {
            output.push(character);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            output.push('%');
            continue;
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut digits = String::new();
            while let Some(digit) = chars.peek().filter(|c| c.is_ascii_digit()) {
                digits.push(*digit);
                chars.next();
            }
            precision =
                Some(digits.parse().map_err(|_| {
                    EvalError::new("could not parse formatting clause: bad precision")
                })?);
        }
        let Some(verb) = chars.next() else {
            return Err(EvalError::new(
                "could not parse formatting clause: missing clause",
            ));
        };
        if !matches!(verb, 's' | 'd' | 'f' | 'e' | 'b' | 'o' | 'x' | 'X') {
            return Err(EvalError::new(format!(
                "could not parse formatting clause: unrecognized formatting clause \"{verb}\""
            )));
        }
        let argument = arguments
            .get(next_argument)
            .ok_or_else(|| EvalError::new(format!("index {next_argument} out of range")))?;
        next_argument += 1;
        output.push_str(&clause(verb, precision, argument)?);
    }
    Ok(Value::String(Arc::from(output)))
}

fn formatting_error(message: &str, value: &Value) -> EvalError {
    EvalError::new(format!(
        "error during formatting: {message}, was given {}",
        value.type_name()
    ))
}

/// NaN and the infinities, as the numeric clauses print them.
fn special_double(double: f64) -> Option<String> {
    if double.is_nan() {
        Some("NaN".into())
    } else if double.is_infinite() {
        Some(
            if double > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            }
            .into(),
        )
    } else {
        None
    }
}

fn clause(verb: char, precision: Option<usize>, value: &Value) -> EvalResult<String> {
    match verb {
        's' => plain(value),
        'd' => match value {
            Value::Int(int) => Ok(int.to_string()),
            Value::UInt(uint) => Ok(uint.to_string()),
            Value::Double(double) => special_double(*double).ok_or_else(|| {
                formatting_error("decimal clause can only be used on integers", value)
            }),
            _ => Err(formatting_error(
                "decimal clause can only be used on integers",
                value,
            )),
        },
        'f' => match value {
            Value::Double(double) => Ok(special_double(*double)
                .unwrap_or_else(|| format!("{:.*}", precision.unwrap_or(6).min(64), double))),
            _ => Err(formatting_error(
                "fixed-point clause can only be used on doubles",
                value,
            )),
        },
        'e' => match value {
            Value::Double(double) => Ok(special_double(*double)
                .unwrap_or_else(|| scientific(*double, precision.unwrap_or(6).min(64)))),
            _ => Err(formatting_error(
                "scientific clause can only be used on doubles",
                value,
            )),
        },
        'b' => match value {
            Value::Int(int) if *int < 0 => Ok(format!("-{:b}", int.unsigned_abs())),
            Value::Int(int) => Ok(format!("{int:b}")),
            Value::UInt(uint) => Ok(format!("{uint:b}")),
            Value::Bool(flag) => Ok(u8::from(*flag).to_string()),
            _ => Err(formatting_error(
                "only integers and bools can be formatted as binary",
                value,
            )),
        },
        'o' => match value {
            Value::Int(int) if *int < 0 => Ok(format!("-{:o}", int.unsigned_abs())),
            Value::Int(int) => Ok(format!("{int:o}")),
            Value::UInt(uint) => Ok(format!("{uint:o}")),
            _ => Err(formatting_error(
                "octal clause can only be used on integers",
                value,
            )),
        },
        _ => {
            let lower = match value {
                Value::Int(int) if *int < 0 => format!("-{:x}", int.unsigned_abs()),
                Value::Int(int) => format!("{int:x}"),
                Value::UInt(uint) => format!("{uint:x}"),
                Value::String(text) => hex(text.as_bytes()),
                Value::Bytes(bytes) => hex(bytes),
                _ => {
                    return Err(formatting_error(
                        "only integers, byte buffers, and strings can be formatted as hex",
                        value,
                    ))
                }
            };
            Ok(if verb == 'X' {
                lower.to_ascii_uppercase()
            } else {
                lower
            })
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `d.dddddde±XX`, with at least two exponent digits.
fn scientific(double: f64, precision: usize) -> String {
    let rust_form = format!("{double:.precision$e}");
    let Some((mantissa, exponent)) = rust_form.split_once('e') else {
        return rust_form;
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
}

/// `%s` of a value.
fn plain(value: &Value) -> EvalResult<String> {
    Ok(match value {
        Value::Null => "null".into(),
        Value::Bool(flag) => flag.to_string(),
        Value::Int(int) => int.to_string(),
        Value::UInt(uint) => uint.to_string(),
        Value::Double(double) => special_double(*double).unwrap_or_else(|| format_double(*double)),
        Value::String(text) => text.to_string(),
        Value::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::Timestamp(time) => time.to_string(),
        Value::Duration(span) => span.to_string(),
        Value::Type(name) => (*name).to_owned(),
        Value::List(items) => {
            let parts = items.iter().map(plain).collect::<EvalResult<Vec<_>>>()?;
            format!("[{}]", parts.join(", "))
        }
        Value::Map(entries) => {
            let mut parts = entries
                .iter()
                .map(|(key, value)| Ok((plain(key)?, plain(value)?)))
                .collect::<EvalResult<Vec<_>>>()?;
            parts.sort();
            let parts: Vec<String> = parts
                .into_iter()
                .map(|(key, value)| format!("{key}: {value}"))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(template: &str, arguments: Vec<Value>) -> EvalResult<Value> {
        format(&[
            Value::String(Arc::from(template)),
            Value::List(arguments.into()),
        ])
    }

    #[test]
    fn clauses_print_as_specified() {
        let printed = run(
            "%s|%d|%.3f|%e|%b|%o|%x|%X|%%",
            vec![
                Value::String(Arc::from("a")),
                Value::Int(-4),
                Value::Double(1.2345),
                Value::Double(1052.032911275),
                Value::Int(5),
                Value::Int(11),
                Value::Int(30),
                Value::UInt(6000),
            ],
        )
        .unwrap();
        assert_eq!(
            printed,
            Value::String(Arc::from("a|-4|1.234|1.052033e+03|101|13|1e|1770|%"))
        );
    }

    #[test]
    fn misuse_is_an_error() {
        assert!(run("%a", vec![Value::Int(1)]).is_err());
        assert!(run("%d %d", vec![Value::Int(1)]).is_err());
        assert!(run("%b", vec![Value::String(Arc::from("abc"))]).is_err());
        assert!(run("%.", vec![Value::Double(1.0)]).is_err());
        assert!(run("%", vec![]).is_err());
    }
}
