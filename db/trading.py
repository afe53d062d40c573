"""qtx's own trading record: signals, orders, fills, positions, daily metrics (write side)."""

from __future__ import annotations

from db.core import DB, now_iso

OPEN_ORDER_STATUSES = ("intent", "unknown", "new", "partially_filled")


# ----------------------------------------------------------------------------- signals

def insert_signal(db: DB, date: str, symbol: str, side: str, close: float, reason: str,
                  strength: float | None = None, qty: float | None = None, strategy: str = "sennot") -> bool:
    """Store a decision; a second store of the same (date, symbol, side) changes nothing."""
    cur = db.conn.execute(
        "INSERT OR IGNORE INTO signals(date, symbol, side, qty, close, strength, reason, strategy, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (date, symbol, side, qty, close,
         None if strength is None else (1e308 if strength == float("inf") else strength),
         reason, strategy, now_iso()))
    return cur.rowcount > 0


def signals_on(db: DB, date: str, status: str | None = None) -> list[dict]:
    sql = "SELECT * FROM signals WHERE date = ?"
    params: list = [date]
    if status:
        sql += " AND status = ?"
        params.append(status)
    return db.query(sql + " ORDER BY side DESC, symbol", tuple(params))


def latest_pending_date(db: DB, upto: str) -> str | None:
    return db.scalar("SELECT MAX(date) FROM signals WHERE status = 'pending' AND date <= ?", (upto,))


def pending_dates_before(db: DB, date: str) -> list[str]:
    return [r[0] for r in db.conn.execute(
        "SELECT DISTINCT date FROM signals WHERE status = 'pending' AND date < ? ORDER BY date", (date,))]


def expire_pending_before(db: DB, date: str) -> int:
    cur = db.conn.execute(
        "UPDATE signals SET status = 'expired', verdict_reason = 'stale: a newer decision date exists', "
        "decided_at = ? WHERE status = 'pending' AND date < ?", (now_iso(), date))
    return cur.rowcount


def set_verdict(db: DB, signal_id: int, status: str, reason: str, qty: float | None = None,
                rank: int | None = None) -> None:
    db.conn.execute(
        "UPDATE signals SET status = ?, verdict_reason = ?, qty = COALESCE(?, qty), rank = ?, decided_at = ? "
        "WHERE id = ?", (status, reason, qty, rank, now_iso(), signal_id))


def insert_order_intent(db: DB, client_order_id: str, signal_id: int | None, date: str, symbol: str,
                        side: str, qty: float, seq: int, reason: str) -> bool:
    ts = now_iso()
    cur = db.conn.execute(
        "INSERT OR IGNORE INTO orders(client_order_id, signal_id, date, symbol, side, qty, seq, reason, "
        "status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'intent', ?, ?)",
        (client_order_id, signal_id, date, symbol, side, qty, seq, reason, ts, ts))
    return cur.rowcount > 0


