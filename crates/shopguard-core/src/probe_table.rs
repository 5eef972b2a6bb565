//! An open-addressing hash table from 64-bit keys (already hashes) to values, whose slot for a
//! key can be computed before it is read, so that it can be asked of memory ahead of time.
//!
//! The tables of velocity series and of profiles outgrow the processor's caches on a large
//! platform, and a lookup there waits for memory. [`ProbeTable::prefetch`] starts loading the
//! key's home slot without waiting for it: the server asks for all of an event's slots at
//! once before deciding it, so their misses overlap (decision 0015). The standard `HashMap` cannot tell where a key
//! would live without probing for it, which is the wait itself.
//!
//! Linear probing over a power-of-two array of `(key, value)` slots, at most three quarters
//! full. Key 0 marks an empty slot, so an entry with key 0 (the `global` entity) is held
//! beside the array. An entry is removed by moving the rest of its run back
//! ([`ProbeTable::remove`]), one at a time or many in one pass ([`ProbeTable::retain`]).

/// Smallest non-empty array.
const MIN_SLOTS: usize = 16;

/// One slot: `key` 0 means empty (its value is then the default).
#[derive(Clone, Debug, Default)]
struct Slot<V> {
    key: u64,
    value: V,
}

/// The table; see the module documentation.
#[derive(Clone, Debug)]
pub struct ProbeTable<V> {
    slots: Vec<Slot<V>>,
    /// Occupied slots of `slots`.
    occupied: usize,
    /// The entry of key 0.
    zero: Option<V>,
    /// Counts the changes that move entries between slots (growth, removal, rebuild), so
    /// that a reader walking the array in parts, with the lock let go between them, can
    /// tell that what it walked no longer holds ([`ProbeTable::layout`]).
    layout: u64,
}

impl<V> Default for ProbeTable<V> {
    fn default() -> Self {
        ProbeTable {
            slots: Vec::new(),
            occupied: 0,
            zero: None,
            layout: 0,
        }
    }
}

/// Asks for the cache line holding `value` (a hint: it never faults and changes no result).
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    safe_arch::prefetch_t0(value);
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = value;
}

impl<V: Default> ProbeTable<V> {
    /// Where `key`'s probe starts in an array of `mask + 1` slots.
    #[inline(always)]
    fn home(key: u64, mask: usize) -> usize {
        // The keys are hashes already; the multiply spreads any that are not (small integers
        // in tests) and takes bits unlike those that chose the shard.
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask
    }

    /// The position of `key` in the array, if held.
    #[inline]
    fn find(&self, key: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut index = Self::home(key, mask);
        loop {
            match self.slots[index].key {
                0 => return None,
                found if found == key => return Some(index),
                _ => index = (index + 1) & mask,
            }
        }
    }

    /// The value held for `key`.
    #[inline]
    pub fn get(&self, key: u64) -> Option<&V> {
        if key == 0 {
            return self.zero.as_ref();
        }
        self.find(key).map(|index| &self.slots[index].value)
    }

