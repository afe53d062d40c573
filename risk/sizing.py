"""Order sizing: equal slices of equity, whole lots, the drawdown multiplier."""

from __future__ import annotations

from sennot.numeric import floor_to_lot


def order_qty(equity: float, max_positions: int, multiplier: float, close: float, lot: float = 1.0) -> float:
    """``floor_to_lot(equity / max_positions * multiplier / close)``."""
    if not close > 0:
        return 0.0
    return floor_to_lot(equity / max_positions * multiplier / close, lot)
