"""The ``bars`` and ``instruments`` tables: daily bars per symbol and what we know of each symbol.

Bars are written with ``INSERT OR IGNORE`` on ``(symbol, date)``: importing the same data twice
changes nothing, and a stored bar is never silently overwritten (callers compare first and
report conflicts).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from db.core import DB, now_iso

BAR_COLUMNS = ("date", "open", "high", "low", "close", "volume")


def insert_bars(db: DB, symbol: str, rows: Iterable[Sequence[Any]], source: str = "csv") -> int:
    """Insert ``(date, open, high, low, close, volume)`` rows; returns how many were new.

    Runs inside the caller's transaction when there is one, else in its own.
    """
    data = [(symbol, r[0], float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5]), source)
            for r in rows]
    if not data:
        return 0
    with db.transaction() as conn:
        before = conn.total_changes
        conn.executemany(
            "INSERT OR IGNORE INTO bars(symbol, date, open, high, low, close, volume, source) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", data)
        return conn.total_changes - before


def stored_bars(db: DB, symbol: str, start: str | None = None,
                end: str | None = None) -> dict[str, tuple[float, ...]]:
    """``date -> (open, high, low, close, volume)`` of the stored bars (for conflict checks)."""
    sql, params = _range_sql("SELECT date, open, high, low, close, volume FROM bars WHERE symbol = ?",
                             [symbol], start, end)
    return {r[0]: tuple(r[1:]) for r in db.conn.execute(sql, params)}


def read_bars(db: DB, symbol: str, start: str | None = None, end: str | None = None) -> pd.DataFrame:
    """One symbol's bars, ascending, columns ``date, open, high, low, close, volume``."""
    sql, params = _range_sql(
        "SELECT date, open, high, low, close, volume FROM bars WHERE symbol = ?", [symbol], start, end)
    rows = db.conn.execute(sql + " ORDER BY date", params).fetchall()
    return pd.DataFrame(rows, columns=list(BAR_COLUMNS)).astype(
        {"open": float, "high": float, "low": float, "close": float, "volume": float})


def read_bar_arrays(db: DB, symbol: str, start: str | None = None,
                    end: str | None = None) -> dict[str, np.ndarray]:
    """One symbol's bars as numpy arrays keyed by column (``date`` as str)."""
    df = read_bars(db, symbol, start, end)
    out = {c: df[c].to_numpy(dtype=float) for c in BAR_COLUMNS[1:]}
    out["date"] = df["date"].to_numpy(dtype=str)
    return out


def read_all_bars(db: DB, start: str | None = None, end: str | None = None,
                  symbols: Sequence[str] | None = None) -> pd.DataFrame:
    """Every stored bar (optionally of ``symbols`` only), sorted by symbol then date.

    Columns ``symbol, date, open, high, low, close, volume``.
    """
    sql = "SELECT symbol, date, open, high, low, close, volume FROM bars WHERE 1=1"
    params: list[Any] = []
    if symbols is not None:
        symbols = list(symbols)
        if not symbols:
            return pd.DataFrame(columns=["symbol", *BAR_COLUMNS])
        sql += f" AND symbol IN ({','.join('?' * len(symbols))})"
        params.extend(symbols)
    sql, params = _range_sql(sql, params, start, end)
    rows = db.conn.execute(sql + " ORDER BY symbol, date", params).fetchall()
    return pd.DataFrame(rows, columns=["symbol", *BAR_COLUMNS]).astype(
        {"open": float, "high": float, "low": float, "close": float, "volume": float})


def bars_by_symbol(db: DB, start: str | None = None, end: str | None = None,
                   symbols: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """``symbol -> DataFrame`` of its bars (index reset, ascending)."""
    df = read_all_bars(db, start, end, symbols)
    return {s: g.drop(columns="symbol").reset_index(drop=True) for s, g in df.groupby("symbol", sort=True)}


def symbols(db: DB) -> list[str]:
    """Every symbol with at least one stored bar, sorted."""
    return [r[0] for r in db.conn.execute("SELECT DISTINCT symbol FROM bars ORDER BY symbol")]


def date_range(db: DB, symbol: str | None = None) -> tuple[str | None, str | None]:
    """First and last stored bar date (of one symbol, or of all)."""
    if symbol is None:
        row = db.conn.execute("SELECT MIN(date), MAX(date) FROM bars").fetchone()
    else:
        row = db.conn.execute("SELECT MIN(date), MAX(date) FROM bars WHERE symbol = ?", (symbol,)).fetchone()
    return row[0], row[1]


def decision_dates(db: DB, start: str | None = None, end: str | None = None) -> list[str]:
    """The union of all symbols' bar dates (the decision dates), ascending."""
    sql, params = _range_sql("SELECT DISTINCT date FROM bars WHERE 1=1", [], start, end)
    return [r[0] for r in db.conn.execute(sql + " ORDER BY date", params)]


def bar_stats(db: DB) -> dict[str, Any]:
    """Counts for status: symbols, bars, first/last date, bars per source."""
    row = db.conn.execute(
        "SELECT COUNT(DISTINCT symbol), COUNT(*), MIN(date), MAX(date) FROM bars").fetchone()
    sources = {r[0]: r[1] for r in db.conn.execute(
        "SELECT source, COUNT(*) FROM bars GROUP BY source ORDER BY source")}
    return {"symbols": row[0], "bars": row[1], "first_date": row[2], "last_date": row[3],
            "sources": sources}


def upsert_instruments(db: DB, rows: Iterable[dict[str, Any]]) -> int:
    """Insert or update instruments; only the keys given in each row are changed.

    Each row needs ``symbol``; other keys are columns of ``instruments`` (name, sector, lot, tick,
    min_qty, min_notional, status).
    """
    allowed = {"name", "sector", "lot", "tick", "min_qty", "min_notional", "status"}
    n = 0
    ts = now_iso()
    with db.transaction() as conn:
        for row in rows:
            cols = [k for k in row if k in allowed]
            unknown = set(row) - allowed - {"symbol"}
            if unknown:
                raise ValueError(f"unknown instrument fields: {sorted(unknown)}")
            names = ["symbol", *cols, "updated_at"]
            values = [str(row["symbol"]), *(row[c] for c in cols), ts]
            updates = ", ".join(f"{c} = excluded.{c}" for c in [*cols, "updated_at"])
            conn.execute(
                f"INSERT INTO instruments({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
                f"ON CONFLICT(symbol) DO UPDATE SET {updates}", values)
            n += 1
    return n


def read_instruments(db: DB) -> dict[str, dict[str, Any]]:
    """``symbol -> instrument row``."""
    return {r["symbol"]: r for r in db.query("SELECT * FROM instruments ORDER BY symbol")}


def sectors(db: DB) -> dict[str, str | None]:
    """``symbol -> sector`` (None when unknown)."""
    return {r[0]: r[1] for r in db.conn.execute("SELECT symbol, sector FROM instruments")}


def _range_sql(sql: str, params: list[Any], start: str | None, end: str | None) -> tuple[str, list[Any]]:
    params = list(params)
    if start:
        sql += " AND date >= ?"
        params.append(start)
    if end:
        sql += " AND date <= ?"
        params.append(end)
    return sql, params
