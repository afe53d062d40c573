"""Shared setup for the Telegram tests: a config, a database and the listener in a thread."""

from __future__ import annotations

import asyncio
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from db import open_db
from pipeline.config import from_dict

TOKEN = "123456789:AAFakeTokenForTestsOnly-abcdefghijk"
TOKEN_ENV = "QTX_TEST_TELEGRAM_TOKEN"
CHAT = 4242
STRANGER = 6666


def make_config(tmp_path: Path, base_url: str, **telegram) -> tuple[Path, dict]:
    raw = {
        "market": "bybit",  # no market-closed days, so lateness is plain arithmetic
        "mode": "paper",
        "capital": 10000,
        "database": str(tmp_path / "qtx.sqlite"),
        "telegram": {"token_env": TOKEN_ENV, "allowed_chat_ids": [CHAT], "base_url": base_url,
                     "poll_timeout": 1, "outbox_poll_seconds": 0.2,
                     "watch_stages": [], **telegram},
    }
    path = tmp_path / "qtx.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path, raw


def settings_for(path: Path, raw: dict):
    s = from_dict(raw, path)
    open_db(s.db_path, market=s.market, mode=s.mode, create=True, capital=s.capital).close()
    return s


def db_for(settings):
    return open_db(settings.db_path, market=settings.market, mode=settings.mode)


@contextmanager
def running_listener(settings, timeout: float = 20, clock=None):
    """The real listener (PTB Application, long polling) in a thread with its own loop."""
    from control import listener

    stop, ready = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def target():
        try:
            asyncio.run(listener.run(settings, stop, token=TOKEN, ready=ready, clock=clock))
        except BaseException as e:  # surfaced to the test below
            errors.append(e)
            ready.set()

    t = threading.Thread(target=target, daemon=True)
    t.start()
    assert ready.wait(timeout), "listener did not start"
    if errors:
        raise errors[0]
    try:
        yield
    finally:
        stop.set()
        t.join(timeout)
        assert not t.is_alive(), "listener did not stop"
        if errors:
            raise errors[0]


@pytest.fixture
def fake():
    """A local Bot API server on loopback for the test, stopped after it."""
    from tests.fakes.telegram_bot_api import FakeBotAPI

    api = FakeBotAPI(TOKEN).start()
    yield api
    api.stop()
