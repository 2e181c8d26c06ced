"""python-binance (the community `binance` package, pinned, unmodified) against a local
Outlast cluster: a second client library nobody here wrote, through REST and the WebSocket
API (`/ws-api/v3`), with only its URLs pointed at a node.

    python tests/ccxt/python_binance.py target/release/outlast
"""

import sys

from binance.client import Client
from binance.exceptions import BinanceAPIException
from binance.ws.websocket_api import WebsocketAPI

from check import check, setup
from cluster import Cluster

SYMBOL = "BTCUSDT"


def client(url, key):
    binance = Client(key["apiKey"], key["secretKey"], ping=False)
    binance.API_URL = url + "/api"
    binance.MARGIN_API_URL = url + "/sapi"
    binance.ws_api = WebsocketAPI(url=url.replace("http://", "ws://") + "/ws-api/v3")
    return binance


def main():
    cluster = Cluster(sys.argv[1])
    try:
        cluster.start()
        node = cluster.leader()
        keys = setup(cluster, node)
        url = cluster.url(node)
        alice, bob = client(url, keys["alice"]), client(url, keys["bob"])
        print(f"python-binance against node {node} ({url})")

        info = alice.get_symbol_info(SYMBOL)
        check(info["status"] == "TRADING", "get_symbol_info")
        sell = alice.order_limit_sell(symbol=SYMBOL, quantity="0.01", price="30000", newClientOrderId="pb-1")
        check(sell["status"] == "NEW", "order_limit_sell rests")
        buy = bob.order_market_buy(symbol=SYMBOL, quantity="0.004")
        check(buy["status"] == "FILLED" and buy["fills"][0]["price"] == "30000.000000", "order_market_buy fills")
        check(alice.get_order(symbol=SYMBOL, origClientOrderId="pb-1")["executedQty"] == "0.00400000", "get_order")
        candles = alice.get_klines(symbol=SYMBOL, interval=Client.KLINE_INTERVAL_1MINUTE)
        check(candles[-1][4] == "30000.000000", "get_klines")
        check(alice.get_aggregate_trades(symbol=SYMBOL)[-1]["q"] == "0.00400000", "get_aggregate_trades")
        check(alice.get_ticker(symbol=SYMBOL)["lastPrice"] == "30000.000000", "get_ticker")
        check(alice.get_avg_price(symbol=SYMBOL)["price"] == "30000.000000", "get_avg_price")
        balances = {b["asset"]: b for b in alice.get_account()["balances"]}
        check(balances["BTC"]["locked"] == "0.00600000", "get_account shows the rest locked")

        # The WebSocket API, signed per request by the library.
        placed = alice.ws_create_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                       quantity="0.01", price="30100", newClientOrderId="pb-ws-1")
        check(placed["status"] == "NEW", "ws_create_order")
        check(alice.ws_get_order(symbol=SYMBOL, orderId=placed["orderId"])["clientOrderId"] == "pb-ws-1", "ws_get_order")
        book = alice.ws_get_order_book(symbol=SYMBOL, limit=5)
        check(["30100.000000", "0.01000000"] in book["asks"], "ws_get_order_book")
        check(alice.ws_cancel_order(symbol=SYMBOL, orderId=placed["orderId"])["status"] == "CANCELED", "ws_cancel_order")
        account = alice.ws_get_account()
        check(any(b["asset"] == "USDT" for b in account["balances"]), "ws_get_account")
        try:
            bob.get_order(symbol=SYMBOL, orderId=placed["orderId"])
            check(False, "bob cannot read alice's order")
        except BinanceAPIException as error:
            check(error.code == -2013, f"bob cannot read alice's order ({error.code})")
        print("PASS")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
