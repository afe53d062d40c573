"""Replay equals backtest: driving collect, signal and execute day by day over a window gives
exactly the backtest's trades and equity rows for that window."""

from __future__ import annotations

import pytest

from db import trading
from pipeline.stages import backtest as bt
from pipeline.stages.collect import collect_csv
from tests.paper_world import make_world, trade_rows


def _backtest(world, start, end=None):
    db = world.db("full.sqlite")
    collect_csv(db, world.settings, world.csv_dir)
    res, _ = bt.run(db, world.settings, start=start, end=end)
    return res


def _replay(world, window: list[str]):
    db = world.db()
    collect_csv(db, world.settings, world.csv_dir, asof=world.dates[world.dates.index(window[0]) - 1])
    for d in window:
        world.day(db, d)
    return db


def _bt_rows(res):
    return [(t.date, t.symbol, t.side, t.qty, t.price, t.fee, t.reason) for t in res.trades]


def _assert_same(res, db, start):
    replay = trade_rows(db)
    assert replay == _bt_rows(res)
    eq_bt = [(e.date, e.cash, e.equity, e.drawdown, e.positions, e.buy_blocked, e.size_multiplier)
             for e in res.equity]
    eq_rp = [(m["date"], m["cash"], m["equity"], m["drawdown"], m["positions"], m["buy_blocked"],
              m["size_multiplier"]) for m in trading.metrics_series(db) if m["date"] >= start]
    assert eq_rp == eq_bt


def test_replay_equals_backtest_on_the_synthetic_market(tmp_path):
    world = make_world(tmp_path)
    window = world.dates[-45:]
    res = _backtest(world, window[0])
    assert len(res.trades) >= 10, "the window must trade for the comparison to mean anything"
    assert {t.side for t in res.trades} == {"BUY", "SELL"}
    db = _replay(world, window)
    _assert_same(res, db, window[0])
    # Orders still open after the last day are open in both.
    open_db_orders = {(o["symbol"], o["side"]) for o in trading.open_orders(db)}
    assert open_db_orders == {(o["symbol"], o["side"]) for o in res.open_orders}


def test_replay_with_costs_and_slippage(tmp_path):
    world = make_world(tmp_path, n_symbols=12, seed=11, costs={"commission": 0.001, "slippage_bps": 15})
    window = world.dates[-30:]
    res = _backtest(world, window[0])
    assert res.trades
    _assert_same(res, _replay(world, window), window[0])


def test_rerunning_a_day_changes_nothing(tmp_path):
    world = make_world(tmp_path, n_symbols=12)
    window = world.dates[-20:]
    db = _replay(world, window)
    before = (trade_rows(db), db.query("SELECT * FROM signals ORDER BY id"),
              db.query("SELECT client_order_id, status, qty FROM orders ORDER BY id"),
              db.query("SELECT * FROM paper_orders ORDER BY id"))
    world.day(db, window[-1])  # launchd fires the same day again
    after = (trade_rows(db), db.query("SELECT * FROM signals ORDER BY id"),
             db.query("SELECT client_order_id, status, qty FROM orders ORDER BY id"),
             db.query("SELECT * FROM paper_orders ORDER BY id"))
    assert before[0] == after[0]
    assert [dict(r, decided_at=None) for r in before[1]] == [dict(r, decided_at=None) for r in after[1]]
    assert before[2] == after[2]
    assert [r["client_order_id"] for r in before[3]] == [r["client_order_id"] for r in after[3]]


@pytest.mark.realdata
def test_replay_equals_backtest_on_real_krx_bars(tmp_path, shared_data):
    import pandas as pd

    from tests.paper_world import World, write_market_csv

    src = shared_data / "krx"
    syms = sorted(p.stem for p in src.glob("*.csv") if p.stem != "sectors")[:24]
    frames = {s: pd.read_csv(src / f"{s}.csv", dtype={"date": str}) for s in syms}
    sectors = pd.read_csv(src / "sectors.csv", dtype=str)
    sec = {r.symbol: r.sector for r in sectors.itertuples() if r.symbol in syms}
    csv_dir = write_market_csv(frames, sec, tmp_path / "csv")
    cfg = tmp_path / "qtx.yaml"
    cfg.write_text("market: krx\n")
    dates = sorted({d for df in frames.values() for d in df["date"]})
    world = World(tmp_path, csv_dir, cfg, dates)
    window = dates[-260:-200]
    res = _backtest(world, window[0], window[-1])
    assert res.trades
    _assert_same(res, _replay(world, window), window[0])


def test_replay_over_bars_collected_beforehand_gives_the_backtest_trades(tmp_path, run_cli):
    """`qtx collect --source csv` of the whole market first (its paper-mode hook runs), then
    `qtx replay`: the collect must not have moved the paper market past the replayed days."""
    world = make_world(tmp_path, n_symbols=12)
    world.db().close()  # qtx init
    code, _, err = run_cli(["--config", world.config, "collect", "--source", "csv", "--path", world.csv_dir])
    assert code == 0, err
    window = world.dates[-30:]
    code, _, err = run_cli(["--config", world.config, "replay", "--start", window[0], "--json"])
    assert code == 0, err
    res = _backtest(world, window[0])
    assert len(res.trades) >= 6 and {t.side for t in res.trades} == {"BUY", "SELL"}
    db = world.db()
    _assert_same(res, db, window[0])
    assert len(trading.positions(db)) <= 8
