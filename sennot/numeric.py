"""The spec's comparison rule and lot arithmetic: the only place qtx keeps a tolerance.

Two numbers are *equal* when ``|a - b| <= 1e-9 * max(|a|, |b|)``; every rule comparison goes
through these helpers so a tie is decided the same way everywhere (one tie decided the other
way changes every trade after it).  Against zero the rule degenerates to an exact comparison,
as the spec requires.  Infinities are equal only to themselves.

Quantities are another matter: a sum of lot multiples (0.1 + 0.2 - 0.3) leaves a residue where
the true answer is zero, so ``same_qty`` judges a quantity on the scale of one unit.  Lots and
ticks are counted with ``floor_to_lot`` / ``ceil_to_lot`` (the spec's ``+1e-9`` nudge).
"""

from __future__ import annotations

import functools
import math
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy loads with the first vectorized comparison, not with the scalar rules
    import numpy as np

REL_TOL = 1e-9
LOT_NUDGE = 1e-9  # floor_to_lot's ``+1e-9``: a quotient a hair under a whole number counts as it


_INF = math.inf


def eq(a: float, b: float) -> bool:
    if a == b:
        return True
    d = abs(a - b)
    # d < inf: an infinity equals only itself; NaN equals nothing.
    return d < _INF and d <= REL_TOL * max(abs(a), abs(b))


# The four orderings inline ``eq`` (they run per held position per bar in a backtest): past the
# exact comparison, only ``|a - b|`` against the tolerance is left to decide.  There both are
# finite (``d < inf``), and ``d <= REL_TOL * max(|a|, |b|)`` is ``d <= REL_TOL * |a| or d <=
# REL_TOL * |b|`` to the bit (rounding a product by a positive constant keeps the order), without
# the call to ``max``.
def gt(a: float, b: float) -> bool:
    if not a > b:
        return False
    d = a - b
    return not (d < _INF and (d <= REL_TOL * abs(a) or d <= REL_TOL * abs(b)))


def ge(a: float, b: float) -> bool:
    if a >= b:
        return True
    d = b - a
    return d < _INF and (d <= REL_TOL * abs(a) or d <= REL_TOL * abs(b))


def lt(a: float, b: float) -> bool:
    if not a < b:
        return False
    d = b - a
    return not (d < _INF and (d <= REL_TOL * abs(a) or d <= REL_TOL * abs(b)))


def le(a: float, b: float) -> bool:
    if a <= b:
        return True
    d = a - b
    return d < _INF and (d <= REL_TOL * abs(a) or d <= REL_TOL * abs(b))


# Bounds past which an ordering needs no tolerance arithmetic, for a caller that compares many
# numbers with one ``b`` (an exit level over the bars of a position).  For a positive normal
# ``b`` and ``a > b * (1 + 4e-9)``: ``a - b > ~4e-9 * a``, so ``|a - b|`` is past
# ``1e-9 * max(|a|, |b|)`` by far more than any rounding of those three operations; likewise
# below (where ``a < -b`` makes ``b - a > |a|``).  Otherwise a bound no number passes, so the
# caller asks the ordering itself.
_BAND = 4 * REL_TOL


def above(b: float) -> float:
    """A number ``t`` such that ``a > t`` implies ``gt(a, b)`` (``inf`` when there is none)."""
    return b * (1 + _BAND) if 1e-300 < b < 1e300 else _INF


def below(b: float) -> float:
    """A number ``t`` such that ``a < t`` implies ``lt(a, b)`` (``-inf`` when there is none)."""
    return b * (1 - _BAND) if 1e-300 < b < 1e300 else -_INF


# Vectorized forms: NaN (an undefined indicator) compares false, so a rule that needs it fails.
# Past ``a - b`` and the tolerance, ``a > b and not eq`` is ``a - b > tol`` (a - b > 0 exactly
# when a > b) and ``a > b or eq`` is ``b - a <= tol``: one comparison instead of three arrays of
# booleans, in two scratch arrays instead of six temporaries (each temporary of a large batch
# costs its page faults).  Same bits as the definitions, NaN and infinities included
# (tests/test_numeric_speed.py checks them on special values and near-ties).
def _diff_tol(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(a - b, REL_TOL * max(|a|, |b|))``."""
    import numpy as np

    shape = np.broadcast_shapes(np.shape(a), np.shape(b))
    if not shape:  # scalars: no arrays to spare
        return np.subtract(a, b), REL_TOL * np.maximum(np.abs(a), np.abs(b))
    dtype = np.result_type(a, b, 1.0)
    tol, diff = np.empty(shape, dtype), np.empty(shape, dtype)
    np.abs(a, out=tol)
    np.abs(b, out=diff)
    np.maximum(tol, diff, out=tol)
    tol *= REL_TOL
    np.subtract(a, b, out=diff)
    return diff, tol


def v_eq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import numpy as np

    with np.errstate(invalid="ignore"):
        diff, tol = _diff_tol(a, b)
        return np.abs(diff) <= tol


def v_gt(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import numpy as np

    with np.errstate(invalid="ignore"):
        diff, tol = _diff_tol(a, b)
        return diff > tol


def v_ge(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import numpy as np

    with np.errstate(invalid="ignore"):
        diff, tol = _diff_tol(b, a)
        return diff <= tol


def v_lt(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import numpy as np

    with np.errstate(invalid="ignore"):
        diff, tol = _diff_tol(b, a)
        return diff > tol


def v_le(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import numpy as np

    with np.errstate(invalid="ignore"):
        diff, tol = _diff_tol(a, b)
        return diff <= tol


@functools.lru_cache(maxsize=256)
def lot_decimals(lot: float) -> int:
    exp = Decimal(repr(float(lot))).normalize().as_tuple().exponent
    return max(0, -int(exp))


def same_qty(a: float, b: float) -> bool:
    """Quantities equal up to float residue: ``|a - b| <= 1e-9 * max(1, |a|, |b|)`` (so a
    residue such as 5.5e-17 counts as zero, unlike ``eq``)."""
    return abs(a - b) <= REL_TOL * max(1.0, abs(a), abs(b))


def floor_to_lot(x: float, lot: float = 1.0) -> float:
    """``floor(x / lot + 1e-9) * lot``, kept on the lot's decimal grid."""
    if not x > 0:
        return 0.0
    n = math.floor(x / lot + LOT_NUDGE)
    if n <= 0:
        return 0.0
    if lot == 1.0:  # the common lot: round(n * 1.0, 0) is float(n), without the grid's lookup
        return float(n)
    return round(n * lot, lot_decimals(lot))


def ceil_to_lot(x: float, lot: float = 1.0) -> float:
    """``ceil(x / lot - 1e-9) * lot``, kept on the lot's decimal grid: the mirror of
    ``floor_to_lot`` (a SELL limit rounded up to its tick)."""
    return round(math.ceil(x / lot - LOT_NUDGE) * lot, lot_decimals(lot))


def on_lot_grid(x: float, lot: float = 1.0) -> float:
    """Snap a quantity already meant to be on the lot grid (removes float residue)."""
    if lot == 1.0:  # as floor_to_lot: the same float, without the grid's lookup
        return float(round(x))
    return round(round(x / lot) * lot, lot_decimals(lot))
