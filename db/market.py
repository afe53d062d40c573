"""Bars and instrument rules as the engine loads them."""

from __future__ import annotations

from db.core import DB


def bar_rows(db: DB, end: str | None = None, symbols: list[str] | None = None) -> list[tuple]:
    """(symbol, date, open, high, low, close, volume) rows, by symbol then date."""
    sql = "SELECT symbol, date, open, high, low, close, volume FROM bars"
    where, params = [], []
    if end:
        where.append("date <= ?")
        params.append(end)
    if symbols:
        where.append(f"symbol IN ({','.join('?' * len(symbols))})")
        params.extend(symbols)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY symbol, date"
    return db.conn.execute(sql, params).fetchall()


def bar_rows_since(db: DB, since: str, end: str | None = None, symbols: list[str] | None = None) -> list[tuple]:
    """Like ``bar_rows`` but only bars dated on or after ``since`` (a history window)."""
    sql = "SELECT symbol, date, open, high, low, close, volume FROM bars WHERE date >= ?"
    params: list = [since]
    if end:
        sql += " AND date <= ?"
        params.append(end)
    if symbols:
        sql += f" AND symbol IN ({','.join('?' * len(symbols))})"
        params.extend(symbols)
    sql += " ORDER BY symbol, date"
    return db.conn.execute(sql, params).fetchall()


def instrument_rows(db: DB) -> list[dict]:
    return db.query("SELECT symbol, sector, lot, tick, min_qty, min_notional FROM instruments")


def market_dates(db: DB, end: str | None = None) -> list[str]:
    """The union calendar: every date any symbol has a bar."""
    if end:
        return [r[0] for r in db.conn.execute(
            "SELECT DISTINCT date FROM bars WHERE date <= ? ORDER BY date", (end,))]
    return [r[0] for r in db.conn.execute("SELECT DISTINCT date FROM bars ORDER BY date")]


def recent_bar_rows(db: DB, end: str, per_symbol: int, keep_since: str | None = None) -> list[tuple]:
    """Each symbol's last ``per_symbol`` bars up to ``end`` (and every bar since ``keep_since``),
    by symbol then date: enough history for the indicators without loading years of bars."""
    sql = (
        "SELECT symbol, date, open, high, low, close, volume FROM ("
        " SELECT *, ROW_NUMBER() OVER (PARTITION BY symbol ORDER BY date DESC) AS rn"
        " FROM bars WHERE date <= ?) WHERE rn <= ?"
    )
    params: list = [end, per_symbol]
    if keep_since:
        sql += " OR date >= ?"
        params.append(keep_since)
    return db.conn.execute(sql + " ORDER BY symbol, date", params).fetchall()


def bar_sources(db: DB) -> list[str]:
    """Where the stored bars came from (e.g. 'synthetic' for the sample market)."""
    return [r[0] for r in db.conn.execute("SELECT DISTINCT source FROM bars ORDER BY source")]
