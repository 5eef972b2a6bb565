//! Limits on operator logins, beyond the password hash's own cost (decision 0035):
//! - attempts per operator name (guessing one account's password);
//! - **failures per client address**, whatever names it tries (password spraying: one guess on
//!   each of many accounts);
//! - failures across the node from every address together (a spray from many addresses).
//!
//! Each limit is a rate per minute with a minute's burst, kept as the generic cell rate
//! algorithm's one number per key: the time at which the key's bucket is empty again
//! (its "theoretical arrival time"). An attempt is admitted while that time is less than a
//! minute ahead; the wait otherwise is how far beyond. Only failures count against the
//! address and the node, so an office behind one address is not locked out by its own
//! successful logins. A refused attempt is not checked at all and counts for nothing.
//!
//! Time comes in as milliseconds (the caller's clock), so the limits are tested without
//! sleeping.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

use parking_lot::Mutex;

/// The window every limit is a rate over: a minute.
const WINDOW_MS: i64 = 60_000;
/// Keys held per table before those whose bucket is full again are dropped.
const PRUNE_ABOVE: usize = 100_000;

/// Which limit refused a login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginLimit {
    /// Attempts on this operator name.
    Username,
    /// Failures from this client address.
    Address,
    /// Failures across the node.
    Node,
}

/// A refused login: which limit, and how long to wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttled {
    /// The limit reached.
    pub limit: LoginLimit,
    /// Seconds until one more attempt is admitted (at least 1).
    pub retry_after_seconds: u64,
}

/// The three limits, each per minute (at least 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginLimits {
    /// Attempts per operator name per minute.
    pub attempts_per_username: u32,
    /// Failures per client address per minute.
    pub failures_per_address: u32,
    /// Failures across the node per minute.
    pub failures_per_node: u32,
}

/// One rate: the spacing of its events and the burst allowed.
#[derive(Clone, Copy, Debug)]
struct Rate {
    interval_ms: i64,
    burst_ms: i64,
}

impl Rate {
    fn per_minute(limit: u32) -> Rate {
        let limit = i64::from(limit.max(1));
        let interval_ms = (WINDOW_MS / limit).max(1);
        Rate {
            interval_ms,
            burst_ms: interval_ms * limit,
        }
    }

    /// Milliseconds to wait before one more event fits after `empty_at`; 0 when it fits now.
    fn wait_ms(self, empty_at: i64, now_ms: i64) -> i64 {
        (empty_at + self.interval_ms - now_ms - self.burst_ms).max(0)
    }

    fn count(self, empty_at: &mut i64, now_ms: i64) {
        *empty_at = (*empty_at).max(now_ms) + self.interval_ms;
    }
}

#[derive(Default)]
struct Buckets {
    usernames: HashMap<String, i64>,
    addresses: HashMap<IpAddr, i64>,
    node: i64,
}

fn count_key<K: Hash + Eq>(table: &mut HashMap<K, i64>, key: K, rate: Rate, now_ms: i64) {
    if table.len() >= PRUNE_ABOVE {
        table.retain(|_, empty_at| *empty_at > now_ms);
    }
    rate.count(table.entry(key).or_insert(now_ms), now_ms);
}

/// The login limits of one node, in memory.
pub struct LoginThrottle {
    username: Rate,
    address: Rate,
    node: Rate,
    buckets: Mutex<Buckets>,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle").finish_non_exhaustive()
    }
}

impl LoginThrottle {
    /// A throttle with these limits and nothing counted.
    pub fn new(limits: LoginLimits) -> LoginThrottle {
        LoginThrottle {
            username: Rate::per_minute(limits.attempts_per_username),
            address: Rate::per_minute(limits.failures_per_address),
            node: Rate::per_minute(limits.failures_per_node),
            buckets: Mutex::new(Buckets::default()),
        }
    }

