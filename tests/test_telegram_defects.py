"""Telegram defects found under faults (issue 12), each against the local Bot API server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from db import events as events_db
from tests.telegram_helpers import (
    CHAT,
    TOKEN,
    TOKEN_ENV,
    db_for,
    make_config,
    running_listener,
    settings_for,
)

QTX = str(Path(sys.executable).with_name("qtx"))
pytestmark = pytest.mark.timeout(120)

# Update.de_json raises on this (a chat must be an object): python-telegram-bot fails the whole
# getUpdates batch, and the offset never moves past it.
MALFORMED = {"message": {"message_id": 1, "date": 1764000000, "chat": "not an object", "text": "/help"}}


@pytest.fixture
def settings(tmp_path, fake):
    path, raw = make_config(tmp_path, fake.url)
    return settings_for(path, raw)


def _helps(fake) -> int:
    return sum("/positions" in t for t in fake.texts(CHAT))


def test_an_update_the_library_cannot_parse_is_skipped_with_an_event(fake, settings):
    db = db_for(settings)
    with running_listener(settings):
        fake.push_command(CHAT, "/help")
        assert fake.wait_for(lambda f: _helps(f) == 1)
        fake.push_raw(MALFORMED)
        fake.push_command(CHAT, "/help")
        assert fake.wait_for(lambda f: _helps(f) == 2), "the listener stopped answering"
        polls = fake.method_count("getUpdates")
        time.sleep(1.0)  # poll_timeout is 1 s: a stuck poller would ask hundreds of times
        assert fake.method_count("getUpdates") - polls < 10
    skipped = events_db.recent(db, kind="telegram_bad_update")
    assert len(skipped) == 1 and skipped[0]["level"] == "warning"
    assert skipped[0]["data"]["update_id"] == 2 and "TypeError" in skipped[0]["message"]
    assert _helps(fake) == 2  # the malformed /help was not acted on


def test_a_malformed_update_neither_floods_the_log_nor_fails_the_stop(fake, tmp_path):
    path, raw = make_config(tmp_path, fake.url)
    settings_for(path, raw)
    env = {**os.environ, TOKEN_ENV: TOKEN, "QTX_CONFIG": str(path)}
    p = subprocess.Popen([QTX, "telegram"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        fake.push_raw(MALFORMED)
        fake.push_command(CHAT, "/help")
        assert fake.wait_for(lambda f: _helps(f) == 1, timeout=40), p.poll()
        time.sleep(1.0)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            _, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
    assert p.returncode == 0, err[-3000:]
    assert len(err.splitlines()) < 20, err[-3000:]


def test_screen_update_keeps_good_updates_and_marks_bad_ones_by_id():
    from control.handlers import BAD_UPDATE, screen_update

    good = {"update_id": 7, "message": {"message_id": 1, "date": 1764000000,
                                        "chat": {"id": CHAT, "type": "private"}, "text": "/help"}}
    assert screen_update(good) is good
    bad = screen_update({"update_id": 8, **MALFORMED})
    assert bad["update_id"] == 8 and set(bad) == {"update_id", BAD_UPDATE}
    assert screen_update({"message": "no id"}) is None and screen_update("junk") is None


def test_edited_and_forwarded_messages_are_not_commands(fake, settings):
    from db import control as control_db

    db = db_for(settings)
    control_db.set_flag(db, "trading_enabled", True, reason="test")
    with running_listener(settings):
        fake.push_command(CHAT, "/stop", edited=True)  # an edit of an earlier message
        fake.push_command(CHAT, "/stop", forwarded=True)  # somebody else's words
        fake.push_command(CHAT, "/help")
        assert fake.wait_for(lambda f: _helps(f) == 1)
        assert fake.wait_for(lambda f: sum("Ignored" in t for t in f.texts(CHAT)) == 2)
        time.sleep(0.5)
        assert control_db.flags(db)["trading_enabled"]["value"] is True
        assert not any("New buys blocked" in t for t in fake.texts(CHAT))
        fake.push_command(CHAT, "/stop")  # typed anew: acted on
        assert fake.wait_for(lambda f: any("New buys blocked" in t for t in f.texts(CHAT)))
    assert control_db.flags(db)["trading_enabled"]["value"] is False
    ignored = events_db.recent(db, kind="ignored_update")
    assert sorted(e["data"]["kind"] for e in ignored) == ["edited", "forwarded"]


def test_only_new_messages_and_button_presses_are_acted_on():
    from datetime import UTC, datetime

    from control import auth

    now = datetime(2026, 11, 23, tzinfo=UTC)
    for kind in ("message", "callback"):
        v = auth.decide(auth.Who(CHAT, CHAT, kind=kind), now, [CHAT])
        assert v.allowed and not v.ignored
    for kind in ("edited", "forwarded", "other"):
        v = auth.decide(auth.Who(CHAT, CHAT, kind=kind), now, [CHAT])
        assert v.allowed and v.ignored and kind in v.reason
    # A stranger stays a stranger, whatever the kind of update.
    assert not auth.decide(auth.Who(1, 1, kind="edited"), now, [CHAT]).allowed


def test_alerts_about_strangers_are_capped_per_day_and_every_attempt_recorded(fake, settings):
    from control.handlers import STRANGER_ALERTS_PER_DAY as CAP

    db = db_for(settings)
    strangers = [7000 + i for i in range(CAP + 4)]
    with running_listener(settings):
        for s in strangers:
            fake.push_command(s, "/start")
        fake.push_command(strangers[0], "/status")  # a known stranger again: no new alert
        assert fake.wait_for(lambda f: any("more strangers" in t for t in f.texts(CHAT)))
        time.sleep(1.0)  # let any wrong extra alert arrive
    texts = fake.texts(CHAT)
    assert sum("Unauthorized access attempt" in t for t in texts) == CAP
    assert sum("more strangers" in t for t in texts) == 1
    assert all(fake.texts(s) == [] for s in strangers)
    refused = events_db.recent(db, kind="unauthorized", limit=100)
    assert len(refused) == len(strangers) + 1


def test_a_stop_waits_for_the_send_in_flight_only_and_the_rest_resumes_once(fake, settings):
    """launchd follows SIGTERM with SIGKILL after 20 s: a stop that first drained the whole
    backlog through a slow Telegram would be killed in the middle of a send (a duplicate)."""
    from db import outbox as outbox_db

    db = db_for(settings)
    fake.send_delay = 0.4
    for i in range(12):
        outbox_db.enqueue(db, "info", f"m{i}")
    with running_listener(settings):
        assert fake.wait_for(lambda f: len(f.sent) >= 2)
        t0 = time.monotonic()
    stop_took = time.monotonic() - t0
    delivered = len(fake.sent)
    assert delivered < 12 and stop_took < 5, (delivered, stop_took)  # not the whole backlog
    assert db.scalar("SELECT COUNT(*) FROM outbox WHERE status = 'sent'") == delivered
    fake.send_delay = 0
    with running_listener(settings):
        assert fake.wait_for(lambda f: len(f.sent) >= 12)
        time.sleep(0.5)
    assert fake.texts(CHAT) == [f"m{i}" for i in range(12)]  # each once, in order


def test_a_kill_duplicates_at_most_the_one_part_in_flight(fake, tmp_path):
    from db import outbox as outbox_db

    path, raw = make_config(tmp_path, fake.url)
    db = db_for(settings_for(path, raw))
    fake.send_delay = 1.0
    for i in range(4):
        outbox_db.enqueue(db, "info", f"m{i}")
    env = {**os.environ, TOKEN_ENV: TOKEN, "QTX_CONFIG": str(path)}
    p = subprocess.Popen([QTX, "telegram"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # The second send has reached Telegram, which delivers it after the listener is gone.
        assert fake.wait_for(lambda f: f.method_count("sendMessage") == 2, timeout=40)
    finally:
        p.kill()
        p.wait(timeout=30)
    assert fake.wait_for(lambda f: len(f.sent) == 2)
    fake.send_delay = 0
    p = subprocess.Popen([QTX, "telegram", "--drain"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    assert p.wait(timeout=60) == 0
    assert fake.texts(CHAT) == ["m0", "m1", "m1", "m2", "m3"]
