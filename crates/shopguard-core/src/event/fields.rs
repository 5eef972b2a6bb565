//! The machinery behind the event field table in `event.rs`: one row per field a client may
//! send, and from it everything that must agree on the fields.
//!
//! From the rows, [`event_fields!`] derives
//! - the wire type (`EventInput`) and the validated type (`Event`), field for field in the
//!   table's order, which is also the order of their JSON;
//! - the plain part of validation (length limits and normalisers named in the row), in the
//!   table's order, after the checks written by hand;
//! - the hand-written JSON reader's arm for each field (so no field can fall back to serde
//!   for want of an arm), and the JSON writer;
//! - the fields that CEL rules see as `event.<field>`;
//! - the record format's presence bit of each optional field, written in the row (`@ n`),
//!   never derived from the row's position.
//!
//! # Shapes
//! Each row names a shape, which fixes the field's types on both sides and how it is read,
//! checked, written and stored:
//!
//! | shape | input | event | presence bit |
//! |---|---|---|---|
//! | `Id(generated)`, `Id(required)` | text | `String` (generated when absent / required) | none |
//! | `Kind` | `EventKind` | `EventKind` (checked by hand) | none |
//! | `Time` | integer | `i64` (checked by hand) | none |
//! | `Channel` | `Channel` | `Channel` (`unknown` when absent) | none |
//! | `Ip` | text | `Option<IpAddr>` (parsed by hand) | required |
//! | `Text(limit)`, `Text(limit, normaliser)` | text | `Option<String>`, at most `limit` bytes | required |
//! | `LocationLatitude`, `LocationLongitude` | number each | one `location: Option<(f64, f64)>` (paired by hand) | on the latitude row |
//! | `Number` | number | `Option<f64>` | required |
//! | `Flag` | bool | `Option<bool>` | required |
//! | `Attrs` | map | `BTreeMap` (checked by hand), empty when absent | none |
//!
//! A row of an optional shape without a bit, or an envelope row with one, does not compile;
//! two rows with the same bit, or a bit of 64 or more, fail a compile-time check.

use std::net::IpAddr;

use crate::event::{Channel, EventKind};

/// How an optional event field is stored in a binary record: the type of its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredType {
    /// A string: length and UTF-8 bytes.
    Text,
    /// An IP address: its family, then 4 or 16 bytes.
    Ip,
    /// Two numbers (a location's latitude and longitude).
    Pair,
    /// One number.
    Number,
    /// A boolean.
    Flag,
}

/// The value of one optional event field, as a binary record holds it. `S` is `&str` when an
/// event is written and `String` when one is read.
#[derive(Clone, Debug, PartialEq)]
pub enum StoredValue<S> {
    /// A string field.
    Text(S),
    /// An IP address.
    Ip(IpAddr),
    /// A pair of numbers.
    Pair(f64, f64),
    /// A number.
    Number(f64),
    /// A boolean.
    Flag(bool),
}

/// One optional event field in the record format: its name in `Event`, its presence bit and
/// the type of its value. Bits are fixed forever once stored; see `Event::STORED_FIELDS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredField {
    /// The field's name in `Event` (and in its JSON).
    pub name: &'static str,
    /// Its presence bit: bit `n` of a record's presence set says the field follows.
    pub bit: u32,
    /// The type of its value.
    pub value: StoredType,
}

/// Where a binary record's reader takes the values of stored fields from; one method per
/// [`StoredType`]. The table's `Event::read_stored_field` calls the one its field needs.
pub trait StoredSource {
    /// Why a value could not be read.
    type Error;
    /// A string.
    fn text(&mut self) -> Result<String, Self::Error>;
    /// An IP address.
    fn ip(&mut self) -> Result<IpAddr, Self::Error>;
    /// A pair of numbers.
    fn pair(&mut self) -> Result<(f64, f64), Self::Error>;
    /// A number.
    fn number(&mut self) -> Result<f64, Self::Error>;
    /// A boolean.
    fn flag(&mut self) -> Result<bool, Self::Error>;
}

