"""BybitBroker with the real pybit client against a local Bybit v5 server on 127.0.0.1."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from brokers.base import (
    AuthError,
    Broker,
    NotFound,
    OrderRequest,
    RateLimited,
    Rejected,
    UnknownOutcome,
    client_order_id,
)
from brokers.bybit import BybitBroker, MissingKeys
from pipeline.config import from_dict
from tests.fakes.bybit_v5 import FakeBybitV5

TODAY = datetime.now(UTC).date()


def days_back(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


@pytest.fixture
def ex():
    with FakeBybitV5() as ex:
        ex.add_instrument("BTCUSDT", lot="0.000001", min_qty="0.000048", min_amt="1", tick="0.01")
        ex.add_instrument("ETHUSDT", lot="0.00001", min_qty="0.0001", min_amt="1", tick="0.01")
        ex.set_ticker("BTCUSDT", "60000", "900000000")
        ex.set_ticker("ETHUSDT", "3000", "500000000")
        ex.fund("USDT", "10000")
        yield ex


class Sleeps(list):
    def __call__(self, seconds: float) -> None:  # record the wait instead of waiting
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def broker(ex, sleeps):
    return BybitBroker(ex.api_key, ex.api_secret, endpoint=ex.url, timeout=0.5, sleep=sleeps)


def buy(symbol="BTCUSDT", qty=0.01, price=None, day="2026-01-05") -> OrderRequest:
    return OrderRequest(client_order_id=client_order_id(day, "BUY", symbol), symbol=symbol, side="BUY",
                        qty=qty, order_type="limit" if price else "market", limit_price=price, date=day)


# --------------------------------------------------------------------------- basics

def test_implements_the_broker_interface(broker):
    assert isinstance(broker, Broker)


def test_signed_requests_are_checked_and_a_wrong_secret_is_an_auth_error(ex, sleeps):
    bad = BybitBroker(ex.api_key, "not-the-secret", endpoint=ex.url, timeout=0.5, sleep=sleeps)
    with pytest.raises(AuthError) as err:
        bad.balance()
    assert err.value.code == 10004
    assert ex.received_count("/v5/account/wallet-balance") == 1  # never retried
    good = BybitBroker(ex.api_key, ex.api_secret, endpoint=ex.url, timeout=0.5, sleep=sleeps)
    assert good.balance().cash == 10000


def test_instruments_carry_lot_tick_and_minimums(broker):
    inst = {i.symbol: i for i in broker.instruments()}
    assert inst["BTCUSDT"].lot == 0.000001 and inst["BTCUSDT"].tick == 0.01
    assert inst["BTCUSDT"].min_qty == 0.000048 and inst["BTCUSDT"].min_notional == 1
    assert inst["ETHUSDT"].name == "ETH/USDT" and inst["ETHUSDT"].status == "trading"


# --------------------------------------------------------------------------- candles

def _candles(n_days: int) -> list[tuple]:
    rows = []
    for i in range(n_days, -1, -1):  # i == 0 is today: the candle still open
        c = 100 + (n_days - i)
        rows.append((days_back(i), c - 1, c + 2, c - 2, c, 10 + i))
    return rows


def test_bars_page_back_and_drop_the_open_candle(ex, broker):
    ex.set_daily_candles("BTCUSDT", _candles(2500))
    bars = broker.bars("BTCUSDT", start=days_back(2400))
    dates = [b.date for b in bars]
    assert len(bars) == 2400  # 2400 closed days, today's open candle left out
    assert dates == sorted(set(dates))
    assert dates[0] == days_back(2400) and dates[-1] == days_back(1)
    assert TODAY.isoformat() not in dates
    assert ex.received_count("/v5/market/kline") >= 3  # more than 1000 rows: paged
    last = bars[-1]
    c = 100 + 2499  # yesterday's close in _candles(2500)
    assert (last.open, last.high, last.low, last.close, last.volume) == (c - 1, c + 2, c - 2, c, 11)


def test_bars_with_a_past_end_keep_that_closed_day(ex, broker):
    ex.set_daily_candles("BTCUSDT", _candles(30))
    bars = broker.bars("BTCUSDT", start=days_back(10), end=days_back(3))
    assert [b.date for b in bars] == [days_back(i) for i in range(10, 2, -1)]


def test_bars_without_start_return_all_history_closed_only(ex, broker):
    ex.set_daily_candles("BTCUSDT", _candles(1500))
    bars = broker.bars("BTCUSDT")
    assert len(bars) == 1500 and bars[-1].date == days_back(1)


# --------------------------------------------------------------------------- orders

def test_limit_order_placed_amended_partially_filled_filled(ex, broker):
    req = buy(qty=0.0123456789, price=59999.999)
    st = broker.place(req)
    sent = [q for m, p, q in ex.calls if p == "/v5/order/create"][0]
    assert sent["qty"] == "0.012345" and sent["price"] == "59999.99"  # step and tick, rounded down
    assert sent["orderLinkId"] == req.client_order_id and sent["timeInForce"] == "GTC"
    assert st.status == "new" and st.broker_order_id and st.qty == 0.012345

    st = broker.replace(req.client_order_id, qty=0.02, price=58000.005)
    assert (st.qty, st.limit_price, st.status) == (0.02, 58000.0, "new")

    ex.fill(req.client_order_id, "0.005", "58000")
    st = broker.order_status(req.client_order_id)
    assert st.status == "partially_filled" and st.filled_qty == 0.005 and st.avg_price == 58000
    assert [o.client_order_id for o in broker.open_orders()] == [req.client_order_id]

    ex.fill(req.client_order_id, "0.015", "57000")
    st = broker.order_status(req.client_order_id)
    assert st.status == "filled" and st.filled_qty == 0.02
    assert st.avg_price == pytest.approx((0.005 * 58000 + 0.015 * 57000) / 0.02)
    assert broker.open_orders() == []

    fills = broker.fills(since=days_back(1))
    # A spot buy pays its fee in BTC: the fill is the quantity executed (the order is filled),
    # the fee in kind is ``fee_qty`` and its USDT value ``fee``; what the wallet received is
    # ``position_qty``, and the sum of those is the wallet's holding.
    assert [f.qty for f in fills] == [0.005, 0.015]
    assert [f.fee_qty for f in fills] == pytest.approx([0.000005, 0.000015])
    assert fills[0].fee == pytest.approx(0.005 * 0.001 * 58000)
    assert fills[0].qty * fills[0].price == pytest.approx(0.005 * 58000)  # the cash paid
    assert sum(f.position_qty for f in fills) == pytest.approx(broker.balance().holdings["BTCUSDT"])
    assert all(f.client_order_id == req.client_order_id and f.side == "BUY" for f in fills)
    assert broker.balance().holdings["BTCUSDT"] == pytest.approx(0.02 * 0.999)
    # a filled order cannot be cancelled or amended
    assert broker.cancel(req.client_order_id).status == "filled"
    with pytest.raises(Rejected):
        broker.replace(req.client_order_id, price=50000)


def test_partially_filled_order_cancelled(ex, broker):
    req = buy(symbol="ETHUSDT", qty=1, price=2900)
    broker.place(req)
    assert broker.balance().cash == pytest.approx(10000 - 2900)  # locked while open
    ex.fill(req.client_order_id, "0.4")
    st = broker.cancel(req.client_order_id)
    assert st.status == "cancelled" and st.filled_qty == 0.4
    assert broker.balance().cash == pytest.approx(10000 - 0.4 * 2900)
    with pytest.raises(NotFound):
        broker.cancel("qtx-20260105-B-NOPE")
    assert broker.order_status("qtx-20260105-B-NOPE") is None


def test_market_buy_quantity_is_in_base_coin(ex, broker):
    st = broker.place(buy(qty=0.01))
    sent = [q for m, p, q in ex.calls if p == "/v5/order/create"][0]
    assert sent["marketUnit"] == "baseCoin" and sent["orderType"] == "Market"
    assert st.status == "filled" and st.filled_qty == 0.01 and st.avg_price == 60000
    assert broker.positions()[0].symbol == "BTCUSDT"


def test_orders_are_logged_with_request_and_response_but_never_keys(ex, broker, caplog):
    got = []
    broker.order_log.sink = got.append
    with caplog.at_level(logging.INFO, logger="qtx.bybit.orders"):
        broker.place(buy(qty=0.01, price=50000))
        with pytest.raises(Rejected):
            broker.place(buy(symbol="ETHUSDT", qty=100, price=2900))
    text = caplog.text
    assert "place_order" in text and buy().client_order_id in text and "170131" in text
    assert ex.api_key not in text and ex.api_secret not in text
    assert got[0]["request"]["orderLinkId"] == buy().client_order_id and got[0]["response"]["orderId"]
    assert got[1]["response"]["error"] == "rejected"


# --------------------------------------------------------------------------- unknown outcomes

# The adapter sends once and reports any doubt; execute's one policy resolves it (these go
# through pipeline.stages.execute.submit with the real adapter).

def _intent(qtx_db, req):
    from db import trading

    with qtx_db.transaction():
        trading.insert_order_intent(qtx_db, req.client_order_id, None, req.date, req.symbol, req.side,
                                    req.qty, 1, "test")
    return trading.order(qtx_db, req.client_order_id)


def _submit(qtx_db, broker, req):
    from pipeline.stages.execute import submit

    return submit(qtx_db, broker, _intent(qtx_db, req), sleep=lambda s: None)


def test_adapter_reports_a_create_of_unknown_outcome_and_never_resends_itself(ex, broker):
    ex.fail_next("/v5/order/create", "drop_before")
    with pytest.raises(UnknownOutcome):
        broker.place(buy(qty=0.01))
    assert ex.received_count("/v5/order/create") == 1


def test_create_that_timed_out_but_reached_the_exchange_is_found_not_resent(ex, broker, qtx_db):
    req = buy(qty=0.01, price=50000)
    ex.fail_next("/v5/order/create", "timeout_after", delay=1.5)  # client timeout is 0.5 s
    assert _submit(qtx_db, broker, req) == "filled"  # a market order
    assert ex.received_count("/v5/order/create") == 1  # looked up, never sent again
    assert len(ex.orders) == 1


def test_create_that_never_arrived_is_sent_once_more(ex, broker, qtx_db):
    req = buy(qty=0.01, price=50000)
    ex.fail_next("/v5/order/create", "drop_before")
    assert _submit(qtx_db, broker, req) == "filled"  # a market order
    assert ex.received_count("/v5/order/create") == 2 and ex.creates(req.client_order_id) == 1
    assert list(ex.orders) == [req.client_order_id]


def test_create_lost_twice_is_an_unknown_outcome_not_a_third_send(ex, broker, qtx_db):
    ex.fail_next("/v5/order/create", "drop_before")
    ex.fail_next("/v5/order/create", "drop_before")
    assert _submit(qtx_db, broker, buy(qty=0.01, price=50000)) == "unknown"
    assert ex.received_count("/v5/order/create") == 2 and ex.orders == {}


def test_create_answered_with_5xx_is_looked_up_before_sending_again(ex, broker, qtx_db):
    ex.fail_next("/v5/order/create", "http", status=502)
    assert _submit(qtx_db, broker, buy(qty=0.01, price=50000)) == "filled"  # a market order
    assert len(ex.orders) == 1
    assert ex.received_count("/v5/order/realtime") >= 1  # the lookup came first


def test_cancel_whose_answer_was_lost_is_checked_and_asked_once_more(ex, broker):
    req = buy(qty=0.01, price=50000)
    broker.place(req)
    ex.fail_next("/v5/order/cancel", "drop_before")
    assert broker.cancel(req.client_order_id).status == "cancelled"
    assert ex.received_count("/v5/order/cancel") == 2
    ex2 = buy(symbol="ETHUSDT", qty=0.1, price=2900)
    broker.place(ex2)
    ex.fail_next("/v5/order/cancel", "timeout_after", delay=1.5)  # cancelled, answer lost
    assert broker.cancel(ex2.client_order_id).status == "cancelled"
    assert ex.received_count("/v5/order/cancel") == 3  # it was already cancelled: not asked again


def test_duplicate_link_id_counts_as_already_placed(ex, broker):
    req = buy(qty=0.01, price=50000)
    first = broker.place(req)
    again = broker.place(req)  # e.g. a re-run after a crash
    assert again.broker_order_id == first.broker_order_id
    assert len(ex.orders) == 1


# --------------------------------------------------------------------------- answers that end an order

def test_rate_limit_waits_for_the_reset_header_then_succeeds(ex, broker, sleeps):
    ex.fail_next("/v5/order/create", "rate_limit", reset_ms=800)
    st = broker.place(buy(qty=0.01, price=50000))
    assert st.status == "new" and len(ex.orders) == 1
    assert any(0.5 < s <= 0.8 for s in sleeps)  # waited for the window to reset (reset in 0.8 s)


def test_rate_limit_is_not_retried_by_pybit_itself(ex, sleeps):
    b = BybitBroker(ex.api_key, ex.api_secret, endpoint=ex.url, timeout=0.5, sleep=sleeps, max_attempts=1)
    ex.fail_next("/v5/account/wallet-balance", "rate_limit", reset_ms=500)
    with pytest.raises(RateLimited) as err:
        b.balance()
    assert 0 < err.value.retry_after <= 0.5
    assert ex.received_count("/v5/account/wallet-balance") == 1


def test_an_exhausted_limit_window_is_waited_out_before_the_next_request(ex, broker, sleeps):
    ex.rate_limit = 1  # every private answer now says X-Bapi-Limit-Status: 0, reset in 1 s
    broker.balance()
    assert sleeps == []
    broker.balance()
    assert len(sleeps) == 1 and 0.5 < sleeps[0] <= 1.0


def test_insufficient_balance_is_rejected_and_never_retried(ex, broker):
    with pytest.raises(Rejected) as err:
        broker.place(buy(qty=1, price=50000))
    assert err.value.code == 170131
    assert ex.received_count("/v5/order/create") == 1 and ex.orders == {}


def test_bad_quantity_answers_are_rejected_and_never_retried(ex, broker):
    ex.fail_next("/v5/order/create", "ret_code", code=170137, msg="Order quantity has too many decimals.")
    with pytest.raises(Rejected) as err:
        broker.place(buy(qty=0.01, price=50000))
    assert err.value.code == 170137 and ex.received_count("/v5/order/create") == 1
    ex.fail_next("/v5/order/create", "ret_code", code=170136, msg="Order quantity exceeded upper limit.")
    with pytest.raises(Rejected):
        broker.place(buy(qty=0.01, price=50000))
    assert ex.received_count("/v5/order/create") == 2 and ex.orders == {}


def test_quantity_below_the_minimum_is_refused_before_sending(ex, broker):
    with pytest.raises(Rejected) as err:
        broker.place(buy(qty=0.00001, price=50000))
    assert err.value.code == "local-min-qty"
    assert ex.received_count("/v5/order/create") == 0


def test_clock_skew_and_5xx_on_reads_are_retried(ex, broker):
    ex.fail_next("/v5/account/wallet-balance", "clock_skew")
    ex.fail_next("/v5/account/wallet-balance", "http", status=503)
    assert broker.balance().cash == 10000
    assert ex.received_count("/v5/account/wallet-balance") == 3


def test_clock_skew_on_a_create_is_retried_once_placed(ex, broker):
    ex.fail_next("/v5/order/create", "clock_skew")
    broker.place(buy(qty=0.01, price=50000))
    assert len(ex.orders) == 1


def test_auth_errors_are_never_retried(ex, broker):
    ex.fail_next("/v5/order/realtime", "ret_code", code=10003, msg="API key is invalid.")
    with pytest.raises(AuthError):
        broker.open_orders()
    assert ex.received_count("/v5/order/realtime") == 1


# --------------------------------------------------------------------------- fills, universe, linear

def test_fills_since_walk_bybit_seven_day_windows(ex, broker):
    req = buy(qty=0.02, price=50000)
    broker.place(req)
    ten_days_ago = int((datetime.now(UTC) - timedelta(days=10)).timestamp() * 1000)
    ex.fill(req.client_order_id, "0.01", exec_time_ms=ten_days_ago)
    ex.fill(req.client_order_id, "0.01")
    assert [f.date for f in broker.fills(since=days_back(12))] == [days_back(10), TODAY.isoformat()]
    assert len(broker.fills(since=days_back(2))) == 1
    assert len({f.fill_id for f in broker.fills(since=days_back(12))}) == 2


def test_top_symbols_by_turnover_filters_stables_and_leveraged_tokens(ex, broker):
    for sym, turnover in [("USDCUSDT", "9e9"), ("BTC3LUSDT", "8e9"), ("SOLUSDT", "7e8"), ("XRPBTC", "9e9")]:
        quote = "BTC" if sym.endswith("BTC") else "USDT"
        ex.add_instrument(sym, quote=quote)
        ex.set_ticker(sym, "1", turnover)
    ex.add_instrument("OLDUSDT", status="Closed")
    ex.set_ticker("OLDUSDT", "1", "9e12")
    assert broker.top_symbols_by_turnover(2) == ["BTCUSDT", "SOLUSDT"]
    assert broker.top_symbols_by_turnover(10, exclude=["SOLUSDT"]) == ["BTCUSDT", "ETHUSDT"]


def test_linear_perpetual_positions_and_duplicate_ids(ex, sleeps):
    ex.add_instrument("BTCUSDT", category="linear", lot="0.001", min_qty="0.001", min_amt="5", tick="0.1")
    ex.set_ticker("BTCUSDT", "60000", "1e10", category="linear")
    b = BybitBroker(ex.api_key, ex.api_secret, category="linear", endpoint=ex.url, timeout=0.5, sleep=sleeps)
    req = buy(qty=0.0155)
    st = b.place(req)
    assert st.status == "filled" and st.qty == 0.015
    assert "marketUnit" not in [q for m, p, q in ex.calls if p == "/v5/order/create"][0]
    assert b.place(req).broker_order_id == st.broker_order_id  # 110072: already placed
    [pos] = b.positions()
    assert (pos.symbol, pos.qty, pos.avg_price) == ("BTCUSDT", 0.015, 60000)
    assert b.fills()[0].fee == pytest.approx(0.015 * 60000 * 0.001)


# --------------------------------------------------------------------------- config, live safety

def test_from_settings_live_mode_names_the_missing_key_variable(ex):
    s = from_dict({"market": "bybit", "mode": "live", "risk": {"max_order_notional": 1000}, "bybit": {"endpoint": ex.url, "network": "demo"}})
    with pytest.raises(MissingKeys) as err:
        BybitBroker.from_settings(s.bybit, "live", secret={"QTX_BYBIT_KEY": "k"}.get)
    assert "QTX_BYBIT_SECRET" in str(err.value) and "QTX_BYBIT_KEY" not in str(err.value)
    b = BybitBroker.from_settings(s.bybit, "live", secret={"QTX_BYBIT_KEY": ex.api_key, "QTX_BYBIT_SECRET": ex.api_secret}.get)
    assert b.session.endpoint == ex.url and b.balance().cash == 10000
    paper = BybitBroker.from_settings(s.bybit, "paper", secret={}.get)
    assert paper.has_keys is False and paper.instruments(["BTCUSDT"])[0].symbol == "BTCUSDT"


def test_network_selects_the_bybit_host():
    assert BybitBroker(network="testnet").session.endpoint == "https://api-testnet.bybit.com"
    assert BybitBroker(network="demo").session.endpoint == "https://api-demo.bybit.com"
    assert BybitBroker().session.endpoint == "https://api.bybit.com"
    assert BybitBroker(endpoint="https://api.bytick.com/").session.endpoint == "https://api.bytick.com"
