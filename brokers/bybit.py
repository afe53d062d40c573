"""Bybit v5 adapter of the broker interface, over pybit's ``HTTP`` client.

Spot first, linear perpetuals where the interface allows.  Orders are addressed by our
``orderLinkId`` (the client order id), which Bybit enforces (a second create with the same id is
refused: ``Capabilities.enforces_client_ids``).  pybit's own retries are switched off so that
the transport policy of ``brokers.http`` is the only one.  A create whose outcome is unknown is
raised as ``UnknownOutcome``: ``execute`` owns what happens next (look up, wait out the
visibility delay, and only then send again).

Quantities and prices go out as strings formatted from ``Decimal``, rounded to the instrument's
lot step and tick.  Every write (create, amend, cancel) is logged to ``qtx.bybit.orders`` with its
request and response (``brokers.http.OrderLog``); keys and signatures are never logged.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_UP, Decimal, InvalidOperation

import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP

from brokers.base import (
    AuthError,
    Balance,
    Bar,
    BrokerError,
    Capabilities,
    Fill,
    Instrument,
    MissingKeys,
    NotFound,
    OrderRequest,
    OrderState,
    Position,
    Rejected,
    Transient,
    UnknownOutcome,
)
from brokers.bybit_errors import CLOCK_SKEW, DuplicateOrder, from_http_status, from_ret_code
from brokers.http import OrderLog, Throttle, call_with_retries, paginate

log = logging.getLogger("qtx.bybit")

DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
KLINE_LIMIT = 1000

_STATUS = {
    "New": "new",
    "Created": "new",
    "Untriggered": "new",
    "Triggered": "new",
    "Active": "new",
    "PartiallyFilled": "partially_filled",
    "Filled": "filled",
    "Cancelled": "cancelled",
    "PartiallyFilledCanceled": "cancelled",
    "Deactivated": "cancelled",
    "Rejected": "rejected",
}

# Pairs a momentum strategy should not trade: stablecoins against the quote coin, and
# leveraged tokens (BTC3L, ETH2S ...).
STABLE_BASES = {"USDC", "USDT", "DAI", "FDUSD", "TUSD", "BUSD", "USDE", "USDD", "PYUSD", "USD1", "USTC", "EUR", "USDR"}
_LEVERAGED = re.compile(r"\d+[LS]$")



# --------------------------------------------------------------------------- decimals

def _dec(x) -> Decimal:
    if x is None or x == "":
        return Decimal(0)
    try:
        return Decimal(str(x))
    except InvalidOperation:
        return Decimal(0)


def fmt_decimal(x: Decimal) -> str:
    """Plain notation, no exponent, no trailing zeros (what Bybit expects for qty/price)."""
    s = format(x.normalize(), "f")
    return "0" if s in ("-0", "") else s


def round_to_step(value: float | Decimal | str, step: Decimal, rounding=ROUND_DOWN) -> Decimal:
    v = Decimal(str(value))
    if step <= 0:
        return v
    n = (v / step).to_integral_value(rounding=rounding)
    return (n * step).quantize(step) if step.as_tuple().exponent < 0 else n * step


@dataclass(frozen=True)
class Spec:
    """An instrument's trading rules, kept exact (Decimal) for formatting orders."""

    symbol: str
    base: str
    quote: str
    lot: Decimal
    tick: Decimal
    min_qty: Decimal
    min_notional: Decimal
    max_qty: Decimal | None
    status: str

    def instrument(self) -> Instrument:
        return Instrument(
            symbol=self.symbol, lot=float(self.lot), tick=float(self.tick) if self.tick else None,
            min_qty=float(self.min_qty), min_notional=float(self.min_notional),
            name=f"{self.base}/{self.quote}", status=self.status,
        )


