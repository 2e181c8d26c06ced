//! The operator API (`/operator/v1/...`): configure assets, markets, accounts and API keys,
//! credit deposits, drive withdrawals, see the cluster and the audit trail; plus health and
//! readiness (load balancers call them without a credential) and metrics (internal: on the
//! operator plane when the node has one).
//!
//! Who may call it: an operator's client certificate on the operator plane (`operator_addr`),
//! else the bearer token on the public listener. Parameters are form fields like the public
//! API's; amounts are decimal text in the asset's units. Every change is an engine command, so
//! it is replicated, idempotent, and in the audit trail under the operator's name. No answer
//! carries an existing secret: a new HMAC key's secret is shown once, in its creation's answer.

use openraft::async_runtime::WatchReceiver;
use std::time::Duration;

use outlast_cluster::protocol::{call_with, ClientReply, ClientRequest};
use outlast_engine::{
    ApiKeySpec, CommandBody, IpNet, KeyCredential, KeyPermissions, MarketSpec, MarketStatus, Outcome, Summary,
    WithdrawalState,
};
use serde_json::{json, Value};

use crate::api::Shared;
use crate::auth::{new_key_name, parse_ed25519_public_key};
use crate::endpoint::{answered, then, Decoded, Operator, Reply};
use crate::error::ApiError;
use crate::names::{parse_amount, Units};
use crate::params::Params;

/// How long the cluster view waits for each node's status.
const STATUS_DEADLINE: Duration = Duration::from_millis(500);

fn asset_id(api: &Shared, symbol: &str, name: &str) -> Result<(u32, u8), ApiError> {
    let engine = api.reader.read();
    let id = engine.asset_id(symbol).ok_or_else(|| ApiError::mandatory(name))?;
    Ok((id, engine.assets()[id as usize].decimals))
}

/// An applied or duplicate outcome as JSON; a rejection as an error with the engine's name.
fn outcome(result: Outcome) -> Reply {
    match result {
        Outcome::Applied(summary) => Ok(json!({ "applied": true, "result": format!("{summary:?}") })),
        Outcome::Duplicate(summary) => {
            Ok(json!({ "applied": false, "duplicate": true, "result": format!("{summary:?}") }))
        }
        Outcome::Rejected(reject) => Err(ApiError::rejected(reject, -1013)),
    }
}

/// Submits an operator command (recorded in the audit trail as `op`'s) and answers with its
/// outcome.
async fn submit(api: &Shared, op: &Operator, body: CommandBody) -> Reply {
    outcome(api.write_as(Some(&op.name), body).await?)
}

pub(crate) fn create_asset<'a>(api: &'a Shared, op: &'a Operator, params: &Params) -> Decoded<'a> {
    let symbol = params.required("symbol")?.to_string();
    let decimals = params.u64("decimals")?.ok_or_else(|| ApiError::mandatory("decimals"))?;
    let decimals = u8::try_from(decimals).map_err(|_| ApiError::mandatory("decimals"))?;
    then(submit(api, op, CommandBody::CreateAsset { symbol, decimals }))
}

pub(crate) fn create_market<'a>(api: &'a Shared, op: &'a Operator, params: &Params) -> Decoded<'a> {
    let symbol = params.required("symbol")?.to_string();
    let (base, base_decimals) = asset_id(api, params.required("baseAsset")?, "baseAsset")?;
    let (quote, quote_decimals) = asset_id(api, params.required("quoteAsset")?, "quoteAsset")?;
    let fee = |name: &str| -> Result<u32, ApiError> {
        let ppm = params.u64(name)?.unwrap_or(0);
        u32::try_from(ppm).map_err(|_| ApiError::mandatory(name))
    };
    let spec = MarketSpec {
        symbol,
        base,
        quote,
        tick_size: parse_amount("tickSize", params.required("tickSize")?, quote_decimals)?,
        lot_size: parse_amount("stepSize", params.required("stepSize")?, base_decimals)?,
        min_notional: parse_amount("minNotional", params.required("minNotional")?, quote_decimals)?,
        maker_fee_ppm: fee("makerFeePpm")?,
        taker_fee_ppm: fee("takerFeePpm")?,
    };
    then(submit(api, op, CommandBody::CreateMarket(spec)))
}

