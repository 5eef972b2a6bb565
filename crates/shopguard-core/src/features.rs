//! Velocity features: count, sum and distinct-count of events per entity over sliding windows.
//!
//! A feature such as "failed logins per IP over 10 minutes" splits its window into
//! [`BUCKETS_PER_WINDOW`] buckets (10 s each here) and keeps, per key, only the buckets that saw
//! events. The value at time `t` adds the buckets that overlap `(t - window, t]` at bucket
//! granularity: exact to one bucket width, with no sampling. Keys are 64-bit hashes of the
//! entity (user id, IP, device, ...), so no personal data is held here.
//!
//! Memory per active key and window is a hash-table slot plus 16 bytes per non-empty bucket
//! (see `docs/benchmarks.md` for the measured figure); a distinct-count keeps at most
//! [`MAX_DISTINCT`] values per key (16 bytes each) and evicts the stalest beyond that, so it
//! saturates rather than grows. Keys idle for a whole window are dropped by
//! [`FeatureState::expire_idle`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::sharded::ShardedMap;

use crate::event::{Event, EventKind};

/// Buckets a window is divided into.
pub const BUCKETS_PER_WINDOW: i64 = 60;
/// Shortest bucket: one second.
pub const MIN_BUCKET_MS: i64 = 1_000;
/// Most distinct values remembered per key of a distinct-count feature.
pub const MAX_DISTINCT: usize = 256;

/// Stable 64-bit hash of an entity, tagged by entity type so that a user and a device with the
/// same id do not collide.
pub fn key_hash(tag: u8, bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(bytes, u64::from(tag))
}

/// What a feature groups by, or counts distinct values of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKey {
    /// The acting account.
    User,
    /// The client IP.
    Ip,
    /// The IPv4 /24 (IPv6 /48) network of the client IP.
    IpPrefix,
    /// The device id.
    Device,
    /// The card fingerprint.
    Card,
    /// The card BIN.
    CardBin,
    /// The counterparty (merchant, seller, payee).
    Counterparty,
    /// The email address.
    Email,
    /// The email domain.
    EmailDomain,
    /// The phone number.
    Phone,
    /// The user agent string.
    UserAgent,
    /// The country.
    Country,
    /// One key for all events: platform-wide rates.
    Global,
}

// The code seeds the hash of every velocity series key (and so reaches the snapshot), and is
// written in the snapshot's shapes. Append only.
crate::stored_codes!(EntityKey, "entity key", {
    User = 0,
    Ip = 1,
    IpPrefix = 2,
    Device = 3,
    Card = 4,
    CardBin = 5,
    Counterparty = 6,
    Email = 7,
    EmailDomain = 8,
    Phone = 9,
    UserAgent = 10,
    Country = 11,
    Global = 12,
});

impl EntityKey {
    /// Every key, for help texts.
    pub const ALL: [EntityKey; 13] = [
        EntityKey::User,
        EntityKey::Ip,
        EntityKey::IpPrefix,
        EntityKey::Device,
        EntityKey::Card,
        EntityKey::CardBin,
        EntityKey::Counterparty,
        EntityKey::Email,
        EntityKey::EmailDomain,
        EntityKey::Phone,
        EntityKey::UserAgent,
        EntityKey::Country,
        EntityKey::Global,
    ];

