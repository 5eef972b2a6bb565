//! Block, allow and watch lists, held in memory for rules to test with `in_list(name, value)`.
//!
//! Each list has a [`ListKind`] that says how values are normalised and matched:
//! IP lists hold addresses and CIDR ranges (an address matches every range containing it),
//! domain lists match a domain and its subdomains (and accept URLs and email addresses as
//! values), card-BIN lists match by prefix, the rest match exactly after normalisation.
//!
//! IP lookups probe one hash map per prefix length present in the list (at most 33 for IPv4,
//! 129 for IPv6, in practice a few), so a list of a million ranges costs a few hash probes.
//! Entries carry an expiry; an expired entry stops matching at once and is dropped by
//! [`ListRegistry::purge_expired`]. Who added an entry and why is kept by storage, not here.
//!
//! A list's entries sit behind a sharded reader-writer lock: a lookup locks only its own
//! thread's shard, so request threads on different cores do not pass the lock's cache line
//! back and forth for every lookup; an insert locks every shard.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use crossbeam_utils::sync::{ShardedLock, ShardedLockReadGuard, ShardedLockWriteGuard};
use serde::{Deserialize, Serialize};

use crate::probe_table::ProbeTable;

/// Expiry of an entry that never expires.
pub const NEVER: i64 = i64::MAX;

/// How a list's values are normalised and matched.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListKind {
    /// IPv4 and IPv6 addresses and CIDR ranges.
    Ip,
    /// Device ids.
    Device,
    /// Email addresses (case-insensitive).
    Email,
    /// Email domains; `user@sub.example.com` matches `example.com`.
    EmailDomain,
    /// Phone numbers; spaces, dashes and brackets are ignored.
    Phone,
    /// Card BINs (6 to 8 leading digits), matched by prefix.
    CardBin,
    /// Web domains; URLs, hosts and emails match the domain and its parents.
    Domain,
    /// Account ids.
    User,
    /// Any other exact-match text.
    Text,
}

impl ListKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::Ip => "ip",
            ListKind::Device => "device",
            ListKind::Email => "email",
            ListKind::EmailDomain => "email_domain",
            ListKind::Phone => "phone",
            ListKind::CardBin => "card_bin",
            ListKind::Domain => "domain",
            ListKind::User => "user",
            ListKind::Text => "text",
        }
    }
}

impl fmt::Display for ListKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ListKind {
    type Err = ListError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            "ip" => ListKind::Ip,
            "device" => ListKind::Device,
            "email" => ListKind::Email,
            "email_domain" => ListKind::EmailDomain,
            "phone" => ListKind::Phone,
            "card_bin" => ListKind::CardBin,
            "domain" => ListKind::Domain,
            "user" => ListKind::User,
            "text" => ListKind::Text,
            other => return Err(ListError::UnknownKind(other.to_owned())),
        })
    }
}

/// Errors of list operations.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    /// The kind name is not one of [`ListKind`].
    #[error("unknown list kind '{0}': use ip, device, email, email_domain, phone, card_bin, domain, user or text")]
    UnknownKind(String),
    /// No list by that name.
    #[error("no list named '{0}'")]
    NoSuchList(String),
    /// A list by that name exists with another kind.
    #[error("list '{name}' exists with kind {existing}, not {requested}")]
    KindConflict {
        /// List name.
        name: String,
        /// Its kind.
        existing: ListKind,
        /// The kind asked for.
        requested: ListKind,
    },
    /// A value that does not fit the list's kind.
    #[error("'{value}' is not a valid {kind} entry: {reason}")]
    InvalidValue {
        /// The value as given.
        value: String,
        /// The list's kind.
        kind: ListKind,
        /// Why.
        reason: &'static str,
    },
    /// A range wider than people may add without forcing it.
    #[error("'{range}' covers too many addresses: /{prefix} is wider than the narrowest prefix allowed, /{min} (list_min_ipv4_prefix, list_min_ipv6_prefix); add it with force=true if you mean it")]
    RangeTooWide {
        /// The range, canonical.
        range: String,
        /// Its prefix length.
        prefix: u8,
        /// The shortest prefix allowed.
        min: u8,
    },
    /// A range written with host bits set (`10.1.2.3/8`), which would silently mean another
    /// range.
    #[error("'{value}' has host bits set: the range it names is {canonical}; send that")]
    NonCanonicalRange {
        /// The value as given.
        value: String,
        /// The range it names.
        canonical: String,
    },
    /// A list name that is empty, too long or has odd characters.
    #[error("list names are 1 to 64 characters of a-z, 0-9, '_' and '-'")]
    InvalidName,
}

/// Index of a list in the registry; stable for the registry's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListId(u32);

