//! A frame's payload: the event time (`i64` LE) followed by the record in its binary form,
//! with personal fields sealed when the log encrypts them.

use shopguard_core::privacy::{has_personal_attrs, has_personal_values};
use shopguard_core::{Decision, Event};

use super::reencrypt::{reseal_personal_fields, resealed};
use crate::frames::FrameError;
use crate::keyring::Keyring;
use crate::record_format::{decode_record, encode_record_with_contacts, Contacts};
use crate::{DecisionRecord, RecordRef, StoreError, StoreResult};

/// Encodes a record's payload: the event time, then the record in its binary form with, given
/// `sealer`, the event's personal fields encrypted.
pub(crate) fn encode_payload(
    out: &mut Vec<u8>,
    record: RecordRef<'_>,
    sealer: Option<&Keyring>,
) -> StoreResult<()> {
    out.extend_from_slice(&record.decision.occurred_at_ms.to_le_bytes());
    match sealer {
        Some(keyring) if has_personal_values(record.event) => {
            let active = keyring.active_id();
            if !has_personal_attrs(record.event) {
                // The usual case: only the email and the phone are personal, and their
                // sealed forms are written in their place, without copying the event (the
                // test `only_the_email_and_the_phone_are_typed_personal_fields` holds the
                // privacy module to that).
                let seal = |value: &Option<String>| match value {
                    Some(text) => resealed(keyring, active, text),
                    None => Ok(None),
                };
                let (email, phone) = (seal(&record.event.email)?, seal(&record.event.phone)?);
                let contacts = Contacts {
                    email: email.as_deref(),
                    phone: phone.as_deref(),
                };
                return encode_body(out, record.decision, record.event, contacts);
            }
            // A copy of the event with its personal values sealed.
            let mut sealed = record.event.clone();
            reseal_personal_fields(&mut sealed, keyring, active)?;
            encode_body(out, record.decision, &sealed, Contacts::default())
        }
        _ => encode_body(out, record.decision, record.event, Contacts::default()),
    }
}

/// Appends a record's bytes (what follows the time prefix) as they are given.
pub(super) fn encode_body(
    out: &mut Vec<u8>,
    decision: &Decision,
    event: &Event,
    contacts: Contacts<'_>,
) -> StoreResult<()> {
    encode_record_with_contacts(out, decision, event, contacts).map_err(|error| {
        StoreError::Corrupt {
            operation: "encoding a decision record",
            detail: error.to_string(),
        }
    })
}

/// Decodes a record's payload as it is stored (personal fields still sealed).
pub(crate) fn decode_payload(payload: &[u8]) -> StoreResult<DecisionRecord> {
    decode(split_payload(payload)?.1)
}

pub(super) fn frame_error(operation: &'static str) -> impl FnOnce(FrameError) -> StoreError {
    move |error| match error {
        FrameError::Io(source) => StoreError::Io { operation, source },
        FrameError::Bad { offset, reason } => StoreError::Corrupt {
            operation,
            detail: format!("decision log frame at byte {offset}: {reason}"),
        },
    }
}

/// Splits a payload into the event time and the record's bytes.
pub(super) fn split_payload(payload: &[u8]) -> StoreResult<(i64, &[u8])> {
    if payload.len() < 8 {
        return Err(StoreError::Corrupt {
            operation: "reading the decision log",
            detail: "record shorter than its time prefix".into(),
        });
    }
    let (time, body) = payload.split_at(8);
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(time);
    Ok((i64::from_le_bytes(bytes), body))
}

