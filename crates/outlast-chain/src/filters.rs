//! Filters (`eth_newFilter`, `eth_newBlockFilter`, `eth_getFilterChanges`, …) kept by us, not by
//! an upstream: a filter is a cursor (the next block to read) and the blocks it already
//! reported, so any upstream can answer its next poll and losing one loses nothing.
//!
//! A poll first walks back over the blocks it reported, newest first, until one is still on the
//! chain: whatever it reported above that point was reorganised away, and each such log comes
//! back with `removed: true` before the replacement blocks are read. Must never: hold the pool
//! behind the filter table's lock (each filter has its own), keep more than `FILTERS_MAX`
//! filters, or read more than `BLOCKS_PER_POLL_MAX` blocks in one poll.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::{B256, U64};
use serde_json::{json, Value};

use crate::pool::{Pool, PoolError};
use crate::rpc::quantity;

/// Filters kept at once, on one node.
pub const FILTERS_MAX: usize = 1_024;
/// A filter not polled for this long is dropped (as geth does).
pub const FILTER_IDLE: Duration = Duration::from_secs(300);
/// Blocks one poll reads at most; the rest come with the next poll.
pub const BLOCKS_PER_POLL_MAX: u64 = 1_000;
/// How far back a reorg is looked for.
pub const REORG_WINDOW_BLOCKS: u64 = 64;

/// What a filter failed with.
#[derive(Debug)]
pub enum FilterError {
    /// No such filter (never made, uninstalled, or idle too long).
    NotFound,
    /// Too many filters.
    Full,
    /// The filter object is not one.
    Invalid(String),
    /// The chain could not be read.
    Pool(PoolError),
}

impl From<PoolError> for FilterError {
    fn from(error: PoolError) -> Self {
        FilterError::Pool(error)
    }
}

enum Kind {
    /// New blocks' hashes.
    Blocks,
    /// Logs matching `criteria` (address, topics).
    Logs { criteria: Value, original: Value },
}

struct Filter {
    kind: Kind,
    /// The next block to read.
    next: u64,
    /// The last block to read (a filter's numeric `toBlock`).
    until: Option<u64>,
    /// Blocks reported (with a log, or a poll's last block): hash and the logs reported in it.
    reported: BTreeMap<u64, (B256, Vec<Value>)>,
    polled: Instant,
}

/// One chain's filters.
#[derive(Default)]
pub struct Filters {
    table: Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<Filter>>>>,
    ids: std::collections::hash_map::RandomState,
    made: std::sync::atomic::AtomicU64,
}

/// A block tag or number to a number, given the head.
fn block_number(tag: &Value, tip: u64) -> Result<Option<u64>, FilterError> {
    match tag {
        Value::Null => Ok(None),
        Value::String(text) if matches!(text.as_str(), "latest" | "pending" | "safe" | "finalized") => Ok(Some(tip)),
        Value::String(text) if text == "earliest" => Ok(Some(0)),
        other => serde_json::from_value::<U64>(other.clone())
            .map(|n| Some(n.to()))
            .map_err(|_| FilterError::Invalid(format!("not a block: {other}"))),
    }
}

/// The head, asked now (the pool's polled heads may be a poll old).
async fn head(pool: &Pool) -> Result<u64, FilterError> {
    let head = pool.read("eth_blockNumber", json!([])).await?;
    Ok(serde_json::from_value::<U64>(head).map_err(|e| FilterError::Invalid(e.to_string()))?.to())
}

async fn hash_at(pool: &Pool, number: u64) -> Result<Option<B256>, FilterError> {
    let block = pool.read("eth_getBlockByNumber", json!([quantity(number), false])).await?;
    Ok(serde_json::from_value(block["hash"].clone()).ok())
}