    /// The snake_case name used in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKey::User => "user",
            EntityKey::Ip => "ip",
            EntityKey::IpPrefix => "ip_prefix",
            EntityKey::Device => "device",
            EntityKey::Card => "card",
            EntityKey::CardBin => "card_bin",
            EntityKey::Counterparty => "counterparty",
            EntityKey::Email => "email",
            EntityKey::EmailDomain => "email_domain",
            EntityKey::Phone => "phone",
            EntityKey::UserAgent => "user_agent",
            EntityKey::Country => "country",
            EntityKey::Global => "global",
        }
    }

    /// Parses a policy name.
    pub fn parse(name: &str) -> Option<EntityKey> {
        EntityKey::ALL.into_iter().find(|key| key.as_str() == name)
    }

    /// The hash of an entity written as text (an IP address for `ip` and `ip_prefix`), as
    /// [`hash_of`](Self::hash_of) hashes it in an event; `None` for an IP that does not parse.
    /// Lets people look up the velocity values of one entity.
    pub fn hash_of_value(self, value: &str) -> Option<u64> {
        let tag = self.code();
        match self {
            EntityKey::Ip | EntityKey::IpPrefix => {
                let ip: IpAddr = value.trim().parse().ok()?;
                let octets: Vec<u8> = match ip {
                    IpAddr::V4(v4) => v4.octets().to_vec(),
                    IpAddr::V6(v6) => v6.octets().to_vec(),
                };
                let keep = match (self, ip) {
                    (EntityKey::Ip, _) => octets.len(),
                    (_, IpAddr::V4(_)) => 3,
                    (_, IpAddr::V6(_)) => 6,
                };
                Some(key_hash(tag, &octets[..keep]))
            }
            EntityKey::Global => Some(0),
            _ => Some(key_hash(tag, value.as_bytes())),
        }
    }

    /// The hash of this entity in `event`, or `None` when the event lacks it.
    pub fn hash_of(self, event: &Event) -> Option<u64> {
        let tag = self.code();
        let text = |value: Option<&str>| value.map(|text| key_hash(tag, text.as_bytes()));
        match self {
            EntityKey::User => text(Some(&event.user_id)),
            EntityKey::Ip => event.ip.map(|ip| match ip {
                IpAddr::V4(v4) => key_hash(tag, &v4.octets()),
                IpAddr::V6(v6) => key_hash(tag, &v6.octets()),
            }),
            EntityKey::IpPrefix => event.ip.map(|ip| match ip {
                IpAddr::V4(v4) => key_hash(tag, &v4.octets()[..3]),
                IpAddr::V6(v6) => key_hash(tag, &v6.octets()[..6]),
            }),
            EntityKey::Device => text(event.device_id.as_deref()),
            EntityKey::Card => text(event.card_fingerprint.as_deref()),
            EntityKey::CardBin => text(event.card_bin.as_deref()),
            EntityKey::Counterparty => text(event.counterparty_id.as_deref()),
            EntityKey::Email => text(event.email.as_deref()),
            EntityKey::EmailDomain => text(event.email_domain()),
            EntityKey::Phone => text(event.phone.as_deref()),
            EntityKey::UserAgent => text(event.user_agent.as_deref()),
            EntityKey::Country => text(event.country.as_deref()),
            EntityKey::Global => Some(0),
        }
    }
}

/// How events are aggregated.
///
/// Stored in the snapshot as its code (below), then, for [`Aggregation::Distinct`], the
/// entity's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Aggregation {
    /// Number of events.
    Count,
    /// Sum of `event.amount`.
    SumAmount,
    /// Number of distinct values of an entity (e.g. distinct users per IP).
    Distinct(EntityKey),
}

impl Aggregation {
    /// The stored code of the aggregation (without its entity). Append only.
    pub fn code(self) -> u8 {
        match self {
            Aggregation::Count => 0,
            Aggregation::SumAmount => 1,
            Aggregation::Distinct(_) => 2,
        }
    }
}

// Written by hand so that the variant index postcard stores is the explicit code, not the
// declaration order (the bytes are those the derive wrote while the two agreed).
impl Serialize for Aggregation {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let code = u32::from(self.code());
        match self {
            Aggregation::Count => serializer.serialize_unit_variant("Aggregation", code, "count"),
            Aggregation::SumAmount => {
                serializer.serialize_unit_variant("Aggregation", code, "sum_amount")
            }
            Aggregation::Distinct(entity) => serializer.serialize_newtype_variant(
                "Aggregation",
                code,
                "distinct",
                &u32::from(entity.code()),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for Aggregation {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ByCode;
        impl<'de> serde::de::Visitor<'de> for ByCode {
            type Value = Aggregation;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("an aggregation by its code")
            }

            fn visit_enum<A: serde::de::EnumAccess<'de>>(
                self,
                data: A,
            ) -> Result<Aggregation, A::Error> {
                use serde::de::{Error, VariantAccess};
                let (code, variant): (u32, _) = data.variant()?;
                match code {
                    0 => variant.unit_variant().map(|()| Aggregation::Count),
                    1 => variant.unit_variant().map(|()| Aggregation::SumAmount),
                    2 => {
                        let entity: u32 = variant.newtype_variant()?;
                        crate::codes::serde_code::decode(entity).map(Aggregation::Distinct)
                    }
                    other => Err(A::Error::custom(format!(
                        "unknown aggregation code {other}"
                    ))),
                }
            }
        }
        deserializer.deserialize_enum("Aggregation", &["count", "sum_amount", "distinct"], ByCode)
    }
}

