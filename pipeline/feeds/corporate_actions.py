"""Daily moves a market's price limit makes impossible: a corporate action in the data (an
unadjusted split or merger), not a trade signal.

``impossible_moves`` is the pure rule.  ``review`` (called by the CSV import) flags such a
symbol in ``instruments.status``, records and alerts once, and clears the flag when a later
import of the symbol shows no such move.  ``held_out`` is what the strategy reads: no BUY for a
flagged symbol (exits stay allowed, so a held position can still be left).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from brokers.krx import PRICE_LIMIT as KRX_PRICE_LIMIT
from db import DB, events
from db import bars as bars_db
from pipeline import alerts
from pipeline.engine import UniverseFilter

FLAGGED = "corporate_action"
TRADING = "trading"
# The daily price limit per market (none on Bybit).  A limit move itself is legal: KRX rounds
# the band to the tick, and adjusted closes land a hair past 30% (0.30006 in the sample data).
PRICE_LIMITS = {"krx": KRX_PRICE_LIMIT}
TOLERANCE = 0.01


def impossible_moves(market: str, dates: Iterable[str], closes: Iterable[float]) -> list[dict]:
    """The days whose close moved more than the market's limit allows from the previous close:
    ``[{"date", "prev_close", "close", "move"}]`` (empty for a market without a limit)."""
    limit = PRICE_LIMITS.get(market)
    # arrays as they are (a list of numpy scalars costs a replay 4 ms per file per date)
    c = np.asarray(closes if isinstance(closes, np.ndarray) else list(closes), dtype=float)
    if limit is None or len(c) < 2:
        return []
    d = dates if isinstance(dates, np.ndarray) else list(dates)
    with np.errstate(divide="ignore", invalid="ignore"):
        move = c[1:] / c[:-1] - 1
    bad = np.flatnonzero(np.abs(move) > limit + TOLERANCE)
    return [{"date": str(d[i + 1]), "prev_close": float(c[i]), "close": float(c[i + 1]),
             "move": round(float(move[i]), 4)} for i in bad]


def held_out(db: DB) -> set[str]:
    """Symbols the strategy must not buy: flagged for a corporate action in their bars."""
    return {s for s, st in statuses(db).items() if st == FLAGGED}


def statuses(db: DB) -> dict[str, str]:
    """``symbol -> instruments.status`` (read once per import, not once per file)."""
    return {s: r.get("status") for s, r in bars_db.read_instruments(db).items()}


def review(db: DB, market: str, symbol: str, dates, closes, *, current: str | None) -> str | None:
    """Flag ``symbol`` (event, alert once) when its bars of this import hold an impossible move,
    clear the flag when they hold none.  Returns ``"flagged"``, ``"cleared"`` or None (no
    change).  ``dates``/``closes``: the bars the strategy will read for the imported range;
    ``current``: the symbol's status now."""
    jumps = impossible_moves(market, dates, closes)
    if jumps:
        if current == FLAGGED:
            return None
        first = jumps[0]
        bars_db.upsert_instruments(db, [{"symbol": symbol, "status": FLAGGED}])
        alerts.risk_alert(
            db, "corporate_action",
            f"{symbol}: close moved {first['move']:+.0%} on {first['date']} "
            f"({first['prev_close']:g} -> {first['close']:g}), beyond the {market.upper()} price "
            f"limit: unadjusted data (split, merger)? No BUYs for {symbol} until adjusted bars "
            f"replace the stored ones",
            {"symbol": symbol, "moves": jumps[:10]}, dedup_key=f"corporate_action:{symbol}:{first['date']}")
        return "flagged"
    if current == FLAGGED:
        bars_db.upsert_instruments(db, [{"symbol": symbol, "status": TRADING}])
        events.record(db, "info", "corporate_action_cleared",
                      f"{symbol}: the imported bars show no move beyond the price limit; BUYs allowed again",
                      {"symbol": symbol})
        return "cleared"
    return None


def universe_filter(db: DB, settings) -> UniverseFilter:
    """The configured universe less the flagged symbols: what signal and backtest buy from (the
    filter gates entries only, so exits of a flagged position still happen)."""
    u = UniverseFilter.from_settings(settings.universe)
    out = held_out(db)
    return replace(u, exclude=u.exclude + tuple(sorted(out - set(u.exclude)))) if out else u
