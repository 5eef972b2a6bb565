//! Explicit one-byte codes for the enums that are stored or hashed.
//!
//! An enum's declaration order is free to change; what is written to disk or fed into a hash
//! is not. Every enum that reaches a persisted format (the binary decision record, the engine
//! snapshot, the audit log's Merkle leaves, the keys of velocity series) therefore gets its
//! codes from a table written out by hand with [`crate::stored_codes!`]:
//!
//! - codes are only ever **appended**: a new variant takes the next unused number, and no
//!   code is ever reused or renumbered, even when its variant is removed;
//! - the generated `code` is an exhaustive `match`, so a new variant fails to compile until
//!   it gets a code, and a code given twice is an unreachable pattern in `from_code`, which
//!   the workspace's lints refuse;
//! - each table is pinned by a test that lists its numbers literally.
//!
//! Enums stored as text (list kinds, scopes, roles, record classes in SQLite) are pinned by
//! their names instead, which never change either.

/// An enum with a hand-written table of stored codes (see the module documentation).
pub trait StoredCode: Sized + Copy + Eq + std::fmt::Debug + 'static {
    /// What the enum is, for error messages (`event kind`).
    const WHAT: &'static str;
    /// Every variant with its code, in code order.
    const CODES: &'static [(Self, u8)];

    /// The stored code of this variant.
    fn code(self) -> u8;

    /// The variant stored as `code`, if any.
    fn from_code(code: u8) -> Option<Self>;
}

/// Writes a [`StoredCode`] table for a field-less enum, and inherent `code`/`from_code`
/// methods that call it.
///
/// ```ignore
/// stored_codes!(Outcome, "outcome", { Allow = 0, Challenge = 1, Review = 2, Deny = 3 });
/// ```
#[macro_export]
macro_rules! stored_codes {
    ($enum:ident, $what:literal, { $($variant:ident = $code:literal),+ $(,)? }) => {
        impl $crate::codes::StoredCode for $enum {
            const WHAT: &'static str = $what;
            const CODES: &'static [($enum, u8)] = &[$(($enum::$variant, $code)),+];

            fn code(self) -> u8 {
                match self {
                    $($enum::$variant => $code,)+
                }
            }

            fn from_code(code: u8) -> Option<$enum> {
                match code {
                    $($code => Some($enum::$variant),)+
                    _ => None,
                }
            }
        }

        impl $enum {
            /// The stored code of this variant (an explicit table: see [`crate::codes`]).
            pub fn code(self) -> u8 {
                <$enum as $crate::codes::StoredCode>::code(self)
            }

            /// The variant stored as `code`, if any.
            pub fn from_code(code: u8) -> Option<$enum> {
                <$enum as $crate::codes::StoredCode>::from_code(code)
            }
        }
    };
}

/// Serde helpers that write an enum as its stored code, for formats that would otherwise
/// write its declaration index (postcard). A code is written as a `u32`: postcard spells it
/// as the same varint it uses for a variant index, so a field moved to its code keeps its
/// bytes as long as the codes equal the old declaration indices.
pub mod serde_code {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::StoredCode;

    /// Writes `value` as its code.
    pub fn serialize<T: StoredCode, S: Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        u32::from(value.code()).serialize(serializer)
    }

    /// Reads a code; an unknown one is an error naming the enum.
    pub fn deserialize<'de, T: StoredCode, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<T, D::Error> {
        let code = u32::deserialize(deserializer)?;
        decode(code)
    }

    /// The variant of `code`, or an error naming the enum.
    pub fn decode<T: StoredCode, E: serde::de::Error>(code: u32) -> Result<T, E> {
        u8::try_from(code)
            .ok()
            .and_then(T::from_code)
            .ok_or_else(|| E::custom(format!("unknown {} code {code}", T::WHAT)))
    }
}

/// [`serde_code`] for a `Vec` of coded values.
pub mod serde_codes {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::StoredCode;

    /// Writes every value as its code.
    pub fn serialize<T: StoredCode, S: Serializer>(
        values: &[T],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(values.iter().map(|value| u32::from(value.code())))
    }

    /// Reads a sequence of codes.
    pub fn deserialize<'de, T: StoredCode, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<T>, D::Error> {
        Vec::<u32>::deserialize(deserializer)?
            .into_iter()
            .map(super::serde_code::decode)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    //! Each table pinned to its numbers, written out literally: reordering, inserting or
    //! renumbering a variant fails here. A new variant is appended to its test with the next
    //! code; no line of these tests ever changes.
    use super::*;
    use crate::audit::RecordClass;
    use crate::decision::{ChallengeKind, Outcome};
    use crate::event::{Channel, EventKind};
    use crate::features::{Aggregation, EntityKey};