/// Everything that determines a feature's counts: what identifies its state across policy
/// versions. Two features with the same shape share one state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WindowShape {
    /// How events are aggregated.
    pub aggregation: Aggregation,
    /// What it groups by.
    #[serde(with = "crate::codes::serde_code")]
    pub group_by: EntityKey,
    /// Window length in milliseconds.
    pub window_ms: i64,
    /// Event kinds counted, sorted.
    #[serde(with = "crate::codes::serde_codes")]
    pub kinds: Vec<EventKind>,
    /// Source of the filter expression, if any.
    pub filter: Option<String>,
}

impl WindowShape {
    /// Bucket width: a sixtieth of the window, at least a second.
    pub fn bucket_ms(&self) -> i64 {
        (self.window_ms / BUCKETS_PER_WINDOW).max(MIN_BUCKET_MS)
    }

    fn buckets_in_window(&self) -> i64 {
        (self.window_ms + self.bucket_ms() - 1) / self.bucket_ms()
    }
}

/// Per-key state. Most keys hold one bucket or one value, which then lives inside the map's
/// slot: no allocation, and one cache miss per feature update instead of two.
///
/// Stored in the snapshot as its code (0 buckets, 1 distinct values; append only), then its
/// entries.
#[derive(Clone, Debug, PartialEq)]
enum Series {
    /// Non-empty buckets as (bucket index, value), oldest first.
    Buckets(SmallVec<[(u32, f64); 1]>),
    /// Distinct values as (value hash, last bucket seen).
    Distinct(SmallVec<[(u64, u32); 1]>),
}

const SERIES_BUCKETS: u32 = 0;
const SERIES_DISTINCT: u32 = 1;

// By hand, as for `Aggregation`: the stored variant index is the explicit code.
impl Serialize for Series {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Series::Buckets(buckets) => {
                serializer.serialize_newtype_variant("Series", SERIES_BUCKETS, "Buckets", buckets)
            }
            Series::Distinct(values) => {
                serializer.serialize_newtype_variant("Series", SERIES_DISTINCT, "Distinct", values)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Series {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ByCode;
        impl<'de> serde::de::Visitor<'de> for ByCode {
            type Value = Series;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a series by its code")
            }

            fn visit_enum<A: serde::de::EnumAccess<'de>>(
                self,
                data: A,
            ) -> Result<Series, A::Error> {
                use serde::de::{Error, VariantAccess};
                let (code, variant): (u32, _) = data.variant()?;
                match code {
                    SERIES_BUCKETS => variant.newtype_variant().map(Series::Buckets),
                    SERIES_DISTINCT => variant.newtype_variant().map(Series::Distinct),
                    other => Err(A::Error::custom(format!("unknown series code {other}"))),
                }
            }
        }
        deserializer.deserialize_enum("Series", &["Buckets", "Distinct"], ByCode)
    }
}

impl Default for Series {
    fn default() -> Self {
        Series::Buckets(SmallVec::new())
    }
}

impl Series {
    fn newest_bucket(&self) -> u32 {
        match self {
            Series::Buckets(buckets) => buckets.last().map_or(0, |(bucket, _)| *bucket),
            Series::Distinct(values) => values.iter().map(|(_, bucket)| *bucket).max().unwrap_or(0),
        }
    }
}

/// The live state of one feature: a sharded map from entity key to series.
pub struct FeatureState {
    shape: WindowShape,
    series: ShardedMap<Series>,
}

impl std::fmt::Debug for FeatureState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureState")
            .field("shape", &self.shape)
            .finish_non_exhaustive()
    }
}

impl FeatureState {
    /// Empty state for a window shape.
    pub fn new(shape: WindowShape) -> Self {
        FeatureState {
            shape,
            series: ShardedMap::default(),
        }
    }

    /// The window shape.
    pub fn shape(&self) -> &WindowShape {
        &self.shape
    }

    fn bucket_of(&self, at_ms: i64) -> u32 {
        (at_ms.max(0) / self.shape.bucket_ms()) as u32
    }

    /// First bucket inside the window ending at bucket `now`.
    fn window_start(&self, now: u32) -> u32 {
        now.saturating_sub(self.shape.buckets_in_window() as u32 - 1)
    }

