"""Stock CCXT (`ccxt.binance`, `ccxt.pro.binance`) against a local Outlast cluster.

Stock means the library as published, with its default options: only the URLs are rewritten
to the node, with Binance's own paths. Runs the same trading and wallet cycle against one node, SIGKILLs that node (the leader, the
hardest case), and runs the cycle again against another node. Also retries an order placed on
the killed node through the survivor with the same client order id and checks it is the same
order. Exits non-zero with the first failed assertion.

    python tests/ccxt/check.py target/release/outlast
"""

import asyncio
import sys
import time

import ccxt
import ccxt.pro

from cluster import Cluster

SYMBOL = "BTC/USDT"


def client(cls, base_url, key, secret):
    """A stock client with its default options; only its URLs point at the node, keeping
    Binance's own paths (`/api/v3`, `/sapi/v1`, `/fapi/v1`, `/ws`)."""
    exchange = cls({"apiKey": key, "secret": secret, "enableRateLimit": False})
    ws_url = base_url.replace("http://", "ws://")

    def rewrite(urls):
        for name, url in list(urls.items()):
            if isinstance(url, dict):
                rewrite(url)
            elif isinstance(url, str) and "://" in url:
                scheme, rest = url.split("://", 1)
                path = rest[rest.index("/"):] if "/" in rest else ""
                urls[name] = (ws_url if scheme.startswith("ws") else base_url) + path

    rewrite(exchange.urls["api"])
    return exchange


def setup(cluster, node):
    op = lambda method, path, **p: cluster.operator(node, method, path, **p)
    op("POST", "/operator/v1/assets", symbol="BTC", decimals=8)
    op("POST", "/operator/v1/assets", symbol="USDT", decimals=6)
    op("POST", "/operator/v1/markets", symbol="BTCUSDT", baseAsset="BTC", quoteAsset="USDT",
       tickSize="0.01", stepSize="0.0001", minNotional="1", makerFeePpm=0, takerFeePpm=1000)
    keys = {}
    for account, name in [(1, "alice"), (2, "bob")]:
        op("POST", "/operator/v1/accounts", account=account)
        keys[name] = op("POST", "/operator/v1/apiKeys", account=account, enableWithdrawals="true")
        op("POST", "/operator/v1/deposits", account=account, coin="BTC", amount="10", txId=f"btc-{name}")
        op("POST", "/operator/v1/deposits", account=account, coin="USDT", amount="1000000", txId=f"usdt-{name}")
    return keys


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print("  ok:", what)


def cycle(cluster, node, keys, tag):
    url = cluster.url(node)
    print(f"cycle {tag} against node {node} ({url})")
    alice = client(ccxt.binance, url, keys["alice"]["apiKey"], keys["alice"]["secretKey"])
    bob = client(ccxt.binance, url, keys["bob"]["apiKey"], keys["bob"]["secretKey"])
    markets = alice.load_markets()
    bob.load_markets()
    check(SYMBOL in markets and markets[SYMBOL]["active"], "load_markets lists BTC/USDT as active")
    check(markets[SYMBOL]["precision"]["price"] == 0.01, "price precision comes from PRICE_FILTER")

    balance = alice.fetch_balance()
    check(balance["BTC"]["total"] >= 9, f"fetch_balance shows alice's BTC ({balance['BTC']})")

    price = 30000 + tag  # a fresh price level per cycle
    sell = alice.create_order(SYMBOL, "limit", "sell", 0.01, price, {"newClientOrderId": f"sell-{tag}"})
    check(sell["status"] == "open" and sell["clientOrderId"] == f"sell-{tag}", "create_order (limit sell) rests")

    ticker = alice.fetch_ticker(SYMBOL)
    check(ticker["symbol"] == SYMBOL, "fetch_ticker answers")
    tape = alice.fetch_trades(SYMBOL)
    check(tag == 0 or len(tape) > 0, f"fetch_trades reads the tape ({len(tape)} trades)")

    book = alice.fetch_order_book(SYMBOL)
    check([price, 0.01] in [level[:2] for level in book["asks"]], "fetch_order_book shows the ask")

    fetched = alice.fetch_order(sell["id"], SYMBOL)
    check(fetched["id"] == sell["id"] and fetched["amount"] == 0.01, "fetch_order returns the order")
    check(any(o["id"] == sell["id"] for o in alice.fetch_open_orders(SYMBOL)), "fetch_open_orders lists it")

    buy = bob.create_order(SYMBOL, "limit", "buy", 0.004, price)
    check(buy["status"] == "closed" and buy["filled"] == 0.004, f"create_order (limit buy) trades ({buy['status']})")

    mine = alice.fetch_my_trades(SYMBOL)
    check(any(t["order"] == sell["id"] and t["amount"] == 0.004 and t["price"] == price for t in mine),
          "fetch_my_trades shows the maker's fill")
    check(any(t["order"] == buy["id"] and t["side"] == "buy" for t in bob.fetch_my_trades(SYMBOL)),
          "fetch_my_trades shows the taker's fill")

    candles = alice.fetch_ohlcv(SYMBOL, "1m")
    check(candles and candles[-1][4] == price and sum(c[5] for c in candles) >= 0.004,
          f"fetch_ohlcv: the last minute closes at the trade's price ({candles[-1:]})")
    hourly = alice.fetch_ohlcv(SYMBOL, "1h", limit=2)
    check(hourly and hourly[-1][0] % 3_600_000 == 0, "fetch_ohlcv for another interval")
    ticker = alice.fetch_ticker(SYMBOL)
    check(ticker["last"] == price, f"fetch_ticker shows the last price ({ticker['last']})")

    canceled = alice.cancel_order(sell["id"], SYMBOL)
    check(canceled["status"] == "canceled" and canceled["filled"] == 0.004, "cancel_order cancels the rest")
    check(not any(o["id"] == sell["id"] for o in alice.fetch_open_orders(SYMBOL)), "it is no longer open")

    withdrawal = alice.withdraw("USDT", 10, "0xabc123", params={"withdrawOrderId": f"wd-{tag}"})
    check(withdrawal["id"], f"withdraw returns an id ({withdrawal['id']})")
    again = alice.withdraw("USDT", 10, "0xabc123", params={"withdrawOrderId": f"wd-{tag}"})
    check(again["id"] == withdrawal["id"], "the same withdrawOrderId is the same withdrawal")
    check(any(w["id"] == withdrawal["id"] for w in alice.fetch_withdrawals("USDT")), "fetch_withdrawals lists it")
    check(any(d["txid"] == "usdt-alice" for d in alice.fetch_deposits("USDT")), "fetch_deposits lists the deposit")

    asyncio.run(watch(url, keys, price + 1))


