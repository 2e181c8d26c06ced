//! `History`: the bounded, replicated read model, fed one applied command at a time.

use std::collections::{BTreeMap, VecDeque};

use outlast_engine::{
    AccountAction, AccountId, ClientId, Command, CommandBody, Engine, Event, EventKind, MarketId, OrderId, OrderKind,
    OrderSpec, Outcome, Side, Summary, TimeInForce, WithdrawalId,
};
use serde::{Deserialize, Serialize};

use crate::candles::{self, Ticker, MINUTE_MS};
use crate::klines::{Interval, Klines, TradeTick, KLINES_PER_SERIES_MAX};

/// One day, in ms.
const DAY_MS: u64 = 24 * 60 * MINUTE_MS;
use crate::records::{AccountTrade, DepositRow, MarketTrade, OrderRecord, OrderType};

/// How much history is kept. Part of the snapshot: replicas must evict alike.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLimits {
    /// Orders kept per account, newest first (Binance's allOrders returns at most 1,000).
    pub orders_per_account_max: usize,
    /// Trades kept per account (myTrades returns at most 1,000).
    pub trades_per_account_max: usize,
    /// Trades kept per market for the public tape (trades returns at most 1,000).
    pub trades_per_market_max: usize,
    /// Deposits kept per account.
    pub deposits_per_account_max: usize,
    /// Withdrawals kept per account.
    pub withdrawals_per_account_max: usize,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        HistoryLimits {
            orders_per_account_max: 1_000,
            trades_per_account_max: 1_000,
            trades_per_market_max: 1_000,
            deposits_per_account_max: 1_000,
            withdrawals_per_account_max: 1_000,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AccountHistory {
    /// Order ids in placement order.
    orders: VecDeque<OrderId>,
    /// Client order id → the newest order placed with it.
    client_ids: BTreeMap<ClientId, OrderId>,
    trades: VecDeque<AccountTrade>,
    deposits: VecDeque<DepositRow>,
    withdrawals: VecDeque<WithdrawalId>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MarketHistory {
    pub(crate) trades: VecDeque<MarketTrade>,
    pub(crate) klines: Klines,
    pub(crate) last_price: u64,
}

/// The read model. See the crate docs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    limits: HistoryLimits,
    orders: BTreeMap<OrderId, OrderRecord>,
    accounts: BTreeMap<AccountId, AccountHistory>,
    markets: Vec<MarketHistory>,
}

/// A history snapshot that does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryError(pub String);

impl std::fmt::Display for HistoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "history snapshot does not decode: {}", self.0)
    }
}

impl std::error::Error for HistoryError {}

/// The order a command placed, if it placed one: its id and spec.
fn placed(command: &Command, outcome: &Outcome) -> Option<(OrderId, OrderSpec)> {
    let CommandBody::Account(request) = &command.body else { return None };
    match (&request.action, outcome) {
        (AccountAction::PlaceOrder(spec), Outcome::Applied(Summary::OrderPlaced { order, .. })) => {
            Some((*order, *spec))
        }
        (AccountAction::CancelReplace { new_order, .. }, Outcome::Applied(Summary::Replaced { order, .. })) => {
            Some((*order, *new_order))
        }
        _ => None,
    }
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, len_max: usize) -> Option<T> {
    queue.push_back(item);
    if queue.len() > len_max {
        queue.pop_front()
    } else {
        None
    }
}

impl History {
    /// An empty history with these bounds.
    pub fn new(limits: HistoryLimits) -> History {
        assert!(limits.orders_per_account_max > 0 && limits.trades_per_market_max > 0);
        History { limits, ..History::default() }
    }