/// Where the JSON reader takes a field's value from; one method per input type. Each returns
/// `None` when the value does not read (the caller then parses the slow way), `Some(None)` for
/// `null`.
pub(crate) trait InputValues {
    /// A string.
    fn text(&mut self) -> Option<Option<String>>;
    /// An event kind by its wire name.
    fn kind(&mut self) -> Option<Option<EventKind>>;
    /// An integer.
    fn integer(&mut self) -> Option<Option<i64>>;
    /// A number.
    fn number(&mut self) -> Option<Option<f64>>;
    /// A boolean.
    fn flag(&mut self) -> Option<Option<bool>>;
    /// A channel by its wire name.
    fn channel(&mut self) -> Option<Option<Channel>>;
    /// The free attributes.
    fn attrs(&mut self) -> Option<Option<std::collections::BTreeMap<String, serde_json::Value>>>;
}

/// Panics at compile time when two stored fields share a bit or a bit does not fit in 64.
pub(crate) const fn check_stored_bits(fields: &[StoredField]) {
    let mut index = 0;
    while index < fields.len() {
        assert!(
            fields[index].bit < 64,
            "an event field's presence bit must be below 64"
        );
        let mut other = index + 1;
        while other < fields.len() {
            assert!(
                fields[index].bit != fields[other].bit,
                "two event fields share a presence bit"
            );
            other += 1;
        }
        index += 1;
    }
}

/// The presence bit of the stored field `name`, if there is one (usable in constants).
pub const fn stored_bit(fields: &[StoredField], name: &str) -> Option<u32> {
    let mut index = 0;
    while index < fields.len() {
        let candidate = fields[index].name.as_bytes();
        let wanted = name.as_bytes();
        if candidate.len() == wanted.len() {
            let mut at = 0;
            while at < wanted.len() && candidate[at] == wanted[at] {
                at += 1;
            }
            if at == wanted.len() {
                return Some(fields[index].bit);
            }
        }
        index += 1;
    }
    None
}