impl Filters {
    fn insert(&self, filter: Filter) -> Result<String, FilterError> {
        let mut table = self.table.lock().unwrap();
        let now = Instant::now();
        table.retain(|_, f| f.try_lock().map_or(true, |f| now.duration_since(f.polled) < FILTER_IDLE));
        if table.len() >= FILTERS_MAX {
            return Err(FilterError::Full);
        }
        // Not guessable: another client cannot read or drop this one's filter.
        let mut hasher = self.ids.build_hasher();
        hasher.write_u64(self.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let id = format!("{:#x}", hasher.finish() | 1);
        table.insert(id.clone(), Arc::new(tokio::sync::Mutex::new(filter)));
        Ok(id)
    }

    fn get(&self, id: &Value) -> Result<Arc<tokio::sync::Mutex<Filter>>, FilterError> {
        let id = id.as_str().ok_or(FilterError::NotFound)?;
        self.table.lock().unwrap().get(id).cloned().ok_or(FilterError::NotFound)
    }

    /// `eth_newBlockFilter`: the hashes of blocks after the head.
    pub async fn new_block_filter(&self, pool: &Pool) -> Result<String, FilterError> {
        let tip = head(pool).await?;
        self.insert(Filter {
            kind: Kind::Blocks,
            next: tip + 1,
            until: None,
            reported: BTreeMap::new(),
            polled: Instant::now(),
        })
    }

    /// `eth_newFilter`: logs matching `filter`, from its `fromBlock` (default: after the head).
    pub async fn new_log_filter(&self, pool: &Pool, filter: &Value) -> Result<String, FilterError> {
        let object = filter.as_object().ok_or_else(|| FilterError::Invalid("a filter is an object".into()))?;
        if object.contains_key("blockHash") {
            return Err(FilterError::Invalid("blockHash filters are for eth_getLogs".into()));
        }
        let tip = head(pool).await?;
        let from = block_number(object.get("fromBlock").unwrap_or(&Value::Null), tip)?;
        let until = block_number(object.get("toBlock").unwrap_or(&Value::Null), tip)?
            .filter(|_| !matches!(object.get("toBlock"), Some(Value::String(t)) if t == "latest" || t == "pending"));
        let criteria = json!({ "address": object.get("address"), "topics": object.get("topics") });
        let kind = Kind::Logs { criteria, original: filter.clone() };
        let next = from.map_or(tip + 1, |from| from.max(tip.saturating_sub(REORG_WINDOW_BLOCKS)));
        self.insert(Filter { kind, next, until, reported: BTreeMap::new(), polled: Instant::now() })
    }

    /// `eth_uninstallFilter`.
    pub fn uninstall(&self, id: &Value) -> bool {
        id.as_str().is_some_and(|id| self.table.lock().unwrap().remove(id).is_some())
    }

    /// `eth_getFilterLogs`: every log the filter matches, read anew.
    pub async fn logs(&self, pool: &Pool, id: &Value) -> Result<Value, FilterError> {
        let filter = self.get(id)?;
        let mut filter = filter.lock().await;
        filter.polled = Instant::now();
        let Kind::Logs { original, .. } = &filter.kind else {
            return Err(FilterError::Invalid("a block filter has no logs".into()));
        };
        Ok(pool.read("eth_getLogs", json!([original])).await?)
    }

    /// `eth_getFilterChanges`: what was retracted by a reorg (logs with `removed: true`), then
    /// what is new.
    pub async fn changes(&self, pool: &Pool, id: &Value) -> Result<Value, FilterError> {
        let filter = self.get(id)?;
        let mut filter = filter.lock().await;
        filter.polled = Instant::now();
        let mut out = Vec::new();
        // Retract what a reorg took away.
        let reported: Vec<(u64, B256)> = filter.reported.iter().rev().map(|(n, (h, _))| (*n, *h)).collect();
        for (number, hash) in reported {
            match hash_at(pool, number).await? {
                // Still canonical: what follows it is read again from the block after it.
                Some(canonical) if canonical == hash => {
                    filter.next = filter.next.min(number + 1);
                    break;
                }
                // An upstream behind that does not know the block yet: not a reorg; next poll.
                None => return Ok(Value::Array(out)),
                Some(_) => {}
            }
            let (_, logs) = filter.reported.remove(&number).expect("listed above");
            for mut log in logs {
                log["removed"] = json!(true);
                out.push(log);
            }
            filter.next = filter.next.min(number);
        }
        let tip = head(pool).await?;
        let last = filter.until.map_or(tip, |until| until.min(tip)).min(filter.next + BLOCKS_PER_POLL_MAX - 1);
        if filter.next > last {
            return Ok(Value::Array(out));
        }
        let from = filter.next;
        let Some(last_hash) = hash_at(pool, last).await? else { return Ok(Value::Array(out)) };
        match &filter.kind {
            Kind::Blocks => {
                for number in from..=last {
                    let Some(hash) = hash_at(pool, number).await? else { break };
                    out.push(json!(hash));
                    filter.reported.insert(number, (hash, Vec::new()));
                }
            }
            Kind::Logs { criteria, .. } => {
                let mut query = criteria.clone();
                query["fromBlock"] = quantity(from);
                query["toBlock"] = quantity(last);
                let logs = pool.read("eth_getLogs", json!([query])).await?;
                // `null` is not "no logs": read again next poll.
                let Some(logs) = logs.as_array().cloned() else { return Ok(Value::Array(out)) };
                // The chain moved between reading the last block and its logs: read again next time.
                let moved = logs.iter().any(|log| {
                    log["blockNumber"] == quantity(last)
                        && serde_json::from_value::<B256>(log["blockHash"].clone()).ok() != Some(last_hash)
                });
                if moved {
                    return Ok(Value::Array(out));
                }
                for log in logs {
                    let number: u64 =
                        serde_json::from_value::<U64>(log["blockNumber"].clone()).map_or(last, |n| n.to());
                    let hash = serde_json::from_value(log["blockHash"].clone()).unwrap_or(last_hash);
                    filter.reported.entry(number).or_insert_with(|| (hash, Vec::new())).1.push(log.clone());
                    out.push(log);
                }
                filter.reported.entry(last).or_insert((last_hash, Vec::new()));
            }
        }
        filter.next = last + 1;
        let keep_from = last.saturating_sub(REORG_WINDOW_BLOCKS);
        filter.reported.retain(|number, _| *number >= keep_from);
        Ok(Value::Array(out))
    }
}