pub(crate) fn market_status<'a>(api: &'a Shared, op: &'a Operator, params: &Params) -> Decoded<'a> {
    let market = Units::of(&api.reader.read(), params.required("symbol")?)?.id;
    let status = match params.required("status")? {
        "TRADING" => MarketStatus::Trading,
        "CANCEL_ONLY" => MarketStatus::CancelOnly,
        "HALTED" => MarketStatus::Halted,
        _ => return Err(ApiError::mandatory("status")),
    };
    then(submit(api, op, CommandBody::SetMarketStatus { market, status }))
}

pub(crate) fn create_account<'a>(api: &'a Shared, op: &'a Operator, params: &Params) -> Decoded<'a> {
    let account = params.u64("account")?.ok_or_else(|| ApiError::mandatory("account"))?;
    then(submit(api, op, CommandBody::CreateAccount { account }))
}

/// A `true`/`false` parameter, `default` if absent.
fn flag(params: &Params, name: &str, default: bool) -> Result<bool, ApiError> {
    match params.get(name) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(ApiError::mandatory(name)),
    }
}

/// `ipRestrict`: comma-separated addresses or ranges (`203.0.113.7`, `10.0.0.0/8`, `2001:db8::/32`).
fn ip_allowlist(params: &Params) -> Result<Vec<IpNet>, ApiError> {
    let Some(text) = params.get("ipRestrict").filter(|t| !t.is_empty()) else { return Ok(Vec::new()) };
    let bad = || ApiError::mandatory("ipRestrict");
    let nets: Vec<IpNet> = text
        .split(',')
        .map(|item| {
            let (addr, prefix_len) = match item.trim().split_once('/') {
                Some((addr, len)) => (addr, Some(len)),
                None => (item.trim(), None),
            };
            let addr: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
            // An IPv4 address written as IPv6 would never match (clients are compared in their
            // IPv4 form): the operator writes it as IPv4.
            if addr.to_canonical() != addr {
                return Err(bad());
            }
            let full = if addr.is_ipv4() { 32 } else { 128 };
            let prefix_len = match prefix_len {
                Some(len) => len.parse::<u8>().map_err(|_| bad())?,
                None => full,
            };
            let net = IpNet { addr, prefix_len };
            if net.valid() {
                Ok(net)
            } else {
                Err(bad())
            }
        })
        .collect::<Result<_, _>>()?;
    if nets.len() > outlast_engine::API_KEY_IPS_MAX {
        return Err(bad());
    }
    Ok(nets)
}

/// Creates an API key: Ed25519 if `publicKey` is given (PEM or base64), else HMAC-SHA256 with a
/// fresh random secret, returned in this one answer and never again (a name already taken, or
/// revoked, is refused: no path reads an existing secret back). Trading is on and withdrawals
/// off unless `enableTrading` / `enableWithdrawals` say otherwise; `ipRestrict` limits where
/// the key may be used from.
pub(crate) fn create_key<'a>(api: &'a Shared, op: &'a Operator, params: &Params) -> Decoded<'a> {
    let account = params.u64("account")?.ok_or_else(|| ApiError::mandatory("account"))?;
    // The operator may name the key; else a random name.
    let key = match params.get("apiKey") {
        Some(key) => key.to_string(),
        None => new_key_name().map_err(|e| ApiError::internal(&e.to_string()))?,
    };
    let permissions = KeyPermissions {
        trade: flag(params, "enableTrading", true)?,
        withdraw: flag(params, "enableWithdrawals", false)?,
    };
    let ip_allowlist = ip_allowlist(params)?;
    let (secret, credential) = match params.get("publicKey") {
        Some(text) => {
            let public_key = parse_ed25519_public_key(text).ok_or_else(|| ApiError::mandatory("publicKey"))?;
            (None, KeyCredential::Ed25519 { public_key })
        }
        None => {
            let (secret, sealed) =
                api.keyring.new_hmac_secret(&key, account).map_err(|e| ApiError::internal(&e.to_string()))?;
            (Some(secret), sealed)
        }
    };
    let kind = match credential {
        KeyCredential::Hmac { .. } => "HMAC_SHA256",
        KeyCredential::Ed25519 { .. } => "ED25519",
    };
    let ips: Vec<String> = ip_allowlist.iter().map(IpNet::to_string).collect();
    let spec = ApiKeySpec { key: key.clone(), account, credential, permissions, ip_allowlist };
    then(async move {
        match api.write_as(Some(&op.name), CommandBody::RegisterApiKey(spec)).await? {
            // A duplicate is this very registration retried (same sealed bytes, drawn above):
            // the secret is still the one this call made.
            Outcome::Applied(Summary::ApiKeyRegistered(_)) | Outcome::Duplicate(Summary::ApiKeyRegistered(_)) => {
                let mut answer = json!({
                    "apiKey": key,
                    "account": account,
                    "keyType": kind,
                    "enableTrading": permissions.trade,
                    "enableWithdrawals": permissions.withdraw,
                    "ipRestrict": ips,
                });
                if let Some(secret) = secret {
                    answer["secretKey"] = Value::String(secret);
                }
                Ok(answer)
            }
            other => outcome(other),
        }
    })
}