/// A value normalised for a list's kind: the key under which it is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListKey {
    /// An IP range: network address and prefix length.
    Network(IpAddr, u8),
    /// Normalised text.
    Text(String),
}

impl fmt::Display for ListKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListKey::Network(ip, prefix) => {
                let full = if ip.is_ipv4() { 32 } else { 128 };
                if *prefix == full {
                    write!(f, "{ip}")
                } else {
                    write!(f, "{ip}/{prefix}")
                }
            }
            ListKey::Text(text) => f.write_str(text),
        }
    }
}

fn v4_mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn v6_mask(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

/// Parses `a.b.c.d`, `a.b.c.d/n`, or the IPv6 forms, into a masked network.
pub fn parse_network(text: &str) -> Option<(IpAddr, u8)> {
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
        None => (text, None),
    };
    match address.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => {
            let prefix = prefix.unwrap_or(32);
            (prefix <= 32).then(|| {
                (
                    IpAddr::from((u32::from(v4) & v4_mask(prefix)).to_be_bytes()),
                    prefix,
                )
            })
        }
        IpAddr::V6(v6) => {
            let prefix = prefix.unwrap_or(128);
            (prefix <= 128).then(|| {
                (
                    IpAddr::from((u128::from(v6) & v6_mask(prefix)).to_be_bytes()),
                    prefix,
                )
            })
        }
    }
}

/// The host part of a URL, host, or email address, lower-cased, without a trailing dot.
fn host_of(text: &str) -> &str {
    let text = text.trim();
    let after_scheme = text.split_once("://").map_or(text, |(_, rest)| rest);
    let after_at = after_scheme
        .rsplit_once('@')
        .map_or(after_scheme, |(_, host)| host);
    let host = after_at.split(['/', '?', '#']).next().unwrap_or("");
    let host = host
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(host, _)| host);
    host.trim_end_matches('.')
}

impl ListKind {
    /// Normalises a value for storage in a list of this kind.
    pub fn normalize(self, value: &str) -> Result<ListKey, ListError> {
        let invalid = |reason| ListError::InvalidValue {
            value: value.chars().take(80).collect(),
            kind: self,
            reason,
        };
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(invalid("empty"));
        }
        if trimmed.len() > 512 {
            return Err(invalid("longer than 512 bytes"));
        }
        Ok(match self {
            ListKind::Ip => {
                let (network, prefix) = parse_network(trimmed)
                    .ok_or_else(|| invalid("not an IP address or CIDR range"))?;
                ListKey::Network(network, prefix)
            }
            ListKind::Email => {
                if !trimmed.contains('@') {
                    return Err(invalid("no '@'"));
                }
                ListKey::Text(trimmed.to_lowercase())
            }
            ListKind::EmailDomain | ListKind::Domain => {
                let host = host_of(trimmed).to_ascii_lowercase();
                if host.is_empty() || host.contains(char::is_whitespace) {
                    return Err(invalid("no domain"));
                }
                ListKey::Text(host)
            }
            ListKind::Phone => {
                let digits: String = trimmed
                    .chars()
                    .filter(|c| c.is_ascii_digit() || *c == '+')
                    .collect();
                if digits.len() < 5 {
                    return Err(invalid("fewer than five digits"));
                }
                ListKey::Text(digits)
            }
            ListKind::CardBin => {
                if !(6..=8).contains(&trimmed.len()) || !trimmed.chars().all(|c| c.is_ascii_digit())
                {
                    return Err(invalid("a BIN is 6 to 8 digits"));
                }
                ListKey::Text(trimmed.to_owned())
            }
            ListKind::Device | ListKind::User | ListKind::Text => ListKey::Text(trimmed.to_owned()),
        })
    }
}

/// Bounds on the entries people add (through the API, the command line or an import); rule
/// actions and entries read back from storage are not held to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryBounds {
    /// Shortest IPv4 prefix accepted without forcing (`/8` by default).
    pub min_ipv4_prefix: u8,
    /// Shortest IPv6 prefix accepted without forcing (`/32` by default).
    pub min_ipv6_prefix: u8,
}

impl Default for EntryBounds {
    fn default() -> Self {
        EntryBounds {
            min_ipv4_prefix: 8,
            min_ipv6_prefix: 32,
        }
    }
}

