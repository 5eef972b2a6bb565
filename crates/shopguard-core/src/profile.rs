//! Entity profiles: what shopguard remembers about each user across events.
//!
//! A rule sees `profile.<field>` as the user was *before* the event being decided (so
//! `profile.device_known` is false the first time a device appears), while velocity features
//! already include the event. Devices and countries become known through authenticated
//! actions only: a failed login from a new device does not make that device trusted.
//!
//! Memory is bounded per user: the 16 most recent devices and 8 countries are remembered.

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::cel::schema::FieldReader;
use crate::event::{Event, EventKind};
use crate::features::key_hash;
use crate::sharded::ShardedMap;

const MAX_DEVICES: usize = 16;
const MAX_COUNTRIES: usize = 8;

/// Facts about the acting user before the current event, as rules see them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProfileView {
    /// Whether shopguard had seen this user before.
    pub exists: bool,
    /// Days since registration (or first sighting); 0 for a new user.
    pub account_age_days: f64,
    /// Whether the event's device was seen before for this user.
    pub device_known: bool,
    /// Seconds since this device was first seen for this user; 0 when new.
    pub device_age_seconds: i64,
    /// Whether the event's country was seen before for this user.
    pub country_known: bool,
    /// Seconds since this country was first seen for this user; 0 when new.
    pub country_age_seconds: i64,
    /// Seconds since the last successful login; -1 when none.
    pub seconds_since_last_login: i64,
    /// Seconds since the last password reset; -1 when none.
    pub seconds_since_password_reset: i64,
    /// Speed implied by the move from the last located action to this one, km/h; 0 if unknown.
    pub travel_speed_kmh: f64,
    /// Distance from the last located action, km; 0 if unknown.
    pub travel_distance_km: f64,
    /// Successful logins so far.
    pub login_count: i64,
    /// Orders placed so far.
    pub order_count: i64,
    /// Refunds requested so far.
    pub refund_count: i64,
    /// Successful payments so far.
    pub payment_count: i64,
    /// Challenges failed so far.
    pub challenge_failures: i64,
    /// Country of the last successful login, '' if none.
    pub last_login_country: CountryCode,
    /// When the user was first seen (registration or first event), milliseconds since the
    /// epoch; `None` for a new user. `profile.first_seen_at` in CEL.
    pub first_seen_at_ms: Option<i64>,
    /// When the last successful login happened; `None` when none. `profile.last_login_at`.
    pub last_login_at_ms: Option<i64>,
    /// When the password was last reset; `None` when never. `profile.password_reset_at`.
    pub password_reset_at_ms: Option<i64>,
}

/// A two-byte country code held inline (a profile is read for every event, and a `String`
/// here cost an allocation each time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CountryCode(Option<[u8; 2]>);

impl CountryCode {
    /// The code, or `""` when there is none.
    pub fn as_str(&self) -> &str {
        self.0
            .as_ref()
            .and_then(|code| std::str::from_utf8(code).ok())
            .unwrap_or("")
    }
}

/// Fields of `profile`, with their CEL types.
pub const PROFILE_FIELDS: &[(&str, FieldReader<ProfileView>)] = &[
    ("exists", FieldReader::Bool(|p| Some(p.exists))),
    (
        "account_age_days",
        FieldReader::Double(|p| Some(p.account_age_days)),
    ),
    ("device_known", FieldReader::Bool(|p| Some(p.device_known))),
    (
        "device_age_seconds",
        FieldReader::Int(|p| Some(p.device_age_seconds)),
    ),
    (
        "country_known",
        FieldReader::Bool(|p| Some(p.country_known)),
    ),
    (
        "country_age_seconds",
        FieldReader::Int(|p| Some(p.country_age_seconds)),
    ),
    (
        "seconds_since_last_login",
        FieldReader::Int(|p| Some(p.seconds_since_last_login)),
    ),
    (
        "seconds_since_password_reset",
        FieldReader::Int(|p| Some(p.seconds_since_password_reset)),
    ),
    (
        "travel_speed_kmh",
        FieldReader::Double(|p| Some(p.travel_speed_kmh)),
    ),
    (
        "travel_distance_km",
        FieldReader::Double(|p| Some(p.travel_distance_km)),
    ),
    ("login_count", FieldReader::Int(|p| Some(p.login_count))),
    ("order_count", FieldReader::Int(|p| Some(p.order_count))),
    ("refund_count", FieldReader::Int(|p| Some(p.refund_count))),
    ("payment_count", FieldReader::Int(|p| Some(p.payment_count))),
    (
        "challenge_failures",
        FieldReader::Int(|p| Some(p.challenge_failures)),
    ),
    (
        "last_login_country",
        FieldReader::Str(|p| Some(p.last_login_country.as_str())),
    ),
    (
        "first_seen_at",
        FieldReader::Timestamp(|p| p.first_seen_at_ms),
    ),
    (
        "last_login_at",
        FieldReader::Timestamp(|p| p.last_login_at_ms),
    ),
    (
        "password_reset_at",
        FieldReader::Timestamp(|p| p.password_reset_at_ms),
    ),
];

