"""Read-only queries behind ``status``, ``positions`` and ``analysis`` (CLI and Telegram)."""

from __future__ import annotations

from db.core import DB


def latest_metrics(db: DB, asof: str | None = None) -> dict | None:
    if asof:
        return db.one("SELECT * FROM daily_metrics WHERE date <= ? ORDER BY date DESC LIMIT 1", (asof,))
    return db.one("SELECT * FROM daily_metrics ORDER BY date DESC LIMIT 1")


def last_bar(db: DB, symbol: str, asof: str | None = None) -> dict | None:
    if asof:
        return db.one("SELECT date, close FROM bars WHERE symbol = ? AND date <= ? "
                      "ORDER BY date DESC LIMIT 1", (symbol, asof))
    return db.one("SELECT date, close FROM bars WHERE symbol = ? ORDER BY date DESC LIMIT 1", (symbol,))


def bars_after(db: DB, symbol: str, after: str, upto: str | None) -> int:
    """The symbol's own bars dated after ``after`` (and up to ``upto``)."""
    if upto:
        return db.scalar("SELECT COUNT(*) FROM bars WHERE symbol = ? AND date > ? AND date <= ?",
                         (symbol, after, upto))
    return db.scalar("SELECT COUNT(*) FROM bars WHERE symbol = ? AND date > ?", (symbol, after))


def latest_bar_date(db: DB) -> str | None:
    return db.scalar("SELECT MAX(date) FROM bars")


def signals_since(db: DB, since: str, upto: str) -> list[dict]:
    return db.query("SELECT id, date, symbol, side, reason, status, verdict_reason FROM signals "
                    "WHERE date >= ? AND date <= ? ORDER BY date, id", (since, upto))


def fills_upto(db: DB, upto: str) -> list[dict]:
    """Every fill up to ``upto`` in fill order, with the entry rule of its signal when known."""
    return db.query(
        "SELECT f.id, f.date, f.symbol, f.side, f.qty, f.price, f.fee, "
        "COALESCE(f.reason, o.reason, s.reason) AS reason FROM fills f "
        "LEFT JOIN orders o ON o.client_order_id = f.client_order_id "
        "LEFT JOIN signals s ON s.id = o.signal_id "
        "WHERE f.date <= ? ORDER BY f.date, f.ts, f.id", (upto,))


def failed_runs_since(db: DB, since: str) -> list[dict]:
    """Every run that ended in failure at or after ``since`` (ISO UTC), oldest first.  By its end:
    a run killed on a Friday is marked failed by the next run, on Monday."""
    marks = ",".join("?" * len(FAILED_OUTCOMES))
    return db.query(f"SELECT stage, id, asof, started_at, ended_at, outcome, message FROM runs "
                    f"WHERE outcome IN ({marks}) AND COALESCE(ended_at, started_at) >= ? ORDER BY id",
                    (*FAILED_OUTCOMES, since))


def runs_summary(db: DB) -> list[dict]:
    """Per stage: its latest run and its latest run that acted ('ok').  A skipped run does not
    count as done: one that woke after its window closed did not do the slot's work."""
    rows = db.query(
        "SELECT r.stage, r.id, r.asof, r.started_at, r.ended_at, r.outcome, r.message FROM runs r "
        "JOIN (SELECT stage, MAX(id) AS id FROM runs GROUP BY stage) m ON m.id = r.id ORDER BY r.stage")
    ok = {r["stage"]: r for r in db.query(
        "SELECT r.stage, r.id, r.started_at, r.ended_at, r.outcome FROM runs r "
        "JOIN (SELECT stage, MAX(id) AS id FROM runs WHERE outcome = 'ok' GROUP BY stage) m "
        "ON m.id = r.id")}
    for r in rows:
        s = ok.get(r["stage"])
        r["last_ok_id"] = s["id"] if s else None
        r["last_ok_started"] = s["started_at"] if s else None
        r["last_ok_ended"] = s["ended_at"] if s else None
    return rows


# Outcomes of a run that count as a failure (anything else that is not 'running' succeeded).
FAILED_OUTCOMES = ("failed", "error", "crashed", "killed", "timeout")
