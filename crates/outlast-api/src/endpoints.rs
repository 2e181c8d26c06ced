//! The API as a table: every REST endpoint's method, path, request weight, read consistency,
//! exchange function, credential and handler, in one place.
//!
//! The front door (`rest`) routes, charges, authenticates and dispatches from this table alone,
//! so adding an endpoint is adding a row and its handler. The table holds no logic beyond
//! Binance's weight rules; it must never hold a second copy of anything a handler decides.
//! A path served under two names (`/health` and `/operator/v1/health`) is two rows.

use axum::http::Method;

use crate::endpoint::Handler::{Internal, Key, Operator, Public, Signed};
use crate::endpoint::Reads::{Linearizable, Local, Logged};
use crate::endpoint::Weight::{Computed, Fixed, Free, PerSymbol};
use crate::endpoint::{row, Endpoint};
use crate::function::Function::{
    AccountReads, Cancels, DepositCredits, MarketData, OrderPlacement, WithdrawalRequests,
};
use crate::params::Params;
use crate::{
    absent, account_rules, cancel_replace, klines, operator, public, status, tickers, trading, user_stream, wallet,
};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const DELETE: Method = Method::DELETE;

/// The price and book tickers: one market, or every market.
const TICKER: crate::endpoint::Weight = PerSymbol { one: 2, all: 4 };

