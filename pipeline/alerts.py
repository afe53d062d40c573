"""Typed messages for the operator.  Stages call these; the Telegram listener delivers them.

A stage never formats for a channel: it queues a payload ``{"type": ..., "data": {...}}`` in the
outbox; ``lines`` here says what each type reads as, and each channel only styles those lines,
Telegram as HTML (``control.format.render``), the terminal as plain text (``to_text`` here, also
stored in the outbox's ``text`` column so an old reader still finds the words).  Types:

- ``text``: ``{"text"}``, a plain sentence (``queue``);
- ``alert``: ``{"level", "title", "message"}``, a risk trigger, an error, a stage incident, a
  refused stranger (``level`` is an ``events`` level: info, warning, risk, error, security);
- ``fill``: ``{"side", "symbol", "qty", "price", "fee", "reason", "date"}`` (``fill``);
- ``report``: the daily report of ``pipeline.stages.report.build``; its chart travels as the photo.
"""

from __future__ import annotations

import json

from db import DB, outbox
from db import events as events_db
from pipeline.styled import Line, plain, strong

TYPES = ("text", "alert", "fill", "report")
ICONS = {"info": "ℹ️", "warning": "⚠️", "risk": "⚠️", "error": "❌", "security": "🚫"}
FILL_ICON = "✅"


def send(db: DB, kind: str, payload: dict, photo: bytes | None = None,
         dedup_key: str | None = None) -> int | None:
    """Queue a typed message (``kind``: the outbox category, e.g. risk, fill, report).  With
    ``dedup_key`` a second message of the same key is ignored.  Returns the id, or None if
    deduplicated."""
    if payload.get("type") not in TYPES or not isinstance(payload.get("data"), dict):
        raise ValueError(f"outbox payload: type must be one of {', '.join(TYPES)} with a data "
                         f"object, got {payload.get('type')!r}")
    return outbox.enqueue(db, kind, to_text(payload), photo=photo, dedup_key=dedup_key,
                          payload=json.dumps(payload, sort_keys=True, default=str))


def queue(db: DB, kind: str, text: str, photo: bytes | None = None,
          dedup_key: str | None = None) -> int | None:
    """A plain-text message (no markup: each channel escapes it as it needs)."""
    return send(db, kind, {"type": "text", "data": {"text": text}}, photo=photo, dedup_key=dedup_key)


def notify(db: DB, kind: str, level: str, title: str, message: str,
           dedup_key: str | None = None) -> int | None:
    """An alert for the operator, without an ``events`` row (the caller records its own)."""
    return send(db, kind, {"type": "alert", "data": {"level": level, "title": title, "message": message}},
                dedup_key=dedup_key)


def risk_alert(db: DB, kind: str, message: str, data: dict | None = None,
               dedup_key: str | None = None) -> None:
    """Record a risk trigger as an event and queue it for the operator (once per dedup_key)."""
    events_db.record(db, "risk", kind, message, data)
    notify(db, "risk", "risk", kind, message, dedup_key=dedup_key)


def error_alert(db: DB, kind: str, message: str, data: dict | None = None,
                dedup_key: str | None = None) -> None:
    events_db.record(db, "error", kind, message, data)
    notify(db, "error", "error", kind, message, dedup_key=dedup_key)


def fill(db: DB, f: dict, reason: str | None) -> int | None:
    """A fill (``Fill.to_dict()``) for the operator, once per broker execution id."""
    data = {"side": f["side"], "symbol": f["symbol"], "qty": float(f["qty"]), "price": float(f["price"]),
            "fee": float(f["fee"]), "date": f["date"], "reason": reason or ""}
    return send(db, "fill", {"type": "fill", "data": data}, dedup_key=f"fill:{f['fill_id']}")


def report(db: DB, r: dict, photo: bytes | None = None) -> int | None:
    """The daily report (``pipeline.stages.report.build``), once per report date."""
    return send(db, "report", {"type": "report", "data": r}, photo=photo,
                dedup_key=f"report:{r['date']}" if r.get("date") else None)


def lines(payload: dict) -> list[Line]:
    """A payload's content, line by line, once for every channel (``pipeline.styled``)."""
    t, d = payload["type"], payload["data"]
    if t == "text":
        return [[d["text"]]]
    if t == "alert":
        return [[f"{ICONS.get(d['level'], '•')} ", strong(d["title"])], [d["message"]]]
    if t == "fill":
        return [[f"{FILL_ICON} ", strong(d["side"]),
                 f" {d['symbol']} {d['qty']:g} @ {d['price']:,.6g} (fee {d['fee']:,.4g}) — {d['reason']} [{d['date']}]"]]
    if t == "report":
        from pipeline.stages.report import lines as report_lines

        return report_lines(d)
    raise ValueError(f"outbox payload: unknown type {t!r}")


def to_text(payload: dict) -> str:
    """A payload as plain text (the terminal's rendering)."""
    return plain(lines(payload))


def parse(raw: str | None) -> dict | None:
    """The payload stored in an outbox row, or None for a row queued before typed messages
    (its ``text`` is then Telegram HTML)."""
    return json.loads(raw) if raw else None
