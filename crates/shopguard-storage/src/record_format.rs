//! The binary form of a logged decision: what the decision log stores per record.
//!
//! A record was once stored as `{"decision":…,"event":…}` JSON, about 650 bytes for a plain
//! order. This form holds the same values in about a third of that, and costs less to write
//! and to read back (see `docs/decisions/0014-binary-decision-records.md`). Old JSON records
//! stay readable: [`decode_record`] tells the two apart by their first byte.
//!
//! # Layout (format 1)
//! Integers are LEB128 varints (signed ones zigzag-encoded first), text is a varint length
//! and UTF-8 bytes, floats are 8 bytes little-endian. Enums are stored as their codes from the
//! explicit tables of `shopguard_core::codes`, which only ever grow at the end.
//! 1. The marker byte [`BINARY_V1`].
//! 2. The decision: id, outcome, challenge (0 for none, else its code + 1), score, policy
//!    version; a flag byte (bit 0: the decision's event id, kind, user and time are the
//!    event's, and are not repeated; otherwise they follow); matched rules, shadow-matched
//!    rules, errors, each as a count then their fields; actions as JSON text (they are rare
//!    and have a tagged shape), or an empty text when there are none.
//! 3. The event: id, kind, time, user, channel; a varint bit set of the optional fields
//!    present, each field's bit as the event field table in `shopguard_core::event` assigns
//!    it (`Event::STORED_FIELDS`, never a position); then each present field in the order of
//!    its bit, lowest first; then the free attributes as JSON text, or an empty text when
//!    there are none. Field values: text as above, an address as its family (4 or 6) and its
//!    4 or 16 bytes, a pair or a number as floats, a flag as one byte 0 or 1.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use shopguard_core::codes::StoredCode;
use shopguard_core::decision::{ChallengeKind, MatchedRule, Outcome, RuleError};
use shopguard_core::event::{stored_bit, Channel, Envelope, EventKind, StoredSource, StoredValue};
use shopguard_core::{Decision, Event};

use crate::DecisionRecord;

/// First byte of a record in format 1. A JSON record starts with `{`.
pub const BINARY_V1: u8 = 0xB1;

// Enums are stored as their codes from the explicit tables in `shopguard_core::codes`
// (`EventKind`, `Outcome`, `ChallengeKind`, `Channel`), which only ever grow at the end and are
// pinned there by tests.
fn kind_code(kind: EventKind) -> u8 {
    kind.code()
}

fn outcome_code(outcome: Outcome) -> u8 {
    outcome.code()
}

fn challenge_code(challenge: ChallengeKind) -> u8 {
    challenge.code()
}

fn channel_code(channel: Channel) -> u8 {
    channel.code()
}

/// Why stored bytes are not a record.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordFormatError {
    /// The bytes end inside a value.
    #[error("record cut short")]
    Truncated,
    /// A value is out of range or malformed.
    #[error("bad {0} in record")]
    Bad(&'static str),
    /// Bytes are left over after the record.
    #[error("trailing bytes after record")]
    Trailing,
    /// JSON (a record of the older form, or its free attributes or actions) did not decode
    /// or encode.
    #[error("bad JSON in record: {0}")]
    Json(String),
}

/// Appends `decision` and `event` to `out` in format 1. On failure (a free attribute that
/// JSON cannot hold) `out` is left as it was.
pub fn encode_record(
    out: &mut Vec<u8>,
    decision: &Decision,
    event: &Event,
) -> Result<(), RecordFormatError> {
    encode_record_with_contacts(out, decision, event, Contacts::default())
}

/// Stand-ins for an event's email and phone in [`encode_record_with_contacts`]: the sealed
/// forms of its values, so that a log that encrypts them need not copy the event first.
#[derive(Clone, Copy, Debug, Default)]
pub struct Contacts<'a> {
    /// Written in place of `event.email` when set.
    pub email: Option<&'a str>,
    /// Written in place of `event.phone` when set.
    pub phone: Option<&'a str>,
}