/// Whether `domain` is a host name: dot-separated labels of letters, digits and `-`, at
/// least two of them, none empty or starting or ending with `-`.
fn is_host_name(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

impl ListKind {
    /// Normalises a value that a person adds to a list of this kind: [`normalize`] and
    /// then the rules for new entries. Every value must pass the identifier rule
    /// ([`crate::identifier`]); an email must be `local@domain` with a host name for its
    /// domain; an IP range must be written canonically (no host bits set) and, unless
    /// `force`, be no wider than `bounds` allow, so that one line of a feed (`0.0.0.0/0`)
    /// cannot match every address.
    ///
    /// [`normalize`]: ListKind::normalize
    pub fn normalize_new_entry(
        self,
        value: &str,
        bounds: EntryBounds,
        force: bool,
    ) -> Result<ListKey, ListError> {
        let invalid = |reason| ListError::InvalidValue {
            value: value.chars().take(80).collect(),
            kind: self,
            reason,
        };
        let trimmed = value.trim();
        crate::identifier::check(trimmed).map_err(|problem| invalid(problem.reason()))?;
        let key = self.normalize(trimmed)?;
        match (self, &key) {
            (ListKind::Ip, ListKey::Network(network, prefix)) => {
                let address = trimmed
                    .split_once('/')
                    .map_or(trimmed, |(address, _)| address);
                if address.parse::<IpAddr>().ok() != Some(*network) {
                    return Err(ListError::NonCanonicalRange {
                        value: trimmed.chars().take(80).collect(),
                        canonical: key.to_string(),
                    });
                }
                let min = if network.is_ipv4() {
                    bounds.min_ipv4_prefix
                } else {
                    bounds.min_ipv6_prefix
                };
                if *prefix < min && !force {
                    return Err(ListError::RangeTooWide {
                        range: key.to_string(),
                        prefix: *prefix,
                        min,
                    });
                }
            }
            (ListKind::Email, ListKey::Text(email)) => {
                let well_formed = email.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty()
                        && !local.contains(char::is_whitespace)
                        && is_host_name(domain)
                });
                if !well_formed {
                    return Err(invalid("an email address is local@domain.tld"));
                }
            }
            (ListKind::EmailDomain | ListKind::Domain, ListKey::Text(host))
                if !is_host_name(host) =>
            {
                return Err(invalid("not a domain name"));
            }
            _ => {}
        }
        Ok(key)
    }
}

type FastMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;

/// The entries of one list.
#[derive(Clone, Default)]
struct Entries {
    /// IPv4 ranges by prefix length; longest prefix first. Probe tables, so that an event's
    /// slots can be asked of memory ahead of its lookups ([`List::prefetch_ip`]).
    v4: Vec<(u8, ProbeTable<i64>)>,
    /// IPv6 ranges by prefix length; longest prefix first.
    v6: Vec<(u8, FastMap<u128, i64>)>,
    /// Text entries.
    text: FastMap<Box<str>, i64>,
    /// Whether an entry with an expiry was ever added: a list of entries that never expire
    /// (a bulk import without a lifetime) is then never scanned for expired ones.
    expiring: bool,
}

/// The expiries of the networks of one prefix length, by network address.
trait NetworkTable: Default {
    /// The network address as an integer.
    type Address: Copy;
    /// Sets the expiry; true when the network was not there.
    fn put(&mut self, address: Self::Address, expires_at_ms: i64) -> bool;
    fn expiry(&self, address: Self::Address) -> Option<i64>;
    /// True when the network was there.
    fn take(&mut self, address: Self::Address) -> bool;
    fn entries(&self) -> impl Iterator<Item = (Self::Address, i64)>;
    fn count(&self) -> usize;
}

impl NetworkTable for ProbeTable<i64> {
    type Address = u32;
    fn put(&mut self, address: u32, expires_at_ms: i64) -> bool {
        let (expiry, inserted) = self.get_or_insert_with(u64::from(address), || expires_at_ms);
        *expiry = expires_at_ms;
        inserted
    }
    fn expiry(&self, address: u32) -> Option<i64> {
        self.get(u64::from(address)).copied()
    }
    fn take(&mut self, address: u32) -> bool {
        self.remove(u64::from(address)).is_some()
    }
    fn entries(&self) -> impl Iterator<Item = (u32, i64)> {
        // Keys come from `u32`s, so they fit.
        self.iter().map(|(key, expiry)| (key as u32, *expiry))
    }
    fn count(&self) -> usize {
        self.len()
    }
}

impl NetworkTable for FastMap<u128, i64> {
    type Address = u128;
    fn put(&mut self, address: u128, expires_at_ms: i64) -> bool {
        self.insert(address, expires_at_ms).is_none()
    }
    fn expiry(&self, address: u128) -> Option<i64> {
        self.get(&address).copied()
    }
    fn take(&mut self, address: u128) -> bool {
        self.remove(&address).is_some()
    }
    fn entries(&self) -> impl Iterator<Item = (u128, i64)> {
        self.iter().map(|(address, expiry)| (*address, *expiry))
    }
    fn count(&self) -> usize {
        self.len()
    }
}

