"""Nothing lost or doubled: ``execute`` killed (SIGKILL, a real subprocess) at every step, then
rerun and reconciled, leaves exactly one broker order per approved signal and consistent
positions; unknown outcomes are looked up, never blindly resent; one execute at a time."""

from __future__ import annotations

import pytest

from brokers.base import UnknownOutcome
from brokers.paper import PaperBroker
from db import trading
from pipeline.schedule.stage import lock_path, stage_lock
from pipeline.stages.execute import run_execute
from pipeline.stages.reconcile import run_reconcile
from tests.paper_world import make_world, trade_rows

FAULTS = ["execute:after_vet", "execute:before_lookup", "execute:before_place", "execute:after_place",
          "execute:after_record"]


def _world_with_pending(tmp_path):
    """Drive the synthetic market until a day whose signals include a BUY and a SELL; stop
    after ``signal`` so those signals are pending for ``execute``."""
    world = make_world(tmp_path, n_symbols=16)
    db = world.db()
    window = world.dates[-60:]
    from pipeline.stages.collect import collect_csv

    collect_csv(db, world.settings, world.csv_dir, asof=world.dates[world.dates.index(window[0]) - 1])
    for d in window:
        world.day(db, d, execute=False)
        sides = {s["side"] for s in trading.signals_on(db, d, status="pending")}
        if sides == {"BUY", "SELL"}:
            return world, db, d
        run_execute(db, world.settings, d)
    pytest.fail("the synthetic market never produced a day with both BUY and SELL signals")


def _assert_consistent(db, d):
    orders = db.query("SELECT client_order_id, status FROM orders WHERE date = ?", (d,))
    paper = db.query("SELECT client_order_id, COUNT(*) AS n FROM paper_orders GROUP BY client_order_id")
    assert all(p["n"] == 1 for p in paper), "a client order id was placed twice"
    approved = db.query("SELECT symbol, side FROM signals WHERE date = ? AND status = 'approved'", (d,))
    assert len(orders) == len(approved) > 0
    paper_ids = {p["client_order_id"] for p in paper}
    for o in orders:
        assert o["client_order_id"] in paper_ids, f"{o['client_order_id']} never reached the broker"
        assert o["status"] == "new"


@pytest.mark.parametrize("fault", FAULTS)
def test_kill_execute_anywhere_then_rerun(tmp_path, qtx_bin, fault):
    world, db, d = _world_with_pending(tmp_path)
    killed = world.qtx(qtx_bin, "execute", "--asof", d, env={"QTX_FAULT": fault}, check=False)
    assert killed.returncode == -9, killed.stderr
    world.qtx(qtx_bin, "execute", "--asof", d)
    world.qtx(qtx_bin, "reconcile", "--asof", d)
    _assert_consistent(db, d)
    # The next day fills them once; positions agree with the broker.
    nxt = world.dates[world.dates.index(d) + 1]
    world.day(db, nxt)
    rec = run_reconcile(db, world.settings, nxt)
    assert rec["diff"]["clean"], rec["diff"]
    fills = trade_rows(db)
    assert len(fills) == len(set(fills))


def test_kill_while_recording_fills_then_rerun(tmp_path, qtx_bin):
    world, db, d = _world_with_pending(tmp_path)
    run_execute(db, world.settings, d)
    nxt = world.dates[world.dates.index(d) + 1]
    from pipeline.stages.collect import collect_csv

    collect_csv(db, world.settings, world.csv_dir, asof=nxt)
    killed = world.qtx(qtx_bin, "signal", "--asof", nxt, env={"QTX_FAULT": "sync:after_fill"}, check=False)
    assert killed.returncode == -9
    world.qtx(qtx_bin, "signal", "--asof", nxt)
    rec = run_reconcile(db, world.settings, nxt)
    assert rec["diff"]["clean"], rec["diff"]
    paper_fills = db.scalar("SELECT COUNT(*) FROM paper_fills")
    assert db.scalar("SELECT COUNT(*) FROM fills") == paper_fills > 0


class TimeoutAfterReaching(PaperBroker):
    """The venue accepts the order but the answer is lost (a timeout after the request)."""

    def place(self, req):
        super().place(req)
        raise UnknownOutcome("read timed out")


class TimeoutBeforeReaching(PaperBroker):
    """The request never arrives (connection reset before the venue saw it), once."""

    failed: set = set()

    def place(self, req):
        if req.client_order_id not in self.failed:
            self.failed.add(req.client_order_id)
            raise UnknownOutcome("connection reset")
        return super().place(req)


def _paper(db, settings, cls):
    from db.paper import PaperStore
    from risk.params import costs_of

    return cls(PaperStore(db), settings.capital, costs_of(settings))


def test_timeout_after_the_order_reached_the_broker_is_found_not_resent(tmp_path):
    world, db, d = _world_with_pending(tmp_path)
    out = run_execute(db, world.settings, d, broker=_paper(db, world.settings, TimeoutAfterReaching))
    assert set(out["orders"].values()) == {"new"}  # each found by its client id after the timeout
    assert db.scalar("SELECT COUNT(*) FROM paper_orders WHERE placed_date = ?", (d,)) == len(out["orders"])
    assert db.scalar("SELECT COUNT(*) FROM events WHERE kind = 'order_unknown_outcome'") == len(out["orders"])
    _assert_consistent(db, d)


def test_timeout_before_the_order_arrived_is_sent_once_more(tmp_path):
    world, db, d = _world_with_pending(tmp_path)
    TimeoutBeforeReaching.failed = set()
    broker = _paper(db, world.settings, TimeoutBeforeReaching)
    # The lookup after the lost create finds nothing; the paper venue refuses duplicate ids, so
    # the same run sends it once more, and only once.
    first = run_execute(db, world.settings, d, broker=broker)
    assert set(first["orders"].values()) == {"new"}
    assert TimeoutBeforeReaching.failed == set(first["orders"])
    second = run_execute(db, world.settings, d, broker=broker)
    assert second["orders"] == {}  # nothing left to send
    _assert_consistent(db, d)


def test_a_second_execute_while_one_runs_exits_cleanly_as_busy(tmp_path, qtx_bin):
    world, db, d = _world_with_pending(tmp_path)
    with stage_lock(lock_path(db, "execute"), "execute"):
        res = world.qtx(qtx_bin, "execute", "--asof", d, "--json")
    assert res.returncode == 0
    assert '"status": "busy"' in res.stdout
    assert "stage busy" in res.stderr
    assert db.scalar("SELECT COUNT(*) FROM paper_orders WHERE placed_date = ?", (d,)) == 0
    assert db.scalar("SELECT COUNT(*) FROM runs WHERE stage = 'execute' AND outcome = 'ok'") == 0
