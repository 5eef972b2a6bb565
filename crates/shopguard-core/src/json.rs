//! Events and decisions written as JSON by hand (and events read by hand, in [`read_event_input`]): the same bytes as `serde_json::to_writer`
//! (property tests hold the two to each other), in about half the time.
//!
//! Every decision is encoded once for its answer and its log record, and every event once
//! for the log. serde's derived encoder escapes each field name as well as each value, and
//! checks every string byte by byte. Here field names are byte literals, and a string is
//! copied whole unless it holds one of the characters JSON must escape (a check the compiler
//! vectorises), which ids, codes and user agents seldom do. Lists inside a decision (matched
//! rules, actions, errors) are left to serde.

mod read;

pub use read::{read_event_batch, read_event_input};

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use crate::decision::Decision;
use crate::event::Event;

/// Appends `decision` as a JSON object to `out`, exactly as serde would encode it.
pub fn write_decision_json(
    decision: &Decision,
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    out.extend_from_slice(b"{\"decision_id\":");
    write_str(out, &decision.decision_id)?;
    out.extend_from_slice(b",\"event_id\":");
    write_str(out, &decision.event_id)?;
    out.extend_from_slice(b",\"kind\":");
    write_str(out, decision.kind.as_str())?;
    out.extend_from_slice(b",\"user_id\":");
    write_str(out, &decision.user_id)?;
    out.extend_from_slice(b",\"outcome\":");
    write_str(out, decision.outcome.as_str())?;
    out.extend_from_slice(b",\"challenge\":");
    match decision.challenge {
        Some(challenge) => write_str(out, challenge.as_str())?,
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"score\":");
    serde_json::to_writer(&mut *out, &decision.score)?;
    out.extend_from_slice(b",\"matched\":");
    write_list(out, &decision.matched)?;
    out.extend_from_slice(b",\"shadow_matched\":");
    write_list(out, &decision.shadow_matched)?;
    out.extend_from_slice(b",\"actions\":");
    write_list(out, &decision.actions)?;
    out.extend_from_slice(b",\"errors\":");
    write_list(out, &decision.errors)?;
    out.extend_from_slice(b",\"policy_version\":");
    serde_json::to_writer(&mut *out, &decision.policy_version)?;
    out.extend_from_slice(b",\"occurred_at_ms\":");
    serde_json::to_writer(&mut *out, &decision.occurred_at_ms)?;
    out.push(b'}');
    Ok(())
}

/// A list: `[]` when empty (most decisions match nothing), else serde's encoding.
fn write_list<T: serde::Serialize>(
    out: &mut Vec<u8>,
    items: &[T],
) -> Result<(), serde_json::Error> {
    if items.is_empty() {
        out.extend_from_slice(b"[]");
        Ok(())
    } else {
        serde_json::to_writer(&mut *out, items)
    }
}

/// Appends `event` as a JSON object to `out`, exactly as serde would encode it. The members
/// come from the event field table (`event.rs`), in its order.
pub fn write_event_json(event: &Event, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    let start = out.len();
    event.write_json_members(out)?;
    // Each member starts with a comma: the first one's becomes the opening brace (an event
    // always has members: its id comes first).
    match out.get_mut(start) {
        Some(first) => {
            debug_assert_eq!(*first, b',');
            *first = b'{';
        }
        None => out.push(b'{'),
    }
    out.push(b'}');
    Ok(())
}

/// An IP address as a JSON string. Addresses print with digits, dots, colons and hex letters
/// only: nothing to escape.
pub(crate) fn write_ip(out: &mut Vec<u8>, ip: IpAddr) -> Result<(), serde_json::Error> {
    out.push(b'"');
    match ip {
        IpAddr::V4(v4) => write_ipv4(out, v4),
        IpAddr::V6(v6) => write!(out, "{v6}").map_err(serde_json::Error::io)?,
    }
    out.push(b'"');
    Ok(())
}

/// An IPv4 address in dotted decimal, as `Display` prints it, without the formatting
/// machinery (which took a quarter of the event's encoding time).
fn write_ipv4(out: &mut Vec<u8>, ip: Ipv4Addr) {
    for (position, octet) in ip.octets().into_iter().enumerate() {
        if position > 0 {
            out.push(b'.');
        }
        if octet >= 100 {
            out.push(b'0' + octet / 100);
        }
        if octet >= 10 {
            out.push(b'0' + octet / 10 % 10);
        }
        out.push(b'0' + octet % 10);
    }
}

