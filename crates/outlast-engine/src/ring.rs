//! A FIFO of records addressed by absolute position, stored in fixed-size chunks.
//!
//! Growing a `VecDeque` doubles it: the copy stalls one command for milliseconds once the queue
//! holds millions of records, and every byte is written twice into fresh memory. Chunks grow by
//! one allocation at a time, never move a record, and emptied chunks are recycled, so a queue in
//! steady state allocates nothing.

use std::collections::VecDeque;

/// Records per chunk: large enough to amortise the allocation, small enough (a few hundred KiB
/// for id records) that one allocation never stalls a command.
const CHUNK_LEN: usize = 4_096;
/// Emptied chunks kept for reuse. Bounds the memory a shrinking queue holds on to.
const SPARE_CHUNKS_MAX: usize = 16;

/// A chunked FIFO. Positions count every record ever pushed, starting at 0.
#[derive(Clone, Debug)]
pub struct Ring<T> {
    /// Chunk `i` holds positions `(first_chunk + i) * CHUNK_LEN ..` onward.
    chunks: VecDeque<Vec<T>>,
    first_chunk: u64,
    /// The position of the front record.
    first_position: u64,
    /// One past the position of the back record.
    end_position: u64,
    spare: Vec<Vec<T>>,
}

impl<T: Copy> Default for Ring<T> {
    fn default() -> Self {
        Ring { chunks: VecDeque::new(), first_chunk: 0, first_position: 0, end_position: 0, spare: Vec::new() }
    }
}

impl<T: Copy> Ring<T> {
    /// Number of records.
    pub fn len(&self) -> usize {
        (self.end_position - self.first_position) as usize
    }

    /// The position of the front record (equal to `end_position` when empty).
    pub fn first_position(&self) -> u64 {
        self.first_position
    }

    /// Appends `value`; returns its position.
    pub fn push_back(&mut self, value: T) -> u64 {
        let position = self.end_position;
        if position as usize % CHUNK_LEN == 0 {
            let chunk = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(CHUNK_LEN));
            if self.chunks.is_empty() {
                self.first_chunk = position / CHUNK_LEN as u64;
            }
            self.chunks.push_back(chunk);
        }
        let back = self.chunks.back_mut().expect("a chunk was just ensured");
        assert!(back.len() < CHUNK_LEN);
        back.push(value);
        self.end_position += 1;
        position
    }

    /// The record at `position`, which must be in the ring.
    pub fn get(&self, position: u64) -> &T {
        assert!(position >= self.first_position && position < self.end_position, "position in the ring");
        let chunk = (position / CHUNK_LEN as u64 - self.first_chunk) as usize;
        &self.chunks[chunk][position as usize % CHUNK_LEN]
    }

    /// The front record.
    pub fn front(&self) -> Option<&T> {
        (self.len() > 0).then(|| self.get(self.first_position))
    }

    /// Removes and returns the front record.
    pub fn pop_front(&mut self) -> Option<T> {
        let value = *self.front()?;
        self.first_position += 1;
        // A chunk is released only once all its positions are consumed; a ring emptied midway
        // keeps its back chunk, which the next push continues.
        if self.first_position as usize % CHUNK_LEN == 0 {
            let mut chunk = self.chunks.pop_front().expect("the front chunk exists");
            self.first_chunk += 1;
            if self.spare.len() < SPARE_CHUNKS_MAX {
                chunk.clear();
                self.spare.push(chunk);
            }
        }
        Some(value)
    }

    /// Records from front to back.
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        (self.first_position..self.end_position).map(move |position| self.get(position))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_is_a_fifo_with_stable_positions_across_chunks() {
        let mut ring = Ring::default();
        let total = CHUNK_LEN as u64 * 3 + 17;
        for value in 0..total {
            assert_eq!(ring.push_back(value), value);
        }
        for value in 0..CHUNK_LEN as u64 + 5 {
            assert_eq!(ring.pop_front(), Some(value));
        }
        assert_eq!(*ring.get(CHUNK_LEN as u64 * 2), CHUNK_LEN as u64 * 2);
        assert_eq!(ring.len() as u64, total - CHUNK_LEN as u64 - 5);
        assert!(ring.iter().copied().eq(CHUNK_LEN as u64 + 5..total));
        while ring.pop_front().is_some() {}
        assert_eq!(ring.len(), 0);
        assert_eq!(ring.push_back(7), total);
        assert_eq!(ring.front(), Some(&7));
    }
}