    /// Adds an event to the key's series: `value` is the amount for sums and the distinct
    /// entity's hash for distinct-counts. Returns the feature's value after the addition.
    pub fn add(&self, key: u64, at_ms: i64, value: f64, distinct: Option<u64>) -> f64 {
        let bucket = self.bucket_of(at_ms);
        let start = self.window_start(bucket);
        let mut shard = self.series.shard(key);
        let (series, _) = shard.get_or_insert_with(key, || match self.shape.aggregation {
            Aggregation::Distinct(_) => Series::Distinct(SmallVec::new()),
            _ => Series::Buckets(SmallVec::new()),
        });
        match series {
            Series::Buckets(buckets) => {
                match buckets.binary_search_by_key(&bucket, |(index, _)| *index) {
                    Ok(position) => buckets[position].1 += value,
                    Err(position) => buckets.insert(position, (bucket, value)),
                }
                let stale = buckets.partition_point(|(index, _)| *index < start);
                buckets.drain(..stale);
                sum_from(buckets, start, bucket)
            }
            Series::Distinct(values) => {
                if let Some(hash) = distinct {
                    match values.iter_mut().find(|(known, _)| *known == hash) {
                        Some(entry) => entry.1 = entry.1.max(bucket),
                        None => {
                            values.retain(|(_, seen)| *seen >= start);
                            if values.len() >= MAX_DISTINCT {
                                if let Some(stalest) = values
                                    .iter()
                                    .enumerate()
                                    .min_by_key(|(_, (_, seen))| *seen)
                                    .map(|(position, _)| position)
                                {
                                    values.swap_remove(stalest);
                                }
                            }
                            values.push((hash, bucket));
                        }
                    }
                }
                values
                    .iter()
                    .filter(|(_, seen)| *seen >= start && *seen <= bucket)
                    .count() as f64
            }
        }
    }

    /// The feature's value for `key` over the window ending at `at_ms`.
    pub fn read(&self, key: u64, at_ms: i64) -> f64 {
        let bucket = self.bucket_of(at_ms);
        let start = self.window_start(bucket);
        let shard = self.series.shard(key);
        match shard.get(key) {
            None => 0.0,
            Some(Series::Buckets(buckets)) => sum_from(buckets, start, bucket),
            Some(Series::Distinct(values)) => values
                .iter()
                .filter(|(_, seen)| *seen >= start && *seen <= bucket)
                .count() as f64,
        }
    }

    /// Asks memory for `key`'s series ahead of an [`add`](Self::add) or [`read`](Self::read).
    #[inline]
    pub fn prefetch(&self, key: u64) {
        self.series.prefetch(key, crate::probe_table::prefetch);
    }

    /// Drops keys with no event inside the window ending at `now_ms`; returns how many.
    pub fn expire_idle(&self, now_ms: i64) -> usize {
        let start = self.window_start(self.bucket_of(now_ms));
        self.series.retain(|series| series.newest_bucket() >= start)
    }

    /// Number of keys held.
    pub fn key_count(&self) -> usize {
        self.series.len()
    }
}

fn sum_from(buckets: &[(u32, f64)], start: u32, end: u32) -> f64 {
    let first = buckets.partition_point(|(index, _)| *index < start);
    buckets[first..]
        .iter()
        .take_while(|(index, _)| *index <= end)
        .map(|(_, value)| value)
        .sum()
}

/// Feature states shared across policy versions: a new policy version keeps the counts of every
/// feature whose window shape is unchanged.
#[derive(Default)]
pub struct FeatureStates {
    states: Mutex<HashMap<WindowShape, Arc<FeatureState>>>,
}

/// A serialisable copy of feature states (for the data folder).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct FeatureSnapshot {
    states: Vec<(WindowShape, Vec<(u64, Series)>)>,
}

impl FeatureSnapshot {
    /// Text lines of every state and series, shapes sorted by their text and keys by number.
    pub(crate) fn dump(&self) -> Vec<String> {
        let mut states: Vec<(String, Vec<&(u64, Series)>)> = self
            .states
            .iter()
            .map(|(shape, entries)| {
                let mut sorted: Vec<_> = entries.iter().collect();
                sorted.sort_by_key(|(key, _)| *key);
                (format!("{shape:?}"), sorted)
            })
            .collect();
        states.sort_by(|left, right| left.0.cmp(&right.0));
        let mut lines = Vec::new();
        for (shape, entries) in states {
            lines.push(format!("state {shape}"));
            lines.extend(
                entries
                    .into_iter()
                    .map(|(key, series)| format!("  {key:016x} {series:?}")),
            );
        }
        lines
    }
}