    /// Admits a login attempt on `username` from `client` (unknown: only the name and the
    /// node's limits apply) at `now_ms`, counting it against the name; or says which limit
    /// refuses it and for how long. The address and the node are checked before the name, so
    /// a sprayer learns nothing about which names exist.
    pub fn admit(
        &self,
        username: &str,
        client: Option<IpAddr>,
        now_ms: i64,
    ) -> Result<(), Throttled> {
        let mut buckets = self.buckets.lock();
        let refuse = |limit, wait_ms: i64| {
            Err(Throttled {
                limit,
                retry_after_seconds: u64::try_from((wait_ms + 999) / 1_000).unwrap_or(1).max(1),
            })
        };
        if let Some(address) = client {
            if let Some(&empty_at) = buckets.addresses.get(&address) {
                let wait = self.address.wait_ms(empty_at, now_ms);
                if wait > 0 {
                    return refuse(LoginLimit::Address, wait);
                }
            }
        }
        let wait = self.node.wait_ms(buckets.node, now_ms);
        if wait > 0 {
            return refuse(LoginLimit::Node, wait);
        }
        if let Some(&empty_at) = buckets.usernames.get(username) {
            let wait = self.username.wait_ms(empty_at, now_ms);
            if wait > 0 {
                return refuse(LoginLimit::Username, wait);
            }
        }
        count_key(
            &mut buckets.usernames,
            username.to_owned(),
            self.username,
            now_ms,
        );
        Ok(())
    }

    /// Counts a failed login from `client` at `now_ms` against the address and the node.
    pub fn failed(&self, client: Option<IpAddr>, now_ms: i64) {
        let mut buckets = self.buckets.lock();
        if let Some(address) = client {
            count_key(&mut buckets.addresses, address, self.address, now_ms);
        }
        let node = self.node;
        node.count(&mut buckets.node, now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(LoginLimits {
            attempts_per_username: 10,
            failures_per_address: 5,
            failures_per_node: 100,
        })
    }

    fn address(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([203, 0, 113, last]))
    }

    #[test]
    fn spraying_names_from_one_address_is_refused_with_the_wait() {
        let throttle = throttle();
        for name in 0..5 {
            throttle
                .admit(&format!("name{name}"), address(1), NOW)
                .unwrap();
            throttle.failed(address(1), NOW);
        }
        let refused = throttle.admit("name5", address(1), NOW).unwrap_err();
        assert_eq!(refused.limit, LoginLimit::Address);
        assert_eq!(
            refused.retry_after_seconds, 12,
            "one failure's worth of a minute"
        );
        // Another address is not affected; the first may try again after the wait.
        throttle.admit("name5", address(2), NOW).unwrap();
        throttle.admit("name6", address(1), NOW + 12_000).unwrap();
    }

    #[test]
    fn successful_logins_do_not_count_against_an_address() {
        let throttle = throttle();
        for name in 0..50 {
            throttle
                .admit(&format!("name{name}"), address(1), NOW)
                .unwrap();
        }
    }

    #[test]
    fn one_name_is_limited_whatever_the_address() {
        let throttle = throttle();
        for last in 0..10 {
            throttle.admit("ana", address(last), NOW).unwrap();
        }
        let refused = throttle.admit("ana", address(99), NOW).unwrap_err();
        assert_eq!(refused.limit, LoginLimit::Username);
        assert_eq!(refused.retry_after_seconds, 6);
    }

    #[test]
    fn failures_from_many_addresses_reach_the_node_limit() {
        let throttle = throttle();
        for last in 0..100 {
            throttle
                .admit(&format!("n{last}"), address(last), NOW)
                .unwrap();
            throttle.failed(address(last), NOW);
        }
        let refused = throttle.admit("ana", address(200), NOW).unwrap_err();
        assert_eq!(refused.limit, LoginLimit::Node);
        assert_eq!(refused.retry_after_seconds, 1);
        throttle.admit("ana", address(200), NOW + 600).unwrap();
    }
}
