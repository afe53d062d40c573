"""Each broker adapter's small persistent store: key/value (a token with its expiry) and the map
from our client order id to the venue's order id.

Stages are separate processes, so an adapter keeps nothing it needs later in memory: a Kiwoom
token issued by ``collect`` is reused by ``execute``, and an order whose create timed out is
found again through the id map.  The map row is written *before* the create is sent; the venue
id is filled in as soon as the venue names it.
"""

from __future__ import annotations

from db.core import DB, now_iso


class BrokerStore:
    """The store of one adapter (``adapter`` namespaces the rows: ``kiwoom``, ``bybit``)."""

    def __init__(self, db: DB, adapter: str):
        self.db = db
        self.adapter = adapter

    # ----------------------------------------------------------------- key/value
    def get(self, key: str, now: str | None = None) -> str | None:
        """The value, or None when absent or expired (``expires_at`` <= ``now``, ISO UTC)."""
        row = self.db.one("SELECT value, expires_at FROM broker_kv WHERE adapter = ? AND key = ?",
                          (self.adapter, key))
        if row is None:
            return None
        if row["expires_at"] is not None and row["expires_at"] <= (now or now_iso()):
            return None
        return row["value"]

    def put(self, key: str, value: str, expires_at: str | None = None) -> None:
        with self.db.transaction():
            self.db.conn.execute(
                "INSERT INTO broker_kv(adapter, key, value, expires_at, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(adapter, key) DO UPDATE SET value = excluded.value, "
                "expires_at = excluded.expires_at, updated_at = excluded.updated_at",
                (self.adapter, key, value, expires_at, now_iso()))

    def delete(self, key: str) -> None:
        with self.db.transaction():
            self.db.conn.execute("DELETE FROM broker_kv WHERE adapter = ? AND key = ?", (self.adapter, key))

    # ----------------------------------------------------------------- id map
    def note_sending(self, client_order_id: str, symbol: str, side: str, qty: float) -> None:
        """Record that a create for ``client_order_id`` is about to be sent (before the request)."""
        ts = now_iso()
        with self.db.transaction():
            self.db.conn.execute(
                "INSERT INTO broker_order_ids(adapter, client_order_id, symbol, side, qty, sent_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(adapter, client_order_id) DO NOTHING",
                (self.adapter, client_order_id, symbol, side, qty, ts, ts))

    def note_venue_id(self, client_order_id: str, broker_order_id: str) -> None:
        with self.db.transaction():
            self.db.conn.execute(
                "UPDATE broker_order_ids SET broker_order_id = ?, updated_at = ? "
                "WHERE adapter = ? AND client_order_id = ?",
                (broker_order_id, now_iso(), self.adapter, client_order_id))

    def sent(self, client_order_id: str) -> dict | None:
        """The id-map row: ``broker_order_id`` (None until known), symbol, side, qty, sent_at."""
        return self.db.one("SELECT * FROM broker_order_ids WHERE adapter = ? AND client_order_id = ?",
                           (self.adapter, client_order_id))

    def venue_id(self, client_order_id: str) -> str | None:
        row = self.sent(client_order_id)
        return row["broker_order_id"] if row else None

    def client_id(self, broker_order_id: str) -> str | None:
        return self.db.scalar("SELECT client_order_id FROM broker_order_ids WHERE adapter = ? AND "
                              "broker_order_id = ?", (self.adapter, broker_order_id))

    def all_sent(self) -> list[dict]:
        return self.db.query("SELECT * FROM broker_order_ids WHERE adapter = ? ORDER BY sent_at",
                             (self.adapter,))
