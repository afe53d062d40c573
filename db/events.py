"""The ``events`` table: info, warnings, errors, risk triggers, unauthorized attempts."""

from __future__ import annotations

import json
from typing import Any

from db.core import DB, now_iso

LEVELS = ("info", "warning", "error", "risk", "security")


def record(db: DB, level: str, kind: str, message: str, data: dict[str, Any] | None = None) -> int:
    if level not in LEVELS:
        raise ValueError(f"event level must be one of {LEVELS}, not {level!r}")
    cur = db.conn.execute(
        "INSERT INTO events(ts, level, kind, message, data) VALUES (?, ?, ?, ?, ?)",
        (now_iso(), level, kind, message,
         json.dumps(data, default=str, sort_keys=True) if data is not None else None),
    )
    return cur.lastrowid


def recent(db: DB, limit: int = 50, kind: str | None = None, since: str | None = None) -> list[dict]:
    sql = "SELECT id, ts, level, kind, message, data FROM events WHERE 1=1"
    params: list[Any] = []
    if kind:
        sql += " AND kind = ?"
        params.append(kind)
    if since:
        sql += " AND ts >= ?"
        params.append(since)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    rows = db.query(sql, tuple(params))
    for r in rows:
        r["data"] = json.loads(r["data"]) if r["data"] else None
    return rows


def count_since(db: DB, kind: str, since: str, key: str | None = None) -> int:
    """Events of ``kind`` since ``since``; with ``key``, only those whose data.key matches."""
    if key is None:
        return db.scalar("SELECT COUNT(*) FROM events WHERE kind = ? AND ts >= ?", (kind, since))
    return db.scalar(
        "SELECT COUNT(*) FROM events WHERE kind = ? AND ts >= ? AND json_extract(data, '$.key') = ?",
        (kind, since, key),
    )


def latest_by(db: DB, kind: str, field: str) -> dict[Any, dict | None]:
    """``value -> data`` of the newest event of ``kind`` for each value of ``data.<field>``: one
    pass over the kind, for a caller that would otherwise ask ``last_matching`` value by value
    (each such question reads every event of the kind)."""
    out: dict[Any, dict | None] = {}
    for value, data in db.conn.execute(
            f"SELECT json_extract(data, '$.{field}'), data FROM events WHERE kind = ? ORDER BY id", (kind,)):
        out[value] = json.loads(data) if data else None
    return out


def last_matching(db: DB, kind: str, field: str, value: Any) -> dict | None:
    """The newest event of ``kind`` whose ``data.<field>`` equals ``value`` (data decoded)."""
    row = db.one(
        "SELECT id, ts, level, kind, message, data FROM events WHERE kind = ? "
        f"AND json_extract(data, '$.{field}') = ? ORDER BY id DESC LIMIT 1", (kind, value))
    if row:
        row["data"] = json.loads(row["data"]) if row["data"] else None
    return row