/// [`encode_record`], with `contacts` written in place of the event's email and phone where
/// given: the same bytes as encoding a copy of the event that holds them.
pub fn encode_record_with_contacts(
    out: &mut Vec<u8>,
    decision: &Decision,
    event: &Event,
    contacts: Contacts<'_>,
) -> Result<(), RecordFormatError> {
    let start = out.len();
    out.push(BINARY_V1);
    let encoded =
        encode_decision(out, decision, event).and_then(|()| encode_event(out, event, contacts));
    if encoded.is_err() {
        out.truncate(start);
    }
    encoded
}

/// Decodes a stored record in either form: format 1, or the older JSON.
pub fn decode_record(bytes: &[u8]) -> Result<DecisionRecord, RecordFormatError> {
    match bytes.first() {
        Some(&BINARY_V1) => {
            let mut reader = Reader { rest: &bytes[1..] };
            let record = reader.record()?;
            if !reader.rest.is_empty() {
                return Err(RecordFormatError::Trailing);
            }
            Ok(record)
        }
        Some(b'{') => serde_json::from_slice(bytes)
            .map_err(|error| RecordFormatError::Json(error.to_string())),
        Some(_) => Err(RecordFormatError::Bad("format marker")),
        None => Err(RecordFormatError::Truncated),
    }
}

fn encode_decision(
    out: &mut Vec<u8>,
    decision: &Decision,
    event: &Event,
) -> Result<(), RecordFormatError> {
    let Decision {
        decision_id,
        event_id,
        kind,
        user_id,
        outcome,
        challenge,
        score,
        matched,
        shadow_matched,
        actions,
        errors,
        policy_version,
        occurred_at_ms,
    } = decision;
    put_str(out, decision_id);
    out.push(outcome_code(*outcome));
    out.push(challenge.map_or(0, |challenge| challenge_code(challenge) + 1));
    put_varint(out, u64::from(*score));
    put_varint(out, *policy_version);
    let same_identity = *event_id == event.event_id
        && *kind == event.kind
        && *user_id == event.user_id
        && *occurred_at_ms == event.occurred_at_ms;
    out.push(u8::from(same_identity));
    if !same_identity {
        put_str(out, event_id);
        out.push(kind_code(*kind));
        put_str(out, user_id);
        put_signed(out, *occurred_at_ms);
    }
    for rules in [matched, shadow_matched] {
        put_varint(out, rules.len() as u64);
        for rule in rules {
            let MatchedRule {
                rule_id,
                reason,
                outcome,
                score,
                shadow,
            } = rule;
            put_str(out, rule_id);
            put_str(out, reason);
            out.push(outcome_code(*outcome));
            put_varint(out, u64::from(*score));
            out.push(u8::from(*shadow));
        }
    }
    put_varint(out, errors.len() as u64);
    for RuleError { rule_id, message } in errors {
        put_str(out, rule_id);
        put_str(out, message);
    }
    put_json_unless_empty(out, actions, actions.is_empty())
}

/// Presence bits of the two fields a log may replace with their sealed forms ([`Contacts`]).
const EMAIL_BIT: u32 = field_bit("email");
const PHONE_BIT: u32 = field_bit("phone");

/// Every presence bit the event field table assigns; a record with another bit set is refused.
const KNOWN_BITS: u64 = {
    let mut known = 0u64;
    let mut index = 0;
    while index < Event::STORED_FIELDS.len() {
        known |= 1 << Event::STORED_FIELDS[index].bit;
        index += 1;
    }
    known
};

const fn field_bit(name: &str) -> u32 {
    match stored_bit(Event::STORED_FIELDS, name) {
        Some(bit) => bit,
        None => panic!("the event field table has no stored field of that name"),
    }
}

