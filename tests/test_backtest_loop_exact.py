"""The backtest loop's shortcuts (issue 14) must decide exactly as the general code: the lot-1
paths of the lot arithmetic, RiskState's own __init__, and the fill model reading holdings only
of the orders' symbols (the engine passes no others)."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest

from brokers.fill_model import PendingOrder, fill_at_open
from risk.portfolio import RiskState
from sennot.costs import Costs
from sennot.numeric import LOT_NUDGE, floor_to_lot, lot_decimals, on_lot_grid


def _floor_general(x: float, lot: float) -> float:
    if not x > 0:
        return 0.0
    n = math.floor(x / lot + LOT_NUDGE)
    return 0.0 if n <= 0 else round(n * lot, lot_decimals(lot))


def _grid_general(x: float, lot: float) -> float:
    return round(round(x / lot) * lot, lot_decimals(lot))


def _values() -> list[float]:
    rnd = random.Random(7)
    near = [float(i) + d for i in range(-40, 40) for d in (-0.5, -1e-9, -1e-12, 0.0, 1e-12, 1e-9, 0.5, 0.4999999)]
    return ([rnd.uniform(-1e7, 1e7) for _ in range(20_000)] + [rnd.uniform(0, 20) for _ in range(20_000)] + near
            + [0.0, -0.0, 5e-324, 2.0 ** 53 + 2, 2.0 ** 60, 1e300, -1e300])


def _same(a: float, b: float) -> bool:
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def test_lot_one_paths_give_the_general_formula_to_the_bit():
    bad = [x for x in _values() if not _same(floor_to_lot(x, 1.0), _floor_general(x, 1.0))
           or not _same(on_lot_grid(x, 1.0), _grid_general(x, 1.0))]
    assert not bad, bad[:5]
    # the checker sees a difference where there is one
    assert not _same(on_lot_grid(-0.4, 1.0), -0.0)


def test_other_lots_still_take_the_grid():
    assert floor_to_lot(0.30000000000000004, 0.1) == 0.3 and on_lot_grid(0.1 + 0.2, 0.1) == 0.3
    assert floor_to_lot(17.9, 5.0) == 15.0


def test_risk_state_is_still_a_frozen_value():
    a = RiskState(100.0, 110.0, -0.01, -0.09, False, 1.0)
    assert a == RiskState(100.0, 110.0, -0.01, -0.09, False, 1.0) and hash(a) == hash(RiskState(100.0, 110.0, -0.01, -0.09, False, 1.0))
    assert a != dataclasses.replace(a, buy_blocked=True)
    assert dataclasses.asdict(a) == {"equity": 100.0, "peak": 110.0, "daily_return": -0.01, "drawdown": -0.09,
                                     "buy_blocked": False, "size_multiplier": 1.0}
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.equity = 1.0  # type: ignore[misc]


def test_the_fill_model_needs_holdings_only_of_the_orders_symbols():
    orders = [PendingOrder("s-A", "A", "SELL", 3.0), PendingOrder("b-C", "C", "BUY", 5.0, 1),
              PendingOrder("s-D", "D", "SELL", 2.0)]
    opens = {"A": 100.0, "C": 50.0}
    every = {"A": 3.0, "B": 9.0, "D": 2.0, "E": 1.0}
    full = fill_at_open(orders, opens, 10_000.0, every, Costs())
    only = fill_at_open(orders, opens, 10_000.0, {s: every[s] for s in ("A", "C", "D") if s in every}, Costs())
    assert full == only and full.fills and full.waiting
    # and the checker notices a missing holding: without A's, its SELL has nothing to sell
    assert fill_at_open(orders, opens, 10_000.0, {"D": 2.0}, Costs()) != full


# --------------------------------------------------------------------------- quiet bars of an exit

def _walk(strategy, closes, entry_index: int, entry: float, honor_quiet: bool, qty: float = 10.0,
          skipped: list | None = None):
    """Drive one position bar after bar as the backtest does (arming on take_profit, a view and a
    memo kept), returning every decision made: (bar, rule, qty) with None for a bar decided quiet."""
    from sennot.types import PositionView

    view = PositionView("X", qty, entry, entry_index, None, {})
    out = []
    for i in range(entry_index, len(closes)):
        if honor_quiet and view.quiet_until is not None and i < view.quiet_until:
            out.append((i, None, None))
            if skipped is not None:
                skipped.append(i)
            continue
        d = strategy.exit(view, closes, i, 1.0)
        out.append((i, None, None) if d is None else (i, d.rule, d.qty))
        if d is not None and d.arm:
            view.armed_index, view.quiet_until = i, None
            view.qty -= d.qty
        elif d is not None:
            break
    return out


def test_skipping_the_quiet_bars_decides_as_every_bar():
    import numpy as np

    from sennot import create

    st = create()
    rng = np.random.default_rng(11)
    skipped: list = []
    for trial in range(400):
        n = int(rng.integers(5, 120))
        steps = rng.normal(0.002, 0.02, n)
        closes = np.round(100 * np.exp(np.cumsum(steps)), 2)
        if trial % 5 == 0:  # exact boundaries: a close at the stop, the target, the trail
            closes[rng.integers(0, n)] = closes[0] * 0.96
            closes[rng.integers(0, n)] = closes[0] * 1.07
        if trial % 7 == 0:  # an undefined close
            closes[rng.integers(0, n)] = np.nan
        e = int(rng.integers(0, n))
        full = _walk(st, closes, e, float(closes[e]), honor_quiet=False)
        fast = _walk(st, closes, e, float(closes[e]), honor_quiet=True, skipped=skipped)
        assert fast == full, (trial, closes.tolist(), e)
    assert len(skipped) > 1000  # the shortcut is taken


def test_the_walk_sees_a_wrong_quiet_bar():
    """The checker above fails when the strategy claims quiet bars that are not."""
    import numpy as np

    from sennot import create

    st = create()
    closes = np.array([100.0, 101, 102, 95, 96, 97, 98, 99, 100, 101, 102, 103])
    real = st.exit

    def lying(pos, close, i, lot=1.0):
        d = real(pos, close, i, lot)
        if d is None:
            pos.quiet_until = len(close)
        return d

    st.exit = lying
    try:
        assert _walk(st, closes, 0, 100.0, True) != _walk(st, closes, 0, 100.0, False)
    finally:
        st.exit = real


def test_past_the_bounds_the_orderings_hold_without_asking():
    import numpy as np

    from sennot.numeric import above, below, gt, lt

    rng = np.random.default_rng(3)
    bs = np.concatenate([rng.uniform(1e-3, 1e6, 3000), 10.0 ** rng.uniform(-299, 299, 3000),
                         [1e-300, 2e-300, 1e300, 9.9e299, 5e-324, 0.0, -0.0, -5.0, np.inf, -np.inf, np.nan, 96.0]])
    checked = 0
    for b in bs.tolist():
        hi, lo = above(b), below(b)
        steps = [0, 1, 2, 3, 10, 1000]
        near_hi = [hi] + [float(np.nextafter(hi, np.inf if k % 2 else -np.inf)) for k in steps] if np.isfinite(hi) else []
        near_lo = [lo] + [float(np.nextafter(lo, np.inf if k % 2 else -np.inf)) for k in steps] if np.isfinite(lo) else []
        tol = [b * (1 + f) for f in (1e-9, 2e-9, 3e-9, 3.99e-9, 4e-9, 4.01e-9, 5e-9, -1e-9, -3.99e-9, -4e-9, -4.01e-9, -5e-9)]
        for a in near_hi + near_lo + tol + [np.inf, -np.inf, np.nan, -b, 2 * b, b / 2, 0.0]:
            if a > hi:
                assert gt(a, b), (a, b)
                checked += 1
            if a < lo:
                assert lt(a, b), (a, b)
                checked += 1
    assert checked > 20_000
    # no bound for a level that is not a positive normal number: every comparison is asked
    assert above(0.0) == above(-1.0) == above(float("nan")) == float("inf")
    assert below(0.0) == below(float("inf")) == float("-inf")
    # the check would catch a bound inside the tolerance band: past b * (1 + 0.5e-9), not greater
    b, a = 100.0, 100.0 * (1 + 0.9e-9)
    assert a > b * (1 + 0.5e-9) and not gt(a, b)
