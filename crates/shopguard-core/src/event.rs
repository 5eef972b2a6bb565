//! Events: the sensitive actions a platform reports to shopguard.
//!
//! Raw input ([`EventInput`], every field optional, unknown fields refused) is turned into a
//! validated [`Event`] by [`Event::try_from_input`], which checks the fields each [`EventKind`]
//! requires and the size limits. Errors name the offending field so a client can fix its call.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest identifier accepted (user ids, device ids, order ids, ...), in bytes.
pub const MAX_ID_LEN: usize = 256;
/// Longest free text accepted (listing text, comments), in bytes.
pub const MAX_TEXT_LEN: usize = 16 * 1024;
/// Most free attributes on one event.
pub const MAX_ATTRS: usize = 64;
/// How far in the future an event's timestamp may lie before it is refused, in milliseconds.
pub const MAX_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;
/// Earliest timestamp a client may send (2000-01-01T00:00:00Z, in milliseconds since the
/// epoch; see [`check_received_time`]). Fixtures and simulations keep their own epochs.
pub const MIN_OCCURRED_AT_MS: i64 = 946_684_800_000;
/// Refuses a timestamp a client sent that lies before [`MIN_OCCURRED_AT_MS`]: a unit slip
/// (seconds for milliseconds) or a default value (`0`), never a real action, and one that
/// would put the event outside every velocity window. (Times in the future are bounded by
/// [`Event::try_from_input`], [`MAX_CLOCK_SKEW_MS`] ahead of the receive time.)
pub fn check_received_time(input: &EventInput) -> Result<(), EventError> {
    match input.occurred_at_ms {
        Some(at) if at < MIN_OCCURRED_AT_MS => Err(EventError::new(
            "occurred_at_ms",
            format!(
                "{at} lies before 2000-01-01 ({MIN_OCCURRED_AT_MS}): milliseconds since the Unix epoch are expected"
            ),
        )),
        _ => Ok(()),
    }
}

/// The event fields that hold identifiers, checked by [`crate::identifier::check`].
pub const IDENTIFIER_FIELDS: [&str; 8] = [
    "event_id",
    "user_id",
    "device_id",
    "session_id",
    "counterparty_id",
    "order_id",
    "listing_id",
    "target_id",
];

/// The kind of sensitive action an event reports.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A new account was created.
    Register,
    /// A login succeeded.
    LoginSucceeded,
    /// A login failed (wrong password, unknown account, ...).
    LoginFailed,
    /// A session ended.
    Logout,
    /// A password was reset or changed.
    PasswordReset,
    /// A profile field (phone, email, payment password, ...) changed.
    ProfileChanged,
    /// A listing (product, service) was published.
    ListingPublished,
    /// A published listing was edited.
    ListingEdited,
    /// A comment or review was posted.
    CommentPosted,
    /// An order was placed.
    OrderPlaced,
    /// Money moved in: a purchase payment or a deposit (top-up).
    Payment,
    /// A refund was requested.
    RefundRequested,
    /// Money moved out of the platform to the user.
    Withdrawal,
    /// A complaint was filed against a user, merchant or listing.
    ComplaintFiled,
    /// The user passed a challenge shopguard asked for (reported through the challenge API).
    ChallengePassed,
    /// The user failed a challenge shopguard asked for (reported through the challenge API).
    ChallengeFailed,
}