async def until(make_change, watch, accept, what, deadline_s=15):
    """Makes a change and waits briefly for the stream to show it, again until it does.

    A stream subscribed just now may miss the first change (the subscription races it), so
    each round makes a new change; the whole wait is bounded.
    """
    deadline = time.monotonic() + deadline_s
    pending = asyncio.ensure_future(watch())
    while time.monotonic() < deadline:
        make_change()
        try:
            while True:
                result = await asyncio.wait_for(asyncio.shield(pending), 1.0)
                pending = asyncio.ensure_future(watch())
                if accept(result):
                    pending.cancel()
                    check(True, what)
                    return result
        except asyncio.TimeoutError:
            continue
    raise AssertionError(f"timed out waiting: {what}")


async def watch(url, keys, price):
    watcher = client(ccxt.pro.binance, url, keys["bob"]["apiKey"], keys["bob"]["secretKey"])
    trader = client(ccxt.binance, url, keys["alice"]["apiKey"], keys["alice"]["secretKey"])
    trader.load_markets()
    try:
        await watcher.load_markets()
        step = iter(range(1, 1000))
        asks = []

        def new_ask():
            asks.append(price + next(step))
            trader.create_order(SYMBOL, "limit", "sell", 0.02, asks[-1])

        await until(new_ask, lambda: watcher.watch_order_book(SYMBOL),
                    lambda book: asks and [asks[-1], 0.02] in [level[:2] for level in book["asks"]],
                    "watch_order_book sees a new ask through the diff stream")
        rest = trader.fetch_order_book(SYMBOL)
        book = watcher.orderbooks[SYMBOL]
        check([a[:2] for a in rest["asks"][:5]] == [a[:2] for a in book["asks"][:5]],
              "the streamed book agrees with the REST snapshot")

        def cross():
            level = price + next(step)
            trader.create_order(SYMBOL, "limit", "sell", 0.02, level)
            trader.create_order(SYMBOL, "limit", "buy", 0.02, level)

        await until(cross, lambda: watcher.watch_trades(SYMBOL),
                    lambda trades: any(t["amount"] == 0.02 and t["side"] == "buy" for t in trades),
                    "watch_trades sees a trade")
        traded = []

        def cross_at_new_price():
            traded.append(price + next(step))
            trader.create_order(SYMBOL, "limit", "sell", 0.02, traded[-1])
            trader.create_order(SYMBOL, "limit", "buy", 0.02, traded[-1])

        await until(cross_at_new_price, lambda: watcher.watch_ticker(SYMBOL),
                    lambda ticker: ticker["last"] in traded,
                    "watch_ticker sees the last price")
        await until(cross_at_new_price, lambda: watcher.watch_ohlcv(SYMBOL, "1m"),
                    lambda candles: candles and candles[-1][4] in traded,
                    "watch_ohlcv sees the open candle close at a new price")
    finally:
        await watcher.close()


def main():
    cluster = Cluster(sys.argv[1])
    try:
        cluster.start()
        first = cluster.leader()
        keys = setup(cluster, first)
        cycle(cluster, first, keys, 0)

        alice = client(ccxt.binance, cluster.url(first), keys["alice"]["apiKey"], keys["alice"]["secretKey"])
        alice.load_markets()
        placed = alice.create_order(SYMBOL, "limit", "buy", 0.01, 100, {"newClientOrderId": "retry-me"})

        print(f"SIGKILL node {first} (the leader)")
        cluster.kill(first)
        survivor = next(iter(cluster.procs))
        cluster.wait(lambda: cluster.leader() not in (None, first), 10, "a new leader")

        alice = client(ccxt.binance, cluster.url(survivor), keys["alice"]["apiKey"], keys["alice"]["secretKey"])
        alice.load_markets()
        retried = alice.create_order(SYMBOL, "limit", "buy", 0.01, 100, {"newClientOrderId": "retry-me"})
        check(retried["id"] == placed["id"], "a retry on another node with the same client order id is the same order")
        open_ids = [o["id"] for o in alice.fetch_open_orders(SYMBOL) if o["clientOrderId"] == "retry-me"]
        check(open_ids == [placed["id"]], "and exactly one such order is open")

        cycle(cluster, survivor, keys, 1)
        print("PASS")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
