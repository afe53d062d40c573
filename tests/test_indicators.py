"""Indicators and the spec's comparison rule: windows, undefined history, ties, lots."""

from __future__ import annotations

import math

import numpy as np

from sennot import indicators as ind
from sennot.numeric import ceil_to_lot, eq, floor_to_lot, ge, gt, le, lt, same_qty, v_ge, v_gt


def test_sma_includes_today_and_is_undefined_without_history():
    x = np.arange(1.0, 8.0)  # 1..7
    s = ind.sma(x, 3)
    assert np.isnan(s[:2]).all()
    assert s[2] == 2.0 and s[6] == 6.0  # mean of x[t-2..t]


def test_mean_prev_excludes_today():
    x = np.array([1.0, 2.0, 3.0, 100.0])
    m = ind.mean_prev(x, 3)
    assert np.isnan(m[:3]).all()
    assert m[3] == 2.0  # mean of x[0..2]; today's 100 is not in it


def test_max_prev_and_shift():
    h = np.array([5.0, 9.0, 1.0, 2.0, 3.0])
    mp = ind.max_prev(h, 2)
    assert np.isnan(mp[:2]).all() and list(mp[2:]) == [9.0, 9.0, 2.0]
    sh = ind.shift(h)
    assert math.isnan(sh[0]) and list(sh[1:]) == [5.0, 9.0, 1.0, 2.0]


def test_equality_is_relative_1e9():
    assert eq(100.0, 100.0 * (1 + 5e-10)) and not eq(100.0, 100.0 * (1 + 2e-9))
    assert ge(100.0, 100.0 * (1 + 5e-10)) and le(100.0 * (1 + 5e-10), 100.0)
    assert not gt(100.0 * (1 + 5e-10), 100.0) and not lt(100.0, 100.0 * (1 + 5e-10))
    assert gt(100.0 * (1 + 2e-9), 100.0)
    # against zero the comparison is exact
    assert gt(1e-300, 0.0) and not eq(1e-300, 0.0)
    # 96/100 - 1 is not bit-equal to -0.04, yet equal under the rule
    assert 96 / 100 - 1 != -0.04 and eq(96 / 100 - 1, -0.04)


def test_vectorized_comparisons_match_and_nan_is_false():
    a = np.array([1.0, 1.0 + 1e-12, 2.0, np.nan])
    b = np.array([1.0, 1.0, 1.0, 1.0])
    assert list(v_gt(a, b)) == [False, False, True, False]
    assert list(v_ge(a, b)) == [True, True, True, False]
    for x, y in zip(a[:3], b[:3]):
        assert gt(x, y) == v_gt(np.array([x]), np.array([y]))[0]


def test_floor_to_lot():
    assert floor_to_lot(10.999999) == 10.0
    assert floor_to_lot(2.9999999999999) == 3.0  # within the +1e-9 nudge
    assert floor_to_lot(0.5) == 0.0 and floor_to_lot(-3.0) == 0.0
    assert floor_to_lot(0.123456, 0.001) == 0.123
    assert floor_to_lot(0.3, 0.1) == 0.3  # stays on the decimal grid (not 0.30000000000000004)
    assert floor_to_lot(2.5, 0.5) == 2.5


def test_ceil_to_lot_mirrors_floor_to_lot():
    assert ceil_to_lot(2.1) == 3.0 and ceil_to_lot(2.0) == 2.0
    assert ceil_to_lot(2.0000000001) == 2.0  # within the -1e-9 nudge
    assert ceil_to_lot(1232.0, 5) == 1235.0 and ceil_to_lot(1235.0, 5) == 1235.0
    assert ceil_to_lot(0.30000000000000004, 0.1) == 0.3  # on the decimal grid


def test_same_qty_treats_a_residue_as_zero_unlike_eq():
    residue = 0.1 + 0.2 - 0.3  # 5.55e-17, where the true answer is 0
    assert residue != 0 and same_qty(residue, 0.0) and not eq(residue, 0.0)
    assert same_qty(1e6, 1e6 + 1e-4) and not same_qty(1e6, 1e6 + 1e-2)  # relative above one unit
    assert same_qty(0.001, 0.001 + 5e-10) and not same_qty(1.0, 1.0 + 2e-9)
