"""``qtx telegram`` as the operator runs it: a real process against a local Bot API server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from db import outbox as outbox_db
from tests.telegram_helpers import CHAT, TOKEN, TOKEN_ENV, db_for, make_config, settings_for

QTX = str(Path(sys.executable).with_name("qtx"))
pytestmark = pytest.mark.timeout(120)


def _start(path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, TOKEN_ENV: TOKEN, "QTX_CONFIG": str(path)}
    return subprocess.Popen([QTX, "-v", "telegram", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _stop(p: subprocess.Popen) -> tuple[str, str]:
    p.send_signal(signal.SIGTERM)
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        pytest.fail("qtx telegram did not stop on SIGTERM:\n" + err[-3000:])
    return out, err


def test_messages_queued_while_down_arrive_once_in_order_after_start(fake, tmp_path):
    path, raw = make_config(tmp_path, fake.url)
    db = db_for(settings_for(path, raw))
    for i in range(6):
        outbox_db.enqueue(db, "fill", f"fill {i} <b>BUY</b> A&amp;B")
    outbox_db.enqueue(db, "report", "<b>report</b>", photo=b"\x89PNG...")
    assert fake.sent == []  # nobody was listening

    p = _start(path)
    try:
        assert fake.wait_for(lambda f: len(f.sent) >= 7, timeout=40), p.poll()
        fake.push_command(CHAT, "/help")
        assert fake.wait_for(lambda f: any("/positions" in t for t in f.texts(CHAT)), timeout=20)
    finally:
        out, err = _stop(p)
    assert p.returncode == 0, err[-3000:]
    assert fake.texts(CHAT)[:7] == [f"fill {i} <b>BUY</b> A&amp;B" for i in range(6)] + ["<b>report</b>"]
    assert fake.sent[6]["method"] == "sendPhoto"
    # The token never reaches the logs, even at -v (httpx logs request URLs with the token).
    assert TOKEN not in err and TOKEN not in out
    assert "/bot<redacted>" in err  # PTB logs its API URL at -v: it was there, redacted

    # A second lifetime sends only what is new.
    outbox_db.enqueue(db, "info", "after restart")
    n = len(fake.sent)
    p = _start(path)
    try:
        assert fake.wait_for(lambda f: "after restart" in f.texts(CHAT), timeout=40)
    finally:
        _, err = _stop(p)
    assert len(fake.sent) == n + 1
    assert db.scalar("SELECT COUNT(*) FROM outbox WHERE status <> 'sent'") == 0
    assert TOKEN not in db.conn.execute("SELECT group_concat(value) FROM meta").fetchone()[0]


def test_drain_delivers_and_exits(fake, tmp_path):
    path, raw = make_config(tmp_path, fake.url)
    db = db_for(settings_for(path, raw))
    fake.fail_next_send(retry_after=1)
    for i in range(3):
        outbox_db.enqueue(db, "info", f"m{i}")
    env = {**os.environ, TOKEN_ENV: TOKEN, "QTX_CONFIG": str(path)}
    r = subprocess.run([QTX, "telegram", "--drain", "--json"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert '"sent": 3' in r.stdout
    assert fake.texts(CHAT) == ["m0", "m1", "m2"] and fake.early_retries == 0
    assert TOKEN not in r.stderr


def test_missing_token_or_chats_is_a_config_error(fake, tmp_path):
    path, raw = make_config(tmp_path, fake.url)
    settings_for(path, raw)
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV} | {"QTX_CONFIG": str(path)}
    r = subprocess.run([QTX, "telegram"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and TOKEN_ENV in r.stderr
    path2, raw2 = make_config(tmp_path, fake.url, allowed_chat_ids=[])
    r = subprocess.run([QTX, "telegram"], env=env | {TOKEN_ENV: TOKEN, "QTX_CONFIG": str(path2)},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "allowed_chat_ids" in r.stderr


def test_drain_with_telegram_unreachable_keeps_the_message(tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path, raw = make_config(tmp_path, f"http://127.0.0.1:{port}", max_send_attempts=1)
    db = db_for(settings_for(path, raw))
    outbox_db.enqueue(db, "error", "must not be lost")
    env = {**os.environ, TOKEN_ENV: TOKEN, "QTX_CONFIG": str(path)}
    r = subprocess.run([QTX, "telegram", "--drain"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "cannot deliver" in r.stderr and "Traceback" not in r.stderr
    assert db.one("SELECT status FROM outbox")["status"] == "pending"  # kept for the next try
    assert TOKEN not in r.stderr
