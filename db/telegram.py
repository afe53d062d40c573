"""State of the Telegram listener kept in ``meta``: its heartbeat and the outbox cursor.

The cursor records how far the message at the head of the outbox got (which chat/part units
Telegram already acknowledged), so a long message interrupted half way resumes where it
stopped instead of sending its first parts twice.
"""

from __future__ import annotations

import json

from db.core import DB, now_iso

HEARTBEAT_KEY = "listener_heartbeat"
CURSOR_KEY = "telegram_outbox_cursor"


def _put(db: DB, key: str, value: dict) -> None:
    db.conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, json.dumps(value, sort_keys=True)))


def _get(db: DB, key: str) -> dict | None:
    raw = db.scalar("SELECT value FROM meta WHERE key = ?", (key,))
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def beat(db: DB, pid: int, started_at: str, state: str = "running") -> str:
    """Record that the listener is alive now; returns the timestamp written."""
    ts = now_iso()
    _put(db, HEARTBEAT_KEY, {"ts": ts, "pid": pid, "started_at": started_at, "state": state})
    return ts


def heartbeat(db: DB) -> dict | None:
    """The listener's last heartbeat: ts, pid, started_at, state ('running' or 'stopped')."""
    return _get(db, HEARTBEAT_KEY)


def cursor(db: DB) -> dict:
    """``{"id": outbox id, "done": units acknowledged}`` for the message being delivered."""
    return _get(db, CURSOR_KEY) or {"id": None, "done": 0}


def set_cursor(db: DB, msg_id: int | None, done: int) -> None:
    _put(db, CURSOR_KEY, {"id": msg_id, "done": done})


def finish_message(db: DB, msg_id: int) -> None:
    """Mark an outbox message sent and reset the cursor, atomically."""
    with db.transaction():
        db.conn.execute("UPDATE outbox SET status = 'sent', sent_at = ? WHERE id = ?",
                        (now_iso(), msg_id))
        _put(db, CURSOR_KEY, {"id": None, "done": 0})


def outbox_counts(db: DB) -> dict[str, int]:
    return {r["status"]: r["n"] for r in
            db.query("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")}