pub(crate) fn revoke_key<'a>(api: &'a Shared, op: &'a Operator, params: &Params) -> Decoded<'a> {
    let key = params.required("apiKey")?.to_string();
    then(submit(api, op, CommandBody::RevokeApiKey { key }))
}

pub(crate) fn deposit<'a>(api: &'a Shared, op: &'a Operator, params: &Params) -> Decoded<'a> {
    let account = params.u64("account")?.ok_or_else(|| ApiError::mandatory("account"))?;
    let (asset, decimals) = asset_id(api, params.required("coin")?, "coin")?;
    let amount = parse_amount("amount", params.required("amount")?, decimals)?;
    let chain_tx = params.required("txId")?.to_string();
    then(submit(api, op, CommandBody::Deposit { account, asset, amount, chain_tx }))
}

/// The withdrawal a step names.
fn withdrawal_id(params: &Params) -> Result<u64, ApiError> {
    params.u64("id")?.ok_or_else(|| ApiError::mandatory("id"))
}

pub(crate) fn withdrawal_sent<'a>(api: &'a Shared, op: &'a Operator, params: &Params) -> Decoded<'a> {
    let withdrawal = withdrawal_id(params)?;
    let chain_tx = params.required("txId")?.to_string();
    paid_by_custody(api, withdrawal)?;
    then(submit(api, op, CommandBody::WithdrawalSent { withdrawal, chain_tx }))
}

pub(crate) fn withdrawal_confirmed<'a>(api: &'a Shared, op: &'a Operator, params: &Params) -> Decoded<'a> {
    let withdrawal = withdrawal_id(params)?;
    paid_by_custody(api, withdrawal)?;
    then(submit(api, op, CommandBody::WithdrawalConfirmed { withdrawal }))
}

/// Refuses to mark by hand a withdrawal of a coin this node's custody pays on a chain: it is
/// sent with the bytes custody committed and confirmed from the chain's receipt, and an
/// operator's "sent" with any text, then "confirmed", would debit it with nothing paid.
/// ("failed" stays open: before anything is signed it is a safe refund, and the engine refuses
/// it once a transaction is.)
fn paid_by_custody(api: &Shared, withdrawal: u64) -> Result<(), ApiError> {
    let symbol = {
        let engine = api.reader.read();
        let Some(w) = engine.withdrawal(withdrawal) else { return Ok(()) }; // the engine refuses it
        engine.assets()[w.asset as usize].symbol.clone()
    };
    let chains = api.chains.get().map(Vec::as_slice).unwrap_or_default();
    match chains.iter().find(|c| c.config.assets.iter().any(|a| a.symbol == symbol)) {
        Some(chain) => Err(ApiError::filter(&format!(
            "{symbol} withdrawals are paid on chain {} by custody; an operator cannot mark them sent or confirmed",
            chain.config.name
        ))),
        None => Ok(()),
    }
}

