//! What custody reads from the chain, each read agreed by `agreement_min` upstreams: a block's
//! hash and parent, a block's token transfers, a block's native transfers, a receipt.
//!
//! Must never: return anything one upstream alone said when it can move money.

use outlast_chain::erc20::TRANSFER_TOPIC;
use outlast_chain::pool::{Pool, PoolError};
use outlast_chain::rpc::quantity;
use outlast_chain::{Address, B256, U256};
use serde_json::{json, Value};

/// A block as far as custody needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRef {
    /// Its number.
    pub number: u64,
    /// Its hash.
    pub hash: B256,
    /// Its parent's hash.
    pub parent: B256,
}

/// A transfer to some address, found in a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// The recipient.
    pub to: Address,
    /// How much, in the token's (or the chain's) smallest unit.
    pub amount: U256,
    /// The transaction.
    pub tx: B256,
    /// The log's index in its block (`u32::MAX` for a native transfer).
    pub log_index: u32,
    /// The block it is in.
    pub block_hash: B256,
}

/// A mined transaction's receipt, as custody needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Its block.
    pub block: u64,
    /// That block's hash.
    pub block_hash: B256,
    /// Whether it succeeded (did not revert).
    pub success: bool,
}

fn field<T: serde::de::DeserializeOwned>(value: &Value, name: &str) -> Result<T, String> {
    serde_json::from_value(value[name].clone()).map_err(|e| format!("{name}: {e} in {value}"))
}

fn number(value: &Value, name: &str) -> Result<u64, String> {
    u64::try_from(field::<outlast_chain::U256>(value, name)?).map_err(|_| format!("{name}: past u64 in {value}"))
}

/// Block `number`, agreed; `None` if the agreeing upstreams do not have it.
pub async fn block(pool: &Pool, number: u64) -> Result<Option<BlockRef>, String> {
    let agreed = pool
        // Every field used is in the agreement: one upstream cannot slip in another parent.
        .agree("eth_getBlockByNumber", json!([quantity(number), false]), |b| {
            json!([b["hash"], b["number"], b["parentHash"]])
        })
        .await
        .map_err(|e| e.to_string())?;
    if agreed.is_null() {
        return Ok(None);
    }
    let block = BlockRef {
        number: self::number(&agreed, "number")?,
        hash: field(&agreed, "hash")?,
        parent: field(&agreed, "parentHash")?,
    };
    if block.number != number {
        return Err(format!("asked for block {number}, the upstreams agreed on {}", block.number));
    }
    Ok(Some(block))
}

/// The token's transfers in the block with hash `block_hash`, agreed (an upstream that drops
/// logs is outvoted). By hash, not by number: an upstream that does not have the block yet
/// answers an error, where for a range past its head it answers "no logs" (two lagging
/// upstreams would then agree on a range without its deposits).
pub async fn token_transfers(pool: &Pool, token: Address, block_hash: B256) -> Result<Vec<Transfer>, String> {
    let filter = json!([{ "address": token, "blockHash": block_hash, "topics": [TRANSFER_TOPIC] }]);
    let logs = pool.agree("eth_getLogs", filter, logs_key).await.map_err(|e| e.to_string())?;
    let mut transfers = Vec::new();
    for log in logs.as_array().ok_or("eth_getLogs did not answer a list")? {
        let topics: Vec<B256> = field(log, "topics")?;
        if topics.len() != 3 || field::<Address>(log, "address")? != token {
            continue; // not an ERC-20 Transfer of this token (an ERC-721 has 4 topics)
        }
        let data: outlast_chain::Bytes = field(log, "data")?;
        if data.len() != 32 {
            continue;
        }
        let transfer = Transfer {
            to: Address::from_word(topics[2]),
            amount: U256::from_be_slice(&data),
            tx: field(log, "transactionHash")?,
            log_index: u32::try_from(number(log, "logIndex")?).map_err(|_| "log index past u32")?,
            block_hash: field(log, "blockHash")?,
        };
        if transfer.block_hash != block_hash {
            return Err(format!(
                "asked for the logs of block {block_hash}, the upstreams agreed on one of {}",
                transfer.block_hash
            ));
        }
        transfers.push(transfer);
    }
    Ok(transfers)
}