impl FeatureStates {
    /// The state for `shape`, created empty when new.
    pub fn state_for(&self, shape: &WindowShape) -> Arc<FeatureState> {
        self.states
            .lock()
            .entry(shape.clone())
            .or_insert_with(|| Arc::new(FeatureState::new(shape.clone())))
            .clone()
    }

    /// Keeps only the states of these shapes (those of the live policy).
    pub fn retain_shapes(&self, live: &[WindowShape]) {
        self.states.lock().retain(|shape, _| live.contains(shape));
    }

    /// Drops idle keys from every state; returns how many.
    pub fn expire_idle(&self, now_ms: i64) -> usize {
        let states: Vec<_> = self.states.lock().values().cloned().collect();
        states.iter().map(|state| state.expire_idle(now_ms)).sum()
    }

    /// Total keys held across states.
    pub fn key_count(&self) -> usize {
        let states: Vec<_> = self.states.lock().values().cloned().collect();
        states.iter().map(|state| state.key_count()).sum()
    }

    /// Appends every state as postcard encodes a [`FeatureSnapshot`], one shard at a time and
    /// without copying any series first.
    pub fn encode_snapshot(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
        let states: Vec<_> = self.states.lock().values().cloned().collect();
        *out = postcard::to_extend(&(states.len() as u64), std::mem::take(out))?;
        for state in &states {
            *out = postcard::to_extend(&state.shape, std::mem::take(out))?;
            state.series.encode_entries(out)?;
        }
        Ok(())
    }

    /// Copies every state (the snapshot's old way, kept as its oracle).
    #[cfg(test)]
    pub fn snapshot(&self) -> FeatureSnapshot {
        let states: Vec<_> = self.states.lock().values().cloned().collect();
        FeatureSnapshot {
            states: states
                .iter()
                .map(|state| (state.shape.clone(), state.series.export()))
                .collect(),
        }
    }

