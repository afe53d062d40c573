"""Pure parts of the control plane: HTML splitting, authorization, incident detection, and the
read-side views behind /positions and /analysis."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control import auth
from control import format as fmt
from control.outbox_sender import plan, split_html, u16
from pipeline.schedule import monitor

# -- splitting ----------------------------------------------------------------------------------


def _balanced(chunk: str) -> bool:
    stack = []
    for m in re.finditer(r"<(/)?([a-z-]+)[^>]*>", chunk):
        if m.group(1):
            if not stack or stack.pop() != m.group(2):
                return False
        else:
            stack.append(m.group(2))
    return not stack


def _visible(s: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", s))


def test_short_text_is_one_message():
    assert split_html("<b>hi</b>") == ["<b>hi</b>"]


def test_split_prefers_line_boundaries():
    text = "\n".join(f"line {i:05d} " + "z" * 60 for i in range(300))
    parts = split_html(text)
    assert len(parts) > 1
    assert all(u16(p) <= 4096 for p in parts)
    # every part but the last ends at a line end, so no line is cut in two
    assert all(p.endswith("\n") for p in parts[:-1])
    assert "".join(parts) == text


def test_a_block_spanning_parts_is_closed_and_reopened():
    text = "<pre>" + "\n".join(f"row {i:04d} {'y' * 70}" for i in range(200)) + "</pre>"
    parts = split_html(text)
    assert len(parts) > 1
    assert all(p.startswith("<pre>") and p.endswith("</pre>") and _balanced(p) for p in parts)
    assert "".join(_visible(p) for p in parts) == _visible(text)


def test_one_huge_line_is_cut_between_entities_not_inside():
    text = "<i>" + "a&lt;b &amp; " * 2000 + "</i>"
    parts = split_html(text)
    assert all(u16(p) <= 4096 and _balanced(p) for p in parts)
    for p in parts:
        assert not re.search(r"&[#\w]*$", p.removesuffix("</i>"))  # no entity cut at the end
        assert not re.match(r"^[#\w]*;", p.removeprefix("<i>"))  # nor at the start
    assert "".join(_visible(p) for p in parts) == _visible(text)


def test_astral_characters_count_twice():
    text = "😀" * 3000  # 6000 UTF-16 units
    parts = split_html(text)
    assert [u16(p) for p in parts] == [4096, 1904]
    assert "".join(parts) == text


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["", "b", "i", "code"]),
                          st.text(alphabet=st.characters(blacklist_categories=("Cs",)),
                                  max_size=900)), max_size=40),
       st.integers(min_value=64, max_value=4096))
def test_split_keeps_every_visible_character_and_valid_markup(pieces, limit):
    text = "".join(f"<{t}>{html.escape(s, quote=False)}</{t}>" if t else html.escape(s, quote=False)
                   for t, s in pieces)
    parts = split_html(text, limit)
    assert all(u16(p) <= limit for p in parts)
    assert all(_balanced(p) for p in parts)
    # Whitespace-only parts are dropped (Telegram refuses empty messages); nothing else is.
    assert "".join(_visible(p) for p in parts).strip() == _visible(text).strip() or \
        re.sub(r"\s", "", "".join(_visible(p) for p in parts)) == re.sub(r"\s", "", _visible(text))


def test_photo_caption_over_1024_goes_as_separate_text():
    units = plan({"text": "x" * 1500, "photo": b"png"}, [1, 2])
    assert [(u.chat_id, u.kind, u.text is None) for u in units] == [
        (1, "photo", True), (1, "text", False), (2, "photo", True), (2, "text", False)]
    assert plan({"text": "short", "photo": b"png"}, [1])[0].text == "short"


# -- authorization ------------------------------------------------------------------------------

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_only_allowed_chats_and_users():
    ok = auth.Who(chat_id=10, user_id=5)
    assert auth.decide(ok, NOW, [10]).allowed
    assert not auth.decide(auth.Who(chat_id=11, user_id=5), NOW, [10]).allowed
    assert not auth.decide(auth.Who(chat_id=None, user_id=5), NOW, [10]).allowed
    assert auth.decide(ok, NOW, [10], [5]).allowed
    assert not auth.decide(auth.Who(chat_id=10, user_id=6), NOW, [10], [5]).allowed
    assert not auth.decide(auth.Who(chat_id=10, user_id=None), NOW, [10], [5]).allowed
    assert not auth.decide(ok, NOW, []).allowed  # nobody configured: nobody served


def test_old_commands_are_stale_only_for_allowed_senders():
    old = auth.Who(chat_id=10, user_id=5, sent_at=NOW - timedelta(seconds=301))
    fresh = auth.Who(chat_id=10, user_id=5, sent_at=NOW - timedelta(seconds=299))
    assert auth.decide(old, NOW, [10], stale_seconds=300).stale
    assert not auth.decide(fresh, NOW, [10], stale_seconds=300).stale
    assert not auth.decide(old, NOW, [10], stale_seconds=0).stale  # 0 turns the check off


def test_stranger_key_is_per_sender_per_day():
    a = auth.Who(chat_id=1, user_id=7)
    assert auth.stranger_key(a, "2026-11-23") != auth.stranger_key(a, "2026-11-24")
    assert auth.stranger_key(a, "2026-11-23") != auth.stranger_key(auth.Who(1, 8), "2026-11-23")


# -- incidents ----------------------------------------------------------------------------------

SLOT = datetime(2026, 11, 23, 0, 5, tzinfo=UTC)
GRACE = timedelta(minutes=30)


def _run(stage, outcome="ok", started="2026-11-22T00:05:00Z", rid=1, last_ok=None):
    return {"stage": stage, "id": rid, "outcome": outcome, "started_at": started, "ended_at": started,
            "message": None, "last_ok_id": rid if outcome == "ok" else None,
            "last_ok_started": last_ok if last_ok is not None else (started if outcome == "ok" else None)}


def test_late_only_after_the_grace_and_once_per_slot():
    runs = [_run("collect")]
    slots = {"collect": SLOT}
    assert monitor.incidents(runs, slots, GRACE, SLOT + timedelta(minutes=29)) == []
    inc = monitor.incidents(runs, slots, GRACE, SLOT + timedelta(minutes=31))
    assert [(i.stage, i.kind) for i in inc] == [("collect", "late")]
    later = monitor.incidents(runs, slots, GRACE, SLOT + timedelta(hours=5))
    assert [i.key for i in later] == [i.key for i in inc]  # same incident, same dedup key


def test_a_run_at_the_slot_is_not_late_and_before_baseline_nothing_is_expected():
    done = [_run("collect", started="2026-11-23T00:04:00Z")]  # launchd a minute early
    assert monitor.incidents(done, {"collect": SLOT}, GRACE, SLOT + timedelta(hours=1)) == []
    assert monitor.incidents([], {"collect": SLOT}, GRACE, SLOT + timedelta(hours=1),
                               baseline=SLOT + timedelta(minutes=1)) == []
    never = monitor.incidents([], {"collect": SLOT}, GRACE, SLOT + timedelta(hours=1), baseline=SLOT)
    assert [i.kind for i in never] == ["late"] and "never" in never[0].message


def test_each_failed_run_is_one_incident():
    a = monitor.incidents([_run("signal", "failed", rid=3)], {}, GRACE, SLOT)
    b = monitor.incidents([_run("signal", "failed", rid=4)], {}, GRACE, SLOT)
    assert [i.kind for i in a] == ["failed"] and a[0].key != b[0].key
    assert monitor.incidents([_run("signal", "skipped", rid=5)], {}, GRACE, SLOT) == []


def test_stage_alert_escapes_the_message(qtx_db):
    from db import outbox as outbox_db
    from pipeline import alerts

    alerts.notify(qtx_db, "stage", "error", "collect failed", "<b>bad</b> & worse")
    row = outbox_db.pending(qtx_db)[0]
    assert "&lt;b&gt;bad&lt;/b&gt; &amp; worse" in fmt.message_html(row)
    assert "<b>bad</b> & worse" in row["text"]  # the plain rendering keeps the words as written


@pytest.mark.parametrize("value", ["<script>", "a&b", "</b>"])
def test_formatters_escape_every_value(value):
    rows = [{"symbol": value, "qty": 1, "avg_price": 1, "last_price": 1, "last_date": value, "pnl": 0,
             "pnl_pct": 0, "days_held": 1, "armed": False, "stop_level": 1, "take_profit_level": 1,
             "trailing_level": None, "peak": None, "armed_date": None}]
    out = fmt.positions(rows)
    assert html.escape(value, quote=False) in out
    assert _balanced(out) and "<script>" not in out


# -- the sender's bookkeeping (a stub bot; the real one runs in test_telegram_listener) ---------


class _StubBot:
    def __init__(self, fail_at: dict[int, Exception]):
        self.fail_at = fail_at  # call number -> exception raised on that call
        self.calls = 0
        self.delivered: list[str] = []

    async def send_message(self, chat_id, text, **kw):
        self.calls += 1
        if self.calls in self.fail_at:
            raise self.fail_at.pop(self.calls)
        self.delivered.append(text)

    async def send_photo(self, chat_id, photo, caption=None, **kw):
        await self.send_message(chat_id, f"PHOTO {caption}")


def test_a_long_message_interrupted_half_way_resumes_at_the_next_part(qtx_db):
    import asyncio

    from telegram.error import NetworkError

    from control.outbox_sender import OutboxSender
    from db import outbox as outbox_db

    text = "\n".join(f"line {i} " + "w" * 80 for i in range(150))  # 3+ parts
    parts = split_html(text)
    assert len(parts) >= 3
    outbox_db.enqueue(qtx_db, "report", text)
    outbox_db.enqueue(qtx_db, "info", "next")
    bot = _StubBot({2: NetworkError("connection reset")})
    sender = OutboxSender(qtx_db, bot, [1])
    first = asyncio.run(sender.drain())
    assert first["pending"] and bot.delivered == parts[:1]
    row = qtx_db.one("SELECT status, attempts FROM outbox ORDER BY id LIMIT 1")
    assert row == {"status": "pending", "attempts": 1}
    sender.not_before = 0  # the backoff has passed
    second = asyncio.run(sender.drain())
    assert second["sent"] == 2 and not second["pending"]
    assert bot.delivered == parts + ["next"]  # part 1 not repeated, order kept


def test_a_message_telegram_keeps_refusing_is_given_up_and_the_queue_moves_on(qtx_db):
    import asyncio

    from telegram.error import BadRequest

    from control.outbox_sender import OutboxSender
    from db import events as events_db
    from db import outbox as outbox_db

    outbox_db.enqueue(qtx_db, "info", "refused")
    outbox_db.enqueue(qtx_db, "info", "fine")
    bot = _StubBot({1: BadRequest("Chat not found"), 2: BadRequest("Chat not found")})
    sender = OutboxSender(qtx_db, bot, [1], max_attempts=2)
    asyncio.run(sender.drain())
    sender.not_before = 0
    res = asyncio.run(sender.drain())
    assert res["failed"] == 1 and res["sent"] == 1 and bot.delivered == ["fine"]
    assert [r["status"] for r in qtx_db.query("SELECT status FROM outbox ORDER BY id")] == ["failed", "sent"]
    assert events_db.recent(qtx_db, kind="telegram_send_failed")


def test_html_telegram_cannot_parse_is_sent_as_plain_text(qtx_db):
    import asyncio

    from telegram.error import BadRequest

    from control.outbox_sender import OutboxSender
    from db import outbox as outbox_db

    outbox_db.enqueue(qtx_db, "downtime", "<b>down</b> for 3 h &amp; back <oops")
    bot = _StubBot({1: BadRequest("Can't parse entities: unsupported start tag")})
    asyncio.run(OutboxSender(qtx_db, bot, [1]).drain())
    assert bot.delivered == ["down for 3 h & back <oops"]