/// What two upstreams' logs must have alike: the fields a deposit is made of (providers add
/// fields of their own, such as a block timestamp, that would keep honest answers apart).
fn logs_key(logs: &Value) -> Value {
    match logs.as_array() {
        Some(logs) => Value::Array(
            logs.iter()
                .map(|log| {
                    json!([
                        log["address"],
                        log["topics"],
                        log["data"],
                        log["blockHash"],
                        log["transactionHash"],
                        log["logIndex"],
                        log["removed"]
                    ])
                })
                .collect(),
        ),
        None => json!({ "not a list": logs }),
    }
}

/// The native transfers in block `number` that succeeded, agreed.
pub async fn native_transfers(pool: &Pool, number: u64) -> Result<Vec<Transfer>, String> {
    // Only what is used is compared: providers add fields of their own to transactions.
    let key = |b: &Value| {
        let txs: Vec<Value> = b["transactions"]
            .as_array()
            .map(|txs| txs.iter().map(|tx| json!([tx["hash"], tx["to"], tx["value"]])).collect())
            .unwrap_or_default();
        json!([b["hash"], b["transactions"].is_array(), txs])
    };
    let block =
        pool.agree("eth_getBlockByNumber", json!([quantity(number), true]), key).await.map_err(|e| e.to_string())?;
    let block_hash: B256 = field(&block, "hash")?;
    let mut transfers = Vec::new();
    for tx in block["transactions"].as_array().ok_or("a block without its transactions")? {
        let (Ok(to), Ok(amount)) = (field::<Address>(tx, "to"), field::<U256>(tx, "value")) else { continue };
        if amount.is_zero() {
            continue;
        }
        transfers.push(Transfer { to, amount, tx: field(tx, "hash")?, log_index: u32::MAX, block_hash });
    }
    Ok(transfers)
}

/// The receipt of `tx`, agreed; `None` if it is not mined as far as the agreeing upstreams know.
pub async fn receipt(pool: &Pool, tx: B256) -> Result<Option<Receipt>, String> {
    let key = |r: &Value| json!([r["blockHash"], r["blockNumber"], r["status"]]);
    let agreed = match pool.agree("eth_getTransactionReceipt", json!([tx]), key).await {
        Ok(agreed) => agreed,
        Err(PoolError::NoAgreement(why)) => return Err(format!("receipt of {tx}: {why}")),
        Err(error) => return Err(error.to_string()),
    };
    if agreed.is_null() {
        return Ok(None);
    }
    Ok(Some(Receipt {
        block: number(&agreed, "blockNumber")?,
        block_hash: field(&agreed, "blockHash")?,
        success: number(&agreed, "status")? == 1,
    }))
}

/// The hot wallet's nonce counting only mined transactions, agreed.
pub async fn mined_nonce(pool: &Pool, address: Address) -> Result<u64, String> {
    let agreed = pool
        .agree("eth_getTransactionCount", json!([address, "latest"]), |n| n.clone())
        .await
        .map_err(|e| e.to_string())?;
    let nonce = serde_json::from_value::<U256>(agreed).map_err(|e| e.to_string())?;
    u64::try_from(nonce).map_err(|_| format!("a nonce past u64: {nonce}"))
}

/// Fees for a new transaction: (max fee, priority fee) per gas, from the head's base fee; an
/// error past `max_fee_ceiling` (wei per gas).
pub async fn fees(pool: &Pool, max_fee_ceiling: u128) -> Result<(u128, u128), String> {
    let head = pool.read("eth_getBlockByNumber", json!(["latest", false])).await.map_err(|e| e.to_string())?;
    let base: U256 = field(&head, "baseFeePerGas")?;
    let tip = pool.read("eth_maxPriorityFeePerGas", json!([])).await.map_err(|e| e.to_string())?;
    let tip: U256 = serde_json::from_value(tip).map_err(|e| e.to_string())?;
    let (base, tip) =
        (u128::try_from(base).map_err(|e| e.to_string())?, u128::try_from(tip).map_err(|e| e.to_string())?);
    // Twice the base fee rides out six full blocks of base-fee rises (12.5 % each).
    let max_fee = base.checked_mul(2).and_then(|b| b.checked_add(tip)).ok_or("fees overflow")?;
    if max_fee > max_fee_ceiling {
        return Err(format!("a fee of {max_fee} wei per gas is over the ceiling of {max_fee_ceiling}: not signing"));
    }
    Ok((max_fee, tip))
}
