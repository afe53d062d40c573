"""KiwoomBroker against the local Kiwoom REST fake on 127.0.0.1 (real sockets, real requests)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from brokers.base import (
    AuthError,
    Broker,
    CancelReplace,
    OrderRequest,
    Rejected,
    client_order_id,
)
from brokers.kiwoom import KST, IpNotAllowed, KiwoomBroker, MemoryStore, MissingKeys, amount, number
from brokers.krx import price_band, round_to_tick, sell_tax_rate, settlement_date, tick
from db import trading
from db.broker_store import BrokerStore
from pipeline.config import from_dict
from pipeline.stages.execute import submit
from pipeline.stages.reconcile import run_reconcile
from pipeline.stages.sync import sync
from tests.fakes.kiwoom_rest import FakeKiwoomRest

SYM, ETF, OTHER = "005930", "069500", "000660"
TODAY = "2026-03-03"


def weekdays_before(day: str, n: int) -> list[str]:
    d, out = datetime.strptime(day, "%Y-%m-%d"), []
    while len(out) < n:
        d -= timedelta(days=1)
        if d.weekday() < 5:
            out.append(d.strftime("%Y-%m-%d"))
    return out[::-1]


def kst_clock(day: str, hhmm: str):
    t = datetime.strptime(f"{day} {hhmm}", "%Y-%m-%d %H:%M").replace(tzinfo=KST)
    return lambda: t.timestamp()


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def kw():
    with FakeKiwoomRest(cash=10_000_000, today=TODAY, page_size=50) as kw:
        kw.add_instrument(SYM, "삼성전자", up_name="전기전자")
        kw.add_instrument(OTHER, "SK하이닉스", up_name="전기전자", order_warning="1")
        kw.add_instrument(ETF, "KODEX 200", market="8", up_name="")
        days = weekdays_before(TODAY, 130)
        kw.add_bars(SYM, [(d, 70000 + 100 * i, 70500 + 100 * i, 69500 + 100 * i, 70200 + 100 * i, 1_000_000 + i)
                          for i, d in enumerate(days)])
        kw.add_bars(OTHER, [(d, 150000, 151000, 149000, 150500, 500_000) for d in days])
        kw.add_bars(ETF, [(d, 35000, 35200, 34900, 35100, 10_000) for d in days])
        yield kw


@pytest.fixture
def sleeps():
    return Sleeps()


def make(kw, store=None, at="08:40", day=TODAY, sleeps=None, **kw_args) -> KiwoomBroker:
    return KiwoomBroker(kw.appkey, kw.secretkey, base_url=kw.url, store=store or MemoryStore(),
                        timeout=1.0, min_interval=0.0, clock=kst_clock(day, at),
                        sleep=sleeps if sleeps is not None else (lambda s: None), **kw_args)


def buy(symbol=SYM, qty=10, day="2026-03-02", **kw) -> OrderRequest:
    return OrderRequest(client_order_id(day, "BUY", symbol), symbol, "BUY", qty, date=day, **kw)


# --------------------------------------------------------------------------- parsing and rules

def test_numbers_and_amounts_as_kiwoom_sends_them():
    assert number("+70100") == 70100 and number("-239500") == 239500 and number("0") == 0
    assert amount("-00000000196888") == -196888 and amount("000000001234") == 1234 and amount("") == 0


def test_krx_ticks_bands_and_tax_by_settlement_year():
    assert [tick(p) for p in (1999, 2000, 4999, 19990, 49950, 199900, 499500, 500000)] == \
        [1, 5, 5, 10, 50, 100, 500, 1000]
    assert tick(35000, etf=True) == 5
    assert round_to_tick(70123, "BUY") == 70100 and round_to_tick(70123, "SELL") == 70200
    assert round_to_tick(50020, "BUY") == 50000 and round_to_tick(49990, "SELL") == 50000
    assert price_band(70000) == (49000, 91000)
    assert price_band(10000) == (7000, 13000)
    # A sale on the last trading days of 2025 settles in 2026 and pays 2026's rate.
    table = {2025: 0.0015, 2026: 0.0020}
    assert settlement_date("2025-12-30") == "2026-01-01"
    assert sell_tax_rate("2025-12-30", table, 0.002) == 0.0020
    assert sell_tax_rate("2025-06-02", table, 0.002) == 0.0015
    assert sell_tax_rate("2025-06-02", {}, 0.002) == 0.002


# --------------------------------------------------------------------------- token

def test_implements_the_interfaces(kw):
    b = make(kw)
    assert isinstance(b, Broker) and isinstance(b, CancelReplace)
    assert b.capabilities.enforces_client_ids is False


def test_token_is_issued_once_and_reused_through_the_store(kw, qtx_db):
    store = BrokerStore(qtx_db, "kiwoom")
    make(kw, store).positions()
    make(kw, BrokerStore(qtx_db, "kiwoom")).balance()  # another process: same store, same token
    assert kw.tokens_issued == 1
    assert store.get("token") is not None
    # the token is in the store, never in a log line or the order log
    assert all("token" not in str(r["headers"]).lower() or "<redacted>" in str(r["headers"])
               for r in kw.requests)


def test_an_invalid_token_is_issued_again_once(kw):
    b = make(kw)
    b.positions()
    kw.expire_token()
    assert b.positions() == []
    assert kw.tokens_issued == 2


def test_wrong_keys_and_missing_keys_are_auth_errors(kw):
    with pytest.raises(AuthError, match="8001"):
        KiwoomBroker(kw.appkey, "wrong", base_url=kw.url, store=MemoryStore()).positions()
    s = from_dict({"market": "krx", "kiwoom": {"endpoint": kw.url}})
    with pytest.raises(MissingKeys, match="QTX_KIWOOM_SECRETKEY"):
        KiwoomBroker.from_settings(s.kiwoom, secret={"QTX_KIWOOM_APPKEY": "k"}.get)


def test_ip_not_registered_is_an_auth_error_that_says_what_to_do(kw):
    kw.device_error(8050)
    with pytest.raises(IpNotAllowed) as err:
        make(kw).positions()
    assert err.value.code == 8050 and "register this machine's public IP" in str(err.value)


def test_network_selects_the_host_and_endpoint_overrides_it(kw):
    real = from_dict({"market": "krx"}).kiwoom
    mock = from_dict({"market": "krx", "kiwoom": {"network": "mock"}}).kiwoom
    keys = {"QTX_KIWOOM_APPKEY": "a", "QTX_KIWOOM_SECRETKEY": "s"}.get
    assert KiwoomBroker.from_settings(real, secret=keys).http.base_url == "https://api.kiwoom.com"
    assert KiwoomBroker.from_settings(mock, secret=keys).http.base_url == "https://mockapi.kiwoom.com"
    local = from_dict({"market": "krx", "kiwoom": {"endpoint": kw.url + "/"}}).kiwoom
    assert KiwoomBroker.from_settings(local, secret=keys).http.base_url == kw.url


# --------------------------------------------------------------------------- market data

def test_bars_page_back_and_parse_signed_prices(kw):
    b = make(kw)
    bars = b.bars(SYM, start=weekdays_before(TODAY, 130)[0])
    assert len(bars) == 130 and len(kw.calls("ka10081")) >= 3  # 50 a page: paged
    assert [x.date for x in bars] == sorted(x.date for x in bars)
    last = bars[-1]
    assert (last.open, last.high, last.low, last.close, last.volume) == (82900, 83400, 82400, 83100, 1_000_129)
    assert all(x.close > 0 and x.open > 0 for x in bars)  # "+70100"/"-69800" read as prices


def test_todays_bar_is_kept_out_until_the_close_and_end_is_honoured(kw):
    kw.set_live_bar(SYM, 83000, 84000, 82000, 83500, 10)
    during = make(kw, at="11:00").bars(SYM, start="2026-02-20")
    assert during[-1].date == "2026-03-02"
    after = make(kw, at="16:00").bars(SYM, start="2026-02-20")
    assert after[-1].date == TODAY
    assert make(kw, at="16:00").bars(SYM, start="2026-02-20", end="2026-02-25")[-1].date == "2026-02-25"


def test_instruments_carry_sector_and_status(kw):
    got = {i.symbol: i for i in make(kw).instruments([SYM, OTHER, ETF])}
    assert got[SYM].sector == "전기전자" and got[SYM].status == "trading" and got[SYM].lot == 1
    assert got[OTHER].status == "warning:1"
    assert got[ETF].sector is None


def test_rate_limit_1700_is_waited_out_and_counted(kw, sleeps):
    kw.force_rate_limit("ka10081", 2)
    b = make(kw, sleeps=sleeps)
    assert len(b.bars(SYM, start="2026-02-20")) > 0
    assert b.rate_limited == 2 and len(sleeps) >= 2 and all(s > 0 for s in sleeps)


def test_rate_limit_that_never_ends_is_reported_not_dropped(kw):
    kw.force_rate_limit("kt00018", 10)
    b = make(kw, max_attempts=3)
    with pytest.raises(Exception) as err:
        b.positions()
    assert "1700" in str(err.value)


# --------------------------------------------------------------------------- orders

def test_market_buy_fills_at_the_open_with_kiwoom_fees(kw, qtx_db):
    store = BrokerStore(qtx_db, "kiwoom")
    b = make(kw, store)
    st = b.place(buy(qty=10))
    assert st.status == "new" and st.broker_order_id == "0000001"
    row = store.sent(st.client_order_id)
    assert row["broker_order_id"] == "0000001" and row["symbol"] == SYM
    assert b.order_status(st.client_order_id).status == "new"
    assert [o.client_order_id for o in b.open_orders()] == [st.client_order_id]
    kw.open_auction(prices={SYM: 83000})
    done = b.order_status(st.client_order_id)
    assert (done.status, done.filled_qty, done.avg_price) == ("filled", 10, 83000)
    (f,) = b.fills()
    assert f.cumulative and f.broker_order_id == "0000001" and f.client_order_id == st.client_order_id
    assert f.fee == 830000 * 15 // 100000  # Kiwoom's commission, whole won
    assert [(p.symbol, p.qty) for p in b.positions()] == [(SYM, 10)]
    assert b.balance().cash == 10_000_000 - 830000 - 830000 * 15 // 100000


def test_a_sell_reports_commission_and_tax(kw):
    b = make(kw)
    b.place(buy(qty=10))
    kw.open_auction(prices={SYM: 83000})
    s = b.place(OrderRequest(client_order_id("2026-03-03", "SELL", SYM), SYM, "SELL", 10, date="2026-03-03"))
    kw.fill(s.broker_order_id, price=84000)
    sell = [f for f in b.fills() if f.side == "SELL"][0]
    assert sell.fee == 840000 * 15 // 100000 + 840000 * 20 // 10000  # commission + tax, whole won


def test_limit_orders_respect_tick_and_band(kw):
    b = make(kw)
    st = b.place(buy(qty=1, order_type="limit", limit_price=83123))
    assert st.limit_price == 83100 and kw.calls("kt10000")[-1]["body"]["ord_uv"] == "83100"
    with pytest.raises(Rejected, match="band"):
        b.place(buy(symbol=OTHER, qty=1, order_type="limit", limit_price=300000, reference_price=150500))
    assert len(kw.calls("kt10000")) == 1  # refused before sending


def test_a_rejection_is_final_and_says_why(kw):
    with pytest.raises(Rejected, match="855056"):
        make(kw).place(buy(qty=10_000))  # more than the cash buys


def test_cancel_and_amend(kw):
    b = make(kw)
    st = b.place(buy(qty=2, order_type="limit", limit_price=80000))
    moved = b.replace(st.client_order_id, price=80500)
    assert moved.broker_order_id != st.broker_order_id and moved.limit_price == 80500
    assert b.cancel(st.client_order_id).status == "cancelled"


# --------------------------------------------------------------------------- unknown outcomes

def _intent(db, req):
    with db.transaction():
        trading.insert_order_intent(db, req.client_order_id, None, req.date, req.symbol, req.side, req.qty, 1, "t")
    return trading.order(db, req.client_order_id)


@pytest.fixture
def dropped_create(qtx_db):
    """A venue that accepts the next create and drops its answer, and a broker on it.  The
    pipeline stamps sent_at with the wall clock, so venue and adapter run on today's date."""
    today = datetime.now(KST).date().isoformat()
    with FakeKiwoomRest(today=today) as kw:
        kw.add_instrument(SYM, "삼성전자")
        kw.add_bars(SYM, [(d, 70000, 70500, 69500, 70200, 1000) for d in weekdays_before(today, 5)])
        kw.drop_after_accept("kt10000")
        b = KiwoomBroker(kw.appkey, kw.secretkey, base_url=kw.url, store=BrokerStore(qtx_db, "kiwoom"),
                         timeout=1.0, min_interval=0.0, sleep=lambda s: None)
        yield kw, b, today


