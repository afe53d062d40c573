"""The read side both the CLI and Telegram show: positions, analysis, status (pipeline.read.service)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from db import control as control_db
from db import open_db
from db.core import now_iso
from pipeline.read import service
from tests.telegram_helpers import make_config, settings_for

QTX = str(Path(sys.executable).with_name("qtx"))


@pytest.fixture
def env(tmp_path):
    path, raw = make_config(tmp_path, "http://127.0.0.1:9")
    s = settings_for(path, raw)
    db = open_db(s.db_path, market=s.market, mode=s.mode)
    yield path, s, db
    db.close()


def _days(n, start=date(2026, 1, 1)):
    return [(start + timedelta(days=i)).isoformat() for i in range(n)]


def _seed(db):
    ts = now_iso()
    days = _days(250)
    with db.transaction():
        for i, d in enumerate(days):
            # UP rises (passes the trend filter), DOWN falls (fails it); NEW has 10 bars only.
            db.conn.execute("INSERT INTO bars VALUES ('UP', ?, 1, 1, 1, ?, 100, 'csv')", (d, 100.0 + i))
            db.conn.execute("INSERT INTO bars VALUES ('DOWN', ?, 1, 1, 1, ?, 100, 'csv')", (d, 400.0 - i))
        for d in days[-10:]:
            db.conn.execute("INSERT INTO bars VALUES ('NEW', ?, 1, 1, 1, 10, 100, 'csv')", (d,))
        db.conn.execute("INSERT INTO instruments(symbol, sector, updated_at) VALUES ('UP', 'tech', ?)", (ts,))
        db.conn.execute("INSERT INTO instruments(symbol, sector, updated_at) VALUES ('DOWN', 'energy', ?)", (ts,))
        # UP bought 5 bars before the end at 340, not armed; DOWN armed 3 bars before the end.
        db.conn.execute("INSERT INTO positions VALUES ('UP', 10, 341, 340, ?, NULL, ?)", (days[-6], ts))
        db.conn.execute("INSERT INTO positions VALUES ('DOWN', 2, 150, 150, ?, ?, ?)", (days[-20], days[-4], ts))
        db.conn.execute("INSERT INTO daily_metrics(date, cash, equity, peak, drawdown, daily_return, "
                        "positions, updated_at) VALUES (?, 1000, 5000, 6000, -0.1667, 0.02, 2, ?)",
                        (days[-1], ts))
        sig = [  # date, symbol, side, reason, status, verdict
            (days[-3], "UP", "BUY", "breakout+pullback", "approved", "approved"),
            (days[-3], "AAA", "BUY", "golden_cross", "rejected", "max_positions"),
            (days[-2], "BBB", "BUY", "breakout", "rejected", "cash"),
            (days[-2], "CCC", "BUY", "breakout", "rejected", "cash"),
            (days[-1], "DDD", "BUY", "pullback", "pending", None),
            (days[-1], "EEE", "SELL", "stop_loss", "approved", "sell_always_allowed"),
            (days[-100], "OLD", "BUY", "breakout", "approved", "approved"),  # outside 30 days
        ]
        for d, sym, side, reason, status, verdict in sig:
            db.conn.execute("INSERT INTO signals(date, symbol, side, close, reason, status, verdict_reason, "
                            "created_at) VALUES (?, ?, ?, 1, ?, ?, ?, ?)", (d, sym, side, reason, status, verdict, ts))
        fills = [  # a winning breakout+pullback trade and a losing breakout trade, both closed
            ("f1", days[-20], "X", "BUY", 10, 100.0, 1.0, "breakout+pullback"),
            ("f2", days[-15], "X", "SELL", 5, 110.0, 1.0, "take_profit"),
            ("f3", days[-12], "X", "SELL", 5, 108.0, 1.0, "trailing_stop"),
            ("f4", days[-10], "Y", "BUY", 4, 50.0, 0.0, "breakout"),
            ("f5", days[-8], "Y", "SELL", 4, 45.0, 0.0, "stop_loss"),
            ("f6", days[-5], "Z", "BUY", 1, 10.0, 0.0, "pullback"),  # still open: not counted
        ]
        for fid, d, sym, side, qty, price, fee, reason in fills:
            db.conn.execute("INSERT INTO fills(fill_id, date, symbol, side, qty, price, fee, reason, ts) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (fid, d, sym, side, qty, price, fee, reason, d))
    return days


def test_positions_view(env):
    _, s, db = env
    days = _seed(db)
    rows = {p["symbol"]: p for p in service.positions(db, s)}
    up, down = rows["UP"], rows["DOWN"]
    assert up["last_price"] == 349.0 and up["last_date"] == days[-1]
    assert up["pnl"] == pytest.approx((349 - 341) * 10) and up["pnl_pct"] == pytest.approx(349 / 341 - 1)
    assert up["days_held"] == 5  # the symbol's bars after the entry bar
    assert up["stop_level"] == pytest.approx(340 * 0.96) and up["trailing_level"] is None
    assert down["armed"] and down["stop_level"] is None
    assert down["peak"] == 400.0 - 246  # max close since (and including) the arming bar
    assert down["trailing_level"] == pytest.approx((400.0 - 246) * 0.97)
    asof = {p["symbol"]: p for p in service.positions(db, s, asof=days[-3])}
    assert asof["UP"]["last_price"] == 347.0 and asof["UP"]["days_held"] == 3


def test_analysis(env):
    _, s, db = env
    days = _seed(db)
    a = service.analysis(db, s, days=30)
    assert a["asof"] == days[-1]
    assert a["signals"]["buy_by_rule"] == {"breakout": 3, "golden_cross": 1, "pullback": 2}
    assert a["signals"]["sell_by_reason"] == {"stop_loss": 1}
    ap = a["approval"]
    assert (ap["buy_signals"], ap["approved"], ap["rejected"], ap["pending"]) == (5, 1, 3, 1)
    assert ap["approval_rate"] == pytest.approx(0.25)
    assert ap["rejections_by_reason"] == {"cash": 2, "max_positions": 1}
    tr = a["trades"]
    assert tr["all"]["trades"] == 2 and tr["all"]["win_rate"] == pytest.approx(0.5)
    x_ret = (5 * 110 - 1 + 5 * 108 - 1) / (10 * 100 + 1) - 1
    assert tr["by_entry_rule"]["pullback"]["avg_return"] == pytest.approx(x_ret)
    assert tr["by_entry_rule"]["breakout"]["trades"] == 2
    assert tr["by_entry_rule"]["breakout"]["avg_return"] == pytest.approx((x_ret + (45 / 50 - 1)) / 2)
    ex = a["exposure"]["by_sector"]
    assert ex["tech"]["value"] == pytest.approx(3490) and ex["tech"]["share"] == pytest.approx(3490 / 5000)
    assert ex["energy"]["value"] == pytest.approx(2 * 151)
    (tf,) = a["filters"]
    assert (tf["evaluated"], tf["passing"], tf["insufficient_history"]) == (2, 1, 1)


def test_status_carries_switches_metrics_orders_and_listener(env):
    _, s, db = env
    _seed(db)
    control_db.set_flag(db, "trading_enabled", False, reason="vacation", by="telegram:1")
    control_db.set_flag(db, "reconcile_block", True, reason="qty differs")
    st = service.status(db, s)
    assert st["trading_enabled"] is False and st["buys_blocked"] is True
    assert st["buy_block_reasons"] == ["trading stopped: vacation", "reconcile block: qty differs"]
    assert st["metrics"]["equity"] == 5000 and st["metrics"]["drawdown"] == pytest.approx(-0.1667)
    assert st["metrics"]["day_pnl"] == pytest.approx(5000 - 5000 / 1.02)
    assert st["listener"] is None and st["open_orders"] == []
    json.dumps(st)  # JSON-ready


def test_cli_positions_and_analysis_json(env):
    path, s, db = env
    _seed(db)
    envv = {**os.environ, "QTX_CONFIG": str(path)}
    out = subprocess.run([QTX, "positions", "--json"], capture_output=True, text=True, env=envv, timeout=60)
    assert out.returncode == 0, out.stderr
    assert {p["symbol"] for p in json.loads(out.stdout)} == {"UP", "DOWN"}
    out = subprocess.run([QTX, "analysis", "--json", "--days", "30"], capture_output=True, text=True,
                         env=envv, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["approval"]["approved"] == 1
    out = subprocess.run([QTX, "positions"], capture_output=True, text=True, env=envv, timeout=60)
    assert out.returncode == 0 and "UP" in out.stdout and "DOWN" in out.stdout