pub(crate) fn withdrawal_failed<'a>(api: &'a Shared, op: &'a Operator, params: &Params) -> Decoded<'a> {
    let withdrawal = withdrawal_id(params)?;
    then(submit(api, op, CommandBody::WithdrawalFailed { withdrawal }))
}

/// Sets one asset's withdrawal controls (see `outlast_engine::WithdrawalPolicy`); a control
/// not given is off. Amounts in the coin's decimal units.
pub(crate) fn withdrawals_policy<'a>(api: &'a Shared, op: &'a Operator, params: &Params) -> Decoded<'a> {
    let (asset, decimals) = asset_id(api, params.required("coin")?, "coin")?;
    let amount = |name: &str| -> Result<Option<u64>, ApiError> {
        params.get(name).map(|text| crate::names::parse_amount(name, text, decimals)).transpose()
    };
    let policy = outlast_engine::WithdrawalPolicy {
        allowlist_delay_ms: params.u64("allowlistDelayMs")?,
        account_daily_max: amount("accountDailyMax")?,
        hot_wallet_daily_max: amount("hotWalletDailyMax")?,
        approval_threshold: amount("approvalThreshold")?,
    };
    then(submit(api, op, CommandBody::SetWithdrawalPolicy { asset, policy }))
}

/// One operator's approval of a withdrawal waiting for approval; two distinct operators' let
/// it be paid. Approval is personal: the bearer token names nobody, so it cannot approve.
pub(crate) fn withdrawals_approve<'a>(api: &'a Shared, op: &'a Operator, params: &Params) -> Decoded<'a> {
    let withdrawal = withdrawal_id(params)?;
    if op.name == crate::endpoint::TOKEN_OPERATOR {
        return Err(ApiError::filter("approving a withdrawal needs an operator certificate (the operator plane)"));
    }
    then(submit(api, op, CommandBody::ApproveWithdrawal { withdrawal }))
}

/// Stops (`paused`, the default) or restarts withdrawal requests of one asset.
pub(crate) fn withdrawals_pause<'a>(api: &'a Shared, op: &'a Operator, params: &Params) -> Decoded<'a> {
    let (asset, _) = asset_id(api, params.required("coin")?, "coin")?;
    let paused = flag(params, "paused", true)?;
    then(submit(api, op, CommandBody::SetWithdrawalsPaused { asset, paused }))
}

/// Raises the cluster's active data format to `format` (default: one above the active one),
/// once every voter's build reads it (see `outlast_cluster::upgrade`).
pub(crate) fn finalize_upgrade<'a>(api: &'a Shared, op: &'a Operator, params: &Params) -> Decoded<'a> {
    let active = api.reader.read().format();
    let format = match params.u64("format")? {
        Some(format) => u32::try_from(format).map_err(|_| ApiError::mandatory("format"))?,
        None => active.saturating_add(1),
    };
    then(submit(api, op, CommandBody::FinalizeFormat { format }))
}

pub(crate) fn cluster<'a>(api: &'a Shared, _op: &'a Operator, _params: &Params) -> Decoded<'a> {
    then(async move { Ok(cluster_view(api).await) })
}

/// Most log records one backup call returns, and about how many bytes.
const BACKUP_RECORDS_MAX: u64 = 10_000;
const BACKUP_BYTES_MAX: usize = 4 * 1024 * 1024;

/// A backup's base: this node's applied state with the id of its last entry (`Export` bytes,
/// base64), and its digest.
pub(crate) fn backup_base<'a>(api: &'a Shared, _op: &'a Operator, _params: &Params) -> Decoded<'a> {
    use base64::Engine as _;
    let export = api.reader.export();
    let digest = export.digest().map_err(|e| ApiError::internal(&e))?;
    answered(json!({
        "lastLogIndex": export.last_log_id.map_or(0, |id| id.index),
        "digest": digest,
        "export": base64::engine::general_purpose::STANDARD.encode(export.to_bytes()),
    }))
}

