"""A local HTTP server that speaks enough of Bybit's v5 REST API for qtx's tests.

Real sockets on 127.0.0.1 (random port), real HMAC-SHA256 signature checks, Bybit's JSON
envelope (``retCode``/``retMsg``/``result``/``retExtInfo``/``time``) and list shapes, and a small
in-memory exchange: instruments, tickers, klines (newest first, the still-open candle first),
orders by ``orderLinkId`` with partial fills, executions with fees, a unified wallet and linear
positions.  Fault hooks inject what the network and Bybit do on bad days.

    with FakeBybitV5() as ex:
        broker = BybitBroker(ex.api_key, ex.api_secret, endpoint=ex.url)
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.server import LocalServer

OPEN = ("New", "PartiallyFilled", "Untriggered")
PRIVATE = ("/v5/order/", "/v5/execution/", "/v5/account/", "/v5/position/")
DAY_MS = 86_400_000


def _s(x: Decimal | int | float | str) -> str:
    if isinstance(x, Decimal):
        s = format(x.normalize(), "f")
        return "0" if s == "-0" else s
    return str(x)


def day_ms(d: str) -> int:
    return int(datetime.strptime(d, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)


class BybitError(Exception):
    def __init__(self, code: int, msg: str, headers: dict | None = None):
        super().__init__(msg)
        self.code, self.msg, self.headers = code, msg, headers or {}


class FakeBybitV5(LocalServer):
    def __init__(self, api_key: str = "qtx-test-key", api_secret: str = "qtx-test-secret", *,
                 taker_fee: str = "0.001", auto_fill_market: bool = True, rate_limit: int = 20):
        self.api_key, self.api_secret = api_key, api_secret
        self.taker_fee = Decimal(taker_fee)
        self.auto_fill_market = auto_fill_market
        self.rate_limit = rate_limit
        self.lock = threading.RLock()
        self.instruments: dict[str, dict[str, dict]] = {"spot": {}, "linear": {}}
        self.tickers: dict[str, dict[str, dict]] = {"spot": {}, "linear": {}}
        self.klines: dict[tuple[str, str], dict[int, list[str]]] = defaultdict(dict)
        self.orders: dict[str, dict] = {}
        self.executions: list[dict] = []
        self.wallet: dict[str, Decimal] = defaultdict(Decimal)
        self.locked: dict[str, Decimal] = defaultdict(Decimal)
        self.positions: dict[str, dict] = {}
        self.calls: list[tuple[str, str, dict]] = []   # every request that got through auth
        self.received: list[tuple[str, str]] = []      # every request that reached the server
        self.faults: list[dict] = []
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ lifecycle (LocalServer)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(_Handler):
            exchange = fake

        return Handler

    # ------------------------------------------------------------------ test set-up

    def add_instrument(self, symbol: str, *, category: str = "spot", base: str | None = None,
                       quote: str = "USDT", lot: str = "0.000001", min_qty: str = "0.000048",
                       min_amt: str = "1", max_qty: str = "1000", tick: str = "0.01",
                       status: str = "Trading") -> None:
        base = base or symbol[: -len(quote)]
        with self.lock:
            self.instruments[category][symbol] = dict(
                symbol=symbol, base=base, quote=quote, lot=Decimal(lot), min_qty=Decimal(min_qty),
                min_amt=Decimal(min_amt), max_qty=Decimal(max_qty), tick=Decimal(tick), status=status)

    def set_ticker(self, symbol: str, last: str | float, turnover24h: str | float = "0", *, category: str = "spot") -> None:
        with self.lock:
            self.tickers[category][symbol] = {"lastPrice": Decimal(str(last)), "turnover24h": Decimal(str(turnover24h))}

    def set_daily_candles(self, symbol: str, rows: list[tuple], *, category: str = "spot") -> None:
        """rows: (YYYY-MM-DD, open, high, low, close, volume); the newest one is the open candle
        when it is dated today (UTC), as on the real exchange."""
        with self.lock:
            for d, o, h, lo, c, v in rows:
                self.klines[(category, symbol)][day_ms(d)] = [_s(Decimal(str(x))) for x in (o, h, lo, c, v)]

    def fund(self, coin: str, amount: str | float) -> None:
        with self.lock:
            self.wallet[coin] += Decimal(str(amount))

    def fail_next(self, path: str, kind: str, **kw) -> None:
        """Inject a fault into the next request to ``path``.

        kinds: ``timeout_after`` (process it, then stall ``delay`` seconds before answering),
        ``drop_before`` (close the connection without processing it), ``ret_code`` (answer
        ``code``/``msg``), ``rate_limit`` (10006 with X-Bapi-Limit-Reset-Timestamp in
        ``reset_ms``), ``clock_skew`` (10002), ``http`` (HTTP ``status``, not JSON)."""
        with self.lock:
            self.faults.append({"path": path, "kind": kind, **kw})

    def creates(self, link_id: str | None = None) -> int:
        """How many create requests (for ``link_id``) passed auth and were handled."""
        return sum(1 for m, p, q in self.calls
                   if p == "/v5/order/create" and (link_id is None or q.get("orderLinkId") == link_id))

    def received_count(self, path: str) -> int:
        return sum(1 for _, p in self.received if p == path)

    # ------------------------------------------------------------------ exchange actions

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def fill(self, link_id: str, qty: str | float, price: str | float | None = None,
             *, exec_time_ms: int | None = None) -> dict:
        """Execute ``qty`` of an open order at ``price`` (default: its limit or the ticker)."""
        with self.lock:
            o = self.orders[link_id]
            assert o["orderStatus"] in OPEN, f"order {link_id} is {o['orderStatus']}"
            q = Decimal(str(qty))
            leaves = o["qty"] - o["cumExecQty"]
            assert q <= leaves, f"fill {q} > leaves {leaves}"
            cat, sym = o["category"], o["symbol"]
            px = Decimal(str(price)) if price is not None else (o["price"] or self.tickers[cat][sym]["lastPrice"])
            inst = self.instruments[cat][sym]
            base, quote = inst["base"], inst["quote"]
            value = q * px
            if cat == "spot" and o["side"] == "Buy":
                fee, fee_ccy = (q * self.taker_fee), base
                self._unlock(o, quote, (o["lock_px"] * q))
                self.wallet[quote] -= value
                self.wallet[base] += q - fee
            elif cat == "spot":
                fee, fee_ccy = (value * self.taker_fee), quote
                self._unlock(o, base, q)
                self.wallet[base] -= q
                self.wallet[quote] += value - fee
            else:
                fee, fee_ccy = (value * self.taker_fee), quote
                self._unlock(o, quote, o["lock_px"] * q / 10)
                self.wallet[quote] -= fee
                pos = self.positions.setdefault(sym, {"size": Decimal(0), "avg": Decimal(0)})
                signed = q if o["side"] == "Buy" else -q
                new = pos["size"] + signed
                if pos["size"] == 0 or (pos["size"] > 0) == (signed > 0):
                    pos["avg"] = (abs(pos["size"]) * pos["avg"] + q * px) / abs(new)
                elif new == 0:
                    pos["avg"] = Decimal(0)
                pos["size"] = new
            o["cumExecQty"] += q
            o["cumExecValue"] += value
            o["cumExecFee"] += fee
            o["orderStatus"] = "Filled" if o["cumExecQty"] == o["qty"] else "PartiallyFilled"
            if o["orderStatus"] == "Filled" and o["locked"]:
                self.locked[o["lock_coin"]] -= o["locked"]
                o["locked"] = Decimal(0)
            t = exec_time_ms or self.now_ms()
            o["updatedTime"] = t
            e = {
                "symbol": sym, "orderId": o["orderId"], "orderLinkId": link_id, "side": o["side"],
                "orderPrice": _s(o["price"]), "orderQty": _s(o["qty"]),
                "leavesQty": _s(o["qty"] - o["cumExecQty"]), "orderType": o["orderType"],
                "stopOrderType": "", "execFee": _s(fee), "feeCurrency": fee_ccy if cat == "spot" else "",
                "execId": f"e-{next(self._ids):08d}", "execPrice": _s(px), "execQty": _s(q),
                "execType": "Trade", "execValue": _s(value), "execTime": str(t),
                "feeRate": _s(self.taker_fee), "isMaker": False, "markPrice": _s(px),
                "closedSize": "0", "seq": next(self._ids), "category": cat,
            }
            self.executions.append(e)
            return e

    def _unlock(self, o: dict, coin: str, amount: Decimal) -> None:
        amount = min(amount, o["locked"])
        o["locked"] -= amount
        self.locked[coin] -= amount

    def _free(self, coin: str) -> Decimal:
        return self.wallet[coin] - self.locked[coin]

    # ------------------------------------------------------------------ endpoints

    def handle(self, method: str, path: str, q: dict) -> dict:
        routes = {
            "/v5/market/time": self.r_time, "/v5/market/kline": self.r_kline,
            "/v5/market/instruments-info": self.r_instruments, "/v5/market/tickers": self.r_tickers,
            "/v5/order/create": self.r_create, "/v5/order/amend": self.r_amend,
            "/v5/order/cancel": self.r_cancel, "/v5/order/realtime": self.r_realtime,
            "/v5/order/history": self.r_history, "/v5/execution/list": self.r_executions,
            "/v5/account/wallet-balance": self.r_wallet, "/v5/position/list": self.r_positions,
        }
        if path not in routes:
            raise BybitError(10001, f"unknown path {path}")
        with self.lock:
            return routes[path](q)

    def r_time(self, q):
        now = self.now_ms()
        return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}

    def r_kline(self, q):
        cat, sym = q.get("category", "linear"), q["symbol"]
        if q.get("interval") != "D":
            raise BybitError(10001, "fake serves daily candles only")
        limit = min(int(q.get("limit", 200)), 1000)
        start, end = int(q.get("start", 0)), int(q.get("end", self.now_ms()))
        rows = sorted((t for t in self.klines[(cat, sym)] if start <= t <= end), reverse=True)[:limit]
        lst = []
        for t in rows:
            o, h, lo, c, v = self.klines[(cat, sym)][t]
            lst.append([str(t), o, h, lo, c, v, _s(Decimal(v) * Decimal(c))])
        return {"category": cat, "symbol": sym, "list": lst}

    def _inst_row(self, cat: str, i: dict) -> dict:
        row = {"symbol": i["symbol"], "baseCoin": i["base"], "quoteCoin": i["quote"], "status": i["status"]}
        if cat == "spot":
            row.update(innovation="0", marginTrading="utaOnly", lotSizeFilter={
                "basePrecision": _s(i["lot"]), "quotePrecision": "0.00000001",
                "minOrderQty": _s(i["min_qty"]), "maxOrderQty": _s(i["max_qty"]),
                "minOrderAmt": _s(i["min_amt"]), "maxOrderAmt": "2000000"},
                priceFilter={"tickSize": _s(i["tick"])})
        else:
            row.update(contractType="LinearPerpetual", settleCoin=i["quote"], priceScale="2",
                       leverageFilter={"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
                       priceFilter={"minPrice": "0.10", "maxPrice": "1999999.80", "tickSize": _s(i["tick"])},
                       lotSizeFilter={"maxOrderQty": _s(i["max_qty"]), "minOrderQty": _s(i["min_qty"]),
                                      "qtyStep": _s(i["lot"]), "maxMktOrderQty": _s(i["max_qty"]),
                                      "minNotionalValue": _s(i["min_amt"])})
        return row

    def r_instruments(self, q):
        cat = q["category"]
        insts = self.instruments[cat]
        rows = [self._inst_row(cat, insts[s]) for s in sorted(insts) if q.get("symbol") in (None, s)]
        return self._page(rows, q, {"category": cat}, default=500)

    def _page(self, rows, q, extra, default=50):
        limit = int(q.get("limit", default))
        off = int(q.get("cursor") or 0)
        chunk = rows[off:off + limit]
        nxt = str(off + limit) if off + limit < len(rows) else ""
        return {**extra, "list": chunk, "nextPageCursor": nxt}

    def r_tickers(self, q):
        cat = q["category"]
        lst = []
        for s, t in sorted(self.tickers[cat].items()):
            if q.get("symbol") in (None, s):
                lst.append({"symbol": s, "lastPrice": _s(t["lastPrice"]), "turnover24h": _s(t["turnover24h"]),
                            "volume24h": _s(t["turnover24h"] / t["lastPrice"] if t["lastPrice"] else Decimal(0)),
                            "bid1Price": _s(t["lastPrice"]), "ask1Price": _s(t["lastPrice"]),
                            "prevPrice24h": _s(t["lastPrice"]), "price24hPcnt": "0"})
        return {"category": cat, "list": lst}

    def _order_row(self, o: dict) -> dict:
        filled = o["cumExecQty"]
        return {
            "orderId": o["orderId"], "orderLinkId": o["orderLinkId"], "symbol": o["symbol"],
            "price": _s(o["price"]), "qty": _s(o["qty"]), "side": o["side"], "isLeverage": "0",
            "positionIdx": 0, "orderStatus": o["orderStatus"], "cancelType": "UNKNOWN",
            "rejectReason": "EC_NoError", "avgPrice": _s(o["cumExecValue"] / filled) if filled else "",
            "leavesQty": _s(o["qty"] - filled) if o["orderStatus"] in OPEN else "0",
            "leavesValue": "0", "cumExecQty": _s(filled), "cumExecValue": _s(o["cumExecValue"]),
            "cumExecFee": _s(o["cumExecFee"]), "timeInForce": o["timeInForce"], "orderType": o["orderType"],
            "stopOrderType": "", "orderIv": "", "triggerPrice": "0.00", "takeProfit": "0.00",
            "stopLoss": "0.00", "reduceOnly": False, "closeOnTrigger": False,
            "createdTime": str(o["createdTime"]), "updatedTime": str(o["updatedTime"]),
            "marketUnit": o.get("marketUnit", ""),
        }

    def r_create(self, q):
        cat, sym = q["category"], q.get("symbol", "")
        spot = cat == "spot"
        inst = self.instruments[cat].get(sym)
        if inst is None:
            raise BybitError(170121 if spot else 10001, "Invalid symbol." if spot else "params error: symbol invalid")
        link = q.get("orderLinkId") or f"auto-{next(self._ids)}"
        if link in self.orders:
            raise BybitError(170141 if spot else 110072,
                             "Duplicate clientOrderId." if spot else "OrderLinkedID is duplicate")
        qty = Decimal(q["qty"])
        if qty % inst["lot"] != 0:
            raise BybitError(170137 if spot else 10001,
                             "Order quantity has too many decimals." if spot else "Qty invalid")
        if qty > inst["max_qty"]:
            raise BybitError(170136 if spot else 10001, "Order quantity exceeded upper limit.")
        if qty < inst["min_qty"]:
            raise BybitError(170140 if spot else 10001, "Order value exceeded lower limit.")
        price = Decimal(q["price"]) if q.get("price") else Decimal(0)
        if q["orderType"] == "Limit":
            if price <= 0 or price % inst["tick"] != 0:
                raise BybitError(170134 if spot else 10001, "Order price has too many decimals.")
            lock_px = price
        else:
            if spot and q["side"] == "Buy" and q.get("marketUnit") != "baseCoin":
                raise BybitError(10001, "fake: market buys must say marketUnit=baseCoin")
            lock_px = self.tickers[cat][sym]["lastPrice"]
        value = qty * lock_px
        if value < inst["min_amt"]:
            raise BybitError(170140 if spot else 110094, "Order value exceeded lower limit.")
        if spot and q["side"] == "Buy":
            coin, need = inst["quote"], value  # the fee of a spot buy is taken in the base coin
        elif spot:
            coin, need = inst["base"], qty
        else:
            coin, need = inst["quote"], value / 10
        if self._free(coin) < need:
            raise BybitError(170131 if spot else 110007,
                             "Insufficient balance." if spot else "ab not enough for new order")
        now = self.now_ms()
        o = {"category": cat, "symbol": sym, "orderId": f"{next(self._ids):019d}", "orderLinkId": link,
             "side": q["side"], "orderType": q["orderType"], "qty": qty, "price": price,
             "timeInForce": q.get("timeInForce") or ("IOC" if q["orderType"] == "Market" else "GTC"),
             "orderStatus": "New", "cumExecQty": Decimal(0), "cumExecValue": Decimal(0),
             "cumExecFee": Decimal(0), "createdTime": now, "updatedTime": now, "lock_px": lock_px,
             "locked": need, "lock_coin": coin, "marketUnit": q.get("marketUnit", "")}
        self.locked[coin] += need
        self.orders[link] = o
        if q["orderType"] == "Market" and self.auto_fill_market:
            self.fill(link, qty, lock_px)
        return {"orderId": o["orderId"], "orderLinkId": link}

    def _find(self, q) -> dict:
        o = self.orders.get(q.get("orderLinkId", ""))
        if o is None and q.get("orderId"):
            o = next((x for x in self.orders.values() if x["orderId"] == q["orderId"]), None)
        if o is None or o["category"] != q["category"] or o["orderStatus"] not in OPEN:
            raise BybitError(170213 if q["category"] == "spot" else 110001,
                             "Order does not exist." if q["category"] == "spot" else "order not exists or too late to cancel")
        return o

    def r_amend(self, q):
        o = self._find(q)
        inst = self.instruments[o["category"]][o["symbol"]]
        if q.get("qty"):
            qty = Decimal(q["qty"])
            if qty % inst["lot"] != 0:
                raise BybitError(170137, "Order quantity has too many decimals.")
            if qty <= o["cumExecQty"]:
                raise BybitError(10001, "qty must exceed the executed quantity")
            o["qty"] = qty
        if q.get("price"):
            price = Decimal(q["price"])
            if price % inst["tick"] != 0:
                raise BybitError(170134, "Order price has too many decimals.")
            o["price"] = price
        o["updatedTime"] = self.now_ms()
        return {"orderId": o["orderId"], "orderLinkId": o["orderLinkId"]}

    def r_cancel(self, q):
        o = self._find(q)
        o["orderStatus"] = "PartiallyFilledCanceled" if o["cumExecQty"] > 0 and o["category"] == "spot" else "Cancelled"
        self.locked[o["lock_coin"]] -= o["locked"]
        o["locked"] = Decimal(0)
        o["updatedTime"] = self.now_ms()
        return {"orderId": o["orderId"], "orderLinkId": o["orderLinkId"]}

    def _orders(self, q, want_open: bool | None):
        out = []
        for o in sorted(self.orders.values(), key=lambda o: o["createdTime"], reverse=True):
            if o["category"] != q["category"]:
                continue
            if q.get("symbol") and o["symbol"] != q["symbol"]:
                continue
            if q.get("orderLinkId") and o["orderLinkId"] != q["orderLinkId"]:
                continue
            is_open = o["orderStatus"] in OPEN
            if want_open is not None and is_open != want_open:
                continue
            out.append(self._order_row(o))
        return out

    def r_realtime(self, q):
        if q["category"] == "linear" and not (q.get("symbol") or q.get("settleCoin") or q.get("orderLinkId")):
            raise BybitError(10001, "symbol or settleCoin is required")
        return self._page(self._orders(q, True), q, {"category": q["category"]}, default=20)

    def r_history(self, q):
        return self._page(self._orders(q, None if q.get("orderLinkId") else False), q,
                          {"category": q["category"]}, default=20)

    def r_executions(self, q):
        now = self.now_ms()
        start, end = q.get("startTime"), q.get("endTime")
        if start and end:
            start, end = int(start), int(end)
        elif start:
            start = int(start)
            end = start + 7 * DAY_MS
        elif end:
            end = int(end)
            start = end - 7 * DAY_MS
        else:
            start, end = now - 7 * DAY_MS, now
        if end - start > 7 * DAY_MS:
            raise BybitError(10001, "The time range between startTime and endTime cannot exceed 7 days")
        rows = [e for e in reversed(self.executions)
                if e["category"] == q["category"] and start <= int(e["execTime"]) <= end
                and (not q.get("symbol") or e["symbol"] == q["symbol"])
                and (not q.get("orderLinkId") or e["orderLinkId"] == q["orderLinkId"])]
        rows = [{k: v for k, v in e.items() if k != "category"} for e in rows]
        return self._page(rows, q, {"category": q["category"]}, default=50)

    def r_wallet(self, q):
        if q.get("accountType") != "UNIFIED":
            raise BybitError(10001, "accountType only support UNIFIED")
        coins = []
        for c in sorted(self.wallet):
            if self.wallet[c] == 0 and self.locked[c] == 0:
                continue
            coins.append({"coin": c, "walletBalance": _s(self.wallet[c]), "locked": _s(self.locked[c]),
                          "equity": _s(self.wallet[c]), "usdValue": _s(self.wallet[c]),
                          "availableToWithdraw": "", "borrowAmount": "0", "unrealisedPnl": "0",
                          "cumRealisedPnl": "0", "totalOrderIM": "0", "totalPositionIM": "0",
                          "marginCollateral": True, "collateralSwitch": True})
        return {"list": [{"accountType": "UNIFIED", "totalEquity": "0", "totalWalletBalance": "0",
                          "totalAvailableBalance": _s(self._free("USDT")), "coin": coins}]}

    def r_positions(self, q):
        if q["category"] != "linear":
            raise BybitError(10001, "category only support linear or option")
        lst = []
        for s, p in sorted(self.positions.items()):
            if q.get("symbol") and q["symbol"] != s:
                continue
            lst.append({"symbol": s, "side": "Buy" if p["size"] > 0 else ("Sell" if p["size"] < 0 else ""),
                        "size": _s(abs(p["size"])), "avgPrice": _s(p["avg"]), "positionIdx": 0,
                        "positionValue": _s(abs(p["size"]) * p["avg"]), "leverage": "10",
                        "markPrice": _s(p["avg"]), "unrealisedPnl": "0", "cumRealisedPnl": "0",
                        "createdTime": "0", "updatedTime": "0"})
        return self._page(lst, q, {"category": "linear"}, default=20)

    # ------------------------------------------------------------------ auth

    def check_auth(self, headers, payload: str) -> None:
        key = headers.get("X-BAPI-API-KEY")
        ts = headers.get("X-BAPI-TIMESTAMP")
        sign = headers.get("X-BAPI-SIGN")
        recv = headers.get("X-BAPI-RECV-WINDOW") or "5000"
        if not key or not ts or not sign:
            raise BybitError(10003, "API key is invalid.")
        if key != self.api_key:
            raise BybitError(10003, "API key is invalid.")
        now = self.now_ms()
        if not (now - int(recv) <= int(ts) < now + 1000):
            raise BybitError(10002, f"invalid request, please check your server timestamp or recv_window param. "
                                    f"req_timestamp[{ts}],server_timestamp[{now}],recv_window[{recv}]")
        want = hmac.new(self.api_secret.encode(), (ts + key + recv + payload).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sign):
            raise BybitError(10004, "error sign! origin_string[" + ts + key + recv + payload + "]")

    def take_fault(self, path: str) -> dict | None:
        with self.lock:
            for i, f in enumerate(self.faults):
                if f["path"] == path:
                    return self.faults.pop(i)
        return None


class _Handler(BaseHTTPRequestHandler):
    exchange: FakeBybitV5
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self._serve("GET", parts.path, parts.query, dict(parse_qsl(parts.query, keep_blank_values=True)))

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        try:
            params = json.loads(body) if body else {}
        except ValueError:
            params = {}
        self._serve("POST", urlsplit(self.path).path, body, {k: (str(v) if not isinstance(v, str) else v) for k, v in params.items()})

    def _serve(self, method: str, path: str, payload: str, params: dict) -> None:
        ex = self.exchange
        with ex.lock:
            ex.received.append((method, path))
        fault = ex.take_fault(path)
        if fault and fault["kind"] == "drop_before":
            self.close_connection = True
            return
        if fault and fault["kind"] == "http":
            self._send(int(fault.get("status", 502)), b"<html>bad gateway</html>", "text/html")
            return
        headers: dict[str, str] = {}
        try:
            if path.startswith(PRIVATE):
                ex.check_auth(self.headers, payload)
                with ex.lock:
                    ex.calls.append((method, path, params))
                headers = {"X-Bapi-Limit": str(ex.rate_limit), "X-Bapi-Limit-Status": str(ex.rate_limit - 1),
                           "X-Bapi-Limit-Reset-Timestamp": str(ex.now_ms() + 1000)}
            else:
                with ex.lock:
                    ex.calls.append((method, path, params))
            if fault and fault["kind"] == "rate_limit":
                reset = ex.now_ms() + int(fault.get("reset_ms", 50))
                raise BybitError(10006, "Too many visits!", {
                    "X-Bapi-Limit": str(ex.rate_limit), "X-Bapi-Limit-Status": "0",
                    "X-Bapi-Limit-Reset-Timestamp": str(reset)})
            if fault and fault["kind"] == "clock_skew":
                raise BybitError(10002, "invalid request, please check your server timestamp or recv_window param.")
            if fault and fault["kind"] == "ret_code":
                raise BybitError(int(fault["code"]), fault.get("msg", "error"))
            result = ex.handle(method, path, params)
            body = {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": ex.now_ms()}
        except BybitError as e:
            headers.update(e.headers)
            body = {"retCode": e.code, "retMsg": e.msg, "result": {}, "retExtInfo": {}, "time": ex.now_ms()}
        if fault and fault["kind"] == "timeout_after":
            # The exchange has acted; the answer comes too late for the client.
            time.sleep(float(fault.get("delay", 2.0)))
            self.close_connection = True
            return
        self._send(200, json.dumps(body).encode(), "application/json", headers)

    def _send(self, status: int, data: bytes, ctype: str, headers: dict | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