def test_a_dropped_create_is_never_sent_twice_and_reconcile_finds_it(qtx_db, qtx_settings, dropped_create):
    kw, b, today = dropped_create
    req = buy(qty=5, day=today)
    assert submit(qtx_db, b, _intent(qtx_db, req), sleep=lambda s: None) == "unknown"
    row = BrokerStore(qtx_db, "kiwoom").sent(req.client_order_id)
    assert row is not None and row["broker_order_id"] is None  # written before the request
    # execute again: looked up, still without a venue number, never sent again
    again = submit(qtx_db, b, trading.order(qtx_db, req.client_order_id), sleep=lambda s: None)
    assert again == "unknown" and kw.orders_created[(SYM, "buy")] == 1
    kw.open_auction(prices={SYM: 70300})
    rec = run_reconcile(qtx_db, qtx_settings, broker=b)
    assert rec["repaired"]["matched"] == 1
    o = trading.order(qtx_db, req.client_order_id)
    assert o["broker_order_id"] == "0000001" and o["status"] == "filled" and o["filled_qty"] == 5
    assert trading.position(qtx_db, SYM)["qty"] == 5
    assert kw.orders_created[(SYM, "buy")] == 1
    assert qtx_db.scalar("SELECT COUNT(*) FROM events WHERE kind = 'reconcile_matched_unknown'") == 1