// Stored in every binary decision record and in the engine snapshot's feature shapes.
// Append only.
crate::stored_codes!(EventKind, "event kind", {
    Register = 0,
    LoginSucceeded = 1,
    LoginFailed = 2,
    Logout = 3,
    PasswordReset = 4,
    ProfileChanged = 5,
    ListingPublished = 6,
    ListingEdited = 7,
    CommentPosted = 8,
    OrderPlaced = 9,
    Payment = 10,
    RefundRequested = 11,
    Withdrawal = 12,
    ComplaintFiled = 13,
    ChallengePassed = 14,
    ChallengeFailed = 15,
});

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 16] = [
        EventKind::Register,
        EventKind::LoginSucceeded,
        EventKind::LoginFailed,
        EventKind::Logout,
        EventKind::PasswordReset,
        EventKind::ProfileChanged,
        EventKind::ListingPublished,
        EventKind::ListingEdited,
        EventKind::CommentPosted,
        EventKind::OrderPlaced,
        EventKind::Payment,
        EventKind::RefundRequested,
        EventKind::Withdrawal,
        EventKind::ComplaintFiled,
        EventKind::ChallengePassed,
        EventKind::ChallengeFailed,
    ];

    /// Number of kinds; sizes per-kind dispatch tables.
    pub const COUNT: usize = Self::ALL.len();

    /// The snake_case name used on the wire and in CEL (`event.kind == 'login_failed'`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Register => "register",
            EventKind::LoginSucceeded => "login_succeeded",
            EventKind::LoginFailed => "login_failed",
            EventKind::Logout => "logout",
            EventKind::PasswordReset => "password_reset",
            EventKind::ProfileChanged => "profile_changed",
            EventKind::ListingPublished => "listing_published",
            EventKind::ListingEdited => "listing_edited",
            EventKind::CommentPosted => "comment_posted",
            EventKind::OrderPlaced => "order_placed",
            EventKind::Payment => "payment",
            EventKind::RefundRequested => "refund_requested",
            EventKind::Withdrawal => "withdrawal",
            EventKind::ComplaintFiled => "complaint_filed",
            EventKind::ChallengePassed => "challenge_passed",
            EventKind::ChallengeFailed => "challenge_failed",
        }
    }

    /// Position in [`EventKind::ALL`], for dispatch tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether clients may send this kind to the event API; challenge results arrive through
    /// the challenge endpoint instead, linked to the decision that asked for them.
    pub fn is_client_reportable(self) -> bool {
        !matches!(
            self,
            EventKind::ChallengePassed | EventKind::ChallengeFailed
        )
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or(())
    }
}

/// Where the action came from.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Browser.
    Web,
    /// Mobile app.
    App,
    /// Third-party or open API.
    Api,
    /// Mini program inside another app.
    MiniProgram,
    /// Not said.
    #[default]
    Unknown,
}

// Stored in every binary decision record. Append only.
crate::stored_codes!(Channel, "channel", {
    Web = 0,
    App = 1,
    Api = 2,
    MiniProgram = 3,
    Unknown = 4,
});

impl Channel {
    /// The snake_case name used on the wire and in CEL.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::App => "app",
            Channel::Api => "api",
            Channel::MiniProgram => "mini_program",
            Channel::Unknown => "unknown",
        }
    }

    /// The channel named `name` as in JSON (`"mini_program"`), if there is one.
    pub fn from_name(name: &str) -> Option<Channel> {
        [
            Channel::Web,
            Channel::App,
            Channel::Api,
            Channel::MiniProgram,
            Channel::Unknown,
        ]
        .into_iter()
        .find(|channel| channel.as_str() == name)
    }
}

#[macro_use]
mod fields;

pub(crate) use fields::InputValues;
pub use fields::{stored_bit, StoredField, StoredSource, StoredType, StoredValue};

