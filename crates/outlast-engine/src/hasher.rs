//! A small deterministic hasher for engine-assigned keys and for request fingerprints.
//!
//! Used only where keys are not chosen by users (order ids, operator-chosen account ids), so
//! hash flooding is not a concern there; user-chosen keys (client ids) live in `BTreeMap`s.
//! It is also the fingerprint of a request, which is part of the state and so must not depend on
//! the host: `usize`/`isize` are widened to 64 bits before hashing. The engine must never iterate
//! a `HashMap` into output; the snapshot sorts.

use std::hash::{BuildHasherDefault, Hash, Hasher};

/// Multiplier from FxHash (rustc's hasher): odd, with well-spread bits.
const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// FxHash-style word hasher.
#[derive(Clone, Copy, Default)]
pub struct IdHasher {
    state: u64,
}

impl IdHasher {
    fn mix(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.mix(u64::from_le_bytes(chunk.try_into().expect("chunk of 8")));
        }
        for &byte in chunks.remainder() {
            self.mix(u64::from(byte));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }
    fn write_u16(&mut self, n: u16) {
        self.mix(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
    fn write_isize(&mut self, n: isize) {
        self.mix(n as i64 as u64);
    }
    fn finish(&self) -> u64 {
        self.state
    }
}

/// `BuildHasher` for `HashMap`s keyed by engine-assigned ids.
pub type IdBuildHasher = BuildHasherDefault<IdHasher>;

/// A host-independent 64-bit fingerprint of a value (used to tell a retry from a different
/// request that reuses an id).
pub fn fingerprint<T: Hash>(value: &T) -> u64 {
    let mut hasher = IdHasher::default();
    value.hash(&mut hasher);
    hasher.finish()
}
