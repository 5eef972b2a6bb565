//! Personal data: classes, security levels and masking.
//!
//! DB33/T 978-2015 §8.4.4 asks that each kind of information have a defined security level,
//! and that its protection grow with the level. shopguard uses four levels:
//!
//! | level | meaning | examples | protection |
//! |---|---|---|---|
//! | 1 public | may be shown to anyone | listing titles | none |
//! | 2 internal | operators may see it | IPs, device ids, card BINs, coarse location | access control, audit |
//! | 3 confidential | personal data | phone, email, real name, address | encrypted at rest, masked in every view |
//! | 4 secret | harms the person if leaked | ID numbers, bank card numbers, 2FA secrets | encrypted at rest, masked in every view |
//!
//! Masking keeps enough to recognise a value (`138****1234`, `a***@example.com`), never
//! enough to use it. Unmasked values need the `pii:unmask` scope, and every unmasking is
//! recorded in the audit log.

use serde::{Deserialize, Serialize};

use crate::event::Event;

/// How sensitive a kind of data is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityLevel {
    /// May be shown to anyone.
    Public = 1,
    /// Operators may see it.
    Internal = 2,
    /// Personal data: encrypted at rest, masked in views.
    Confidential = 3,
    /// Harms the person if leaked: encrypted at rest, masked in views.
    Secret = 4,
}

/// Kinds of personal data shopguard handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataClass {
    /// A phone number.
    Phone,
    /// An email address.
    Email,
    /// A person's name.
    RealName,
    /// A postal address.
    Address,
    /// A national ID number.
    IdNumber,
    /// A full bank card number.
    BankCard,
    /// A TOTP secret.
    TotpSecret,
}

impl DataClass {
    /// The class's security level.
    pub fn level(self) -> SecurityLevel {
        match self {
            DataClass::Phone | DataClass::Email | DataClass::RealName | DataClass::Address => {
                SecurityLevel::Confidential
            }
            DataClass::IdNumber | DataClass::BankCard | DataClass::TotpSecret => {
                SecurityLevel::Secret
            }
        }
    }

    /// The class of an event field or free attribute by its name, when it holds personal
    /// data of level 3 or more.
    pub fn of_field(name: &str) -> Option<DataClass> {
        Some(match name {
            "phone" | "mobile" | "phone_number" => DataClass::Phone,
            "email" | "email_address" => DataClass::Email,
            "real_name" | "full_name" | "name" => DataClass::RealName,
            "address" | "shipping_address" | "billing_address" => DataClass::Address,
            "id_number" | "id_card" | "national_id" => DataClass::IdNumber,
            "bank_card" | "card_number" | "pan" => DataClass::BankCard,
            "totp_secret" => DataClass::TotpSecret,
            _ => return None,
        })
    }

    /// The value as views show it.
    pub fn mask(self, value: &str) -> String {
        let characters: Vec<char> = value.chars().collect();
        let count = characters.len();
        let keep = |first: usize, last: usize| -> String {
            if count <= first + last {
                return "*".repeat(count.max(1));
            }
            let mut masked: String = characters[..first].iter().collect();
            masked.push_str(&"*".repeat(count - first - last));
            masked.extend(&characters[count - last..]);
            masked
        };
        match self {
            DataClass::Phone => {
                // Keep the country code and carrier prefix and the last four digits:
                // +86 138****1234, 138****1234.
                let digits = characters.iter().filter(|c| c.is_ascii_digit()).count();
                if digits < 7 {
                    return "*".repeat(count.max(1));
                }
                let mut seen = 0;
                characters
                    .iter()
                    .map(|&c| {
                        if c.is_ascii_digit() {
                            seen += 1;
                            if seen > digits.saturating_sub(8) && seen <= digits - 4 {
                                return '*';
                            }
                        }
                        c
                    })
                    .collect()
            }
            DataClass::Email => match value.split_once('@') {
                Some((local, domain)) => {
                    let first = local.chars().next().map(String::from).unwrap_or_default();
                    format!("{first}***@{domain}")
                }
                None => keep(1, 0),
            },
            DataClass::RealName => keep(1, 0),
            DataClass::Address => {
                let shown: String = characters.iter().take(6.min(count / 2)).collect();
                format!("{shown}****")
            }
            DataClass::IdNumber => keep(3, 4),
            DataClass::BankCard => keep(0, 4),
            DataClass::TotpSecret => "********".to_owned(),
        }
    }
}

