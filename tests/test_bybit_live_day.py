"""Live mode on Bybit, end to end, against a local Bybit v5 server: reconcile, and the full day
(collect, signal, execute, report) through the real pipeline functions and the real pybit client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from brokers.base import client_order_id
from brokers.bybit import BybitBroker
from db import trading
from db.core import open_db
from pipeline.config import from_dict
from tests.fakes.bybit_v5 import FakeBybitV5

execute = pytest.importorskip("pipeline.stages.execute", reason="the lead's execute stage is not importable")
reconcile = pytest.importorskip("pipeline.stages.reconcile", reason="the lead's reconcile stage is not importable")

TODAY = datetime.now(UTC).date()


def days_back(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


def rising(n_days: int, base: float) -> list[tuple]:
    """A steady uptrend whose last closed day (yesterday) breaks out on double volume."""
    rows = []
    for i in range(n_days, -1, -1):
        c = base + (n_days - i)
        rows.append((days_back(i), c - 0.5, c + 0.5, c - 1, c, 20 if i == 1 else 10))
    return rows


@pytest.fixture
def ex():
    with FakeBybitV5() as ex:
        ex.add_instrument("SOLUSDT", lot="0.001", min_qty="0.001", min_amt="5", tick="0.01")
        ex.add_instrument("ETHUSDT", lot="0.0001", min_qty="0.0001", min_amt="5", tick="0.01")
        for sym, base in (("SOLUSDT", 100.0), ("ETHUSDT", 2000.0)):
            rows = rising(300, base)
            ex.set_daily_candles(sym, rows)
            ex.set_ticker(sym, rows[-2][4], "1e9")  # trades at yesterday's close
        ex.fund("USDT", "10000")
        yield ex


@pytest.fixture
def live(ex, tmp_path, monkeypatch):
    monkeypatch.setenv("QTX_TEST_BYBIT_KEY", ex.api_key)
    monkeypatch.setenv("QTX_TEST_BYBIT_SECRET", ex.api_secret)
    s = from_dict({
        "market": "bybit", "mode": "live", "capital": 10000,
        "universe": {"symbols": ["SOLUSDT", "ETHUSDT"]},
        "risk": {"max_order_notional": 2000},
        "costs": {"commission": 0.001},
        "bybit": {"endpoint": ex.url, "network": "demo", "timeout": 2,
                  "api_key_env": "QTX_TEST_BYBIT_KEY", "api_secret_env": "QTX_TEST_BYBIT_SECRET"},
    }, tmp_path / "qtx.yaml")
    db = open_db(s.db_path, market="bybit", mode="live", create=True, capital=s.capital)
    yield s, db
    db.close()


def test_reconcile_finds_a_fill_the_database_missed(ex, live):
    s, db = live
    b = BybitBroker.from_settings(s.bybit, "live")
    cid = client_order_id(days_back(1), "BUY", "SOLUSDT")
    with db.transaction():
        trading.insert_order_intent(db, cid, None, days_back(1), "SOLUSDT", "BUY", 2.0, 1, "breakout")
    from brokers.base import OrderRequest
    st = b.place(OrderRequest(cid, "SOLUSDT", "BUY", 2.0, order_type="limit", limit_price=390))
    with db.transaction():
        trading.update_order(db, cid, status=st.status, broker_order_id=st.broker_order_id)
    ex.fill(cid, "2", "389.5")  # filled at Bybit while qtx was not looking

    dry = reconcile.run_reconcile(db, s, dry_run=True, broker=b)
    assert [f["client_order_id"] for f in dry["diff"]["missing_fills"]] == [cid]
    assert trading.fill_ids(db) == set()  # a dry run changes nothing

    out = reconcile.run_reconcile(db, s, broker=b)
    assert out["repaired"]["fills"] == 1 and out["buys_blocked"] is False
    assert out["remaining"]["clean"] is True
    pos = trading.positions(db)["SOLUSDT"]
    assert pos["qty"] == pytest.approx(b.balance().holdings["SOLUSDT"])  # net of the BTC-style base fee
    assert trading.order(db, cid)["status"] == "filled"
    again = reconcile.run_reconcile(db, s, broker=b)
    assert again["diff"]["clean"] is True and again["repaired"]["fills"] == 0


def test_full_day_in_live_mode(ex, live, caplog):
    import logging

    from pipeline.stages.collect import collect
    from pipeline.stages.report import run_report
    from pipeline.stages.signal import run_signal

    s, db = live
    import pipeline.feeds.bybit  # noqa: F401  (registers the bybit feed)

    col = collect(db, s)
    assert col["bars_new"] == 2 * 300 and col["errors"] == {}
    sig = run_signal(db, s)
    assert sig["date"] == days_back(1)
    assert sorted(b["symbol"] for b in sig["buys"]) == ["ETHUSDT", "SOLUSDT"]

    with caplog.at_level(logging.INFO, logger="qtx.bybit.orders"):
        exe = execute.run_execute(db, s)
    assert exe["buys_approved"] == 2
    assert set(exe["orders"].values()) == {"filled"}
    sent = [q for m, p, q in ex.calls if p == "/v5/order/create"]
    assert len(sent) == 2 and all(q["marketUnit"] == "baseCoin" for q in sent)
    # every live order is logged with its request and response, never with keys
    assert caplog.text.count('"action": "place_order"') == 2
    assert ex.api_key not in caplog.text and ex.api_secret not in caplog.text
    # each order is within the live per-order cap
    for q in sent:
        assert float(q["qty"]) * float(ex.tickers["spot"][q["symbol"]]["lastPrice"]) <= 2000

    rep = run_report(db, s, chart_path=str(s.db_path.parent / "chart.png"))
    assert rep.get("date") == days_back(1)

    # running execute again sends nothing (the orders are known by their link ids)
    execute.run_execute(db, s)
    assert len([1 for m, p, q in ex.calls if p == "/v5/order/create"]) == 2
    rec = reconcile.run_reconcile(db, s)
    assert rec["buys_blocked"] is False, rec
    assert set(trading.positions(db)) == {"ETHUSDT", "SOLUSDT"}