fn encode_event(
    out: &mut Vec<u8>,
    event: &Event,
    contacts: Contacts<'_>,
) -> Result<(), RecordFormatError> {
    put_str(out, &event.event_id);
    out.push(kind_code(event.kind));
    put_signed(out, event.occurred_at_ms);
    put_str(out, &event.user_id);
    out.push(channel_code(event.channel));
    let present = event.stored_presence()
        | u64::from(contacts.email.is_some()) << EMAIL_BIT
        | u64::from(contacts.phone.is_some()) << PHONE_BIT;
    put_varint(out, present);
    // Each present field in the order of its bit: the table's bits, not its rows, fix the bytes.
    let mut rest = present;
    while rest != 0 {
        let bit = rest.trailing_zeros();
        rest &= rest - 1;
        let value = match (bit, contacts.email, contacts.phone) {
            (EMAIL_BIT, Some(sealed), _) | (PHONE_BIT, _, Some(sealed)) => {
                Some(StoredValue::Text(sealed))
            }
            _ => event.stored_field(bit),
        };
        match value {
            Some(StoredValue::Text(text)) => put_str(out, text),
            Some(StoredValue::Ip(IpAddr::V4(v4))) => {
                out.push(4);
                out.extend_from_slice(&v4.octets());
            }
            Some(StoredValue::Ip(IpAddr::V6(v6))) => {
                out.push(6);
                out.extend_from_slice(&v6.octets());
            }
            Some(StoredValue::Pair(first, second)) => {
                out.extend_from_slice(&first.to_le_bytes());
                out.extend_from_slice(&second.to_le_bytes());
            }
            Some(StoredValue::Number(number)) => out.extend_from_slice(&number.to_le_bytes()),
            Some(StoredValue::Flag(flag)) => out.push(u8::from(flag)),
            None => {
                debug_assert!(false, "presence bit {bit} set without a value");
                return Err(RecordFormatError::Bad("presence bits"));
            }
        }
    }
    put_json_unless_empty(out, &event.attrs, event.attrs.is_empty())
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_signed(out: &mut Vec<u8>, value: i64) {
    put_varint(out, ((value << 1) ^ (value >> 63)) as u64);
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Writes `value` as JSON text, or an empty text when `empty`.
fn put_json_unless_empty(
    out: &mut Vec<u8>,
    value: &impl serde::Serialize,
    empty: bool,
) -> Result<(), RecordFormatError> {
    if empty {
        out.push(0);
        return Ok(());
    }
    let json =
        serde_json::to_vec(value).map_err(|error| RecordFormatError::Json(error.to_string()))?;
    put_varint(out, json.len() as u64);
    out.extend_from_slice(&json);
    Ok(())
}

/// Reads format 1 from a slice.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn record(&mut self) -> Result<DecisionRecord, RecordFormatError> {
        let decision_id = self.string()?;
        let outcome = self.code::<Outcome>("outcome")?;
        let challenge = match self.byte()? {
            0 => None,
            code => Some(
                ChallengeKind::from_code(code - 1).ok_or(RecordFormatError::Bad("challenge"))?,
            ),
        };
        let score = self.u32("score")?;
        let policy_version = self.varint()?;
        let identity = match self.byte()? {
            1 => None,
            0 => Some((
                self.string()?,
                self.code::<EventKind>("kind")?,
                self.string()?,
                self.signed()?,
            )),
            _ => return Err(RecordFormatError::Bad("identity flag")),
        };
        let matched = self.matched_rules()?;
        let shadow_matched = self.matched_rules()?;
        let errors = (0..self.count()?)
            .map(|_| {
                Ok(RuleError {
                    rule_id: self.string()?,
                    message: self.string()?,
                })
            })
            .collect::<Result<_, RecordFormatError>>()?;
        let actions = self.json_or_default("actions")?;
        let event = self.event()?;
        let (event_id, kind, user_id, occurred_at_ms) = identity.unwrap_or_else(|| {
            (
                event.event_id.clone(),
                event.kind,
                event.user_id.clone(),
                event.occurred_at_ms,
            )
        });
        Ok(DecisionRecord {
            decision: Decision {
                decision_id,
                event_id,
                kind,
                user_id,
                outcome,
                challenge,
                score,
                matched,
                shadow_matched,
                actions,
                errors,
                policy_version,
                occurred_at_ms,
            },
            event,
        })
    }

    fn matched_rules(&mut self) -> Result<Vec<MatchedRule>, RecordFormatError> {
        (0..self.count()?)
            .map(|_| {
                Ok(MatchedRule {
                    rule_id: self.string()?,
                    reason: self.string()?,
                    outcome: self.code::<Outcome>("outcome")?,
                    score: self.u32("score")?,
                    shadow: self.flag("shadow flag")?,
                })
            })
            .collect()
    }

    fn event(&mut self) -> Result<Event, RecordFormatError> {
        let mut event = Event::from_envelope(Envelope {
            event_id: self.string()?,
            kind: self.code::<EventKind>("kind")?,
            occurred_at_ms: self.signed()?,
            user_id: self.string()?,
            channel: self.code::<Channel>("channel")?,
        });
        let present = self.varint()?;
        if present & !KNOWN_BITS != 0 {
            return Err(RecordFormatError::Bad("presence bits"));
        }
        // Each present field in the order of its bit, as written.
        let mut rest = present;
        while rest != 0 {
            let bit = rest.trailing_zeros();
            rest &= rest - 1;
            if !event.read_stored_field(bit, self)? {
                return Err(RecordFormatError::Bad("presence bits"));
            }
        }
        event.attrs = self.json_or_default("attributes")?;
        Ok(event)
    }

    fn take(&mut self, length: usize) -> Result<&'a [u8], RecordFormatError> {
        if self.rest.len() < length {
            return Err(RecordFormatError::Truncated);
        }
        let (taken, rest) = self.rest.split_at(length);
        self.rest = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordFormatError> {
        let mut bytes = [0u8; N];
        bytes.copy_from_slice(self.take(N)?);
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8, RecordFormatError> {
        Ok(self.take(1)?[0])
    }

    fn flag(&mut self, what: &'static str) -> Result<bool, RecordFormatError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(RecordFormatError::Bad(what)),
        }
    }

    fn code<T: StoredCode>(&mut self, what: &'static str) -> Result<T, RecordFormatError> {
        T::from_code(self.byte()?).ok_or(RecordFormatError::Bad(what))
    }

    fn varint(&mut self) -> Result<u64, RecordFormatError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                if shift == 63 && byte > 1 {
                    break;
                }
                return Ok(value);
            }
        }
        Err(RecordFormatError::Bad("varint"))
    }

    fn signed(&mut self) -> Result<i64, RecordFormatError> {
        let zigzag = self.varint()?;
        Ok((zigzag >> 1) as i64 ^ -((zigzag & 1) as i64))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, RecordFormatError> {
        u32::try_from(self.varint()?).map_err(|_| RecordFormatError::Bad(what))
    }

    /// A count of items that each take at least one byte (so a bad count cannot make the
    /// reader reserve more than the record holds).
    fn count(&mut self) -> Result<usize, RecordFormatError> {
        let count = self.varint()?;
        if count > self.rest.len() as u64 {
            return Err(RecordFormatError::Truncated);
        }
        Ok(count as usize)
    }

    fn float(&mut self) -> Result<f64, RecordFormatError> {
        Ok(f64::from_le_bytes(self.array::<8>()?))
    }

    fn bytes(&mut self) -> Result<&'a [u8], RecordFormatError> {
        let length = self.count()?;
        self.take(length)
    }

    fn string(&mut self) -> Result<String, RecordFormatError> {
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| RecordFormatError::Bad("text"))
    }

    fn json_or_default<T: serde::de::DeserializeOwned + Default>(
        &mut self,
        what: &'static str,
    ) -> Result<T, RecordFormatError> {
        let bytes = self.bytes()?;
        if bytes.is_empty() {
            return Ok(T::default());
        }
        serde_json::from_slice(bytes).map_err(|_| RecordFormatError::Bad(what))
    }
}

