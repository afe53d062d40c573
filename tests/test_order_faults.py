"""Order defects found by the fault campaign (issue 12), each pinned by a test that failed on the
code before the one unknown-outcome policy: nothing placed late, nothing lost, nothing sent twice."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from brokers.base import Capabilities, Rejected, UnknownOutcome, client_order_id
from brokers.bybit import BybitBroker
from brokers.paper import PaperBroker
from db import trading
from db.paper import PaperStore
from pipeline.stages.execute import run_execute, submit
from pipeline.stages.reconcile import run_reconcile
from risk.params import costs_of
from tests.fakes.bybit_v5 import FakeBybitV5
from tests.test_execute_crash import _world_with_pending


class NeverArrives(PaperBroker):
    """Every create is lost on the way (connection reset before the venue saw it)."""

    def place(self, req):
        raise UnknownOutcome("connection reset")


class SlowToShow(PaperBroker):
    """Accepts the create but answers with a timeout, and shows the order only from the
    ``hidden``-th lookup on (venues process creates asynchronously)."""

    capabilities = Capabilities(enforces_client_ids=True, visibility_delay=2.0)

    def __init__(self, *a, hidden: int = 1, resend_error: bool = False, **kw):
        super().__init__(*a, **kw)
        self.hidden, self.lookups, self.creates, self.resend_error = hidden, 0, 0, resend_error

    def place(self, req):
        self.creates += 1
        if self.creates > 1 and self.resend_error:
            raise Rejected("duplicate order id (the venue already has it)")
        super().place(req)
        raise UnknownOutcome("read timed out")

    def order_status(self, cid, broker_order_id=None):
        self.lookups += 1
        return None if self.lookups <= self.hidden else super().order_status(cid)


class HiddenAndStill(SlowToShow):
    """Never shows the order, and its market does not move."""

    def on_bars(self, upto, **kw):
        return []


def _paper(db, settings, cls, **kw):
    return cls(PaperStore(db), settings.capital, costs_of(settings), **kw)


def test_an_unknown_order_of_an_earlier_decision_is_never_placed_later(tmp_path):
    world, db, d = _world_with_pending(tmp_path)
    out = run_execute(db, world.settings, d, broker=_paper(db, world.settings, NeverArrives))
    stuck = [cid for cid, st in out["orders"].items() if st == "unknown"]
    assert stuck, out
    # Days later, with the venue reachable again, a later decision's execute runs.
    nxt = world.dates[world.dates.index(d) + 1]
    world.day(db, nxt, execute=False)
    later = run_execute(db, world.settings, nxt, broker=_paper(db, world.settings, PaperBroker))
    for cid in stuck:
        assert later["orders"][cid] == "expired"
        assert db.scalar("SELECT COUNT(*) FROM paper_orders WHERE client_order_id = ?", (cid,)) == 0
    assert db.scalar("SELECT COUNT(*) FROM outbox WHERE dedup_key LIKE 'expired:%'") == len(stuck)


def _intent(db, cid="qtx-20260105-B-AAA", symbol="AAA", qty=10, day="2026-01-05"):
    with db.transaction():
        trading.insert_order_intent(db, cid, None, day, symbol, "BUY", qty, 1, "t")
    return trading.order(db, cid)


@pytest.fixture
def venue_db(qtx_db):
    """A paper venue that knows symbol AAA."""
    from db import bars as bars_db

    bars_db.insert_bars(qtx_db, "AAA", [("2026-01-05", 10, 11, 9, 10, 100), ("2026-01-06", 10, 11, 9, 10, 100)])
    return qtx_db


def test_a_create_slow_to_show_is_waited_for_not_sent_again(venue_db, qtx_settings):
    venue = _paper(venue_db, qtx_settings, SlowToShow, hidden=1)
    waits = []
    assert submit(venue_db, venue, _intent(venue_db), sleep=waits.append) == "new"
    assert venue.creates == 1 and waits and 0 < waits[0] <= 2.0


def test_an_error_answer_to_a_second_create_is_not_final(venue_db, qtx_settings):
    venue = _paper(venue_db, qtx_settings, SlowToShow, hidden=3, resend_error=True)
    assert submit(venue_db, venue, _intent(venue_db), sleep=lambda s: None) == "unknown"
    assert venue.creates == 2  # sent again only after the visibility delay
    assert trading.order(venue_db, "qtx-20260105-B-AAA")["status"] == "unknown"
    # the first create shows up later: the order is found, with its real state
    assert submit(venue_db, venue, trading.order(venue_db, "qtx-20260105-B-AAA"), sleep=lambda s: None) == "new"
    assert venue.creates == 2


def test_reconcile_never_cancels_an_order_the_venue_does_not_show_yet(venue_db, qtx_settings):
    venue = _paper(venue_db, qtx_settings, PaperBroker)
    submit(venue_db, venue, _intent(venue_db), sleep=lambda s: None)
    hidden = _paper(venue_db, qtx_settings, HiddenAndStill, hidden=10**6)
    rec = run_reconcile(venue_db, qtx_settings, "2026-01-05", broker=hidden)
    assert rec["repaired"]["missing"] == 1
    assert trading.order(venue_db, "qtx-20260105-B-AAA")["status"] == "new"
    assert venue_db.scalar("SELECT COUNT(*) FROM outbox WHERE dedup_key LIKE 'missing:%'") == 0
    # still missing after its day: alerted, once, and still not closed
    for _ in range(2):
        run_reconcile(venue_db, qtx_settings, "2026-01-06", broker=hidden)
    assert venue_db.scalar("SELECT COUNT(*) FROM outbox WHERE dedup_key LIKE 'missing:%'") == 1
    assert trading.order(venue_db, "qtx-20260105-B-AAA")["status"] == "new"


# --------------------------------------------------------------------------- Bybit's "busy" answers

@pytest.fixture
def ex():
    with FakeBybitV5() as ex:
        ex.add_instrument("BTCUSDT", lot="0.000001", min_qty="0.000048", min_amt="1", tick="0.01")
        ex.set_ticker("BTCUSDT", "60000", "900000000")
        ex.fund("USDT", "10000")
        yield ex


@pytest.mark.parametrize("code", [429, 10016])
def test_bybit_busy_answers_to_a_create_are_looked_up_then_retried(ex, qtx_db, code):
    ex.fail_next("/v5/order/create", "ret_code", code=code, msg="server busy, please retry")
    b = BybitBroker(ex.api_key, ex.api_secret, endpoint=ex.url, timeout=1, sleep=lambda s: None)
    cid = client_order_id("2026-01-05", "BUY", "BTCUSDT")
    o = _intent(qtx_db, cid, "BTCUSDT", 0.01)
    assert submit(qtx_db, b, o, sleep=lambda s: None) == "filled"  # not a final rejection
    assert ex.creates(cid) == 2 and list(ex.orders) == [cid]  # refused once, then placed once
    assert ex.received_count("/v5/order/realtime") >= 1  # looked up before it was sent again
    assert trading.order(qtx_db, cid)["status"] == "filled"


def test_bybit_rate_limit_on_a_create_is_retried_not_rejected(ex, qtx_db):
    for _ in range(2):
        ex.fail_next("/v5/order/create", "rate_limit", reset_ms=0)
    b = BybitBroker(ex.api_key, ex.api_secret, endpoint=ex.url, timeout=1, sleep=lambda s: None)
    cid = client_order_id("2026-01-05", "BUY", "BTCUSDT")
    assert submit(qtx_db, b, _intent(qtx_db, cid, "BTCUSDT", 0.01), sleep=lambda s: None) == "filled"
    assert list(ex.orders) == [cid]


def test_a_bybit_read_outage_is_one_line_and_exit_1(tmp_path, qtx_bin):
    with FakeBybitV5() as ex:
        url = ex.url
    # the server is gone: every read fails to connect
    cfg = tmp_path / "qtx.yaml"
    cfg.write_text(yaml.safe_dump({"market": "bybit", "mode": "live", "risk": {"max_order_notional": 100},
                                   "bybit": {"endpoint": url, "timeout": 1}}), encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "QTX_BYBIT_KEY": "k", "QTX_BYBIT_SECRET": "s"}
    subprocess.run([qtx_bin, "init", str(tmp_path), "--market", "bybit"], capture_output=True, env=env)
    cfg.write_text(yaml.safe_dump({"market": "bybit", "mode": "live", "risk": {"max_order_notional": 100},
                                   "bybit": {"endpoint": url, "timeout": 1}}), encoding="utf-8")
    from db.core import open_db

    open_db(tmp_path / "data" / "qtx-bybit-live.sqlite", market="bybit", mode="live", create=True,
            capital=1000).close()
    res = subprocess.run([qtx_bin, "--config", str(cfg), "reconcile"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr and "broker:" in res.stderr


def test_decisions_left_unexecuted_are_alerted_when_they_expire(tmp_path):
    """Found by the 30-day soak: an execute killed on Friday left decisions pending; Monday's
    execute expired them with only an event, so the operator never heard."""
    world, db, d = _world_with_pending(tmp_path)  # d's decisions pending, never executed
    nxt = world.dates[world.dates.index(d) + 1]
    world.day(db, nxt, execute=False)
    if not trading.signals_on(db, nxt, status="pending"):
        pytest.skip("the next day has no decision of its own to execute")
    run_execute(db, world.settings, nxt, broker=_paper(db, world.settings, PaperBroker))
    assert db.scalar("SELECT COUNT(*) FROM signals WHERE date = ? AND status = 'expired'", (d,)) > 0
    assert db.scalar("SELECT COUNT(*) FROM outbox WHERE dedup_key = ?", (f"expired_before:{nxt}",)) == 1