/// Every REST endpoint: method, path, weight, reads, function (for the status page's impact
/// per function), credential(handler).
pub static ENDPOINTS: &[Endpoint] = &[
    // Market data.
    row(GET, "/api/v3/ping", Fixed(1), Local, None, Public(public::ping)),
    row(GET, "/api/v3/time", Fixed(1), Local, None, Public(public::time)),
    row(GET, "/api/v3/exchangeInfo", Fixed(20), Local, Some(MarketData), Public(public::exchange_info)),
    row(GET, "/api/v3/depth", Computed(depth_weight), Local, Some(MarketData), Public(public::depth)),
    row(GET, "/api/v3/trades", Fixed(25), Local, Some(MarketData), Public(public::trades)),
    row(GET, "/api/v3/historicalTrades", Fixed(25), Local, Some(MarketData), Public(public::historical_trades)),
    row(GET, "/api/v3/aggTrades", Fixed(4), Local, Some(MarketData), Public(public::agg_trades)),
    row(GET, "/api/v3/klines", Fixed(2), Local, Some(MarketData), Public(klines::klines)),
    row(GET, "/api/v3/uiKlines", Fixed(2), Local, Some(MarketData), Public(klines::ui_klines)),
    row(GET, "/api/v3/avgPrice", Fixed(2), Local, Some(MarketData), Public(klines::avg_price)),
    row(GET, "/api/v3/ticker/price", TICKER, Local, Some(MarketData), Public(public::ticker_price)),
    row(GET, "/api/v3/ticker/bookTicker", TICKER, Local, Some(MarketData), Public(public::book_ticker)),
    row(GET, "/api/v3/ticker/24hr", Computed(day_weight), Local, Some(MarketData), Public(tickers::day)),
    row(GET, "/api/v3/ticker", Computed(tickers::window_weight), Local, Some(MarketData), Public(tickers::rolling)),
    row(
        GET,
        "/api/v3/ticker/tradingDay",
        Computed(tickers::window_weight),
        Local,
        Some(MarketData),
        Public(tickers::trading_day),
    ),
    // Trading, for the signing key's account.
    row(POST, "/api/v3/order", Fixed(1), Logged, Some(OrderPlacement), Signed(trading::new_order)),
    row(GET, "/api/v3/order", Fixed(4), Linearizable, Some(AccountReads), Signed(trading::query_order)),
    row(DELETE, "/api/v3/order", Fixed(1), Logged, Some(Cancels), Signed(trading::cancel_order)),
    row(POST, "/api/v3/order/test", Fixed(1), Local, None, Signed(trading::test_order)),
    row(
        POST,
        "/api/v3/order/cancelReplace",
        Fixed(1),
        Logged,
        Some(OrderPlacement),
        Signed(cancel_replace::cancel_replace),
    ),
    row(GET, "/api/v3/account/commission", Fixed(20), Linearizable, None, Signed(account_rules::commission)),
    row(GET, "/api/v3/rateLimit/order", Fixed(40), Linearizable, None, Signed(account_rules::order_rate_limits)),
    row(
        GET,
        "/api/v3/myPreventedMatches",
        Fixed(2),
        Linearizable,
        Some(AccountReads),
        Signed(account_rules::prevented_matches),
    ),
    // Order lists: refused (see `account_rules`); their queries list none.
    row(POST, "/api/v3/orderList/oco", Fixed(1), Logged, None, Signed(account_rules::place_order_list)),
    row(POST, "/api/v3/orderList/oto", Fixed(1), Logged, None, Signed(account_rules::place_order_list)),
    row(POST, "/api/v3/orderList/otoco", Fixed(1), Logged, None, Signed(account_rules::place_order_list)),
    row(POST, "/api/v3/order/oco", Fixed(1), Logged, None, Signed(account_rules::place_order_list)),
    row(GET, "/api/v3/openOrderList", Fixed(6), Linearizable, None, Signed(account_rules::order_lists)),
    row(GET, "/api/v3/allOrderList", Fixed(20), Linearizable, None, Signed(account_rules::order_lists)),
    row(
        GET,
        "/api/v3/openOrders",
        PerSymbol { one: 6, all: 80 },
        Linearizable,
        Some(AccountReads),
        Signed(trading::open_orders),
    ),
    row(DELETE, "/api/v3/openOrders", Fixed(1), Logged, Some(Cancels), Signed(trading::cancel_open_orders)),
    row(GET, "/api/v3/allOrders", Fixed(20), Linearizable, Some(AccountReads), Signed(trading::all_orders)),
    row(GET, "/api/v3/myTrades", Fixed(20), Linearizable, Some(AccountReads), Signed(trading::my_trades)),
    row(GET, "/api/v3/account", Fixed(20), Linearizable, Some(AccountReads), Signed(trading::account)),
    // The user data stream's listen keys.
    row(POST, "/api/v3/userDataStream", Fixed(1), Logged, None, Key(user_stream::new_listen_key)),
    row(PUT, "/api/v3/userDataStream", Fixed(1), Logged, None, Key(user_stream::keep_listen_key)),
    row(DELETE, "/api/v3/userDataStream", Fixed(1), Logged, None, Key(user_stream::close_listen_key)),
    // Wallet.
    row(POST, "/sapi/v1/capital/withdraw/apply", Fixed(1), Logged, Some(WithdrawalRequests), Signed(wallet::withdraw)),
    row(
        POST,
        "/sapi/v1/capital/withdraw/allowlist",
        Fixed(1),
        Logged,
        Some(WithdrawalRequests),
        Signed(wallet::add_allowlist_address),
    ),
    row(
        GET,
        "/sapi/v1/capital/deposit/address",
        Fixed(10),
        Linearizable,
        Some(AccountReads),
        Signed(wallet::deposit_address),
    ),
    row(
        GET,
        "/sapi/v1/capital/withdraw/history",
        Fixed(1),
        Linearizable,
        Some(AccountReads),
        Signed(wallet::withdraw_history),
    ),
    row(
        GET,
        "/sapi/v1/capital/deposit/hisrec",
        Fixed(1),
        Linearizable,
        Some(AccountReads),
        Signed(wallet::deposit_history),
    ),
    row(GET, "/sapi/v1/capital/config/getall", Fixed(10), Linearizable, Some(AccountReads), Signed(wallet::coins)),
    // Features Binance has and this exchange does not: valid, empty answers (see `absent`).
    // Binance asks only for a key here, but libraries sign every `/sapi` call; signed is the
    // stricter of the two and what they send.
    row(GET, "/sapi/v1/margin/allPairs", Fixed(1), Linearizable, None, Signed(absent::margin_pairs)),
    row(GET, "/sapi/v1/margin/isolated/allPairs", Fixed(10), Linearizable, None, Signed(absent::margin_pairs)),
    row(GET, "/fapi/v1/exchangeInfo", Fixed(1), Local, None, Public(absent::futures_exchange_info)),
    row(GET, "/dapi/v1/exchangeInfo", Fixed(1), Local, None, Public(absent::futures_exchange_info)),
    // The operator.
    row(POST, "/operator/v1/assets", Free, Logged, None, Operator(operator::create_asset)),
    row(POST, "/operator/v1/markets", Free, Logged, None, Operator(operator::create_market)),
    row(POST, "/operator/v1/markets/status", Free, Logged, None, Operator(operator::market_status)),
    row(POST, "/operator/v1/accounts", Free, Logged, None, Operator(operator::create_account)),
    row(POST, "/operator/v1/apiKeys", Free, Logged, None, Operator(operator::create_key)),
    row(DELETE, "/operator/v1/apiKeys", Free, Logged, None, Operator(operator::revoke_key)),
    row(POST, "/operator/v1/deposits", Free, Logged, Some(DepositCredits), Operator(operator::deposit)),
    row(GET, "/operator/v1/withdrawals", Free, Linearizable, None, Operator(operator::withdrawals)),
    row(POST, "/operator/v1/withdrawals/sent", Free, Logged, None, Operator(operator::withdrawal_sent)),
    row(POST, "/operator/v1/withdrawals/confirmed", Free, Logged, None, Operator(operator::withdrawal_confirmed)),
    row(POST, "/operator/v1/withdrawals/failed", Free, Logged, None, Operator(operator::withdrawal_failed)),
    row(POST, "/operator/v1/withdrawals/pause", Free, Logged, None, Operator(operator::withdrawals_pause)),
    row(POST, "/operator/v1/withdrawals/policy", Free, Logged, None, Operator(operator::withdrawals_policy)),
    row(POST, "/operator/v1/withdrawals/approve", Free, Logged, None, Operator(operator::withdrawals_approve)),
    row(GET, "/operator/v1/cluster", Free, Local, None, Operator(operator::cluster)),
    row(POST, "/operator/v1/upgrade/finalize", Free, Logged, None, Operator(operator::finalize_upgrade)),
    row(GET, "/operator/v1/audit", Free, Local, None, Operator(operator::audit)),
    // Backups (`outlast backup`): the applied state, and the committed log after it.
    row(GET, "/operator/v1/backup/base", Free, Local, None, Operator(operator::backup_base)),
    row(GET, "/operator/v1/backup/log", Free, Local, None, Operator(operator::backup_log)),
    row(GET, "/operator/v1/audit/actions", Free, Linearizable, None, Operator(operator::audit_actions)),
    // Probes for load balancers and Prometheus: no token, never charged.
    row(GET, "/operator/v1/health", Free, Local, None, Public(operator::health)),
    row(GET, "/health", Free, Local, None, Public(operator::health)),
    row(GET, "/operator/v1/ready", Free, Local, None, Public(operator::ready)),
    row(GET, "/ready", Free, Local, None, Public(operator::ready)),
    row(GET, "/metrics", Free, Local, None, Internal(operator::metrics)),
    row(GET, "/operator/v1/metrics", Free, Local, None, Internal(operator::metrics)),
    // The public status page's data.
    row(GET, "/status/v1/cluster", Fixed(1), Local, None, Public(status::cluster)),
    row(GET, "/status/v1/history", Fixed(1), Local, None, Public(status::history)),
];

