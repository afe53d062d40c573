"""Queue messages for the operator.  Stages call these; the Telegram listener delivers them.

Text is Telegram HTML: callers pass plain values, escaped here or by ``control.format``.
"""

from __future__ import annotations

import html

from db import DB, outbox
from db import events as events_db


def queue(db: DB, kind: str, text: str, photo: bytes | None = None,
          dedup_key: str | None = None) -> int | None:
    return outbox.enqueue(db, kind, text, photo=photo, dedup_key=dedup_key)


def risk_alert(db: DB, kind: str, message: str, data: dict | None = None,
               dedup_key: str | None = None) -> None:
    """Record a risk trigger as an event and queue it for the operator (once per dedup_key)."""
    events_db.record(db, "risk", kind, message, data)
    queue(db, "risk", f"⚠️ <b>{html.escape(kind)}</b>\n{html.escape(message)}", dedup_key=dedup_key)


def error_alert(db: DB, kind: str, message: str, data: dict | None = None,
                dedup_key: str | None = None) -> None:
    events_db.record(db, "error", kind, message, data)
    queue(db, "error", f"❌ <b>{html.escape(kind)}</b>\n{html.escape(message)}", dedup_key=dedup_key)