fn insert_by_prefix<T: NetworkTable>(
    tables: &mut Vec<(u8, T)>,
    prefix: u8,
    address: T::Address,
    expires_at_ms: i64,
) -> bool {
    let position = match tables.iter().position(|(length, _)| *length == prefix) {
        Some(position) => position,
        None => {
            tables.push((prefix, T::default()));
            tables.sort_by_key(|(length, _)| std::cmp::Reverse(*length));
            tables
                .iter()
                .position(|(length, _)| *length == prefix)
                .unwrap_or(0)
        }
    };
    tables[position].1.put(address, expires_at_ms)
}

/// The table of `prefix` in `tables`.
fn table_of<T>(tables: &mut [(u8, T)], prefix: u8) -> Option<&mut T> {
    tables
        .iter_mut()
        .find(|(length, _)| *length == prefix)
        .map(|(_, table)| table)
}

/// Appends the keys of the networks of `tables` expired at `now_ms` to `expired`.
fn expired_networks<T: NetworkTable>(
    tables: &[(u8, T)],
    now_ms: i64,
    address: impl Fn(T::Address) -> IpAddr,
    expired: &mut Vec<ListKey>,
) {
    for (prefix, table) in tables {
        expired.extend(
            table
                .entries()
                .filter(|(_, expiry)| *expiry <= now_ms)
                .map(|(network, _)| ListKey::Network(address(network), *prefix)),
        );
    }
}

/// Removes the network from the table of `prefix` if its entry is expired at `now_ms`.
fn remove_from_prefix_if_expired<T: NetworkTable>(
    tables: &mut [(u8, T)],
    prefix: u8,
    address: T::Address,
    now_ms: i64,
) -> bool {
    table_of(tables, prefix).is_some_and(|table| match table.expiry(address) {
        Some(expiry) if expiry <= now_ms => table.take(address),
        _ => false,
    })
}

impl Entries {
    fn len(&self) -> usize {
        self.v4
            .iter()
            .map(|(_, table)| table.count())
            .sum::<usize>()
            + self
                .v6
                .iter()
                .map(|(_, table)| table.count())
                .sum::<usize>()
            + self.text.len()
    }

    fn insert(&mut self, key: ListKey, expires_at_ms: i64) -> bool {
        self.expiring |= expires_at_ms != NEVER;
        match key {
            ListKey::Network(IpAddr::V4(v4), prefix) => {
                insert_by_prefix(&mut self.v4, prefix, u32::from(v4), expires_at_ms)
            }
            ListKey::Network(IpAddr::V6(v6), prefix) => {
                insert_by_prefix(&mut self.v6, prefix, u128::from(v6), expires_at_ms)
            }
            ListKey::Text(text) => self
                .text
                .insert(text.into_boxed_str(), expires_at_ms)
                .is_none(),
        }
    }

    fn remove(&mut self, key: &ListKey) -> bool {
        match key {
            ListKey::Network(IpAddr::V4(v4), prefix) => {
                table_of(&mut self.v4, *prefix).is_some_and(|table| table.take(u32::from(*v4)))
            }
            ListKey::Network(IpAddr::V6(v6), prefix) => {
                table_of(&mut self.v6, *prefix).is_some_and(|table| table.take(u128::from(*v6)))
            }
            ListKey::Text(text) => self.text.remove(text.as_str()).is_some(),
        }
    }

    fn contains_ip(&self, ip: IpAddr, now_ms: i64) -> bool {
        match ip {
            IpAddr::V4(v4) => {
                let address = u32::from(v4);
                self.v4.iter().any(|(prefix, table)| {
                    table
                        .expiry(address & v4_mask(*prefix))
                        .is_some_and(|expiry| expiry > now_ms)
                })
            }
            IpAddr::V6(v6) => {
                if let Some(v4) = v6.to_ipv4_mapped() {
                    return self.contains_ip(IpAddr::V4(v4), now_ms);
                }
                let address = u128::from(v6);
                self.v6.iter().any(|(prefix, table)| {
                    table
                        .expiry(address & v6_mask(*prefix))
                        .is_some_and(|expiry| expiry > now_ms)
                })
            }
        }
    }

