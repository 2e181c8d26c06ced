//! Withdrawals and deposits as Binance's `/sapi/v1/capital` endpoints show them.
//!
//! `withdrawOrderId` is the idempotency key of a withdrawal: the same id again returns the same
//! withdrawal, never a second payment. Without one, the id is derived from the signed bytes, so
//! only a byte-identical retry is recognised (as with Binance, send an id to be safe).

use outlast_engine::{AccountAction, AccountRequest, ClientId, CommandBody, Engine, Outcome, Summary, WithdrawalState};
use serde_json::{json, Value};

use crate::api::Shared;
use crate::decimal;
use crate::endpoint::{then, Caller, Decoded, Reply};
use crate::error::ApiError;
use crate::names::{parse_amount, utc_text};
use crate::params::Params;
use crate::trading::{client_id, derived_id, ROWS_MAX};

fn asset(engine: &Engine, symbol: &str) -> Result<(u32, u8), ApiError> {
    let id = engine.asset_id(symbol).ok_or_else(|| ApiError::mandatory("coin"))?;
    Ok((id, engine.assets()[id as usize].decimals))
}

/// Puts an address on the caller's withdrawal allowlist: usable once the coin's allowlist
/// delay has passed (see `outlast_engine::WithdrawalPolicy`).
pub(crate) fn add_allowlist_address<'a>(api: &'a Shared, caller: &'a Caller, params: &Params) -> Decoded<'a> {
    let address = params.required("address")?.to_string();
    let request_id = derived_id("a-", &caller.payload);
    let request = AccountRequest {
        account: caller.account,
        request_id,
        request_ts_ms: caller.timestamp_ms,
        action: AccountAction::AddWithdrawalAddress { address: address.clone() },
    };
    then(async move {
        match api.write(CommandBody::Account(request)).await? {
            Outcome::Applied(Summary::AddressAllowlisted(added_ms))
            | Outcome::Duplicate(Summary::AddressAllowlisted(added_ms)) => {
                Ok(json!({ "address": address, "addTime": added_ms }))
            }
            Outcome::Rejected(reject) => Err(ApiError::rejected(reject, -4026)),
            other => Err(ApiError::rejected_other(other)),
        }
    })
}

/// The caller's deposit address for a coin on a chain this node follows (Binance's shape):
/// child `account` of the chain's extended public key, derived here without any private key.
pub(crate) fn deposit_address<'a>(api: &'a Shared, caller: &'a Caller, params: &Params) -> Decoded<'a> {
    let coin = params.required("coin")?.to_string();
    params.get("network");
    then(async move {
        let chains = api.chains.get().map(Vec::as_slice).unwrap_or_default();
        let chain = chains
            .iter()
            .find(|c| c.config.assets.iter().any(|a| a.symbol == coin))
            .ok_or_else(|| ApiError::filter("This coin has no deposit address here."))?;
        let keys =
            outlast_chain::hd::DepositKeys::parse(&chain.config.deposit_xpub).map_err(|e| ApiError::internal(&e))?;
        let address = keys.address(caller.account).map_err(|e| ApiError::internal(&e))?;
        Ok(
            json!({ "coin": coin, "address": format!("{address:#x}"), "tag": "", "url": "", "network": chain.config.name }),
        )
    })
}

pub(crate) fn withdraw<'a>(api: &'a Shared, caller: &'a Caller, params: &Params) -> Decoded<'a> {
    let (asset_id, decimals) = asset(&api.reader.read(), params.required("coin")?)?;
    let address = params.required("address")?.to_string();
    let amount = parse_amount("amount", params.required("amount")?, decimals)?;
    // Accepted for compatibility; one network per coin here.
    for ignored in ["network", "name", "walletType", "transactionFeeFlag"] {
        params.get(ignored);
    }
    if params.get("addressTag").is_some_and(|tag| !tag.is_empty()) {
        return Err(ApiError::filter("Parameter 'addressTag' is not supported."));
    }
    let request_id = client_id(params, "withdrawOrderId")?.unwrap_or_else(|| derived_id("w-", &caller.payload));
    let request = AccountRequest {
        account: caller.account,
        request_id,
        request_ts_ms: caller.timestamp_ms,
        action: AccountAction::RequestWithdrawal { asset: asset_id, amount, address },
    };
    then(async move {
        match api.write(CommandBody::Account(request)).await? {
            Outcome::Applied(Summary::WithdrawalRequested(id))
            | Outcome::Duplicate(Summary::WithdrawalRequested(id)) => Ok(json!({ "id": id.to_string() })),
            Outcome::Rejected(reject) => Err(ApiError::rejected(reject, -4026)),
            other => Err(ApiError::rejected_other(other)),
        }
    })
}