/// A JSON string: copied whole when no byte needs escaping, else escaped by serde_json.
pub(crate) fn write_str(out: &mut Vec<u8>, text: &str) -> Result<(), serde_json::Error> {
    let needs_escape = text.bytes().fold(false, |found, byte| {
        found | (byte < 0x20) | (byte == b'"') | (byte == b'\\')
    });
    if needs_escape {
        return serde_json::to_writer(&mut *out, text);
    }
    out.reserve(text.len() + 2);
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::IpAddr;

    use proptest::prelude::*;

    use super::*;
    use crate::decision::{
        ActionTaken, AlertSeverity, ChallengeKind, MatchedRule, Outcome, RuleError,
    };
    use crate::event::{Channel, EventKind};

    /// Text with the characters JSON escapes, non-ASCII and plain runs (the reader's tests use
    /// it too).
    pub(super) fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9_.:/-]{0,40}",
            "\\PC{0,12}",
            prop::collection::vec(
                prop_oneof![
                    Just('"'),
                    Just('\\'),
                    Just('\n'),
                    Just('\u{1}'),
                    Just('\u{7f}'),
                    Just('é'),
                    Just('中'),
                    Just('a')
                ],
                0..12
            )
            .prop_map(|characters| characters.into_iter().collect()),
        ]
    }

    fn optional_text() -> impl Strategy<Value = Option<String>> {
        prop::option::of(text())
    }

    fn number() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(0.0),
            Just(-0.0),
            Just(f64::NAN),
            Just(1e21),
            Just(49_999.99)
        ]
    }

    prop_compose! {
        fn event()(
            ids in (text(), text()),
            kind in prop::sample::select(EventKind::ALL.to_vec()),
            at in any::<i64>(),
            ip in prop::option::of(any::<IpAddr>()),
            channel in prop::sample::select(vec![Channel::Web, Channel::App, Channel::Api, Channel::MiniProgram, Channel::Unknown]),
            first in prop::collection::vec(optional_text(), 7),
            second in prop::collection::vec(optional_text(), 7),
            third in prop::collection::vec(optional_text(), 6),
            location in prop::option::of((number(), number())),
            amount in prop::option::of(number()),
            success in prop::option::of(any::<bool>()),
            attrs in prop::collection::btree_map(text(), prop_oneof![
                text().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<bool>().prop_map(serde_json::Value::from),
            ], 0..3),
        ) -> Event {
            let mut texts = first.into_iter().chain(second).chain(third);
            let mut next = || texts.next().flatten();
            Event {
                event_id: ids.0,
                kind,
                occurred_at_ms: at,
                user_id: ids.1,
                ip,
                device_id: next(),
                user_agent: next(),
                channel,
                session_id: next(),
                email: next(),
                phone: next(),
                country: next(),
                city: next(),
                location,
                amount,
                currency: next(),
                counterparty_id: next(),
                order_id: next(),
                listing_id: next(),
                payment_method: next(),
                card_bin: next(),
                card_fingerprint: next(),
                purpose: next(),
                success,
                failure_reason: next(),
                changed_field: next(),
                title: next(),
                text: next(),
                target_id: next(),
                attrs: attrs.into_iter().collect::<BTreeMap<_, _>>(),
            }
        }
    }

    #[test]
    fn ipv4_addresses_print_as_display_prints_them() {
        for text in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.100.9",
            "192.168.1.10",
            "99.100.101.9",
        ] {
            let ip: Ipv4Addr = text.parse().unwrap();
            let mut out = Vec::new();
            write_ipv4(&mut out, ip);
            assert_eq!(String::from_utf8(out).unwrap(), ip.to_string());
        }
    }

    /// JSON written by the build before the event field table (commit 2938174), for an event
    /// with every field and one with a few: the answers and logs of today's clients.
    #[test]
    fn events_keep_the_json_of_earlier_builds() {
        let full = r#"{"event_id":"e-1","kind":"payment","occurred_at_ms":-5,"user_id":"ü-7","ip":"2001:db8::1","device_id":"d","user_agent":"ua","channel":"mini_program","session_id":"s","email":"a@b.example","phone":"+8613800000000","country":"CN","city":"Hangzhou","location":[30.25,-120.5],"amount":0.1,"currency":"CNY","counterparty_id":"m","order_id":"o","listing_id":"l","payment_method":"card","card_bin":"411111","card_fingerprint":"f","purpose":"deposit","success":false,"failure_reason":"r","changed_field":"phone","title":"t","text":"\"quoted\"\n","target_id":"x","attrs":{"id_number":"110101199003070000","nested":{"a":[1,2.5,null]}}}"#;
        let sparse = r#"{"event_id":"e-2","kind":"login_failed","occurred_at_ms":1795000000000,"user_id":"u","ip":"10.0.0.1","channel":"web","email":"x@y.example","amount":12.5,"success":true,"title":"ti","target_id":"tg"}"#;
        for text in [full, sparse] {
            let event: Event = serde_json::from_str(text).unwrap();
            let mut by_hand = Vec::new();
            write_event_json(&event, &mut by_hand).unwrap();
            assert_eq!(String::from_utf8(by_hand).unwrap(), text);
            assert_eq!(serde_json::to_string(&event).unwrap(), text);
        }
    }

    proptest! {
        #[test]
        fn writes_the_bytes_serde_writes(event in event()) {
            let mut by_hand = Vec::new();
            write_event_json(&event, &mut by_hand).unwrap();
            prop_assert_eq!(
                String::from_utf8(by_hand).unwrap(),
                serde_json::to_string(&event).unwrap()
            );
        }
    }

    fn outcome() -> impl Strategy<Value = Outcome> {
        prop::sample::select(vec![
            Outcome::Allow,
            Outcome::Challenge,
            Outcome::Review,
            Outcome::Deny,
        ])
    }

    fn matched_rule() -> impl Strategy<Value = MatchedRule> {
        (text(), text(), outcome(), any::<u32>(), any::<bool>()).prop_map(
            |(rule_id, reason, outcome, score, shadow)| MatchedRule {
                rule_id,
                reason,
                outcome,
                score,
                shadow,
            },
        )
    }

    fn action() -> impl Strategy<Value = ActionTaken> {
        prop_oneof![
            (text(), text(), prop::option::of(any::<i64>()), text()).prop_map(
                |(list, value, expires_at_ms, rule_id)| ActionTaken::AddedToList {
                    list,
                    value,
                    expires_at_ms,
                    rule_id,
                }
            ),
            (text(), text()).prop_map(|(rule_id, message)| ActionTaken::Alert {
                severity: AlertSeverity::High,
                rule_id,
                message,
            }),
        ]
    }

    prop_compose! {
        fn decision()(
            ids in (text(), text(), text()),
            kind in prop::sample::select(EventKind::ALL.to_vec()),
            outcome in outcome(),
            challenge in prop::option::of(prop::sample::select(vec![ChallengeKind::Captcha, ChallengeKind::Sms, ChallengeKind::Totp])),
            score in any::<u32>(),
            matched in prop::collection::vec(matched_rule(), 0..3),
            shadow_matched in prop::collection::vec(matched_rule(), 0..2),
            actions in prop::collection::vec(action(), 0..3),
            errors in prop::collection::vec((text(), text()).prop_map(|(rule_id, message)| RuleError { rule_id, message }), 0..2),
            policy_version in any::<u64>(),
            occurred_at_ms in any::<i64>(),
        ) -> Decision {
            Decision {
                decision_id: ids.0,
                event_id: ids.1,
                kind,
                user_id: ids.2,
                outcome,
                challenge,
                score,
                matched,
                shadow_matched,
                actions,
                errors,
                policy_version,
                occurred_at_ms,
            }
        }
    }

    proptest! {
        #[test]
        fn writes_the_decision_bytes_serde_writes(decision in decision()) {
            let mut by_hand = Vec::new();
            write_decision_json(&decision, &mut by_hand).unwrap();
            prop_assert_eq!(
                String::from_utf8(by_hand).unwrap(),
                serde_json::to_string(&decision).unwrap()
            );
        }
    }
}