def _date_ms(d: str) -> int:
    return int(datetime.strptime(d[:10], "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)


def _since_ms(since: str) -> int:
    if len(since) == 10:
        return _date_ms(since)
    ts = datetime.fromisoformat(since.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return int(ts.timestamp() * 1000)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def interval_ms(interval: str) -> int:
    if interval == "D":
        return DAY_MS
    if interval == "W":
        return WEEK_MS
    if interval == "M":
        return 31 * DAY_MS
    return int(interval) * 60_000


# --------------------------------------------------------------------------- the broker

class BybitBroker:
    """The broker interface on Bybit v5 (spot or linear)."""

    name = "bybit"
    # Bybit refuses a second create with the same orderLinkId (110072 / 170141), and shows an
    # accepted create in its lists within a second or two (it processes creates asynchronously).
    capabilities = Capabilities(enforces_client_ids=True, visibility_delay=2.0, cancel_replace=True)

    def __init__(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        category: str = "spot",
        network: str = "mainnet",
        endpoint: str | None = None,
        interval: str = "D",
        timeout: float = 10.0,
        recv_window: int = 5000,
        quote_coin: str = "USDT",
        max_attempts: int = 4,
        max_wait: float = 30.0,
        min_interval: float = 0.0,
        on_order_log: Callable[[dict], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        if category not in ("spot", "linear"):
            raise ValueError(f"bybit category must be spot or linear, not {category!r}")
        if network not in ("mainnet", "testnet", "demo"):
            raise ValueError(f"bybit network must be mainnet, testnet or demo, not {network!r}")
        self.category = category
        self.network = network
        self.interval = interval
        self.quote_coin = quote_coin
        self.max_attempts = max(1, max_attempts)
        self.max_wait = max_wait
        self.min_interval = min_interval
        self.order_log = OrderLog("bybit", on_order_log)
        self._sleep = sleep
        self._clock = clock
        self._specs: dict[str, Spec] = {}
        self.throttle = Throttle(default=min_interval, sleep=sleep, max_wait=max_wait)
        self.has_keys = bool(api_key and api_secret)
        # max_retries=1: pybit's loop makes exactly one attempt.  force_retry=False: network
        # errors come out raw.  retry_codes is emptied after construction because pybit
        # replaces an empty set with its defaults in __post_init__.
        self.session = HTTP(
            testnet=(network == "testnet"), demo=(network == "demo"),
            api_key=api_key or None, api_secret=api_secret or None,
            timeout=timeout, recv_window=recv_window,
            max_retries=1, force_retry=False, retry_delay=0,
            return_response_headers=True, log_requests=False,
        )
        self.session.retry_codes = set()
        self.session.ignore_codes = set()
        if endpoint:
            self.session.endpoint = endpoint.rstrip("/")
        self._base_recv_window = recv_window

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_settings(cls, section, mode: str = "paper", secret: Callable[[str], str | None] | None = None,
                      **kw) -> BybitBroker:
        """Build from the ``bybit:`` config section; keys come from the variables it names,
        read through ``secret`` (the pipeline passes the config's secret reader; default: the
        environment).

        Live mode refuses to start without both keys and names the missing variable.  Paper
        mode needs none (public market data only) but uses them when present.
        """
        read = secret or os.environ.get
        key = (read(section.api_key_env) or "").strip()
        secret_value = (read(section.api_secret_env) or "").strip()
        if mode == "live":
            missing = [n for n, v in ((section.api_key_env, key), (section.api_secret_env, secret_value)) if not v]
            if missing:
                names = " and ".join(missing)
                raise MissingKeys(
                    f"live mode on Bybit needs API keys: environment variable {names} "
                    f"{'is' if len(missing) == 1 else 'are'} not set "
                    f"(config keys bybit.api_key_env / bybit.api_secret_env name them)")
        # Bybit allows about 10 creates a second per symbol on spot and 600 requests per 5 s
        # per IP: one request every 0.1 s stays far below both.
        kw.setdefault("min_interval", 0.1)
        return cls(
            key or None, secret_value or None,
            category=section.category, network=section.network, endpoint=section.endpoint,
            interval=section.interval, timeout=section.timeout, recv_window=section.recv_window,
            quote_coin=section.quote_coin, **kw,
        )

    # ------------------------------------------------------------------ transport

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _note_limits(self, headers) -> None:
        # X-Bapi-Limit-Status is what is left in this window: at 0, wait for the reset.
        if not headers:
            return
        left = headers.get("X-Bapi-Limit-Status")
        reset = headers.get("X-Bapi-Limit-Reset-Timestamp")
        if left is not None and reset and str(left).strip() == "0":
            try:
                self.throttle.hold(float(reset) / 1000.0 - self._clock())
            except ValueError:
                pass

    def _raw(self, method: str, params: dict, write: bool) -> dict:
        self.throttle.wait()
        fn = getattr(self.session, method)
        try:
            out = fn(**dict(params))
        except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as e:
            what = "timed out" if isinstance(e, requests.exceptions.Timeout) else "lost its connection"
            if write:
                raise UnknownOutcome(f"Bybit {method} {what}: {type(e).__name__}", code="network") from None
            raise Transient(f"Bybit {method} {what}: {type(e).__name__}", code="network") from None
        except requests.exceptions.RequestException as e:
            raise (UnknownOutcome if write else Transient)(f"Bybit {method}: {type(e).__name__}", code="network") from None
        except PermissionError as e:  # pybit: authenticated endpoint without keys
            raise AuthError(f"Bybit {method} needs API keys: {e}", code="no-keys") from None
        except InvalidRequestError as e:
            err = from_ret_code(int(e.status_code), str(e.message), e.resp_headers)
            if write and isinstance(err, Transient) and not err.not_processed:
                # A server error inside Bybit after a write arrived: it may have acted.
                raise UnknownOutcome(str(err), code=err.code) from None
            raise err from None
        except FailedRequestError as e:
            status = int(e.status_code) if str(e.status_code).isdigit() else 0
            if status == 409 and "decode" in str(e.message).lower():  # pybit: body was not JSON
                err: BrokerError = Transient(f"Bybit {method}: response was not JSON", code="bad-json")
            else:
                err = from_http_status(status, str(e.message), e.resp_headers)
            if write and isinstance(err, Transient):
                raise UnknownOutcome(str(err), code=err.code) from None
            raise err from None
        body, _elapsed, headers = out
        self._note_limits(headers)
        return body.get("result") or {}

    def _call(self, method: str, params: dict, *, write: bool = False) -> dict:
        """One API call under the transport's retry policy (the only one: pybit's is off)."""

        def on_retry(exc: BaseException, _attempt: int) -> None:
            if getattr(exc, "code", None) in CLOCK_SKEW:
                self.session.recv_window = min(60_000, int(self.session.recv_window) + 2500)

        return call_with_retries(lambda: self._raw(method, params, write), write=write,
                                 attempts=self.max_attempts, max_wait=self.max_wait, sleep=self._sleep,
                                 what=f"bybit {method}", on_retry=on_retry)

    def _write(self, action: str, params: dict) -> dict:
        """A write with its request and response logged."""
        entry: dict = {"action": action, "category": self.category, "network": self.network,
                       "request": dict(params), "ts": _utc(self._now_ms()).isoformat()}
        try:
            res = self._call(action, params, write=True)
        except BrokerError as e:
            entry["response"] = {"error": e.kind, "code": e.code, "message": str(e)}
            self.order_log.write(entry, ok=False)
            raise
        entry["response"] = res
        self.order_log.write(entry)
        return res

    def _pages(self, method: str, params: dict, *, max_pages: int = 100) -> list[dict]:
        def fetch(cursor):
            res = self._call(method, {**params, "cursor": cursor} if cursor else dict(params))
            return res.get("list") or [], res.get("nextPageCursor")

        return paginate(fetch, max_pages=max_pages)

    # ------------------------------------------------------------------ market data

    def server_time_ms(self) -> int:
        res = self._call("get_server_time", {})
        return int(res.get("timeNano", 0)) // 1_000_000 or int(res.get("timeSecond", 0)) * 1000

    def _spec_from(self, row: dict) -> Spec:
        lot_f = row.get("lotSizeFilter") or {}
        price_f = row.get("priceFilter") or {}
        if self.category == "spot":
            lot = _dec(lot_f.get("basePrecision"))
            min_notional = _dec(lot_f.get("minOrderAmt"))
        else:
            lot = _dec(lot_f.get("qtyStep"))
            min_notional = _dec(lot_f.get("minNotionalValue"))
        status = str(row.get("status") or "Trading")
        return Spec(
            symbol=row["symbol"], base=row.get("baseCoin", ""), quote=row.get("quoteCoin", ""),
            lot=lot, tick=_dec(price_f.get("tickSize")), min_qty=_dec(lot_f.get("minOrderQty")),
            min_notional=min_notional, max_qty=_dec(lot_f.get("maxOrderQty")) or None,
            status="trading" if status == "Trading" else status.lower(),
        )

    def load_specs(self, symbols: list[str] | None = None) -> dict[str, Spec]:
        if symbols and len(symbols) <= 5:
            rows = []
            for s in symbols:
                rows.extend(self._call("get_instruments_info", {"category": self.category, "symbol": s}).get("list") or [])
        else:
            rows = self._pages("get_instruments_info", {"category": self.category, "limit": 1000})
        for row in rows:
            spec = self._spec_from(row)
            self._specs[spec.symbol] = spec
        return {s: self._specs[s] for s in (symbols or self._specs) if s in self._specs}

    def spec(self, symbol: str) -> Spec:
        if symbol not in self._specs:
            self.load_specs([symbol])
        if symbol not in self._specs:
            raise Rejected(f"Bybit has no {self.category} instrument {symbol}", code="unknown-symbol")
        return self._specs[symbol]

    def instruments(self, symbols: list[str] | None = None) -> list[Instrument]:
        specs = self.load_specs(symbols)
        return [specs[s].instrument() for s in sorted(specs)]

    def top_symbols_by_turnover(self, n: int, quote_coin: str | None = None,
                                exclude: list[str] | tuple[str, ...] = ()) -> list[str]:
        """The ``n`` trading pairs in ``quote_coin`` with the largest 24h turnover.

        Stablecoin-against-stablecoin pairs, leveraged tokens and instruments not trading are
        left out, as are the symbols in ``exclude``."""
        quote = quote_coin or self.quote_coin
        if not self._specs:
            self.load_specs()
        rows = self._call("get_tickers", {"category": self.category}).get("list") or []
        out: list[tuple[Decimal, str]] = []
        skip = set(exclude)
        for r in rows:
            sym = r.get("symbol", "")
            spec = self._specs.get(sym)
            if spec is None or spec.status != "trading" or sym in skip:
                continue
            if spec.quote != quote or spec.base in STABLE_BASES or _LEVERAGED.search(spec.base):
                continue
            out.append((_dec(r.get("turnover24h")), sym))
        out.sort(key=lambda t: (-t[0], t[1]))
        return [s for _, s in out[:n]]

    def bars(self, symbol: str, start: str | None = None, end: str | None = None) -> list[Bar]:
        """Closed daily bars, ascending, dated by the UTC date of the candle start.

        Pages back from ``end`` (or now), at most 1000 candles a request.  The still-open candle (the
        newest row when the range reaches now, or any row whose period has not ended) is
        never returned."""
        step = interval_ms(self.interval)
        now = self._now_ms()
        open_start = now - now % step  # start of the candle still open (daily: today 00:00 UTC)
        start_ms = _date_ms(start) if start else None
        end_ms = min(_date_ms(end) + DAY_MS - 1 if end else now, now)
        seen: dict[int, list] = {}
        if start_ms is not None and start_ms > end_ms:
            return []
        first = True
        cursor_end = end_ms
        while True:
            # Only ``end`` + ``limit`` (the newest ``limit`` candles up to ``end``): unambiguous
            # paging; with a start, ask for no more candles than the range holds.
            limit = KLINE_LIMIT
            if start_ms is not None:
                limit = max(1, min(KLINE_LIMIT, (cursor_end - start_ms) // step + 2))
            params = {"category": self.category, "symbol": symbol, "interval": self.interval,
                      "end": cursor_end, "limit": limit}
            page = self._call("get_kline", params).get("list") or []
            if not page:
                break
            rows = sorted(page, key=lambda r: int(r[0]), reverse=True)  # newest first, as sent
            if first and int(rows[0][0]) >= open_start:
                rows = rows[1:]  # Bybit's first row is the candle still open: never stored
            first = False
            for r in rows:
                t = int(r[0])
                # A row whose period has not ended is open too, whatever its place.
                if t + step <= now and (start_ms is None or t >= start_ms) and t <= end_ms:
                    seen[t] = r
            oldest = min(int(r[0]) for r in page)
            if len(page) < limit or (start_ms is not None and oldest <= start_ms):
                break
            cursor_end = oldest - 1
        bars = []
        for t in sorted(seen):
            r = seen[t]
            bars.append(Bar(symbol=symbol, date=_utc(t).date().isoformat(), open=float(r[1]),
                            high=float(r[2]), low=float(r[3]), close=float(r[4]), volume=float(r[5])))
        return bars

    def last_price(self, symbol: str) -> float | None:
        rows = self._call("get_tickers", {"category": self.category, "symbol": symbol}).get("list") or []
        return float(rows[0]["lastPrice"]) if rows and rows[0].get("lastPrice") else None

    # ------------------------------------------------------------------ orders

    def order_params(self, req: OrderRequest) -> dict:
        """The create request for ``req``: qty/price rounded to step/tick, as strings.

        Raises Rejected (before anything is sent) when the rounded order is below the
        instrument's minimum quantity or value."""
        spec = self.spec(req.symbol)
        if spec.status != "trading":
            raise Rejected(f"{req.symbol} is not trading on Bybit ({spec.status})", code="not-trading")
        qty = round_to_step(req.qty, spec.lot, ROUND_DOWN)
        if qty <= 0 or qty < spec.min_qty:
            raise Rejected(f"{req.symbol} qty {req.qty} rounds to {fmt_decimal(qty)}, below the minimum "
                           f"{fmt_decimal(spec.min_qty)} (step {fmt_decimal(spec.lot)})", code="local-min-qty")
        if spec.max_qty and qty > spec.max_qty:
            raise Rejected(f"{req.symbol} qty {fmt_decimal(qty)} above the maximum {fmt_decimal(spec.max_qty)}",
                           code="local-max-qty")
        params = {"category": self.category, "symbol": req.symbol,
                  "side": "Buy" if req.side == "BUY" else "Sell",
                  "orderType": "Limit" if req.order_type == "limit" else "Market",
                  "qty": fmt_decimal(qty), "orderLinkId": req.client_order_id}
        if req.order_type == "limit":
            if req.limit_price is None or req.limit_price <= 0:
                raise Rejected("a limit order needs a positive limit price", code="local-price")
            # Round toward the passive side so the limit is never worse than asked.
            price = round_to_step(req.limit_price, spec.tick, ROUND_DOWN if req.side == "BUY" else ROUND_UP)
            if price <= 0:
                raise Rejected(f"limit price {req.limit_price} rounds to 0 at tick {spec.tick}", code="local-price")
            if spec.min_notional and qty * price < spec.min_notional:
                raise Rejected(f"{req.symbol} order value {fmt_decimal(qty * price)} below the minimum "
                               f"{fmt_decimal(spec.min_notional)}", code="local-min-notional")
            params["price"] = fmt_decimal(price)
            params["timeInForce"] = "GTC"
        elif self.category == "spot":
            params["marketUnit"] = "baseCoin"  # qty means base coin for market buys too
        return params

    def place(self, req: OrderRequest) -> OrderState:
        """One create.  A duplicate orderLinkId means it was placed before: that order is
        returned.  Any doubt about the outcome is ``UnknownOutcome`` for ``execute`` to resolve."""
        params = self.order_params(req)
        try:
            res = self._write("place_order", params)
        except DuplicateOrder:
            return self._already_placed(req.client_order_id)
        return self._after_create(req, res)

    def _already_placed(self, cid: str) -> OrderState:
        st = self.order_status(cid)
        if st is None:
            raise UnknownOutcome(f"Bybit says {cid} is a duplicate but does not show it yet", code="duplicate")
        return st

    def _after_create(self, req: OrderRequest, res: dict) -> OrderState:
        try:
            st = self.order_status(req.client_order_id)
        except BrokerError:
            st = None
        if st is not None:
            return st
        return OrderState(client_order_id=req.client_order_id, symbol=req.symbol, side=req.side,
                          qty=req.qty, status="new", broker_order_id=res.get("orderId"),
                          order_type=req.order_type, limit_price=req.limit_price)

    def _state(self, o: dict) -> OrderState:
        filled = _dec(o.get("cumExecQty"))
        avg = _dec(o.get("avgPrice"))
        if not avg and filled:
            avg = _dec(o.get("cumExecValue")) / filled
        price = _dec(o.get("price"))
        status = _STATUS.get(str(o.get("orderStatus")), "new")
        return OrderState(
            client_order_id=o.get("orderLinkId") or "", symbol=o.get("symbol", ""),
            side="BUY" if o.get("side") == "Buy" else "SELL", qty=float(_dec(o.get("qty"))),
            status=status, filled_qty=float(filled), avg_price=float(avg) if avg else None,
            broker_order_id=o.get("orderId"), order_type=str(o.get("orderType", "Market")).lower(),
            limit_price=float(price) if price and str(o.get("orderType")) == "Limit" else None,
            reject_reason=(o.get("rejectReason") or None) if status in ("rejected", "cancelled") else None,
        )

    def order_status(self, client_order_id: str, broker_order_id: str | None = None) -> OrderState | None:
        params = {"category": self.category, "orderLinkId": client_order_id}
        if self.category == "linear":
            params["settleCoin"] = self.quote_coin
        for method in ("get_open_orders", "get_order_history"):
            try:
                rows = self._call(method, params).get("list") or []
            except NotFound:
                rows = []
            rows = [r for r in rows if r.get("orderLinkId") == client_order_id]
            if rows:
                return self._state(rows[0])
        return None

    def _require(self, client_order_id: str) -> OrderState:
        st = self.order_status(client_order_id)
        if st is None:
            raise NotFound(f"Bybit has no order {client_order_id}", code="not-found")
        return st

    def cancel(self, client_order_id: str) -> OrderState:
        st = self._require(client_order_id)
        if not st.is_open:
            return st
        params = {"category": self.category, "symbol": st.symbol, "orderLinkId": client_order_id}
        try:
            self._write("cancel_order", params)
        except NotFound:
            pass  # finished or cancelled meanwhile: the status below says which
        except UnknownOutcome:
            # Cancelling twice is harmless: check, and ask once more if it is still open.
            again = self._require(client_order_id)
            if again.is_open:
                try:
                    self._write("cancel_order", params)
                except NotFound:
                    pass
        return self._require(client_order_id)

    def replace(self, client_order_id: str, *, qty: float | None = None, price: float | None = None) -> OrderState:
        st = self._require(client_order_id)
        if not st.is_open:
            raise Rejected(f"order {client_order_id} is {st.status}; it cannot be amended", code="not-open")
        spec = self.spec(st.symbol)
        params: dict = {"category": self.category, "symbol": st.symbol, "orderLinkId": client_order_id}
        if qty is not None:
            q = round_to_step(qty, spec.lot, ROUND_DOWN)
            if q <= 0 or q < spec.min_qty:
                raise Rejected(f"amended qty {qty} is below the minimum {fmt_decimal(spec.min_qty)}", code="local-min-qty")
            params["qty"] = fmt_decimal(q)
        if price is not None:
            p = round_to_step(price, spec.tick, ROUND_DOWN if st.side == "BUY" else ROUND_UP)
            if p <= 0:
                raise Rejected(f"amended price {price} rounds to 0", code="local-price")
            params["price"] = fmt_decimal(p)
        if len(params) == 3:
            return st
        self._write("amend_order", params)
        return self._require(client_order_id)

    def open_orders(self) -> list[OrderState]:
        params: dict = {"category": self.category, "openOnly": 0, "limit": 50}
        if self.category == "linear":
            params["settleCoin"] = self.quote_coin
        return [s for s in (self._state(o) for o in self._pages("get_open_orders", params)) if s.is_open]

    # ------------------------------------------------------------------ account

    def _fill(self, e: dict) -> Fill:
        t = int(e.get("execTime") or 0)
        price = _dec(e.get("execPrice"))
        fee = _dec(e.get("execFee"))
        fee_ccy = e.get("feeCurrency") or ""
        sym = e.get("symbol", "")
        qty = _dec(e.get("execQty"))
        fee_qty = Decimal(0)
        if self.category == "spot" and fee_ccy and fee_ccy != self.quote_coin:
            base = self._specs[sym].base if sym in self._specs else sym[: -len(self.quote_coin)]
            if fee_ccy == base:
                # A spot buy pays its fee in the coin bought: the order filled ``qty`` (filled
                # means filled) and the wallet received ``qty - fee`` (the position).  The fee
                # is reported at its quote value.
                fee_qty = fee
                fee = fee * price
            else:
                log.warning("bybit fill %s: fee %s %s is not in %s or the base coin; reported as is",
                            e.get("execId"), fee, fee_ccy, self.quote_coin)
        return Fill(
            fill_id=str(e.get("execId")), client_order_id=e.get("orderLinkId") or "", symbol=sym,
            side="BUY" if e.get("side") == "Buy" else "SELL", qty=float(qty),
            price=float(price), fee=float(fee), date=_utc(t).date().isoformat(),
            ts=_utc(t).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            broker_order_id=e.get("orderId") or None, fee_qty=float(fee_qty),
        )

    def fills(self, since: str | None = None) -> list[Fill]:
        """Trade executions at or after ``since`` (default: Bybit's last 7 days), oldest first.

        Bybit answers at most 7 days per request, so a longer span is walked week by week."""
        base = {"category": self.category, "limit": 100}
        rows: list[dict] = []
        if since is None:
            rows = self._pages("get_executions", base)
            start = None
        else:
            start = _since_ms(since)
            now = self._now_ms()
            lo = start
            while lo <= now:
                hi = min(lo + WEEK_MS - 1, now)
                rows.extend(self._pages("get_executions", {**base, "startTime": lo, "endTime": hi}))
                lo = hi + 1
        out: dict[str, Fill] = {}
        for e in rows:
            if e.get("execType", "Trade") != "Trade":
                continue  # funding, settlement: not fills of our orders
            f = self._fill(e)
            if start is not None and int(e.get("execTime") or 0) < start:
                continue
            out[f.fill_id] = f
        return sorted(out.values(), key=lambda f: (f.ts, f.fill_id))

    def _wallet(self) -> list[dict]:
        res = self._call("get_wallet_balance", {"accountType": "UNIFIED"})
        acct = (res.get("list") or [{}])[0]
        return acct.get("coin") or []

    def balance(self) -> Balance:
        cash = Decimal(0)
        holdings: dict[str, float] = {}
        for c in self._wallet():
            coin = c.get("coin", "")
            total = _dec(c.get("walletBalance"))
            if coin == self.quote_coin:
                cash = total - _dec(c.get("locked"))
            elif total > 0 and self.category == "spot":
                holdings[f"{coin}{self.quote_coin}"] = float(total)
        return Balance(cash=float(cash), currency=self.quote_coin, holdings=holdings)

    def positions(self) -> list[Position]:
        """Linear: open positions (short is negative).  Spot has no positions: the holdings
        in the wallet are reported as positions with ``avg_price`` 0 (Bybit keeps no cost)."""
        if self.category == "spot":
            return [Position(symbol=s, qty=q, avg_price=0.0) for s, q in sorted(self.balance().holdings.items())]
        rows = self._pages("get_positions", {"category": "linear", "settleCoin": self.quote_coin, "limit": 200})
        out = []
        for p in rows:
            size = _dec(p.get("size"))
            if not size:
                continue
            out.append(Position(symbol=p["symbol"], qty=float(size if p.get("side") == "Buy" else -size),
                                avg_price=float(_dec(p.get("avgPrice")))))
        return out