/// Binance's withdrawal status numbers (2 awaiting approval, 4 processing, 5 failure, 6 completed).
fn withdrawal_status(state: WithdrawalState) -> u8 {
    match state {
        WithdrawalState::Requested | WithdrawalState::PendingApproval => 2,
        WithdrawalState::Sent => 4,
        WithdrawalState::Failed => 5,
        WithdrawalState::Confirmed => 6,
    }
}

struct Filter {
    coin: Option<u32>,
    status: Option<u64>,
    start: u64,
    end: u64,
    offset: usize,
    limit: usize,
}

fn filter(engine: &Engine, params: &Params) -> Result<Filter, ApiError> {
    let coin = params.get("coin").map(|c| asset(engine, c).map(|(id, _)| id)).transpose()?;
    let limit = params.u64("limit")?.map_or(ROWS_MAX, |l| (l as usize).clamp(1, ROWS_MAX));
    Ok(Filter {
        coin,
        status: params.u64("status")?,
        start: params.u64("startTime")?.unwrap_or(0),
        end: params.u64("endTime")?.unwrap_or(u64::MAX),
        offset: params.u64("offset")?.unwrap_or(0) as usize,
        limit,
    })
}

pub(crate) fn withdraw_history<'a>(api: &'a Shared, caller: &'a Caller, params: &Params) -> Decoded<'a> {
    let f = filter(&api.reader.read(), params)?;
    let by_id = client_id(params, "withdrawOrderId")?;
    params.get("idList");
    then(async move { withdrawals_of(api, caller, f, by_id) })
}

fn withdrawals_of(api: &Shared, caller: &Caller, f: Filter, by_id: Option<ClientId>) -> Reply {
    let engine = api.reader.read();
    let history = api.reader.history();
    let mut rows: Vec<Value> = history
        .withdrawals_of(caller.account)
        .filter_map(|id| engine.withdrawal(id))
        .filter(|w| f.coin.is_none_or(|c| w.asset == c))
        .filter(|w| f.status.is_none_or(|s| s == u64::from(withdrawal_status(w.state))))
        .filter(|w| (f.start..=f.end).contains(&w.requested_ms))
        .filter(|w| by_id.is_none_or(|id| w.request_id == id))
        .map(|w| {
            let asset = &engine.assets()[w.asset as usize];
            json!({
                "id": w.id.to_string(),
                "amount": decimal::format(w.amount, asset.decimals),
                "transactionFee": decimal::format(0, asset.decimals),
                "coin": asset.symbol,
                "status": withdrawal_status(w.state),
                "address": w.address,
                "txId": w.chain_tx.clone().unwrap_or_default(),
                "applyTime": utc_text(w.requested_ms),
                "network": network_of(api, &asset.symbol).0,
                "transferType": 0,
                "withdrawOrderId": w.request_id.as_str(),
                "info": "",
                "confirmNo": u8::from(w.state == WithdrawalState::Confirmed),
                "walletType": 0,
                "txKey": "",
            })
        })
        .collect();
    rows.reverse(); // newest first, as Binance lists them
    Ok(Value::Array(rows.into_iter().skip(f.offset).take(f.limit).collect()))
}

pub(crate) fn deposit_history<'a>(api: &'a Shared, caller: &'a Caller, params: &Params) -> Decoded<'a> {
    let f = filter(&api.reader.read(), params)?;
    let tx = params.get("txId").map(str::to_string);
    params.get("includeSource");
    then(async move { deposits_of(api, caller, f, tx) })
}

