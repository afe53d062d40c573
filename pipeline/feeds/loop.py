"""The one feed loop of ``qtx collect`` for a market's own data (Bybit candles, Kiwoom charts).

A venue contributes only its universe and its bars (``brokers.base.MarketData``); this loop
does the rest the same way for every venue: for each symbol, what is missing since the last
stored bar (``history_days`` for a symbol seen the first time: enough for the 240-bar trend
filter), never a bar after ``end``, each bar validated, new ones inserted, and a failing symbol
recorded without stopping the others.  It fails as a whole only when nothing at all could be
fetched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from brokers.base import AuthError, Bar, BrokerError, MarketData
from db import bars as bars_db
from db import events
from db.core import DB

log = logging.getLogger(__name__)

# progress(done, total, label): called after each symbol (or file).
Progress = Callable[[int, int, str], None]

HISTORY_DAYS = 400


def valid(b: Bar) -> bool:
    vals = (b.open, b.high, b.low, b.close)
    return (min(vals) > 0 and b.high >= max(b.open, b.close, b.low) and b.low <= min(b.open, b.close)
            and b.volume >= 0)


def collect_feed(db: DB, venue: MarketData, symbols: list[str], *, source: str, end: str,
                 asof: str | None = None, progress: Progress | None = None,
                 history_days: int = HISTORY_DAYS, sector_overrides: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fetch the missing closed daily bars of ``symbols`` up to ``end``; returns a summary."""
    summary: dict[str, Any] = {
        "source": source, "asof": asof, "end": end, "symbols": symbols, "bars_new": 0, "up_to_date": [],
        "skipped_invalid": 0, "instruments": 0, "halted": [], "warnings": {}, "errors": {}, **(extra or {}),
    }
    if not symbols:
        return summary
    unknown: list[str] = []
    try:
        insts = venue.instruments(symbols)
        overrides = sector_overrides or {}
        summary["instruments"] = bars_db.upsert_instruments(db, [
            {"symbol": i.symbol, "name": i.name, "lot": i.lot, "tick": i.tick, "min_qty": i.min_qty,
             "min_notional": i.min_notional, "status": i.status,
             **({"sector": overrides.get(i.symbol, i.sector)} if (i.sector or i.symbol in overrides) else {})}
            for i in insts])
        summary["halted"] = [i.symbol for i in insts if i.status == "halted"]
        summary["warnings"] = {i.symbol: i.status for i in insts if i.status.startswith("warning")}
        unknown = sorted(set(symbols) - {i.symbol for i in insts})
        for s in unknown:
            summary["errors"][s] = f"{source} lists no instrument {s}"
    except AuthError:
        raise  # keys refused or this machine not allowed: no symbol can be fetched
    except BrokerError as e:
        summary["errors"]["instruments"] = str(e)
    for n, sym in enumerate(symbols, 1):
        if sym not in unknown:
            _one(db, venue, sym, end, history_days, source, summary)
        if progress:
            progress(n, len(symbols), sym)
    _record(db, source, summary, symbols)
    return summary


def _one(db: DB, venue: MarketData, sym: str, end: str, history_days: int, source: str, summary: dict) -> None:
    last = bars_db.date_range(db, sym)[1]
    start = ((date.fromisoformat(last) + timedelta(days=1)).isoformat() if last
             else (date.fromisoformat(end) - timedelta(days=history_days - 1)).isoformat())
    if start > end:
        summary["up_to_date"].append(sym)
        return
    try:
        got = [b for b in venue.bars(sym, start=start, end=end) if start <= b.date <= end]
    except AuthError:
        raise
    except BrokerError as e:
        summary["errors"][sym] = str(e)
        return
    good = [b for b in got if valid(b)]
    summary["skipped_invalid"] += len(got) - len(good)
    summary["bars_new"] += bars_db.insert_bars(
        db, sym, [(b.date, b.open, b.high, b.low, b.close, b.volume) for b in good], source=source)


def _record(db: DB, source: str, summary: dict, symbols: list[str]) -> None:
    if summary["halted"] or summary["warnings"]:
        events.record(db, "warning", "instrument_status",
                      f"{source}: halted {', '.join(summary['halted']) or 'none'}; "
                      f"warnings {', '.join(summary['warnings']) or 'none'}",
                      {"halted": summary["halted"], "warnings": summary["warnings"]})
    if summary["errors"]:
        events.record(db, "warning", "collect", f"{source} collect: {len(summary['errors'])} symbol(s) failed",
                      {"errors": summary["errors"]})
        if not set(symbols) - set(summary["errors"]):
            raise BrokerError(f"{source} collect fetched nothing: "
                              + "; ".join(f"{k}: {v}" for k, v in list(summary["errors"].items())[:3]))
