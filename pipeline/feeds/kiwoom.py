"""Kiwoom's part of ``qtx collect`` for ``market: krx``: its universe and its daily charts
(ka10081, adjusted prices), instruments and sectors from ka10099 (``upName``), with
``universe.sectors`` overrides winning.  Days are KST; today's bar is never stored before the
close (the adapter keeps it out), and nothing after ``--asof``.
"""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

from brokers.base import MissingKeys
from brokers.kiwoom import KiwoomBroker
from db import bars as bars_db
from db.core import DB
from pipeline.config import ConfigError
from pipeline.feeds.loop import HISTORY_DAYS, Progress, collect_feed

KST = timezone(timedelta(hours=9))


def universe(db: DB, settings: Any) -> list[str]:
    """``universe.symbols``, else every symbol already stored."""
    exclude = set(settings.universe.exclude)
    symbols = list(settings.universe.symbols) or bars_db.symbols(db)
    out = [s for s in dict.fromkeys(symbols) if s not in exclude]
    if not out:
        raise ConfigError(settings.config_path, "universe.symbols",
                          "the KRX feed needs symbols to fetch: list KRX codes, e.g. [005930, 000660] "
                          "(or import CSV bars first: every stored symbol is then fetched)")
    return out


def collect_kiwoom(db: DB, settings: Any, broker: KiwoomBroker | None = None, asof: str | None = None,
                   progress: Progress | None = None, history_days: int = HISTORY_DAYS) -> dict[str, Any]:
    if broker is None:
        from pipeline.brokers_factory import data_feed

        try:
            broker = data_feed(settings, db)
        except MissingKeys as e:
            raise MissingKeys(f"{e}; without keys, import bars with "
                              "`qtx collect --source csv --path DIR`", code=e.code) from None
    today = broker.market_today()
    end = min(asof, today) if asof else today
    before = broker.rate_limited
    out = collect_feed(db, broker, universe(db, settings), source="kiwoom", end=end, asof=asof,
                       progress=progress, history_days=history_days,
                       sector_overrides=settings.universe.sectors)
    out["rate_limited"] = broker.rate_limited - before  # 1700 answers waited out, never dropped
    out["throttle_wait_s"] = round(broker.throttle.waited, 3)
    return out
