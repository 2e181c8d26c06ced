//! Snapshots: the whole state as canonical bytes, restore from them, and the state digest.
//!
//! The encoding is canonical — every collection is written in a defined order (ids ascending,
//! orders in priority), never in hash order — so equal states give equal bytes, and the digest
//! (SHA-256 of those bytes) is equal on replicas that applied the same log. A restored engine is
//! checked against every invariant before it is handed out; a snapshot that fails is an error,
//! never a half-restored engine.
//!
//! A snapshot is written in the cluster's active data format (see `format`), so a build that
//! reads only the older format can still install it until the operator finalises: format 1 is
//! the base state; format 2 appends the assets whose withdrawals are paused; format 3 appends
//! the chains followed and the withdrawals paid on chain. (Unversioned snapshots, from before
//! data formats, said 4: the next format after 3 must be numbered 5.)

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::account::{Account, Balance, IdEntry};
use crate::api_keys::ApiKey;
use crate::audit::AuditRecord;
use crate::book::{Book, RestingOrder};
use crate::chain::{ChainPayment, ChainState};
use crate::engine::{Asset, DepositRecord, Engine, Market, Withdrawal};
use crate::format::{FORMAT_CURRENT, FORMAT_FIRST};
use crate::ids::IdRecord;
use crate::limits::Limits;
use crate::listen_keys::ListenKey;
use crate::types::{AccountId, AssetId, ClientId, OrderId, Side, StpMode, WithdrawalId};

/// The last unversioned snapshot encoding, written before data formats existed.
const LEGACY_FORMAT: u32 = 4;

/// What format 2 appends to a format-1 snapshot.
#[derive(Serialize, Deserialize)]
struct SinceFormat2 {
    /// Assets whose withdrawal requests are refused, ascending.
    withdrawals_paused: Vec<AssetId>,
}

/// What format 3 appends to a format-2 snapshot.
#[derive(Serialize, Deserialize, Default)]
struct SinceFormat3 {
    /// The chains followed, by name.
    chains: Vec<(String, ChainState)>,
    /// Withdrawals paid on chain, by id.
    chain_payments: Vec<(WithdrawalId, ChainPayment)>,
    /// The withdrawal controls.
    controls: crate::controls::Controls,
}

/// Why a snapshot could not be restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// The bytes are not a snapshot.
    Decode(String),
    /// The snapshot was written by an unknown format version.
    Format(u32),
    /// The snapshot decodes but its state breaks an invariant.
    Invariant(String),
}

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotError::Decode(why) => write!(f, "snapshot does not decode: {why}"),
            SnapshotError::Format(format) if *format > FORMAT_CURRENT && *format != LEGACY_FORMAT => write!(
                f,
                "snapshot is data format {format}, newer than this build reads (formats {FORMAT_FIRST} to \
                 {FORMAT_CURRENT}): run a newer build"
            ),
            SnapshotError::Format(format) => {
                write!(f, "snapshot format {format} predates versioned data formats: restore from a backup instead")
            }
            SnapshotError::Invariant(why) => write!(f, "snapshot breaks an invariant: {why}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    format: u32,
    limits: Limits,
    now_ms: u64,
    seq: u64,
    next_order_id: u64,
    next_trade_id: u64,
    next_deposit_id: u64,
    assets: Vec<Asset>,
    markets: Vec<MarketSnapshot>,
    accounts: Vec<AccountSnapshot>,
    deposits: Vec<(String, DepositRecord)>,
    withdrawals: Vec<Withdrawal>,
    /// API keys (revoked ones included: revocation is final), by name.
    api_keys: Vec<ApiKey>,
    /// The open listen keys, by key.
    listen_keys: Vec<ListenKey>,
    /// The audit trail, oldest first, and how many records were ever made.
    audit: Vec<AuditRecord>,
    audit_total: u64,
    /// Remembered ids in apply order (stale records included: they drive forgetting).
    id_ring: Vec<IdRecord>,
    /// Ids kept past their window for resting orders, sorted.
    id_kept: Vec<(AccountId, ClientId, IdEntry)>,
}

#[derive(Serialize, Deserialize)]
struct MarketSnapshot {
    market: Market,
    update_id: u64,
    /// Bids then asks, each in priority order.
    orders: Vec<OrderSnapshot>,
}

