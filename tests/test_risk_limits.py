"""The limits that outrank the guard: buy blocks and the live per-order notional cap."""

from __future__ import annotations

from db import trading
from pipeline.config import replace
from pipeline.stages.execute import run_execute
from risk.limits import final_buy_reason
from tests.test_execute_crash import _world_with_pending


def test_final_buy_reason():
    assert final_buy_reason("approved", 10, 100.0, [], None) == "approved"
    assert final_buy_reason("approved", 10, 100.0, [], 1000.0) == "approved"  # at the cap: allowed
    assert final_buy_reason("approved", 10, 100.01, [], 1000.0) == "notional_cap"
    assert final_buy_reason("approved", 10, 100.0, ["/stop"], 1000.0) == "buys_blocked: /stop"
    assert final_buy_reason("sector_cap", 10, 100.0, ["/stop"], 1.0) == "sector_cap"  # the guard's first


def test_the_live_notional_cap_binds_in_execute(tmp_path):
    world, db, d = _world_with_pending(tmp_path)
    buys = [s for s in trading.signals_on(db, d, status="pending") if s["side"] == "BUY"]
    smallest = min(b["close"] for b in buys)
    live = replace(world.settings, mode="live",  # a cap below any whole position's value
                   risk=replace(world.settings.risk, max_order_notional=smallest))
    out = run_execute(db, live, d, broker=_paper_broker(db, world.settings))
    verdicts = {s["symbol"]: s["verdict_reason"] for s in trading.signals_on(db, d) if s["side"] == "BUY"}
    assert out["buys_approved"] == 0
    assert set(verdicts.values()) <= {"notional_cap", "max_positions", "min_order", "cash", "sector_cap"}
    assert "notional_cap" in verdicts.values()
    assert db.scalar("SELECT COUNT(*) FROM orders WHERE side = 'BUY' AND date = ?", (d,)) == 0


def _paper_broker(db, settings):
    from brokers.paper import PaperBroker
    from db.paper import PaperStore
    from risk.params import costs_of

    return PaperBroker(PaperStore(db), settings.capital, costs_of(settings))