pub(super) fn decode(body: &[u8]) -> StoreResult<DecisionRecord> {
    decode_record(body).map_err(|error| StoreError::Corrupt {
        operation: "decoding a logged decision",
        detail: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use shopguard_core::privacy::for_each_personal_field;

    #[test]
    fn only_the_email_and_the_phone_are_typed_personal_fields() {
        // `encode_payload` seals those two in place; a typed field the privacy module
        // starts to treat as personal must be sealed there too.
        let mut input = shopguard_core::EventInput {
            kind: Some(shopguard_core::EventKind::Payment),
            amount: Some(1.0),
            ..Default::default()
        };
        let texts = [
            &mut input.event_id,
            &mut input.user_id,
            &mut input.device_id,
            &mut input.user_agent,
            &mut input.session_id,
            &mut input.email,
            &mut input.phone,
            &mut input.city,
            &mut input.counterparty_id,
            &mut input.order_id,
            &mut input.listing_id,
            &mut input.payment_method,
            &mut input.card_bin,
            &mut input.card_fingerprint,
            &mut input.purpose,
            &mut input.failure_reason,
            &mut input.changed_field,
            &mut input.title,
            &mut input.text,
            &mut input.target_id,
        ];
        for (position, text) in texts.into_iter().enumerate() {
            *text = Some(format!("value{position}"));
        }
        input.country = Some("CN".into());
        input.currency = Some("CNY".into());
        let mut event = Event::try_from_input(input, 5_000, String::new).unwrap();
        let (email, phone) = (event.email.clone(), event.phone.clone());
        let mut visited = Vec::new();
        for_each_personal_field(&mut event, &mut |_, text| {
            visited.push(Some(text.clone()));
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(visited, [email, phone]);
    }

    #[test]
    fn contacts_sealed_in_place_give_the_bytes_of_a_sealed_copy() {
        use shopguard_core::{EventInput, EventKind, Outcome};
        let master = crate::keyring::LocalMasterKey::from_bytes(&[7; 32]);
        let keyring = Keyring::from_records(&master, &[]).unwrap();
        keyring.add(1, &[9; 32]);
        let phone_attr = serde_json::json!({ "phone": "+86 139 0000 0001" });
        let cases = [
            (Some("Buyer@Example.com"), Some("+86 138 0000 0000"), None),
            (Some("buyer@example.com"), None, None),
            (None, Some("+86 138 0000 0000"), None),
            (None, Some("+86 138 0000 0000"), Some(phone_attr)),
        ];
        for (email, phone, attrs) in cases {
            let event = Event::try_from_input(
                EventInput {
                    kind: Some(EventKind::ProfileChanged),
                    user_id: Some("user7".into()),
                    changed_field: Some("phone".into()),
                    email: email.map(str::to_owned),
                    phone: phone.map(str::to_owned),
                    attrs: attrs.map(|value| serde_json::from_value(value).unwrap()),
                    ..EventInput::default()
                },
                5_000,
                || "event7".into(),
            )
            .unwrap();
            let decision = Decision {
                decision_id: "decision7".into(),
                event_id: event.event_id.clone(),
                kind: event.kind,
                user_id: event.user_id.clone(),
                outcome: Outcome::Allow,
                challenge: None,
                score: 0,
                matched: Vec::new(),
                shadow_matched: Vec::new(),
                actions: Vec::new(),
                errors: Vec::new(),
                policy_version: 1,
                occurred_at_ms: event.occurred_at_ms,
            };
            let record = RecordRef {
                decision: &decision,
                event: &event,
            };
            let mut bytes = Vec::new();
            encode_payload(&mut bytes, record, Some(&keyring)).unwrap();
            let stored = decode_payload(&bytes).unwrap();
            for (original, kept) in [
                (&event.email, &stored.event.email),
                (&event.phone, &stored.event.phone),
            ] {
                match (original, kept) {
                    (Some(plain), Some(sealed)) => {
                        assert_eq!(Keyring::key_of(sealed), Some(1), "{sealed} is not sealed");
                        assert_eq!(&keyring.open(sealed).unwrap(), plain);
                    }
                    (None, None) => {}
                    other => panic!("a contact came and went: {other:?}"),
                }
            }
            if let Some(value) = stored.event.attrs.get("phone") {
                let sealed = value.as_str().unwrap();
                assert_eq!(keyring.open(sealed).unwrap(), "+86 139 0000 0001");
            }
            // The same bytes as the sealed copy gives (what the record decodes to).
            let mut copy = decision.occurred_at_ms.to_le_bytes().to_vec();
            encode_body(
                &mut copy,
                &stored.decision,
                &stored.event,
                Contacts::default(),
            )
            .unwrap();
            assert_eq!(copy, bytes);
            // A value sealed under the active key already is written as it is.
            let mut again = Vec::new();
            let sealed = RecordRef {
                decision: &stored.decision,
                event: &stored.event,
            };
            encode_payload(&mut again, sealed, Some(&keyring)).unwrap();
            assert_eq!(again, bytes);
        }
    }
}