def order(db: DB, client_order_id: str) -> dict | None:
    return db.one("SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,))


def orders_to_submit(db: DB) -> list[dict]:
    """Intents and unknown outcomes: SELLs first, then BUYs in approval order."""
    return db.query("SELECT * FROM orders WHERE status IN ('intent', 'unknown') "
                    "ORDER BY date, CASE side WHEN 'SELL' THEN 0 ELSE 1 END, seq, symbol")


def open_orders(db: DB) -> list[dict]:
    q = ",".join("?" * len(OPEN_ORDER_STATUSES))
    return db.query(f"SELECT * FROM orders WHERE status IN ({q}) ORDER BY id", OPEN_ORDER_STATUSES)


def claimed_broker_ids(db: DB) -> set[str]:
    """Venue order ids already known to be one of our orders."""
    return {r[0] for r in db.conn.execute("SELECT broker_order_id FROM orders WHERE broker_order_id IS NOT NULL")}


def update_order(db: DB, client_order_id: str, **fields) -> None:
    fields["updated_at"] = now_iso()
    cols = ", ".join(f"{k} = ?" for k in fields)
    db.conn.execute(f"UPDATE orders SET {cols} WHERE client_order_id = ?", (*fields.values(), client_order_id))


def insert_external_order(db: DB, client_order_id: str, date: str, symbol: str, side: str, qty: float,
                          status: str, reason: str) -> None:
    """An order the broker has and we did not record (found by reconcile)."""
    ts = now_iso()
    db.conn.execute(
        "INSERT OR IGNORE INTO orders(client_order_id, date, symbol, side, qty, status, reason, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (client_order_id, date, symbol, side, qty, status, reason, ts, ts))


# ----------------------------------------------------------------------------- fills and positions


def fill_ids(db: DB) -> set[str]:
    return {r[0] for r in db.conn.execute("SELECT fill_id FROM fills")}


def insert_fill(db: DB, f: dict, reason: str | None, source: str = "broker") -> bool:
    cur = db.conn.execute(
        "INSERT OR IGNORE INTO fills(fill_id, client_order_id, date, symbol, side, qty, price, fee, reason, ts, "
        "source, broker_order_id, fee_qty) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (f["fill_id"], f["client_order_id"], f["date"], f["symbol"], f["side"], f["qty"], f["price"],
         f["fee"], reason, f["ts"], source, f.get("broker_order_id"), f.get("fee_qty") or 0.0))
    return cur.rowcount > 0


def fills_by_ids(db: DB, fill_ids: list[str]) -> list[dict]:
    if not fill_ids:
        return []
    marks = ",".join("?" * len(fill_ids))
    return db.query(f"SELECT * FROM fills WHERE fill_id IN ({marks}) ORDER BY id", tuple(fill_ids))


def fill_totals_by_venue_order(db: DB) -> dict[str, tuple[float, float, float]]:
    """Recorded executions per venue order id: (quantity, value, fee)."""
    return {r[0]: (r[1], r[2], r[3]) for r in db.conn.execute(
        "SELECT broker_order_id, SUM(qty), SUM(qty * price), SUM(fee) FROM fills "
        "WHERE broker_order_id IS NOT NULL GROUP BY broker_order_id")}


def fills_between(db: DB, start: str | None = None, end: str | None = None) -> list[dict]:
    sql, params = "SELECT * FROM fills WHERE 1=1", []
    if start:
        sql += " AND date >= ?"
        params.append(start)
    if end:
        sql += " AND date <= ?"
        params.append(end)
    return db.query(sql + " ORDER BY id", tuple(params))


def position(db: DB, symbol: str) -> dict | None:
    return db.one("SELECT * FROM positions WHERE symbol = ?", (symbol,))


def positions(db: DB) -> dict[str, dict]:
    return {r["symbol"]: r for r in db.query("SELECT * FROM positions WHERE qty > 0 ORDER BY symbol")}


def upsert_position(db: DB, symbol: str, qty: float, avg_price: float, entry_price: float,
                    entry_date: str, armed_date: str | None) -> None:
    db.conn.execute(
        "INSERT INTO positions(symbol, qty, avg_price, entry_price, entry_date, armed_date, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(symbol) DO UPDATE SET qty = excluded.qty, "
        "avg_price = excluded.avg_price, entry_price = excluded.entry_price, entry_date = excluded.entry_date, "
        "armed_date = excluded.armed_date, updated_at = excluded.updated_at",
        (symbol, qty, avg_price, entry_price, entry_date, armed_date, now_iso()))


def delete_position(db: DB, symbol: str) -> None:
    db.conn.execute("DELETE FROM positions WHERE symbol = ?", (symbol,))


def arm_position(db: DB, symbol: str, date: str) -> None:
    db.conn.execute("UPDATE positions SET armed_date = ?, updated_at = ? WHERE symbol = ? AND armed_date IS NULL",
                    (date, now_iso(), symbol))


# ----------------------------------------------------------------------------- daily metrics

def metrics_before(db: DB, date: str) -> dict | None:
    return db.one("SELECT * FROM daily_metrics WHERE date < ? ORDER BY date DESC LIMIT 1", (date,))


def metrics_on(db: DB, date: str) -> dict | None:
    return db.one("SELECT * FROM daily_metrics WHERE date = ?", (date,))


def upsert_metrics(db: DB, row: dict) -> None:
    row = dict(row, updated_at=now_iso())
    cols = ", ".join(row)
    marks = ", ".join("?" * len(row))
    updates = ", ".join(f"{k} = excluded.{k}" for k in row if k != "date")
    db.conn.execute(f"INSERT INTO daily_metrics({cols}) VALUES ({marks}) ON CONFLICT(date) DO UPDATE SET {updates}",
                    tuple(row.values()))


def metrics_series(db: DB, end: str | None = None) -> list[dict]:
    if end:
        return db.query("SELECT * FROM daily_metrics WHERE date <= ? ORDER BY date", (end,))
    return db.query("SELECT * FROM daily_metrics ORDER BY date")


def fill_count(db: DB) -> int:
    return db.scalar("SELECT COUNT(*) FROM fills")


def latest_decision_date(db: DB, upto: str) -> str | None:
    """The newest date the strategy decided for (``signal`` records every one in daily_metrics)."""
    return db.scalar("SELECT MAX(date) FROM daily_metrics WHERE date <= ?", (upto,))
