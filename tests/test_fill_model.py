"""The fill model: order of fills, prices with slippage, costs, cash cuts, missing bars."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokers.fill_model import PendingOrder, affordable_qty, fill_at_open
from sennot.costs import Costs

C = Costs(commission=0.00015, sell_tax=0.0020, slippage=0.0)


def buy(sym, qty, seq, lot=1.0):
    return PendingOrder(f"B-{sym}", sym, "BUY", qty, seq, "breakout", lot)


def sell(sym, qty, waited=False):
    return PendingOrder(f"S-{sym}", sym, "SELL", qty, 0, "stop_loss", waited=waited)


def test_sells_first_waiting_then_new_by_symbol_then_buys_in_approval_order():
    orders = [buy("Z", 1, 2), sell("B", 1), buy("A", 1, 1), sell("A", 1), sell("C", 1, waited=True)]
    opens = {s: 100.0 for s in "ABCZ"}
    out = fill_at_open(orders, opens, 1e6, {"A": 1, "B": 1, "C": 1}, C)
    assert [(f.side, f.symbol) for f in out.fills] == [
        ("SELL", "C"), ("SELL", "A"), ("SELL", "B"), ("BUY", "A"), ("BUY", "Z")]


def test_prices_with_slippage_and_costs_not_rounded():
    c = Costs(0.00015, 0.0020, 0.001)
    out = fill_at_open([sell("A", 3), buy("B", 7, 1)], {"A": 1000.0, "B": 333.0}, 1e6, {"A": 3}, c)
    s, b = out.fills
    assert s.price == 1000.0 * (1 - 0.001) and b.price == 333.0 * (1 + 0.001)
    assert s.fee == pytest.approx(3 * s.price * (0.00015 + 0.0020), rel=1e-12)
    assert b.fee == pytest.approx(7 * b.price * 0.00015, rel=1e-12)
    assert out.cash == pytest.approx(1e6 + 3 * s.price - s.fee - 7 * b.price * 1.00015, rel=1e-12)


def test_buy_cut_to_cash_then_cancelled_when_nothing_fits():
    cash = 10 * 100.0 * 1.00015  # exactly 10 shares
    out = fill_at_open([buy("A", 15, 1), buy("B", 5, 2)], {"A": 100.0, "B": 100.0}, cash, {}, C)
    assert [(f.symbol, f.qty, f.cut_from) for f in out.fills] == [("A", 10, 15)]
    assert [(o.symbol, why) for o, why in out.cancelled] == [("B", "insufficient_cash_at_fill")]
    assert out.cash == 0.0


def test_buy_without_a_bar_is_cancelled_and_sell_without_a_bar_waits():
    out = fill_at_open([buy("A", 1, 1), sell("B", 2)], {}, 1000.0, {"B": 2}, C)
    assert out.fills == []
    assert [(o.symbol, why) for o, why in out.cancelled] == [("A", "no_bar_at_fill")]
    assert [(o.symbol, o.waited) for o in out.waiting] == [("B", True)]
    assert out.cash == 1000.0


def test_affordable_qty_is_exact_at_the_boundary():
    price, c = 12345.678, 0.00015
    cost7 = 7 * price * (1 + c)
    assert affordable_qty(10, price, cost7, c, 1.0) == 7
    assert affordable_qty(10, price, math.nextafter(cost7, 0), c, 1.0) == 6
    assert affordable_qty(0.01, 30000.0, 30000.0 * 0.005 * 1.00015, c, 0.001) == 0.005


@settings(max_examples=60, deadline=None)
@given(cash=st.floats(0, 1e7), orders=st.lists(st.tuples(st.integers(1, 500), st.floats(0.01, 1e5)),
                                               max_size=6))
def test_cash_never_goes_below_zero_and_cuts_are_maximal(cash, orders):
    pend = [buy(f"S{i}", q, i + 1) for i, (q, _) in enumerate(orders)]
    opens = {f"S{i}": p for i, (_, p) in enumerate(orders)}
    out = fill_at_open(pend, opens, cash, {}, C)
    assert out.cash >= 0
    left = cash
    for f in out.fills:
        cost = f.qty * f.price * (1 + C.commission)
        assert cost <= left and f.qty == int(f.qty)
        if f.cut_from is not None:  # one more share would not have fitted
            assert (f.qty + 1) * f.price * (1 + C.commission) > left
        left -= cost