    /// Records what one applied command did. `engine` is the state after it.
    pub fn record(&mut self, engine: &Engine, command: &Command, outcome: &Outcome, events: &[Event]) {
        if !matches!(outcome, Outcome::Applied(_)) {
            return;
        }
        let new_order = placed(command, outcome);
        for event in events {
            match &event.kind {
                EventKind::Order(update) => {
                    if let Some(record) = self.orders.get_mut(&update.order) {
                        record.executed_qty = update.executed_qty;
                        record.executed_quote = update.executed_quote;
                        record.status = update.status;
                        record.updated_ms = update.ts_ms;
                        continue;
                    }
                    let Some((_, spec)) = new_order.filter(|(id, _)| *id == update.order) else { continue };
                    let (order_type, tif, quote_qty) = match spec.kind {
                        OrderKind::Limit { tif, .. } => (OrderType::Limit, tif, 0),
                        OrderKind::LimitMaker { .. } => (OrderType::LimitMaker, TimeInForce::Gtc, 0),
                        OrderKind::MarketBase { .. } => (OrderType::Market, TimeInForce::Gtc, 0),
                        OrderKind::MarketQuote { quote_qty } => (OrderType::Market, TimeInForce::Gtc, quote_qty),
                    };
                    let record = OrderRecord {
                        id: update.order,
                        account: update.account,
                        market: update.market,
                        client_id: update.client_id,
                        side: update.side,
                        order_type,
                        tif,
                        stp: spec.stp,
                        price: update.price,
                        qty: update.qty,
                        quote_qty,
                        executed_qty: update.executed_qty,
                        executed_quote: update.executed_quote,
                        status: update.status,
                        placed_ms: update.ts_ms,
                        updated_ms: update.ts_ms,
                    };
                    self.add_order(record);
                }
                EventKind::Trade(trade) => {
                    let market = self.market_mut(trade.market);
                    market.last_price = trade.price;
                    market.klines.add(TradeTick {
                        id: trade.trade,
                        price: trade.price,
                        qty: trade.qty,
                        quote: trade.quote_qty,
                        taker_buys: trade.taker_side == Side::Buy,
                        ts_ms: trade.ts_ms,
                    });
                    let row = MarketTrade {
                        id: trade.trade,
                        price: trade.price,
                        qty: trade.qty,
                        quote_qty: trade.quote_qty,
                        buyer_is_maker: trade.taker_side == Side::Sell,
                        ts_ms: trade.ts_ms,
                    };
                    let len_max = self.limits.trades_per_market_max;
                    push_bounded(&mut self.market_mut(trade.market).trades, row, len_max);
                    let Some(spec) = engine.markets().get(trade.market as usize).map(|m| &m.spec) else { continue };
                    let sides = [
                        (trade.maker_account, trade.maker_order, trade.taker_side.opposite(), true, trade.maker_fee),
                        (trade.taker_account, trade.taker_order, trade.taker_side, false, trade.taker_fee),
                    ];
                    for (account, order, side, is_maker, commission) in sides {
                        let is_buyer = side == Side::Buy;
                        let row = AccountTrade {
                            id: trade.trade,
                            market: trade.market,
                            order,
                            price: trade.price,
                            qty: trade.qty,
                            quote_qty: trade.quote_qty,
                            commission,
                            commission_asset: if is_buyer { spec.base } else { spec.quote },
                            is_buyer,
                            is_maker,
                            ts_ms: trade.ts_ms,
                        };
                        let len_max = self.limits.trades_per_account_max;
                        push_bounded(&mut self.accounts.entry(account).or_default().trades, row, len_max);
                    }
                }
                EventKind::Deposit { deposit, account, asset, amount } => {
                    let chain_tx = match &command.body {
                        CommandBody::Deposit { chain_tx, .. } => chain_tx.clone(),
                        // One of a range's deposits: the one the engine recorded under this id.
                        CommandBody::ChainDeposits { chain, deposits, .. } => {
                            let keys = deposits.iter().map(|d| outlast_engine::deposit_key(chain, &d.tx, d.log_index));
                            let found = keys
                                .into_iter()
                                .find(|key| engine.deposit_record(key).is_some_and(|r| r.id == *deposit));
                            let Some(key) = found else { continue };
                            key
                        }
                        _ => continue,
                    };
                    let row = DepositRow {
                        id: *deposit,
                        asset: *asset,
                        amount: *amount,
                        chain_tx,
                        ts_ms: command.ts_ms.max(engine.now_ms()),
                    };
                    let len_max = self.limits.deposits_per_account_max;
                    push_bounded(&mut self.accounts.entry(*account).or_default().deposits, row, len_max);
                }
                // A withdrawal's first event: Requested, or waiting for approval (whose approval
                // then says Requested again, and is already listed).
                EventKind::Withdrawal {
                    withdrawal,
                    account,
                    state: outlast_engine::WithdrawalState::Requested | outlast_engine::WithdrawalState::PendingApproval,
                } => {
                    let len_max = self.limits.withdrawals_per_account_max;
                    let listed = &mut self.accounts.entry(*account).or_default().withdrawals;
                    if !listed.contains(withdrawal) {
                        push_bounded(listed, *withdrawal, len_max);
                    }
                }
                EventKind::Withdrawal { .. }
                | EventKind::Balance { .. }
                | EventKind::Depth(_)
                | EventKind::Market { .. } => {}
            }
        }
    }

    fn market_mut(&mut self, market: MarketId) -> &mut MarketHistory {
        let index = market as usize;
        if self.markets.len() <= index {
            self.markets.resize_with(index + 1, MarketHistory::default);
        }
        &mut self.markets[index]
    }

    fn add_order(&mut self, record: OrderRecord) {
        let (id, account, client_id) = (record.id, record.account, record.client_id);
        self.orders.insert(id, record);
        let len_max = self.limits.orders_per_account_max;
        let history = self.accounts.entry(account).or_default();
        history.client_ids.insert(client_id, id);
        if let Some(evicted) = push_bounded(&mut history.orders, id, len_max) {
            let gone = self.orders.remove(&evicted).expect("every listed order is recorded");
            if history.client_ids.get(&gone.client_id) == Some(&evicted) {
                history.client_ids.remove(&gone.client_id);
            }
        }
    }

