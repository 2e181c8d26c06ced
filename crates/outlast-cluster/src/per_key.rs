//! Counts per key, each under a limit, with a guard that gives its unit back when dropped: the
//! connections one source address holds on a listener (`listener`), the new connections being
//! made to one peer (`network`).
//!
//! Must never: let a count pass the limit it was taken under, or leak a unit (the guard gives
//! it back on every path, a panic's unwinding included).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// Counts per key.
pub(crate) struct PerKey<K> {
    counts: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K> Clone for PerKey<K> {
    fn clone(&self) -> Self {
        PerKey { counts: self.counts.clone() }
    }
}

impl<K> Default for PerKey<K> {
    fn default() -> Self {
        PerKey { counts: Arc::default() }
    }
}

impl<K: Hash + Eq + Clone> PerKey<K> {
    /// One unit for `key`, if fewer than `max` are held.
    pub(crate) fn take(&self, key: K, max: usize) -> Option<Unit<K>> {
        let mut counts = self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = counts.entry(key.clone()).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Unit { key, counts: self.counts.clone() })
    }
}

/// One unit of a key's count, given back when dropped.
pub(crate) struct Unit<K: Hash + Eq> {
    key: K,
    counts: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K: Hash + Eq> Drop for Unit<K> {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_at_most_its_limit_and_units_come_back_when_dropped() {
        let counts = PerKey::default();
        let held: Vec<_> = (0..3).map(|_| counts.take("a", 3).expect("under the limit")).collect();
        assert!(counts.take("a", 3).is_none(), "a fourth unit past the limit");
        assert!(counts.take("b", 3).is_some(), "another key has its own count");
        drop(held);
        assert!(counts.take("a", 3).is_some(), "dropped units came back");
        assert!(counts.counts.lock().unwrap().is_empty(), "no key is kept at zero");
    }
}
