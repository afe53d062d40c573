"""A local Telegram Bot API server for tests (stdlib only, 127.0.0.1, random port).

It speaks the subset qtx uses: getMe, deleteWebhook, getUpdates (long poll with offset),
sendMessage, sendPhoto (multipart), setMyCommands, answerCallbackQuery. Tests push updates with
``push_command`` / ``push_callback`` and read what the bot sent from ``sent``.

Fault hooks: ``fail_next_send(retry_after)`` makes the next sendMessage answer 429 with
``parameters.retry_after``; until that time passes every further send is also refused and
counted in ``early_retries`` (so a test can check the client waited, without timing asserts).
``send_delay`` makes every send take that many seconds (a slow Telegram); ``push_raw`` serves
an update exactly as given (a malformed one, say); ``push_command(edited=True)`` /
``(forwarded=True)`` send an edited or a forwarded message.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs

from tests.fakes.server import LocalServer

MAX_TEXT = 4096
MAX_CAPTION = 1024
BOT_ID = 777000111


def _utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


class FakeBotAPI(LocalServer):
    def __init__(self, token: str):
        self.token = token
        self.requests: list[tuple[str, dict]] = []  # (method, params) in arrival order
        self.sent: list[dict] = []  # sendMessage / sendPhoto that succeeded
        self.commands: list[dict] | None = None
        self.answered_callbacks: list[str] = []
        self.early_retries = 0
        self.rejected_long = 0
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._cond = threading.Condition()
        self._fail_next: list[int] = []
        self.send_delay = 0.0  # seconds each sendMessage/sendPhoto takes before it is answered
        self._banned_until = 0.0

    # -- lifecycle (LocalServer) --------------------------------------------------------------
    def handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                api._handle(self)

            do_GET = do_POST

        return Handler

    def stop(self) -> None:
        with self._cond:  # wake the long polls
            self._cond.notify_all()
        super().stop()

    # -- test controls -----------------------------------------------------------------------
    def push_command(self, chat_id: int, text: str, user_id: int | None = None,
                     date: int | None = None, edited: bool = False, forwarded: bool = False) -> None:
        """A message as a user would type it; a leading /command gets its bot_command entity.
        ``edited``: an edit of an earlier message; ``forwarded``: forwarded from another user."""
        user_id = chat_id if user_id is None else user_id
        msg = {
            "message_id": next(self._message_ids),
            "date": int(time.time()) if date is None else date,
            "chat": {"id": chat_id, "type": "private", "first_name": "op"},
            "from": {"id": user_id, "is_bot": False, "first_name": "op"},
            "text": text,
        }
        if text.startswith("/"):
            msg["entities"] = [{"type": "bot_command", "offset": 0,
                                "length": len(text.split()[0])}]
        if forwarded:
            msg["forward_origin"] = {"type": "user", "date": msg["date"] - 60,
                                     "sender_user": {"id": 999, "is_bot": False, "first_name": "x"}}
        if edited:
            msg["edit_date"] = msg["date"]
            self._push({"edited_message": msg})
        else:
            self._push({"message": msg})

    def push_raw(self, update: dict) -> None:
        """An update exactly as given (plus its update_id): e.g. one the client cannot parse."""
        self._push(dict(update))

    def push_callback(self, chat_id: int, data: str, user_id: int | None = None) -> None:
        user_id = chat_id if user_id is None else user_id
        self._push({"callback_query": {
            "id": f"cb{next(self._message_ids)}",
            "from": {"id": user_id, "is_bot": False, "first_name": "op"},
            "chat_instance": "ci",
            "data": data,
            "message": {"message_id": next(self._message_ids), "date": int(time.time()),
                        "chat": {"id": chat_id, "type": "private"}, "text": "old"},
        }})

    def fail_next_send(self, retry_after: int) -> None:
        with self._cond:
            self._fail_next.append(retry_after)

    def wait_for(self, pred, timeout: float = 15.0) -> bool:
        """Wait until ``pred(self)`` holds (checked whenever something arrives)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))
            return True

    def texts(self, chat_id: int | None = None) -> list[str]:
        with self._cond:
            return [m.get("text") or m.get("caption") or "" for m in self.sent
                    if chat_id is None or m["chat_id"] == chat_id]

    def method_count(self, method: str) -> int:
        with self._cond:
            return sum(1 for m, _ in self.requests if m == method)

    def _push(self, update: dict) -> None:
        with self._cond:
            update["update_id"] = next(self._update_ids)
            self._updates.append(update)
            self._cond.notify_all()

    # -- request handling --------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        prefix = f"/bot{self.token}/"
        if not h.path.startswith(prefix):
            return self._reply(h, 404, {"ok": False, "error_code": 404, "description": "Not Found"})
        method = h.path[len(prefix):].split("?")[0]
        params = self._params(h)
        with self._cond:
            self.requests.append((method, {k: v for k, v in params.items() if k != "photo"}))
            self._cond.notify_all()
        fn = getattr(self, f"_m_{method}", None)
        if fn is None:
            return self._reply(h, 404, {"ok": False, "error_code": 404, "description": "Not Found"})
        status, body = fn(params)
        self._reply(h, status, body)

    def _params(self, h: BaseHTTPRequestHandler) -> dict:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        if len(raw) < length:
            # The client died mid-request (the soak SIGKILLs the listener): Telegram acts on no
            # half-sent request, so neither does the fake (the quiet server drops the connection).
            raise ConnectionAbortedError(f"body cut at {len(raw)} of {length} bytes")
        ctype = h.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            msg = BytesParser(policy=email_policy).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
            out = {}
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                out[name] = payload if part.get_filename() else payload.decode()
            return out
        if ctype.startswith("application/json"):
            return json.loads(raw or b"{}")
        return {k: v[0] for k, v in parse_qs(raw.decode()).items()}

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        try:
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (listener stopped)
            pass

    @staticmethod
    def _ok(result) -> tuple[int, dict]:
        return 200, {"ok": True, "result": result}

    def _m_getMe(self, p):
        return self._ok({"id": BOT_ID, "is_bot": True, "first_name": "qtx", "username": "qtx_test_bot",
                         "can_join_groups": False, "can_read_all_group_messages": False,
                         "supports_inline_queries": False})

    def _m_deleteWebhook(self, p):
        return self._ok(True)

    def _m_setMyCommands(self, p):
        cmds = p.get("commands")
        with self._cond:
            self.commands = json.loads(cmds) if isinstance(cmds, str) else cmds
        return self._ok(True)

    def _m_answerCallbackQuery(self, p):
        with self._cond:
            self.answered_callbacks.append(p.get("callback_query_id"))
        return self._ok(True)

    def _m_getUpdates(self, p):
        offset = int(p.get("offset") or 0)
        timeout = float(p.get("timeout") or 0)
        deadline = time.monotonic() + min(timeout, 5.0)
        with self._cond:
            if offset:  # confirming: everything below offset is gone for good
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while True:
                ready = [u for u in self._updates if u["update_id"] >= offset]
                left = deadline - time.monotonic()
                if ready or left <= 0:
                    return self._ok(ready[:100])
                self._cond.wait(min(left, 0.2))

    def _flood_check(self):
        with self._cond:
            now = time.monotonic()
            if self._fail_next:
                ra = self._fail_next.pop(0)
                self._banned_until = now + ra
                return 429, {"ok": False, "error_code": 429,
                             "description": f"Too Many Requests: retry after {ra}",
                             "parameters": {"retry_after": ra}}
            if now < self._banned_until:
                self.early_retries += 1
                ra = max(1, int(self._banned_until - now + 0.999))
                return 429, {"ok": False, "error_code": 429,
                             "description": f"Too Many Requests: retry after {ra}",
                             "parameters": {"retry_after": ra}}
        return None

    def _message(self, chat_id, **fields) -> dict:
        return {"message_id": next(self._message_ids), "date": int(time.time()),
                "chat": {"id": int(chat_id), "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "qtx"}, **fields}

    def _refusal(self, p) -> tuple[int, dict] | None:
        """What a send gets before its content counts: no chat (400), then, after the slow
        Telegram's ``send_delay``, a flood wait (429); None when it may go on."""
        if not p.get("chat_id"):
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat_id is empty"}
        if self.send_delay:
            time.sleep(self.send_delay)
        return self._flood_check()

    def _m_sendMessage(self, p):
        refused = self._refusal(p)
        if refused:
            return refused
        text = p.get("text", "")
        if _utf16_len(text) > MAX_TEXT:
            with self._cond:
                self.rejected_long += 1
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}
        msg = self._message(p["chat_id"], text=text)
        with self._cond:
            self.sent.append({"method": "sendMessage", "chat_id": int(p["chat_id"]), "text": text,
                              "parse_mode": p.get("parse_mode"),
                              "reply_markup": p.get("reply_markup")})
            self._cond.notify_all()
        return self._ok(msg)

    def _m_sendPhoto(self, p):
        refused = self._refusal(p)
        if refused:
            return refused
        caption = p.get("caption")
        if caption and _utf16_len(caption) > MAX_CAPTION:
            return 400, {"ok": False, "error_code": 400,
                         "description": "Bad Request: message caption is too long"}
        photo = p.get("photo")
        msg = self._message(p["chat_id"], caption=caption, photo=[
            {"file_id": "f1", "file_unique_id": "u1", "width": 10, "height": 10}])
        with self._cond:
            self.sent.append({"method": "sendPhoto", "chat_id": int(p["chat_id"]), "caption": caption,
                              "photo_bytes": len(photo) if isinstance(photo, bytes) else 0})
            self._cond.notify_all()
        return self._ok(msg)