/// Declares the event types and everything derived from their field table; see the module
/// documentation. Invoked once, in `event.rs`.
macro_rules! event_fields {
    // ---- `EventInput`, one row at a time: each shape's input type is written out as plain
    // tokens (derives such as utoipa's do not expand macros in field types).
    (@input [$(#[$meta:meta])* pub struct $input:ident] [$($fields:tt)*]) => {
        $(#[$meta])*
        pub struct $input {
            $($fields)*
        }
    };
    // The fields every event needs are required and never `null` in the OpenAPI schema
    // (serde still reads them as options, so that validation names the missing one). Ids
    // carry the identifier rule as a pattern: the literal is `identifier::PATTERN` (utoipa
    // takes only a literal; a test compares the two).
    (@input $head:tt $fields:tt $docs:tt $name:ident Id [required] $bit:tt $($rest:tt)*) => {
        event_fields!(@input_push [::std::string::String]
            [#[cfg_attr(feature = "openapi", schema(value_type = String, required = true,
                min_length = 1, max_length = 256, pattern =
                r"^[^\x00-\x1F\x7F-\x9F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\uFEFF]*$"))]]
            $head $fields $docs $name $($rest)*);
    };
    (@input $head:tt $fields:tt $docs:tt $name:ident Id $args:tt $bit:tt $($rest:tt)*) => {
        event_fields!(@input_push [::std::string::String]
            [#[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256,
                pattern =
                r"^[^\x00-\x1F\x7F-\x9F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\uFEFF]*$"))]]
            $head $fields $docs $name $($rest)*);
    };
    (@input $head:tt $fields:tt $docs:tt $name:ident Kind $args:tt $bit:tt $($rest:tt)*) => {
        event_fields!(@input_push [$crate::event::EventKind]
            [#[cfg_attr(feature = "openapi", schema(value_type = EventKind,
                required = true))]]
            $head $fields $docs $name $($rest)*);
    };
    // A time is a whole number, which JSON may also spell `15.0`.
    (@input $head:tt $fields:tt $docs:tt $name:ident Time $args:tt $bit:tt $($rest:tt)*) => {
        event_fields!(@input_push [i64]
            [#[serde(deserialize_with = "crate::whole_number::deserialize_option")]
             #[cfg_attr(feature = "openapi", schema(minimum = 946684800000_i64))]]
            $head $fields $docs $name $($rest)*);
    };
    (@input $head:tt $fields:tt $docs:tt $name:ident Channel $args:tt $bit:tt $($rest:tt)*) => {
        event_fields!(@input_push [$crate::event::Channel] [] $head $fields $docs $name $($rest)*);
    };
    (@input $head:tt $fields:tt $docs:tt $name:ident Ip $args:tt $bit:tt $($rest:tt)*) => {
        event_fields!(@input_push [::std::string::String] [] $head $fields $docs $name $($rest)*);
    };
    (@input $head:tt $fields:tt $docs:tt $name:ident Text $args:tt $bit:tt $($rest:tt)*) => {
        event_fields!(@input_push [::std::string::String] [] $head $fields $docs $name $($rest)*);
    };
    (@input $head:tt $fields:tt $docs:tt $name:ident LocationLatitude $args:tt $bit:tt
        $($rest:tt)*) => {
        event_fields!(@input_push [f64] [] $head $fields $docs $name $($rest)*);
    };
    (@input $head:tt $fields:tt $docs:tt $name:ident LocationLongitude $args:tt $bit:tt
        $($rest:tt)*) => {
        event_fields!(@input_push [f64] [] $head $fields $docs $name $($rest)*);
    };
    (@input $head:tt $fields:tt $docs:tt $name:ident Number $args:tt $bit:tt $($rest:tt)*) => {
        event_fields!(@input_push [f64] [] $head $fields $docs $name $($rest)*);
    };
    (@input $head:tt $fields:tt $docs:tt $name:ident Flag $args:tt $bit:tt $($rest:tt)*) => {
        event_fields!(@input_push [bool] [] $head $fields $docs $name $($rest)*);
    };
    (@input $head:tt $fields:tt $docs:tt $name:ident Attrs $args:tt $bit:tt $($rest:tt)*) => {
        event_fields!(@input_push
            [::std::collections::BTreeMap<::std::string::String, ::serde_json::Value>] []
            $head $fields $docs $name $($rest)*);
    };
    (@input_push [$($type:tt)*] [$($extra:tt)*] $head:tt [$($fields:tt)*]
        [$(#[$doc:meta])*] $name:ident $($rest:tt)*) => {
        event_fields!(@input $head [$($fields)*
            $(#[$doc])*
            $($extra)*
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub $name: Option<$($type)*>,
        ] $($rest)*);
    };

    // ---- The hand reader's value for each shape.
    (@read Id $values:ident) => { $values.text() };
    (@read Kind $values:ident) => { $values.kind() };
    (@read Time $values:ident) => { $values.integer() };
    (@read Channel $values:ident) => { $values.channel() };
    (@read Ip $values:ident) => { $values.text() };
    (@read Text $values:ident) => { $values.text() };
    (@read LocationLatitude $values:ident) => { $values.number() };
    (@read LocationLongitude $values:ident) => { $values.number() };
    (@read Number $values:ident) => { $values.number() };
    (@read Flag $values:ident) => { $values.flag() };
    (@read Attrs $values:ident) => { $values.attrs() };

    // ---- The JSON writer's members: `,"name":value`, absent optional fields left out.
    (@key $name:ident) => { concat!(",\"", stringify!($name), "\":").as_bytes() };
    (@write Id $name:ident $event:ident $out:ident) => {
        $out.extend_from_slice(event_fields!(@key $name));
        $crate::json::write_str($out, &$event.$name)?;
    };
    (@write Kind $name:ident $event:ident $out:ident) => {
        $out.extend_from_slice(event_fields!(@key $name));
        $crate::json::write_str($out, $event.$name.as_str())?;
    };
    (@write Channel $name:ident $event:ident $out:ident) => {
        event_fields!(@write Kind $name $event $out)
    };
    (@write Time $name:ident $event:ident $out:ident) => {
        $out.extend_from_slice(event_fields!(@key $name));
        ::serde_json::to_writer(&mut *$out, &$event.$name)?;
    };
    (@write Ip $name:ident $event:ident $out:ident) => {
        if let Some(ip) = $event.$name {
            $out.extend_from_slice(event_fields!(@key $name));
            $crate::json::write_ip($out, ip)?;
        }
    };
    (@write Text $name:ident $event:ident $out:ident) => {
        if let Some(text) = $event.$name.as_deref() {
            $out.extend_from_slice(event_fields!(@key $name));
            $crate::json::write_str($out, text)?;
        }
    };
    (@write LocationLatitude $name:ident $event:ident $out:ident) => {
        if let Some(location) = &$event.location {
            $out.extend_from_slice(b",\"location\":");
            ::serde_json::to_writer(&mut *$out, location)?;
        }
    };
    (@write LocationLongitude $name:ident $event:ident $out:ident) => {};
    (@write Number $name:ident $event:ident $out:ident) => {
        if let Some(number) = &$event.$name {
            $out.extend_from_slice(event_fields!(@key $name));
            ::serde_json::to_writer(&mut *$out, number)?;
        }
    };
    (@write Flag $name:ident $event:ident $out:ident) => {
        if let Some(flag) = $event.$name {
            $out.extend_from_slice(if flag {
                concat!(",\"", stringify!($name), "\":true").as_bytes()
            } else {
                concat!(",\"", stringify!($name), "\":false").as_bytes()
            });
        }
    };
    (@write Attrs $name:ident $event:ident $out:ident) => {
        if !$event.$name.is_empty() {
            $out.extend_from_slice(event_fields!(@key $name));
            ::serde_json::to_writer(&mut *$out, &$event.$name)?;
        }
    };

    // ---- What CEL sees as `event.<name>`; `None` for the fields the compiler reads itself.
    (@cel Id $name:ident) => {
        Some($crate::cel::schema::FieldReader::Str(|event| Some(event.$name.as_str())))
    };
    (@cel Kind $name:ident) => {
        Some($crate::cel::schema::FieldReader::Str(|event| Some(event.$name.as_str())))
    };
    (@cel Channel $name:ident) => { event_fields!(@cel Kind $name) };
    (@cel Time $name:ident) => {
        Some($crate::cel::schema::FieldReader::Int(|event| Some(event.$name)))
    };
    (@cel Ip $name:ident) => { None };
    (@cel Attrs $name:ident) => { None };
    (@cel Text $name:ident) => {
        Some($crate::cel::schema::FieldReader::Str(|event| event.$name.as_deref()))
    };
    (@cel LocationLatitude $name:ident) => {
        Some($crate::cel::schema::FieldReader::Double(|event| {
            event.location.map(|(latitude, _)| latitude)
        }))
    };
    (@cel LocationLongitude $name:ident) => {
        Some($crate::cel::schema::FieldReader::Double(|event| {
            event.location.map(|(_, longitude)| longitude)
        }))
    };
    (@cel Number $name:ident) => {
        Some($crate::cel::schema::FieldReader::Double(|event| event.$name))
    };
    (@cel Flag $name:ident) => {
        Some($crate::cel::schema::FieldReader::Bool(|event| event.$name))
    };

    // ---- The record format: a stored field's name, type, presence, value and setter.
    (@stored_name LocationLatitude $name:ident) => { "location" };
    (@stored_name $shape:ident $name:ident) => { stringify!($name) };
    (@stored_type Ip) => { $crate::event::StoredType::Ip };
    (@stored_type Text) => { $crate::event::StoredType::Text };
    (@stored_type LocationLatitude) => { $crate::event::StoredType::Pair };
    (@stored_type Number) => { $crate::event::StoredType::Number };
    (@stored_type Flag) => { $crate::event::StoredType::Flag };
    (@present LocationLatitude $name:ident $event:ident) => { $event.location.is_some() };
    (@present $shape:ident $name:ident $event:ident) => { $event.$name.is_some() };
    (@get Ip $name:ident $event:ident) => { $event.$name.map($crate::event::StoredValue::Ip) };
    (@get Text $name:ident $event:ident) => {
        $event.$name.as_deref().map($crate::event::StoredValue::Text)
    };
    (@get LocationLatitude $name:ident $event:ident) => {
        $event
            .location
            .map(|(latitude, longitude)| $crate::event::StoredValue::Pair(latitude, longitude))
    };
    (@get Number $name:ident $event:ident) => { $event.$name.map($crate::event::StoredValue::Number) };
    (@get Flag $name:ident $event:ident) => { $event.$name.map($crate::event::StoredValue::Flag) };
    (@take Ip $name:ident $event:ident $source:ident) => { $event.$name = Some($source.ip()?) };
    (@take Text $name:ident $event:ident $source:ident) => { $event.$name = Some($source.text()?) };
    (@take LocationLatitude $name:ident $event:ident $source:ident) => {
        $event.location = Some($source.pair()?)
    };
    (@take Number $name:ident $event:ident $source:ident) => {
        $event.$name = Some($source.number()?)
    };
    (@take Flag $name:ident $event:ident $source:ident) => { $event.$name = Some($source.flag()?) };

    // ---- The `Event` struct, its assembly from checked input, and its bare form, built one
    // row at a time (a shape decides whether and how a row appears there). `$locals` carries
    // the names of the generated functions' parameters, so that every step's code sees them.
    (@event $head:tt $locals:tt [$($fields:tt)*] [$($assemble:tt)*] [$($bare:tt)*]) => {
        event_fields!(@event_done $head $locals [$($fields)*] [$($assemble)*] [$($bare)*]);
    };
    (@event $head:tt [$input:ident $checked:ident $generated_id:ident $envelope:ident]
        [$($fields:tt)*] [$($assemble:tt)*] [$($bare:tt)*]
        [$(#[$doc:meta])*] $name:ident Id [generated] [] $($rest:tt)*) => {
        event_fields!(@event $head [$input $checked $generated_id $envelope]
            [$($fields)* $(#[$doc])* pub $name: ::std::string::String,]
            [$($assemble)* $name: match id_field(stringify!($name), $input.$name)? {
                Some(id) => id,
                None => $generated_id(),
            },]
            [$($bare)* $name: $envelope.$name,]
            $($rest)*);
    };
    (@event $head:tt [$input:ident $checked:ident $generated_id:ident $envelope:ident]
        [$($fields:tt)*] [$($assemble:tt)*] [$($bare:tt)*]
        [$(#[$doc:meta])*] $name:ident Id [required] [] $($rest:tt)*) => {
        event_fields!(@event $head [$input $checked $generated_id $envelope]
            [$($fields)* $(#[$doc])* pub $name: ::std::string::String,]
            [$($assemble)* $name: id_field(stringify!($name), $input.$name)?
                .ok_or_else(|| EventError::new(stringify!($name), "is required"))?,]
            [$($bare)* $name: $envelope.$name,]
            $($rest)*);
    };
    (@event $head:tt [$input:ident $checked:ident $generated_id:ident $envelope:ident]
        [$($fields:tt)*] [$($assemble:tt)*] [$($bare:tt)*]
        [$(#[$doc:meta])*] $name:ident Kind [] [] $($rest:tt)*) => {
        event_fields!(@event $head [$input $checked $generated_id $envelope]
            [$($fields)* $(#[$doc])* pub $name: $crate::event::EventKind,]
            [$($assemble)* $name: $checked.$name,]
            [$($bare)* $name: $envelope.$name,]
            $($rest)*);
    };
    (@event $head:tt [$input:ident $checked:ident $generated_id:ident $envelope:ident]
        [$($fields:tt)*] [$($assemble:tt)*] [$($bare:tt)*]
        [$(#[$doc:meta])*] $name:ident Time [] [] $($rest:tt)*) => {
        event_fields!(@event $head [$input $checked $generated_id $envelope]
            [$($fields)* $(#[$doc])* pub $name: i64,]
            [$($assemble)* $name: $checked.$name,]
            [$($bare)* $name: $envelope.$name,]
            $($rest)*);
    };
    (@event $head:tt [$input:ident $checked:ident $generated_id:ident $envelope:ident]
        [$($fields:tt)*] [$($assemble:tt)*] [$($bare:tt)*]
        [$(#[$doc:meta])*] $name:ident Channel [] [] $($rest:tt)*) => {
        event_fields!(@event $head [$input $checked $generated_id $envelope]
            [$($fields)* $(#[$doc])* pub $name: $crate::event::Channel,]
            [$($assemble)* $name: $input.$name.unwrap_or_default(),]
            [$($bare)* $name: $envelope.$name,]
            $($rest)*);
    };
    (@event $head:tt [$input:ident $checked:ident $generated_id:ident $envelope:ident]
        [$($fields:tt)*] [$($assemble:tt)*] [$($bare:tt)*]
        [$(#[$doc:meta])*] $name:ident Ip [] [$bit:literal] $($rest:tt)*) => {
        event_fields!(@event $head [$input $checked $generated_id $envelope]
            [$($fields)* $(#[$doc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $name: Option<::std::net::IpAddr>,]
            [$($assemble)* $name: $checked.$name,]
            [$($bare)* $name: None,]
            $($rest)*);
    };
    (@event $head:tt [$input:ident $checked:ident $generated_id:ident $envelope:ident]
        [$($fields:tt)*] [$($assemble:tt)*] [$($bare:tt)*]
        [$(#[$doc:meta])*] $name:ident Text [$limit:expr $(, $normalise:path)?] [$bit:literal]
        $($rest:tt)*) => {
        event_fields!(@event $head [$input $checked $generated_id $envelope]
            [$($fields)* $(#[$doc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $name: Option<::std::string::String>,]
            [$($assemble)* $name: check_len(stringify!($name), $input.$name, $limit)?
                $(.map($normalise))?,]
            [$($bare)* $name: None,]
            $($rest)*);
    };
    (@event $head:tt [$input:ident $checked:ident $generated_id:ident $envelope:ident]
        [$($fields:tt)*] [$($assemble:tt)*] [$($bare:tt)*]
        [$(#[$doc:meta])*] $name:ident LocationLatitude [] [$bit:literal] $($rest:tt)*) => {
        event_fields!(@event $head [$input $checked $generated_id $envelope]
            [$($fields)*
                /// Latitude and longitude in degrees, from geolocation.
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub location: Option<(f64, f64)>,]
            [$($assemble)* location: $checked.location,]
            [$($bare)* location: None,]
            $($rest)*);
    };
    (@event $head:tt $locals:tt $fields:tt $assemble:tt $bare:tt
        [$(#[$doc:meta])*] $name:ident LocationLongitude [] [] $($rest:tt)*) => {
        event_fields!(@event $head $locals $fields $assemble $bare $($rest)*);
    };
    (@event $head:tt [$input:ident $checked:ident $generated_id:ident $envelope:ident]
        [$($fields:tt)*] [$($assemble:tt)*] [$($bare:tt)*]
        [$(#[$doc:meta])*] $name:ident Number [] [$bit:literal] $($rest:tt)*) => {
        event_fields!(@event $head [$input $checked $generated_id $envelope]
            [$($fields)* $(#[$doc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $name: Option<f64>,]
            [$($assemble)* $name: $input.$name,]
            [$($bare)* $name: None,]
            $($rest)*);
    };
    (@event $head:tt [$input:ident $checked:ident $generated_id:ident $envelope:ident]
        [$($fields:tt)*] [$($assemble:tt)*] [$($bare:tt)*]
        [$(#[$doc:meta])*] $name:ident Flag [] [$bit:literal] $($rest:tt)*) => {
        event_fields!(@event $head [$input $checked $generated_id $envelope]
            [$($fields)* $(#[$doc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $name: Option<bool>,]
            [$($assemble)* $name: $input.$name,]
            [$($bare)* $name: None,]
            $($rest)*);
    };
    (@event $head:tt [$input:ident $checked:ident $generated_id:ident $envelope:ident]
        [$($fields:tt)*] [$($assemble:tt)*] [$($bare:tt)*]
        [$(#[$doc:meta])*] $name:ident Attrs [] [] $($rest:tt)*) => {
        event_fields!(@event $head [$input $checked $generated_id $envelope]
            [$($fields)* $(#[$doc])*
                #[serde(default, skip_serializing_if = "::std::collections::BTreeMap::is_empty")]
                pub $name: ::std::collections::BTreeMap<::std::string::String, ::serde_json::Value>,]
            [$($assemble)* $name: $checked.$name,]
            [$($bare)* $name: ::std::collections::BTreeMap::new(),]
            $($rest)*);
    };
    (@event $head:tt $locals:tt $fields:tt $assemble:tt $bare:tt
        [$($doc:tt)*] $name:ident $shape:ident [$($arg:tt)*] [$($bit:tt)*] $($rest:tt)*) => {
        compile_error!(concat!(
            "event field `", stringify!($name), "`: no shape `", stringify!($shape),
            "` with these arguments; an optional field needs its presence bit (`@ n`), ",
            "a required one has none"
        ));
    };
    (@event_done [$(#[$meta:meta])* pub struct $event:ident]
        [$input:ident $checked:ident $generated_id:ident $envelope:ident]
        [$($fields:tt)*] [$($assemble:tt)*] [$($bare:tt)*]) => {
        $(#[$meta])*
        pub struct $event {
            $($fields)*
        }

        impl $event {
            /// The event from input whose special fields (kind, time, address, location,
            /// attributes) are already checked; checks the plain ones, in the table's order.
            fn from_checked_input(
                $input: EventInput,
                $checked: CheckedInput,
                $generated_id: impl FnOnce() -> ::std::string::String,
            ) -> Result<$event, EventError> {
                Ok($event { $($assemble)* })
            }

            /// An event of this envelope with no optional field and no attributes (what a
            /// binary record is read into).
            pub fn from_envelope($envelope: Envelope) -> $event {
                $event { $($bare)* }
            }
        }
    };

    // ---- The table itself.
    (
        $(#[$input_meta:meta])* pub struct $input:ident;
        $(#[$event_meta:meta])* pub struct $event:ident;
        fields {
            $(
                $(#[doc = $doc:literal])*
                $name:ident : $shape:ident $( ( $($arg:tt)* ) )? $( @ $bit:literal )? ,
            )*
        }
    ) => {
        event_fields!(@input [$(#[$input_meta])* pub struct $input] []
            $( [$(#[doc = $doc])*] $name $shape [$($($arg)*)?] [$($bit)?] )*);

        event_fields!(@event [$(#[$event_meta])* pub struct $event]
            [input checked generated_id envelope] [] [] []
            $( [$(#[doc = $doc])*] $name $shape [$($($arg)*)?] [$($bit)?] )*);

        /// Positions of the input's fields in the JSON reader's set of fields seen.
        #[expect(non_camel_case_types, reason = "the variants are the wire names of the fields")]
        #[derive(Clone, Copy)]
        enum InputSlot {
            $($name,)*
        }

        const _: () = assert!(
            [$(InputSlot::$name),*].len() <= 64,
            "the JSON reader tracks at most 64 input fields"
        );

        impl $input {
            /// The wire names of the fields, in the table's order.
            pub const FIELD_NAMES: &'static [&'static str] = &[$(stringify!($name)),*];

            /// Reads the value of field `key` from `values` into `input`; returns the field's
            /// bit in the reader's set of fields seen, or `None` for an unknown field (serde
            /// refuses those) or a value that does not read.
            #[inline]
            pub(crate) fn read_json_field<V: $crate::event::fields::InputValues>(
                input: &mut $input,
                key: &str,
                values: &mut V,
            ) -> Option<u64> {
                let slot = match key {
                    $(
                        stringify!($name) => {
                            input.$name = event_fields!(@read $shape values)?;
                            InputSlot::$name
                        }
                    )*
                    _ => return None,
                };
                Some(1 << slot as u32)
            }
        }

        impl $event {
            /// The optional fields a binary record may hold, with their presence bits. A bit,
            /// once stored, keeps its field forever; new fields take new bits.
            pub const STORED_FIELDS: &'static [$crate::event::StoredField] = &[
                $($(
                    $crate::event::StoredField {
                        name: event_fields!(@stored_name $shape $name),
                        bit: $bit,
                        value: event_fields!(@stored_type $shape),
                    },
                )?)*
            ];

            /// The set of stored fields this event has: bit `n` for the field of bit `n`.
            #[inline]
            pub fn stored_presence(&self) -> u64 {
                let event = self;
                0 $($( | (u64::from(event_fields!(@present $shape $name event)) << $bit) )?)*
            }

            /// The value of the stored field of bit `bit`, when the event has it.
            #[inline]
            pub fn stored_field(&self, bit: u32) -> Option<$crate::event::StoredValue<&str>> {
                let event = self;
                match bit {
                    $($( $bit => event_fields!(@get $shape $name event), )?)*
                    _ => None,
                }
            }

            /// Reads the value of the stored field of bit `bit` from `source` into the event;
            /// `Ok(false)`, reading nothing, when no field has that bit.
            #[inline]
            pub fn read_stored_field<S: $crate::event::StoredSource>(
                &mut self,
                bit: u32,
                source: &mut S,
            ) -> Result<bool, S::Error> {
                let event = self;
                match bit {
                    $($( $bit => event_fields!(@take $shape $name event source), )?)*
                    _ => return Ok(false),
                }
                Ok(true)
            }

            /// Appends the event's JSON members to `out`, each as `,"name":value`, in the
            /// table's order, absent optional fields left out.
            #[inline]
            pub(crate) fn write_json_members(
                &self,
                out: &mut ::std::vec::Vec<u8>,
            ) -> Result<(), ::serde_json::Error> {
                let event = self;
                $( event_fields!(@write $shape $name event out); )*
                Ok(())
            }

            /// How a CEL rule reads `event.<name>`, for the fields the table declares; `None`
            /// for other names and for `ip` and `attrs`, which the compiler reads itself.
            pub(crate) fn cel_field(
                name: &str,
            ) -> Option<$crate::cel::schema::FieldReader<$event>> {
                match name {
                    $( stringify!($name) => event_fields!(@cel $shape $name), )*
                    _ => None,
                }
            }
        }

        const _: () = $crate::event::fields::check_stored_bits($event::STORED_FIELDS);
    };
}