    /// Asks memory for the IPv4 slots a lookup of `ip` will probe.
    fn prefetch_ip(&self, ip: IpAddr) {
        let v4 = match ip {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4,
                None => return,
            },
        };
        let address = u32::from(v4);
        for (prefix, table) in &self.v4 {
            table.prefetch(u64::from(address & v4_mask(*prefix)), |_| {});
        }
    }

    fn contains_text(&self, text: &str, now_ms: i64) -> bool {
        self.text.get(text).is_some_and(|expiry| *expiry > now_ms)
    }

    /// The keys of the entries expired at `now_ms`; a scan that changes nothing, so that it
    /// runs under the read lock while lookups go on.
    fn expired_keys(&self, now_ms: i64) -> Vec<ListKey> {
        if !self.expiring {
            return Vec::new();
        }
        let mut expired = Vec::new();
        expired_networks(&self.v4, now_ms, |v4| IpAddr::V4(v4.into()), &mut expired);
        expired_networks(&self.v6, now_ms, |v6| IpAddr::V6(v6.into()), &mut expired);
        expired.extend(
            self.text
                .iter()
                .filter(|(_, expiry)| **expiry <= now_ms)
                .map(|(text, _)| ListKey::Text(text.to_string())),
        );
        expired
    }

    /// Removes the entry under `key` if it is expired at `now_ms` (it may have been added again,
    /// with a later expiry, since it was found); true when it was removed.
    fn remove_if_expired(&mut self, key: &ListKey, now_ms: i64) -> bool {
        match key {
            ListKey::Network(IpAddr::V4(v4), prefix) => {
                remove_from_prefix_if_expired(&mut self.v4, *prefix, u32::from(*v4), now_ms)
            }
            ListKey::Network(IpAddr::V6(v6), prefix) => {
                remove_from_prefix_if_expired(&mut self.v6, *prefix, u128::from(*v6), now_ms)
            }
            ListKey::Text(text) => match self.text.get(text.as_str()) {
                Some(expiry) if *expiry <= now_ms => self.text.remove(text.as_str()).is_some(),
                _ => false,
            },
        }
    }
}

/// One named list.
pub struct List {
    name: String,
    kind: ListKind,
    entries: ShardedLock<Entries>,
}

impl List {
    /// The entries, for reading. A lock poisoned by a panicking writer still holds whole
    /// entries (each change is one map operation), so it is read on.
    fn read(&self) -> ShardedLockReadGuard<'_, Entries> {
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The entries, for changing.
    fn write(&self) -> ShardedLockWriteGuard<'_, Entries> {
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The list's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The list's kind.
    pub fn kind(&self) -> ListKind {
        self.kind
    }

    /// Number of entries, expired ones not yet purged included.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `value` matches an unexpired entry, by this list's matching rules.
    pub fn contains(&self, value: &str, now_ms: i64) -> bool {
        let entries = self.read();
        match self.kind {
            ListKind::Ip => match value.trim().parse::<IpAddr>() {
                Ok(ip) => entries.contains_ip(ip, now_ms),
                Err(_) => false,
            },
            ListKind::EmailDomain | ListKind::Domain => {
                let host = host_of(value);
                let lower;
                let mut candidate = if host.bytes().any(|b| b.is_ascii_uppercase()) {
                    lower = host.to_ascii_lowercase();
                    lower.as_str()
                } else {
                    host
                };
                loop {
                    if entries.contains_text(candidate, now_ms) {
                        return true;
                    }
                    match candidate.split_once('.') {
                        Some((_, parent)) if parent.contains('.') => candidate = parent,
                        _ => return false,
                    }
                }
            }
            ListKind::CardBin => (6..=8.min(value.len())).rev().any(|length| {
                value
                    .get(..length)
                    .is_some_and(|prefix| entries.contains_text(prefix, now_ms))
            }),
            ListKind::Email => {
                if value.bytes().any(|b| b.is_ascii_uppercase()) {
                    entries.contains_text(&value.to_lowercase(), now_ms)
                } else {
                    entries.contains_text(value, now_ms)
                }
            }
            ListKind::Phone => match self.kind.normalize(value) {
                Ok(ListKey::Text(digits)) => entries.contains_text(&digits, now_ms),
                _ => false,
            },
            ListKind::Device | ListKind::User | ListKind::Text => {
                entries.contains_text(value, now_ms)
            }
        }
    }

    /// Whether `ip` lies in an unexpired entry (IP lists only; false for others).
    pub fn contains_ip(&self, ip: IpAddr, now_ms: i64) -> bool {
        match self.kind {
            ListKind::Ip => self.read().contains_ip(ip, now_ms),
            _ => self.contains(&ip.to_string(), now_ms),
        }
    }

    /// Asks memory for what [`contains_ip`](Self::contains_ip) will read for `ip` (IPv4
    /// entries of IP lists; nothing for other lists), and returns at once.
    pub fn prefetch_ip(&self, ip: IpAddr) {
        if self.kind == ListKind::Ip {
            self.read().prefetch_ip(ip);
        }
    }

    /// Adds or refreshes an entry; returns its normalised key.
    pub fn insert(&self, value: &str, expires_at_ms: Option<i64>) -> Result<ListKey, ListError> {
        let key = self.kind.normalize(value)?;
        self.write()
            .insert(key.clone(), expires_at_ms.unwrap_or(NEVER));
        Ok(key)
    }