/// Calls `visit(class, text)` for every personal string value (level 3 or more) of an event
/// in its JSON form: its named fields, and its free attributes by name. The one place that
/// knows where personal data sits in an event; masking and encryption both go through it.
pub fn for_each_personal_value<E>(
    event: &mut serde_json::Value,
    visit: &mut dyn FnMut(DataClass, &mut String) -> Result<(), E>,
) -> Result<(), E> {
    let Some(fields) = event.as_object_mut() else {
        return Ok(());
    };
    for (name, value) in fields.iter_mut() {
        if name == "attrs" {
            if let Some(attributes) = value.as_object_mut() {
                for (attribute, attribute_value) in attributes.iter_mut() {
                    visit_value(attribute, attribute_value, visit)?;
                }
            }
        } else {
            visit_value(name, value, visit)?;
        }
    }
    Ok(())
}

/// Calls `visit(class, text)` for every personal string value of a typed event: the same
/// values [`for_each_personal_value`] visits in its JSON form (a test holds the two to each
/// other), without converting the event to JSON first.
pub fn for_each_personal_field<E>(
    event: &mut Event,
    visit: &mut dyn FnMut(DataClass, &mut String) -> Result<(), E>,
) -> Result<(), E> {
    for (name, field) in [("email", &mut event.email), ("phone", &mut event.phone)] {
        if let (Some(class), Some(text)) = (DataClass::of_field(name), field.as_mut()) {
            visit(class, text)?;
        }
    }
    for (attribute, value) in event.attrs.iter_mut() {
        visit_value(attribute, value, visit)?;
    }
    Ok(())
}

/// Whether a typed event holds a value [`for_each_personal_field`] would visit, without
/// copying the event first.
pub fn has_personal_values(event: &Event) -> bool {
    event.email.is_some() || event.phone.is_some() || has_personal_attrs(event)
}

/// Whether a free attribute of a typed event holds a personal value: when none does, its
/// email and its phone are all that [`for_each_personal_field`] visits.
pub fn has_personal_attrs(event: &Event) -> bool {
    event
        .attrs
        .iter()
        .any(|(name, value)| value.is_string() && DataClass::of_field(name).is_some())
}

fn visit_value<E>(
    name: &str,
    value: &mut serde_json::Value,
    visit: &mut dyn FnMut(DataClass, &mut String) -> Result<(), E>,
) -> Result<(), E> {
    match (DataClass::of_field(name), value) {
        (Some(class), serde_json::Value::String(text)) => visit(class, text),
        _ => Ok(()),
    }
}