#[derive(Serialize, Deserialize)]
struct OrderSnapshot {
    id: OrderId,
    account: AccountId,
    client_id: ClientId,
    side: Side,
    stp: StpMode,
    price_ticks: u64,
    qty_lots: u64,
    remaining_lots: u64,
    executed_quote: u64,
    placed_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct AccountSnapshot {
    id: AccountId,
    balances: Vec<Balance>,
}

impl Engine {
    /// The whole state as canonical bytes.
    pub fn snapshot(&self) -> Vec<u8> {
        let markets = self
            .markets
            .iter()
            .zip(&self.books)
            .map(|(market, book)| MarketSnapshot {
                market: market.clone(),
                update_id: book.update_id,
                orders: [Side::Buy, Side::Sell]
                    .into_iter()
                    .flat_map(|side| book.iter_side(side))
                    .map(|slot| {
                        let o = book.order(slot);
                        OrderSnapshot {
                            id: o.id,
                            account: o.account,
                            client_id: o.client_id,
                            side: o.side,
                            stp: o.stp,
                            price_ticks: o.price_ticks,
                            qty_lots: o.qty_lots,
                            remaining_lots: o.remaining_lots,
                            executed_quote: o.executed_quote,
                            placed_ms: o.placed_ms,
                        }
                    })
                    .collect(),
            })
            .collect();
        let mut account_ids: Vec<AccountId> = self.accounts.keys().copied().collect();
        account_ids.sort_unstable();
        let accounts = account_ids
            .into_iter()
            .map(|id| {
                let account = &self.accounts[&id];
                AccountSnapshot { id, balances: account.balances.clone() }
            })
            .collect();
        let snapshot = Snapshot {
            format: self.format,
            limits: self.limits.clone(),
            now_ms: self.now_ms,
            seq: self.seq,
            next_order_id: self.next_order_id,
            next_trade_id: self.next_trade_id,
            next_deposit_id: self.next_deposit_id,
            assets: self.assets.clone(),
            markets,
            accounts,
            deposits: self.deposits.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            withdrawals: self.withdrawals.clone(),
            api_keys: self.api_keys.values().cloned().collect(),
            listen_keys: self.listen_keys.all().cloned().collect(),
            audit: self.audit.iter().cloned().collect(),
            audit_total: self.audit_total,
            id_ring: self.ids.ring().copied().collect(),
            id_kept: self.ids.kept().map(|(&(account, id), &entry)| (account, id, entry)).collect(),
        };
        let mut bytes = postcard::to_allocvec(&snapshot).expect("encoding into memory cannot fail");
        if self.format >= 2 {
            let since_2 = SinceFormat2 { withdrawals_paused: self.withdrawals_paused.iter().copied().collect() };
            bytes.extend(postcard::to_allocvec(&since_2).expect("encoding into memory cannot fail"));
        } else {
            assert!(self.withdrawals_paused.is_empty(), "format 1 cannot pause withdrawals");
        }
        if self.format >= 3 {
            let since_3 = SinceFormat3 {
                chains: self.chains.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                chain_payments: self.chain_payments.iter().map(|(k, v)| (*k, v.clone())).collect(),
                controls: self.controls.clone(),
            };
            bytes.extend(postcard::to_allocvec(&since_3).expect("encoding into memory cannot fail"));
        } else {
            assert!(self.chains.is_empty() && self.chain_payments.is_empty(), "chains need format 3");
            assert_eq!(self.controls, Default::default(), "withdrawal controls need format 3");
        }
        bytes
    }

    /// Rebuilds an engine from `snapshot()` bytes, checking every invariant (hash seed 0).
    pub fn restore(bytes: &[u8]) -> Result<Engine, SnapshotError> {
        Engine::restore_with_seed(bytes, 0)
    }