/// The endpoint for a method and path. A known path with another method is not found either
/// (404, as Binance answers).
pub fn route(method: &Method, path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|endpoint| endpoint.method == method && endpoint.path == path)
}

/// Binance's depth weight, by the `limit` asked for (100 if absent or unreadable).
/// Binance's `ticker/24hr` weight: 2 for a symbol, 80 for all, by count for `symbols`
/// (2 up to 20, 40 up to 100).
fn day_weight(params: &Params) -> u32 {
    match (params.peek("symbol"), params.peek("symbols")) {
        (Some(_), _) => 2,
        (None, Some(_)) if public::symbol_count(params) <= 20 => 2,
        (None, Some(_)) => 40,
        (None, None) => 80,
    }
}

fn depth_weight(params: &Params) -> u32 {
    match params.peek("limit").and_then(|limit| limit.parse::<u32>().ok()).unwrap_or(100) {
        0..=100 => 5,
        101..=500 => 25,
        501..=1000 => 50,
        _ => 250,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::{Handler, Reads, Weight};

    /// The credential a row asks for.
    fn credential(method: Method, path: &str) -> &'static str {
        match route(&method, path).expect("listed").handler {
            Handler::Public(_) => "public",
            Handler::Operator(_) => "operator",
            Handler::Internal(_) => "internal",
            Handler::Key(_) => "key",
            Handler::Signed(_) => "signed",
        }
    }

    #[test]
    fn every_method_and_path_is_listed_once() {
        for (i, a) in ENDPOINTS.iter().enumerate() {
            for b in &ENDPOINTS[i + 1..] {
                assert!(a.method != b.method || a.path != b.path, "{} {} is listed twice", a.method, a.path);
            }
        }
    }

    #[test]
    fn the_operator_is_never_charged_and_keys_always_are() {
        for endpoint in ENDPOINTS {
            let free = matches!(endpoint.weight, Weight::Free);
            match endpoint.handler {
                Handler::Operator(_) | Handler::Internal(_) => assert!(free, "{} {}", endpoint.method, endpoint.path),
                Handler::Key(_) | Handler::Signed(_) => assert!(!free, "{} {}", endpoint.method, endpoint.path),
                Handler::Public(_) => {}
            }
        }
    }

    #[test]
    fn every_account_read_is_linearizable_and_every_change_goes_through_the_log() {
        for endpoint in ENDPOINTS {
            let (method, path) = (&endpoint.method, endpoint.path);
            let signed = matches!(endpoint.handler, Handler::Signed(_));
            if signed && *method == GET {
                assert_eq!(endpoint.reads, Reads::Linearizable, "{method} {path} reads an account");
            }
            if *method != GET && !path.ends_with("/order/test") {
                assert_eq!(endpoint.reads, Reads::Logged, "{method} {path} changes state");
            }
            if matches!(endpoint.handler, Handler::Public(_)) {
                assert_eq!(endpoint.reads, Reads::Local, "{method} {path} is public");
            }
        }
        assert_eq!(route(&GET, "/operator/v1/withdrawals").unwrap().reads, Reads::Linearizable, "payouts read it");
    }

    #[test]
    fn routes_credentials_and_weights_are_binances() {
        let params = |query: &str| Params::parse(query.as_bytes(), b"").unwrap();
        let weight = |method: Method, path: &str, query: &str| route(&method, path).unwrap().weight.of(&params(query));
        assert_eq!(weight(GET, "/api/v3/depth", ""), Some(5));
        assert_eq!(weight(GET, "/api/v3/depth", "limit=500"), Some(25));
        assert_eq!(weight(GET, "/api/v3/depth", "limit=1000"), Some(50));
        assert_eq!(weight(GET, "/api/v3/depth", "limit=5000"), Some(250));
        assert_eq!(weight(GET, "/api/v3/ticker/price", "symbol=BTCUSDT"), Some(2));
        assert_eq!(weight(GET, "/api/v3/ticker/bookTicker", ""), Some(4));
        assert_eq!(weight(GET, "/api/v3/ticker/24hr", ""), Some(80));
        assert_eq!(weight(GET, "/api/v3/openOrders", "symbol=BTCUSDT"), Some(6));
        assert_eq!(weight(GET, "/api/v3/account", ""), Some(20));
        assert_eq!(weight(GET, "/health", ""), None);
        assert_eq!(credential(GET, "/metrics"), "internal");
        assert_eq!(credential(PUT, "/api/v3/userDataStream"), "key");
        assert_eq!(credential(DELETE, "/api/v3/openOrders"), "signed");
        assert_eq!(credential(GET, "/operator/v1/audit"), "operator");
        assert_eq!(credential(GET, "/sapi/v1/margin/allPairs"), "signed");
        assert_eq!(credential(GET, "/sapi/v1/capital/config/getall"), "signed");
        let symbols = |n: usize| format!("symbols=[{}]", vec!["\"A\""; n].join(","));
        assert_eq!(weight(GET, "/api/v3/ticker", "symbol=BTCUSDT"), Some(4));
        assert_eq!(weight(GET, "/api/v3/ticker", &symbols(3)), Some(12));
        assert_eq!(weight(GET, "/api/v3/ticker/tradingDay", &symbols(60)), Some(200));
        assert_eq!(weight(GET, "/api/v3/ticker/24hr", &symbols(20)), Some(2));
        assert_eq!(weight(GET, "/api/v3/ticker/24hr", &symbols(21)), Some(40));
        assert!(route(&PUT, "/api/v3/order").is_none(), "a known path with another method is not found");
        assert!(route(&GET, "/api/v3/order/").is_none(), "paths are exact");
    }
}