/// What is stored per user.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UserProfile {
    first_seen_ms: i64,
    last_seen_ms: i64,
    /// Inline for the usual one or two, so reading a profile touches one place in memory.
    devices: SmallVec<[(u64, i64); 2]>,
    countries: SmallVec<[([u8; 2], i64); 2]>,
    last_location: Option<(i64, f64, f64)>,
    last_login_ms: Option<i64>,
    last_login_country: Option<[u8; 2]>,
    password_reset_ms: Option<i64>,
    logins: u32,
    orders: u32,
    refunds: u32,
    payments: u32,
    challenge_failures: u32,
}

fn country_code(country: Option<&str>) -> Option<[u8; 2]> {
    let bytes = country?.as_bytes();
    (bytes.len() == 2).then(|| [bytes[0], bytes[1]])
}

/// Great-circle distance in km (haversine, mean Earth radius 6371 km).
pub fn distance_km(from: (f64, f64), to: (f64, f64)) -> f64 {
    let (lat1, lon1) = (from.0.to_radians(), from.1.to_radians());
    let (lat2, lon2) = (to.0.to_radians(), to.1.to_radians());
    let a = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * a.sqrt().asin()
}

fn seconds_between(earlier_ms: i64, later_ms: i64) -> i64 {
    (later_ms - earlier_ms).max(0) / 1000
}

impl UserProfile {
    /// The time of the user's latest event.
    pub fn last_seen_ms(&self) -> i64 {
        self.last_seen_ms
    }

    /// Asks for each field's cache line (the struct spans three or four; a repeated line
    /// costs next to nothing).
    fn prefetch_lines(&self) {
        use crate::probe_table::prefetch;
        prefetch(&self.first_seen_ms);
        prefetch(&self.last_seen_ms);
        prefetch(&self.devices);
        prefetch(&self.countries);
        prefetch(&self.last_location);
        prefetch(&self.last_login_ms);
        prefetch(&self.password_reset_ms);
        prefetch(&self.challenge_failures);
    }

    fn view(&self, event: &Event) -> ProfileView {
        let now = event.occurred_at_ms;
        let device = event
            .device_id
            .as_deref()
            .map(|id| key_hash(b'd', id.as_bytes()));
        let device_first_seen = device
            .and_then(|hash| self.devices.iter().find(|(known, _)| *known == hash))
            .map(|(_, at)| *at);
        let country = country_code(event.country.as_deref());
        let country_first_seen = country
            .and_then(|code| self.countries.iter().find(|(known, _)| *known == code))
            .map(|(_, at)| *at);
        let (travel_distance_km, travel_speed_kmh) = match (self.last_location, event.location) {
            (Some((at, lat, lon)), Some(here)) => {
                let distance = distance_km((lat, lon), here);
                // At least a minute apart, so GPS jitter between close events is not "travel".
                let hours = ((now - at).max(60_000) as f64) / 3_600_000.0;
                (distance, distance / hours)
            }
            _ => (0.0, 0.0),
        };
        ProfileView {
            exists: true,
            account_age_days: (now - self.first_seen_ms).max(0) as f64 / 86_400_000.0,
            device_known: device_first_seen.is_some(),
            device_age_seconds: device_first_seen.map_or(0, |at| seconds_between(at, now)),
            country_known: country_first_seen.is_some(),
            country_age_seconds: country_first_seen.map_or(0, |at| seconds_between(at, now)),
            seconds_since_last_login: self.last_login_ms.map_or(-1, |at| seconds_between(at, now)),
            seconds_since_password_reset: self
                .password_reset_ms
                .map_or(-1, |at| seconds_between(at, now)),
            travel_speed_kmh,
            travel_distance_km,
            login_count: i64::from(self.logins),
            order_count: i64::from(self.orders),
            refund_count: i64::from(self.refunds),
            payment_count: i64::from(self.payments),
            challenge_failures: i64::from(self.challenge_failures),
            last_login_country: CountryCode(self.last_login_country),
            first_seen_at_ms: Some(self.first_seen_ms),
            last_login_at_ms: self.last_login_ms,
            password_reset_at_ms: self.password_reset_ms,
        }
    }

