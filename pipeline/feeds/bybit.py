"""Bybit's part of ``qtx collect``: its universe and its public candles (no keys needed).

With ``universe.symbols`` empty the universe is the top ``bybit.top_n`` pairs by 24h turnover in
``bybit.quote_coin``, plus every symbol already stored (so a held coin that left the top list
keeps its prices).  Days are UTC; the candle still open is never stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from brokers.bybit import BybitBroker
from db import bars as bars_db
from db.core import DB
from pipeline.feeds.loop import HISTORY_DAYS, Progress, collect_feed


def universe(db: DB, settings: Any, broker: BybitBroker) -> list[str]:
    exclude = set(settings.universe.exclude)
    if settings.universe.symbols:
        return [s for s in dict.fromkeys(settings.universe.symbols) if s not in exclude]
    top = broker.top_symbols_by_turnover(settings.bybit.top_n, settings.bybit.quote_coin, sorted(exclude))
    stored = [s for s in bars_db.symbols(db) if s not in exclude]
    return list(dict.fromkeys([*top, *stored]))


def collect_bybit(db: DB, settings: Any, broker: BybitBroker | None = None, asof: str | None = None,
                  progress: Progress | None = None, history_days: int = HISTORY_DAYS) -> dict[str, Any]:
    """Fetch the missing closed daily bars of the universe; returns a summary dict."""
    if broker is None:
        from pipeline.brokers_factory import data_feed

        broker = data_feed(settings, db)
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    end = min(asof, yesterday) if asof else yesterday
    return collect_feed(db, broker, universe(db, settings, broker), source="bybit", end=end, asof=asof,
                        progress=progress, history_days=history_days, extra={"category": broker.category})
