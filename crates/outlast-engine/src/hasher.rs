//! Hashers: a small deterministic one for engine-assigned keys and request fingerprints, and a
//! seeded one for keys that users choose.
//!
//! `IdHasher` serves keys users cannot choose (order ids, operator-chosen account ids), so hash
//! flooding is not a concern there. It is also the fingerprint of a request, which is part of
//! the state and so must not depend on the host: `usize`/`isize` are widened to 64 bits.
//!
//! Client ids are chosen by users, so their maps use foldhash keyed by a seed the host supplies
//! (`Engine::with_hash_seed`); an attacker who cannot learn the seed cannot aim collisions.
//! The seed shapes only memory layout, never output: the engine never iterates a `HashMap`
//! into an event, a snapshot or a digest without sorting, and the property tests run replicas
//! with different seeds to prove it.

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

/// `BuildHasher` for maps keyed by user-chosen client ids, seeded by the host.
pub type ClientIdBuildHasher = foldhash::fast::FixedState;