def test_cumulative_executions_are_recorded_once_as_increments(kw, qtx_db):
    b = make(kw, BrokerStore(qtx_db, "kiwoom"))
    req = buy(qty=10, order_type="limit", limit_price=83000)
    submit(qtx_db, b, _intent(qtx_db, req), sleep=lambda s: None)
    st = b.order_status(req.client_order_id)
    kw.fill(st.broker_order_id, qty=4, price=82900)
    assert sync(qtx_db, b)["new_fills"] == 1
    assert sync(qtx_db, b)["new_fills"] == 0  # a rerun records nothing twice
    kw.fill(st.broker_order_id, qty=6, price=83000)
    sync(qtx_db, b)
    rows = trading.fills_between(qtx_db)
    assert [r["qty"] for r in rows] == [4, 6]
    assert rows[1]["price"] == pytest.approx(83000)
    assert sum(r["fee"] for r in rows) == (4 * 82900 + 6 * 83000) * 15 // 100000
    assert trading.position(qtx_db, SYM)["qty"] == 10
    assert trading.order(qtx_db, req.client_order_id)["status"] == "filled"


def test_a_charge_that_differs_from_the_config_is_reported_once(qtx_db):
    from pipeline.stages.sync import run_fill_sync

    live = from_dict({"market": "krx", "mode": "live", "risk": {"max_order_notional": 10_000_000},
                      "costs": {"commission": 0.00015}})
    with FakeKiwoomRest(cash=10_000_000, today=TODAY, commission_rate="0.0005") as kw:
        kw.add_instrument(SYM, "삼성전자")
        kw.add_bars(SYM, [(d, 70000, 70500, 69500, 70200, 1000) for d in weekdays_before(TODAY, 5)])
        b = make(kw, BrokerStore(qtx_db, "kiwoom"))
        req = buy(qty=10)
        submit(qtx_db, b, _intent(qtx_db, req), sleep=lambda s: None)
        kw.open_auction(prices={SYM: 70000})
        assert run_fill_sync(qtx_db, live, broker=b)["fee_differences"] == 1
        assert run_fill_sync(qtx_db, live, broker=b)["fee_differences"] == 0
    (f,) = trading.fills_between(qtx_db)
    assert f["fee"] == 700000 * 5 // 10000  # what Kiwoom charged is what qtx records
    assert qtx_db.scalar("SELECT COUNT(*) FROM events WHERE kind = 'fee_difference'") == 1


def test_a_fill_sync_after_a_dropped_create_records_the_fill_as_ours(qtx_db, dropped_create):
    """Found by the soak: the 09:05 sync ran before any reconcile and booked the fill as a trade
    qtx did not make; the order stayed unknown for good."""
    kw, b, today = dropped_create
    req = buy(qty=3, day=today)
    assert submit(qtx_db, b, _intent(qtx_db, req), sleep=lambda s: None) == "unknown"
    kw.open_auction(prices={SYM: 70300})
    assert sync(qtx_db, b)["new_fills"] == 1
    (f,) = trading.fills_between(qtx_db)
    assert f["client_order_id"] == req.client_order_id
    o = trading.order(qtx_db, req.client_order_id)
    assert o["status"] == "filled" and o["broker_order_id"] == "0000001"
    assert qtx_db.scalar("SELECT COUNT(*) FROM outbox WHERE dedup_key LIKE 'external:%'") == 0