    fn record(&mut self, event: &Event) {
        let now = event.occurred_at_ms;
        self.last_seen_ms = self.last_seen_ms.max(now);
        if event.kind == EventKind::Register {
            self.first_seen_ms = self.first_seen_ms.min(now);
        }
        let authenticated = !matches!(
            event.kind,
            EventKind::LoginFailed | EventKind::ChallengeFailed
        );
        if authenticated {
            if let Some(device) = event.device_id.as_deref() {
                let hash = key_hash(b'd', device.as_bytes());
                if !self.devices.iter().any(|(known, _)| *known == hash) {
                    if self.devices.len() >= MAX_DEVICES {
                        self.devices.remove(0);
                    }
                    self.devices.push((hash, now));
                }
            }
            if let Some(code) = country_code(event.country.as_deref()) {
                if !self.countries.iter().any(|(known, _)| *known == code) {
                    if self.countries.len() >= MAX_COUNTRIES {
                        self.countries.remove(0);
                    }
                    self.countries.push((code, now));
                }
            }
            if let Some((lat, lon)) = event.location {
                self.last_location = Some((now, lat, lon));
            }
        }
        match event.kind {
            EventKind::LoginSucceeded => {
                self.logins += 1;
                self.last_login_ms = Some(now);
                self.last_login_country =
                    country_code(event.country.as_deref()).or(self.last_login_country);
            }
            EventKind::PasswordReset => self.password_reset_ms = Some(now),
            EventKind::OrderPlaced => self.orders += 1,
            EventKind::RefundRequested => self.refunds += 1,
            EventKind::Payment if event.success != Some(false) => self.payments += 1,
            EventKind::ChallengeFailed => self.challenge_failures += 1,
            _ => {}
        }
    }
}

/// What a user's profile holds, for people to read (the console's entity page). Devices are
/// kept only as hashes, so they are counted, not named.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileSummary {
    /// The first event seen (or the registration, when it came later).
    pub first_seen_ms: i64,
    /// The latest event seen.
    pub last_seen_ms: i64,
    /// Devices the user authenticated from, up to the profile's bound.
    pub known_devices: usize,
    /// Countries the user authenticated from, with when each was first seen.
    pub countries: Vec<(String, i64)>,
    /// The latest successful login.
    pub last_login_ms: Option<i64>,
    /// The country of the latest successful login.
    pub last_login_country: Option<String>,
    /// The latest password reset.
    pub password_reset_ms: Option<i64>,
    /// Successful logins.
    pub logins: u32,
    /// Orders placed.
    pub orders: u32,
    /// Refunds requested.
    pub refunds: u32,
    /// Successful payments.
    pub payments: u32,
    /// Challenges failed.
    pub challenge_failures: u32,
}

fn country_text(code: [u8; 2]) -> String {
    String::from_utf8_lossy(&code).into_owned()
}

impl UserProfile {
    /// The profile as people read it.
    pub fn summary(&self) -> ProfileSummary {
        ProfileSummary {
            first_seen_ms: self.first_seen_ms,
            last_seen_ms: self.last_seen_ms,
            known_devices: self.devices.len(),
            countries: self
                .countries
                .iter()
                .map(|(code, at)| (country_text(*code), *at))
                .collect(),
            last_login_ms: self.last_login_ms,
            last_login_country: self.last_login_country.map(country_text),
            password_reset_ms: self.password_reset_ms,
            logins: self.logins,
            orders: self.orders,
            refunds: self.refunds,
            payments: self.payments,
            challenge_failures: self.challenge_failures,
        }
    }
}

/// All user profiles, sharded by user for concurrent access.
#[derive(Default)]
pub struct ProfileStore {
    profiles: ShardedMap<UserProfile>,
    /// Profiles held, kept beside the shards so that it is read without locking them.
    held: std::sync::atomic::AtomicUsize,
}

