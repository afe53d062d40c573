"""A local HTTP server that speaks enough of Kiwoom's REST API for qtx's tests.

Real sockets on 127.0.0.1 (random port) and Kiwoom's wire shapes: every TR is a POST with a JSON
body and ``api-id``/``authorization: Bearer`` headers; paging through ``cont-yn``/``next-key``
response headers sent back as request headers; every body carries ``return_code``/``return_msg``,
errors come as HTTP 200 with the specific code in brackets (``[8005:…]``, ``[1700:…]``). Behind it
a small KRX account: daily bars (signed prices, newest first), instruments, orders checked against
the KRX tick grid and the ±30% band, an opening auction that fills them, commission and sell tax
in whole won, T+2 cash, holdings. Fault hooks inject what the network and Kiwoom do on bad days.

    with FakeKiwoomRest(cash=10_000_000, today="2026-03-03") as kw:
        kw.add_instrument("005930", "삼성전자")
        kw.add_bars("005930", [("2026-02-27", 70000, 71000, 69500, 70500, 1_000_000), ...])
        broker = KiwoomBroker(kw.appkey, kw.secretkey, base_url=kw.url)
        broker.place(...)                              # kt10000 → ord_no "0000001"
        kw.open_auction(prices={"005930": 70600})      # fills what crosses at the open
        assert kw.orders_created[("005930", "buy")] == 1

Model choices (each a simplification a real account may contradict):
- ``entr`` (예수금) moves only when a trade settles, two weekdays later (holidays ignored);
  ``d2_entra`` and ``ord_alow_amt`` move at the fill. Sale proceeds are spendable at once.
- Orders are day orders: moving ``today`` forward expires what is still open.
- Commission and tax are computed on an order's cumulative filled amount and truncated to whole
  won. Kiwoom's exact rounding is not published (some sources say the commission is cut to 10 won).
- ka10076 lists only orders with a fill, one row per order, ``cntr_pric`` the average price.
- Message shapes come from Kiwoom's official error table and answers seen on the wire; order
  rejections (return_code 20, ``[2000](code:text)``) use codes seen on the mock server.
"""

from __future__ import annotations

import hmac
import itertools
import json
import secrets
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.fakes.server import LocalServer

KST = timezone(timedelta(hours=9))
TOKEN_PATH, REVOKE_PATH = "/oauth2/token", "/oauth2/revoke"
OK_MSG = "정상적으로 처리되었습니다"
ROUTES = {  # api-id -> (path, handler method)
    "ka10081": ("/api/dostk/chart", "r_chart"),
    "ka10099": ("/api/dostk/stkinfo", "r_instruments"),
    "kt10000": ("/api/dostk/ordr", "r_order"), "kt10001": ("/api/dostk/ordr", "r_order"),
    "kt10002": ("/api/dostk/ordr", "r_modify"), "kt10003": ("/api/dostk/ordr", "r_cancel"),
    "ka10075": ("/api/dostk/acnt", "r_open_orders"), "ka10076": ("/api/dostk/acnt", "r_fills"),
    "kt00018": ("/api/dostk/acnt", "r_holdings"), "kt00001": ("/api/dostk/acnt", "r_cash"),
}
REQUIRED = {
    "ka10081": ("stk_cd", "base_dt", "upd_stkpc_tp"), "ka10099": ("mrkt_tp",),
    "kt10000": ("dmst_stex_tp", "stk_cd", "ord_qty", "trde_tp"),
    "kt10001": ("dmst_stex_tp", "stk_cd", "ord_qty", "trde_tp"),
    "kt10002": ("dmst_stex_tp", "orig_ord_no", "stk_cd", "mdfy_qty", "mdfy_uv"),
    "kt10003": ("dmst_stex_tp", "orig_ord_no", "stk_cd", "cncl_qty"),
    "ka10075": ("all_stk_tp", "trde_tp", "stex_tp"), "ka10076": ("qry_tp", "sell_tp", "stex_tp"),
    "kt00018": ("qry_tp", "dmst_stex_tp"), "kt00001": ("qry_tp",),
}
DEVICE_MSGS = {8010: "Token을 발급받은 IP와 서비스를 요청한 IP가 동일하지 않습니다",
               8040: "단말기 인증에 실패했습니다", 8050: "지정단말기 인증에 실패했습니다",
               8103: "토큰 인증 또는 단말기인증에 실패했습니다. 실패사유=단말기 인증 실패"}
MARKET_NAMES = {"0": "거래소", "10": "코스닥", "8": "ETF"}


class KiwoomError(Exception):
    def __init__(self, return_code: int, return_msg: str, http_status: int = 200):
        super().__init__(return_msg)
        self.return_code, self.return_msg, self.http_status = return_code, return_msg, http_status


def input_error(code: int, text: str) -> KiwoomError:
    return KiwoomError(2, f"입력 값 오류입니다[{code}:{text}]")


def auth_error(code: int, text: str) -> KiwoomError:
    return KiwoomError(3, f"인증에 실패했습니다[{code}:{text}]")