    /// Adds many already-normalised entries under one lock.
    pub fn insert_many(&self, entries: impl IntoIterator<Item = (ListKey, i64)>) -> usize {
        let mut guard = self.write();
        entries
            .into_iter()
            .filter(|(key, expiry)| guard.insert(key.clone(), *expiry))
            .count()
    }

    /// Removes an entry; true when it was there.
    pub fn remove(&self, value: &str) -> Result<bool, ListError> {
        let key = self.kind.normalize(value)?;
        Ok(self.write().remove(&key))
    }

    /// Drops the entries expired at `now_ms`; returns how many. The list is scanned under
    /// the read lock, and the write lock, which stops every lookup, is taken only to remove
    /// what the scan found: a list of a million entries is not frozen for the whole scan.
    pub fn purge_expired(&self, now_ms: i64) -> usize {
        let expired = self.read().expired_keys(now_ms);
        if expired.is_empty() {
            return 0;
        }
        let mut entries = self.write();
        expired
            .iter()
            .filter(|key| entries.remove_if_expired(key, now_ms))
            .count()
    }
}

/// All lists, by name.
///
/// Creating a list copies the small table of lists (copy-on-write); lookups take no lock on
/// the table and a read lock on the one list.
#[derive(Default)]
pub struct ListRegistry {
    lists: ArcSwap<Vec<Arc<List>>>,
    create_lock: parking_lot::Mutex<()>,
}

/// Checks a list name.
pub fn validate_list_name(name: &str) -> Result<(), ListError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ListError::InvalidName)
    }
}

impl ListRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        ListRegistry::default()
    }

    /// The id of the list called `name`.
    pub fn resolve(&self, name: &str) -> Option<ListId> {
        self.lists
            .load()
            .iter()
            .position(|list| list.name == name)
            .map(|position| ListId(position as u32))
    }

    /// The list called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<List>> {
        self.lists
            .load()
            .iter()
            .find(|list| list.name == name)
            .cloned()
    }

    /// Every list.
    pub fn all(&self) -> Vec<Arc<List>> {
        self.lists.load().as_ref().clone()
    }

    /// Creates the list if missing; fails if it exists with another kind.
    pub fn ensure(&self, name: &str, kind: ListKind) -> Result<Arc<List>, ListError> {
        validate_list_name(name)?;
        let _guard = self.create_lock.lock();
        if let Some(existing) = self.get(name) {
            if existing.kind != kind {
                return Err(ListError::KindConflict {
                    name: name.to_owned(),
                    existing: existing.kind,
                    requested: kind,
                });
            }
            return Ok(existing);
        }
        let list = Arc::new(List {
            name: name.to_owned(),
            kind,
            entries: ShardedLock::new(Entries::default()),
        });
        let mut lists = self.lists.load().as_ref().clone();
        lists.push(list.clone());
        self.lists.store(Arc::new(lists));
        Ok(list)
    }

    /// A copy of every list and its entries, independent of this registry from now on: what
    /// a replay decides over, so that the rules it replays add their entries to the copy and
    /// never to the lists that serve traffic. Each list is copied under its read lock.
    pub fn copy(&self) -> ListRegistry {
        let lists: Vec<Arc<List>> = self
            .lists
            .load()
            .iter()
            .map(|list| {
                Arc::new(List {
                    name: list.name.clone(),
                    kind: list.kind,
                    entries: ShardedLock::new(list.read().clone()),
                })
            })
            .collect();
        ListRegistry {
            lists: ArcSwap::from_pointee(lists),
            create_lock: parking_lot::Mutex::new(()),
        }
    }

    /// The lists as they are now, for the lookups of one decision: the table is loaded once,
    /// not once per lookup (a load costs about as much as a short lookup).
    pub fn view(&self) -> ListsView {
        ListsView(self.lists.load())
    }

    /// Whether `value` is in list `id` at `now_ms`.
    pub fn contains(&self, id: ListId, value: &str, now_ms: i64) -> bool {
        self.view().contains(id, value, now_ms)
    }

    /// Drops expired entries from every list; returns how many.
    pub fn purge_expired(&self, now_ms: i64) -> usize {
        self.lists
            .load()
            .iter()
            .map(|list| list.purge_expired(now_ms))
            .sum()
    }
}

/// The table of lists loaded once ([`ListRegistry::view`]); lists created after it was taken
/// are not in it, while entries added to its lists are.
pub struct ListsView(arc_swap::Guard<Arc<Vec<Arc<List>>>>);

