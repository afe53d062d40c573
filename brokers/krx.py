"""KRX order rules as pure functions: the tick table, the ±30% daily price band, the sell tax by
the year of settlement.  Orders sent to Kiwoom respect them; the paper broker and tests use the
same functions.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

from sennot.numeric import ceil_to_lot, floor_to_lot

# Tick by price band (2023-): price below the bound -> tick.  ETFs trade in 5 won (1 below 2,000).
_TICKS = ((2_000, 1), (5_000, 5), (20_000, 10), (50_000, 50), (200_000, 100), (500_000, 500))
PRICE_LIMIT = 0.30


def tick(price: float, etf: bool = False) -> int:
    if etf:
        return 1 if price < 2_000 else 5
    for bound, t in _TICKS:
        if price < bound:
            return t
    return 1_000


def round_to_tick(price: float, side: str, etf: bool = False) -> int:
    """The nearest price on the tick grid on the passive side: down for a BUY, up for a SELL,
    so a limit is never worse than asked."""
    p = float(price)
    t = tick(p, etf)
    out = int(floor_to_lot(p, t) if side == "BUY" else ceil_to_lot(p, t))
    # Crossing a band boundary changes the tick: snap again on the new band's grid.
    t2 = tick(out, etf)
    if t2 != t:
        out = int((math.floor(out / t2) if side == "BUY" else math.ceil(out / t2)) * t2)
    return out


def price_band(prev_close: float, etf: bool = False) -> tuple[int, int]:
    """(lower, upper) limit prices for the day: ±30% of the previous close, each brought inside
    the band onto its tick grid."""
    up = int(floor_to_lot(prev_close * (1 + PRICE_LIMIT)))
    lo = int(ceil_to_lot(prev_close * (1 - PRICE_LIMIT)))
    return lo + (-lo % tick(lo, etf)), up - up % tick(up, etf)


def settlement_date(trade: str) -> str:
    """T+2 in weekdays (KRX holidays between make it later; the year rarely differs)."""
    d = date.fromisoformat(trade)
    n = 0
    while n < 2:
        d += timedelta(days=1)
        n += d.weekday() < 5
    return d.isoformat()


def sell_tax_rate(trade: str, by_year: dict[int, float] | None, default: float) -> float:
    """The securities transaction tax for a sale made on ``trade``: the rate of its settlement
    year from ``by_year`` (the latest year at or before it), else ``default``."""
    if not by_year:
        return default
    year = int(settlement_date(trade)[:4])
    known = [y for y in by_year if y <= year]
    return by_year[max(known)] if known else default