def rejected(code: str, text: str) -> KiwoomError:
    return KiwoomError(20, f"[2000]({code}:{text})")


def krx_tick(price: int, etf: bool = False) -> int:
    if etf:
        return 1 if price < 2_000 else 5
    for bound, tick in ((2_000, 1), (5_000, 5), (20_000, 10), (50_000, 50), (200_000, 100), (500_000, 500)):
        if price < bound:
            return tick
    return 1_000


def price_band(prev_close: int, etf: bool = False) -> tuple[int, int]:
    """KRX daily limits: ±30% of the previous close, the upper cut down and the lower up to a tick."""
    up, lo = prev_close * 13 // 10, -(-prev_close * 7 // 10)
    return up - up % krx_tick(up, etf), lo + (-lo % krx_tick(lo, etf))


def pad(n: int, width: int = 15) -> str:
    """Kiwoom's zero-padded amounts: "000000001234", "-00000000196888"."""
    return ("-" + str(-n).zfill(width - 1)) if n < 0 else str(n).zfill(width)


def signed(price: int, ref: int | None) -> str:
    """A price with its sign against the previous close, as Kiwoom sends it ("+70100", "-69800")."""
    if ref is None or price == ref:
        return str(price)
    return f"+{price}" if price > ref else f"-{price}"


def ymd(d: str) -> str:
    return d.replace("-", "")


def add_weekdays(day: str, n: int) -> str:
    d = datetime.strptime(day, "%Y%m%d")
    while n:
        d += timedelta(days=1)
        n -= d.weekday() < 5
    return d.strftime("%Y%m%d")


@dataclass
class Order:
    ord_no: str
    symbol: str
    side: str            # "buy" / "sell"
    qty: int
    price: int           # 0 for a market order
    trde_tp: str
    stex: str
    day: str
    tm: str
    kind: str = "new"    # "new" / "modify" / "cancel"
    orig: str = ""
    oso: int = 0
    filled: int = 0
    value: int = 0       # cumulative filled amount in won
    cmsn: int = 0
    tax: int = 0
    visible_at: float = 0.0

    @property
    def io_tp_nm(self) -> str:
        word = "매수" if self.side == "buy" else "매도"
        sign = "+" if self.side == "buy" else "-"
        return {"new": sign + word, "modify": sign + word + "정정", "cancel": word + "취소"}[self.kind]

    @property
    def status(self) -> str:
        return "확인" if self.kind == "cancel" else ("체결" if self.filled else "접수")


@dataclass
class Reply:
    status: int
    body: dict | str
    headers: dict = field(default_factory=dict)
    drop: bool = False      # close the connection without answering
    delay: float = 0.0      # sleep before answering (after the request was processed)