    /// Test help: checks that a table holds every variant once, each code once, and that
    /// `code`/`from_code` agree with it.
    fn check_table<T: StoredCode>(every_variant: &[T]) -> Result<(), String> {
        for variant in every_variant {
            let listed: Vec<u8> = T::CODES
                .iter()
                .filter(|(listed, _)| listed == variant)
                .map(|(_, code)| *code)
                .collect();
            if listed != [variant.code()] {
                return Err(format!("{} {variant:?} listed as {listed:?}", T::WHAT));
            }
            if T::from_code(variant.code()) != Some(*variant) {
                return Err(format!("{} {variant:?} does not round-trip", T::WHAT));
            }
        }
        if T::CODES.len() != every_variant.len() {
            return Err(format!("{} table has extra rows", T::WHAT));
        }
        let mut codes: Vec<u8> = T::CODES.iter().map(|(_, code)| *code).collect();
        codes.sort_unstable();
        codes.dedup();
        if codes.len() != T::CODES.len() {
            return Err(format!("{} table repeats a code", T::WHAT));
        }
        Ok(())
    }

    #[test]
    fn record_class_codes_are_pinned() {
        assert_eq!(
            RecordClass::CODES,
            [
                (RecordClass::Registration, 0),
                (RecordClass::Login, 1),
                (RecordClass::Configuration, 2),
                (RecordClass::ListChange, 3),
                (RecordClass::Sanction, 4),
                (RecordClass::Incident, 5),
                (RecordClass::DataAccess, 6),
                (RecordClass::AccessControl, 7),
                (RecordClass::Other, 8),
            ]
        );
        check_table(&RecordClass::ALL).unwrap();
        assert_eq!(RecordClass::from_code(9), None);
    }

    #[test]
    fn alert_status_codes_are_pinned() {
        use crate::alerts::AlertStatus;
        assert_eq!(
            AlertStatus::CODES,
            [
                (AlertStatus::Open, 1),
                (AlertStatus::Acknowledged, 2),
                (AlertStatus::Resolved, 3),
                (AlertStatus::Dismissed, 4),
            ]
        );
        check_table(&AlertStatus::ALL).unwrap();
        assert_eq!(AlertStatus::from_code(0), None);
        assert_eq!(AlertStatus::from_code(5), None);
    }

    #[test]
    fn event_kind_codes_are_pinned() {
        assert_eq!(
            EventKind::CODES,
            [
                (EventKind::Register, 0),
                (EventKind::LoginSucceeded, 1),
                (EventKind::LoginFailed, 2),
                (EventKind::Logout, 3),
                (EventKind::PasswordReset, 4),
                (EventKind::ProfileChanged, 5),
                (EventKind::ListingPublished, 6),
                (EventKind::ListingEdited, 7),
                (EventKind::CommentPosted, 8),
                (EventKind::OrderPlaced, 9),
                (EventKind::Payment, 10),
                (EventKind::RefundRequested, 11),
                (EventKind::Withdrawal, 12),
                (EventKind::ComplaintFiled, 13),
                (EventKind::ChallengePassed, 14),
                (EventKind::ChallengeFailed, 15),
            ]
        );
        check_table(&EventKind::ALL).unwrap();
        assert_eq!(EventKind::from_code(16), None);
    }

    #[test]
    fn outcome_challenge_and_channel_codes_are_pinned() {
        use ChallengeKind::*;
        use Channel::*;
        assert_eq!(
            Outcome::CODES,
            [
                (Outcome::Allow, 0),
                (Outcome::Challenge, 1),
                (Outcome::Review, 2),
                (Outcome::Deny, 3),
            ]
        );
        assert_eq!(ChallengeKind::CODES, [(Captcha, 0), (Sms, 1), (Totp, 2)]);
        assert_eq!(
            Channel::CODES,
            [(Web, 0), (App, 1), (Api, 2), (MiniProgram, 3), (Unknown, 4)]
        );
        check_table(&[
            Outcome::Allow,
            Outcome::Challenge,
            Outcome::Review,
            Outcome::Deny,
        ])
        .unwrap();
        check_table(&[Captcha, Sms, Totp]).unwrap();
        check_table(&[Web, App, Api, MiniProgram, Unknown]).unwrap();
    }

