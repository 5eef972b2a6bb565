//! Whole numbers as JSON spells them: `15`, and also `15.0` or `1.5e1`.
//!
//! JSON has one number type, and many clients (JavaScript's, for one, once a value has gone
//! through arithmetic) write a whole number with a zero fraction. serde's integer types
//! refuse those; the functions here accept any JSON number whose value is whole and fits the
//! target type, and refuse the rest with serde's own wording
//! (`invalid type: floating point `15.5`, expected an integer`).
//!
//! Use them on integer fields of JSON bodies: `#[serde(deserialize_with =
//! "shopguard_core::whole_number::deserialize")]`, or [`deserialize_option`] (with
//! `#[serde(default)]`) for an optional one. Query strings are not JSON and keep their own
//! parsing.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, Error, Unexpected, Visitor};
use serde::Deserialize;

/// A whole number of type `T`, read from any JSON number with a whole value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Whole<T>(pub T);

impl<'de, T: TryFrom<i128>> Deserialize<'de> for Whole<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(WholeVisitor(PhantomData))
            .map(Whole)
    }
}

/// Reads a required whole number; see the module documentation.
pub fn deserialize<'de, D: Deserializer<'de>, T: TryFrom<i128>>(
    deserializer: D,
) -> Result<T, D::Error> {
    Whole::<T>::deserialize(deserializer).map(|Whole(value)| value)
}

/// Reads an optional whole number (`null` for none); see the module documentation.
pub fn deserialize_option<'de, D: Deserializer<'de>, T: TryFrom<i128>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Option::<Whole<T>>::deserialize(deserializer).map(|value| value.map(|Whole(value)| value))
}

/// Largest magnitude of a float that still converts to an `i128` without saturating.
const I128_LIMIT: f64 = 1.7e38;

struct WholeVisitor<T>(PhantomData<T>);

impl<T: TryFrom<i128>> WholeVisitor<T> {
    fn fit<E: Error>(value: i128, unexpected: Unexpected<'_>) -> Result<T, E> {
        T::try_from(value).map_err(|_| {
            E::invalid_value(
                unexpected,
                &format!("an integer in the range of {}", std::any::type_name::<T>()).as_str(),
            )
        })
    }
}

impl<T: TryFrom<i128>> Visitor<'_> for WholeVisitor<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an integer")
    }

    fn visit_i64<E: Error>(self, value: i64) -> Result<T, E> {
        Self::fit(i128::from(value), Unexpected::Signed(value))
    }

    fn visit_u64<E: Error>(self, value: u64) -> Result<T, E> {
        Self::fit(i128::from(value), Unexpected::Unsigned(value))
    }

    fn visit_i128<E: Error>(self, value: i128) -> Result<T, E> {
        Self::fit(value, Unexpected::Other("a 128-bit integer"))
    }

    fn visit_u128<E: Error>(self, value: u128) -> Result<T, E> {
        let value = i128::try_from(value)
            .map_err(|_| E::invalid_value(Unexpected::Other("a 128-bit integer"), &self))?;
        Self::fit(value, Unexpected::Other("a 128-bit integer"))
    }

    fn visit_f64<E: Error>(self, value: f64) -> Result<T, E> {
        if !value.is_finite() || value.fract() != 0.0 {
            return Err(E::invalid_type(Unexpected::Float(value), &self));
        }
        if value.abs() >= I128_LIMIT {
            return Err(E::invalid_value(Unexpected::Float(value), &self));
        }
        // Whole and within range: the conversion is exact.
        Self::fit(value as i128, Unexpected::Float(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Body {
        #[serde(deserialize_with = "deserialize")]
        count: u32,
        #[serde(default, deserialize_with = "deserialize_option")]
        at: Option<i64>,
    }

    fn read(text: &str) -> Result<Body, String> {
        serde_json::from_str(text).map_err(|error| error.to_string())
    }

    #[test]
    fn a_zero_fraction_is_a_whole_number() {
        assert_eq!(read(r#"{"count": 15.0}"#).unwrap().count, 15);
        assert_eq!(read(r#"{"count": 1.5e1}"#).unwrap().count, 15);
        assert_eq!(read(r#"{"count": 15, "at": -3.00}"#).unwrap().at, Some(-3));
        assert_eq!(read(r#"{"count": 0, "at": -0}"#).unwrap().at, Some(0));
        assert_eq!(read(r#"{"count": 1, "at": null}"#).unwrap().at, None);
        assert_eq!(read(r#"{"count": 1}"#).unwrap().at, None);
    }

    #[test]
    fn a_fraction_or_a_number_out_of_range_is_refused_clearly() {
        let error = read(r#"{"count": 15.5}"#).unwrap_err();
        assert!(
            error.contains("floating point `15.5`, expected an integer"),
            "{error}"
        );
        let error = read(r#"{"count": -1}"#).unwrap_err();
        assert!(error.contains("in the range of u32"), "{error}");
        let error = read(r#"{"count": 4294967296.0}"#).unwrap_err();
        assert!(error.contains("in the range of u32"), "{error}");
        assert!(read(r#"{"count": 1e300}"#).is_err());
        assert!(read(r#"{"count": "15"}"#).is_err());
    }
}