    /// Rebuilds an engine from `snapshot()` bytes with its own hash seed (see `with_hash_seed`).
    pub fn restore_with_seed(bytes: &[u8], hash_seed: u64) -> Result<Engine, SnapshotError> {
        // The format leads the encoding: check it before decoding what it governs.
        let (format, _) = postcard::take_from_bytes::<u32>(bytes).map_err(|e| SnapshotError::Decode(e.to_string()))?;
        if !(FORMAT_FIRST..=FORMAT_CURRENT).contains(&format) {
            return Err(SnapshotError::Format(format));
        }
        let decode = |e: postcard::Error| SnapshotError::Decode(e.to_string());
        let (snapshot, rest): (Snapshot, _) = postcard::take_from_bytes(bytes).map_err(decode)?;
        let (since_2, rest) = match format {
            1 => (SinceFormat2 { withdrawals_paused: Vec::new() }, rest),
            _ => postcard::take_from_bytes::<SinceFormat2>(rest).map_err(decode)?,
        };
        let (since_3, rest) = match format {
            1 | 2 => (SinceFormat3::default(), rest),
            _ => postcard::take_from_bytes::<SinceFormat3>(rest).map_err(decode)?,
        };
        if !rest.is_empty() {
            return Err(SnapshotError::Decode(format!("{} bytes after the format-{format} state", rest.len())));
        }
        let mut engine = Engine::with_hash_seed(snapshot.limits, hash_seed);
        engine.format = format;
        let assets = snapshot.assets.len();
        if !since_2.withdrawals_paused.windows(2).all(|pair| pair[0] < pair[1])
            || since_2.withdrawals_paused.iter().any(|&asset| asset as usize >= assets)
        {
            return Err(SnapshotError::Invariant("paused assets unsorted or unknown".into()));
        }
        engine.withdrawals_paused = since_2.withdrawals_paused.into_iter().collect();
        let sorted_chains = since_3.chains.windows(2).all(|pair| pair[0].0 < pair[1].0);
        let sorted_payments = since_3.chain_payments.windows(2).all(|pair| pair[0].0 < pair[1].0);
        if !sorted_chains || !sorted_payments {
            return Err(SnapshotError::Invariant("chains or chain payments unsorted".into()));
        }
        engine.chains = since_3.chains.into_iter().collect();
        engine.chain_payments = since_3.chain_payments.into_iter().collect();
        engine.controls = since_3.controls;
        engine.now_ms = snapshot.now_ms;
        engine.seq = snapshot.seq;
        engine.next_order_id = snapshot.next_order_id;
        engine.next_trade_id = snapshot.next_trade_id;
        engine.next_deposit_id = snapshot.next_deposit_id;
        engine.assets = snapshot.assets;
        engine.accounts.clear();
        for a in snapshot.accounts {
            let account = Account { balances: a.balances, ..Account::default() };
            if engine.accounts.insert(a.id, account).is_some() {
                return Err(SnapshotError::Invariant(format!("account {} twice", a.id)));
            }
        }
        for m in snapshot.markets {
            let mut book = Book::default();
            book.update_id = m.update_id;
            for o in m.orders {
                if o.remaining_lots == 0 || o.remaining_lots > o.qty_lots || book.slot_of(o.id).is_some() {
                    return Err(SnapshotError::Invariant(format!("order {} malformed", o.id)));
                }
                let owner = engine
                    .accounts
                    .get_mut(&o.account)
                    .ok_or_else(|| SnapshotError::Invariant(format!("order {} has no owner", o.id)))?;
                owner.open_orders += 1;
                book.insert(RestingOrder::new(
                    o.id,
                    o.account,
                    o.client_id,
                    o.side,
                    o.stp,
                    o.price_ticks,
                    o.qty_lots,
                    o.remaining_lots,
                    o.executed_quote,
                    o.placed_ms,
                ));
            }
            book.take_touched(&mut engine.touched_levels);
            engine.touched_levels.clear();
            engine.markets.push(m.market);
            engine.books.push(book);
        }
        engine.deposits = snapshot.deposits.into_iter().collect();
        engine.withdrawals = snapshot.withdrawals;
        for entry in snapshot.api_keys {
            let account = entry.spec.account;
            let malformed = crate::api_keys::spec_reject(&entry.spec).is_some();
            if malformed || !engine.accounts.contains_key(&account) {
                return Err(SnapshotError::Invariant(format!("api key for account {account} malformed")));
            }
            if engine.api_keys.insert(entry.spec.key.clone(), entry).is_some() {
                return Err(SnapshotError::Invariant("api key registered twice".into()));
            }
        }
        let owners_known = snapshot.listen_keys.iter().all(|k| engine.accounts.contains_key(&k.account));
        engine.listen_keys = crate::listen_keys::ListenKeys::restore(snapshot.listen_keys)
            .filter(|_| owners_known)
            .ok_or_else(|| SnapshotError::Invariant("listen keys shared or of unknown accounts".into()))?;
        let numbers_rise = snapshot.audit.windows(2).all(|pair| pair[0].number < pair[1].number);
        let last_fits = snapshot.audit.last().is_none_or(|last| last.number <= snapshot.audit_total);
        if !numbers_rise || !last_fits || snapshot.audit.len() as u64 > engine.limits.audit_records_max {
            return Err(SnapshotError::Invariant("audit trail out of order or over its limit".into()));
        }
        engine.audit = snapshot.audit.into();
        engine.audit_total = snapshot.audit_total;
        if snapshot.id_ring.len() > crate::ids::RING_RECORDS_MAX {
            return Err(SnapshotError::Invariant("more remembered ids than the index can address".into()));
        }
        for record in snapshot.id_ring {
            let owner = engine
                .accounts
                .get_mut(&record.account)
                .ok_or_else(|| SnapshotError::Invariant(format!("id of unknown account {}", record.account)))?;
            owner.queued_ids += 1;
            let hash = engine.ids.hash(record.account, &record.id);
            engine.ids.push(hash, record.account, record.id, record.entry);
        }
        for (account, id, entry) in snapshot.id_kept {
            engine.ids.insert_kept(account, id, entry);
        }
        engine.check_invariants().map_err(SnapshotError::Invariant)?;
        Ok(engine)
    }

    /// SHA-256 over the canonical snapshot: equal on replicas that applied the same log.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.snapshot()).into()
    }

    /// The digest as lower-case hex.
    pub fn digest_hex(&self) -> String {
        self.digest().iter().map(|byte| format!("{byte:02x}")).collect()
    }
}
