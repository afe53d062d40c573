"""The collect stage for ``market: bybit``: closed daily candles from Bybit's public market data.

For each symbol of the universe it fetches what is missing since the last stored bar (or
``HISTORY_DAYS`` for a symbol seen for the first time: enough for the 240-bar trend filter),
never the still-open candle and never anything dated after ``asof``.  Instruments (lot step,
tick, minimums) are stored too.  With ``universe.symbols`` empty the universe is the top
``bybit.top_n`` pairs by 24h turnover in ``bybit.quote_coin``, plus every symbol already stored
(so a held coin that left the top list keeps its prices).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from brokers.base import Bar, BrokerError
from brokers.bybit import BybitBroker
from db import bars as bars_db
from db import events
from db.core import DB
from pipeline.collect import FEEDS, Progress

log = logging.getLogger(__name__)

HISTORY_DAYS = 400


def _valid(b: Bar) -> bool:
    vals = (b.open, b.high, b.low, b.close)
    return min(vals) > 0 and b.high >= max(b.open, b.close, b.low) and b.low <= min(b.open, b.close) and b.volume >= 0


def universe(db: DB, settings: Any, broker: BybitBroker) -> list[str]:
    exclude = set(settings.universe.exclude)
    if settings.universe.symbols:
        return [s for s in dict.fromkeys(settings.universe.symbols) if s not in exclude]
    top = broker.top_symbols_by_turnover(settings.bybit.top_n, settings.bybit.quote_coin, sorted(exclude))
    stored = [s for s in bars_db.symbols(db) if s not in exclude]
    return list(dict.fromkeys([*top, *stored]))


def collect_bybit(db: DB, settings: Any, broker: BybitBroker | None = None, asof: str | None = None,
                  progress: Progress | None = None, history_days: int = HISTORY_DAYS) -> dict[str, Any]:
    """Fetch the missing closed daily bars of the universe; returns a summary dict.

    Raises ``BrokerError`` only when nothing at all could be fetched (the universe or every
    symbol failed); single failing symbols are reported in ``errors`` and as events."""
    if broker is None:
        # Candles are public: no keys needed, whatever the mode.
        broker = BybitBroker.from_settings(settings.bybit, "paper")
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    end = min(asof, yesterday) if asof else yesterday
    symbols = universe(db, settings, broker)
    summary: dict[str, Any] = {
        "source": "bybit", "category": broker.category, "asof": asof, "end": end,
        "symbols": symbols, "bars_new": 0, "up_to_date": [], "skipped_invalid": 0,
        "instruments": 0, "errors": {},
    }
    if not symbols:
        return summary
    try:
        insts = broker.instruments(symbols)
        summary["instruments"] = bars_db.upsert_instruments(db, [
            {"symbol": i.symbol, "name": i.name, "lot": i.lot, "tick": i.tick, "min_qty": i.min_qty,
             "min_notional": i.min_notional, "status": i.status} for i in insts])
        unknown = sorted(set(symbols) - {i.symbol for i in insts})
        for s in unknown:
            summary["errors"][s] = f"Bybit has no {broker.category} instrument {s}"
    except BrokerError as e:
        summary["errors"]["instruments"] = str(e)
        unknown = []
    for n, sym in enumerate(symbols, 1):
        if sym in unknown:
            continue
        last = bars_db.date_range(db, sym)[1]
        start = ((date.fromisoformat(last) + timedelta(days=1)).isoformat() if last
                 else (date.fromisoformat(end) - timedelta(days=history_days - 1)).isoformat())
        if start > end:
            summary["up_to_date"].append(sym)
        else:
            try:
                got = [b for b in broker.bars(sym, start=start, end=end) if start <= b.date <= end]
            except BrokerError as e:
                summary["errors"][sym] = str(e)
                got = []
            good = [b for b in got if _valid(b)]
            summary["skipped_invalid"] += len(got) - len(good)
            summary["bars_new"] += bars_db.insert_bars(
                db, sym, [(b.date, b.open, b.high, b.low, b.close, b.volume) for b in good], source="bybit")
        if progress:
            progress(n, len(symbols), sym)
    if summary["errors"]:
        events.record(db, "warning", "collect", f"bybit collect: {len(summary['errors'])} symbol(s) failed",
                      {"errors": summary["errors"]})
        fetched = set(symbols) - set(summary["errors"])
        if not fetched:
            raise BrokerError(f"bybit collect fetched nothing: {summary['errors']}")
    return summary


FEEDS["bybit"] = collect_bybit
