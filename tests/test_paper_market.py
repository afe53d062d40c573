"""The paper market moves on the market's trading days, per symbol, one transaction at a time,
and never back in time (issue 12, "The paper market")."""

from __future__ import annotations

import pytest

from brokers.base import OrderRequest
from brokers.paper import PaperBroker
from db import open_db
from db.bars import insert_bars
from db.paper import PaperStore
from sennot.costs import Costs


def _bar(d: str, o: float) -> tuple:
    return (d, o, o + 1, o - 1, o, 1000)


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
