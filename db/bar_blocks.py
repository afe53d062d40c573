"""Bars as per-symbol column blocks (schema version 3): a symbol's history loads in one read.

``bar_rows`` (read through the ``bars`` view) holds one row per bar.  ``bar_blocks`` and
``bar_block_data`` hold the same bars per symbol and calendar year: a summary (count, first
and last date, source) and one blob of six little-endian float64 columns, the date as the
integer YYYYMMDD (``day``), open, high, low, close, volume.  Loading 240,000 bars this way
takes milliseconds where building a Python row per bar took most of a second.

``db.bars.insert_bars`` writes the rows and the blocks in one transaction.  A block marked
``stale`` (its rows changed without it: a write through the ``bars`` view, an update, a
delete) is read from its rows instead, and rebuilt by the next write or by ``refresh``; so
a reader always sees exactly the rows.

Columns travel as a ``(6, n)`` float64 array per symbol, rows ``DAY, OPEN, HIGH, LOW, CLOSE,
VOLUME``, ascending by day.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

FIELDS = ("day", "open", "high", "low", "close", "volume")
DAY, OPEN, HIGH, LOW, CLOSE, VOLUME = range(6)
_F8 = np.dtype("<f8")  # the blob's byte order, whatever the machine's
# YYYY-MM-DD as ASCII digits: the weight of each character in the YYYYMMDD integer.
_DAY_WEIGHTS = np.array([10_000_000, 1_000_000, 100_000, 10_000, 0, 1_000, 100, 0, 10, 1], dtype=np.int64)
_MAX_YEAR = 9999


def empty() -> np.ndarray:
    return np.empty((6, 0))


# --------------------------------------------------------------------------- dates as integers

def day_numbers(dates: Sequence[str] | np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` texts -> int64 ``YYYYMMDD`` (the texts must already be valid dates)."""
    a = np.asarray(dates, dtype="S10")
    if not a.size:
        return np.empty(0, dtype=np.int64)
    digits = a.view(np.uint8).reshape(-1, 10).astype(np.int64) - 48
    return digits @ _DAY_WEIGHTS


def date_texts(days: np.ndarray) -> np.ndarray:
    """int ``YYYYMMDD`` -> ``YYYY-MM-DD`` texts (a ``U10`` array)."""
    d = np.asarray(days, dtype=np.int64)
    out = np.empty((d.size, 10), dtype=np.uint8)
    for col, div in ((0, 10_000_000), (1, 1_000_000), (2, 100_000), (3, 10_000), (5, 1_000), (6, 100),
                     (8, 10), (9, 1)):
        out[:, col] = d // div % 10 + 48
    out[:, 4] = out[:, 7] = ord("-")
    return out.view("S10").reshape(-1).astype("U10")


def _date_text(day: int) -> str:
    """One ``YYYYMMDD`` as ``YYYY-MM-DD`` (``date_texts`` for a few: no array work)."""
    return f"{day // 10_000:04d}-{day // 100 % 100:02d}-{day % 100:02d}"


_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def real_days(days: np.ndarray) -> np.ndarray:
    """Which ``YYYYMMDD`` integers are real calendar dates (years 1-9999), vectorized."""
    d = np.asarray(days, dtype=np.int64)
    if d.size and 0 <= d.min() and d.max() < 2**31:  # int32 division: a third of int64's cost
        d = d.astype(np.int32)
    year, month, day = d // 10_000, d // 100 % 100, d % 100
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = _MONTH_DAYS[np.clip(month, 0, 12)] + ((month == 2) & leap)
    return (year >= 1) & (year <= _MAX_YEAR) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)


def year_bounds(year: int) -> tuple[str, str]:
    return f"{year:04d}-01-01", f"{year:04d}-12-31"


def year_of(date: str) -> int:
    return int(date[:4])


# --------------------------------------------------------------------------- blob format

def encode(cols: np.ndarray) -> bytes:
    return np.ascontiguousarray(cols, dtype=_F8).tobytes()


def decode(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=_F8).reshape(6, -1)


# --------------------------------------------------------------------------- from the rows

def _rows_sql(conn: sqlite3.Connection, symbol: str, first: str, last: str) -> list[tuple]:
    return conn.execute(
        "SELECT date, open, high, low, close, volume, source FROM bar_rows "
        "WHERE symbol = ? AND date >= ? AND date <= ? ORDER BY date", (symbol, first, last)).fetchall()


