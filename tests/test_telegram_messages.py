"""Typed messages: stages queue a kind plus data, never markup; Telegram renders HTML (every
value escaped), the terminal renders plain text."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from control.outbox_sender import OutboxSender
from db import outbox as outbox_db
from db.core import now_iso
from pipeline import alerts
from pipeline.stages import report as report_mod

NASTY = "<script>A&B</b>"
REPO = Path(__file__).resolve().parent.parent


class _Bot:
    def __init__(self):
        self.sent: list[dict] = []

    async def send_message(self, chat_id, text, **kw):
        self.sent.append({"text": text, "parse_mode": kw.get("parse_mode")})

    async def send_photo(self, chat_id, photo, caption=None, **kw):
        self.sent.append({"photo": photo, "text": caption, "parse_mode": kw.get("parse_mode")})


def _deliver(db) -> list[dict]:
    bot = _Bot()
    asyncio.run(OutboxSender(db, bot, [1]).drain())
    return bot.sent


def _fill(symbol=NASTY, reason="breakout & <i>pullback</i>"):
    return {"fill_id": "ex-1", "client_order_id": "c1", "symbol": symbol, "side": "BUY", "qty": 10.0,
            "price": 1234.5, "fee": 1.25, "date": "2026-11-23", "ts": "t", "broker_order_id": None,
            "fee_qty": 0.0}


def test_each_helper_queues_a_typed_payload_and_its_plain_text(qtx_db):
    alerts.risk_alert(qtx_db, "sector_cap", f"rejected {NASTY}", {"x": 1})
    alerts.error_alert(qtx_db, "order_rejected", f"BUY {NASTY}: balance")
    alerts.queue(qtx_db, "info", f"reconciled {NASTY}")
    alerts.fill(qtx_db, _fill(), "breakout & <i>pullback</i>")
    rows = qtx_db.query("SELECT kind, text, payload FROM outbox ORDER BY id")
    payloads = [json.loads(r["payload"]) for r in rows]
    assert [(r["kind"], p["type"]) for r, p in zip(rows, payloads, strict=True)] == [
        ("risk", "alert"), ("error", "alert"), ("info", "text"), ("fill", "fill")]
    assert payloads[0]["data"] == {"level": "risk", "title": "sector_cap", "message": f"rejected {NASTY}"}
    assert payloads[3]["data"]["symbol"] == NASTY and payloads[3]["data"]["qty"] == 10.0
    # The stored text is the words as written (no entities), the terminal's rendering.
    assert all(NASTY in r["text"] and "&lt;" not in r["text"] and "&amp;" not in r["text"] for r in rows)
    assert rows[3]["text"] == "✅ BUY <script>A&B</b> 10 @ 1,234.5 (fee 1.25) — breakout & <i>pullback</i> [2026-11-23]"


def test_telegram_renders_every_value_escaped(qtx_db):
    alerts.risk_alert(qtx_db, "sector_cap", f"rejected {NASTY}")
    alerts.fill(qtx_db, _fill(), "x<y")
    sent = _deliver(qtx_db)
    assert [m["parse_mode"] for m in sent] == ["HTML", "HTML"]
    assert sent[0]["text"] == "⚠️ <b>sector_cap</b>\nrejected &lt;script&gt;A&amp;B&lt;/b&gt;"
    assert sent[1]["text"].startswith("✅ <b>BUY</b> &lt;script&gt;A&amp;B&lt;/b&gt; 10 @ 1,234.5")
    assert "x&lt;y" in sent[1]["text"]
    assert "<script>" not in "".join(m["text"] for m in sent)


def test_a_fill_alert_is_queued_once_per_execution(qtx_db):
    assert alerts.fill(qtx_db, _fill(), "r") is not None
    assert alerts.fill(qtx_db, _fill(), "r") is None
    assert qtx_db.scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'fill'") == 1


def test_an_unknown_payload_type_is_refused_when_queued(qtx_db):
    with pytest.raises(ValueError, match="type must be one of"):
        alerts.send(qtx_db, "info", {"type": "html", "data": {"text": "<b>x</b>"}})
    assert qtx_db.scalar("SELECT COUNT(*) FROM outbox") == 0


def test_old_rows_go_as_their_html_and_a_payload_this_version_cannot_render_as_its_text(qtx_db):
    outbox_db.enqueue(qtx_db, "info", "<b>queued by schema 1</b>")  # before typed messages
    outbox_db.enqueue(qtx_db, "info", "a <newer> kind", payload=json.dumps({"type": "poll", "data": {}}))
    outbox_db.enqueue(qtx_db, "info", "after")
    sent = _deliver(qtx_db)
    assert [m["text"] for m in sent] == ["<b>queued by schema 1</b>", "a &lt;newer&gt; kind", "after"]
    assert outbox_db.pending(qtx_db) == []  # nothing blocked the queue


def _seed_report(db, symbol=NASTY):
    ts = now_iso()
    with db.transaction():
        for d, c in [("2026-11-20", 100.0), ("2026-11-23", 110.0)]:
            db.conn.execute("INSERT INTO bars(symbol, date, open, high, low, close, volume) "
                            "VALUES (?, ?, ?, ?, ?, ?, 1000)", (symbol, d, c, c, c, c))
            db.conn.execute("INSERT INTO daily_metrics(date, cash, equity, peak, drawdown, daily_return, "
                            "positions, buy_blocked, size_multiplier, exposure, updated_at) VALUES "
                            "(?, 8000, 9280, 9500, -0.0231, -0.01, 1, 0, 1.0, 0.14, ?)", (d, ts))
        db.conn.execute("INSERT INTO positions VALUES (?, 10, 100, 100, '2026-11-20', NULL, ?)", (symbol, ts))


def test_report_renders_as_text_for_the_terminal_and_escaped_html_for_telegram(qtx_db, qtx_settings, tmp_path):
    _seed_report(qtx_db)
    r = report_mod.run_report(qtx_db, qtx_settings, send=True, chart_path=str(tmp_path / "eq.png"))
    text = report_mod.to_text(r)
    assert "Day P&L" in text and f"{NASTY} 10 @ 100" in text and "&amp;" not in text
    assert not re.search(r"</?(b|i|code)>", text.replace(NASTY, ""))
    row = qtx_db.one("SELECT text, payload, photo FROM outbox WHERE kind = 'report'")
    assert row["text"] == text
    assert json.loads(row["payload"])["type"] == "report" and row["photo"][:4] == b"\x89PNG"
    sent = _deliver(qtx_db)
    assert sent[0]["photo"][:4] == b"\x89PNG"
    body = sent[0]["text"] or sent[1]["text"]
    assert body.startswith("<b>qtx daily report</b>") and "Day P&amp;L" in body
    assert "&lt;script&gt;A&amp;B&lt;/b&gt; 10 @ 100" in body and "<script>" not in body


def test_a_report_without_a_chart_has_null_not_the_string_none(qtx_db, qtx_settings, monkeypatch):
    _seed_report(qtx_db)
    monkeypatch.setattr(report_mod, "chart", lambda *a, **k: None)  # e.g. nothing to draw
    r = report_mod.run_report(qtx_db, qtx_settings, send=True)
    assert r["chart"] is None and r["queued"]
    row = qtx_db.one("SELECT photo, payload FROM outbox WHERE kind = 'report'")
    assert row["photo"] is None and json.loads(row["payload"])["data"]["chart"] is None
    # And with no metrics at all (an empty report), the same.
    qtx_db.conn.execute("DELETE FROM outbox")
    qtx_db.conn.execute("DELETE FROM daily_metrics")
    r = report_mod.run_report(qtx_db, qtx_settings, send=True)
    assert r["empty"] and r["chart"] is None
    assert qtx_db.one("SELECT photo FROM outbox WHERE kind = 'report'")["photo"] is None


def test_no_markup_in_pipeline():
    """Stages emit data; only the channels (control/, cli/) know HTML."""
    offenders = []
    for path in sorted((REPO / "pipeline").rglob("*.py")):
        src = path.read_text(encoding="utf-8")
        for pattern in (r"\bimport html\b", r"html\.escape", r"</?(b|i|code|pre|a)>", r"&(amp|lt|gt);"):
            if re.search(pattern, src):
                offenders.append(f"{path.relative_to(REPO)}: {pattern}")
    assert offenders == []


def test_the_terminal_report_command_prints_plain_text(tmp_path, run_cli, qtx_settings, qtx_db):
    _seed_report(qtx_db)
    code, out, _ = run_cli(["--config", qtx_settings.config_path, "report", "--chart", tmp_path / "eq.png"])
    assert code == 0 and "Day P&L" in out and NASTY in out and "&amp;" not in out
