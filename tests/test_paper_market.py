"""The paper market moves on the market's trading days, per symbol, one transaction at a time,
and never back in time (issue 12, "The paper market")."""

from __future__ import annotations

import pytest

from brokers.base import OrderRequest
from brokers.paper import PaperBroker
from db import open_db
from db.bars import insert_bars
from db.paper import PaperStore
from pipeline.brokers_factory import make_broker
from pipeline.stages.sync import after_collect
from sennot.costs import Costs

# KRX: Thursday 2026-02-12 and Friday 02-13 are sessions; Saturday 02-14 and the Korean New
# Year holidays (Monday 02-16 to Wednesday 02-18) are not; the next session is Thursday 02-19.
THU, FRI, NEXT = "2026-02-12", "2026-02-13", "2026-02-19"


def _bar(d: str, o: float) -> tuple:
    return (d, o, o + 1, o - 1, o, 1000)


@pytest.fixture
def venue(qtx_db, qtx_settings):
    """A paper account holding CCC, with Friday's decisions at the venue: BUY BBB, SELL CCC."""
    for sym, px in (("AAA", 100), ("BBB", 50), ("CCC", 20)):
        insert_bars(qtx_db, sym, [_bar(THU, px), _bar(FRI, px)])
    broker = make_broker(qtx_settings, qtx_db)
    broker.place(OrderRequest("c-buy", "CCC", "BUY", 10, date=THU))
    after_collect(qtx_db, qtx_settings, FRI)
    assert broker.order_status("c-buy").status == "filled"
    broker.place(OrderRequest("b-buy", "BBB", "BUY", 5, date=FRI))
    broker.place(OrderRequest("c-sell", "CCC", "SELL", 10, date=FRI))
    return broker


def _fill(broker, cid: str):
    return [(f.date, f.price) for f in broker.fills() if f.client_order_id == cid]


@pytest.mark.parametrize("stray", [
    ("AAA", "2026-02-14"),  # a weekend row
    ("AAA", "2026-02-16"),  # a row on a KRX holiday
    ("AAA", "2026-05-13"),  # a typo: a date months ahead (already past on the real clock)
    ("AAA", NEXT),          # one file updated before the others
], ids=["weekend", "holiday", "typo", "one-file-first"])
def test_a_stray_bar_does_not_move_the_market_for_other_symbols(venue, qtx_db, qtx_settings, stray):
    sym, d = stray
    insert_bars(qtx_db, sym, [_bar(d, 111)])
    after_collect(qtx_db, qtx_settings)  # `qtx collect --source csv` without --asof
    assert venue.order_status("b-buy").status == "new"  # not cancelled for want of a bar
    assert venue.order_status("c-sell").status == "new"
    # The next session's bars come in: both orders fill at its open, not later.
    for s, px in (("AAA", 101), ("BBB", 52), ("CCC", 22)):
        if (s, NEXT) != stray:
            insert_bars(qtx_db, s, [_bar(NEXT, px)])
    after_collect(qtx_db, qtx_settings)
    assert _fill(venue, "b-buy") == [(NEXT, 52)]
    assert _fill(venue, "c-sell") == [(NEXT, 22)]


def test_a_complete_session_applies_the_fill_model_to_a_symbol_without_its_bar(venue, qtx_db, qtx_settings):
    """When the stage deciding on NEXT runs, a symbol without a bar that day had none (a halt):
    its BUY is cancelled and its SELL waits for its next bar."""
    insert_bars(qtx_db, "AAA", [_bar(NEXT, 101)])
    venue.on_bars(NEXT)  # the market reached NEXT with every bar it will have
    st = venue.order_status("b-buy")
    assert (st.status, st.reject_reason) == ("cancelled", "no_bar_at_fill")
    assert venue.order_status("c-sell").status == "new"
    insert_bars(qtx_db, "CCC", [_bar("2026-02-20", 23)])
    venue.on_bars("2026-02-20")
    assert _fill(venue, "c-sell") == [("2026-02-20", 23)]


