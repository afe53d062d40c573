"""The ``bars`` and ``instruments`` tables: daily bars per symbol and what we know of each symbol.

Bars are written with ``INSERT OR IGNORE`` on ``(symbol, date)``: importing the same data twice
changes nothing, and a stored bar is never silently overwritten (callers compare first and
report conflicts).  ``insert_bars`` (or ``insert_columns``) is the writer: it keeps the bar rows
and their per-symbol column blocks (``db.bar_blocks``) in step, in one transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from db.core import DB, now_iso

# numpy (and the column blocks, which need it) load with the first bar written or read as
# columns, pandas only with the DataFrame readers: `qtx status` counts bars with neither.
if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

BAR_COLUMNS = ("date", "open", "high", "low", "close", "volume")


class BarDateError(ValueError):
    """A bar date that is not a real ``YYYY-MM-DD`` date."""


def insert_bars(db: DB, symbol: str, rows: Iterable[Sequence[Any]], source: str = "csv") -> int:
    """Insert ``(date, open, high, low, close, volume)`` rows; returns how many were new.

    Runs inside the caller's transaction when there is one, else in its own.
    """
    import numpy as np

    rows = list(rows)
    if not rows:
        return 0
    dates, *values = zip(*(r[:6] for r in rows), strict=True)
    return insert_columns(db, symbol, list(dates), np.array(values, dtype=float), source)


def insert_columns(db: DB, symbol: str, dates: Sequence[str] | np.ndarray, values: np.ndarray,
                   source: str = "csv", days: np.ndarray | None = None) -> int:
    """Insert bars given as columns: ``dates`` (``YYYY-MM-DD``) and ``values`` of shape
    ``(5, n)`` (open, high, low, close, volume).  The first bar of a date wins, a stored bar is
    kept; returns how many were new.  Updates the symbol's column blocks in the same
    transaction (the caller's, when there is one).  ``days``: the dates as YYYYMMDD integers,
    from a caller that has checked them already (the CSV reader); else they are checked here."""
    import numpy as np

    from db import bar_blocks as blocks

    dates = np.asarray(dates, dtype=str)
    if not dates.size:
        return 0
    days = _checked_days(symbol, dates) if days is None else np.asarray(days, dtype=np.int64)
    if days.size > 1 and not (days[1:] > days[:-1]).all():
        days, first = np.unique(days, return_index=True)  # ascending; the first of a date wins
    else:
        first = slice(None)
    cols = np.empty((6, days.size))
    cols[blocks.DAY] = days
    cols[1:] = np.asarray(values, dtype=float)[:, first]
    years = (days // 10_000).astype(np.int64)
    touched = np.unique(years).tolist()
    with db.transaction() as conn:
        stored = blocks.stored_blocks(conn, symbol, touched)
        old_days = np.concatenate([stored[y][0][blocks.DAY] for y in touched])
        new = ~np.isin(days, old_days, assume_unique=True) if old_days.size else np.ones(days.size, bool)
        if not new.any():
            return 0
        fresh, texts = cols[:, new], dates[first][new]
        before = conn.total_changes
        _insert_rows(conn, symbol, texts, fresh[1:], source)
        inserted = conn.total_changes - before
        if inserted != fresh.shape[1]:  # the blocks were not the rows after all: rebuild them
            for year in touched:
                blocks.refresh_block(conn, symbol, year)
            return inserted
        fresh_years = years[new]
        for year in np.unique(fresh_years).tolist():
            add = fresh[:, fresh_years == year]
            old, old_source = stored[year]
            if old.shape[1]:
                merged = np.concatenate([old, add], axis=1)
                merged = merged[:, np.argsort(merged[blocks.DAY], kind="stable")]
                block_source = old_source if old_source == source else None
            else:
                merged, block_source = add, source
            blocks.write_block(conn, symbol, year, merged, block_source)
    return inserted


# Rows per INSERT: one statement of many rows costs SQLite and the driver less per row than a
# statement per row (executemany): 4.7-5.3 against 6.5-7.6 us per bar on 200,000 bars.  The
# symbol and the source are bound once per statement (``?1``, ``?2``), not once per row: 4.4 ->
# 3.4 us per row on 600,000 rows.
_ROWS_PER_INSERT = 500
_INSERT = "INSERT OR IGNORE INTO bar_rows(symbol, date, open, high, low, close, volume, source) VALUES "
_statements: dict[int, str] = {}


def _insert_sql(k: int) -> str:
    """The INSERT of ``k`` rows: parameters 1 and 2 are the symbol and the source, then six
    per row (an unnumbered ``?`` takes the largest number so far + 1)."""
    sql = _statements.get(k)
    if sql is None:
        sql = _statements[k] = (_INSERT + "(?1, ?3, ?, ?, ?, ?, ?, ?2)"
                                + ", (?1, ?, ?, ?, ?, ?, ?, ?2)" * (k - 1))
    return sql


def _insert_rows(conn, symbol: str, dates: np.ndarray, values: np.ndarray, source: str) -> None:
    import numpy as np

    n = dates.size
    params = np.empty((n, 6), dtype=object)
    params[:, 0] = dates.tolist()
    params[:, 1:] = values.T
    flat = params.ravel().tolist()
    for lo in range(0, n, _ROWS_PER_INSERT):
        k = min(_ROWS_PER_INSERT, n - lo)
        conn.execute(_insert_sql(k), [symbol, source, *flat[6 * lo:6 * (lo + k)]])


@contextmanager
def bulk_writes(db: DB, cache_mb: int = 256) -> Iterator[None]:
    """A larger page cache while many bars are written: each insert also lands somewhere in
    the date index, and with the default 2 MB cache most of those pages are read again from the
    file (measured: 12.4 -> 7.8 us per bar on 200,000 bars).  Restored afterwards."""
    before = db.conn.execute("PRAGMA cache_size").fetchone()[0]
    db.conn.execute(f"PRAGMA cache_size = {-1024 * int(cache_mb)}")
    try:
        yield
    finally:
        db.conn.execute(f"PRAGMA cache_size = {int(before)}")


@contextmanager
def date_index_deferred(db: DB) -> Iterator[None]:
    """Inside the caller's write transaction: the date index (``bars_date``) dropped while many
    bars are inserted, and built again, as it was, before the caller commits.  Kept up to date
    row by row, that index is most of the insert's cost (one insert at a random place of a large
    tree per bar: 6.8 against 2.2 us per bar on 2,000 x 2,000 bars); built once from the
    finished table it costs 0.3-1 us per bar.  Readers never see the table without it: the drop
    is committed with the rebuild or rolled back (an error, a kill) with the inserts."""
    if not db.conn.in_transaction:
        raise RuntimeError("date_index_deferred needs the caller's write transaction")
    row = db.conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'bars_date'").fetchone()
    if row is None:  # nothing to defer
        yield
        return
    db.conn.execute("DROP INDEX bars_date")
    yield
    db.conn.execute(row[0])


def bar_counts(db: DB) -> dict[str, int]:
    """``symbol -> stored bars`` from the block summaries (a stale block counts its bars as of its
    last build: an estimate for planning a write, not for reporting)."""
    return dict(db.conn.execute("SELECT symbol, SUM(n) FROM bar_blocks GROUP BY symbol"))


def _checked_days(symbol: str, dates: np.ndarray) -> np.ndarray:
    """The dates as YYYYMMDD integers; ``BarDateError`` naming the first that is not a real
    ``YYYY-MM-DD`` date."""
    from db import bar_blocks as blocks

    try:
        days = blocks.day_numbers(dates)
    except UnicodeEncodeError:  # not ASCII: not a date
        pass
    else:
        # Text that survives the round trip has the exact shape; the calendar check does the rest.
        if ((blocks.date_texts(days) == dates) & blocks.real_days(days)).all():
            return days
    bad = next((t for t in dates.tolist() if not _is_date(t)), dates[0])
    raise BarDateError(f"{symbol}: bar date {str(bad)!r} is not a YYYY-MM-DD date")


def _is_date(text: str) -> bool:
    from datetime import date

    try:
        return len(text) == 10 and text.isascii() and date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def stored_bars(db: DB, symbol: str, start: str | None = None,
                end: str | None = None) -> dict[str, tuple[float, ...]]:
    """``date -> (open, high, low, close, volume)`` of the stored bars (for conflict checks)."""
    sql, params = _range_sql("SELECT date, open, high, low, close, volume FROM bars WHERE symbol = ?",
                             [symbol], start, end)
    return {r[0]: tuple(r[1:]) for r in db.conn.execute(sql, params)}


def read_bars(db: DB, symbol: str, start: str | None = None, end: str | None = None) -> pd.DataFrame:
    """One symbol's bars, ascending, columns ``date, open, high, low, close, volume``."""
    import pandas as pd

    sql, params = _range_sql(
        "SELECT date, open, high, low, close, volume FROM bars WHERE symbol = ?", [symbol], start, end)
    rows = db.conn.execute(sql + " ORDER BY date", params).fetchall()
    return pd.DataFrame(rows, columns=list(BAR_COLUMNS)).astype(
        {"open": float, "high": float, "low": float, "close": float, "volume": float})