    /// An order by engine id.
    pub fn order(&self, id: OrderId) -> Option<&OrderRecord> {
        self.orders.get(&id)
    }

    /// The newest order an account placed with this client order id.
    pub fn order_by_client_id(&self, account: AccountId, client_id: &ClientId) -> Option<&OrderRecord> {
        let id = self.accounts.get(&account)?.client_ids.get(client_id)?;
        self.orders.get(id)
    }

    /// An account's kept orders in one market, oldest first.
    pub fn orders_of(&self, account: AccountId, market: MarketId) -> impl Iterator<Item = &OrderRecord> {
        let ids = self.accounts.get(&account).map(|h| &h.orders);
        ids.into_iter().flatten().filter_map(|id| self.orders.get(id)).filter(move |o| o.market == market)
    }

    /// An account's kept trades in one market, oldest first.
    pub fn trades_of(&self, account: AccountId, market: MarketId) -> impl Iterator<Item = &AccountTrade> {
        let trades = self.accounts.get(&account).map(|h| &h.trades);
        trades.into_iter().flatten().filter(move |t| t.market == market)
    }

    /// The fills of one order, oldest first (as far as kept).
    pub fn fills_of(&self, account: AccountId, order: OrderId) -> impl Iterator<Item = &AccountTrade> {
        let trades = self.accounts.get(&account).map(|h| &h.trades);
        trades.into_iter().flatten().filter(move |t| t.order == order)
    }

    /// A market's recent public trades, oldest first.
    pub fn market_trades(&self, market: MarketId) -> impl Iterator<Item = &MarketTrade> {
        self.markets.get(market as usize).map(|m| &m.trades).into_iter().flatten()
    }

    /// A market's last trade price (0 before any trade).
    pub fn last_price(&self, market: MarketId) -> u64 {
        self.markets.get(market as usize).map_or(0, |m| m.last_price)
    }

    /// A market's candles (`klines`), empty before its first trade.
    pub fn klines(&self, market: MarketId) -> Option<&Klines> {
        self.markets.get(market as usize).map(|m| &m.klines)
    }

    /// A market's statistics over the 24 hours before `now_ms`.
    pub fn ticker(&self, market: MarketId, now_ms: u64) -> Ticker {
        self.ticker_since(market, now_ms.saturating_sub(DAY_MS), now_ms)
    }

    /// A market's statistics over the trades from `since_ms` to `now_ms`: from the minute's
    /// candles within the last day (the window starts at a minute boundary), from the hour's
    /// before that (the window starts at the hour before `since_ms`, wider by under an hour).
    pub fn ticker_since(&self, market: MarketId, since_ms: u64, now_ms: u64) -> Ticker {
        let Some(m) = self.markets.get(market as usize) else {
            return candles::ticker(&VecDeque::new(), since_ms);
        };
        if now_ms.saturating_sub(since_ms) <= DAY_MS {
            return candles::ticker(m.klines.minutes(), since_ms);
        }
        let hour_ms = 60 * MINUTE_MS;
        let since_ms = since_ms - since_ms % hour_ms;
        let hours = m.klines.query(Interval::H1, 0, Some(since_ms), None, KLINES_PER_SERIES_MAX);
        candles::ticker(&hours, since_ms)
    }

    /// An account's kept deposits, oldest first.
    pub fn deposits_of(&self, account: AccountId) -> impl Iterator<Item = &DepositRow> {
        self.accounts.get(&account).map(|h| &h.deposits).into_iter().flatten()
    }

    /// An account's kept withdrawal ids, oldest first (their state is the engine's).
    pub fn withdrawals_of(&self, account: AccountId) -> impl Iterator<Item = WithdrawalId> + '_ {
        self.accounts.get(&account).map(|h| &h.withdrawals).into_iter().flatten().copied()
    }

    /// The history as bytes (canonical: every map is ordered).
    pub fn snapshot(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("encoding into memory cannot fail")
    }

    /// A history from `snapshot()` bytes, or from an older build's (`legacy`).
    pub fn restore(bytes: &[u8]) -> Result<History, HistoryError> {
        match postcard::take_from_bytes::<History>(bytes) {
            Ok((history, [])) if history.markets.iter().all(|m| m.klines.well_formed()) => Ok(history),
            Ok(_) => crate::legacy::restore_v1(bytes).ok_or_else(|| HistoryError("bytes left over".into())),
            Err(error) => crate::legacy::restore_v1(bytes).ok_or_else(|| HistoryError(error.to_string())),
        }
    }

    pub(crate) fn from_parts(
        limits: HistoryLimits,
        orders: BTreeMap<OrderId, OrderRecord>,
        accounts: BTreeMap<AccountId, AccountHistory>,
        markets: Vec<MarketHistory>,
    ) -> History {
        History { limits, orders, accounts, markets }
    }
}
