//! The index keys of a record: its decision id, user, IP and device, each an xxh3 hash of
//! the text seeded by what it is.

use std::io::Write;
use std::net::IpAddr;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::RecordRef;

/// What a record is indexed by; its tag seeds the hash.
#[derive(Clone, Copy, Debug)]
pub(super) enum Key {
    Decision,
    User,
    Ip,
    Device,
}

impl Key {
    /// The tag that seeds the key's hash, written into every sealed index: a stored code,
    /// never changed (a new key takes the next number; pinned by a test).
    pub(super) fn tag(self) -> u64 {
        match self {
            Key::Decision => 1,
            Key::User => 2,
            Key::Ip => 3,
            Key::Device => 4,
        }
    }
}

pub(super) fn key_hash(key: Key, text: &str) -> u64 {
    xxh3_64_with_seed(text.as_bytes(), key.tag())
}

/// The index keys of one record: its decision id, user, and IP and device when present.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordKeys {
    pub(super) hashes: [u64; 4],
    pub(super) count: u8,
}

impl RecordKeys {
    pub(super) fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.hashes[..usize::from(self.count)].iter().copied()
    }
}

/// The index keys of a record.
pub(crate) fn keys_of(record: RecordRef<'_>) -> RecordKeys {
    let mut keys = RecordKeys {
        hashes: [0; 4],
        count: 2,
    };
    keys.hashes[0] = key_hash(Key::Decision, &record.decision.decision_id);
    keys.hashes[1] = key_hash(Key::User, &record.decision.user_id);
    if let Some(ip) = record.event.ip {
        // An address's text is at most 45 bytes: it is written on the stack.
        let mut text = [0u8; 64];
        if let Some(length) = ip_text(ip, &mut text) {
            keys.hashes[2] = xxh3_64_with_seed(&text[..length], Key::Ip.tag());
            keys.count = 3;
        }
    }
    if let Some(device) = record.event.device_id.as_deref() {
        keys.hashes[usize::from(keys.count)] = key_hash(Key::Device, device);
        keys.count += 1;
    }
    keys
}

/// Writes `ip` as `Display` spells it into `out`; returns its length (`None` only if `out` is
/// too short). IPv4 addresses, the usual case, are spelled by hand: the formatting machinery
/// took a tenth of the request path's log work.
pub(super) fn ip_text(ip: IpAddr, out: &mut [u8]) -> Option<usize> {
    match ip {
        IpAddr::V4(v4) => {
            let mut length = 0;
            for (index, octet) in v4.octets().into_iter().enumerate() {
                if index > 0 {
                    *out.get_mut(length)? = b'.';
                    length += 1;
                }
                // Hundreds and tens only when the octet has them (no leading zeros).
                let digits = [(octet >= 100, octet / 100), (octet >= 10, octet / 10 % 10)];
                for digit in digits
                    .into_iter()
                    .filter_map(|(present, digit)| present.then_some(digit))
                    .chain([octet % 10])
                {
                    *out.get_mut(length)? = b'0' + digit;
                    length += 1;
                }
            }
            Some(length)
        }
        IpAddr::V6(_) => {
            let mut cursor = std::io::Cursor::new(out);
            write!(cursor, "{ip}").ok()?;
            Some(cursor.position() as usize)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_key_tags_and_hashes_are_pinned() {
        // Every sealed index holds these hashes: a changed tag (or hash function) would make
        // every lookup in an old segment miss.
        let tags: Vec<u64> = [Key::Decision, Key::User, Key::Ip, Key::Device]
            .into_iter()
            .map(Key::tag)
            .collect();
        assert_eq!(tags, [1, 2, 3, 4]);
        assert_eq!(key_hash(Key::User, "alice"), 16_376_901_203_553_846_146);
        assert_eq!(key_hash(Key::Ip, "192.0.2.1"), 6_642_619_795_536_417_690);
    }

    #[test]
    fn addresses_are_spelled_as_display_spells_them() {
        let mut text = [0u8; 64];
        let mut check = |ip: IpAddr| {
            let length = ip_text(ip, &mut text).unwrap();
            assert_eq!(
                std::str::from_utf8(&text[..length]).unwrap(),
                ip.to_string()
            );
        };
        for value in 0..=255u8 {
            let others = [value.wrapping_mul(7), value.wrapping_add(100), 255 - value];
            check(IpAddr::from([value, others[0], others[1], others[2]]));
            check(IpAddr::from([others[2], value, 0, others[1]]));
        }
        check(IpAddr::from([0u8; 4]));
        check("2001:db8::8a2e:370:7334".parse().unwrap());
        check("::ffff:10.0.0.1".parse().unwrap());
        // Too short a buffer gives `None`, never a panic.
        assert_eq!(ip_text(IpAddr::from([255u8; 4]), &mut [0u8; 10]), None);
    }
}
