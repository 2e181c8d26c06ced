//! The request-id table: what the engine remembers of each account request, for idempotency.
//!
//! Records live in one chunked ring in apply order — appending is sequential, and forgetting pops from
//! the front — and a hash index (`id_index`) maps `(account, client id)` to a record's position.
//! The index holds 8-byte slots, so a lookup touches little memory, and its slot can be
//! prefetched a command ahead (`prefetch`); the full key is checked against the record itself.
//! A record whose window has passed while its order still rests is moved to `kept` (rare:
//! orders that outlive the window) until the order leaves the book.
//!
//! The index is hashed with the host's seed (see `Engine::with_hash_seed`); nothing here is ever
//! iterated in hash order into output — the ring has its own order and `kept` is sorted.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::account::IdEntry;
use crate::hasher::ClientIdBuildHasher;
use crate::id_index::IdIndex;
use crate::ring::Ring;
use crate::types::{AccountId, ClientId};

/// Most records the ring may hold: the index stores positions in 32 bits (`position_from_low`).
/// A request that would go past it is refused (`Engine::check_request`), never a panic; at the
/// default 90-second window it would take some 45 million requests a second to get there.
pub const RING_RECORDS_MAX: usize = u32::MAX as usize;

/// Index shards. With 256, the index reaches ~50 million ids before one shard's growth step
/// copies more than a few MiB.
const INDEX_SHARDS: usize = 256;

/// The shard of a hash: bits 48..56, independent of the bits an `IdIndex` uses (0..32).
fn shard_of(hash: u64) -> usize {
    (hash >> 48) as usize % INDEX_SHARDS
}

/// One remembered request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRecord {
    /// Whose request.
    pub account: AccountId,
    /// The request id.
    pub id: ClientId,
    /// What is remembered.
    pub entry: IdEntry,
}

/// Remembered request ids of all accounts.
#[derive(Clone, Debug)]
pub struct IdTable {
    /// Records in apply order. May hold stale records: ones whose key was later remembered again.
    ring: Ring<IdRecord>,
    /// The position of the live record of each key, split into `INDEX_SHARDS` tables by hash
    /// bits 48..56. Sharding keeps each growth step small: one table of millions of entries
    /// would stall the command that grows it for tens of milliseconds.
    index: Vec<IdIndex>,
    /// Records past their window kept because their order still rests.
    kept: BTreeMap<(AccountId, ClientId), IdEntry>,
    hasher: ClientIdBuildHasher,
}

/// The ring position whose low 32 bits are `low`: the ring holds fewer than 2^32 records, so
/// exactly one of its positions has them.
fn full_position(ring: &Ring<IdRecord>, low: u32) -> u64 {
    position_from_low(ring.first_position(), low)
}

/// The position at or after `first`, and less than 2^32 past it, whose low 32 bits are `low`.
fn position_from_low(first: u64, low: u32) -> u64 {
    first + u64::from(low.wrapping_sub(first as u32))
}

impl IdTable {
    /// An empty table hashing with `seed`.
    pub fn new(seed: u64) -> IdTable {
        IdTable {
            ring: Ring::default(),
            index: (0..INDEX_SHARDS).map(|_| IdIndex::default()).collect(),
            kept: BTreeMap::new(),
            hasher: ClientIdBuildHasher::with_seed(seed),
        }
    }