    /// The value held for `key`, made by `make` and inserted when absent; the flag tells
    /// whether it was inserted now.
    #[inline]
    pub fn get_or_insert_with(&mut self, key: u64, make: impl FnOnce() -> V) -> (&mut V, bool) {
        if key == 0 {
            let inserted = self.zero.is_none();
            return (self.zero.get_or_insert_with(make), inserted);
        }
        if (self.occupied + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut index = Self::home(key, mask);
        loop {
            match self.slots[index].key {
                0 => {
                    self.slots[index] = Slot { key, value: make() };
                    self.occupied += 1;
                    return (&mut self.slots[index].value, true);
                }
                found if found == key => return (&mut self.slots[index].value, false),
                _ => index = (index + 1) & mask,
            }
        }
    }

    /// Inserts or replaces the value of `key`.
    pub fn insert(&mut self, key: u64, value: V) {
        *self.get_or_insert_with(key, V::default).0 = value;
    }

    /// Removes the entry of `key`; returns its value.
    pub fn remove(&mut self, key: u64) -> Option<V> {
        if key == 0 {
            return self.zero.take();
        }
        let index = self.find(key)?;
        Some(self.remove_at(index))
    }

    /// Removes the entry in slot `hole`; returns its value. The entries after it in its run
    /// move back where their probes allow, so that no lookup passes an empty slot too early.
    fn remove_at(&mut self, mut hole: usize) -> V {
        let removed = std::mem::take(&mut self.slots[hole]);
        self.occupied -= 1;
        self.layout += 1;
        let mask = self.slots.len() - 1;
        let mut next = (hole + 1) & mask;
        while self.slots[next].key != 0 {
            let home = Self::home(self.slots[next].key, mask);
            // The entry at `next` may fill the hole when the hole lies on its probe path,
            // between its home and where it sits.
            if (next.wrapping_sub(home) & mask) >= (next.wrapping_sub(hole) & mask) {
                self.slots[hole] = std::mem::take(&mut self.slots[next]);
                hole = next;
            }
            next = (next + 1) & mask;
        }
        removed.value
    }

    /// Asks memory for `key`'s home slot, so that a lookup soon after does not wait for it.
    /// `lines` is given the value in that slot (whichever key it holds) to ask for more of it
    /// when the value spans several cache lines.
    #[inline]
    pub fn prefetch(&self, key: u64, lines: impl Fn(&V)) {
        if key == 0 || self.slots.is_empty() {
            return;
        }
        let slot = &self.slots[Self::home(key, self.slots.len() - 1)];
        prefetch(&slot.key);
        lines(&slot.value);
    }

    /// Doubles the array (or makes the first one).
    fn grow(&mut self) {
        self.resize((self.slots.len() * 2).max(MIN_SLOTS));
    }

    /// Places every entry again in an array of `size` slots, a power of two with room for
    /// them all; 0 only when the array holds none.
    fn resize(&mut self, size: usize) {
        self.layout += 1;
        let old = std::mem::replace(&mut self.slots, Self::empty_slots(size));
        self.occupied = 0;
        if size > 0 {
            self.place_all(old.into_iter().filter(|slot| slot.key != 0));
        }
    }

    fn empty_slots(size: usize) -> Vec<Slot<V>> {
        std::iter::repeat_with(Slot::default).take(size).collect()
    }

    /// Places entries known to be absent and to fit, without growing.
    fn place_all(&mut self, entries: impl Iterator<Item = Slot<V>>) {
        let mask = self.slots.len() - 1;
        for slot in entries {
            let mut index = Self::home(slot.key, mask);
            while self.slots[index].key != 0 {
                index = (index + 1) & mask;
            }
            self.slots[index] = slot;
            self.occupied += 1;
        }
    }

    /// Keeps the entries `keep` accepts; returns how many were dropped. `keep` may be asked
    /// twice about an entry (one that a removal moved back into a slot that is looked at
    /// again), so it must answer from the value alone.
    ///
    /// Entries are removed where they lie, each as [`remove`](Self::remove) removes one, in
    /// one pass over the array and without allocating: the maintenance loop asks every few
    /// seconds, usually to drop few or none, and a rebuild each time had cost a copy of every
    /// table while its shard was locked. Only a table left less than an eighth full is rebuilt
    /// smaller.
    pub fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) -> usize {
        let before = self.len();
        if self.zero.as_ref().is_some_and(|value| !keep(value)) {
            self.zero = None;
        }
        let mut index = 0;
        while index < self.slots.len() {
            let slot = &self.slots[index];
            if slot.key != 0 && !keep(&slot.value) {
                // The slot is filled again from later in its run (or left empty); look at it
                // again. A run that wraps past the end may move an entry from the start, which
                // was kept already, back to here: asked again, it is kept again.
                self.remove_at(index);
            } else {
                index += 1;
            }
        }
        if self.slots.len() > MIN_SLOTS && self.occupied * 8 < self.slots.len() {
            // Sized for what is left at under half full, so that it need not grow soon.
            let size = match self.occupied {
                0 => 0,
                left => (left * 2).next_power_of_two().max(MIN_SLOTS),
            };
            self.resize(size);
        }
        before - self.len()
    }
}

