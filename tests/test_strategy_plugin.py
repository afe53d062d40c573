"""Adding a strategy is one module plus a registration: a toy strategy, installed as a
distribution with a ``qtx.strategies`` entry point, drives ``qtx backtest``, ``qtx signal``,
``qtx replay``, ``qtx positions`` and ``qtx analysis`` with no change to qtx."""

from __future__ import annotations

import csv
import json
import sys
import textwrap

import pytest

from db import bars as bars_db
from db import open_db, trading
from sennot import strategy as strategy_mod

TOY = '''
"""A toy strategy: buy after an up day, sell after ``hold`` of the symbol's own bars."""

import numpy as np

from sennot.strategy import BaseStrategy
from sennot.types import EntryTable, ExitDecision, ParamError


class Toy(BaseStrategy):
    name = "toy"
    warmup = 2

    def __init__(self, hold):
        self.hold = hold

    def entries(self, bars):
        c = bars.close
        up = np.zeros(len(c), dtype=bool)
        up[1:] = c[1:] > c[:-1]
        return EntryTable(buy=up, strength=np.ones(len(c)), codes=up.astype(np.int8), rules=("up_day",))

    def exit(self, pos, close, i, lot=1.0):
        return ExitDecision("held_long_enough", pos.qty) if i - pos.entry_index >= self.hold else None

    def levels(self, pos, close, i):
        return {"bars_left": max(0, self.hold - (i - pos.entry_index))}

    def describe(self):
        return {"name": self.name, "params": {"hold": self.hold}, "filters": [],
                "entry_rules": [{"name": "up_day", "label": "close > previous close"}],
                "exit_rules": [{"name": "held_long_enough", "label": f"{self.hold} bars held"}]}


def make(params):
    params = dict(params)
    hold = params.pop("hold", 3)
    for k in sorted(params):
        raise ParamError(k, "unknown parameter of strategy toy (known: hold)")
    if isinstance(hold, bool) or not isinstance(hold, int) or hold < 1:
        raise ParamError("hold", f"must be a whole number of bars, at least 1 (got {hold!r})")
    return Toy(hold)
'''

# Mon 2024-03-04 .. Fri 2024-03-15: KRX trading days.
DATES = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08",
         "2024-03-11", "2024-03-12", "2024-03-13", "2024-03-14", "2024-03-15"]
A = [10.0, 11.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0]  # one up day: DATES[1]
B = [20.0] * 10                                                   # never up
CAPITAL = 1_000_000


