"""Risk triggers met by ``execute`` are recorded as events and queued for Telegram, once."""

from __future__ import annotations

from db import trading
from pipeline.stages.execute import run_execute
from tests.paper_world import make_world


def _pending_buys(tmp_path, **config):
    """A paper world stopped after ``signal`` on the first day with pending BUY signals."""
    from pipeline.stages.collect import collect_csv

    world = make_world(tmp_path, n_symbols=16, **config)
    db = world.db()
    window = world.dates[-40:]
    collect_csv(db, world.settings, world.csv_dir, asof=world.dates[world.dates.index(window[0]) - 1])
    for d in window:
        world.day(db, d, execute=False)
        if any(s["side"] == "BUY" for s in trading.signals_on(db, d, status="pending")):
            return world, db, d
        run_execute(db, world.settings, d)
    raise AssertionError("no day with BUY signals")


def _alerts(db, kind):
    events = db.scalar("SELECT COUNT(*) FROM events WHERE level = 'risk' AND kind = ?", (kind,))
    queued = db.scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'risk' AND text LIKE ?", (f"%{kind}%",))
    return events, queued


def test_daily_loss_block_rejects_buys_and_alerts_once(tmp_path):
    world, db, d = _pending_buys(tmp_path)
    db.conn.execute("UPDATE daily_metrics SET buy_blocked = 1, daily_return = -0.05 WHERE date = ?", (d,))
    run_execute(db, world.settings, d)
    verdicts = db.query("SELECT status, verdict_reason FROM signals WHERE date = ? AND side = 'BUY'", (d,))
    assert verdicts and all(v["verdict_reason"] == "daily_loss_block" for v in verdicts)
    assert not db.query("SELECT 1 FROM orders WHERE date = ? AND side = 'BUY'", (d,))
    assert _alerts(db, "daily_loss_block") == (1, 1)
    run_execute(db, world.settings, d)  # a rerun alerts no second time
    assert _alerts(db, "daily_loss_block") == (1, 1)


def test_drawdown_halves_sizes_and_alerts(tmp_path):
    world, db, d = _pending_buys(tmp_path)
    m = trading.metrics_on(db, d)
    db.conn.execute("UPDATE daily_metrics SET size_multiplier = 0.5, drawdown = -0.12 WHERE date = ?", (d,))
    run_execute(db, world.settings, d)
    approved = db.query("SELECT qty, close FROM signals WHERE date = ? AND side = 'BUY' AND status = 'approved'", (d,))
    assert approved
    for a in approved:  # half of an equal slice, in whole shares
        assert a["qty"] == int(m["equity"] / 8 * 0.5 / a["close"])
    assert _alerts(db, "drawdown_sizing") == (1, 1)


def test_sector_cap_rejection_alerts(tmp_path):
    world, db, d = _pending_buys(tmp_path, risk={"sector_cap": 0.05})
    run_execute(db, world.settings, d)
    reasons = {r["verdict_reason"] for r in db.query(
        "SELECT verdict_reason FROM signals WHERE date = ? AND side = 'BUY'", (d,))}
    assert "sector_cap" in reasons
    assert _alerts(db, "sector_cap") == (1, 1)
