"""The Bot API fake behaves as Telegram does with requests our client may leave half-sent.

Found by the soak: the listener, SIGKILLed between writing a sendMessage's headers and its
body, left the fake a request with no body; the fake took it as complete and failed with
``KeyError: 'chat_id'`` (and a body cut later would have been delivered, then sent again by
the restarted listener: a double Telegram never makes).  None of qtx's sends omits chat_id."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from tests.fakes.telegram_bot_api import FakeBotAPI

TOKEN = "123456:fake-token"
BODY = b"chat_id=4242&text=hello&parse_mode=HTML"


@pytest.fixture
def api():
    fake = FakeBotAPI(TOKEN).start()
    yield fake
    fake.stop()


def _half_sent(api: FakeBotAPI, body_bytes: int) -> None:
    """A sendMessage whose client dies after ``body_bytes`` bytes of its body."""
    s = socket.create_connection(("127.0.0.1", int(api.url.rsplit(":", 1)[1])))
    head = (f"POST /bot{TOKEN}/sendMessage HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(BODY)}\r\n\r\n").encode()
    s.sendall(head + BODY[:body_bytes])
    time.sleep(0.1)
    s.close()
    time.sleep(0.3)


@pytest.mark.parametrize("body_bytes", [0, 8, len(BODY) - 3], ids=["no-body", "cut-in-chat_id", "cut-late"])
def test_a_request_whose_client_died_mid_body_is_neither_delivered_nor_an_error(api, capfd, body_bytes):
    _half_sent(api, body_bytes)
    assert api.sent == [] and api.requests == []
    err = capfd.readouterr().err
    assert "KeyError" not in err and "Exception occurred" not in err


def _post(api: FakeBotAPI, method: str, fields: dict) -> tuple[int, dict]:
    req = urllib.request.Request(f"{api.url}/bot{TOKEN}/{method}", data=json.dumps(fields).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize("method,fields", [("sendMessage", {"text": "hi"}), ("sendPhoto", {"caption": "hi"})])
def test_a_complete_send_without_chat_id_is_refused_as_telegram_does(api, capfd, method, fields):
    status, body = _post(api, method, fields)
    assert (status, body["description"]) == (400, "Bad Request: chat_id is empty")
    assert api.sent == []
    assert "KeyError" not in capfd.readouterr().err
    # and a whole one still goes through
    status, body = _post(api, "sendMessage", {"chat_id": 4242, "text": "hi"})
    assert status == 200 and api.sent[0]["chat_id"] == 4242