    /// The index hash of `(account, id)`; callers that look up then push pass it to both.
    pub fn hash(&self, account: AccountId, id: &ClientId) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write_u64(account);
        id.hash(&mut hasher);
        hasher.finish()
    }

    fn record(&self, position: u64) -> &IdRecord {
        self.ring.get(position)
    }

    /// What is remembered of `(account, id)`.
    pub fn get(&self, account: AccountId, id: &ClientId) -> Option<&IdEntry> {
        self.get_hashed(self.hash(account, id), account, id)
    }

    /// `get` with the hash already computed by `hash`.
    pub fn get_hashed(&self, hash: u64, account: AccountId, id: &ClientId) -> Option<&IdEntry> {
        let ring = &self.ring;
        let found = self.index[shard_of(hash)].find(hash, |low| {
            let record = ring.get(full_position(ring, low));
            record.account == account && record.id == *id
        });
        match found {
            Some(low) => Some(&self.record(full_position(ring, low)).entry),
            None if self.kept.is_empty() => None,
            None => self.kept.get(&(account, *id)),
        }
    }

    /// Hints the CPU to fetch the index slot of the key of `hash` (from `hash`): a command
    /// applied next looks there first.
    pub fn prefetch(&self, hash: u64) {
        self.index[shard_of(hash)].prefetch(hash);
    }

    /// Remembers `(account, id)` (`hash` from `hash`), replacing an aged record of the same key
    /// if there is one; returns the replaced entry.
    pub fn push(&mut self, hash: u64, account: AccountId, id: ClientId, entry: IdEntry) -> Option<IdEntry> {
        debug_assert_eq!(hash, self.hash(account, &id));
        let position = self.ring.push_back(IdRecord { account, id, entry });
        assert!(self.ring.len() <= RING_RECORDS_MAX, "the index stores positions in 32 bits");
        let ring = &self.ring;
        let replaced = self.index[shard_of(hash)].upsert(hash, position as u32, |low| {
            let record = ring.get(full_position(ring, low));
            record.account == account && record.id == id
        });
        replaced.map(|low| self.ring.get(full_position(&self.ring, low)).entry)
    }

    /// The oldest record, if any.
    pub fn front(&self) -> Option<&IdRecord> {
        self.ring.front()
    }

    /// Pops the oldest record. If it is its key's live record, `keep` decides whether it moves
    /// to `kept` (its order still rests) or is forgotten. Returns the popped record.
    pub fn pop_front(&mut self, keep: impl FnOnce(&IdEntry) -> bool) -> IdRecord {
        let record = *self.ring.front().expect("pop_front on a non-empty table");
        let position = self.ring.first_position();
        let hash = self.hash(record.account, &record.id);
        if self.index[shard_of(hash)].remove(hash, position as u32) {
            if keep(&record.entry) {
                self.kept.insert((record.account, record.id), record.entry);
            }
        }
        self.ring.pop_front();
        record
    }

    /// Forgets a kept record (its order has left the book).
    pub fn release_kept(&mut self, account: AccountId, id: &ClientId) -> Option<IdEntry> {
        if self.kept.is_empty() {
            return None;
        }
        self.kept.remove(&(account, *id))
    }

    /// Records held: the ring's (stale ones included) plus the kept ones.
    pub fn len(&self) -> usize {
        self.ring.len() + self.kept.len()
    }

    /// Records in the ring (stale ones included).
    pub fn ring_len(&self) -> usize {
        self.ring.len()
    }

    /// Keys the index holds: one per key with a record in the ring.
    pub fn index_len(&self) -> usize {
        self.index.iter().map(IdIndex::len).sum()
    }

    /// Records in the ring, oldest first (stale ones included).
    pub fn ring(&self) -> impl Iterator<Item = &IdRecord> {
        self.ring.iter()
    }

    /// Kept records, sorted by key.
    pub fn kept(&self) -> impl Iterator<Item = (&(AccountId, ClientId), &IdEntry)> {
        self.kept.iter()
    }

    /// Restores a kept record (snapshot restore).
    pub fn insert_kept(&mut self, account: AccountId, id: ClientId, entry: IdEntry) {
        self.kept.insert((account, id), entry);
    }
}

#[cfg(test)]
mod tests {
    use super::{position_from_low, IdTable};
    use crate::account::IdEntry;
    use crate::event::Summary;
    use crate::types::ClientId;

    fn entry(applied_ms: u64) -> IdEntry {
        IdEntry { fingerprint: 1, applied_ms, summary: Summary::AdminNoted, order: None }
    }

    /// A key remembered again points the index at its new record; popping the stale one leaves
    /// the key found, popping the live one forgets it (or keeps it aside when asked).
    #[test]
    fn the_index_follows_the_newest_record_of_each_key() {
        let mut table = IdTable::new(9);
        let (a, b) = (ClientId::from_u64(1), ClientId::from_u64(2));
        let push = |table: &mut IdTable, account, id: ClientId, ms| {
            let hash = table.hash(account, &id);
            table.push(hash, account, id, entry(ms))
        };
        assert_eq!(push(&mut table, 7, a, 1), None);
        assert_eq!(push(&mut table, 7, b, 2), None);
        assert_eq!(push(&mut table, 7, a, 3), Some(entry(1)), "the aged record of the key is replaced");
        assert_eq!((table.ring_len(), table.index_len()), (3, 2));
        assert_eq!(table.get(7, &a), Some(&entry(3)));
        assert_eq!(table.get(8, &a), None, "another account's key");
        table.pop_front(|_| panic!("a stale record is never kept"));
        assert_eq!(table.get(7, &a), Some(&entry(3)), "popping a stale record keeps the key");
        table.pop_front(|_| false);
        assert_eq!((table.get(7, &b), table.index_len()), (None, 1));
        table.pop_front(|_| true);
        assert_eq!((table.index_len(), table.get(7, &a)), (0, Some(&entry(3))), "kept aside");
    }

    #[test]
    fn a_position_is_rebuilt_from_its_low_bits_across_the_32_bit_boundary() {
        let first = (1u64 << 32) - 5;
        for position in first..first + 10 {
            assert_eq!(position_from_low(first, position as u32), position);
        }
        let far = first + (1 << 32) - 1;
        assert_eq!(position_from_low(first, far as u32), far);
        assert_eq!(position_from_low(0, 7), 7);
    }
}