    #[test]
    fn entity_key_codes_and_aggregation_codes_are_pinned() {
        use EntityKey::*;
        assert_eq!(
            EntityKey::CODES,
            [
                (User, 0),
                (Ip, 1),
                (IpPrefix, 2),
                (Device, 3),
                (Card, 4),
                (CardBin, 5),
                (Counterparty, 6),
                (Email, 7),
                (EmailDomain, 8),
                (Phone, 9),
                (UserAgent, 10),
                (Country, 11),
                (Global, 12),
            ]
        );
        check_table(&EntityKey::ALL).unwrap();
        assert_eq!(Aggregation::Count.code(), 0);
        assert_eq!(Aggregation::SumAmount.code(), 1);
        assert_eq!(Aggregation::Distinct(EntityKey::Ip).code(), 2);
    }

    /// Checks that each variant is spelled as listed and reads back from its spelling.
    fn pin_names<T>(rows: &[(T, &str)], as_str: fn(T) -> &'static str)
    where
        T: Copy + PartialEq + std::fmt::Debug + std::str::FromStr,
    {
        for (variant, name) in rows {
            assert_eq!(as_str(*variant), *name);
            assert_eq!(name.parse::<T>().ok(), Some(*variant), "{name}");
        }
    }

    #[test]
    fn names_stored_as_text_are_pinned() {
        use crate::lists::ListKind;
        use crate::rbac::{Role, Scope};
        // SQLite stores these by name: the audit queue's classes, list kinds, API key
        // scopes, operator and grant roles.
        pin_names(
            &[
                (RecordClass::Registration, "registration"),
                (RecordClass::Login, "login"),
                (RecordClass::Configuration, "configuration"),
                (RecordClass::ListChange, "list_change"),
                (RecordClass::Sanction, "sanction"),
                (RecordClass::Incident, "incident"),
                (RecordClass::DataAccess, "data_access"),
                (RecordClass::AccessControl, "access_control"),
                (RecordClass::Other, "other"),
            ],
            RecordClass::as_str,
        );
        pin_names(
            &[
                (ListKind::Ip, "ip"),
                (ListKind::Device, "device"),
                (ListKind::Email, "email"),
                (ListKind::EmailDomain, "email_domain"),
                (ListKind::Phone, "phone"),
                (ListKind::CardBin, "card_bin"),
                (ListKind::Domain, "domain"),
                (ListKind::User, "user"),
                (ListKind::Text, "text"),
            ],
            ListKind::as_str,
        );
        pin_names(
            &[
                (Scope::EventsWrite, "events:write"),
                (Scope::DecisionsRead, "decisions:read"),
                (Scope::AuditRead, "audit:read"),
                (Scope::PiiUnmask, "pii:unmask"),
                (Scope::ListsWrite, "lists:write"),
                (Scope::PolicyWrite, "policy:write"),
                (Scope::PolicyApprove, "policy:approve"),
                (Scope::AlertsWrite, "alerts:write"),
                (Scope::IncidentsRead, "incidents:read"),
                (Scope::IncidentsReport, "incidents:report"),
                (Scope::IncidentsWrite, "incidents:write"),
                (Scope::IncidentsApprove, "incidents:approve"),
                (Scope::DirectoryWrite, "directory:write"),
                (Scope::Admin, "admin"),
            ],
            Scope::as_str,
        );
        pin_names(
            &[
                (Role::Viewer, "viewer"),
                (Role::Analyst, "analyst"),
                (Role::Responder, "responder"),
                (Role::RuleAuthor, "rule_author"),
                (Role::Approver, "approver"),
                (Role::Administrator, "administrator"),
                (Role::Auditor, "auditor"),
            ],
            Role::as_str,
        );
    }

    #[test]
    fn a_table_with_a_missing_or_repeated_row_is_refused() {
        assert!(check_table(&[EventKind::Register]).is_err());
        assert!(check_table(&EntityKey::ALL[..3]).is_err());
    }

    #[test]
    fn codes_go_through_serde_as_numbers_and_unknown_ones_are_named() {
        #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
        struct Holder {
            #[serde(with = "serde_code")]
            kind: EventKind,
            #[serde(with = "serde_codes")]
            kinds: Vec<EventKind>,
        }
        let holder = Holder {
            kind: EventKind::Payment,
            kinds: vec![EventKind::Register, EventKind::ChallengeFailed],
        };
        let bytes = postcard::to_stdvec(&holder).unwrap();
        assert_eq!(bytes, [10, 2, 0, 15]);
        assert_eq!(postcard::from_bytes::<Holder>(&bytes).unwrap(), holder);
        let error = postcard::from_bytes::<Holder>(&[16, 0]).unwrap_err();
        assert!(matches!(error, postcard::Error::SerdeDeCustom));
        let json = serde_json::from_str::<Holder>(r#"{"kind": 99, "kinds": []}"#).unwrap_err();
        assert!(
            json.to_string().contains("unknown event kind code 99"),
            "{json}"
        );
    }
}