// The event field table: the one place a field is declared. Each row is a field as a client
// sends it, its shape (see `fields.rs`: the types on both sides, how it is read, checked,
// written and stored) and, for an optional field, its presence bit in binary records after
// `@`. A bit is fixed once any record holds it: a new field takes the next unused bit, and
// `event::tests::presence_bits_are_pinned` must be extended, never edited. The rows' order is
// the order of the fields in both types and in their JSON.
event_fields! {
    /// Raw event as a client sends it: every field optional, unknown fields refused.
    ///
    /// Turn it into an [`Event`] with [`Event::try_from_input`]. Absent fields are left out when
    /// it is written (the simulator's files, the load generator's bodies), not spelled `null`;
    /// either form reads.
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    // `remote = "Self"`: the derives become inherent functions, called by the trait impls
    // below, which read an event from a JSON object only (never from an array).
    #[serde(deny_unknown_fields, remote = "Self")]
    pub struct EventInput;

    /// A validated event, ready for the engine.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Event;

    fields {
        /// Client-side id of the event, for idempotency and tracing; generated when absent.
        event_id: Id(generated),
        /// Kind of action (required).
        kind: Kind,
        /// When it happened, milliseconds since the Unix epoch; the receive time when absent.
        occurred_at_ms: Time,
        /// The acting account (for failed logins: the account name tried).
        user_id: Id(required),
        /// Client IP address, IPv4 or IPv6.
        ip: Ip @ 20,
        /// Device fingerprint or id.
        device_id: Text(MAX_ID_LEN) @ 0,
        /// HTTP user agent.
        user_agent: Text(1024) @ 1,
        /// Web, app, api, mini_program.
        channel: Channel,
        /// Session id.
        session_id: Text(MAX_ID_LEN) @ 2,
        /// Email address involved (registration, profile change).
        email: Text(MAX_ID_LEN, normalise_email) @ 3,
        /// Phone number involved.
        phone: Text(MAX_ID_LEN) @ 4,
        /// ISO 3166-1 alpha-2 country from the platform's IP geolocation.
        country: Text(2, ascii_uppercase) @ 5,
        /// City from the platform's IP geolocation.
        city: Text(MAX_ID_LEN) @ 6,
        /// Latitude in degrees, from geolocation.
        latitude: LocationLatitude @ 21,
        /// Longitude in degrees, from geolocation.
        longitude: LocationLongitude,
        /// Amount of money, in major units of `currency`.
        amount: Number @ 22,
        /// ISO 4217 currency code.
        currency: Text(3, ascii_uppercase) @ 7,
        /// The other party: merchant, seller, payee.
        counterparty_id: Text(MAX_ID_LEN) @ 8,
        /// Order id.
        order_id: Text(MAX_ID_LEN) @ 9,
        /// Listing id.
        listing_id: Text(MAX_ID_LEN) @ 10,
        /// Payment method (card, wallet, bank_transfer, ...).
        payment_method: Text(MAX_ID_LEN) @ 11,
        /// First six to eight digits of the card.
        card_bin: Text(MAX_ID_LEN) @ 12,
        /// Stable fingerprint of the card number (never the number itself).
        card_fingerprint: Text(MAX_ID_LEN) @ 13,
        /// For payments: `purchase` or `deposit`.
        purpose: Text(MAX_ID_LEN) @ 14,
        /// Whether the action succeeded (payments, withdrawals).
        success: Flag @ 23,
        /// Why it failed: `bad_password`, `unknown_user`, `card_declined`, ...
        failure_reason: Text(MAX_ID_LEN) @ 15,
        /// For profile changes: `phone`, `email`, `password`, `payment_password`, `address`, `bank_account`.
        changed_field: Text(MAX_ID_LEN) @ 16,
        /// Listing title.
        title: Text(1024) @ 17,
        /// Listing description, comment or complaint text.
        text: Text(MAX_TEXT_LEN) @ 18,
        /// What a comment or complaint is about (listing, user, merchant id).
        target_id: Text(MAX_ID_LEN) @ 19,
        /// Free attributes for rules (`event.attrs.name`); strings, numbers, booleans, lists, maps.
        attrs: Attrs,
    }
}

impl Serialize for EventInput {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        EventInput::serialize(self, serializer)
    }
}

/// An event is read from a JSON object only: serde's derived reader would also take an array
/// of the fields in table order (`["payment", 1, "u1"]`), a form nobody means to send and a
/// misplaced value in which goes unnoticed.
impl<'de> Deserialize<'de> for EventInput {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EventObject)
    }
}

/// Reads an [`EventInput`] from a map, through the derived reader.
struct EventObject;

impl<'de> serde::de::Visitor<'de> for EventObject {
    type Value = EventInput;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an event object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<EventInput, A::Error> {
        EventInput::deserialize(serde::de::value::MapAccessDeserializer::new(map))
    }
}

/// The fields of an event that every binary record holds, whatever its optional fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    /// Client-side or generated id.
    pub event_id: String,
    /// Kind of action.
    pub kind: EventKind,
    /// When it happened, milliseconds since the Unix epoch.
    pub occurred_at_ms: i64,
    /// The acting account.
    pub user_id: String,
    /// Where the action came from.
    pub channel: Channel,
}