/// The values of an event's stored fields, for `Event::read_stored_field`.
impl StoredSource for Reader<'_> {
    type Error = RecordFormatError;

    fn text(&mut self) -> Result<String, RecordFormatError> {
        self.string()
    }

    fn ip(&mut self) -> Result<IpAddr, RecordFormatError> {
        match self.byte()? {
            4 => Ok(IpAddr::V4(Ipv4Addr::from(self.array::<4>()?))),
            6 => Ok(IpAddr::V6(Ipv6Addr::from(self.array::<16>()?))),
            _ => Err(RecordFormatError::Bad("address family")),
        }
    }

    fn pair(&mut self) -> Result<(f64, f64), RecordFormatError> {
        Ok((self.float()?, self.float()?))
    }

    fn number(&mut self) -> Result<f64, RecordFormatError> {
        self.float()
    }

    fn flag(&mut self) -> Result<bool, RecordFormatError> {
        Reader::flag(self, "flag")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopguard_core::decision::{ActionTaken, AlertSeverity};

    fn full_event() -> Event {
        serde_json::from_value(serde_json::json!({
            "event_id": "e-1", "kind": "payment", "occurred_at_ms": -5, "user_id": "ü-7",
            "ip": "2001:db8::1", "device_id": "d", "user_agent": "ua", "channel": "mini_program",
            "session_id": "s", "email": "a@b.example", "phone": "+8613800000000",
            "country": "CN", "city": "Hangzhou", "location": [30.25, -120.5], "amount": 0.1,
            "currency": "CNY", "counterparty_id": "m", "order_id": "o", "listing_id": "l",
            "payment_method": "card", "card_bin": "411111", "card_fingerprint": "f",
            "purpose": "deposit", "success": false, "failure_reason": "r",
            "changed_field": "phone", "title": "t", "text": "\"quoted\"\n", "target_id": "x",
            "attrs": {"id_number": "110101199003070000", "nested": {"a": [1, 2.5, null]}}
        }))
        .unwrap()
    }

    fn decision_for(event: &Event) -> Decision {
        let rule = |id: &str, shadow| MatchedRule {
            rule_id: id.into(),
            reason: format!("reason of {id}"),
            outcome: Outcome::Review,
            score: 300,
            shadow,
        };
        Decision {
            decision_id: "0190-abc".into(),
            event_id: event.event_id.clone(),
            kind: event.kind,
            user_id: event.user_id.clone(),
            outcome: Outcome::Challenge,
            challenge: Some(ChallengeKind::Totp),
            score: 77,
            matched: vec![rule("a", false), rule("b", false)],
            shadow_matched: vec![rule("c", true)],
            actions: vec![
                ActionTaken::AddedToList {
                    list: "ip_block".into(),
                    value: "2001:db8::1".into(),
                    expires_at_ms: Some(9),
                    rule_id: "a".into(),
                },
                ActionTaken::Alert {
                    severity: AlertSeverity::High,
                    rule_id: "b".into(),
                    message: "m".into(),
                },
            ],
            errors: vec![RuleError {
                rule_id: "d".into(),
                message: "no such field".into(),
            }],
            policy_version: u64::MAX,
            occurred_at_ms: event.occurred_at_ms,
        }
    }

    fn round_trip(decision: &Decision, event: &Event) -> DecisionRecord {
        let mut bytes = Vec::new();
        encode_record(&mut bytes, decision, event).unwrap();
        decode_record(&bytes).unwrap()
    }

    #[test]
    fn every_field_survives_a_round_trip() {
        let event = full_event();
        let decision = decision_for(&event);
        let record = round_trip(&decision, &event);
        assert_eq!(record.decision, decision);
        assert_eq!(record.event, event);
        // An event with nothing optional, and an IPv4 address.
        let bare: Event = serde_json::from_value(serde_json::json!({"event_id": "e",
            "kind": "logout", "user_id": "u", "occurred_at_ms": 1_795_000_000_000i64,
            "ip": "10.0.0.1", "channel": "unknown"}))
        .unwrap();
        let mut plain = decision_for(&bare);
        plain.matched.clear();
        plain.actions.clear();
        plain.errors.clear();
        plain.challenge = None;
        let record = round_trip(&plain, &bare);
        assert_eq!((record.decision, record.event), (plain, bare));
    }

    fn sparse_event() -> Event {
        serde_json::from_value(
            serde_json::json!({"event_id": "e-2", "kind": "login_failed",
            "user_id": "u", "occurred_at_ms": 1_795_000_000_000i64, "ip": "10.0.0.1",
            "channel": "web", "email": "x@y.example", "amount": 12.5, "title": "ti",
            "success": true, "target_id": "tg"}),
        )
        .unwrap()
    }

    fn from_hex(parts: &[&str]) -> Vec<u8> {
        let hex = parts.concat();
        (0..hex.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap())
            .collect()
    }

    /// Bytes written by the build before the event field table (commit 2938174): a record with
    /// every optional field, and one with a few, scattered across the presence bits. Both must
    /// still be written and read exactly so.
    #[test]
    fn records_keep_the_bytes_of_earlier_builds() {
        let full = full_event();
        let sparse = sparse_event();
        let mut sparse_decision = decision_for(&sparse);
        sparse_decision.matched.clear();
        sparse_decision.shadow_matched.clear();
        sparse_decision.actions.clear();
        sparse_decision.errors.clear();
        sparse_decision.challenge = None;
        let full_bytes = from_hex(&[
            "b108303139302d61626301034dffffffffffffffffff01010201610b726561736f6e206f66206102",
            "ac020001620b726561736f6e206f66206202ac02000101630b726561736f6e206f66206302ac0201",
            "0101640d6e6f2073756368206669656c64a1015b7b2274797065223a2261646465645f746f5f6c69",
            "7374222c226c697374223a2269705f626c6f636b222c2276616c7565223a22323030313a6462383a",
            "3a31222c22657870697265735f61745f6d73223a392c2272756c655f6964223a2261227d2c7b2274",
            "797065223a22616c657274222c227365766572697479223a2268696768222c2272756c655f696422",
            "3a2262222c226d657373616765223a226d227d5d03652d310a0904c3bc2d3703ffffff0701640275",
            "6101730b6140622e6578616d706c650e2b3836313338303030303030303002434e0848616e677a68",
            "6f7503434e59016d016f016c0463617264063431313131310166076465706f73697401720570686f",
            "6e650174092271756f746564220a01780620010db80000000000000000000000010000000000403e",
            "400000000000205ec09a9999999999b93f003e7b2269645f6e756d626572223a2231313031303131",
            "3939303033303730303030222c226e6573746564223a7b2261223a5b312c322e352c6e756c6c5d7d",
            "7d",
        ]);
        let sparse_bytes = from_hex(&[
            "b108303139302d61626301004dffffffffffffffffff01010000000003652d320280f8b2e5bd6801",
            "75008880e8060b7840792e6578616d706c65027469027467040a00000100000000000029400100",
        ]);
        for (decision, event, stored) in [
            (decision_for(&full), full, full_bytes),
            (sparse_decision, sparse, sparse_bytes),
        ] {
            let mut bytes = Vec::new();
            encode_record(&mut bytes, &decision, &event).unwrap();
            assert_eq!(bytes, stored, "{}", event.event_id);
            let record = decode_record(&stored).unwrap();
            assert_eq!((record.decision, record.event), (decision, event));
        }
    }

    #[test]
    fn a_decision_that_names_another_event_keeps_its_own_identity() {
        let event = full_event();
        let mut decision = decision_for(&event);
        decision.event_id = "other".into();
        decision.kind = EventKind::Logout;
        decision.occurred_at_ms = i64::MIN;
        assert_eq!(round_trip(&decision, &event).decision, decision);
    }

    #[test]
    fn simulated_traffic_round_trips_and_is_a_third_of_its_json() {
        let events = shopguard_sim::generate(&shopguard_sim::SimConfig {
            users: 200,
            days: 2,
            instances_per_attack: 2,
            start_ms: 1_795_000_000_000,
            seed: 5,
        });
        let (mut binary, mut json) = (0, 0);
        for (position, labelled) in events.into_iter().enumerate() {
            let event =
                Event::try_from_input(labelled.event, 1_796_000_000_000, || format!("e{position}"))
                    .unwrap();
            let mut decision = decision_for(&event);
            decision
                .matched
                .truncate(usize::from(event.amount.is_some()));
            decision.shadow_matched.clear();
            decision.actions.clear();
            decision.errors.clear();
            let mut bytes = Vec::new();
            encode_record(&mut bytes, &decision, &event).unwrap();
            let record = decode_record(&bytes).unwrap();
            assert_eq!((&record.decision, &record.event), (&decision, &event));
            binary += bytes.len();
            json += serde_json::to_vec(&record).unwrap().len();
        }
        assert!(binary * 2 < json, "binary {binary} bytes, JSON {json}");
    }

    #[test]
    fn json_records_still_decode() {
        let event = full_event();
        let decision = decision_for(&event);
        let record = DecisionRecord { decision, event };
        let json = serde_json::to_vec(&record).unwrap();
        assert_eq!(decode_record(&json).unwrap(), record);
    }

    #[test]
    fn damaged_records_are_errors_never_panics() {
        let event = full_event();
        let mut bytes = Vec::new();
        encode_record(&mut bytes, &decision_for(&event), &event).unwrap();
        for length in 0..bytes.len() {
            assert!(decode_record(&bytes[..length]).is_err(), "cut at {length}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode_record(&longer), Err(RecordFormatError::Trailing));
        // Every single-byte change either fails or decodes to some record: never a panic.
        for at in 0..bytes.len() {
            for value in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut changed = bytes.clone();
                changed[at] = value;
                let _ = decode_record(&changed);
            }
        }
        assert_eq!(
            decode_record(&[0x42]),
            Err(RecordFormatError::Bad("format marker"))
        );
    }

    #[test]
    fn codes_are_the_core_tables_and_the_first_unknown_code_is_refused() {
        let event = full_event();
        let mut decision = decision_for(&event);
        decision.challenge = None;
        let mut bytes = Vec::new();
        encode_record(&mut bytes, &decision, &event).unwrap();
        // Marker, the decision id's length and text, then the outcome and challenge codes.
        let outcome_at = 2 + decision.decision_id.len();
        assert_eq!(bytes[outcome_at], 1, "challenge");
        assert_eq!(bytes[outcome_at + 1], 0, "no challenge");
        for (at, first_unknown, what) in
            [(outcome_at, 4, "outcome"), (outcome_at + 1, 4, "challenge")]
        {
            let mut changed = bytes.clone();
            changed[at] = first_unknown;
            assert_eq!(decode_record(&changed), Err(RecordFormatError::Bad(what)));
        }
        assert_eq!(EventKind::CODES.len(), EventKind::COUNT);
    }

    #[test]
    fn varints_cover_the_whole_range() {
        for value in [0, 1, 127, 128, 16_383, 16_384, u64::MAX / 2, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(Reader { rest: &out }.varint(), Ok(value));
        }
        for value in [0, -1, 1, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            put_signed(&mut out, value);
            assert_eq!(Reader { rest: &out }.signed(), Ok(value));
        }
        // Eleven continuation bytes, or a tenth byte past 64 bits, are not a varint.
        assert!(Reader { rest: &[0xff; 11] }.varint().is_err());
        let mut too_big = vec![0xff; 9];
        too_big.push(0x02);
        assert_eq!(
            Reader { rest: &too_big }.varint(),
            Err(RecordFormatError::Bad("varint"))
        );
    }
}