@pytest.fixture
def toy_installed(tmp_path, monkeypatch):
    """``qtx_toy`` installed as a distribution whose entry point registers ``toy``."""
    site = tmp_path / "site"
    (site / "qtx_toy-0.1.dist-info").mkdir(parents=True)
    (site / "qtx_toy.py").write_text(textwrap.dedent(TOY), encoding="utf-8")
    (site / "qtx_toy-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: qtx-toy\nVersion: 0.1\n", encoding="utf-8")
    (site / "qtx_toy-0.1.dist-info" / "entry_points.txt").write_text(
        "[qtx.strategies]\ntoy = qtx_toy:make\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    # The registry caches what it loads: keep this test's toy out of every other test.
    monkeypatch.setattr(strategy_mod, "_REGISTRY", dict(strategy_mod._REGISTRY))
    yield site
    sys.modules.pop("qtx_toy", None)


def _workspace(tmp_path, tmp_config, **strategy):
    db_path = tmp_path / "toy.sqlite"
    cfg = tmp_config(database=str(db_path), capital=CAPITAL, strategy={"name": "toy", **strategy})
    db = open_db(db_path, market="krx", mode="paper", create=True, capital=CAPITAL)
    for sym, closes in (("AAA", A), ("BBB", B)):
        bars_db.insert_bars(db, sym, [(d, c, c, c, c, 1000.0) for d, c in zip(DATES, closes)], source="csv")
    db.close()
    return cfg, db_path


def test_the_toy_is_found_through_its_entry_point(toy_installed):
    assert "toy" in strategy_mod.available()
    toy = strategy_mod.create("toy", {"hold": 2})
    assert toy.name == "toy" and toy.hold == 2 and toy.filters_at(None) == {}


def test_backtest_trades_by_the_toy(toy_installed, tmp_path, tmp_config, run_cli):
    cfg, _ = _workspace(tmp_path, tmp_config, params={"hold": 2})
    trades = tmp_path / "trades.csv"
    code, out, err = run_cli(["--config", cfg, "backtest", "--trades-out", trades, "--json"])
    assert code == 0, err
    rows = list(csv.reader(open(trades, newline="")))[1:]
    # Up day at DATES[1] -> BUY at the next open; held 2 bars at DATES[4] -> SELL at DATES[5].
    # qty = floor(capital / max_positions / close) = floor(1e6 / 8 / 11).
    assert [(r[0], r[1], r[2], r[3], r[6]) for r in rows] == [
        (DATES[2], "AAA", "BUY", "11363", "up_day"),
        (DATES[5], "AAA", "SELL", "11363", "held_long_enough")]
    assert json.loads(out)["exits"] == {"held_long_enough": 1}


def test_the_daily_stages_and_views_run_the_toy(toy_installed, tmp_path, tmp_config, run_cli):
    cfg, db_path = _workspace(tmp_path, tmp_config, params={"hold": 2})
    code, out, err = run_cli(["--config", cfg, "signal", "--asof", DATES[1], "--json"])
    assert code == 0, err
    r = json.loads(out)
    assert r["buys"] == [{"symbol": "AAA", "reason": "up_day", "strength": 1.0}] and r["sells"] == []
    # Its orders, then the rest of the window day by day through signal and execute on the paper
    # broker, give the backtest's trades (a replay never reprocesses a decided date).
    code, out, err = run_cli(["--config", cfg, "execute", "--asof", DATES[1], "--json"])
    assert code == 0, err
    code, out, err = run_cli(["--config", cfg, "replay", "--start", DATES[2], "--end", DATES[3], "--json"])
    assert code == 0, err
    db = open_db(db_path, market="krx", mode="paper")
    try:
        signals = db.query("SELECT date, symbol, side, reason, strategy FROM signals ORDER BY id")
        assert signals == [{"date": DATES[1], "symbol": "AAA", "side": "BUY", "reason": "up_day",
                            "strategy": "toy"}]
        fills = [(f["date"], f["symbol"], f["side"], f["qty"]) for f in trading.fills_between(db)]
        assert fills == [(DATES[2], "AAA", "BUY", 11363.0)]
    finally:
        db.close()
    code, out, err = run_cli(["--config", cfg, "positions", "--asof", DATES[3], "--json"])
    assert code == 0, err
    (pos,) = json.loads(out)
    assert pos["symbol"] == "AAA" and pos["levels"] == {"bars_left": 1}  # entry DATES[2], now DATES[3]
    assert pos["stop_level"] is None and pos["trailing_level"] is None  # the toy has no such levels
    code, out, err = run_cli(["--config", cfg, "analysis", "--asof", DATES[3], "--json"])
    assert code == 0, err
    a = json.loads(out)
    assert a["strategy"]["name"] == "toy" and a["strategy"]["params"] == {"hold": 2}
    assert a["filters"] == [] and a["signals"]["buy_by_rule"] == {"up_day": 1}


def test_a_toy_param_typo_is_a_config_error(toy_installed, tmp_path, tmp_config, run_cli):
    cfg, _ = _workspace(tmp_path, tmp_config, params={"hodl": 2})
    code, out, err = run_cli(["--config", cfg, "backtest"])
    assert code == 2
    assert "strategy.params.hodl: unknown parameter of strategy toy (known: hold)" in err


def test_a_broken_plugin_names_itself(toy_installed, tmp_path, tmp_config, run_cli):
    (toy_installed / "qtx_toy.py").write_text("raise ImportError('no numpy here')\n", encoding="utf-8")
    cfg, _ = _workspace(tmp_path, tmp_config)
    code, out, err = run_cli(["--config", cfg, "status"])
    assert code == 2
    assert "strategy.name: strategy 'toy' (qtx_toy:make) could not be loaded: ImportError: no numpy here" in err
