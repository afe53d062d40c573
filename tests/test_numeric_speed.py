"""The comparison helpers were rewritten for speed (``eq`` inlined into the orderings, the
vectorized forms as one subtraction against the tolerance): they must decide every pair exactly
as their definitions do, ties within the tolerance, zeros, infinities and NaN included."""

from __future__ import annotations

import itertools
import math

import numpy as np

from sennot import numeric as nm

REL = 1e-9
SPECIAL = [0.0, -0.0, 1.0, -1.0, 5e-324, -5e-324, 1e-300, 1e300, math.inf, -math.inf, math.nan,
           100.0, 100.0 * (1 + 1e-9), 100.0 * (1 + 0.999e-9), 100.0 * (1 + 1.001e-9), 100.0 * (1 - 1e-9),
           100.0 * (1 - 1.001e-9), -100.0, -100.0 * (1 + 1e-9), np.nextafter(100.0, 200.0), 99.99999999]


def d_eq(a, b):  # the spec's equality; an infinity equals only itself, NaN nothing
    return a == b or (abs(a - b) < math.inf and abs(a - b) <= REL * max(abs(a), abs(b)))


SCALAR = {"eq": d_eq, "gt": lambda a, b: a > b and not d_eq(a, b), "ge": lambda a, b: a > b or d_eq(a, b),
          "lt": lambda a, b: a < b and not d_eq(a, b), "le": lambda a, b: a < b or d_eq(a, b)}


def v_def(name, a, b):  # the vectorized forms as first written: NaN false, three boolean arrays
    with np.errstate(invalid="ignore"):
        veq = np.abs(a - b) <= REL * np.maximum(np.abs(a), np.abs(b))
        return {"eq": veq, "gt": (a > b) & ~veq, "ge": (a > b) | veq, "lt": (a < b) & ~veq,
                "le": (a < b) | veq}[name]


def _pairs():
    rng = np.random.default_rng(5)
    base = rng.uniform(-1e6, 1e6, 4000)
    # near-ties: a relative step around the tolerance, both signs
    other = base * (1 + rng.choice([-2e-9, -1e-9, -5e-10, 0.0, 5e-10, 1e-9, 2e-9], base.size))
    a = np.concatenate([[x for x, _ in itertools.product(SPECIAL, SPECIAL)], base, other, base])
    b = np.concatenate([[y for _, y in itertools.product(SPECIAL, SPECIAL)], other, base, base.copy()])
    return a, b


def test_scalar_orderings_decide_as_the_definition():
    a, b = _pairs()
    for name, want in SCALAR.items():
        f = getattr(nm, name)
        bad = [(x, y) for x, y in zip(a.tolist(), b.tolist(), strict=True) if f(x, y) != want(x, y)]
        assert not bad, (name, bad[:5])


def test_vectorized_orderings_give_the_same_bits_as_before():
    a, b = _pairs()
    for name in ("eq", "gt", "ge", "lt", "le"):
        got = getattr(nm, f"v_{name}")(a, b)
        assert np.array_equal(got, v_def(name, a, b)), name


def test_the_checker_catches_a_wrong_ordering():
    a, b = _pairs()
    with np.errstate(invalid="ignore"):
        wrong = (a - b) >= REL * np.maximum(np.abs(a), np.abs(b))  # off by the boundary
    assert not np.array_equal(wrong, v_def("gt", a, b))


def test_window_max_is_the_sliding_window_max_bit_for_bit():
    from numpy.lib.stride_tricks import sliding_window_view

    from sennot.indicators import window_max

    rng = np.random.default_rng(11)
    x = rng.choice([0.0, -0.0, 1.0, -1.0, 2.5, np.nan, np.inf, -np.inf, 7.0], size=(7, 300))
    x[3] = rng.normal(size=300)
    for n in (1, 2, 3, 5, 8, 10, 20, 31, 299, 300):
        got = window_max(x, n)
        want = sliding_window_view(x, n, axis=-1).max(axis=-1)
        assert got.shape == want.shape and np.array_equal(got.view(np.int64), want.view(np.int64)), n
