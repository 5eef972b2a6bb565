//! A map from 64-bit keys (already hashes) to values, split into shards behind their own
//! locks so that request threads rarely wait for each other; the store of velocity series
//! and of user profiles.

use std::hash::{BuildHasher, Hasher};

use crossbeam_utils::CachePadded;
use parking_lot::{Mutex, MutexGuard};

use crate::probe_table::ProbeTable;

/// Shards per core: enough that two threads seldom want the same shard at once.
const SHARDS_PER_CORE: usize = 4;
/// Fewest and most shards a map is given.
const SHARD_RANGE: (usize, usize) = (8, 256);

/// How many shards a map gets on this machine: 4 per core, as a power of
/// two from 8 to 256. No more than that, because every lookup touches its shard's
/// lock and header, and with tens of features those lines must stay in the cache: 64 shards
/// on a 2-core machine put their misses among the engine's costliest (decision 0015).
pub fn shard_count() -> usize {
    static COUNT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *COUNT.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        (cores * SHARDS_PER_CORE)
            .next_power_of_two()
            .clamp(SHARD_RANGE.0, SHARD_RANGE.1)
    })
}

/// One shard's map.
pub type Shard<V> = ProbeTable<V>;

/// A sharded map; each shard sits alone on its cache line(s), so that threads locking
/// neighbouring shards do not take the line from each other.
pub struct ShardedMap<V> {
    shards: Box<[CachePadded<Mutex<Shard<V>>>]>,
    /// `shards.len() - 1` (a power of two less one).
    mask: usize,
}

impl<V> Default for ShardedMap<V> {
    fn default() -> Self {
        Self::with_shards(shard_count())
    }
}

impl<V> ShardedMap<V> {
    /// An empty map of `count` shards (rounded up to a power of two).
    pub fn with_shards(count: usize) -> Self {
        let count = count.max(1).next_power_of_two();
        ShardedMap {
            shards: (0..count)
                .map(|_| CachePadded::new(Mutex::new(ProbeTable::default())))
                .collect(),
            mask: count - 1,
        }
    }

    /// The locked shard that holds `key`.
    pub fn shard(&self, key: u64) -> MutexGuard<'_, Shard<V>> {
        let mut hasher = rustc_hash::FxBuildHasher.build_hasher();
        hasher.write_u64(key);
        self.shards[(hasher.finish() >> 40) as usize & self.mask].lock()
    }

    /// Asks memory for `key`'s slot ahead of a lookup (see [`ProbeTable::prefetch`]).
    #[inline]
    pub fn prefetch(&self, key: u64, lines: impl Fn(&V))
    where
        V: Default,
    {
        self.shard(key).prefetch(key, lines);
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().len()).sum()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the entries `keep` accepts, one shard at a time; returns how many were dropped.
    pub fn retain(&self, mut keep: impl FnMut(&V) -> bool) -> usize
    where
        V: Default,
    {
        self.shards
            .iter()
            .map(|shard| shard.lock().retain(&mut keep))
            .sum()
    }

    /// Inserts entries (from a snapshot), replacing any with the same key.
    pub fn import(&self, entries: Vec<(u64, V)>)
    where
        V: Default,
    {
        for (key, value) in entries {
            self.shard(key).insert(key, value);
        }
    }
}

impl<V: serde::Serialize> ShardedMap<V> {
    /// Appends every entry to `out` as postcard encodes a `Vec<(u64, V)>`, one shard at a time
    /// and without copying any value first (for snapshots: a copy would double the memory the
    /// tables take while it lasts).
    pub fn encode_entries(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
        let mut entries = Vec::new();
        let mut count = 0u64;
        for shard in self.shards.iter() {
            let shard = shard.lock();
            for entry in shard.iter() {
                entries = postcard::to_extend(&entry, entries)?;
                count += 1;
            }
        }
        // postcard writes a sequence's length as a varint, as it writes a `u64`.
        *out = postcard::to_extend(&count, std::mem::take(out))?;
        out.extend_from_slice(&entries);
        Ok(())
    }
}

#[cfg(test)]
impl<V: Clone> ShardedMap<V> {
    /// A copy of every entry, one shard at a time (the snapshot's old way, kept as its oracle).
    pub fn export(&self) -> Vec<(u64, V)> {
        let mut entries = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.lock();
            entries.extend(shard.iter().map(|(key, value)| (key, value.clone())));
        }
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_land_in_shards_and_come_back_out() {
        let map = ShardedMap::<u32>::with_shards(64);
        for key in 0..1_000u64 {
            map.shard(key.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                .insert(key, key as u32);
        }
        assert_eq!(map.len(), 1_000);
        let used = map
            .shards
            .iter()
            .filter(|shard| !shard.lock().is_empty())
            .count();
        assert!(used > 32, "keys spread over only {used} shards");
        assert_eq!(map.retain(|value| value % 2 == 0), 500);
        let mut exported = map.export();
        exported.sort_unstable();
        assert_eq!(exported.len(), 500);
        let copy = ShardedMap::default();
        copy.import(exported.clone());
        let mut again = copy.export();
        again.sort_unstable();
        assert_eq!(again, exported);
    }
}
