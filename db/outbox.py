"""The ``outbox`` table: messages waiting for Telegram, delivered in id order, each once.

A row holds a typed message (``payload``: JSON ``{"type", "data"}``, see ``pipeline.alerts``)
and its plain-text rendering in ``text``.  A row without a payload was queued before typed
messages (schema 1): its ``text`` is Telegram HTML.
"""

from __future__ import annotations

from db.core import DB, now_iso


def enqueue(db: DB, kind: str, text: str, photo: bytes | None = None,
            dedup_key: str | None = None, payload: str | None = None) -> int | None:
    """Queue a message; with ``dedup_key`` a second message of the same key is ignored
    (so a stage that is rerun does not alert twice).  Returns the id, or None if deduplicated."""
    cur = db.conn.execute(
        "INSERT OR IGNORE INTO outbox(created_at, kind, text, photo, dedup_key, payload) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (now_iso(), kind, text, photo, dedup_key, payload),
    )
    return cur.lastrowid if cur.rowcount else None


def pending(db: DB, limit: int = 50) -> list[dict]:
    return db.query(
        "SELECT id, created_at, kind, text, payload, photo, attempts FROM outbox "
        "WHERE status = 'pending' ORDER BY id LIMIT ?", (limit,))


def mark_attempt(db: DB, msg_id: int, error: str, give_up: bool = False) -> None:
    db.conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?, status = ? WHERE id = ?",
        (error[:500], "failed" if give_up else "pending", msg_id))


def latest(db: DB, kind: str) -> dict | None:
    """The newest queued message of ``kind`` (sent or not), e.g. the last daily report."""
    return db.one("SELECT id, created_at, kind, text, payload, photo, status FROM outbox "
                  "WHERE kind = ? ORDER BY id DESC LIMIT 1", (kind,))


def has_key(db: DB, dedup_key: str) -> bool:
    return db.scalar("SELECT 1 FROM outbox WHERE dedup_key = ?", (dedup_key,)) is not None


def count_keys(db: DB, prefix: str, suffix: str) -> int:
    """Messages whose dedup key starts with ``prefix`` and ends with ``suffix`` (the range
    uses the key's unique index)."""
    return db.scalar("SELECT COUNT(*) FROM outbox WHERE dedup_key >= ? AND dedup_key < ? "
                     "AND dedup_key LIKE ? ESCAPE '\\'",
                     (prefix, prefix + "\U0010ffff", "%" + _like_escape(suffix)))


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
