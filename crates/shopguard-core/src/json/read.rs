//! Events read from JSON by hand: the same [`EventInput`] serde would build, in less time.
//!
//! The reader only ever *accepts less*: it reads the plain shape clients send (known field
//! names without escapes, strings without escapes, short decimal numbers, `null`s) itself,
//! and hands anything else to serde — a value with an escape or a long number to serde for
//! that one value, an object it does not follow (an unknown or repeated field, an escaped
//! name) to serde for the whole event. So whenever it returns an event, serde would have
//! returned the same one; property tests hold the two to each other. It never reports
//! errors: on `None` the caller parses the slow way, which names the fault.
//!
//! One difference is allowed: `attrs` is handed to serde as a value of its own, so it may
//! nest two levels deeper than serde's guard of 128 levels allows inside a batch.

use serde::de::DeserializeOwned;

use std::collections::BTreeMap;

use crate::event::{Channel, EventInput, EventKind, InputValues};
use crate::whole_number::Whole;

/// Reads one event object at byte `at` of `text` (leading whitespace allowed); returns it and
/// the offset just past it, or `None` when serde would refuse it.
pub fn read_event_input(text: &str, at: usize) -> Option<(EventInput, usize)> {
    let mut reader = Reader { text, at };
    reader.skip_whitespace();
    let start = reader.at;
    match reader.event() {
        Some(input) => Some((input, reader.at)),
        None => delegate::<EventInput>(text, start),
    }
}

/// Reads a batch body, `{"events": [...]}`, handing each event to `take` as soon as it is read;
/// `take` returns `false` to stop the reading. Returns `true` when the whole body was read and
/// every event taken, `false` when the body is not of that shape, an event does not read, or
/// `take` stopped: the caller then parses the slow way, which names the fault.
pub fn read_event_batch(text: &str, mut take: impl FnMut(EventInput) -> bool) -> bool {
    let mut reader = Reader { text, at: 0 };
    let opened = reader.punct(b'{')
        && reader.key() == Some("events")
        && reader.punct(b':')
        && reader.punct(b'[');
    if !opened {
        return false;
    }
    if !reader.punct(b']') {
        loop {
            let Some((input, after)) = read_event_input(text, reader.at) else {
                return false;
            };
            reader.at = after;
            if !take(input) {
                return false;
            }
            if reader.punct(b']') {
                break;
            }
            if !reader.punct(b',') {
                return false;
            }
        }
    }
    let closed = reader.punct(b'}');
    reader.skip_whitespace();
    closed && reader.at == text.len()
}

/// Lets serde read one value of type `T` at byte `at`; returns it and the offset past it.
fn delegate<T: DeserializeOwned>(text: &str, at: usize) -> Option<(T, usize)> {
    let mut values = serde_json::Deserializer::from_str(text.get(at..)?).into_iter::<T>();
    let value = values.next()?.ok()?;
    Some((value, at + values.byte_offset()))
}

/// `10^k` for the decimals read by hand; each is exact in an `f64`.
const POWERS_OF_TEN: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Most digits of a number read by hand: below 2^53, so that the digits and the power of ten
/// are exact and one division rounds correctly, as serde's own arithmetic then does.
const MAX_PLAIN_DIGITS: usize = 15;

struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.at += 1;
        }
    }

    /// Skips whitespace, then consumes `byte` if it comes next.
    fn punct(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// Consumes `word` (`null`, `true`, `false`) if it comes next.
    fn word(&mut self, word: &str) -> bool {
        if self.bytes()[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            true
        } else {
            false
        }
    }

    /// A string without escapes or control characters, after whitespace; `None` for any other
    /// string (serde reads those) and for anything that is not a string.
    fn plain_str(&mut self) -> Option<&'a str> {
        self.skip_whitespace();
        if self.peek() != Some(b'"') {
            return None;
        }
        let start = self.at + 1;
        let length = plain_run(&self.bytes()[start..])?;
        let end = start + length;
        if self.bytes()[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        // Both ends sit next to an ASCII quote, so they are character boundaries.
        self.text.get(start..end)
    }

    /// An object key (without escapes).
    fn key(&mut self) -> Option<&'a str> {
        self.plain_str()
    }

    /// An optional value: `null` gives `Some(None)`; a value `plain` reads gives it; else serde
    /// reads the value as an `Option<T>`.
    fn optional<T: DeserializeOwned>(
        &mut self,
        plain: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<Option<T>> {
        self.skip_whitespace();
        if self.word("null") {
            return Some(None);
        }
        let start = self.at;
        if let Some(value) = plain(self) {
            return Some(Some(value));
        }
        let (value, after) = delegate::<Option<T>>(self.text, start)?;
        self.at = after;
        Some(value)
    }

    /// A number `-?(0|[1-9][0-9]*)(\.[0-9]+)?` of at most [`MAX_PLAIN_DIGITS`] digits, as its
    /// sign, its digits as one integer and how many of them follow the point. Exponents,
    /// longer numbers and anything malformed give `None` (serde reads or refuses those).
    fn plain_number(&mut self) -> Option<(bool, u64, usize)> {
        let bytes = self.bytes();
        let mut at = self.at;
        let negative = bytes.get(at) == Some(&b'-');
        if negative {
            at += 1;
        }
        let integer_start = at;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        let integer_digits = at - integer_start;
        if integer_digits == 0 || (integer_digits > 1 && bytes[integer_start] == b'0') {
            return None;
        }
        let mut fraction_digits = 0;
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            let fraction_start = at;
            while bytes.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            fraction_digits = at - fraction_start;
            if fraction_digits == 0 {
                return None;
            }
        }
        if matches!(bytes.get(at), Some(b'e' | b'E'))
            || integer_digits + fraction_digits > MAX_PLAIN_DIGITS
        {
            return None;
        }
        let digits = bytes[integer_start..at]
            .iter()
            .filter(|byte| byte.is_ascii_digit())
            .fold(0u64, |value, byte| value * 10 + u64::from(byte - b'0'));
        self.at = at;
        Some((negative, digits, fraction_digits))
    }

    /// The event object, read by hand; `None` as soon as anything is not plain.
    fn event(&mut self) -> Option<EventInput> {
        let mut input = EventInput::default();
        if !self.punct(b'{') {
            return None;
        }
        if self.punct(b'}') {
            return Some(input);
        }
        // One bit per field seen: serde refuses a repeated field, so the reader hands it over.
        let mut seen = 0u64;
        loop {
            let key = self.key()?;
            if !self.punct(b':') {
                return None;
            }
            let bit = EventInput::read_json_field(&mut input, key, self)?;
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            if self.punct(b'}') {
                return Some(input);
            }
            if !self.punct(b',') {
                return None;
            }
        }
    }
}

/// The reader's values for the generated field arms (`EventInput::read_json_field`).
impl InputValues for Reader<'_> {
    fn text(&mut self) -> Option<Option<String>> {
        self.optional(|reader| reader.plain_str().map(str::to_owned))
    }

    fn kind(&mut self) -> Option<Option<EventKind>> {
        self.optional(|reader| reader.plain_str()?.parse().ok())
    }

    fn channel(&mut self) -> Option<Option<Channel>> {
        self.optional(|reader| Channel::from_name(reader.plain_str()?))
    }

    fn flag(&mut self) -> Option<Option<bool>> {
        self.optional(|reader| {
            if reader.word("true") {
                Some(true)
            } else if reader.word("false") {
                Some(false)
            } else {
                None
            }
        })
    }

    fn number(&mut self) -> Option<Option<f64>> {
        self.optional(|reader| {
            let (negative, digits, fraction) = reader.plain_number()?;
            let value = digits as f64 / POWERS_OF_TEN[fraction];
            Some(if negative { -value } else { value })
        })
    }

    /// A whole number, which may be spelt with a zero fraction (`15.0`), as
    /// [`Whole`](crate::whole_number::Whole) reads it; any other fraction goes to serde, which
    /// refuses it.
    fn integer(&mut self) -> Option<Option<i64>> {
        let whole = self.optional(|reader| {
            let (negative, digits, fraction) = reader.plain_number()?;
            let scale = 10u64.pow(u32::try_from(fraction).ok()?);
            if digits % scale != 0 {
                return None;
            }
            let value = i64::try_from(digits / scale).ok()?;
            Some(Whole(if negative { -value } else { value }))
        })?;
        Some(whole.map(|Whole(value)| value))
    }

    fn attrs(&mut self) -> Option<Option<BTreeMap<String, serde_json::Value>>> {
        self.skip_whitespace();
        let (attrs, after) = delegate(self.text, self.at)?;
        self.at = after;
        Some(attrs)
    }
}