def read_bar_arrays(db: DB, symbol: str, start: str | None = None,
                    end: str | None = None) -> dict[str, np.ndarray]:
    """One symbol's bars as numpy arrays keyed by column (``date`` as str)."""
    import numpy as np

    from db import bar_blocks as blocks

    cols = bar_columns(db, symbol, start, end)
    out = {c: np.array(cols[i]) for i, c in enumerate(BAR_COLUMNS) if i}
    out["date"] = blocks.date_texts(cols[blocks.DAY])
    return out


def bar_columns(db: DB, symbol: str, start: str | None = None, end: str | None = None) -> np.ndarray:
    """One symbol's bars in ``[start, end]`` as ``(6, n)`` columns (``db.bar_blocks``: day as
    YYYYMMDD, open, high, low, close, volume), read from its blocks."""
    from db import bar_blocks as blocks

    return blocks.symbol_columns(db.conn, symbol, start, end)


def read_all_bars(db: DB, start: str | None = None, end: str | None = None,
                  symbols: Sequence[str] | None = None) -> pd.DataFrame:
    """Every stored bar (optionally of ``symbols`` only), sorted by symbol then date.

    Columns ``symbol, date, open, high, low, close, volume``.
    """
    import pandas as pd

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
    """Every symbol with at least one stored bar, sorted (from the block summaries)."""
    out = []
    for sym, fresh in db.conn.execute(
            "SELECT symbol, MAX(stale = 0 AND n > 0) FROM bar_blocks GROUP BY symbol ORDER BY symbol"):
        if fresh or db.conn.execute("SELECT 1 FROM bar_rows WHERE symbol = ? LIMIT 1", (sym,)).fetchone():
            out.append(sym)
    return out


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
    """Counts for status: symbols, bars, first/last date, bars per source.  Summed in SQL from
    the block summaries (``bar_blocks``: one row per symbol and year), never a scan of every
    bar; a stale or mixed-source block (rare) is counted from its own rows."""
    fresh = "stale = 0 AND source IS NOT NULL"
    bars, first, last, n_symbols = db.conn.execute(
        f"SELECT COALESCE(SUM(n), 0), MIN(first_date), MAX(last_date), COUNT(DISTINCT symbol) "
        f"FROM bar_blocks WHERE {fresh}").fetchone()
    sources: Counter = Counter(dict(db.conn.execute(
        f"SELECT source, SUM(n) FROM bar_blocks WHERE {fresh} GROUP BY source")))
    more: set[str] = set()  # symbols with bars only in the other blocks
    for symbol, year in db.conn.execute(f"SELECT symbol, year FROM bar_blocks WHERE NOT ({fresh})").fetchall():
        for src, count, lo, hi in db.conn.execute(
                "SELECT source, COUNT(*), MIN(date), MAX(date) FROM bar_rows "
                "WHERE symbol = ? AND date >= ? AND date <= ? GROUP BY source",
                (symbol, f"{year:04d}-01-01", f"{year:04d}-12-31")):
            bars += count
            sources[src] += count
            first = lo if first is None or lo < first else first
            last = hi if last is None or hi > last else last
            if not db.conn.execute(f"SELECT 1 FROM bar_blocks WHERE symbol = ? AND {fresh} LIMIT 1",
                                   (symbol,)).fetchone():
                more.add(symbol)
    return {"symbols": n_symbols + len(more), "bars": bars, "first_date": first, "last_date": last,
            "sources": dict(sorted(sources.items()))}


def refresh_blocks(db: DB) -> int:
    """Rebuild the column blocks whose rows changed behind them (a write through the ``bars``
    view, an update, a delete, a database migrated from version 2); returns how many."""
    from db import bar_blocks as blocks

    if not blocks.stale_blocks(db.conn):
        return 0
    with db.transaction() as conn:
        return blocks.refresh(conn)


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
