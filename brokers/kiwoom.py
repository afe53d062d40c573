"""Kiwoom REST adapter: the KRX data feed and the live KRX broker.

``pykiwoom`` needs Windows and an ActiveX control, so qtx speaks Kiwoom's REST API
(``https://api.kiwoom.com``; mock trading ``https://mockapi.kiwoom.com``).  Every TR is a POST
with a JSON body and ``api-id`` / ``authorization: Bearer`` headers; lists page through the
``cont-yn`` / ``next-key`` response headers; errors often come as HTTP 200 with a non-zero
``return_code`` and the specific code in brackets inside ``return_msg``.

What this adapter guarantees (the facts are in ``shared/spec/kiwoom-rest.md``):

- The OAuth token lives in the adapter's store (``AdapterStore``), so ``collect``, ``execute``
  and the fill sync, separate processes, share one token until shortly before it expires; an
  answer that says the token is invalid re-issues it once.  Device/IP errors (8010, 8040, 8050,
  8103: the app key is bound to registered public IPs) are ``IpNotAllowed`` with what to do.
- Kiwoom has no client order id.  The intent is in qtx's database before the request, the id
  map row (ours -> ``ord_no``) is written in the store *before* the create is sent and completed
  the moment Kiwoom names its ``ord_no``.  An unknown outcome is never resent
  (``Capabilities.enforces_client_ids`` is False): ``reconcile`` finds the order on Kiwoom's own
  lists (ka10075 open orders, ka10076 executions).
- Requests are paced per API id and a 1700 answer ("too many requests": not processed) waits and
  retries, through the shared transport (``brokers.http``).
- Numbers arrive as strings: prices carry a sign against the previous close (``"+70100"``) and
  amounts are zero-padded (``"-00000000196888"``); both are parsed here and nowhere else.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from datetime import time as dtime

from brokers.base import (
    AdapterStore,
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
    RateLimited,
    Rejected,
    Transient,
    UnknownOutcome,
)
from brokers.http import JsonPost, OrderLog, Throttle, call_with_retries
from brokers.krx import price_band, round_to_tick
from sennot.numeric import floor_to_lot

log = logging.getLogger("qtx.kiwoom")

KST = timezone(timedelta(hours=9))
HOSTS = {"real": "https://api.kiwoom.com", "mock": "https://mockapi.kiwoom.com"}
CLOSED_AFTER = dtime(15, 40)  # the closing auction ends 15:30; the day's bar is final after it
TOKEN_MARGIN = timedelta(minutes=10)  # re-issue this long before expires_dt, as Kiwoom's own client
MARKETS = ("0", "10", "8")  # ka10099 mrkt_tp: KOSPI, KOSDAQ, ETF

RATE_LIMIT_CODE = 1700
TOKEN_CODES = {8003, 8005, 8006, 8009, 8015, 8016}      # token missing, invalid or expired
DEVICE_CODES = {8010, 8040, 8050, 8103}                  # token from another IP, device checks
KEY_CODES = {8001, 8002, 8011, 8012, 8020, 8030, 8031}   # bad key, real/mock mismatch
_INNER = re.compile(r"\[(\d{4}):")

IP_HELP = ("Kiwoom accepts this app key only from the public IP addresses registered for it: "
           "register this machine's public IP in Kiwoom's Open API portal (API 사용신청 → IP 등록), "
           "or run qtx from a registered address; then run the stage again")


class IpNotAllowed(AuthError):
    """The app key is not allowed from this machine (its public IP is not registered)."""



def number(text: object) -> float:
    """Kiwoom's numeric strings: ``"+70100"``, ``"-239500"`` (signed against the previous close:
    the magnitude is the price) are prices; use ``amount`` for signed amounts."""
    s = str(text).strip().lstrip("+-")
    return float(s) if s else 0.0


def amount(text: object) -> float:
    """A signed, zero-padded amount: ``"-00000000196888"`` -> -196888."""
    s = str(text).strip()
    if not s:
        return 0.0
    neg = s.startswith("-")
    v = float(s.lstrip("+-") or 0)
    return -v if neg else v


class MemoryStore:
    """An in-memory ``AdapterStore`` for scripts and unit tests (qtx passes ``db.broker_store``)."""

    def __init__(self) -> None:
        self.kv: dict[str, tuple[str, str | None]] = {}
        self.ids: dict[str, dict] = {}

    def get(self, key: str, now: str | None = None) -> str | None:
        v = self.kv.get(key)
        if v is None or (v[1] is not None and v[1] <= (now or datetime.now(UTC).isoformat())):
            return None
        return v[0]

    def put(self, key: str, value: str, expires_at: str | None = None) -> None:
        self.kv[key] = (value, expires_at)

    def delete(self, key: str) -> None:
        self.kv.pop(key, None)

    def note_sending(self, client_order_id: str, symbol: str, side: str, qty: float) -> None:
        self.ids.setdefault(client_order_id, {"client_order_id": client_order_id, "symbol": symbol, "side": side,
                                              "qty": qty, "broker_order_id": None,
                                              "sent_at": datetime.now(UTC).isoformat()})

    def note_venue_id(self, client_order_id: str, broker_order_id: str) -> None:
        if client_order_id in self.ids:
            self.ids[client_order_id]["broker_order_id"] = broker_order_id

    def venue_id(self, client_order_id: str) -> str | None:
        return (self.ids.get(client_order_id) or {}).get("broker_order_id")

    def client_id(self, broker_order_id: str) -> str | None:
        return next((c for c, r in self.ids.items() if r["broker_order_id"] == broker_order_id), None)

    def sent(self, client_order_id: str) -> dict | None:
        return self.ids.get(client_order_id)


class _TokenInvalid(Exception):
    pass


class KiwoomBroker:
    """The broker interface on Kiwoom REST (KRX stocks, cash account)."""

    name = "kiwoom"
    # No client order ids: an unknown create is never sent again.  Kiwoom acknowledges a create
    # with its ord_no; its lists may show the order a moment later.
    capabilities = Capabilities(enforces_client_ids=False, visibility_delay=2.0, cancel_replace=True)

    def __init__(self, appkey: str, secretkey: str, *, base_url: str = HOSTS["real"],
                 store: AdapterStore | None = None, exchange: str = "KRX", timeout: float = 10.0,
                 min_interval: float = 0.25, max_attempts: int = 4, max_wait: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 on_order_log: Callable[[dict], None] | None = None):
        if not appkey or not secretkey:
            raise MissingKeys("Kiwoom needs an app key and a secret key", code="no-keys")
        self._appkey, self._secretkey = appkey, secretkey
        self.http = JsonPost(base_url, timeout=timeout, venue="Kiwoom")
        self.store: AdapterStore = store if store is not None else MemoryStore()
        self.exchange = exchange
        self.max_attempts, self.max_wait = max_attempts, max_wait
        self._sleep, self._clock = sleep, clock
        self.throttle = Throttle(default=min_interval, sleep=sleep, max_wait=max_wait)
        self.order_log = OrderLog("kiwoom", on_order_log)
        self._etfs: set[str] = set()
        self.rate_limited = 0  # 1700 answers seen (reported by collect and execute)

    @classmethod
    def from_settings(cls, section, store: AdapterStore | None = None,
                      secret: Callable[[str], str | None] | None = None, **kw) -> KiwoomBroker:
        """Build from the ``kiwoom:`` config section; the keys come from the variables it names,
        read through ``secret`` (the pipeline passes the config's secret reader)."""
        read = secret or os.environ.get
        key = (read(section.appkey_env) or "").strip()
        sec = (read(section.secretkey_env) or "").strip()
        missing = [n for n, v in ((section.appkey_env, key), (section.secretkey_env, sec)) if not v]
        if missing:
            raise MissingKeys(
                f"Kiwoom needs its API keys: environment variable {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set (config keys kiwoom.appkey_env / "
                "kiwoom.secretkey_env name them; QTX_ENV_FILE may hold them)", code="no-keys")
        kw.setdefault("timeout", section.timeout)
        kw.setdefault("min_interval", section.min_interval)
        return cls(key, sec, base_url=section.endpoint or HOSTS[section.network], store=store,
                   exchange=section.exchange, **kw)

    # ------------------------------------------------------------------ time

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), tz=UTC)

    def market_today(self) -> str:
        """The KRX date by the adapter's clock (KST)."""
        return self._now().astimezone(KST).date().isoformat()

    def _kst_ts(self, day: str, hhmmss: str) -> str:
        """A KST market time of ``day`` as an ISO UTC timestamp."""
        hhmmss = (hhmmss or "000000").strip().zfill(6)[:6]
        t = datetime.strptime(day + hhmmss, "%Y-%m-%d%H%M%S").replace(tzinfo=KST)
        return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    # ------------------------------------------------------------------ token

    def _token(self) -> str:
        tok = self.store.get("token", now=self._now().isoformat())
        return tok or self._issue_token()

    def _issue_token(self) -> str:
        body = {"grant_type": "client_credentials", "appkey": self._appkey, "secretkey": self._secretkey}
        status, _h, data = self.http.post("/oauth2/token", body, {"Content-Type": "application/json;charset=UTF-8"},
                                          write=False, what="token (au10001)")
        try:
            self._check(status, data, "au10001", write=False)
        except _TokenInvalid:
            raise AuthError(f"Kiwoom refused to issue a token: {data.get('return_msg')}", code="token") from None
        token = data.get("token")
        if not token:
            raise AuthError("Kiwoom issued no token", code="token")
        try:
            expires = datetime.strptime(str(data.get("expires_dt")), "%Y%m%d%H%M%S").replace(tzinfo=KST)
        except ValueError:
            expires = self._now() + timedelta(hours=1)
        self.store.put("token", token, (expires - TOKEN_MARGIN).astimezone(UTC).isoformat())
        log.info("kiwoom: token issued, valid until %s KST", expires.strftime("%Y-%m-%d %H:%M"))
        return token

    # ------------------------------------------------------------------ transport

    def _check(self, status: int, data: dict, api_id: str, write: bool) -> None:
        """Raise the error an answer means; return when it is a success."""
        code = data.get("return_code")
        msg = str(data.get("return_msg") or "")
        m = _INNER.search(msg)
        inner = int(m.group(1)) if m else None
        text = f"Kiwoom {api_id}: {msg or f'HTTP {status}'}"
        if status == 429 or inner == RATE_LIMIT_CODE:
            self.rate_limited += 1
            self.throttle.hold(1.0, api_id)
            raise RateLimited(text, code=RATE_LIMIT_CODE, retry_after=1.0)
        if inner in DEVICE_CODES:
            raise IpNotAllowed(f"{text}. {IP_HELP}", code=inner)
        if status == 401 or inner in TOKEN_CODES:
            raise _TokenInvalid(text)
        if inner in KEY_CODES:
            raise AuthError(f"{text} (check the app key and secret key, and that kiwoom.network "
                            "matches them: real and mock trading have different keys)", code=inner)
        if status >= 500:
            raise (UnknownOutcome if write else Transient)(text, code=f"http-{status}")
        if code not in (0, "0") or status != 200:
            raise Rejected(text, code=inner or code or f"http-{status}")

    def _tr(self, api_id: str, path: str, body: dict, *, write: bool = False,
            next_key: str | None = None) -> tuple[dict, dict]:
        """One TR under the pacing and retry policy; returns (body, response headers)."""
        def once() -> tuple[dict, dict]:
            for attempt in (1, 2):
                self.throttle.wait(api_id)
                headers = {"Content-Type": "application/json;charset=UTF-8", "api-id": api_id,
                           "authorization": f"Bearer {self._token()}"}
                if next_key:
                    headers.update({"cont-yn": "Y", "next-key": next_key})
                status, rh, data = self.http.post(path, body, headers, write=write, what=api_id)
                try:
                    self._check(status, data, api_id, write)
                except _TokenInvalid as e:
                    # Refused before processing: issue a new token and ask once more.
                    self.store.delete("token")
                    if attempt == 2:
                        raise AuthError(f"{e} (even with a new token)", code="token") from None
                    continue
                return data, dict(rh)
            raise AssertionError("unreachable")

        return call_with_retries(once, write=write, attempts=self.max_attempts, max_wait=self.max_wait,
                                 sleep=self._sleep, what=f"kiwoom {api_id}")

    def _pages(self, api_id: str, path: str, body: dict, list_key: str, *, max_pages: int = 500,
               enough: Callable[[list[dict]], bool] | None = None) -> list[dict]:
        rows: list[dict] = []
        key = None
        for _ in range(max_pages):
            data, rh = self._tr(api_id, path, body, next_key=key)
            page = data.get(list_key) or []
            rows.extend(page)
            key = rh.get("next-key") if str(rh.get("cont-yn", "N")).upper() == "Y" else None
            if not key or not page or (enough is not None and enough(page)):
                break
        return rows

    def _write(self, api_id: str, body: dict) -> dict:
        entry: dict = {"api_id": api_id, "exchange": self.exchange, "request": dict(body),
                       "ts": self._now().isoformat()}
        try:
            data, _ = self._tr(api_id, "/api/dostk/ordr", body, write=True)
        except BrokerError as e:
            entry["response"] = {"error": e.kind, "code": e.code, "message": str(e)}
            self.order_log.write(entry, ok=False)
            raise
        entry["response"] = data
        self.order_log.write(entry)
        return data

    # ------------------------------------------------------------------ market data

    def bars(self, symbol: str, start: str | None = None, end: str | None = None) -> list[Bar]:
        """Closed daily bars (adjusted prices), ascending, from ka10081.  Never today's bar before
        the close, never one after ``end``."""
        now = self._now().astimezone(KST)
        today = now.date().isoformat()
        last = min(end or today, today)
        if last == today and now.time() < CLOSED_AFTER:
            last = (now.date() - timedelta(days=1)).isoformat()
        body = {"stk_cd": symbol, "base_dt": last.replace("-", ""), "upd_stkpc_tp": "1"}
        first = (start or "0000-00-00").replace("-", "")
        rows = self._pages("ka10081", "/api/dostk/chart", body, "stk_dt_pole_chart_qry",
                           enough=lambda page: min(str(r.get("dt", "")) for r in page) <= first)
        out: dict[str, Bar] = {}
        for r in rows:
            dt = str(r.get("dt", ""))
            if len(dt) != 8 or not dt.isdigit():
                continue
            d = f"{dt[:4]}-{dt[4:6]}-{dt[6:]}"
            if (start and d < start) or d > last:
                continue
            try:
                out[d] = Bar(symbol, d, number(r["open_pric"]), number(r["high_pric"]), number(r["low_pric"]),
                             number(r["cur_prc"]), number(r["trde_qty"]))
            except (KeyError, ValueError):
                log.warning("kiwoom ka10081 %s %s: unreadable row skipped", symbol, dt)
        return [out[d] for d in sorted(out)]

    def instruments(self, symbols: list[str] | None = None) -> list[Instrument]:
        """KOSPI, KOSDAQ and ETF listings from ka10099: the industry (``upName``) as the sector,
        trading halts and order warnings in ``status``."""
        want = set(symbols) if symbols else None
        out: dict[str, Instrument] = {}
        for market in MARKETS:
            for r in self._pages("ka10099", "/api/dostk/stkinfo", {"mrkt_tp": market}, "list"):
                code = str(r.get("code", "")).strip()
                if not code or (want is not None and code not in want):
                    continue
                if market == "8":
                    self._etfs.add(code)
                out[code] = Instrument(code, lot=1.0, tick=None, min_qty=1.0, min_notional=0.0,
                                       sector=(str(r.get("upName") or "").strip() or None),
                                       name=str(r.get("name") or "").strip() or None, status=_status(r))
        return [out[c] for c in sorted(out)]

    # ------------------------------------------------------------------ orders

    def place(self, req: OrderRequest) -> OrderState:
        """A market order (for the opening auction) or a limit order on the tick grid, inside the
        day's price band.  The id map row is written before the request is sent."""
        qty = int(floor_to_lot(req.qty))
        if qty < 1:
            raise Rejected(f"{req.symbol}: quantity {req.qty:g} is less than one share", code="local-qty")
        body = {"dmst_stex_tp": self.exchange, "stk_cd": req.symbol, "ord_qty": str(qty), "ord_uv": "",
                "trde_tp": "3", "cond_uv": ""}
        price = None
        if req.order_type == "limit":
            if not req.limit_price or req.limit_price <= 0:
                raise Rejected("a limit order needs a positive limit price", code="local-price")
            etf = req.symbol in self._etfs
            price = round_to_tick(req.limit_price, req.side, etf)
            if req.reference_price:
                lo, hi = price_band(req.reference_price, etf)
                if not lo <= price <= hi:
                    raise Rejected(f"{req.symbol}: limit {price} outside today's band {lo}-{hi} "
                                   f"(±30% of {req.reference_price:g})", code="local-band")
            body.update(ord_uv=str(price), trde_tp="0")
        self.store.note_sending(req.client_order_id, req.symbol, req.side, qty)
        data = self._write("kt10000" if req.side == "BUY" else "kt10001", body)
        ord_no = str(data.get("ord_no") or "").strip()
        if not ord_no:
            raise UnknownOutcome(f"Kiwoom accepted {req.client_order_id} without an order number", code="no-ord-no")
        self.store.note_venue_id(req.client_order_id, ord_no)
        return OrderState(req.client_order_id, req.symbol, req.side, qty, "new", broker_order_id=ord_no,
                          order_type=req.order_type, limit_price=price, ts=self._now().isoformat())

    def order_status(self, client_order_id: str, broker_order_id: str | None = None) -> OrderState | None:
        """The order by its ``ord_no`` (ours from the id map), from today's open orders and
        executions.  A day order of an earlier day that neither list shows has ended unfilled."""
        vid = broker_order_id or self.store.venue_id(client_order_id)
        if not vid:
            return None  # the create never got a number: reconcile matches it on the lists
        sent = self.store.sent(client_order_id) or {}
        sym = sent.get("symbol")
        for r in self._open_rows(sym):
            if r.get("ord_no") == vid:
                return self._state(r, client_order_id)
        for r in self._fill_rows(sym):
            if r.get("ord_no") == vid:
                return self._state(r, client_order_id)
        sent_day = str(sent.get("sent_at") or "")[:19]
        if sent_day and _kst_day(sent_day) < self.market_today():
            return OrderState(client_order_id, sym or "", sent.get("side") or "BUY", float(sent.get("qty") or 0),
                              "cancelled", broker_order_id=vid, reject_reason="day order ended unfilled")
        return None

    def _state(self, r: dict, client_order_id: str | None = None) -> OrderState:
        qty = number(r.get("ord_qty"))
        filled = number(r.get("cntr_qty"))
        open_qty = number(r.get("oso_qty"))
        if open_qty > 0:
            status = "partially_filled" if filled > 0 else "new"
        else:
            status = "filled" if filled >= qty else "cancelled"
        vid = str(r.get("ord_no"))
        price = number(r.get("ord_pric"))
        return OrderState(client_order_id or self.store.client_id(vid) or f"kiwoom-{vid}", str(r.get("stk_cd")),
                          _side(r), qty, status, filled, number(r.get("cntr_pric")) or None, vid,
                          "limit" if price else "market", price or None,
                          ts=self._kst_ts(self.market_today(), str(r.get("tm") or r.get("ord_tm") or "")))

    def _open_rows(self, symbol: str | None = None) -> list[dict]:
        body = {"all_stk_tp": "1" if symbol else "0", "trde_tp": "0", "stex_tp": "0", "stk_cd": symbol or ""}
        return self._pages("ka10075", "/api/dostk/acnt", body, "oso")

    def _fill_rows(self, symbol: str | None = None) -> list[dict]:
        body = {"qry_tp": "1" if symbol else "0", "sell_tp": "0", "stex_tp": "0", "stk_cd": symbol or "",
                "ord_no": ""}
        return self._pages("ka10076", "/api/dostk/acnt", body, "cntr")

    def open_orders(self) -> list[OrderState]:
        return [self._state(r) for r in self._open_rows() if number(r.get("oso_qty")) > 0]

    def cancel(self, client_order_id: str) -> OrderState:
        vid, sym = self._require(client_order_id)
        try:
            self._write("kt10003", {"dmst_stex_tp": self.exchange, "orig_ord_no": vid, "stk_cd": sym,
                                    "cncl_qty": "0"})
        except Rejected:
            pass  # nothing left to cancel (filled meanwhile): the status below says which
        return self.order_status(client_order_id) or OrderState(client_order_id, sym, "BUY", 0, "cancelled",
                                                                broker_order_id=vid)

    def replace(self, client_order_id: str, *, qty: float | None = None, price: float | None = None) -> OrderState:
        """Amend an open limit order; Kiwoom gives the amended order a new ``ord_no``, which the id
        map then points to."""
        st = self.order_status(client_order_id)
        if st is None or not st.is_open:
            raise Rejected(f"order {client_order_id} is not open; it cannot be amended", code="not-open")
        new_qty = int(floor_to_lot(qty if qty is not None else st.qty - st.filled_qty))
        new_price = round_to_tick(price if price is not None else (st.limit_price or 0), st.side,
                                  st.symbol in self._etfs)
        if new_price <= 0 or new_qty < 1:
            raise Rejected("an amendment needs a positive price and at least one share", code="local-amend")
        data = self._write("kt10002", {"dmst_stex_tp": self.exchange, "orig_ord_no": st.broker_order_id,
                                       "stk_cd": st.symbol, "mdfy_qty": str(new_qty), "mdfy_uv": str(new_price),
                                       "mdfy_cond_uv": ""})
        if data.get("ord_no"):
            self.store.note_venue_id(client_order_id, str(data["ord_no"]))
        return self.order_status(client_order_id) or st

    def _require(self, client_order_id: str) -> tuple[str, str]:
        vid = self.store.venue_id(client_order_id)
        sent = self.store.sent(client_order_id)
        if not vid or not sent:
            raise NotFound(f"no Kiwoom order number known for {client_order_id}", code="not-found")
        return vid, sent["symbol"]

    # ------------------------------------------------------------------ account

    def fills(self, since: str | None = None) -> list[Fill]:
        """Today's executions (ka10076 answers for the current day), one cumulative row per
        order: quantity, average price and the commission and tax Kiwoom charged."""
        today = self.market_today()
        if since and since[:10] > today:
            return []
        out = []
        for r in self._fill_rows():
            qty = number(r.get("cntr_qty"))
            if qty <= 0:
                continue
            vid = str(r.get("ord_no"))
            out.append(Fill(f"kiwoom-{today}-{vid}-{qty:g}", self.store.client_id(vid) or f"kiwoom-{vid}",
                            str(r.get("stk_cd")), _side(r), qty, number(r.get("cntr_pric")),
                            amount(r.get("tdy_trde_cmsn")) + amount(r.get("tdy_trde_tax")), today,
                            self._kst_ts(today, str(r.get("ord_tm") or "")), broker_order_id=vid, cumulative=True))
        return sorted(out, key=lambda f: (f.ts, f.fill_id))

    def positions(self) -> list[Position]:
        data, _ = self._tr("kt00018", "/api/dostk/acnt", {"qry_tp": "1", "dmst_stex_tp": self.exchange})
        rows = list(data.get("acnt_evlt_remn_indv_tot") or [])
        out = []
        for r in rows:
            code = str(r.get("stk_cd", "")).strip()
            code = code[1:] if code[:1].isalpha() else code  # "A005930" -> "005930"
            qty = amount(r.get("rmnd_qty"))
            if qty > 0:
                out.append(Position(code, qty, amount(r.get("pur_pric"))))
        return sorted(out, key=lambda p: p.symbol)

    def balance(self) -> Balance:
        """Cash is the deposit after the pending settlements (``d2_entra``, D+2): what the
        account can spend on the next open."""
        data, _ = self._tr("kt00001", "/api/dostk/acnt", {"qry_tp": "3"})
        cash = amount(data.get("d2_entra") if data.get("d2_entra") not in (None, "") else data.get("entr"))
        return Balance(cash, "KRW", {p.symbol: p.qty for p in self.positions()})

    def server_ok(self) -> bool:
        """A cheap authenticated call (for health checks): issues or reuses the token."""
        return bool(self._token())


def _side(r: dict) -> str:
    return "SELL" if "매도" in str(r.get("io_tp_nm", "")) else "BUY"


def _status(r: dict) -> str:
    state = str(r.get("state") or "")
    warning = str(r.get("orderWarning") or "0").strip()
    if "거래정지" in state:
        return "halted"
    if warning not in ("", "0"):
        return f"warning:{warning}"
    return "trading"


def _kst_day(iso_utc: str) -> str:
    t = datetime.fromisoformat(iso_utc.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(KST).date().isoformat()


__all__ = ["HOSTS", "IpNotAllowed", "KiwoomBroker", "MemoryStore", "MissingKeys", "amount", "number"]