def columns_from_rows(rows: Sequence[Sequence]) -> np.ndarray:
    """``(date, open, high, low, close, volume, ...)`` rows, ascending -> a ``(6, n)`` array."""
    if not rows:
        return empty()
    cols = np.empty((6, len(rows)))
    dates, *values = zip(*(r[:6] for r in rows), strict=True)
    cols[DAY] = day_numbers(list(dates))
    for i, v in enumerate(values, start=1):
        cols[i] = v
    return cols


def block_from_rows(conn: sqlite3.Connection, symbol: str, year: int) -> tuple[np.ndarray, Counter]:
    """One block rebuilt from its rows: the columns and the bars per source."""
    rows = _rows_sql(conn, symbol, *year_bounds(year))
    return columns_from_rows(rows), Counter(r[6] for r in rows)


# --------------------------------------------------------------------------- writing

def write_block(conn: sqlite3.Connection, symbol: str, year: int, cols: np.ndarray,
                source: str | None) -> None:
    """Store one block as current (``source`` None: its bars come from several sources)."""
    n = cols.shape[1]
    if n == 0:
        conn.execute("DELETE FROM bar_blocks WHERE symbol = ? AND year = ?", (symbol, year))
        conn.execute("DELETE FROM bar_block_data WHERE symbol = ? AND year = ?", (symbol, year))
        return
    first, last = (_date_text(int(d)) for d in cols[DAY, [0, -1]])
    conn.execute(
        "INSERT INTO bar_blocks(symbol, year, stale, n, first_date, last_date, source) "
        "VALUES (?, ?, 0, ?, ?, ?, ?) ON CONFLICT(symbol, year) DO UPDATE SET stale = 0, "
        "n = excluded.n, first_date = excluded.first_date, last_date = excluded.last_date, "
        "source = excluded.source", (symbol, year, n, first, last, source))
    conn.execute("INSERT INTO bar_block_data(symbol, year, data) VALUES (?, ?, ?) "
                 "ON CONFLICT(symbol, year) DO UPDATE SET data = excluded.data",
                 (symbol, year, encode(cols)))


def single_source(sources: Counter) -> str | None:
    return next(iter(sources)) if len(sources) == 1 else None


def refresh_block(conn: sqlite3.Connection, symbol: str, year: int) -> tuple[np.ndarray, str | None]:
    """Rebuild one block from its rows; returns its columns and its one source (None: mixed)."""
    cols, sources = block_from_rows(conn, symbol, year)
    source = single_source(sources)
    write_block(conn, symbol, year, cols, source)
    return cols, source