    /// Loads states from a snapshot, alongside what is held.
    pub fn restore(&self, snapshot: FeatureSnapshot) {
        for (shape, entries) in snapshot.states {
            self.state_for(&shape).series.import(entries);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(aggregation: Aggregation, window_ms: i64) -> WindowShape {
        WindowShape {
            aggregation,
            group_by: EntityKey::User,
            window_ms,
            kinds: vec![EventKind::Payment],
            filter: None,
        }
    }

    #[test]
    fn counts_slide_out_of_the_window_at_bucket_granularity() {
        // 60 s window, 1 s buckets.
        let state = FeatureState::new(shape(Aggregation::Count, 60_000));
        assert_eq!(state.add(7, 0, 1.0, None), 1.0);
        assert_eq!(state.add(7, 30_000, 1.0, None), 2.0);
        assert_eq!(state.read(7, 59_999), 2.0);
        assert_eq!(
            state.read(7, 60_000),
            1.0,
            "the event at 0 ms left the window"
        );
        assert_eq!(state.read(7, 90_000), 0.0);
        assert_eq!(state.read(8, 0), 0.0, "other keys are independent");
        assert_eq!(state.expire_idle(200_000), 1);
        assert_eq!(state.key_count(), 0);
    }

    #[test]
    fn sums_and_out_of_order_events() {
        let state = FeatureState::new(shape(Aggregation::SumAmount, 3_600_000));
        state.add(1, 120_000, 50.0, None);
        state.add(1, 60_000, 25.5, None);
        assert_eq!(state.read(1, 120_000), 75.5);
        assert_eq!(
            state.read(1, 61_000),
            25.5,
            "a read in the past sees only what came before"
        );
    }

    #[test]
    fn distinct_counts_saturate_at_the_cap() {
        let state = FeatureState::new(shape(Aggregation::Distinct(EntityKey::Ip), 600_000));
        for value in 0..3u64 {
            state.add(1, 1_000, 0.0, Some(value));
        }
        assert_eq!(
            state.add(1, 2_000, 0.0, Some(1)),
            3.0,
            "repeats do not count twice"
        );
        for value in 0..(MAX_DISTINCT as u64 * 2) {
            state.add(2, 1_000, 0.0, Some(value));
        }
        assert_eq!(state.read(2, 1_000), MAX_DISTINCT as f64);
    }

    #[test]
    fn snapshots_round_trip() {
        let states = FeatureStates::default();
        let shape = shape(Aggregation::Count, 60_000);
        states.state_for(&shape).add(3, 1_000, 1.0, None);
        let bytes = postcard::to_stdvec(&states.snapshot()).unwrap();
        let mut encoded = Vec::new();
        states.encode_snapshot(&mut encoded).unwrap();
        assert_eq!(encoded, bytes, "encoded in place as the copy encodes");
        let restored = FeatureStates::default();
        restored.restore(postcard::from_bytes(&bytes).unwrap());
        assert_eq!(restored.state_for(&shape).read(3, 1_000), 1.0);
    }

    /// The types as snapshot version 1 wrote them: serde's derive, by declaration index.
    mod version_one {
        use serde::{Deserialize, Serialize};
        use smallvec::SmallVec;

        #[derive(Serialize, Deserialize)]
        pub enum EntityKey {
            User,
            Ip,
            IpPrefix,
            Device,
            Card,
            CardBin,
            Counterparty,
            Email,
            EmailDomain,
            Phone,
            UserAgent,
            Country,
            Global,
        }

        #[derive(Serialize, Deserialize)]
        pub enum Aggregation {
            Count,
            SumAmount,
            Distinct(EntityKey),
        }

        #[derive(Serialize, Deserialize)]
        pub struct WindowShape {
            pub aggregation: Aggregation,
            pub group_by: EntityKey,
            pub window_ms: i64,
            pub kinds: Vec<crate::event::EventKind>,
            pub filter: Option<String>,
        }

        #[derive(Serialize, Deserialize)]
        pub enum Series {
            Buckets(SmallVec<[(u32, f64); 1]>),
            Distinct(SmallVec<[(u64, u32); 1]>),
        }
    }

    #[test]
    fn codes_write_the_bytes_version_one_wrote_by_declaration_index() {
        let shape = WindowShape {
            aggregation: Aggregation::Distinct(EntityKey::CardBin),
            group_by: EntityKey::Global,
            window_ms: -5,
            kinds: vec![
                EventKind::ChallengeFailed,
                EventKind::Register,
                EventKind::Payment,
            ],
            filter: Some("event.amount > 1.0".into()),
        };
        let old_shape = version_one::WindowShape {
            aggregation: version_one::Aggregation::Distinct(version_one::EntityKey::CardBin),
            group_by: version_one::EntityKey::Global,
            window_ms: -5,
            kinds: shape.kinds.clone(),
            filter: shape.filter.clone(),
        };
        let bytes = postcard::to_stdvec(&shape).unwrap();
        assert_eq!(bytes, postcard::to_stdvec(&old_shape).unwrap());
        assert_eq!(postcard::from_bytes::<WindowShape>(&bytes).unwrap(), shape);
        for (aggregation, old) in [
            (Aggregation::Count, version_one::Aggregation::Count),
            (Aggregation::SumAmount, version_one::Aggregation::SumAmount),
        ] {
            assert_eq!(
                postcard::to_stdvec(&aggregation).unwrap(),
                postcard::to_stdvec(&old).unwrap()
            );
        }
        let buckets = Series::Buckets(smallvec::smallvec![(7, 2.5), (9, 1.0)]);
        let old_buckets = version_one::Series::Buckets(smallvec::smallvec![(7, 2.5), (9, 1.0)]);
        let distinct = Series::Distinct(smallvec::smallvec![(u64::MAX, 3)]);
        let old_distinct = version_one::Series::Distinct(smallvec::smallvec![(u64::MAX, 3)]);
        for (series, old) in [(buckets, old_buckets), (distinct, old_distinct)] {
            let bytes = postcard::to_stdvec(&series).unwrap();
            assert_eq!(bytes, postcard::to_stdvec(&old).unwrap());
            assert_eq!(postcard::from_bytes::<Series>(&bytes).unwrap(), series);
        }
        // An unknown code is an error, never another variant.
        assert!(postcard::from_bytes::<Aggregation>(&[3]).is_err());
        assert!(postcard::from_bytes::<Series>(&[2, 0]).is_err());
        assert!(postcard::from_bytes::<WindowShape>(&[0, 13]).is_err());
    }
}
