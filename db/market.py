"""Bars and instrument rules as the engine loads them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from db import bar_blocks as blocks
from db.bars import bar_stats
from db.core import DB


def bar_columns(db: DB, end: str | None = None) -> dict[str, np.ndarray]:
    """Every symbol's bars up to ``end``: ``symbol -> (6, n)`` columns (day as YYYYMMDD, open,
    high, low, close, volume; ``db.bar_blocks``), symbols sorted, each read in one piece."""
    return blocks.read_columns(db.conn, end)


def instrument_rows(db: DB) -> list[dict]:
    return db.query("SELECT symbol, sector, lot, tick, min_qty, min_notional FROM instruments")


def market_dates(db: DB, end: str | None = None) -> list[str]:
    """The union calendar: every date any symbol has a bar."""
    if end:
        return [r[0] for r in db.conn.execute(
            "SELECT DISTINCT date FROM bars WHERE date <= ? ORDER BY date", (end,))]
    return [r[0] for r in db.conn.execute("SELECT DISTINCT date FROM bars ORDER BY date")]


def newest_date(db: DB, end: str | None = None, keep: Callable[[str], bool] | None = None) -> str | None:
    """The newest date with a bar, up to ``end``, that ``keep`` accepts (e.g. a trading day)."""
    rows = db.conn.execute("SELECT DISTINCT date FROM bars WHERE date <= ? ORDER BY date DESC",
                           (end or "9999-12-31",))
    try:
        return next((d for (d,) in rows if keep is None or keep(d)), None)
    finally:
        rows.close()


def recent_bar_columns(db: DB, end: str, per_symbol: int, keep_since: str | None = None) -> dict[str, np.ndarray]:
    """Each symbol's last ``per_symbol`` bars up to ``end`` (and every bar since ``keep_since``)
    as ``bar_columns`` gives them: enough history for the indicators without loading years of
    bars (only the blocks that hold them are read)."""
    return blocks.read_recent_columns(db.conn, end, per_symbol, keep_since)


def bar_sources(db: DB) -> list[str]:
    """Where the stored bars came from (e.g. 'synthetic' for the sample market), from the
    block summaries: no scan of the bars."""
    return list(bar_stats(db)["sources"])
