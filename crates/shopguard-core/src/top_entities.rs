//! The entities behind the most denials: users, IPs, /24 networks (/48 for IPv6) and
//! devices, counted over a set of denied decisions (the situation page's "top entities").

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// One entity and how many of the counted denials it is behind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityCount {
    /// The entity (a network is written `a.b.c.0/24` or `x:y:z::/48`).
    pub value: String,
    /// Denials.
    pub count: u64,
}

/// The top entities of each kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopEntities {
    /// Denials counted.
    pub denials: u64,
    /// Users.
    pub users: Vec<EntityCount>,
    /// IP addresses.
    pub ips: Vec<EntityCount>,
    /// /24 (IPv4) and /48 (IPv6) networks.
    pub networks: Vec<EntityCount>,
    /// Devices.
    pub devices: Vec<EntityCount>,
}

/// The network an address is in, as the situation groups them: /24 for IPv4, /48 for IPv6.
pub fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", segments[0], segments[1], segments[2])
        }
    }
}

/// Counts denials by entity and keeps the `top` largest of each kind (ties by value).
#[derive(Debug, Default)]
pub struct TopEntityTally {
    denials: u64,
    users: HashMap<String, u64>,
    ips: HashMap<String, u64>,
    networks: HashMap<String, u64>,
    devices: HashMap<String, u64>,
}

fn bump(map: &mut HashMap<String, u64>, value: &str) {
    if let Some(count) = map.get_mut(value) {
        *count += 1;
    } else {
        map.insert(value.to_owned(), 1);
    }
}

fn largest(map: HashMap<String, u64>, top: usize) -> Vec<EntityCount> {
    let mut counts: Vec<EntityCount> = map
        .into_iter()
        .map(|(value, count)| EntityCount { value, count })
        .collect();
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    counts.truncate(top);
    counts
}

impl TopEntityTally {
    /// An empty tally.
    pub fn new() -> TopEntityTally {
        TopEntityTally::default()
    }

    /// Counts one denial by its user, IP (and network) and device.
    pub fn add(&mut self, user_id: &str, ip: Option<IpAddr>, device_id: Option<&str>) {
        self.denials += 1;
        if !user_id.is_empty() {
            bump(&mut self.users, user_id);
        }
        if let Some(ip) = ip {
            bump(&mut self.ips, &ip.to_string());
            bump(&mut self.networks, &network_of(ip));
        }
        if let Some(device) = device_id.filter(|device| !device.is_empty()) {
            bump(&mut self.devices, device);
        }
    }

    /// The `top` largest of each kind.
    pub fn finish(self, top: usize) -> TopEntities {
        TopEntities {
            denials: self.denials,
            users: largest(self.users, top),
            ips: largest(self.ips, top),
            networks: largest(self.networks, top),
            devices: largest(self.devices, top),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_are_counted_by_entity_and_network_largest_first() {
        let mut tally = TopEntityTally::new();
        let ip = |text: &str| Some(text.parse::<IpAddr>().unwrap());
        tally.add("mallory", ip("203.0.113.5"), Some("d1"));
        tally.add("mallory", ip("203.0.113.9"), Some("d1"));
        tally.add("trent", ip("203.0.113.9"), None);
        tally.add("eve", ip("2001:db8:1:2::7"), Some(""));
        tally.add("", None, Some("d2"));
        let top = tally.finish(2);
        assert_eq!(top.denials, 5);
        assert_eq!(
            top.users,
            vec![
                EntityCount {
                    value: "mallory".into(),
                    count: 2
                },
                EntityCount {
                    value: "eve".into(),
                    count: 1
                },
            ],
            "largest first, ties by value, at most 2"
        );
        assert_eq!(
            top.ips[0],
            EntityCount {
                value: "203.0.113.9".into(),
                count: 2
            }
        );
        assert_eq!(
            top.networks,
            vec![
                EntityCount {
                    value: "203.0.113.0/24".into(),
                    count: 3
                },
                EntityCount {
                    value: "2001:db8:1::/48".into(),
                    count: 1
                },
            ]
        );
        assert_eq!(
            top.devices[0],
            EntityCount {
                value: "d1".into(),
                count: 2
            }
        );
        assert_eq!(top.devices.len(), 2, "an empty device is not an entity");
    }
}