impl ListsView {
    /// Whether `value` is in list `id` at `now_ms`.
    pub fn contains(&self, id: ListId, value: &str, now_ms: i64) -> bool {
        self.0
            .get(id.0 as usize)
            .is_some_and(|list| list.contains(value, now_ms))
    }

    /// Whether `ip` is in list `id` at `now_ms`.
    pub fn contains_ip(&self, id: ListId, ip: IpAddr, now_ms: i64) -> bool {
        self.0
            .get(id.0 as usize)
            .is_some_and(|list| list.contains_ip(ip, now_ms))
    }

    /// Asks memory for what looking `ip` up in every IP list will read (see
    /// [`crate::Engine::prefetch`]).
    pub fn prefetch_ip(&self, ip: IpAddr) {
        for list in self.0.iter() {
            list.prefetch_ip(ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_entry(kind: ListKind, value: &str) -> Result<String, ListError> {
        kind.normalize_new_entry(value, EntryBounds::default(), false)
            .map(|key| key.to_string())
    }

    #[test]
    fn a_copy_holds_the_entries_and_never_changes_the_original() {
        let registry = ListRegistry::new();
        let ips = registry.ensure("bad_ips", ListKind::Ip).unwrap();
        ips.insert("10.1.0.0/16", None).unwrap();
        registry
            .ensure("bad_users", ListKind::User)
            .unwrap()
            .insert("mallory", Some(5_000))
            .unwrap();
        let copy = registry.copy();
        let copied = copy.get("bad_ips").unwrap();
        assert!(copied.contains("10.1.2.3", 1_000));
        assert!(copy.get("bad_users").unwrap().contains("mallory", 1_000));
        assert!(!copy.get("bad_users").unwrap().contains("mallory", 6_000));
        assert_eq!(copy.resolve("bad_users"), registry.resolve("bad_users"));
        // Changes to the copy stay in the copy, and the other way round.
        copied.insert("192.0.2.1", None).unwrap();
        assert!(!ips.contains("192.0.2.1", 1_000));
        ips.remove("10.1.0.0/16").unwrap();
        assert!(copied.contains("10.1.2.3", 1_000));
        copy.ensure("new_list", ListKind::Text).unwrap();
        assert!(registry.get("new_list").is_none());
    }

    #[test]
    fn ranges_wider_than_the_bounds_are_refused_unless_forced() {
        // Regression: `0.0.0.0/0` (and `1.2.3.4/0`, which became it) denied every IPv4 event.
        assert!(matches!(
            new_entry(ListKind::Ip, "0.0.0.0/0"),
            Err(ListError::RangeTooWide {
                prefix: 0,
                min: 8,
                ..
            })
        ));
        assert!(matches!(
            new_entry(ListKind::Ip, "::/0"),
            Err(ListError::RangeTooWide {
                prefix: 0,
                min: 32,
                ..
            })
        ));
        assert!(new_entry(ListKind::Ip, "2001:db8::/31").is_err());
        assert_eq!(new_entry(ListKind::Ip, "10.0.0.0/8").unwrap(), "10.0.0.0/8");
        assert_eq!(
            new_entry(ListKind::Ip, "2001:db8::/32").unwrap(),
            "2001:db8::/32"
        );
        assert_eq!(
            new_entry(ListKind::Ip, " 198.51.100.7 ").unwrap(),
            "198.51.100.7"
        );
        let forced = ListKind::Ip
            .normalize_new_entry("0.0.0.0/0", EntryBounds::default(), true)
            .unwrap();
        assert_eq!(forced.to_string(), "0.0.0.0/0");
    }

    #[test]
    fn ranges_with_host_bits_are_refused_naming_the_range() {
        let error = new_entry(ListKind::Ip, "1.2.3.4/0").unwrap_err();
        assert!(
            matches!(error, ListError::NonCanonicalRange { .. }),
            "{error}"
        );
        let error = new_entry(ListKind::Ip, "10.1.2.3/16").unwrap_err();
        assert!(error.to_string().contains("10.1.0.0/16"), "{error}");
        assert!(new_entry(ListKind::Ip, "2001:db8::1/64").is_err());
        // Stored entries and lookups still normalise as before.
        assert!(ListKind::Ip.normalize("1.2.3.4/0").is_ok());
    }

    #[test]
    fn emails_and_domains_must_be_well_formed() {
        for bad in [
            "@",
            "a@",
            "@example.com",
            "a b@example.com",
            "a@localhost",
            "a@-x.com",
            "a@x..com",
        ] {
            assert!(new_entry(ListKind::Email, bad).is_err(), "{bad}");
        }
        assert_eq!(
            new_entry(ListKind::Email, " Alice@Example.COM ").unwrap(),
            "alice@example.com"
        );
        assert!(new_entry(ListKind::Domain, "localhost").is_err());
        assert_eq!(
            new_entry(ListKind::Domain, "https://Shop.Example.com/x").unwrap(),
            "shop.example.com"
        );
    }

    #[test]
    fn new_entries_follow_the_identifier_rule() {
        for bad in ["u1\0", "a\r\nb", "alice\u{202E}cipa", "\u{FEFF}u1"] {
            let value = bad.to_owned();
            assert!(new_entry(ListKind::User, &value).is_err(), "{value:?}");
            assert!(new_entry(ListKind::Device, &value).is_err(), "{value:?}");
        }
        assert_eq!(new_entry(ListKind::User, "alice").unwrap(), "alice");
    }

    #[test]
    fn cidr_ranges_match_contained_addresses_until_expiry() {
        let registry = ListRegistry::new();
        let list = registry.ensure("ip_block", ListKind::Ip).unwrap();
        list.insert("10.1.0.0/16", Some(1_000)).unwrap();
        list.insert("192.0.2.7", None).unwrap();
        list.insert("2001:db8::/32", None).unwrap();
        let id = registry.resolve("ip_block").unwrap();
        assert!(registry.contains(id, "10.1.200.3", 999));
        assert!(
            !registry.contains(id, "10.1.200.3", 1_000),
            "expired entries stop matching"
        );
        assert!(!registry.contains(id, "10.2.0.1", 0));
        assert!(registry.contains(id, "192.0.2.7", 0));
        assert!(!registry.contains(id, "192.0.2.8", 0));
        assert!(registry.contains(id, "2001:db8:1::5", 0));
        assert!(
            registry.contains(id, "::ffff:192.0.2.7", 0),
            "v4-mapped v6 matches the v4 entry"
        );
        assert_eq!(registry.purge_expired(1_000), 1);
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn purging_drops_expired_entries_of_every_kind_and_keeps_the_rest() {
        let registry = ListRegistry::new();
        let ips = registry.ensure("ip_watch", ListKind::Ip).unwrap();
        ips.insert("198.51.100.0/24", Some(500)).unwrap();
        ips.insert("2001:db8:5::/48", Some(500)).unwrap();
        ips.insert("203.0.113.9", None).unwrap();
        ips.insert("2001:db8:6::1", Some(5_000)).unwrap();
        let emails = registry.ensure("email_watch", ListKind::Email).unwrap();
        emails.insert("a@example.com", Some(999)).unwrap();
        emails.insert("b@example.com", Some(1_001)).unwrap();
        // Added again with a later expiry: not expired any more.
        emails.insert("c@example.com", Some(10)).unwrap();
        emails.insert("c@example.com", Some(9_000)).unwrap();
        assert_eq!(registry.purge_expired(1_000), 3);
        assert_eq!((ips.len(), emails.len()), (2, 2));
        assert!(ips.contains("203.0.113.9", 1_000));
        assert!(ips.contains("2001:db8:6::1", 1_000));
        assert!(emails.contains("c@example.com", 1_000));
        assert_eq!(registry.purge_expired(1_000), 0, "nothing left to drop");
        // A list whose entries never expire is not even scanned.
        let blocked = registry.ensure("ip_forever", ListKind::Ip).unwrap();
        blocked.insert("192.0.2.1", None).unwrap();
        assert!(!blocked.read().expiring && ips.read().expiring);
    }

    #[test]
    fn domains_match_subdomains_and_accept_urls_and_emails() {
        let registry = ListRegistry::new();
        let list = registry
            .ensure("disposable", ListKind::EmailDomain)
            .unwrap();
        list.insert("Mailinator.com", None).unwrap();
        assert!(list.contains("someone@mailinator.com", 0));
        assert!(list.contains("x@eu.MAILINATOR.com", 0));
        assert!(!list.contains("x@notmailinator.com", 0));
        let domains = registry.ensure("phishing", ListKind::Domain).unwrap();
        domains.insert("https://evil.example/login", None).unwrap();
        assert!(domains.contains("http://pay.evil.example:8080/a?b", 0));
        assert!(!domains.contains("example", 0));
    }

    #[test]
    fn card_bins_match_by_prefix_and_kinds_cannot_change() {
        let registry = ListRegistry::new();
        let list = registry.ensure("bins", ListKind::CardBin).unwrap();
        list.insert("411111", None).unwrap();
        assert!(list.contains("41111122", 0));
        assert!(!list.contains("41111", 0));
        assert!(list.insert("4111", None).is_err());
        assert!(matches!(
            registry.ensure("bins", ListKind::Ip),
            Err(ListError::KindConflict { .. })
        ));
        assert!(registry.ensure("Bad Name", ListKind::Ip).is_err());
    }
}