/// The fields of an input whose checks are written by hand (kind, time, address, location,
/// attributes), checked, in the order their errors take precedence.
struct CheckedInput {
    kind: EventKind,
    occurred_at_ms: i64,
    ip: Option<IpAddr>,
    location: Option<(f64, f64)>,
    attrs: BTreeMap<String, serde_json::Value>,
}

/// Why an event was refused; names the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct EventError {
    /// The field at fault, as spelled on the wire.
    pub field: String,
    /// What is wrong with it, lowercase, no trailing period.
    pub message: String,
}

impl EventError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        EventError {
            field: field.into(),
            message: message.into(),
        }
    }
}

fn check_len(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, EventError> {
    match value {
        Some(text) if text.len() > max => Err(EventError::new(
            field,
            format!("is {} bytes long, the limit is {max}", text.len()),
        )),
        Some(text) if text.is_empty() => Err(EventError::new(field, "must not be empty")),
        other => Ok(other),
    }
}

/// Upper-cases ASCII letters in place (a country or currency code): no new allocation.
fn ascii_uppercase(mut text: String) -> String {
    text.make_ascii_uppercase();
    text
}

/// An email address as stored: trimmed and lower-cased.
fn normalise_email(email: String) -> String {
    email.trim().to_lowercase()
}

fn id_field(field: &str, value: Option<String>) -> Result<Option<String>, EventError> {
    check_len(field, value, MAX_ID_LEN)
}

fn require<T>(kind: EventKind, field: &str, value: &Option<T>) -> Result<(), EventError> {
    if value.is_none() {
        return Err(EventError::new(
            field,
            format!("is required for {kind} events"),
        ));
    }
    Ok(())
}

fn json_depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => 1 + items.iter().map(json_depth).max().unwrap_or(0),
        serde_json::Value::Object(map) => 1 + map.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

impl CheckedInput {
    /// Takes the fields with hand-written checks out of `input` and checks them; `now_ms`
    /// fills a missing timestamp and bounds a future one. The amount is checked in place.
    fn take_from(input: &mut EventInput, now_ms: i64) -> Result<CheckedInput, EventError> {
        let kind = input
            .kind
            .ok_or_else(|| EventError::new("kind", "is required"))?;
        let occurred_at_ms = input.occurred_at_ms.unwrap_or(now_ms);
        if occurred_at_ms > now_ms + MAX_CLOCK_SKEW_MS {
            return Err(EventError::new(
                "occurred_at_ms",
                "lies more than five minutes in the future",
            ));
        }
        if occurred_at_ms < 0 {
            return Err(EventError::new("occurred_at_ms", "must not be negative"));
        }
        let ip = match input.ip.take() {
            Some(text) => Some(
                text.trim()
                    .parse::<IpAddr>()
                    .map_err(|_| EventError::new("ip", "is not an IPv4 or IPv6 address"))?,
            ),
            None => None,
        };
        let location = match (input.latitude, input.longitude) {
            (Some(lat), Some(lon)) => {
                if !(-90.0..=90.0).contains(&lat) {
                    return Err(EventError::new("latitude", "must lie in -90..=90"));
                }
                if !(-180.0..=180.0).contains(&lon) {
                    return Err(EventError::new("longitude", "must lie in -180..=180"));
                }
                Some((lat, lon))
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(EventError::new("longitude", "is required with latitude"))
            }
            (None, Some(_)) => {
                return Err(EventError::new("latitude", "is required with longitude"))
            }
        };
        if let Some(amount) = input.amount {
            if !amount.is_finite() || amount < 0.0 {
                return Err(EventError::new(
                    "amount",
                    "must be a finite, non-negative number",
                ));
            }
        }
        let attrs = input.attrs.take().unwrap_or_default();
        if attrs.len() > MAX_ATTRS {
            return Err(EventError::new(
                "attrs",
                format!("has {} entries, the limit is {MAX_ATTRS}", attrs.len()),
            ));
        }
        for (name, value) in &attrs {
            if name.is_empty() || name.len() > 64 {
                return Err(EventError::new("attrs", "names must be 1 to 64 bytes long"));
            }
            if json_depth(value) > 4 {
                return Err(EventError::new(
                    format!("attrs.{name}"),
                    "nests deeper than 4 levels",
                ));
            }
        }
        Ok(CheckedInput {
            kind,
            occurred_at_ms,
            ip,
            location,
            attrs,
        })
    }
}

impl Event {
    /// Validates raw input into an event. `now_ms` is the receive time: it fills a missing
    /// timestamp and bounds a future one; `generated_id` fills a missing event id.
    pub fn try_from_input(
        mut input: EventInput,
        now_ms: i64,
        generated_id: impl FnOnce() -> String,
    ) -> Result<Event, EventError> {
        let checked = CheckedInput::take_from(&mut input, now_ms)?;
        let event = Event::from_checked_input(input, checked, generated_id)?;
        event.check_identifiers()?;
        event.check_required_fields()?;
        Ok(event)
    }

    /// Checks every identifier field against the one identifier rule.
    fn check_identifiers(&self) -> Result<(), EventError> {
        let values = [
            Some(self.event_id.as_str()),
            Some(self.user_id.as_str()),
            self.device_id.as_deref(),
            self.session_id.as_deref(),
            self.counterparty_id.as_deref(),
            self.order_id.as_deref(),
            self.listing_id.as_deref(),
            self.target_id.as_deref(),
        ];
        for (field, value) in IDENTIFIER_FIELDS.into_iter().zip(values) {
            if let Some(value) = value {
                crate::identifier::check(value)
                    .map_err(|problem| EventError::new(field, problem.to_string()))?;
            }
        }
        Ok(())
    }

    /// Checks the fields that this event's kind requires.
    fn check_required_fields(&self) -> Result<(), EventError> {
        let kind = self.kind;
        match kind {
            EventKind::Register
            | EventKind::LoginSucceeded
            | EventKind::LoginFailed
            | EventKind::PasswordReset => require(kind, "ip", &self.ip),
            EventKind::ProfileChanged => require(kind, "changed_field", &self.changed_field),
            EventKind::ListingPublished | EventKind::ListingEdited => {
                require(kind, "listing_id", &self.listing_id)?;
                require(kind, "title", &self.title)
            }
            EventKind::CommentPosted => require(kind, "text", &self.text),
            EventKind::OrderPlaced | EventKind::RefundRequested => {
                require(kind, "order_id", &self.order_id)?;
                require(kind, "amount", &self.amount)?;
                require(kind, "currency", &self.currency)
            }
            EventKind::Payment | EventKind::Withdrawal => {
                require(kind, "amount", &self.amount)?;
                require(kind, "currency", &self.currency)
            }
            EventKind::ComplaintFiled => require(kind, "target_id", &self.target_id),
            EventKind::Logout | EventKind::ChallengePassed | EventKind::ChallengeFailed => Ok(()),
        }
    }

    /// The domain part of the email address, if any.
    pub fn email_domain(&self) -> Option<&str> {
        self.email
            .as_deref()
            .and_then(|email| email.rsplit_once('@'))
            .map(|(_, domain)| domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: EventKind) -> EventInput {
        EventInput {
            kind: Some(kind),
            user_id: Some("u1".into()),
            ip: Some("203.0.113.7".into()),
            ..EventInput::default()
        }
    }

    /// The presence bit of every stored field, as records on disk hold them. A new field adds
    /// its line at the end, with a bit above all of these; a changed line would make every
    /// stored record with that field read as another one.
    const PINNED_BITS: [(&str, u32, StoredType); 24] = [
        ("device_id", 0, StoredType::Text),
        ("user_agent", 1, StoredType::Text),
        ("session_id", 2, StoredType::Text),
        ("email", 3, StoredType::Text),
        ("phone", 4, StoredType::Text),
        ("country", 5, StoredType::Text),
        ("city", 6, StoredType::Text),
        ("currency", 7, StoredType::Text),
        ("counterparty_id", 8, StoredType::Text),
        ("order_id", 9, StoredType::Text),
        ("listing_id", 10, StoredType::Text),
        ("payment_method", 11, StoredType::Text),
        ("card_bin", 12, StoredType::Text),
        ("card_fingerprint", 13, StoredType::Text),
        ("purpose", 14, StoredType::Text),
        ("failure_reason", 15, StoredType::Text),
        ("changed_field", 16, StoredType::Text),
        ("title", 17, StoredType::Text),
        ("text", 18, StoredType::Text),
        ("target_id", 19, StoredType::Text),
        ("ip", 20, StoredType::Ip),
        ("location", 21, StoredType::Pair),
        ("amount", 22, StoredType::Number),
        ("success", 23, StoredType::Flag),
    ];

    #[test]
    fn presence_bits_are_pinned() {
        let mut table: Vec<(&str, u32, StoredType)> = Event::STORED_FIELDS
            .iter()
            .map(|field| (field.name, field.bit, field.value))
            .collect();
        table.sort_by_key(|(_, bit, _)| *bit);
        assert_eq!(
            &table[..PINNED_BITS.len().min(table.len())],
            &PINNED_BITS[..],
            "a stored field's bit or type changed: records already written would misread"
        );
        let highest_pinned = PINNED_BITS.iter().map(|(_, bit, _)| *bit).max().unwrap();
        for (name, bit, _) in &table[PINNED_BITS.len()..] {
            assert!(
                *bit > highest_pinned,
                "new field {name} must take a bit above {highest_pinned}, not {bit}"
            );
        }
        assert_eq!(
            table.len(),
            PINNED_BITS.len(),
            "a new stored field: add its line at the end of PINNED_BITS"
        );
    }

    #[test]
    #[should_panic(expected = "share a presence bit")]
    fn a_shared_bit_is_refused() {
        fields::check_stored_bits(&[
            StoredField {
                name: "a",
                bit: 3,
                value: StoredType::Text,
            },
            StoredField {
                name: "b",
                bit: 3,
                value: StoredType::Flag,
            },
        ]);
    }

    #[test]
    #[should_panic(expected = "below 64")]
    fn a_bit_past_the_presence_set_is_refused() {
        fields::check_stored_bits(&[StoredField {
            name: "a",
            bit: 64,
            value: StoredType::Text,
        }]);
    }

    fn full_input() -> EventInput {
        serde_json::from_value(serde_json::json!({
            "event_id": "e-1", "kind": "payment", "occurred_at_ms": 5, "user_id": "u",
            "ip": "2001:db8::1", "device_id": "d", "user_agent": "ua", "channel": "app",
            "session_id": "s", "email": "a@b.example", "phone": "+86", "country": "cn",
            "city": "c", "latitude": 30.25, "longitude": -120.5, "amount": 0.1,
            "currency": "cny", "counterparty_id": "m", "order_id": "o", "listing_id": "l",
            "payment_method": "card", "card_bin": "411111", "card_fingerprint": "f",
            "purpose": "deposit", "success": false, "failure_reason": "r",
            "changed_field": "phone", "title": "t", "text": "x", "target_id": "g",
            "attrs": {"k": 1}
        }))
        .unwrap()
    }

    /// Values for `read_stored_field`, taken in turn; an error when the next one is of
    /// another type or there is none.
    struct Values(std::vec::IntoIter<StoredValue<String>>);

    impl StoredSource for Values {
        type Error = String;

        fn text(&mut self) -> Result<String, String> {
            match self.0.next() {
                Some(StoredValue::Text(text)) => Ok(text),
                other => Err(format!("text expected, not {other:?}")),
            }
        }
        fn ip(&mut self) -> Result<IpAddr, String> {
            match self.0.next() {
                Some(StoredValue::Ip(ip)) => Ok(ip),
                other => Err(format!("address expected, not {other:?}")),
            }
        }
        fn pair(&mut self) -> Result<(f64, f64), String> {
            match self.0.next() {
                Some(StoredValue::Pair(first, second)) => Ok((first, second)),
                other => Err(format!("pair expected, not {other:?}")),
            }
        }
        fn number(&mut self) -> Result<f64, String> {
            match self.0.next() {
                Some(StoredValue::Number(number)) => Ok(number),
                other => Err(format!("number expected, not {other:?}")),
            }
        }
        fn flag(&mut self) -> Result<bool, String> {
            match self.0.next() {
                Some(StoredValue::Flag(flag)) => Ok(flag),
                other => Err(format!("flag expected, not {other:?}")),
            }
        }
    }

    #[test]
    fn stored_fields_read_and_set_what_they_name() {
        let event = Event::try_from_input(full_input(), 10, || "x".into()).unwrap();
        let all_bits = Event::STORED_FIELDS
            .iter()
            .fold(0u64, |bits, field| bits | 1 << field.bit);
        assert_eq!(event.stored_presence(), all_bits);
        let mut rebuilt = Event::from_envelope(Envelope {
            event_id: event.event_id.clone(),
            kind: event.kind,
            occurred_at_ms: event.occurred_at_ms,
            user_id: event.user_id.clone(),
            channel: event.channel,
        });
        assert_eq!(rebuilt.stored_presence(), 0);
        for field in Event::STORED_FIELDS {
            let value = event
                .stored_field(field.bit)
                .unwrap_or_else(|| panic!("{} is set", field.name));
            let (stored_type, owned) = match value {
                StoredValue::Text(text) => (StoredType::Text, StoredValue::Text(text.to_owned())),
                StoredValue::Ip(ip) => (StoredType::Ip, StoredValue::Ip(ip)),
                StoredValue::Pair(first, second) => {
                    (StoredType::Pair, StoredValue::Pair(first, second))
                }
                StoredValue::Number(number) => (StoredType::Number, StoredValue::Number(number)),
                StoredValue::Flag(flag) => (StoredType::Flag, StoredValue::Flag(flag)),
            };
            assert_eq!(stored_type, field.value, "{}", field.name);
            let mut source = Values(vec![owned].into_iter());
            assert_eq!(rebuilt.read_stored_field(field.bit, &mut source), Ok(true));
            assert_eq!(
                stored_bit(Event::STORED_FIELDS, field.name),
                Some(field.bit)
            );
        }
        rebuilt.attrs = event.attrs.clone();
        assert_eq!(rebuilt, event);
        // A bit of no field reads nothing; a value of the wrong type is the source's error.
        let mut source = Values(vec![StoredValue::Text("not an address".into())].into_iter());
        assert_eq!(rebuilt.read_stored_field(63, &mut source), Ok(false));
        assert!(rebuilt.read_stored_field(20, &mut source).is_err());
        assert_eq!(stored_bit(Event::STORED_FIELDS, "attrs"), None);
    }

    #[test]
    fn every_input_field_reaches_the_event() {
        let event = Event::try_from_input(full_input(), 10, || "x".into()).unwrap();
        let written = serde_json::to_value(&event).unwrap();
        let members = written.as_object().unwrap();
        for name in EventInput::FIELD_NAMES {
            let event_name = match *name {
                "latitude" | "longitude" => "location",
                other => other,
            };
            assert!(members.contains_key(event_name), "{name} is lost");
        }
        assert_eq!(event.country.as_deref(), Some("CN"));
        assert_eq!(event.currency.as_deref(), Some("CNY"));
        assert_eq!(event.location, Some((30.25, -120.5)));
    }

    #[test]
    fn missing_amount_on_payment_names_the_field() {
        let error = Event::try_from_input(input(EventKind::Payment), 1_000, || "x".into())
            .expect_err("a payment without amount must be refused");
        assert_eq!(error.field, "amount");
        assert!(error.message.contains("payment"), "{error}");
    }

    #[test]
    fn text_fields_are_checked_in_order_and_normalised() {
        let decide = |raw: EventInput| Event::try_from_input(raw, 1_000, || "generated".into());
        let mut raw = input(EventKind::Logout);
        raw.user_id = None;
        raw.device_id = Some(String::new());
        let error = decide(raw).unwrap_err();
        assert_eq!(
            (error.field.as_str(), error.message.as_str()),
            ("user_id", "is required"),
            "the user is named before the fields after it"
        );
        let mut raw = input(EventKind::Logout);
        raw.device_id = Some(String::new());
        raw.title = Some("t".repeat(1_025));
        let error = decide(raw).unwrap_err();
        assert_eq!(
            (error.field.as_str(), error.message.as_str()),
            ("device_id", "must not be empty")
        );
        let mut raw = input(EventKind::Logout);
        raw.title = Some("t".repeat(1_025));
        let error = decide(raw).unwrap_err();
        assert_eq!(error.field, "title");
        assert_eq!(error.message, "is 1025 bytes long, the limit is 1024");
        let mut raw = input(EventKind::Logout);
        raw.country = Some("CHN".into());
        assert_eq!(decide(raw).unwrap_err().field, "country");
        let mut raw = input(EventKind::Logout);
        raw.user_id = Some("u".repeat(MAX_ID_LEN + 1));
        assert_eq!(decide(raw).unwrap_err().field, "user_id");

        let mut raw = input(EventKind::Logout);
        raw.email = Some(" Buyer@Example.COM ".into());
        raw.country = Some("cn".into());
        raw.currency = Some("cny".into());
        let event = decide(raw).unwrap();
        assert_eq!(event.event_id, "generated");
        assert_eq!(event.user_id, "u1");
        assert_eq!(event.email.as_deref(), Some("buyer@example.com"));
        assert_eq!(event.country.as_deref(), Some("CN"));
        assert_eq!(event.currency.as_deref(), Some("CNY"));
    }

    #[test]
    fn bad_ip_is_refused() {
        let mut raw = input(EventKind::LoginFailed);
        raw.ip = Some("300.1.1.1".into());
        let error = Event::try_from_input(raw, 1_000, || "x".into()).unwrap_err();
        assert_eq!(error.field, "ip");
    }

    #[test]
    fn future_timestamp_is_refused_and_missing_one_is_filled() {
        let mut raw = input(EventKind::LoginFailed);
        raw.occurred_at_ms = Some(1_000 + MAX_CLOCK_SKEW_MS + 1);
        assert_eq!(
            Event::try_from_input(raw, 1_000, || "x".into())
                .unwrap_err()
                .field,
            "occurred_at_ms"
        );
        let event =
            Event::try_from_input(input(EventKind::LoginFailed), 1_000, || "gen".into()).unwrap();
        assert_eq!(event.occurred_at_ms, 1_000);
        assert_eq!(event.event_id, "gen");
    }

    #[test]
    fn unknown_fields_are_refused_by_the_wire_type() {
        let error = serde_json::from_str::<EventInput>(r#"{"kind":"logout","usr":"a"}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("usr"), "{error}");
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
            assert_eq!(EventKind::ALL[kind.index()], kind);
        }
    }

    #[test]
    fn identifiers_follow_the_identifier_rule() {
        let refused = |raw: EventInput| {
            Event::try_from_input(raw, 1_000, || "x".into())
                .unwrap_err()
                .field
        };
        let with_user = |user_id: &str| EventInput {
            user_id: Some(user_id.into()),
            ..input(EventKind::Logout)
        };
        assert_eq!(refused(with_user("  ")), "user_id");
        assert_eq!(refused(with_user("u\u{0}")), "user_id");
        assert_eq!(refused(with_user("u\r\n")), "user_id");
        assert_eq!(refused(with_user("u\u{202E}")), "user_id");
        assert_eq!(refused(with_user("\u{FEFF}u")), "user_id");
        let with_session = EventInput {
            session_id: Some("s\u{2069}".into()),
            ..input(EventKind::Logout)
        };
        assert_eq!(refused(with_session), "session_id");
        let with_event_id = EventInput {
            event_id: Some("\t".into()),
            ..input(EventKind::Logout)
        };
        assert_eq!(refused(with_event_id), "event_id");
        assert!(Event::try_from_input(with_user("用户 7"), 1_000, || "x".into()).is_ok());
    }

    #[test]
    fn client_times_before_2000_are_refused() {
        let at = |occurred_at_ms| EventInput {
            occurred_at_ms: Some(occurred_at_ms),
            ..input(EventKind::Logout)
        };
        assert_eq!(
            check_received_time(&at(0)).unwrap_err().field,
            "occurred_at_ms"
        );
        assert!(check_received_time(&at(MIN_OCCURRED_AT_MS - 1)).is_err());
        assert!(check_received_time(&at(MIN_OCCURRED_AT_MS)).is_ok());
        assert!(check_received_time(&input(EventKind::Logout)).is_ok());
    }
}