/// Masks, in place, every level-3-or-more value of an event in its JSON form. Returns how
/// many values were masked.
pub fn mask_event_json(event: &mut serde_json::Value) -> usize {
    let mut masked = 0;
    let _ = for_each_personal_value::<std::convert::Infallible>(event, &mut |class, text| {
        *text = class.mask(text);
        masked += 1;
        Ok(())
    });
    masked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventInput;

    /// Every (class, value) a traversal visits, sorted.
    fn visited(
        traverse: impl FnOnce(
            &mut dyn FnMut(DataClass, &mut String) -> Result<(), ()>,
        ) -> Result<(), ()>,
    ) -> Vec<(String, String)> {
        let mut seen = Vec::new();
        traverse(&mut |class, text| {
            seen.push((format!("{class:?}"), text.clone()));
            Ok(())
        })
        .unwrap();
        seen.sort();
        seen
    }

    #[test]
    fn typed_and_json_traversals_visit_the_same_values() {
        // Every field an event can carry, with a value in each, and personal attributes.
        let input: EventInput = serde_json::from_value(serde_json::json!({
            "kind": "profile_changed", "user_id": "u1", "ip": "192.0.2.1",
            "device_id": "d1", "user_agent": "ua", "channel": "app", "session_id": "s1",
            "email": "ann@example.com", "phone": "13812341234", "country": "CN", "city": "Hangzhou",
            "latitude": 30.2, "longitude": 120.1, "amount": 5.0, "currency": "CNY",
            "counterparty_id": "c1", "order_id": "o1", "listing_id": "l1",
            "payment_method": "card", "card_bin": "622202", "card_fingerprint": "f1",
            "changed_field": "phone", "failure_reason": "bad_password", "success": true,
            "purpose": "deposit", "text": "hello", "title": "t", "target_id": "x",
            "attrs": {"real_name": "Ann Li", "id_number": "110101199003071234", "note": "n", "name": 3}
        }))
        .unwrap();
        let event = Event::try_from_input(input, 1_700_000_000_000, || "e1".to_owned()).unwrap();
        let mut typed = event.clone();
        let mut json = serde_json::to_value(&event).unwrap();
        let from_typed = visited(|visit| for_each_personal_field(&mut typed, visit));
        let from_json = visited(|visit| for_each_personal_value(&mut json, visit));
        assert_eq!(from_typed.len(), 4, "{from_typed:?}");
        assert_eq!(from_typed, from_json);
        assert!(has_personal_values(&event));
        let plain = Event {
            email: None,
            phone: None,
            attrs: [
                ("note".to_owned(), "n".into()),
                ("name".to_owned(), 3.into()),
            ]
            .into_iter()
            .collect(),
            ..event
        };
        let mut typed = plain.clone();
        assert!(visited(|visit| for_each_personal_field(&mut typed, visit)).is_empty());
        assert!(!has_personal_values(&plain));
    }

    #[test]
    fn masks_keep_enough_to_recognise_and_no_more() {
        assert_eq!(DataClass::Phone.mask("13812341234"), "138****1234");
        assert_eq!(DataClass::Phone.mask("+86 13812341234"), "+86 138****1234");
        assert_eq!(DataClass::Phone.mask("12345"), "*****");
        assert_eq!(
            DataClass::Email.mask("alice@example.com"),
            "a***@example.com"
        );
        assert_eq!(
            DataClass::IdNumber.mask("110101199003071234"),
            "110***********1234"
        );
        assert_eq!(
            DataClass::BankCard.mask("6222021234567890"),
            "************7890"
        );
        assert_eq!(DataClass::RealName.mask("张三丰"), "张**");
        assert_eq!(DataClass::TotpSecret.mask("JBSWY3DPEHPK3PXP"), "********");
        assert_eq!(DataClass::IdNumber.mask("123"), "***");
    }

    #[test]
    fn event_json_is_masked_in_fields_and_attributes() {
        let mut event = serde_json::json!({
            "user_id": "alice",
            "phone": "13812341234",
            "email": "alice@example.com",
            "ip": "203.0.113.7",
            "attrs": { "id_number": "110101199003071234", "plan": "gold" }
        });
        assert_eq!(mask_event_json(&mut event), 3);
        assert_eq!(event["phone"], "138****1234");
        assert_eq!(event["email"], "a***@example.com");
        assert_eq!(event["attrs"]["id_number"], "110***********1234");
        assert_eq!(event["attrs"]["plan"], "gold");
        assert_eq!(
            event["ip"], "203.0.113.7",
            "level 2 stays visible to operators"
        );
        assert_eq!(event["user_id"], "alice");
    }

    #[test]
    fn levels_follow_the_table() {
        assert_eq!(DataClass::Phone.level(), SecurityLevel::Confidential);
        assert_eq!(DataClass::IdNumber.level(), SecurityLevel::Secret);
        assert!(DataClass::of_field("user_id").is_none());
    }
}
