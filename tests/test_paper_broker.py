"""The paper broker behaves like a venue behind the broker interface."""

from __future__ import annotations

import pytest

from brokers.base import Broker, NotFound, OrderRequest, Rejected
from brokers.paper import PaperBroker
from db.bars import insert_bars
from db.paper import PaperStore
from sennot.costs import Costs


@pytest.fixture
def venue(qtx_db):
    insert_bars(qtx_db, "AAA", [("2026-01-05", 100, 101, 99, 100, 1000), ("2026-01-06", 102, 103, 101, 102, 1000),
                                ("2026-01-07", 104, 105, 103, 104, 1000)])
    insert_bars(qtx_db, "BBB", [("2026-01-05", 50, 51, 49, 50, 1000), ("2026-01-07", 55, 56, 54, 55, 1000)])
    return PaperBroker(PaperStore(qtx_db), 10_000.0, Costs(0.001, 0.002, 0.0))


def test_is_a_broker(venue):
    assert isinstance(venue, Broker)


def test_orders_fill_at_the_next_open_by_the_fill_model(venue):
    venue.place(OrderRequest("b1", "AAA", "BUY", 10, date="2026-01-05"))
    assert venue.on_bars("2026-01-05") == []  # not on the decision date itself
    fills = venue.on_bars("2026-01-06")
    assert [(f.symbol, f.qty, f.price, f.date) for f in fills] == [("AAA", 10, 102, "2026-01-06")]
    assert fills[0].fee == pytest.approx(10 * 102 * 0.001)
    assert venue.balance().cash == pytest.approx(10_000 - 1020 - 1.02)
    assert venue.order_status("b1").status == "filled"
    assert [(p.symbol, p.qty) for p in venue.positions()] == [("AAA", 10)]
    assert venue.on_bars("2026-01-06") == []  # a date is processed once


def test_duplicate_client_id_returns_the_existing_order(venue):
    a = venue.place(OrderRequest("dup", "AAA", "BUY", 5, date="2026-01-05"))
    b = venue.place(OrderRequest("dup", "AAA", "BUY", 7, date="2026-01-05"))
    assert a.broker_order_id == b.broker_order_id and b.qty == 5
    assert len(venue.open_orders()) == 1


@pytest.mark.parametrize("req,code", [
    (OrderRequest("x1", "AAA", "BUY", 0, date="2026-01-05"), "bad_quantity"),
    (OrderRequest("x2", "AAA", "BUY", 1.5, date="2026-01-05"), "quantity_not_whole_lot"),
    (OrderRequest("x3", "ZZZ", "BUY", 1, date="2026-01-05"), "unknown_symbol"),
    (OrderRequest("x4", "AAA", "SELL", 1, date="2026-01-05"), "insufficient_position"),
])
def test_rejections_name_the_reason(venue, req, code):
    with pytest.raises(Rejected) as e:
        venue.place(req)
    assert e.value.code == code
    assert venue.order_status(req.client_order_id).status == "rejected"


def test_buy_without_a_bar_is_cancelled_and_sell_waits(venue):
    venue.place(OrderRequest("b", "BBB", "BUY", 10, date="2026-01-05"))
    venue.on_bars("2026-01-06")  # BBB has no bar on the 6th
    st = venue.order_status("b")
    assert (st.status, st.reject_reason) == ("cancelled", "no_bar_at_fill")
    venue.place(OrderRequest("b2", "BBB", "BUY", 10, date="2026-01-04"))
    venue.on_bars("2026-01-07")
    venue.place(OrderRequest("s", "BBB", "SELL", 10, date="2026-01-07"))
    venue.store.db.conn.execute("INSERT INTO bars VALUES ('BBB','2026-01-09',60,61,59,60,1,'csv')")
    venue.store.db.conn.execute("INSERT INTO bars VALUES ('AAA','2026-01-08',1,1,1,1,1,'csv')")
    venue.on_bars("2026-01-08")  # no BBB bar: the SELL waits
    assert venue.order_status("s").status == "new"
    venue.on_bars("2026-01-09")
    assert venue.order_status("s").status == "filled"
    assert [f.price for f in venue.fills() if f.client_order_id == "s"] == [60]


def test_cash_cut_at_fill(venue):
    venue.place(OrderRequest("big", "AAA", "BUY", 200, date="2026-01-05"))
    fills = venue.on_bars("2026-01-06")
    assert fills[0].qty == 97  # 97 * 102 * 1.001 <= 10000 < 98 * 102 * 1.001
    assert venue.balance().cash >= 0
    st = venue.order_status("big")
    assert (st.status, st.filled_qty, st.reject_reason) == ("cancelled", 97, "insufficient_cash_at_fill")


def test_cancel_and_replace(venue):
    venue.place(OrderRequest("c", "AAA", "BUY", 10, date="2026-01-05"))
    assert venue.replace("c", qty=12).qty == 12
    assert venue.cancel("c").status == "cancelled"
    with pytest.raises(Rejected):
        venue.replace("c", qty=5)
    with pytest.raises(NotFound):
        venue.cancel("nope")
    assert venue.on_bars("2026-01-06") == []


def test_fill_at_a_live_quote_with_slippage(qtx_db):
    insert_bars(qtx_db, "AAA", [("2026-01-05", 100, 101, 99, 100, 1000)])
    venue = PaperBroker(PaperStore(qtx_db), 10_000.0, Costs(0.0, 0.0, 0.001))
    venue.place(OrderRequest("q", "AAA", "BUY", 10, date="2026-01-05"))
    fills = venue.on_quotes({"AAA": 110.0}, "2026-01-06")
    assert fills[0].price == pytest.approx(110.0 * 1.001)


def test_state_survives_another_process(venue, qtx_settings):
    from db import open_db

    venue.place(OrderRequest("p", "AAA", "BUY", 10, date="2026-01-05"))
    venue.on_bars("2026-01-06")
    other = open_db(qtx_settings.db_path, market="krx", mode="paper")
    again = PaperBroker(PaperStore(other), 10_000.0, Costs(0.001, 0.002, 0.0))
    assert [(p.symbol, p.qty) for p in again.positions()] == [("AAA", 10)]
    assert again.balance().cash == venue.balance().cash
    other.close()