/// Length of the run of bytes before the first one that ends a plain string: a quote, a
/// backslash or a control character. Eight bytes at a time: the usual value is a few dozen
/// bytes long, and this scan was a tenth of the reader's time byte by byte.
fn plain_run(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    // The high bit of each byte of `word` below `limit` (exact for the lowest such byte,
    // which is all that is used: a borrow can only mark bytes above a marked one).
    let below = |word: u64, limit: u8| word.wrapping_sub(ONES * u64::from(limit)) & !word & HIGHS;
    let chunks = bytes.chunks_exact(8);
    let tail = chunks.remainder();
    for (index, chunk) in chunks.enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let marks = below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1)
            | below(word, 0x20);
        if marks != 0 {
            return Some(index * 8 + (marks.trailing_zeros() / 8) as usize);
        }
    }
    let done = bytes.len() - tail.len();
    tail.iter()
        .position(|&byte| ends_plain(byte))
        .map(|position| done + position)
}

/// Whether `byte` ends a plain string: a quote, a backslash or a control character.
fn ends_plain(byte: u8) -> bool {
    byte == b'"' || byte == b'\\' || byte < 0x20
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// What serde makes of `text` as one event.
    fn serde_reads(text: &str) -> Option<EventInput> {
        serde_json::from_str(text).ok()
    }

    /// The hand reader's event, only when it read the whole text (surrounding whitespace aside).
    fn hand_reads(text: &str) -> Option<EventInput> {
        let (input, after) = read_event_input(text, 0)?;
        text[after..]
            .trim_matches([' ', '\n', '\t', '\r'])
            .is_empty()
            .then_some(input)
    }

    /// Bit-exact comparison (`-0.0` against `0.0`, and NaN, would slip through `==`).
    fn same(left: &EventInput, right: &EventInput) -> bool {
        let bits = |value: Option<f64>| value.map(f64::to_bits);
        left == right
            && bits(left.amount) == bits(right.amount)
            && bits(left.latitude) == bits(right.latitude)
            && bits(left.longitude) == bits(right.longitude)
    }

    /// String values as JSON: plain ones, ones with escapes and control characters, non-ASCII.
    fn text_value() -> impl Strategy<Value = String> {
        crate::json::tests::text().prop_map(|text| serde_json::to_string(&text).unwrap())
    }

    /// Number spellings, valid and not: short decimals, long ones, exponents, leading zeros.
    fn number_value() -> impl Strategy<Value = String> {
        prop_oneof![
            (any::<i32>(), 0u32..6).prop_map(|(units, places)| {
                let scale = 10f64.powi(places as i32);
                format!("{:.*}", places as usize, f64::from(units) / scale)
            }),
            any::<f64>().prop_map(|value| serde_json::to_string(&value).unwrap()),
            any::<i64>().prop_map(|value| value.to_string()),
            "-?[0-9]{1,20}(\\.[0-9]{0,20})?([eE][+-]?[0-9]{1,3})?",
            Just("-0".to_owned()),
            Just("-0.0".to_owned()),
            Just("1e400".to_owned()),
        ]
    }

    /// Any value a field might be given, right type or wrong.
    fn any_value() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => text_value(),
            3 => number_value(),
            1 => Just("null".to_owned()),
            1 => Just("true".to_owned()),
            1 => Just("false".to_owned()),
            1 => prop::sample::select(EventKind::ALL.iter().map(|kind| format!("\"{kind}\"")).collect::<Vec<_>>()),
            1 => prop::sample::select(vec!["\"web\"", "\"app\"", "\"api\"", "\"mini_program\"", "\"unknown\"", "\"Web\"", "\"w\\u0065b\""]).prop_map(str::to_owned),
            1 => Just("{\"tier\":\"gold\",\"n\":[1,2.5,{\"x\":null}]}".to_owned()),
            1 => Just("[]".to_owned()),
        ]
    }

    /// Every wire field, from the event field table.
    const FIELDS: &[&str] = EventInput::FIELD_NAMES;

    /// The wire fields with a scalar value (all but `attrs`).
    fn scalar_fields() -> Vec<&'static str> {
        FIELDS
            .iter()
            .copied()
            .filter(|name| *name != "attrs")
            .collect()
    }

    /// A value of the type field `name` takes, in any of its spellings.
    fn typed_value(name: &'static str) -> BoxedStrategy<String> {
        match name {
            "kind" => prop::sample::select(
                EventKind::ALL
                    .iter()
                    .map(|kind| format!("\"{kind}\""))
                    .collect::<Vec<_>>(),
            )
            .boxed(),
            "channel" => prop::sample::select(vec![
                "\"web\"",
                "\"app\"",
                "\"mini_program\"",
                "\"w\\u0065b\"",
            ])
            .prop_map(str::to_owned)
            .boxed(),
            "occurred_at_ms" => prop_oneof![
                any::<i64>().prop_map(|value| value.to_string()),
                (0i64..2_000_000_000_000).prop_map(|value| value.to_string()),
                Just("-0".to_owned()),
            ]
            .boxed(),
            "latitude" | "longitude" | "amount" => number_value().boxed(),
            "success" => prop::sample::select(vec!["true", "false"])
                .prop_map(str::to_owned)
                .boxed(),
            "attrs" => Just("{\"tier\":\"gold\",\"n\":[1,2.5,{\"x\":null}]}".to_owned()).boxed(),
            _ => text_value().boxed(),
        }
    }

    /// An object member: mostly a known field with a value of its type (so that serde often
    /// accepts the object, and repeats are common), sometimes an unknown or escaped name, or a
    /// value of the wrong type.
    fn member() -> impl Strategy<Value = (String, String)> {
        prop_oneof![
            12 => prop::sample::select(FIELDS.to_vec()).prop_flat_map(|name| {
                let value = prop_oneof![8 => typed_value(name), 1 => Just("null".to_owned()), 1 => any_value()];
                (Just(format!("\"{name}\"")), value)
            }),
            1 => (Just("\"usr\"".to_owned()), any_value()),
            1 => (Just("\"user_\\u0069d\"".to_owned()), text_value()),
        ]
    }

    fn whitespace() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["", "", "", " ", "\n  ", "\t"])
    }

    prop_compose! {
        /// An object of random fields (repeats and unknown names included), spaced at random.
        fn object()(
            members in prop::collection::vec((member(), whitespace(), whitespace()), 0..8),
            trailing in whitespace(),
        ) -> String {
            let members: Vec<String> = members
                .into_iter()
                .map(|((key, value), before, after)| format!("{before}{key}{after}:{before}{value}{after}"))
                .collect();
            format!("{{{}{trailing}}}", members.join(","))
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn the_word_scan_finds_what_the_byte_scan_finds(
            bytes in proptest::collection::vec(
                prop_oneof![Just(b'"'), Just(b'\\'), 0u8..0x20, 0x20u8..=0xff],
                0..40,
            ),
            plain in proptest::collection::vec(0x20u8..=0xff, 0..40),
        ) {
            // Long plain runs before the mixed bytes, so the stop lands in every position.
            let plain: Vec<u8> = plain.into_iter().filter(|b| *b != b'"' && *b != b'\\').collect();
            let text = [plain, bytes].concat();
            let expected = text.iter().position(|&byte| ends_plain(byte));
            prop_assert_eq!(plain_run(&text), expected);
        }

        #[test]
        fn reads_exactly_what_serde_reads(text in object()) {
            let hand = hand_reads(&text);
            let serde = serde_reads(&text);
            prop_assert_eq!(hand.is_some(), serde.is_some(), "{}", text);
            if let (Some(hand), Some(serde)) = (hand, serde) {
                prop_assert!(same(&hand, &serde), "{}: {:?} against {:?}", text, hand, serde);
            }
        }

        #[test]
        fn reads_events_serde_wrote(
            names in prop::collection::vec(prop::sample::select(scalar_fields()), 0..30),
            values in prop::collection::vec(any_value(), 30),
        ) {
            // Whatever serde itself wrote for an event, the reader reads back the same.
            let mut object = serde_json::Map::new();
            for (name, value) in names.iter().zip(&values) {
                object.insert((*name).to_owned(), serde_json::from_str(value).unwrap_or_default());
            }
            let text = serde_json::Value::Object(object).to_string();
            if let Some(serde) = serde_reads(&text) {
                let hand = hand_reads(&text);
                prop_assert!(hand.as_ref().is_some_and(|hand| same(hand, &serde)), "{}", text);
            }
        }

        #[test]
        fn batches_read_as_serde_reads_them(
            events in prop::collection::vec(object(), 0..5),
            before in whitespace(),
            after in whitespace(),
        ) {
            let text = format!("{before}{{ \"events\" :[{}]}}{after}", events.join(" , "));
            let mut hand = Vec::new();
            let read = read_event_batch(&text, |input| { hand.push(input); true });
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Batch { events: Vec<EventInput> }
            let serde = serde_json::from_str::<Batch>(&text).ok();
            prop_assert_eq!(read, serde.is_some(), "{}", text);
            if let Some(serde) = serde {
                prop_assert_eq!(hand.len(), serde.events.len());
                for (hand, serde) in hand.iter().zip(&serde.events) {
                    prop_assert!(same(hand, serde));
                }
            }
        }
    }

    #[test]
    fn a_plain_event_is_read_by_hand_without_serde() {
        // Every field of the table but `attrs`, each with a plain value of its type: a field
        // without an arm would make the reader give up here.
        let members: Vec<String> = scalar_fields()
            .into_iter()
            .map(|name| {
                let value = match name {
                    "kind" => "\"payment\"",
                    "channel" => "\"mini_program\"",
                    "occurred_at_ms" => "1795473658580",
                    "latitude" => "-22.5",
                    "longitude" => "114.06",
                    "amount" => "786.25",
                    "success" => "true",
                    "session_id" => "null",
                    _ => "\"plain text, 中文\"",
                };
                format!("\"{name}\": {value}")
            })
            .collect();
        let text = format!("{{{}}}", members.join(",\n "));
        let mut reader = Reader { text: &text, at: 0 };
        let input = reader
            .event()
            .expect("the reader's own path reads a plain event");
        assert_eq!(reader.at, text.len());
        assert_eq!(Some(input), serde_reads(&text));
    }

    #[test]
    fn the_reader_knows_every_field_the_wire_type_accepts() {
        // The names serde writes for an input with every field set are the names it accepts;
        // each must have an arm in the hand reader, or its events would all go the slow way.
        let full = EventInput {
            event_id: Some("e".into()),
            kind: Some(EventKind::Payment),
            occurred_at_ms: Some(1),
            latitude: Some(1.0),
            longitude: Some(2.0),
            amount: Some(3.0),
            success: Some(true),
            channel: Some(Channel::Web),
            attrs: Some(BTreeMap::from([("k".to_owned(), serde_json::json!(1))])),
            ..text_fields_set()
        };
        let mut serde_names: Vec<String> = match serde_json::to_value(&full).unwrap() {
            serde_json::Value::Object(members) => members.keys().cloned().collect(),
            other => panic!("an input writes as an object, not {other}"),
        };
        serde_names.sort_unstable();
        let mut table_names: Vec<&str> = FIELDS.to_vec();
        table_names.sort_unstable();
        assert_eq!(serde_names, table_names);
        for name in FIELDS {
            let mut reader = Reader { text: "{}", at: 0 };
            let mut input = EventInput::default();
            // An unknown name gives `None` before any value is read.
            assert!(
                EventInput::read_json_field(&mut input, "no_such_field", &mut reader).is_none()
            );
            let text = if *name == "attrs" { "{}" } else { "null" };
            let mut reader = Reader { text, at: 0 };
            assert!(
                EventInput::read_json_field(&mut input, name, &mut reader).is_some(),
                "no reader arm for {name}"
            );
        }
    }

    /// An input with every string field set to its own name (through serde, so that the list
    /// of fields is not repeated here).
    fn text_fields_set() -> EventInput {
        let members: serde_json::Map<String, serde_json::Value> = FIELDS
            .iter()
            .filter(|name| {
                let probe = serde_json::json!({ **name: "x" });
                serde_json::from_value::<EventInput>(probe).is_ok()
            })
            .map(|name| ((*name).to_owned(), serde_json::json!(name)))
            .collect();
        serde_json::from_value(serde_json::Value::Object(members)).unwrap()
    }

    #[test]
    fn odd_values_are_handed_to_serde_and_odd_objects_refused() {
        let escaped = r#"{"kind":"logout","user_id":"a\"b","amount":1.5e3,"attrs":{"k":[1]}}"#;
        let (input, _) = read_event_input(escaped, 0).unwrap();
        assert_eq!(input.user_id.as_deref(), Some("a\"b"));
        assert_eq!(input.amount, Some(1500.0));
        assert_eq!(
            input.attrs,
            Some(BTreeMap::from([("k".to_owned(), serde_json::json!([1]))]))
        );
        for refused in [
            r#"{"kind":"logout","usr":"a"}"#,
            r#"{"kind":"logout","kind":"logout"}"#,
            r#"{"kind":"nap"}"#,
            r#"{"occurred_at_ms":1.5}"#,
            r#"{"amount":01}"#,
            r#"["logout"]"#,
            r#"{"kind":"logout",}"#,
        ] {
            assert_eq!(read_event_input(refused, 0), None, "{refused}");
        }
    }

    #[test]
    fn a_batch_stops_when_told() {
        let text = r#"{"events":[{"kind":"logout"},{"kind":"logout"},{"kind":"logout"}]}"#;
        let mut taken = 0;
        assert!(!read_event_batch(text, |_| {
            taken += 1;
            taken < 2
        }));
        assert_eq!(taken, 2);
        assert!(read_event_batch(r#" {"events":[]} "#, |_| true));
        assert!(!read_event_batch(r#"{"events":[],"events":[]}"#, |_| true));
    }

    #[test]
    fn times_with_a_zero_fraction_read_as_whole_numbers_by_hand_and_by_serde() {
        for (text, at) in [
            (r#"{"occurred_at_ms":1700000000000.0}"#, 1_700_000_000_000),
            (r#"{"occurred_at_ms":1700000000000.000}"#, 1_700_000_000_000),
            (r#"{"occurred_at_ms":-0}"#, 0),
            (r#"{"occurred_at_ms":1.7e12}"#, 1_700_000_000_000),
        ] {
            assert_eq!(hand_reads(text).unwrap().occurred_at_ms, Some(at), "{text}");
            assert_eq!(
                serde_reads(text).unwrap().occurred_at_ms,
                Some(at),
                "{text}"
            );
        }
        let error = serde_json::from_str::<EventInput>(r#"{"occurred_at_ms":15.5}"#).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("floating point `15.5`, expected an integer"),
            "{error}"
        );
    }

    #[test]
    fn an_event_is_an_object_never_an_array() {
        // serde's derived reader took the fields by position: `["payment", ...]`.
        for text in [r#"[null,"logout",null,"u1"]"#, "[]"] {
            assert_eq!(hand_reads(text), None, "{text}");
            assert_eq!(serde_reads(text), None, "{text}");
        }
        let batch = r#"{"events":[{"kind":"logout"},[null,"logout",null,"u1"]]}"#;
        assert!(!read_event_batch(batch, |_| true));
    }
}
