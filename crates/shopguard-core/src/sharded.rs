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

/// Slots encoded per hold of a shard's lock when a snapshot is taken, so that a request
/// never waits long for its shard: the longest hold in the 200,000-user engine bench was
/// 0.7 ms (a series table), where a whole shard in one hold took 3.7 ms (the profiles).
const SNAPSHOT_SLOTS_PER_HOLD: usize = 2_048;
/// Times a snapshot starts a shard again because entries moved while its lock was let go;
/// after that the shard is encoded in one hold.
const SNAPSHOT_RESTARTS: usize = 3;

impl<V: serde::Serialize> ShardedMap<V> {
    /// Appends every entry to `out` as postcard encodes a `Vec<(u64, V)>`, without copying
    /// any value first (for snapshots: a copy would double the memory the tables take while
    /// it lasts).
    ///
    /// Each shard is encoded a part of its array at a time (`SNAPSHOT_SLOTS_PER_HOLD`
    /// slots), and its lock is let go between parts: one hold for a whole shard had kept
    /// its requests waiting for 3.7 ms at 200,000 users, and would for about 180 ms at 10
    /// million. Entries that arrive meanwhile are in the snapshot or not, as with any entry
    /// changed while a snapshot is taken. When entries move between slots in a pause (the
    /// array grew, or entries were removed), the shard's part so far is dropped and the
    /// shard is encoded again, so that no entry is written twice or skipped.
    pub fn encode_entries(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
        self.encode_entries_in_parts(out, SNAPSHOT_SLOTS_PER_HOLD, || {})
    }

    /// [`encode_entries`](Self::encode_entries) with `slots_per_hold` slots per hold of a
    /// lock, calling `between` each time a lock is let go (where other threads get their
    /// turn: the tests change the map there).
    fn encode_entries_in_parts(
        &self,
        out: &mut Vec<u8>,
        slots_per_hold: usize,
        mut between: impl FnMut(),
    ) -> Result<(), postcard::Error> {
        let mut entries = Vec::new();
        let mut count = 0u64;
        for shard in self.shards.iter() {
            let (bytes_before, count_before) = (entries.len(), count);
            let mut restarts = 0;
            let mut start = 0;
            let mut walked_layout = None;
            loop {
                let guard = shard.lock();
                if walked_layout.is_some_and(|layout| layout != guard.layout()) {
                    entries.truncate(bytes_before);
                    count = count_before;
                    start = 0;
                    restarts += 1;
                }
                walked_layout = Some(guard.layout());
                let end = if restarts >= SNAPSHOT_RESTARTS {
                    guard.slot_count()
                } else {
                    (start + slots_per_hold).min(guard.slot_count())
                };
                for entry in guard.entries_in(start..end) {
                    entries = postcard::to_extend(&entry, entries)?;
                    count += 1;
                }
                start = end;
                if start >= guard.slot_count() {
                    break;
                }
                drop(guard);
                between();
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
    fn a_snapshot_taken_while_entries_arrive_and_leave_holds_each_old_entry_once() {
        let map = ShardedMap::<u32>::with_shards(2);
        let spread = |key: u64| key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for key in 1..=5_000u64 {
            map.shard(spread(key)).insert(spread(key), key as u32);
        }
        // Between two parts of the walk, new entries arrive (the arrays grow) and some of them
        // leave again (entries move back in their runs): both move old entries between slots.
        let mut next = 5_001u64;
        let mut pauses = 0;
        let mut bytes = Vec::new();
        map.encode_entries_in_parts(&mut bytes, 256, || {
            pauses += 1;
            for _ in 0..700 {
                map.shard(spread(next)).insert(spread(next), next as u32);
                next += 1;
            }
            if pauses % 3 == 0 {
                map.retain(|value| *value <= 5_000 || value % 2 == 0);
            }
        })
        .unwrap();
        assert!(pauses > 5, "the walk was cut into parts ({pauses})");
        let entries: Vec<(u64, u32)> = postcard::from_bytes(&bytes).unwrap();
        let mut keys: Vec<u64> = entries.iter().map(|(key, _)| *key).collect();
        keys.sort_unstable();
        let written = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), written, "an entry was written twice");
        for key in 1..=5_000u64 {
            assert!(
                keys.binary_search(&spread(key)).is_ok(),
                "entry {key} skipped"
            );
        }
    }

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