/// Committed log records from `from` (base64, as stored), up to what this node has applied;
/// `purged` instead when `from` is no longer in its log (take a new base).
pub(crate) fn backup_log<'a>(api: &'a Shared, _op: &'a Operator, params: &Params) -> Decoded<'a> {
    use base64::Engine as _;
    let from = params.u64("from")?.ok_or_else(|| ApiError::mandatory("from"))?.max(1);
    let applied = api.reader.applied_index();
    match api.reader.committed_records(from, BACKUP_RECORDS_MAX, BACKUP_BYTES_MAX) {
        Ok(records) => {
            let records: Vec<String> =
                records.iter().map(|r| base64::engine::general_purpose::STANDARD.encode(r)).collect();
            answered(json!({ "from": from, "appliedIndex": applied, "records": records }))
        }
        Err(why) if why.contains("purged") => answered(json!({ "from": from, "appliedIndex": applied, "purged": why })),
        Err(why) => Err(ApiError::internal(&why)),
    }
}

pub(crate) fn audit<'a>(api: &'a Shared, _op: &'a Operator, _params: &Params) -> Decoded<'a> {
    then(async move { Ok(audit_view(api)) })
}

/// The audit trail, newest first: who gave which operator command, when (`limit`, default
/// 100, at most 1,000). `total` counts every record ever made, kept or dropped.
pub(crate) fn audit_actions<'a>(api: &'a Shared, _op: &'a Operator, params: &Params) -> Decoded<'a> {
    let limit = params.u64("limit")?.map_or(100, |l| l.clamp(1, 1_000) as usize);
    let engine = api.reader.read();
    let records: Vec<Value> = engine
        .audit_records()
        .rev()
        .take(limit)
        .map(|record| {
            json!({
                "number": record.number,
                "time": record.ts_ms,
                "operator": record.operator,
                "action": action_json(&record.action),
            })
        })
        .collect();
    answered(json!({ "total": engine.audit_total(), "records": records }))
}

/// An audited command as JSON. A key registration shows its kind, not its credential (sealed
/// or public, it is not for reading back).
fn action_json(action: &CommandBody) -> Value {
    match action {
        CommandBody::RegisterApiKey(spec) => json!({ "RegisterApiKey": {
            "key": spec.key,
            "account": spec.account,
            "keyType": match spec.credential { KeyCredential::Hmac { .. } => "HMAC_SHA256", KeyCredential::Ed25519 { .. } => "ED25519" },
            "enableTrading": spec.permissions.trade,
            "enableWithdrawals": spec.permissions.withdraw,
            "ipRestrict": spec.ip_allowlist.iter().map(IpNet::to_string).collect::<Vec<_>>(),
        }}),
        other => serde_json::to_value(other).unwrap_or(Value::Null),
    }
}

pub(crate) fn health<'a>(api: &'a Shared, _params: &Params) -> Decoded<'a> {
    answered(json!({ "status": "up", "node": api.me.0 }))
}

pub(crate) fn ready<'a>(api: &'a Shared, _params: &Params) -> Decoded<'a> {
    then(async move { readiness(api).await })
}

pub(crate) fn metrics<'a>(api: &'a Shared, _params: &Params) -> Decoded<'a> {
    answered(metrics_text(api))
}

fn state_name(state: WithdrawalState) -> &'static str {
    match state {
        WithdrawalState::Requested => "REQUESTED",
        WithdrawalState::Sent => "SENT",
        WithdrawalState::Confirmed => "CONFIRMED",
        WithdrawalState::Failed => "FAILED",
        WithdrawalState::PendingApproval => "AWAITING_APPROVAL",
    }
}

pub(crate) fn withdrawals<'a>(api: &'a Shared, _op: &'a Operator, params: &Params) -> Decoded<'a> {
    let wanted = params.get("status").map(str::to_string);
    let limit = params.u64("limit")?.map_or(1_000, |l| l.clamp(1, 10_000) as usize);
    then(async move { Ok(withdrawal_rows(api, wanted, limit)) })
}

