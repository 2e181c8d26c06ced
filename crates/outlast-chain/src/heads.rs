//! The chain's canonical blocks as a stream, followed through the pool: every block number in
//! order (a provider that fails or skips heads changes nothing: the next number is read from
//! whichever upstream answers), each header linked to its parent. A reorg is noticed where a
//! header's parent, or the hash at a height already announced, is not the block held there; it
//! is announced as the fork point before the replacement blocks.
//!
//! What `eth_subscribe` serves (`newHeads`, and `logs` with `removed: true` for a reorg) rests
//! on this. Must never: announce a block whose parent was not announced before it, or keep more
//! than `WINDOW_BLOCKS` headers; a subscriber that falls `EVENTS_CAPACITY` behind is told so
//! (its receiver errors) rather than silently skipping.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{B256, U64};
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::pool::Pool;
use crate::rpc::quantity;

/// Headers kept to find a fork point.
pub const WINDOW_BLOCKS: usize = 64;
/// Events a subscriber may fall behind.
pub const EVENTS_CAPACITY: usize = 256;
/// Blocks read in one poll at most (the rest in the next).
pub const BLOCKS_PER_POLL_MAX: u64 = 32;

/// What the follower announces.
#[derive(Clone, Debug, PartialEq)]
pub enum HeadEvent {
    /// A new canonical block: its header, as the node returned it (without transactions).
    Block {
        /// Its number.
        number: u64,
        /// Its hash.
        hash: B256,
        /// The header.
        header: Value,
    },
    /// Every block above `fork` announced so far is no longer canonical; their replacements
    /// follow.
    Reorg {
        /// The last block still canonical.
        fork: u64,
    },
}

/// A chain's followed heads.
pub struct Heads {
    sender: broadcast::Sender<HeadEvent>,
}

async fn header(pool: &Pool, number: u64) -> Result<Option<(B256, B256, Value)>, String> {
    let block = pool.read("eth_getBlockByNumber", json!([quantity(number), false])).await.map_err(|e| e.to_string())?;
    if block.is_null() {
        return Ok(None);
    }
    let hash: B256 = serde_json::from_value(block["hash"].clone()).map_err(|e| e.to_string())?;
    let parent: B256 = serde_json::from_value(block["parentHash"].clone()).map_err(|e| e.to_string())?;
    let mut header = block;
    if let Some(object) = header.as_object_mut() {
        object.remove("transactions");
    }
    Ok(Some((hash, parent, header)))
}

impl Heads {
    /// Follows `pool`'s chain, polling every `every`, until the returned `Heads` is dropped.
    pub fn follow(pool: Arc<Pool>, every: Duration) -> Arc<Heads> {
        let (sender, _) = broadcast::channel(EVENTS_CAPACITY);
        let heads = Arc::new(Heads { sender });
        let weak = Arc::downgrade(&heads);
        tokio::spawn(async move {
            let mut held: VecDeque<(u64, B256)> = VecDeque::new();
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(heads) = weak.upgrade() else { return };
                if let Err(why) = heads.poll(&pool, &mut held).await {
                    tracing::debug!(chain = pool.config().chain, "following heads: {why}");
                }
            }
        });
        heads
    }

    /// A new subscriber: the events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<HeadEvent> {
        self.sender.subscribe()
    }

    fn announce(&self, event: HeadEvent) {
        // No subscriber is not an error.
        let _ = self.sender.send(event);
    }

    async fn poll(&self, pool: &Pool, held: &mut VecDeque<(u64, B256)>) -> Result<(), String> {
        let tip: U64 =
            serde_json::from_value(pool.read("eth_blockNumber", json!([])).await.map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        let tip = tip.to::<u64>();
        let Some(&(last, last_hash)) = held.back() else {
            // Start at the head.
            if let Some((hash, _, header)) = header(pool, tip).await? {
                held.push_back((tip, hash));
                self.announce(HeadEvent::Block { number: tip, hash, header });
            }
            return Ok(());
        };
        // The newest announced block may have been replaced at its own height.
        let mut next = last + 1;
        match header(pool, last).await? {
            // An upstream behind that does not have it yet: not a reorg; next poll.
            None => return Ok(()),
            Some((hash, _, _)) if hash != last_hash => next = self.fork(pool, held).await? + 1,
            Some(_) => {}
        }
        let until = tip.min(next + BLOCKS_PER_POLL_MAX - 1);
        while next <= until {
            let Some((hash, parent, header)) = header(pool, next).await? else { break };
            let parent_held = held.back().map(|(_, h)| *h);
            if parent_held.is_some() && parent_held != Some(parent) {
                next = self.fork(pool, held).await? + 1;
                continue;
            }
            held.push_back((next, hash));
            while held.len() > WINDOW_BLOCKS {
                held.pop_front();
            }
            self.announce(HeadEvent::Block { number: next, hash, header });
            next += 1;
        }
        Ok(())
    }

    /// Walks back to the newest held block still canonical, drops what is above it, and
    /// announces it as the fork point.
    async fn fork(&self, pool: &Pool, held: &mut VecDeque<(u64, B256)>) -> Result<u64, String> {
        let mut dropped = Vec::new();
        while let Some(&(number, hash)) = held.back() {
            let found = match header(pool, number).await {
                Ok(found) => found,
                Err(why) => {
                    held.extend(dropped.into_iter().rev());
                    return Err(why);
                }
            };
            match found {
                Some((h, _, _)) if h == hash => {
                    self.announce(HeadEvent::Reorg { fork: number });
                    return Ok(number);
                }
                // Not known to the upstream that answered: nothing is retracted; next poll.
                None => {
                    held.extend(dropped.into_iter().rev());
                    return Err(format!("block {number} is not known to the upstream that answered"));
                }
                Some(_) => dropped.extend(held.pop_back()),
            }
        }
        // Deeper than the window: everything announced is retracted, and following starts again
        // at the head.
        self.announce(HeadEvent::Reorg { fork: 0 });
        Err(format!("a reorg deeper than the {WINDOW_BLOCKS} blocks held: starting again at the head"))
    }
}