impl ProfileStore {
    /// The view rules see for `event`, then the event recorded into the profile.
    pub fn view_and_record(&self, event: &Event) -> ProfileView {
        let user = key_hash(b'u', event.user_id.as_bytes());
        let mut shard = self.profiles.shard(user);
        let (profile, is_new) = shard.get_or_insert_with(user, || UserProfile {
            first_seen_ms: event.occurred_at_ms,
            ..UserProfile::default()
        });
        if is_new {
            self.held.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        // A new user has no history: the default view, with `exists` false.
        let view = if is_new {
            ProfileView::default()
        } else {
            profile.view(event)
        };
        profile.record(event);
        view
    }

    /// The profile of `user_id`, read without recording anything; `None` for a user never
    /// seen (or expired).
    pub fn summary_of(&self, user_id: &str) -> Option<ProfileSummary> {
        let user = key_hash(b'u', user_id.as_bytes());
        self.profiles
            .shard(user)
            .get(user)
            .map(UserProfile::summary)
    }

    /// Asks memory for the profile [`view_and_record`](Self::view_and_record) will need for
    /// `event`, every cache line of it.
    #[inline]
    pub fn prefetch(&self, event: &Event) {
        let user = key_hash(b'u', event.user_id.as_bytes());
        self.profiles.prefetch(user, UserProfile::prefetch_lines);
    }

    /// Number of profiles held.
    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    /// Number of profiles held, without locking: exact once concurrent updates have ended.
    pub fn held(&self) -> usize {
        self.held.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether no profile is held.
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    /// Drops profiles not seen since `cutoff_ms`; returns how many.
    pub fn expire_idle(&self, cutoff_ms: i64) -> usize {
        let dropped = self
            .profiles
            .retain(|profile| profile.last_seen_ms >= cutoff_ms);
        // Subtracted, not recounted: a recount could also take in a user being added now,
        // whose own increment would then count them twice.
        self.held
            .fetch_sub(dropped, std::sync::atomic::Ordering::Relaxed);
        dropped
    }

    /// Appends every profile as postcard encodes a `Vec<(u64, UserProfile)>`, for snapshots.
    pub fn encode_snapshot(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
        self.profiles.encode_entries(out)
    }

    /// Every profile, copied (the snapshot's old way, kept as its oracle).
    #[cfg(test)]
    pub fn export(&self) -> Vec<(u64, UserProfile)> {
        self.profiles.export()
    }

    /// Loads profiles from a snapshot.
    pub fn import(&self, profiles: Vec<(u64, UserProfile)>) {
        self.profiles.import(profiles);
        self.held
            .store(self.profiles.len(), std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventInput;

    fn event(
        kind: EventKind,
        at_ms: i64,
        device: &str,
        country: &str,
        location: (f64, f64),
    ) -> Event {
        Event::try_from_input(
            EventInput {
                kind: Some(kind),
                user_id: Some("alice".into()),
                ip: Some("198.51.100.1".into()),
                device_id: Some(device.into()),
                country: Some(country.into()),
                latitude: Some(location.0),
                longitude: Some(location.1),
                occurred_at_ms: Some(at_ms),
                ..EventInput::default()
            },
            at_ms,
            || "e".into(),
        )
        .unwrap()
    }

    #[test]
    fn the_lock_free_count_follows_new_users_expiry_and_imports() {
        let store = ProfileStore::default();
        let mut login = event(EventKind::LoginSucceeded, 1_000, "d1", "CN", (0.0, 0.0));
        store.view_and_record(&login);
        store.view_and_record(&login);
        login.user_id = "bob".into();
        login.occurred_at_ms = 9_000;
        store.view_and_record(&login);
        assert_eq!((store.held(), store.len()), (2, 2));
        assert_eq!(store.expire_idle(5_000), 1, "alice was last seen at 1 s");
        assert_eq!(store.held(), 1);
        let copy = ProfileStore::default();
        copy.import(store.export());
        assert_eq!(copy.held(), 1);
    }

    #[test]
    fn new_device_and_impossible_travel_are_seen_before_the_event_counts() {
        let store = ProfileStore::default();
        let shanghai = (31.23, 121.47);
        let paris = (48.86, 2.35);
        let first = store.view_and_record(&event(EventKind::Register, 0, "d1", "CN", shanghai));
        assert!(!first.exists);
        let same = store.view_and_record(&event(
            EventKind::LoginSucceeded,
            3_600_000,
            "d1",
            "CN",
            shanghai,
        ));
        assert!(same.exists && same.device_known && same.country_known);
        assert_eq!(same.device_age_seconds, 3_600);
        // Paris one hour later: about 9,260 km in an hour.
        let far = store.view_and_record(&event(
            EventKind::LoginSucceeded,
            7_200_000,
            "d2",
            "FR",
            paris,
        ));
        assert!(!far.device_known && !far.country_known);
        assert!(far.travel_speed_kmh > 9_000.0, "{}", far.travel_speed_kmh);
        assert_eq!(far.last_login_country.as_str(), "CN");
        assert_eq!(far.login_count, 1);
    }

    #[test]
    fn failed_logins_do_not_make_a_device_known() {
        let store = ProfileStore::default();
        store.view_and_record(&event(
            EventKind::LoginFailed,
            0,
            "attacker",
            "RU",
            (55.7, 37.6),
        ));
        let view = store.view_and_record(&event(
            EventKind::LoginFailed,
            1_000,
            "attacker",
            "RU",
            (55.7, 37.6),
        ));
        assert!(!view.device_known);
    }
}