/// The newest `limit` withdrawals, of every account, in the `wanted` state or any.
fn withdrawal_rows(api: &Shared, wanted: Option<String>, limit: usize) -> Value {
    let engine = api.reader.read();
    let rows: Vec<Value> = engine
        .withdrawals()
        .iter()
        .rev()
        .filter(|w| wanted.as_deref().is_none_or(|s| s == state_name(w.state)))
        .take(limit)
        .map(|w| {
            let asset = &engine.assets()[w.asset as usize];
            json!({
                "id": w.id,
                "account": w.account,
                "withdrawOrderId": w.request_id.as_str(),
                "coin": asset.symbol,
                "amount": crate::decimal::format(w.amount, asset.decimals),
                "address": w.address,
                "status": state_name(w.state),
                "txId": w.chain_tx,
                "requestedMs": w.requested_ms,
            })
        })
        .collect();
    Value::Array(rows)
}

/// This node's applied state, checked: the digest, every engine invariant (conservation per
/// asset, locks, books, id tables), and per-asset totals, at the applied index.
fn audit_view(api: &Shared) -> Value {
    let engine = api.reader.read();
    let applied = api.raft.metrics().borrow_watched().last_applied.map_or(0, |l| l.index);
    let assets: Vec<Value> = engine
        .assets()
        .iter()
        .enumerate()
        .map(|(id, asset)| {
            let (mut available, mut locked) = (0u128, 0u128);
            for account in engine.account_ids() {
                if let Some(balance) = engine.balance(account, id as u32) {
                    available += u128::from(balance.available);
                    locked += u128::from(balance.locked);
                }
            }
            json!({
                "asset": asset.symbol,
                "deposited": asset.deposited.to_string(),
                "withdrawn": asset.withdrawn.to_string(),
                "available": available.to_string(),
                "locked": locked.to_string(),
                "conserved": u128::from(asset.deposited) == u128::from(asset.withdrawn) + available + locked,
            })
        })
        .collect();
    json!({
        "node": api.me.0,
        "appliedIndex": applied,
        "digest": engine.digest_hex(),
        "invariants": match engine.check_invariants() { Ok(()) => "ok".to_string(), Err(why) => why },
        "accounts": engine.account_ids().len(),
        "lastAccountId": engine.account_ids().last(),
        "withdrawals": engine.withdrawals().len(),
        "assets": assets,
    })
}

/// Ready means caught up with the cluster, not with this node's own log: the leader confirmed
/// its read index with a quorum (a follower asks it), and this node has applied that far. A
/// node that cannot get that confirmation in time — no leader, no quorum behind its leader, or
/// a leader that cannot reach a quorum — is not ready.
async fn readiness(api: &Shared) -> Reply {
    if api.raft.metrics().borrow_watched().current_leader.is_none() {
        return Err(ApiError::unavailable("no leader known"));
    }
    if outlast_cluster::quorum::lost(&api.raft) {
        return Err(ApiError::unavailable("this node leads without a quorum behind it"));
    }
    if !api.caught_up().await {
        return Err(ApiError::unavailable("not caught up with the cluster: no quorum confirmed its commit in time"));
    }
    let metrics = api.raft.metrics().borrow_watched().clone();
    let applied = metrics.last_applied.map_or(0, |l| l.index);
    let lag = metrics.last_log_index.unwrap_or(0).saturating_sub(applied);
    Ok(
        json!({ "status": "ready", "node": api.me.0, "leader": metrics.current_leader, "appliedIndex": applied, "lag": lag }),
    )
}

