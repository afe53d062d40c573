"""`collect` for market: bybit, against a local Bybit v5 server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from brokers.bybit import BybitBroker
from db import bars as bars_db
from db.core import open_db
from pipeline.config import from_dict
from pipeline.feeds.bybit import collect_bybit
from pipeline.stages.collect import FEEDS, collect
from tests.fakes.bybit_v5 import FakeBybitV5

TODAY = datetime.now(UTC).date()


def days_back(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


def candles(n_days: int, base: float = 100) -> list[tuple]:
    return [(days_back(i), base + i - 1, base + i + 2, base + i - 2, base + i, 5) for i in range(n_days, -1, -1)]


@pytest.fixture
def ex():
    with FakeBybitV5() as ex:
        for sym, turnover in [("BTCUSDT", "9e8"), ("ETHUSDT", "5e8"), ("SOLUSDT", "1e8"), ("USDCUSDT", "9e9")]:
            ex.add_instrument(sym)
            ex.set_ticker(sym, "100", turnover)
            ex.set_daily_candles(sym, candles(600))
        yield ex


@pytest.fixture
def db(tmp_path):
    d = open_db(tmp_path / "bybit.sqlite", market="bybit", mode="paper", create=True)
    yield d
    d.close()


def settings(ex, **over):
    raw = {"market": "bybit", "mode": "paper", "bybit": {"endpoint": ex.url, "top_n": 2}, **over}
    return from_dict(raw)


def broker(ex):
    return BybitBroker(endpoint=ex.url, timeout=2, sleep=lambda s: None)  # public data: no keys


def test_first_collect_takes_history_without_the_open_candle(ex, db):
    s = settings(ex, universe={"symbols": ["BTCUSDT", "ETHUSDT"]})
    out = collect_bybit(db, s, broker=broker(ex), history_days=400)
    assert out["bars_new"] == 800 and out["errors"] == {}
    assert bars_db.date_range(db, "BTCUSDT") == (days_back(400), days_back(1))
    assert db.scalar("SELECT COUNT(*) FROM bars WHERE date = ?", (TODAY.isoformat(),)) == 0
    inst = bars_db.read_instruments(db)
    assert inst["BTCUSDT"]["lot"] == 0.000001 and inst["BTCUSDT"]["min_notional"] == 1


def test_next_collect_fetches_only_what_is_missing(ex, db):
    s = settings(ex, universe={"symbols": ["BTCUSDT"]})
    collect_bybit(db, s, broker=broker(ex), asof=days_back(5), history_days=50)
    assert bars_db.date_range(db, "BTCUSDT")[1] == days_back(5)  # nothing after asof
    before = ex.received_count("/v5/market/kline")
    out = collect_bybit(db, s, broker=broker(ex))
    assert out["bars_new"] == 4 and bars_db.date_range(db, "BTCUSDT")[1] == days_back(1)
    assert ex.received_count("/v5/market/kline") == before + 1
    last_kline = [q for m, p, q in ex.calls if p == "/v5/market/kline"][-1]
    assert int(last_kline["limit"]) <= 6  # asks only for the few missing days
    again = collect_bybit(db, s, broker=broker(ex))
    assert again["bars_new"] == 0 and again["up_to_date"] == ["BTCUSDT"]


def test_empty_universe_means_top_pairs_by_turnover_plus_stored(ex, db):
    bars_db.insert_bars(db, "SOLUSDT", [(days_back(3), 1, 1, 1, 1, 1)], source="bybit")
    out = collect_bybit(db, settings(ex), broker=broker(ex), history_days=30)
    assert out["symbols"] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]  # USDCUSDT is a stablecoin pair
    assert bars_db.date_range(db, "SOLUSDT")[1] == days_back(1)


def test_collect_dispatches_to_bybit_feed_for_the_market(ex, db, monkeypatch):
    assert FEEDS["bybit"] is collect_bybit
    s = settings(ex, universe={"symbols": ["ETHUSDT", "NOPEUSDT"]})
    out = collect(db, s, asof=days_back(2))
    assert out["source"] == "bybit" and "NOPEUSDT" in out["errors"]
    assert bars_db.date_range(db, "ETHUSDT")[1] == days_back(2)


def test_qtx_collect_command_on_bybit(ex, tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    cfg = tmp_path / "qtx.yaml"
    cfg.write_text(yaml.safe_dump({"market": "bybit", "mode": "paper", "capital": 10000,
                                   "universe": {"symbols": ["BTCUSDT"]},
                                   "bybit": {"endpoint": ex.url, "timeout": 5}}))
    s = from_dict(yaml.safe_load(cfg.read_text()), cfg)
    open_db(s.db_path, market="bybit", mode="paper", create=True, capital=10000).close()
    qtx = Path(sys.executable).parent / "qtx"
    run = subprocess.run([str(qtx), "--config", str(cfg), "collect", "--asof", days_back(3), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["source"] == "bybit" and out["end"] == days_back(3) and out["bars_new"] == 400
