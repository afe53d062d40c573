"""Storage of the paper broker's simulated venue (``paper_*`` tables).

The paper broker (``brokers/paper.py``) is an outside system as far as qtx is concerned; it
keeps its own account here so it survives across processes, and ``reconcile`` compares it
with qtx's own ``orders``/``fills``/``positions`` just as it would a real broker.
"""

from __future__ import annotations

from db.core import DB, now_iso


class PaperStore:
    def __init__(self, db: DB):
        self.db = db

    def transaction(self):
        return self.db.transaction()

    # account
    def account(self, capital: float) -> dict:
        self.db.conn.execute("INSERT OR IGNORE INTO paper_account(id, cash) VALUES (1, ?)", (capital,))
        return self.db.one("SELECT cash, last_bar_date FROM paper_account WHERE id = 1")

    def last_open(self) -> str | None:
        """The last date the venue acted on (filled at its open), without creating the account."""
        return self.db.scalar("SELECT last_bar_date FROM paper_account WHERE id = 1")

    def set_account(self, cash: float, last_bar_date: str | None) -> None:
        self.db.conn.execute("UPDATE paper_account SET cash = ?, last_bar_date = ? WHERE id = 1",
                             (cash, last_bar_date))

    # orders
    def order(self, client_order_id: str) -> dict | None:
        return self.db.one("SELECT * FROM paper_orders WHERE client_order_id = ?", (client_order_id,))

    def insert_order(self, o: dict) -> None:
        ts = now_iso()
        self.db.conn.execute(
            "INSERT INTO paper_orders(client_order_id, symbol, side, qty, order_type, limit_price, "
            "status, placed_date, reject_reason, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (o["client_order_id"], o["symbol"], o["side"], o["qty"], o.get("order_type", "market"),
             o.get("limit_price"), o["status"], o.get("placed_date"), o.get("reject_reason"), ts, ts))

    def update_order(self, client_order_id: str, **fields) -> None:
        fields["updated_at"] = now_iso()
        cols = ", ".join(f"{k} = ?" for k in fields)
        self.db.conn.execute(f"UPDATE paper_orders SET {cols} WHERE client_order_id = ?",
                             (*fields.values(), client_order_id))

    def open_orders(self) -> list[dict]:
        return self.db.query("SELECT * FROM paper_orders WHERE status IN ('new', 'partially_filled') ORDER BY id")

    # fills and holdings
    def insert_fill(self, f: dict) -> None:
        self.db.conn.execute(
            "INSERT OR IGNORE INTO paper_fills(exec_id, client_order_id, symbol, side, qty, price, fee, date, ts) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            (f["exec_id"], f["client_order_id"], f["symbol"], f["side"], f["qty"], f["price"], f["fee"],
             f["date"], f["ts"]))

    def fills(self, since: str | None = None) -> list[dict]:
        if since:
            return self.db.query("SELECT * FROM paper_fills WHERE date >= ? OR ts >= ? ORDER BY id", (since, since))
        return self.db.query("SELECT * FROM paper_fills ORDER BY id")

    def holdings(self) -> dict[str, dict]:
        return {r["symbol"]: r for r in self.db.query("SELECT symbol, qty, avg_price FROM paper_holdings")}

    def set_holding(self, symbol: str, qty: float, avg_price: float) -> None:
        if qty > 0:
            self.db.conn.execute(
                "INSERT INTO paper_holdings(symbol, qty, avg_price) VALUES (?, ?, ?) "
                "ON CONFLICT(symbol) DO UPDATE SET qty = excluded.qty, avg_price = excluded.avg_price",
                (symbol, qty, avg_price))
        else:
            self.db.conn.execute("DELETE FROM paper_holdings WHERE symbol = ?", (symbol,))

    # market data the paper venue trades on: the stored bars
    def opens_on(self, date: str, symbols: list[str]) -> dict[str, float]:
        if not symbols:
            return {}
        q = ",".join("?" * len(symbols))
        return {r["symbol"]: r["open"] for r in self.db.query(
            f"SELECT symbol, open FROM bars WHERE date = ? AND symbol IN ({q})", (date, *symbols))}

    def dates_after(self, after: str | None, upto: str, limit: int = -1) -> list[str]:
        """Dates with bars in ``(after, upto]``, ascending (the first ``limit`` of them)."""
        return [r[0] for r in self.db.conn.execute(
            "SELECT DISTINCT date FROM bars WHERE date > ? AND date <= ? ORDER BY date LIMIT ?",
            (after or "", upto, limit))]

    def has_bars_on(self, date: str) -> bool:
        return self.db.scalar("SELECT 1 FROM bars WHERE date = ? LIMIT 1", (date,)) is not None

    def symbols_with_bars(self, start: str, end: str, symbols: list[str]) -> set[str]:
        """Which of ``symbols`` have a bar dated in ``[start, end]``."""
        if not symbols:
            return set()
        q = ",".join("?" * len(symbols))
        return {r[0] for r in self.db.conn.execute(
            f"SELECT DISTINCT symbol FROM bars WHERE date >= ? AND date <= ? AND symbol IN ({q})",
            (start, end, *symbols))}

    def instruments(self) -> list[dict]:
        return self.db.query("SELECT symbol, sector, lot, tick, min_qty, min_notional, status FROM instruments")

    def known_symbol(self, symbol: str) -> bool:
        return self.db.scalar("SELECT 1 FROM bars WHERE symbol = ? LIMIT 1", (symbol,)) is not None

    def bars(self, symbol: str, start: str | None, end: str | None) -> list[dict]:
        sql = "SELECT symbol, date, open, high, low, close, volume FROM bars WHERE symbol = ?"
        params: list = [symbol]
        if start:
            sql += " AND date >= ?"
            params.append(start)
        if end:
            sql += " AND date <= ?"
            params.append(end)
        return self.db.query(sql + " ORDER BY date", tuple(params))