class FakeKiwoomRest(LocalServer):
    def __init__(self, appkey: str = "qtx-kiwoom-appkey", secretkey: str = "qtx-kiwoom-secretkey", *,
                 cash: int = 10_000_000, today: str = "2026-03-03", page_size: int = 100,
                 commission_rate: str = "0.00015", sell_tax_rate: str = "0.0020",
                 rate_limit: tuple[int, float] | None = None, rate_limit_http: int = 200,
                 auto_fill: bool = False, token_ttl: timedelta = timedelta(hours=24)):
        self.appkey, self.secretkey = appkey, secretkey
        self.account_no = "5012345678"
        self.today = ymd(today)
        self.page_size = page_size
        self.commission_rate, self.sell_tax_rate = Decimal(commission_rate), Decimal(sell_tax_rate)
        self.rate_limits: dict[str, tuple[int, float]] = {}
        self.default_rate_limit = rate_limit          # (requests, per seconds) for every api-id
        self.rate_limit_http = rate_limit_http        # 429 to answer a 1700 with HTTP 429
        self.auto_fill = auto_fill
        self.token_ttl = token_ttl
        self.clock = lambda: datetime.now(KST)
        self.lock = threading.RLock()
        self.tokens: dict[str, datetime] = {}
        self.tokens_issued = 0
        self.device_code: int | None = None
        self.instruments: dict[str, dict] = {}
        self.bars: dict[str, dict[str, tuple[int, int, int, int, int]]] = defaultdict(dict)
        self.live_bars: dict[str, tuple[int, int, int, int, int]] = {}
        self.last_prices: dict[str, int] = {}
        self.entr = int(cash)
        self.pending: list[tuple[str, int]] = []      # (settlement day, signed amount)
        self.holdings: dict[str, dict] = {}           # symbol -> qty, cost, cmsn, tdy_buy, tdy_sell
        self.orders: dict[str, Order] = {}
        self.orders_created: Counter = Counter()      # (symbol, "buy"/"sell") -> accepted creates
        self.requests: list[dict] = []                # every request, secrets redacted
        self.faults: list[dict] = []
        self.hide_seconds = 0.0
        self._seq = itertools.count(1)
        self._windows: dict[str, deque] = defaultdict(deque)

    # ------------------------------------------------------------------ lifecycle (LocalServer)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(_Handler):
            kiwoom = fake

        return Handler

    # ------------------------------------------------------------------ test set-up

    def add_instrument(self, code: str, name: str, *, market: str = "0", list_count: int = 1_000_000,
                       state: str = "증거금20%|담보대출|신용가능", up_name: str = "전기전자",
                       order_warning: str = "0", nxt_enable: str = "Y") -> None:
        """market is ka10099's mrkt_tp: "0" KOSPI, "10" KOSDAQ, "8" ETF (ETF ticks are 5 won)."""
        with self.lock:
            self.instruments[code] = dict(code=code, name=name, market=market, list_count=list_count,
                                          state=state, up_name=up_name, order_warning=order_warning,
                                          nxt_enable=nxt_enable)

    def add_bars(self, symbol: str, rows) -> None:
        """rows: (date, open, high, low, close, volume) tuples or dicts with those keys; completed days."""
        with self.lock:
            for r in rows:
                if isinstance(r, dict):
                    r = (r["date"], r["open"], r["high"], r["low"], r["close"], r["volume"])
                d, *ohlcv = r
                self.bars[symbol][ymd(str(d))] = tuple(int(x) for x in ohlcv)

    def set_live_bar(self, symbol: str, o: int, h: int, lo: int, c: int, v: int) -> None:
        """Today's bar while the session runs; ka10081 serves it first, dated today."""
        with self.lock:
            self.live_bars[symbol] = (int(o), int(h), int(lo), int(c), int(v))

    def set_today(self, day: str) -> None:
        """Move the calendar: expire yesterday's open orders, settle due cash, drop live bars."""
        with self.lock:
            day = ymd(day)
            assert day >= self.today, f"today cannot go back from {self.today} to {day}"
            if day == self.today:
                return
            self.today = day
            for o in self.orders.values():
                if o.oso and o.day < day:
                    o.oso = 0                         # KRX orders live for one day
            self.entr += sum(a for d, a in self.pending if d <= day)
            self.pending = [(d, a) for d, a in self.pending if d > day]
            self.live_bars.clear()
            for h in self.holdings.values():
                h["tdy_buy"] = h["tdy_sell"] = 0

    def set_rate_limit(self, api_id: str, n: int, per: float = 1.0) -> None:
        with self.lock:
            self.rate_limits[api_id] = (n, per)

    # ------------------------------------------------------------------ fault hooks

    def expire_token(self) -> None:
        """Every issued token becomes invalid: TRs answer return_code 3 with [8005:…]."""
        with self.lock:
            self.tokens.clear()

    def device_error(self, code: int | None = 8050) -> None:
        """Every request, the token one included, answers return_code 3 with [code:…]; None clears."""
        assert code is None or code in DEVICE_MSGS, f"device codes: {sorted(DEVICE_MSGS)}"
        self.device_code = code

    def force_rate_limit(self, api_id: str, k: int = 1) -> None:
        """The next k requests of api_id answer 1700 without being processed."""
        self._add_fault(api_id, "rate_limit", k)

    def fail_next(self, api_id: str, http_status: int = 500, n: int = 1) -> None:
        """The next n requests of api_id answer an HTML error page; nothing is processed."""
        self._add_fault(api_id, "http", n, status=http_status)

    def drop_after_accept(self, api_id: str, n: int = 1) -> None:
        """Process the next n requests of api_id (an order is booked), then close without answering."""
        self._add_fault(api_id, "drop", n)

    def delay_after_accept(self, api_id: str, seconds: float, n: int = 1) -> None:
        """Process the next n requests of api_id, then wait ``seconds`` before answering."""
        self._add_fault(api_id, "delay", n, seconds=seconds)

    def hide_orders_for(self, seconds: float) -> None:
        """New orders stay out of ka10075/ka10076 for ``seconds`` (the venue books them later)."""
        self.hide_seconds = seconds

    def _add_fault(self, api_id: str, kind: str, n: int, **kw) -> None:
        with self.lock:
            self.faults.append({"api_id": api_id, "kind": kind, "left": n, **kw})

    def _take_fault(self, api_id: str, kinds: tuple[str, ...]) -> dict | None:
        with self.lock:
            for f in self.faults:
                if f["api_id"] == api_id and f["kind"] in kinds:
                    f["left"] -= 1
                    if f["left"] <= 0:
                        self.faults.remove(f)
                    return f
        return None

    # ------------------------------------------------------------------ market and account state

    def prev_close(self, symbol: str) -> int | None:
        days = [d for d in self.bars.get(symbol, {}) if d < self.today]
        return self.bars[symbol][max(days)][3] if days else None

    def last_price(self, symbol: str) -> int | None:
        if symbol in self.live_bars:
            return self.live_bars[symbol][3]
        if symbol in self.last_prices:
            return self.last_prices[symbol]
        days = self.bars.get(symbol)
        return days[max(days)][3] if days else None

    def fee(self, amount: int) -> int:
        return int(amount * self.commission_rate)      # truncated to whole won

    def reserved(self) -> int:
        """Cash held for open buy orders (market buys at the upper limit, as brokers reserve them)."""
        total = 0
        for o in self.orders.values():
            if o.side == "buy" and o.oso:
                amount = o.oso * (o.price or self._market_buy_price(o.symbol))
                total += amount + self.fee(amount)
        return total

    def d2_entra(self) -> int:
        return self.entr + sum(a for _, a in self.pending)

    def ord_alow_amt(self) -> int:
        return max(self.d2_entra() - self.reserved(), 0)

    def sellable(self, symbol: str) -> int:
        held = self.holdings.get(symbol, {}).get("qty", 0)
        return held - sum(o.oso for o in self.orders.values() if o.symbol == symbol and o.side == "sell")

    def _market_buy_price(self, symbol: str) -> int:
        prev = self.prev_close(symbol)
        if prev is not None:
            return price_band(prev, self._is_etf(symbol))[0]
        return self.last_price(symbol) or 0

    def _is_etf(self, symbol: str) -> bool:
        return self.instruments.get(symbol, {}).get("market") == "8"

    # ------------------------------------------------------------------ exchange actions

    def fill(self, ord_no: str, qty: int | None = None, price: int | None = None) -> Order:
        """Execute qty (default: all open) of an order at price (default: its limit or the last price)."""
        with self.lock:
            o = self.orders[ord_no]
            q = o.oso if qty is None else int(qty)
            assert 0 < q <= o.oso, f"order {ord_no}: fill {q} of {o.oso} open"
            px = int(price or o.price or self.last_price(o.symbol) or 0)
            assert px > 0, f"no price to fill {ord_no} at"
            value = q * px
            o.oso, o.filled, o.value = o.oso - q, o.filled + q, o.value + value
            cmsn = self.fee(o.value) - o.cmsn
            o.cmsn += cmsn
            settle = add_weekdays(self.today, 2)
            h = self.holdings.setdefault(o.symbol, {"qty": 0, "cost": 0, "cmsn": 0, "tdy_buy": 0, "tdy_sell": 0})
            if o.side == "buy":
                self.pending.append((settle, -(value + cmsn)))
                h["qty"] += q
                h["cost"] += value
                h["cmsn"] += cmsn
                h["tdy_buy"] += q
            else:
                tax = int(o.value * self.sell_tax_rate) - o.tax
                o.tax += tax
                self.pending.append((settle, value - cmsn - tax))
                h["cost"] -= h["cost"] * q // h["qty"]
                h["qty"] -= q
                h["tdy_sell"] += q
                if h["qty"] == 0:
                    del self.holdings[o.symbol]
            self.last_prices[o.symbol] = px
            return o

    def open_auction(self, date: str | None = None, prices: dict[str, int] | None = None) -> list[Order]:
        """The opening single-price auction: market orders and crossing limits fill at the open."""
        with self.lock:
            if date:
                self.set_today(date)
            prices = prices or {}
            filled = []
            for o in sorted(self.orders.values(), key=lambda o: o.ord_no):
                px = prices.get(o.symbol)
                if not o.oso or px is None:
                    continue
                if o.price == 0 or (o.side == "buy" and px <= o.price) or (o.side == "sell" and px >= o.price):
                    filled.append(self.fill(o.ord_no, price=px))
            self.last_prices.update(prices)
            return filled

    # ------------------------------------------------------------------ TRs

    def r_chart(self, api_id, q):
        sym = self._known(q["stk_cd"])
        base = q["base_dt"]
        if len(base) != 8 or not base.isdigit():
            raise input_error(1517, f"입력 값 형식이 올바르지 않습니다. 파라미터=base_dt 실패사유= {base!r}")
        series = dict(self.bars.get(sym, {}))
        if sym in self.live_bars:
            series[self.today] = self.live_bars[sym]
        days = sorted(series)
        rows = []
        for i in range(len(days) - 1, -1, -1):
            d = days[i]
            if d > base:
                continue
            o, h, lo, c, v = series[d]
            ref = series[days[i - 1]][3] if i else None
            diff = c - ref if ref is not None else 0
            rows.append({"cur_prc": signed(c, ref), "trde_qty": str(v), "trde_prica": str(v * c // 1_000_000),
                         "dt": d, "open_pric": signed(o, ref), "high_pric": signed(h, ref),
                         "low_pric": signed(lo, ref), "pred_pre": f"+{diff}" if diff > 0 else str(diff),
                         "pred_pre_sig": "2" if diff > 0 else ("5" if diff < 0 else "3"), "trde_tern_rt": "0.00"})
        return {"stk_cd": sym, "stk_dt_pole_chart_qry": rows}, "stk_dt_pole_chart_qry"

    def r_instruments(self, api_id, q):
        rows = []
        for code, i in sorted(self.instruments.items()):
            if i["market"] != q["mrkt_tp"]:
                continue
            rows.append({"code": code, "name": i["name"], "listCount": pad(i["list_count"], 16), "auditInfo": "",
                         "regDay": "", "lastPrice": pad(self.prev_close(code) or 0, 8), "state": i["state"],
                         "marketCode": i["market"], "marketName": MARKET_NAMES.get(i["market"], ""),
                         "upName": i["up_name"], "upSizeName": "", "companyClassName": "",
                         "orderWarning": i["order_warning"], "nxtEnable": i["nxt_enable"]})
        return {"list": rows}, "list"

    def r_order(self, api_id, q):
        side = "buy" if api_id == "kt10000" else "sell"
        sym = self._known(q["stk_cd"])
        qty = self._int(q, "ord_qty")
        if q["trde_tp"] not in ("0", "3"):
            raise input_error(1517, f"입력 값 형식이 올바르지 않습니다. 파라미터=trde_tp 실패사유= fake supports 0 and 3, got {q['trde_tp']!r}")
        price = self._int(q, "ord_uv") if q["trde_tp"] == "0" else 0
        if price:
            self._check_price(sym, price)
        self._check_funds(side, sym, qty, price)
        o = self._book(sym, side, qty, price, q["trde_tp"], q["dmst_stex_tp"])
        self.orders_created[(sym, side)] += 1
        last = self.last_price(sym)
        crosses = last and (price == 0 or (price >= last if side == "buy" else price <= last))
        if self.auto_fill and crosses:
            self.fill(o.ord_no, price=last)
        word = "매수" if side == "buy" else "매도"
        return {"ord_no": o.ord_no, "dmst_stex_tp": o.stex, "return_msg": f"{word}주문이 완료되었습니다"}

    def r_modify(self, api_id, q):
        orig = self._open_order(q["orig_ord_no"], q["stk_cd"])
        qty, price = self._int(q, "mdfy_qty"), self._int(q, "mdfy_uv")
        if qty > orig.oso:
            raise rejected("RC4033", "정정/취소할 수량이 없습니다.")   # inner code unconfirmed
        self._check_price(orig.symbol, price)
        orig.oso -= qty                                              # freed before the new one is checked
        try:
            self._check_funds(orig.side, orig.symbol, qty, price)
        except KiwoomError:
            orig.oso += qty
            raise
        new = self._book(orig.symbol, orig.side, qty, price, "0", q["dmst_stex_tp"], kind="modify", orig=orig.ord_no)
        word = "매수" if orig.side == "buy" else "매도"
        return {"ord_no": new.ord_no, "base_orig_ord_no": orig.ord_no, "mdfy_qty": pad(qty, 12),
                "dmst_stex_tp": new.stex, "return_msg": f"{word}정정 주문입력이 완료되었습니다"}

    def r_cancel(self, api_id, q):
        orig = self._open_order(q["orig_ord_no"], q["stk_cd"])
        qty = self._int(q, "cncl_qty", allow_zero=True) or orig.oso   # "0" cancels all that is open
        if qty > orig.oso:
            raise rejected("RC4033", "정정/취소할 수량이 없습니다.")
        orig.oso -= qty
        c = self._book(orig.symbol, orig.side, qty, orig.price, orig.trde_tp, q["dmst_stex_tp"],
                       kind="cancel", orig=orig.ord_no)
        word = "매수" if orig.side == "buy" else "매도"
        return {"ord_no": c.ord_no, "base_orig_ord_no": orig.ord_no, "cncl_qty": pad(qty, 12),
                "return_msg": f"{word}취소 주문입력이 완료되었습니다"}

    def r_open_orders(self, api_id, q):
        rows = []
        for o in self._visible():
            if not o.oso or (q["all_stk_tp"] == "1" and o.symbol != q.get("stk_cd")):
                continue
            if (q["trde_tp"] == "1" and o.side != "sell") or (q["trde_tp"] == "2" and o.side != "buy"):
                continue
            last = self.last_price(o.symbol) or 0
            rows.append({"acnt_no": self.account_no, "ord_no": o.ord_no, "mang_empno": "", "stk_cd": o.symbol,
                         "tsk_tp": "", "ord_stt": o.status, "stk_nm": self._name(o.symbol), "ord_qty": str(o.qty),
                         "ord_pric": str(o.price), "oso_qty": str(o.oso), "cntr_tot_amt": str(o.value),
                         "orig_ord_no": o.orig or "0000000", "io_tp_nm": o.io_tp_nm, "trde_tp": self._tp_name(o),
                         "tm": o.tm, "cntr_no": "", "cntr_pric": str(o.value // o.filled if o.filled else 0),
                         "cntr_qty": str(o.filled), "cur_prc": signed(last, self.prev_close(o.symbol)),
                         "sel_bid": "0", "buy_bid": "0", "unit_cntr_pric": "", "unit_cntr_qty": "",
                         "tdy_trde_cmsn": str(o.cmsn), "tdy_trde_tax": str(o.tax), "ind_invsr": "0",
                         "stex_tp": "1", "stex_tp_txt": o.stex, "sor_yn": "N", "stop_pric": ""})
        return {"oso": rows}, "oso"

    def r_fills(self, api_id, q):
        rows = []
        for o in self._visible():
            if not o.filled or (q["qry_tp"] == "1" and o.symbol != q.get("stk_cd")):
                continue
            if (q["sell_tp"] == "1" and o.side != "sell") or (q["sell_tp"] == "2" and o.side != "buy"):
                continue
            if q.get("ord_no") and o.ord_no >= q["ord_no"]:
                continue                                  # ord_no asks for orders older than it
            rows.append({"ord_no": o.ord_no, "stk_nm": self._name(o.symbol), "io_tp_nm": o.io_tp_nm,
                         "ord_pric": str(o.price), "ord_qty": str(o.qty), "cntr_pric": str(o.value // o.filled),
                         "cntr_qty": str(o.filled), "oso_qty": str(o.oso), "tdy_trde_cmsn": str(o.cmsn),
                         "tdy_trde_tax": str(o.tax), "ord_stt": o.status, "trde_tp": self._tp_name(o),
                         "orig_ord_no": o.orig or "0000000", "ord_tm": o.tm, "stk_cd": o.symbol,
                         "stex_tp": "1", "stex_tp_txt": o.stex, "sor_yn": "N", "stop_pric": ""})
        return {"cntr": rows}, "cntr"

    def r_holdings(self, api_id, q):
        rows, tot_pur, tot_evlt = [], 0, 0
        for sym, h in sorted(self.holdings.items()):
            cur = self.last_price(sym) or 0
            evlt = h["qty"] * cur
            sell_cmsn, tax = self.fee(evlt), int(evlt * self.sell_tax_rate)
            pl = evlt - h["cost"] - h["cmsn"] - sell_cmsn - tax
            tot_pur, tot_evlt = tot_pur + h["cost"], tot_evlt + evlt
            rows.append({"stk_cd": "A" + sym, "stk_nm": self._name(sym), "evltv_prft": pad(pl),
                         "prft_rt": f"{pl * 100 / h['cost']:.2f}" if h["cost"] else "0.00",
                         "pur_pric": pad(h["cost"] // h["qty"], 12), "pred_close_pric": pad(self.prev_close(sym) or 0, 12),
                         "rmnd_qty": pad(h["qty"], 12), "trde_able_qty": pad(self.sellable(sym), 12),
                         "cur_prc": pad(cur, 12), "pred_buyq": pad(0, 12), "pred_sellq": pad(0, 12),
                         "tdy_buyq": pad(h["tdy_buy"], 12), "tdy_sellq": pad(h["tdy_sell"], 12),
                         "pur_amt": pad(h["cost"]), "pur_cmsn": pad(h["cmsn"]), "evlt_amt": pad(evlt),
                         "sell_cmsn": pad(sell_cmsn), "tax": pad(tax), "sum_cmsn": pad(h["cmsn"] + sell_cmsn),
                         "poss_rt": "0.00", "crd_tp": "00", "crd_tp_nm": "", "crd_loan_dt": ""})
        pl = tot_evlt - tot_pur
        body = {"tot_pur_amt": pad(tot_pur), "tot_evlt_amt": pad(tot_evlt), "tot_evlt_pl": pad(pl),
                "tot_prft_rt": f"{pl * 100 / tot_pur:.2f}" if tot_pur else "0.00",
                "prsm_dpst_aset_amt": pad(self.d2_entra() + tot_evlt), "tot_loan_amt": pad(0),
                "tot_crd_loan_amt": pad(0), "tot_crd_ls_amt": pad(0), "acnt_evlt_remn_indv_tot": rows}
        return body, "acnt_evlt_remn_indv_tot"

    def r_cash(self, api_id, q):
        d1 = self.entr + sum(a for d, a in self.pending if d <= add_weekdays(self.today, 1))
        d2, alow = self.d2_entra(), self.ord_alow_amt()
        return {"entr": pad(self.entr), "profa_ch": pad(0), "ord_alow_amt": pad(alow),
                "pymn_alow_amt": pad(max(min(self.entr, d2) - self.reserved(), 0)),
                "100stk_ord_alow_amt": pad(alow), "d1_entra": pad(d1), "d2_entra": pad(d2),
                "d1_pymn_alow_amt": pad(max(min(d1, d2), 0)), "d2_pymn_alow_amt": pad(max(d2, 0))}

    # ------------------------------------------------------------------ TR helpers

    def _known(self, code: str) -> str:
        if code not in self.instruments and code not in self.bars:
            raise KiwoomError(7, "서비스를 처리하는 중에 오류가 발생했습니다"
                                 f"[1902:종목 정보가 없습니다. 입력한 종목코드 값을 확인바랍니다. 종목코드={code}]")
        return code

    def _int(self, q: dict, key: str, allow_zero: bool = False) -> int:
        text = str(q.get(key, "")).strip()
        if not text.isdigit() or (int(text) == 0 and not allow_zero):
            raise input_error(1517, f"입력 값 형식이 올바르지 않습니다. 파라미터={key} 실패사유= {text!r}")
        return int(text)

    def _check_price(self, sym: str, price: int) -> None:
        etf = self._is_etf(sym)
        if price % krx_tick(price, etf):
            raise rejected("RC4003", "모의투자 호가단위 오류입니다.")      # as the mock server says it
        prev = self.prev_close(sym)
        if prev is not None:
            up, lo = price_band(prev, etf)
            if not lo <= price <= up:
                raise rejected("RC4027", "모의투자 상/하한가 오류입니다.")

    def _check_funds(self, side: str, sym: str, qty: int, price: int) -> None:
        if side == "sell":
            if qty > self.sellable(sym):
                raise rejected("800033", f"매도가능수량이 부족합니다. {max(self.sellable(sym), 0)}주 매도가능")
            return
        px = price or self._market_buy_price(sym)
        avail = self.ord_alow_amt()
        if qty * px + self.fee(qty * px) > avail:
            n = int(avail / (px * (1 + self.commission_rate))) if px else 0
            while n and n * px + self.fee(n * px) > avail:
                n -= 1
            raise rejected("855056", f"매수증거금이 부족합니다. {n}주 매수가능")

    def _book(self, sym, side, qty, price, trde_tp, stex, kind="new", orig="") -> Order:
        o = Order(ord_no=f"{next(self._seq):07d}", symbol=sym, side=side, qty=qty, price=price,
                  trde_tp=trde_tp, stex=stex, day=self.today, tm=self.clock().strftime("%H%M%S"),
                  kind=kind, orig=orig, oso=0 if kind == "cancel" else qty,
                  visible_at=time.monotonic() + self.hide_seconds)
        self.orders[o.ord_no] = o
        return o

    def _open_order(self, ord_no: str, sym: str) -> Order:
        o = self.orders.get(ord_no)
        if o is None or o.symbol != sym or not o.oso:
            raise rejected("RC4033", "정정/취소할 수량이 없습니다.")   # inner code unconfirmed
        return o

    def _visible(self) -> list[Order]:
        now = time.monotonic()
        return sorted((o for o in self.orders.values() if o.day == self.today and o.visible_at <= now),
                      key=lambda o: o.ord_no, reverse=True)

    def _name(self, sym: str) -> str:
        return self.instruments.get(sym, {}).get("name", sym)

    @staticmethod
    def _tp_name(o: Order) -> str:
        return "시장가" if o.trde_tp == "3" else "보통"

    # ------------------------------------------------------------------ auth and dispatch

    def _issue_token(self, q: dict) -> dict:
        if not q.get("grant_type"):
            raise auth_error(8011, "Access Token을 발급하는데 실패했습니다. 입력값에 grant_type이 들어오지 않았습니다")
        if q["grant_type"] != "client_credentials":
            raise auth_error(8012, "Access Token을 발급하는데 실패했습니다. grant_type의 값이 맞지 않습니다")
        if not q.get("appkey") or not q.get("secretkey"):
            raise input_error(8020, "입력파라미터로 appkey 또는 secretkey가 들어오지 않았습니다.")
        if not (hmac.compare_digest(str(q["appkey"]), self.appkey)
                and hmac.compare_digest(str(q["secretkey"]), self.secretkey)):
            raise auth_error(8001, "App Key와 Secret Key 검증에 실패했습니다")
        token, expires = secrets.token_urlsafe(48), self.clock() + self.token_ttl
        self.tokens[token] = expires
        self.tokens_issued += 1
        return {"expires_dt": expires.astimezone(KST).strftime("%Y%m%d%H%M%S"), "token_type": "bearer",
                "token": token, "return_code": 0, "return_msg": OK_MSG}

    def _check_token(self, headers: dict) -> None:
        auth = headers.get("authorization")
        if not auth:
            raise input_error(1513, "Http Header에 authorization 필드가 설정되어 있어야 합니다")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise input_error(1514, "입력으로 들어온 Http Header의 authorization 필드 형식이 맞지 않습니다")
        expires = self.tokens.get(token.strip())
        if expires is None or expires <= self.clock():
            raise auth_error(8005, "Token이 유효하지 않습니다")

    def _rate_limited(self, api_id: str) -> bool:
        limit = self.rate_limits.get(api_id, self.default_rate_limit)
        if limit is None:
            return False
        n, per = limit
        window, now = self._windows[api_id], time.monotonic()
        while window and window[0] <= now - per:
            window.popleft()
        if len(window) >= n:
            return True
        window.append(now)
        return False

    def _tr(self, path: str, api_id: str, headers: dict, q: dict | None) -> Reply:
        self._check_token(headers)
        if not api_id:
            raise input_error(1501, "API ID가 Null이거나 값이 없습니다")
        if api_id not in ROUTES:
            raise input_error(1505, f"해당 API ID는 존재하지 않습니다. API ID={api_id}")
        route_path, method = ROUTES[api_id]
        if route_path != path:
            raise input_error(1504, f"해당 URI에서는 지원하는 API ID가 아닙니다. API ID={api_id}, URI={path}")
        if q is None:
            raise input_error(1517, "입력 값 형식이 올바르지 않습니다. 파라미터=body 실패사유= JSON이 아닙니다")
        if self._take_fault(api_id, ("rate_limit",)) or self._rate_limited(api_id):
            raise KiwoomError(5, f"허용된 요청 개수를 초과하였습니다[1700:허용된 요청 개수를 초과하였습니다. API ID={api_id}]",
                              self.rate_limit_http)
        for key in REQUIRED[api_id]:
            if str(q.get(key, "")).strip() == "":
                raise input_error(1511, f"필수 입력 값에 값이 존재하지 않습니다. 필수입력 파라미터={key}")
        if q.get("dmst_stex_tp", "KRX") not in ("KRX", "NXT", "SOR"):
            raise input_error(1517, f"입력 값 형식이 올바르지 않습니다. 파라미터=dmst_stex_tp 실패사유= {q['dmst_stex_tp']!r}")
        offset = 0
        if headers.get("cont-yn") == "Y":
            key = headers.get("next-key", "")
            prefix, _, num = key.partition(":")
            if prefix != api_id or not num.isdigit():
                raise input_error(1517, f"입력 값 형식이 올바르지 않습니다. 파라미터=next-key 실패사유= {key!r}")
            offset = int(num)
        out = getattr(self, method)(api_id, q)
        reply_headers = {"api-id": api_id, "cont-yn": "N", "next-key": ""}
        if isinstance(out, tuple):                       # a list TR: page it
            body, list_key = out
            rows = body[list_key]
            body[list_key] = rows[offset:offset + self.page_size]
            if offset + self.page_size < len(rows):
                reply_headers.update({"cont-yn": "Y", "next-key": f"{api_id}:{offset + self.page_size}"})
        else:
            body = out
        msg = body.pop("return_msg", OK_MSG if api_id == "ka10081" else "조회가 완료되었습니다")
        body.update(return_code=0, return_msg=msg)
        return Reply(200, body, reply_headers)

    def serve(self, path: str, headers: dict, raw: bytes) -> Reply:
        api_id = headers.get("api-id", "")
        try:
            q = json.loads(raw.decode("utf-8") or "{}")
            q = q if isinstance(q, dict) else None
        except ValueError:
            q = None
        entry = {"path": path, "api_id": api_id, "body": _redacted(q), "answer": None,
                 "headers": {k: ("<redacted>" if k == "authorization" else v) for k, v in headers.items()}}
        with self.lock:
            self.requests.append(entry)
        http = self._take_fault(api_id, ("http",)) if api_id else None
        if http:                                         # a gateway error: nothing reaches Kiwoom
            entry["answer"] = f"HTTP {http['status']}"
            return Reply(http["status"], "<html><body>Internal Server Error</body></html>")
        try:
            with self.lock:
                if self.device_code is not None:
                    raise auth_error(self.device_code, DEVICE_MSGS[self.device_code])
                if path == TOKEN_PATH:
                    reply = Reply(200, self._issue_token(q or {}))
                elif path == REVOKE_PATH:
                    self.tokens.pop(str((q or {}).get("token", "")), None)
                    reply = Reply(200, {"return_code": 0, "return_msg": OK_MSG})
                else:
                    reply = self._tr(path, api_id, headers, q)
        except KiwoomError as e:
            reply = Reply(e.http_status, {"return_code": e.return_code, "return_msg": e.return_msg},
                          {"api-id": api_id, "cont-yn": "N", "next-key": ""} if api_id else {})
        entry["answer"] = reply.body["return_code"]
        after = self._take_fault(api_id, ("drop", "delay")) if api_id else None
        if after and after["kind"] == "drop":
            entry["answer"] = "dropped"
            reply.drop = True
        elif after:
            reply.delay = after["seconds"]
        return reply

    def calls(self, api_id: str) -> list[dict]:
        """The logged requests of one api-id (every one that reached the server)."""
        with self.lock:
            return [r for r in self.requests if r["api_id"] == api_id]


def _redacted(q: dict | None) -> dict | None:
    if q is None:
        return None
    return {k: ("<redacted>" if k in ("appkey", "secretkey", "token") else v) for k, v in q.items()}


class _Handler(BaseHTTPRequestHandler):
    kiwoom: FakeKiwoomRest
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.kiwoom.serve(urlsplit(self.path).path, headers, raw)
        if reply.drop:                    # the venue acted; the client never hears about it
            self.close_connection = True
            return
        if reply.delay:
            time.sleep(reply.delay)
        if isinstance(reply.body, dict):
            data, ctype = json.dumps(reply.body, ensure_ascii=False).encode(), "application/json;charset=UTF-8"
        else:
            data, ctype = reply.body.encode(), "text/html"
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