fn deposits_of(api: &Shared, caller: &Caller, f: Filter, tx: Option<String>) -> Reply {
    let engine = api.reader.read();
    let history = api.reader.history();
    let mut rows: Vec<Value> = history
        .deposits_of(caller.account)
        .filter(|d| f.coin.is_none_or(|c| d.asset == c))
        .filter(|_| f.status.is_none_or(|s| s == 1))
        .filter(|d| (f.start..=f.end).contains(&d.ts_ms))
        .filter(|d| tx.as_ref().is_none_or(|t| *t == d.chain_tx))
        .map(|d| {
            let asset = &engine.assets()[d.asset as usize];
            json!({
                "id": d.id.to_string(),
                "amount": decimal::format(d.amount, asset.decimals),
                "coin": asset.symbol,
                "network": network_of(api, &asset.symbol).0,
                "status": 1,
                "address": "",
                "addressTag": "",
                "txId": d.chain_tx,
                "insertTime": d.ts_ms,
                "completeTime": d.ts_ms,
                "transferType": 0,
                "confirmTimes": "1/1",
                "unlockConfirm": 0,
                "walletType": 0,
            })
        })
        .collect();
    rows.reverse();
    Ok(Value::Array(rows.into_iter().skip(f.offset).take(f.limit).collect()))
}

/// The network a coin moves on here: the followed chain that carries it, or, for a coin the
/// operator pays and credits by hand, its own symbol.
fn network_of(api: &Shared, symbol: &str) -> (String, Option<u64>) {
    let chains = api.chains.get().map(Vec::as_slice).unwrap_or_default();
    match chains.iter().find(|c| c.config.assets.iter().any(|a| a.symbol == symbol)) {
        Some(chain) => (chain.config.name.clone(), Some(chain.config.confirmations)),
        None => (symbol.to_string(), None),
    }
}

/// `/sapi/v1/capital/config/getall`: every coin with the caller's balance and its network, as
/// libraries read it on start. A coin on a followed chain deposits to a derived address; any
/// other coin is credited by the operator, so it lists no network and does not take deposits.
/// The withdrawal bounds are the engine's: one minor unit up to the coin's daily limit.
pub(crate) fn coins<'a>(api: &'a Shared, caller: &'a Caller, _params: &Params) -> Decoded<'a> {
    then(async move {
        let engine = api.reader.read();
        let rows: Vec<Value> = engine
            .assets()
            .iter()
            .enumerate()
            .map(|(id, asset)| {
                let id = id as u32;
                let units = |amount: u64| decimal::format(amount, asset.decimals);
                let balance = engine.balance(caller.account, id).unwrap_or_default();
                let (network, confirmations) = network_of(api, &asset.symbol);
                let policy = engine.controls().policies.get(&id).copied().unwrap_or_default();
                let withdraw_max = policy.account_daily_max.unwrap_or(u64::MAX);
                let paused = engine.withdrawals_paused(id);
                let networks: Vec<Value> = confirmations
                    .map(|confirmations| {
                        json!({
                            "network": network, "coin": asset.symbol, "name": network, "isDefault": true,
                            "depositEnable": true, "withdrawEnable": !paused,
                            "depositDesc": "", "withdrawDesc": "", "specialTips": "", "specialWithdrawTips": "",
                            "resetAddressStatus": false, "addressRegex": "^(0x)[0-9A-Fa-f]{40}$", "addressRule": "",
                            "memoRegex": "", "withdrawFee": units(0), "withdrawMin": units(1),
                            "withdrawMax": units(withdraw_max), "withdrawIntegerMultiple": units(1),
                            "minConfirm": confirmations, "unLockConfirm": confirmations, "sameAddress": false,
                            "estimatedArrivalTime": 1, "busy": false, "contractAddressUrl": "", "contractAddress": "",
                        })
                    })
                    .into_iter()
                    .collect();
                json!({
                    "coin": asset.symbol, "name": asset.symbol,
                    "depositAllEnable": confirmations.is_some(), "withdrawAllEnable": !paused,
                    "free": units(balance.available), "locked": units(balance.locked),
                    "freeze": units(0), "withdrawing": units(0), "ipoing": units(0), "ipoable": units(0),
                    "storage": units(0), "isLegalMoney": false, "trading": true,
                    "networkList": networks,
                })
            })
            .collect();
        Ok(Value::Array(rows))
    })
}
