"""The real listener (python-telegram-bot, long polling) against a local Bot API server."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from db import control as control_db
from db import events as events_db
from db import outbox as outbox_db
from db.core import now_iso
from tests.telegram_helpers import (
    CHAT,
    STRANGER,
    db_for,
    make_config,
    running_listener,
    settings_for,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def settings(tmp_path, fake):
    path, raw = make_config(tmp_path, fake.url)
    return settings_for(path, raw)


def _seed_portfolio(db):
    ts = now_iso()
    with db.transaction():
        for d, c in [("2026-11-18", 100.0), ("2026-11-19", 104.0),
                     ("2026-11-20", 110.0), ("2026-11-23", 108.0)]:
            db.conn.execute("INSERT INTO bars(symbol, date, open, high, low, close, volume) "
                            "VALUES ('A&B', ?, ?, ?, ?, ?, 1000)", (d, c, c, c, c))
            db.conn.execute("INSERT INTO bars(symbol, date, open, high, low, close, volume) "
                            "VALUES ('ZZZ', ?, 50, 50, 50, 50, 10)", (d,))
        db.conn.execute("INSERT INTO positions VALUES ('A&B', 10, 100, 100, '2026-11-18', NULL, ?)", (ts,))
        db.conn.execute("INSERT INTO positions VALUES ('ZZZ', 4, 55, 55, '2026-11-19', '2026-11-20', ?)", (ts,))
        db.conn.execute("INSERT INTO daily_metrics(date, cash, equity, peak, drawdown, daily_return, "
                        "positions, buy_blocked, size_multiplier, exposure, updated_at) VALUES "
                        "('2026-11-23', 8000, 9280, 9500, -0.0231, -0.01, 2, 0, 1.0, 0.14, ?)", (ts,))
        db.conn.execute("INSERT INTO orders(client_order_id, date, symbol, side, qty, status, "
                        "created_at, updated_at) VALUES ('c1', '2026-11-23', 'QQQ', 'BUY', 3, 'new', ?, ?)",
                        (ts, ts))


def _replies(fake, chat, n, timeout=15):
    assert fake.wait_for(lambda f: len(f.texts(chat)) >= n, timeout), fake.texts(chat)
    return fake.texts(chat)


def test_every_command_from_the_allowed_chat_is_answered(fake, settings):
    db = db_for(settings)
    _seed_portfolio(db)
    with running_listener(settings):
        assert fake.wait_for(lambda f: f.commands is not None)
        assert [c["command"] for c in fake.commands] == [
            "start", "stop", "status", "positions", "analysis", "report", "health", "help"]
        assert fake.method_count("getMe") >= 1 and fake.method_count("deleteWebhook") >= 1

        fake.push_command(CHAT, "/help")
        assert "/positions" in _replies(fake, CHAT, 1)[0]

        fake.push_command(CHAT, "/stop holiday week")
        text = _replies(fake, CHAT, 2)[1]
        assert "New buys blocked" in text
        f = control_db.flags(db)["trading_enabled"]
        assert f["value"] is False and f["reason"] == "holiday week"
        assert f["updated_by"] == f"telegram:{CHAT}"

        fake.push_command(CHAT, "/status")
        text = _replies(fake, CHAT, 3)[2]
        assert "stopped" in text and "holiday week" in text
        assert "9,280" in text and "-2.31%" in text and "Open orders: 1" in text and "QQQ" in text

        fake.push_command(CHAT, "/positions")
        text = _replies(fake, CHAT, 4)[3]
        # Values are escaped: the symbol A&B arrives as A&amp;B, never as raw markup.
        assert "A&amp;B" in text and "A&B" not in text
        assert "stop 96" in text  # 100 * (1 - 0.04), not armed
        assert "trailing 48.5" in text  # peak 50 * (1 - 0.03), armed
        assert "3d held" in text

        fake.push_command(CHAT, "/analysis")
        text = _replies(fake, CHAT, 5)[4]
        assert "Analysis" in text and "Trend filter" in text

        n = len(fake.sent)
        fake.push_command(CHAT, "/report")
        assert fake.wait_for(lambda f: len(f.sent) > n and any(
            "qtx daily report" in (m.get("text") or m.get("caption") or "") for m in f.sent[n:])), fake.sent[n:]
        report = [m for m in fake.sent[n:] if "daily report" in (m.get("text") or m.get("caption") or "")][0]
        body = report.get("caption") or report.get("text")
        assert "2026-11-23" in body and "A&amp;B" in body
        assert any(m["method"] == "sendPhoto" and m["photo_bytes"] > 0 for m in fake.sent[n:])

        fake.push_command(CHAT, "/start")
        assert fake.wait_for(lambda f: any("Automatic trading enabled" in t for t in f.texts(CHAT)))
        assert control_db.flags(db)["trading_enabled"]["value"] is True
        assert control_db.buy_block_reasons(db) == []

        fake.push_callback(CHAT, "status")
        assert fake.wait_for(lambda f: len(f.answered_callbacks) == 1)
        assert fake.wait_for(lambda f: f.texts(CHAT)[-1].startswith("<b>qtx status</b>"))
    assert all(m["parse_mode"] == "HTML" for m in fake.sent if m["method"] == "sendMessage")


def test_a_stranger_gets_nothing_and_the_operator_one_alert(fake, settings):
    db = db_for(settings)
    control_db.set_flag(db, "trading_enabled", False, reason="test")
    with running_listener(settings):
        fake.push_command(STRANGER, "/start")
        fake.push_command(STRANGER, "/status")
        fake.push_callback(STRANGER, "status")
        # A user outside the allowed users writing from... an allowed chat id is still a stranger
        # when allowed_user_ids is set; here only chats are configured.
        fake.push_command(CHAT, "/help")
        assert fake.wait_for(lambda f: any("/positions" in t for t in f.texts(CHAT)))
        assert fake.wait_for(lambda f: any("Unauthorized" in t for t in f.texts(CHAT)))
        time.sleep(1.0)  # give any wrong extra message the chance to show up
    assert fake.texts(STRANGER) == []
    assert fake.answered_callbacks == []
    assert control_db.flags(db)["trading_enabled"]["value"] is False  # the stranger's /start did nothing
    assert sum("Unauthorized" in t for t in fake.texts(CHAT)) == 1
    refused = events_db.recent(db, kind="unauthorized")
    assert len(refused) == 3 and {r["level"] for r in refused} == {"security"}
    assert refused[-1]["data"]["chat_id"] == STRANGER


def test_allowed_user_ids_also_gate_an_allowed_chat(fake, tmp_path):
    path, raw = make_config(tmp_path, fake.url, allowed_user_ids=[1])
    settings = settings_for(path, raw)
    with running_listener(settings):
        fake.push_command(CHAT, "/help", user_id=2)  # right chat, wrong person
        fake.push_command(CHAT, "/help", user_id=1)
        assert fake.wait_for(lambda f: sum("/positions" in t for t in f.texts(CHAT)) >= 1)
        assert fake.wait_for(lambda f: any("Unauthorized" in t for t in f.texts(CHAT)))
        time.sleep(0.5)
    assert sum("/positions" in t for t in fake.texts(CHAT)) == 1


def test_a_stale_start_after_an_outage_is_not_acted_on(fake, settings):
    db = db_for(settings)
    control_db.set_flag(db, "trading_enabled", False, reason="operator stop")
    fake.push_command(CHAT, "/start", date=int(time.time()) - 3600)  # sent during the outage
    with running_listener(settings):
        assert fake.wait_for(lambda f: any("Ignored" in t for t in f.texts(CHAT)))
        fake.push_command(CHAT, "/status")
        assert fake.wait_for(lambda f: any("qtx status" in t for t in f.texts(CHAT)))
    assert control_db.flags(db)["trading_enabled"]["value"] is False
    assert events_db.recent(db, kind="stale_command")


def test_a_long_report_is_split_and_arrives_whole_in_order(fake, settings):
    db = db_for(settings)
    lines = [f"<b>{i:04d}</b> {'A&amp;B' if i % 7 == 0 else 'row'} " + "x" * (i % 50) for i in range(600)]
    text = "<b>Daily report</b>\n" + "\n".join(lines)
    assert len(text) > 3 * 4096
    outbox_db.enqueue(db, "report", text)
    outbox_db.enqueue(db, "info", "after the report")
    with running_listener(settings):
        assert fake.wait_for(lambda f: "after the report" in f.texts(CHAT))
    texts = fake.texts(CHAT)
    parts, last = texts[:-1], texts[-1]
    assert last == "after the report" and len(parts) >= 4
    assert fake.rejected_long == 0
    assert all(len(p) <= 4096 for p in parts)
    assert "\n".join(p.rstrip("\n") for p in parts) == text
    assert outbox_db.pending(db) == []


def test_a_429_is_honoured_and_nothing_is_lost_or_doubled(fake, settings):
    db = db_for(settings)
    fake.fail_next_send(retry_after=2)
    for i in range(5):
        outbox_db.enqueue(db, "fill", f"fill {i}")
    with running_listener(settings):
        assert fake.wait_for(lambda f: len(f.texts(CHAT)) >= 5, timeout=30)
        time.sleep(0.5)
    assert fake.texts(CHAT) == [f"fill {i}" for i in range(5)]
    assert fake.early_retries == 0  # nothing was sent again before retry_after had passed
    assert db.scalar("SELECT COUNT(*) FROM outbox WHERE status = 'sent'") == 5


def test_a_photo_with_a_long_caption_sends_the_text_separately(fake, settings):
    db = db_for(settings)
    outbox_db.enqueue(db, "report", "<i>chart</i>\n" + "y" * 1500, photo=b"\x89PNG data")
    with running_listener(settings):
        assert fake.wait_for(lambda f: len(f.sent) >= 2)
        time.sleep(0.3)
    assert [m["method"] for m in fake.sent] == ["sendPhoto", "sendMessage"]
    assert fake.sent[0]["caption"] is None and fake.sent[0]["photo_bytes"] == len(b"\x89PNG data")
    assert fake.sent[1]["text"].startswith("<i>chart</i>")


def test_a_failed_stage_and_a_missed_slot_are_alerted_once(fake, tmp_path):
    path, raw = make_config(tmp_path, fake.url, watch_stages=["collect"])
    settings = settings_for(path, raw)
    db = db_for(settings)
    db.conn.execute("UPDATE meta SET value = '2026-01-01T00:00:00.000000Z' WHERE key = 'created_at'")
    old = "2026-11-20T00:05:00.000000Z"
    db.conn.execute("INSERT INTO runs(stage, started_at, ended_at, outcome) VALUES "
                    "('collect', ?, ?, 'ok')", (old, old))
    db.conn.execute("INSERT INTO runs(stage, started_at, ended_at, outcome, message) VALUES "
                    "('signal', ?, ?, 'failed', 'boom <script>')", (now_iso(), now_iso()))
    # Bybit collect is due daily at 00:05 UTC; at 12:00 the 23rd's slot is long past.
    clock = lambda: datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # noqa: E731
    for _ in range(2):  # two listener lifetimes: each incident still alerts once
        with running_listener(settings, clock=clock):
            assert fake.wait_for(lambda f: sum("signal failed" in t for t in f.texts(CHAT)) >= 1)
            assert fake.wait_for(lambda f: sum("collect late" in t for t in f.texts(CHAT)) >= 1)
            time.sleep(0.5)
    texts = fake.texts(CHAT)
    assert sum("signal failed" in t for t in texts) == 1
    assert sum("collect late" in t for t in texts) == 1
    assert any("2026-11-23 00:05 UTC" in t for t in texts)
    assert any("boom &lt;script&gt;" in t for t in texts)
    hb = db.one("SELECT value FROM meta WHERE key = 'listener_heartbeat'")
    assert hb and '"state": "stopped"' in hb["value"]