def test_two_connections_advancing_the_market_never_overwrite_cash(qtx_db, qtx_settings):
    """Two stages move the paper market at once: the second must not write back cash it read
    before the first one's fills (deterministic interleaving over two connections)."""
    insert_bars(qtx_db, "AAA", [_bar("2026-01-05", 100), _bar("2026-01-06", 102)])
    costs = Costs(0.001, 0.002, 0.0)
    a = PaperBroker(PaperStore(qtx_db), 10_000.0, costs)
    other = open_db(qtx_settings.db_path, market="krx", mode="paper")
    b = PaperBroker(PaperStore(other), 10_000.0, costs)
    assert a.balance().cash == 10_000.0
    done = []

    def b_trades() -> None:  # the other stage places an order and the market fills it
        if not done:
            done.append(True)
            b.place(OrderRequest("b1", "AAA", "BUY", 10, date="2026-01-05"))
            assert [f.price for f in b.on_bars("2026-01-06")] == [102]

    begin = a.store.transaction

    def interleaved():  # b runs at the moment a opens its write transaction
        b_trades()
        return begin()

    a.store.transaction = interleaved
    a.on_bars("2026-01-06")
    b_trades()  # a never wrote: b trades afterwards
    expected = 10_000.0 - 10 * 102 * (1 + 0.001)
    assert a.balance().cash == pytest.approx(expected)
    assert b.balance().cash == pytest.approx(expected)
    assert [(p.symbol, p.qty) for p in a.positions()] == [("AAA", 10)]
    other.close()


def test_replaying_dates_already_processed_is_refused(tmp_path, run_cli):
    """A replay of days the account has moved past would place back-dated orders: refused with
    exit 2 and a message naming the last processed date; nothing is written.  Later days go on."""
    from db import trading
    from pipeline.stages.replay import ReplayRefused, run_replay
    from tests.paper_world import make_world

    world = make_world(tmp_path, n_symbols=10)
    world.db().close()
    cfg = ["--config", world.config]
    dates = world.dates
    assert run_cli([*cfg, "collect", "--source", "csv", "--path", world.csv_dir])[0] == 0
    code, _, err = run_cli([*cfg, "replay", "--start", dates[-6], "--end", dates[-3]])
    assert code == 0, err
    db = world.db()

    def state():
        return (db.query("SELECT * FROM paper_orders ORDER BY id"), db.query("SELECT * FROM orders ORDER BY id"),
                db.query("SELECT id, date, symbol, side, status FROM signals ORDER BY id"), trading.fill_count(db))

    before = state()
    assert before[1], "the replay must have placed orders for the check to mean anything"
    for args in (["--days", "4"], ["--start", dates[-8], "--end", dates[-5]], ["--start", dates[-3]]):
        code, out, err = run_cli([*cfg, "replay", *args])
        assert code == 2, (args, out)
        assert f"already processed up to {dates[-3]}" in err, err
    with pytest.raises(ReplayRefused):  # the pipeline function refuses too
        run_replay(db, world.settings, [dates[-3], dates[-2]])
    assert state() == before
    code, _, err = run_cli([*cfg, "replay", "--start", dates[-2]])
    assert code == 0, err
    assert db.scalar("SELECT MAX(date) FROM daily_metrics") == dates[-1]


def test_a_weekend_or_holiday_row_is_not_a_decision_date(qtx_db, qtx_settings):
    from pipeline.stages.replay import replay_dates
    from pipeline.stages.signal import decision_date

    for sym, px in (("AAA", 100), ("BBB", 50)):
        insert_bars(qtx_db, sym, [_bar(THU, px), _bar(FRI, px)])
    insert_bars(qtx_db, "AAA", [_bar("2026-02-14", 1), _bar("2026-02-16", 1)])
    assert decision_date(qtx_db, None, qtx_settings) == FRI
    assert decision_date(qtx_db, "2026-02-18", qtx_settings) == FRI
    assert replay_dates(qtx_db, None, None, None, settings=qtx_settings) == [THU, FRI]
