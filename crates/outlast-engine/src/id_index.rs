//! The request-id index: key hash → position of the key's live record in the id ring.
//!
//! Every account request looks its key up here, and almost every one is new, so the common
//! case is a miss in a table of millions of keys: a cache miss per command, and (measured, see
//! BENCHMARKS.md) about half the engine's time when the table was a `hashbrown` table. This
//! table exists for two things that one lacks: a slot is one `u64`, half the memory of a
//! (hash, position) pair, and the slot a key will probe is known from its hash alone, so the
//! engine can prefetch it while it applies the command before (`prefetch`).
//!
//! Linear probing over `u64` slots, at most half full, deleted by backward shift (no
//! tombstones). A slot holds 32 bits of the key's hash (the probe start and a tag) and the low
//! 32 bits of the record's ring position; the caller resolves a tag match against the record
//! itself, and the full position from the ring's first position (the ring holds fewer than
//! 2^32 records). Growth doubles one table and reinserts from the tags alone, never reading the
//! ring. It never decides anything: equality of keys is the caller's `matches`.

/// A slot: 0 is empty; else `tag << 32 | position as u32`, with `tag` never 0.
type Slot = u64;

/// Smallest table: one cache line.
const SLOTS_MIN: usize = 8;

/// One table of the index (the id table keeps several, see `ids::INDEX_SHARDS`).
#[derive(Clone, Debug, Default)]
pub struct IdIndex {
    /// A power of two in length (or empty), at most half full.
    slots: Vec<Slot>,
    len: usize,
}

/// The tag of a hash: bits 0..32 with bit 0 forced on, so that no tag is 0. The probe start
/// comes from bits 1..32, which the tag keeps, so growth needs no other bits.
fn tag(hash: u64) -> u32 {
    (hash as u32) | 1
}

impl IdIndex {
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    fn home(&self, tag: u32) -> usize {
        (tag >> 1) as usize & self.mask()
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The 32-bit position stored for the key of `hash` that `matches` (given the position's
    /// low 32 bits) accepts, if any.
    pub fn find(&self, hash: u64, mut matches: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let tag = tag(hash);
        let mut i = self.home(tag);
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return None;
            }
            if (slot >> 32) as u32 == tag && matches(slot as u32) {
                return Some(slot as u32);
            }
            i = (i + 1) & self.mask();
        }
    }

    /// Stores `position` for the key of `hash` that `matches` accepts, or for a new key if none
    /// does; returns the position it replaced.
    pub fn upsert(&mut self, hash: u64, position: u32, mut matches: impl FnMut(u32) -> bool) -> Option<u32> {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let tag = tag(hash);
        let mut i = self.home(tag);
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                self.slots[i] = (u64::from(tag) << 32) | u64::from(position);
                self.len += 1;
                return None;
            }
            if (slot >> 32) as u32 == tag && matches(slot as u32) {
                self.slots[i] = (u64::from(tag) << 32) | u64::from(position);
                return Some(slot as u32);
            }
            i = (i + 1) & self.mask();
        }
    }

    /// Removes the entry of `hash` holding exactly `position`; whether there was one.
    pub fn remove(&mut self, hash: u64, position: u32) -> bool {
        if self.slots.is_empty() {
            return false;
        }
        let wanted = (u64::from(tag(hash)) << 32) | u64::from(position);
        let mut i = self.home(tag(hash));
        loop {
            match self.slots[i] {
                0 => return false,
                slot if slot == wanted => break,
                _ => i = (i + 1) & self.mask(),
            }
        }
        // Backward shift: pull later entries of the same run into the hole when their home
        // does not lie cyclically after it, so every entry stays reachable from its home.
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & self.mask();
            let slot = self.slots[j];
            if slot == 0 {
                break;
            }
            let home = self.home((slot >> 32) as u32);
            if (j.wrapping_sub(home) & self.mask()) >= (j.wrapping_sub(hole) & self.mask()) {
                self.slots[hole] = slot;
                hole = j;
            }
        }
        self.slots[hole] = 0;
        self.len -= 1;
        true
    }

    /// Hints the CPU to bring the slot where the key of `hash` starts probing into cache.
    pub fn prefetch(&self, hash: u64) {
        if self.slots.is_empty() {
            return;
        }
        let slot: *const Slot = &self.slots[self.home(tag(hash))];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint that never faults and never changes memory; `slot`
        // points into a live allocation anyway. SSE is part of the x86_64 baseline.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(slot.cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = slot;
    }

    fn grow(&mut self) {
        let old = std::mem::take(&mut self.slots);
        self.slots = vec![0; (old.len() * 2).max(SLOTS_MIN)];
        for slot in old.into_iter().filter(|&slot| slot != 0) {
            let mut i = self.home((slot >> 32) as u32);
            while self.slots[i] != 0 {
                i = (i + 1) & self.mask();
            }
            self.slots[i] = slot;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A tiny deterministic generator (no dependency for a test).
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Against a `BTreeMap` model: random upserts and removes of keys whose hashes collide
    /// often (few distinct tags), so runs, wrap-around and backward shifts are exercised.
    #[test]
    fn matches_a_model_under_heavy_collisions() {
        let mut state = 7;
        let mut index = IdIndex::default();
        // key → (hash, position); keys are small integers, hashes drawn from 64 values.
        let mut model: BTreeMap<u64, (u64, u32)> = BTreeMap::new();
        let hash_of = |key: u64| (key % 64).wrapping_mul(0x9e37_79b9) | ((key % 64) << 40);
        // The position of key k is always k's current "version" * 1000 + k, so a position
        // identifies its key.
        let key_of = |position: u32| u64::from(position % 1000);
        for step in 0..20_000u32 {
            let key = next(&mut state) % 500;
            let hash = hash_of(key);
            if next(&mut state) % 3 == 0 {
                if let Some(&(h, position)) = model.get(&key) {
                    assert!(index.remove(h, position), "step {step}: remove a held key");
                    model.remove(&key);
                } else {
                    assert!(!index.remove(hash, key as u32), "step {step}: nothing to remove");
                }
            } else {
                let position = (step % 4_000) * 1000 + key as u32;
                let replaced = index.upsert(hash, position, |p| key_of(p) == key);
                let before = model.insert(key, (hash, position)).map(|(_, p)| p);
                assert_eq!(replaced, before, "step {step}");
            }
            assert_eq!(index.len(), model.len());
            assert!(index.len() * 2 <= index.slots.len());
            if step % 997 == 0 {
                for probe in 0..500u64 {
                    let found = index.find(hash_of(probe), |p| key_of(p) == probe);
                    assert_eq!(found, model.get(&probe).map(|&(_, p)| p), "step {step}: key {probe}");
                }
            }
        }
    }

    #[test]
    fn an_empty_index_finds_and_removes_nothing() {
        let mut index = IdIndex::default();
        assert_eq!(index.find(42, |_| true), None);
        assert!(!index.remove(42, 1));
        index.prefetch(42);
        assert_eq!(index.upsert(42, 1, |_| true), None);
        assert_eq!(index.find(42, |p| p == 1), Some(1));
        assert!(index.remove(42, 1));
        assert_eq!(index.len(), 0);
    }
}