def stale_blocks(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    return conn.execute("SELECT symbol, year FROM bar_blocks WHERE stale = 1 ORDER BY symbol, year").fetchall()


def refresh(conn: sqlite3.Connection) -> int:
    """Rebuild every stale block from its rows (the caller holds the write transaction);
    returns how many were rebuilt."""
    todo = stale_blocks(conn)
    for symbol, year in todo:
        refresh_block(conn, symbol, year)
    return len(todo)


def stored_blocks(conn: sqlite3.Connection, symbol: str,
                  years: Iterable[int]) -> dict[int, tuple[np.ndarray, str | None]]:
    """``year -> (columns, source)`` of the symbol's blocks for ``years`` (stale ones rebuilt
    first: the caller is about to write them); a year without bars has empty columns."""
    years = list(years)
    found = {r[0]: r[1:] for r in conn.execute(  # one query for all the years
        "SELECT b.year, b.stale, b.source, d.data FROM bar_blocks b LEFT JOIN bar_block_data d "
        f"ON d.symbol = b.symbol AND d.year = b.year WHERE b.symbol = ? AND b.year IN ({','.join('?' * len(years))})",
        (symbol, *years))} if years else {}
    out = {}
    for year in years:
        row = found.get(year)
        if row is None:
            out[year] = (empty(), None)
        elif row[0] or row[2] is None:
            out[year] = refresh_block(conn, symbol, year)
        else:
            out[year] = (decode(row[2]), row[1])
    return out


# --------------------------------------------------------------------------- reading

def _blocks_sql(symbols: Sequence[str] | None, last_year: int) -> tuple[str, list]:
    sql = ("SELECT b.symbol, b.year, b.stale, d.data FROM bar_blocks b LEFT JOIN bar_block_data d "
           "ON d.symbol = b.symbol AND d.year = b.year WHERE b.year <= ?")
    params: list = [last_year]
    if symbols is not None:
        sql += f" AND b.symbol IN ({','.join('?' * len(symbols))})"
        params.extend(symbols)
    return sql + " ORDER BY b.symbol, b.year", params


def _pieces(conn: sqlite3.Connection, rows: Iterable[tuple]) -> Iterator[tuple[str, list[np.ndarray]]]:
    """Group block rows (ordered by symbol, year) into each symbol's list of column pieces."""
    current, pieces = None, []
    for symbol, year, stale, data in rows:
        if symbol != current:
            if current is not None:
                yield current, pieces
            current, pieces = symbol, []
        if stale or data is None:
            cols, _ = block_from_rows(conn, symbol, year)
        else:
            cols = decode(data)
        if cols.shape[1]:
            pieces.append(cols)
    if current is not None:
        yield current, pieces


def read_columns(conn: sqlite3.Connection, end: str | None = None,
                 symbols: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Every stored bar up to ``end`` (of ``symbols`` only, when given): ``symbol -> (6, n)``,
    symbols sorted, bars ascending.  Symbols without bars are left out."""
    if symbols is not None and not symbols:
        return {}
    last_day = day_numbers([end])[0] if end else None
    sql, params = _blocks_sql(list(symbols) if symbols is not None else None,
                              year_of(end) if end else _MAX_YEAR)
    out = {}
    for symbol, pieces in _pieces(conn, conn.execute(sql, params)):
        if not pieces:
            continue
        cols = pieces[0].copy() if len(pieces) == 1 else np.concatenate(pieces, axis=1)
        if last_day is not None and cols[DAY, -1] > last_day:
            cols = cols[:, :int(np.searchsorted(cols[DAY], last_day, side="right"))]
        if cols.shape[1]:
            out[symbol] = cols
    return out


def read_recent_columns(conn: sqlite3.Connection, end: str, per_symbol: int,
                        keep_since: str | None = None) -> dict[str, np.ndarray]:
    """Each symbol's last ``per_symbol`` bars up to ``end`` (and every bar since
    ``keep_since``): only the blocks that hold them are read."""
    last_year = year_of(end)
    since_year = year_of(keep_since) if keep_since else last_year
    # Which years each symbol needs: walk back from ``end``'s year until enough bars are
    # covered (a stale block's count is unknown, so it never ends the walk early).
    need: dict[str, int] = {}
    counted: dict[str, int] = {}
    for symbol, year, stale, n in conn.execute(
            "SELECT symbol, year, stale, n FROM bar_blocks WHERE year <= ? "
            "ORDER BY symbol, year DESC", (last_year,)):
        have = counted.get(symbol, 0)
        if have >= per_symbol and year < since_year:
            continue
        need[symbol] = year
        # The block of ``end``'s year may hold bars after ``end``: count none of it.
        if not stale and year < last_year:
            counted[symbol] = have + n
    out = {}
    last_day = day_numbers([end])[0]
    first_keep = day_numbers([keep_since])[0] if keep_since else None
    sql = ("SELECT b.symbol, b.year, b.stale, d.data FROM bar_blocks b LEFT JOIN bar_block_data d "
           "ON d.symbol = b.symbol AND d.year = b.year WHERE b.symbol = ? AND b.year >= ? AND b.year <= ? "
           "ORDER BY b.year")
    for symbol, first_year in need.items():
        pieces = [c for _, p in _pieces(conn, conn.execute(sql, (symbol, first_year, last_year))) for c in p]
        if not pieces:
            continue
        cols = np.concatenate(pieces, axis=1) if len(pieces) > 1 else pieces[0]
        stop = int(np.searchsorted(cols[DAY], last_day, side="right"))
        start = max(stop - per_symbol, 0)
        if first_keep is not None:
            start = min(start, int(np.searchsorted(cols[DAY], first_keep)))
        if stop > start:
            out[symbol] = np.array(cols[:, start:stop])
    return out


def symbol_columns(conn: sqlite3.Connection, symbol: str, start: str | None = None,
                   end: str | None = None) -> np.ndarray:
    """One symbol's bars in ``[start, end]`` as ``(6, n)`` columns."""
    first_year = year_of(start) if start else 0
    last_year = year_of(end) if end else _MAX_YEAR
    rows = conn.execute(
        "SELECT b.symbol, b.year, b.stale, d.data FROM bar_blocks b LEFT JOIN bar_block_data d "
        "ON d.symbol = b.symbol AND d.year = b.year WHERE b.symbol = ? AND b.year >= ? AND b.year <= ? "
        "ORDER BY b.year", (symbol, first_year, last_year))
    pieces = [c for _, p in _pieces(conn, rows) for c in p]
    if not pieces:
        return empty()
    cols = np.concatenate(pieces, axis=1) if len(pieces) > 1 else pieces[0]
    lo = int(np.searchsorted(cols[DAY], day_numbers([start])[0])) if start else 0
    hi = int(np.searchsorted(cols[DAY], day_numbers([end])[0], side="right")) if end else cols.shape[1]
    return cols[:, lo:hi]