impl<V> ProbeTable<V> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.occupied + usize::from(self.zero.is_some())
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A number that changes whenever entries may have moved between slots: two calls
    /// that return the same number bracket a time in which every entry stayed in its slot
    /// (entries may have been added or changed in place).
    pub fn layout(&self) -> u64 {
        self.layout
    }

    /// Length of the slot array (for walking it in parts with [`entries_in`](Self::entries_in)).
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The entries in slots `range` of the array, and the entry of key 0 along with the
    /// range that starts at 0.
    pub fn entries_in(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = (u64, &V)> {
        let zero = self.zero.as_ref().filter(|_| range.start == 0);
        let end = range.end.min(self.slots.len());
        let start = range.start.min(end);
        zero.map(|value| (0, value)).into_iter().chain(
            self.slots[start..end]
                .iter()
                .filter(|slot| slot.key != 0)
                .map(|slot| (slot.key, &slot.value)),
        )
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &V)> {
        self.entries_in(0..self.slots.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn agrees_with_a_hash_map_through_inserts_updates_and_retains() {
        let mut table = ProbeTable::<u64>::default();
        let mut oracle = HashMap::new();
        let mut state = 0x1234_5678_u64;
        for round in 0..20_000u64 {
            // Small keys collide in their home slots often; 0 is the special key.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let key = if round % 97 == 0 { 0 } else { state % 5_000 };
            if round % 7 == 3 {
                assert_eq!(table.remove(key), oracle.remove(&key), "removing {key}");
                continue;
            }
            let (value, inserted) = table.get_or_insert_with(key, || round);
            assert_eq!(inserted, !oracle.contains_key(&key), "key {key}");
            *value += 1;
            *oracle.entry(key).or_insert(round) += 1;
            if round % 5_000 == 4_999 {
                let dropped = table.retain(|value| value % 3 != 0);
                let before = oracle.len();
                oracle.retain(|_, value| *value % 3 != 0);
                assert_eq!(dropped, before - oracle.len());
            }
        }
        assert_eq!(table.len(), oracle.len());
        for (key, value) in &oracle {
            assert_eq!(table.get(*key), Some(value), "key {key}");
            table.prefetch(*key, |_| {});
        }
        assert_eq!(table.get(5_001), None);
        let mut entries: Vec<(u64, u64)> = table.iter().map(|(key, value)| (key, *value)).collect();
        entries.sort_unstable();
        let mut expected: Vec<(u64, u64)> = oracle.into_iter().collect();
        expected.sort_unstable();
        assert_eq!(entries, expected);
    }

    #[test]
    fn retaining_in_place_keeps_every_kept_entry_findable_and_shrinks_an_emptied_table() {
        let mut table = ProbeTable::<u64>::default();
        let mut oracle = HashMap::new();
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut random = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..12u64 {
            for _ in 0..3_000 {
                // Up to 28,672 keys, so that rounds update and re-insert; at up to three
                // quarters full, runs are long and some wrap past the end of the array.
                let key = ((random() % 4_096) << 40 | (random() % 7)).max(1);
                table.insert(key, key ^ round);
                oracle.insert(key, key ^ round);
            }
            let asked = std::cell::Cell::new(0usize);
            let dropped = table.retain(|value| {
                asked.set(asked.get() + 1);
                value % 3 != round % 3
            });
            let before = oracle.len();
            oracle.retain(|_, value| *value % 3 != round % 3);
            assert_eq!(dropped, before - oracle.len(), "round {round}");
            assert!(asked.get() >= before, "every entry was asked about");
            assert_eq!(table.len(), oracle.len());
            for (key, value) in &oracle {
                assert_eq!(table.get(*key), Some(value), "round {round}, key {key:#x}");
            }
        }
        let slots = table.slots.len();
        assert!(slots > 1_024);
        table.retain(|value| value % 97 == 0);
        assert!(
            table.slots.len() < slots / 4,
            "an emptied table is rebuilt smaller"
        );
        for (key, value) in oracle.iter().filter(|(_, value)| *value % 97 == 0) {
            assert_eq!(table.get(*key), Some(value));
        }
    }

    #[test]
    fn inserts_keep_the_array_between_three_eighths_and_three_quarters_full() {
        let mut table = ProbeTable::<u8>::default();
        for key in 1..=100_000u64 {
            table.insert(key, 1);
            let slots = table.slots.len();
            assert!(
                table.occupied * 4 <= slots * 3,
                "{} in {slots}",
                table.occupied
            );
            if slots > MIN_SLOTS {
                assert!(
                    table.occupied * 8 > slots * 3,
                    "{} in {slots}",
                    table.occupied
                );
            }
        }
        let slots = table.slots.len();
        table.retain(|_| true);
        assert_eq!(
            table.slots.len(),
            slots,
            "keeping everything leaves the array as it is"
        );
        assert_eq!(table.len(), 100_000);
    }

    #[test]
    fn insert_replaces_and_an_emptied_table_works_again() {
        let mut table = ProbeTable::<String>::default();
        table.prefetch(7, |_| {});
        assert!(table.is_empty());
        table.insert(7, "a".into());
        table.insert(7, "b".into());
        table.insert(0, "zero".into());
        assert_eq!(table.get(7).map(String::as_str), Some("b"));
        assert_eq!(table.len(), 2);
        assert_eq!(table.retain(|_| false), 2);
        assert!(table.is_empty());
        assert_eq!(table.get(7), None);
        table.insert(9, "c".into());
        assert_eq!(table.get(9).map(String::as_str), Some("c"));
    }
}