async fn cluster_view(api: &Shared) -> Value {
    let mut metrics = api.raft.metrics().borrow_watched().clone();
    if outlast_cluster::quorum::lost(&api.raft) {
        // It leads without a quorum: it has stepped down towards clients (`quorum`).
        metrics.current_leader = None;
    }
    let members: Vec<_> =
        metrics.membership_config.membership().nodes().map(|(id, info)| (*id, info.clone())).collect();
    let voters: Vec<u64> = metrics.membership_config.membership().voter_ids().collect();
    let leader_applied = match metrics.current_leader {
        Some(leader) if leader == api.me.0 => metrics.last_applied.map(|l| l.index),
        _ => None,
    };
    // Every member at once: the view takes as long as the slowest answer (at most
    // STATUS_DEADLINE), not their sum, so two unreachable members do not make it time out.
    let asks = members.iter().map(|(id, info)| async move {
        if *id == api.me.0 {
            let mut status = outlast_cluster::status::status(&api.raft, &api.reader, &api.me);
            status.round_trips_ms = api.writer.clocks.round_trips_ms();
            return Some(status);
        }
        let peer = outlast_cluster::Identity::Node(*id);
        match call_with(&api.writer.dialer, &info.client_addr, &peer, &ClientRequest::Status, STATUS_DEADLINE).await {
            Ok(ClientReply::Status(status)) => Some(status),
            _ => None,
        }
    });
    let answers = futures_util::future::join_all(asks).await;
    let statuses: Vec<_> =
        members.iter().zip(answers).map(|((id, info), status)| (*id, info.clone(), status)).collect();
    let mut nodes = Vec::new();
    let top =
        leader_applied.or_else(|| statuses.iter().filter_map(|(_, _, s)| s.as_ref()?.last_applied).max()).unwrap_or(0);
    for (id, info, status) in statuses {
        let role = if Some(id) == metrics.current_leader {
            "leader"
        } else if voters.contains(&id) {
            "follower"
        } else {
            "learner"
        };
        nodes.push(json!({
            "id": id,
            "provider": info.provider,
            "region": info.region,
            "zone": info.zone,
            "raftAddr": info.addr,
            "clientAddr": info.client_addr,
            "publicUrl": info.public_url,
            "role": role,
            "healthy": status.is_some(),
            "term": status.as_ref().map(|s| s.term),
            "appliedIndex": status.as_ref().and_then(|s| s.last_applied),
            "lag": status.as_ref().and_then(|s| s.last_applied).map(|a| top.saturating_sub(a)),
            "digest": status.as_ref().map(|s| s.digest.clone()),
            "configMismatch": status.as_ref().and_then(|s| s.config_mismatch.clone()),
            "format": status.as_ref().map(|s| s.format),
            "formatMax": status.as_ref().map(|s| s.format_max),
            "roundTripsMs": status.as_ref().map(|s| {
                s.round_trips_ms.iter().map(|(peer, ms)| (peer.to_string(), json!(ms))).collect::<serde_json::Map<_, _>>()
            }),
        }));
    }
    let leader = metrics.current_leader.and_then(|l| members.iter().find(|(id, _)| *id == l));
    json!({
        "node": api.me.0,
        "term": metrics.current_term,
        "format": api.reader.read().format(),
        "leader": leader.map(|(id, info)| json!({ "id": id, "provider": info.provider, "region": info.region, "zone": info.zone })),
        "nodes": nodes,
        "chains": crate::chains::view(api),
    })
}

/// The Prometheus exposition text.
fn metrics_text(api: &Shared) -> String {
    let m = api.raft.metrics().borrow_watched().clone();
    let gauges = crate::metrics::RaftGauges {
        term: m.current_term,
        applied_index: m.last_applied.map_or(0, |l| l.index),
        last_log_index: m.last_log_index.unwrap_or(0),
        is_leader: m.current_leader == Some(api.me.0),
        has_leader: m.current_leader.is_some(),
        replication_lag_entries: m
            .replication
            .iter()
            .flatten()
            .filter(|(peer, _)| **peer != api.me.0)
            .map(|(peer, matched)| {
                (*peer, m.last_log_index.unwrap_or(0).saturating_sub(matched.map_or(0, |l| l.index)))
            })
            .collect(),
        peer_clocks: api.writer.clocks.peers().into_iter().map(|(peer, c)| (peer, c.offset_ms, c.rtt_ms)).collect(),
        clock_skew_ms: api.writer.clocks.skew_ms(),
        data_format: api.reader.read().format(),
    };
    api.metrics.render(api.me.0, &gauges)
}
