"""Deliver the outbox to Telegram: in id order, each message once, nothing lost while down.

A message becomes "units" (one per allowed chat and part: a photo, then its text split at
4096 characters).  As soon as Telegram acknowledges a unit, before anything else, the cursor in
``meta`` moves on (a write of its own, committed at once), and after the last unit the row is
marked sent in the same transaction that resets the cursor; a restart resumes at the first
unacknowledged unit.  A 429 stops delivery until its retry_after has passed; network errors
back off and retry; a message Telegram keeps refusing is marked failed after
``max_send_attempts`` so it cannot block the queue forever.

Delivery is at least once: a unit whose send was in flight when the outcome was lost (a
timeout, or the process killed before Telegram's answer was recorded) is sent again, and
Telegram may have delivered it already.  That window is one send: ``request_stop`` lets the
send in flight finish and be recorded, and sends nothing more.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from control import format as fmt
from db import DB
from db import events as events_db
from db import outbox as outbox_db
from db import telegram as telegram_db

log = logging.getLogger("qtx.telegram.outbox")

MAX_TEXT = 4096
MAX_CAPTION = 1024

_TOKEN = re.compile(r"<[^>]*>|&#?\w+;|[^<&]+|[<&]")
_TAG = re.compile(r"<\s*(/)?\s*([a-zA-Z][\w-]*)[^>]*>")


def u16(s: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(s.encode("utf-16-le")) // 2


def _closing(stack: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def _apply_tag(stack: list[tuple[str, str]], tok: str) -> list[tuple[str, str]]:
    m = _TAG.match(tok)
    if not m:
        return stack
    closing, name = m.group(1), m.group(2).lower()
    if closing:
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] == name:
                return stack[:i] + stack[i + 1:]
        return stack
    return stack + [(name, tok)]


def _visible(s: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", s))


def split_html(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split Telegram HTML into messages of at most ``limit`` UTF-16 units.

    Breaks at line ends when it can, else at a space, else anywhere between characters; never
    inside a tag or an entity.  Tags open at a break are closed at the end of the chunk and
    reopened at the start of the next, so every chunk is valid HTML on its own.
    """
    if u16(text) <= limit:
        return [text]
    chunks: list[str] = []
    stack: list[tuple[str, str]] = []
    cur: list[str] = []
    cur_len = 0
    has_content = False

    def flush() -> None:
        nonlocal cur, cur_len, has_content
        chunk = "".join(cur) + _closing(stack)
        if _visible(chunk).strip():
            chunks.append(chunk)
        prefix = "".join(tag for _, tag in stack)
        cur, cur_len, has_content = [prefix], u16(prefix), False

    def fits(extra: int, new_stack) -> bool:
        return cur_len + extra + u16(_closing(new_stack)) <= limit

    def add(tok: str, new_stack) -> None:
        nonlocal cur_len, stack, has_content
        cur.append(tok)
        cur_len += u16(tok)
        stack = new_stack
        has_content = True

    for line in text.splitlines(keepends=True):
        toks = _TOKEN.findall(line)
        st = stack
        for t in toks:
            if t.startswith("<"):
                st = _apply_tag(st, t)
        if fits(u16(line), st):
            for t in toks:
                add(t, _apply_tag(stack, t) if t.startswith("<") else stack)
            continue
        if has_content:
            flush()  # prefer breaking at the line boundary
            if fits(u16(line), st):
                for t in toks:
                    add(t, _apply_tag(stack, t) if t.startswith("<") else stack)
                continue
        for t in toks:  # the line alone is too long: token by token
            if t.startswith("<") or (t.startswith("&") and t.endswith(";")):
                ns = _apply_tag(stack, t) if t.startswith("<") else stack
                if not fits(u16(t), ns) and has_content:
                    flush()
                    ns = _apply_tag(stack, t) if t.startswith("<") else stack
                add(t, ns)
                continue
            rest = t
            while rest:
                room = limit - cur_len - u16(_closing(stack))
                if u16(rest) <= room:
                    add(rest, stack)
                    break
                cut = _prefix_within(rest, room)
                space = rest.rfind(" ", 0, cut)
                if space > cut // 2:
                    cut = space + 1
                if cut <= 0:
                    if not has_content:  # cannot happen with sane tags; avoid looping forever
                        cut = 1
                    else:
                        flush()
                        continue
                add(rest[:cut], stack)
                rest = rest[cut:]
                flush()
    if has_content:
        flush()
    return chunks


def _prefix_within(s: str, room: int) -> int:
    """Largest number of characters of ``s`` whose UTF-16 length is at most ``room``."""
    n = 0
    used = 0
    for ch in s:
        w = 2 if ord(ch) > 0xFFFF else 1
        if used + w > room:
            break
        used += w
        n += 1
    return n


def strip_html(text: str) -> str:
    return _visible(text)


@dataclass(frozen=True)
class Unit:
    chat_id: int
    kind: str  # 'text' | 'photo'
    text: str | None
    photo: bytes | None = None


def plan(msg: dict, chat_ids: list[int]) -> list[Unit]:
    """The units one outbox row becomes, in delivery order (its payload rendered as HTML)."""
    text = fmt.message_html(msg)
    photo = msg.get("photo")
    units: list[Unit] = []
    for chat in chat_ids:
        if photo:
            if u16(text) <= MAX_CAPTION:
                units.append(Unit(chat, "photo", text or None, photo))
                continue
            units.append(Unit(chat, "photo", None, photo))  # caption too long: text follows
        if text.strip():
            units += [Unit(chat, "text", part) for part in split_html(text)]
    return units


def retry_seconds(e: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the int form will become a timedelta
        warnings.simplefilter("ignore")
        ra = e.retry_after
    return ra.total_seconds() if isinstance(ra, timedelta) else float(ra)


class OutboxSender:
    def __init__(self, db: DB, bot, chat_ids: list[int], max_attempts: int = 8,
                 redact: Callable[[str], str] = lambda s: s, max_wait: float = 3600):
        self.db = db
        self.bot = bot
        self.chat_ids = list(chat_ids)
        self.max_attempts = max_attempts
        self.redact = redact
        self.max_wait = max_wait
        self.not_before = 0.0  # monotonic time before which Telegram asked us not to send
        self.stopping = False

    def request_stop(self) -> None:
        """Send nothing more after the unit in flight (the listener is stopping)."""
        self.stopping = True

    async def _send(self, unit: Unit, plain: bool = False) -> None:
        mode = None if plain else ParseMode.HTML
        if unit.kind == "photo":
            caption = strip_html(unit.text) if (plain and unit.text) else unit.text
            await self.bot.send_photo(unit.chat_id, photo=unit.photo, caption=caption, parse_mode=mode)
        else:
            text = strip_html(unit.text or "") if plain else unit.text
            await self.bot.send_message(unit.chat_id, text, parse_mode=mode,
                                        link_preview_options=LinkPreviewOptions(is_disabled=True))

    async def drain(self, wait: bool = False, batch: int = 50) -> dict:
        """Send what is pending.  ``wait``: sleep through a 429 instead of returning (for
        ``qtx telegram --drain``).  Returns counts and whether something is still pending."""
        result = {"sent": 0, "failed": 0, "pending": False, "retry_after": None}
        stalls = 0  # consecutive passes that made no progress (network down, refusals)
        while True:
            if time.monotonic() < self.not_before:
                if not wait:
                    result["pending"] = True
                    return result
                await asyncio.sleep(self.not_before - time.monotonic())
            rows = outbox_db.pending(self.db, limit=batch)
            if not rows:
                return result
            for msg in rows:
                if self.stopping:
                    result["pending"] = True
                    return result
                outcome = await self._deliver(msg, wait)
                if outcome == "sent":
                    result["sent"] += 1
                elif outcome == "failed":
                    result["failed"] += 1
                else:  # blocked: keep order, try later
                    result["pending"] = True
                    result["retry_after"] = max(0.0, self.not_before - time.monotonic())
                    stalls += 1
                    if not wait or stalls > self.max_attempts:
                        return result
                    break
                stalls = 0
                result["pending"] = False

    async def _deliver(self, msg: dict, wait: bool) -> str:
        units = plan(msg, self.chat_ids)
        cur = telegram_db.cursor(self.db)
        done = cur["done"] if cur.get("id") == msg["id"] else 0
        i = done
        while i < len(units):
            if self.stopping:
                return "blocked"  # resumes at unit i next time
            try:
                try:
                    await self._send(units[i])
                except BadRequest as e:
                    if "parse" not in str(e).lower():
                        raise
                    # Markup Telegram cannot parse: deliver the words rather than nothing.
                    log.warning("outbox %s: HTML rejected (%s); sending as plain text", msg["id"],
                                self.redact(str(e)))
                    await self._send(units[i], plain=True)
            except RetryAfter as e:
                secs = min(retry_seconds(e), self.max_wait)
                self.not_before = time.monotonic() + secs
                log.warning("outbox %s: Telegram asked to wait %.0f s", msg["id"], secs)
                if wait:
                    await asyncio.sleep(secs)
                    continue
                return "blocked"
            except (BadRequest, Forbidden) as e:
                return self._refused(msg, self.redact(f"{type(e).__name__}: {e}"))
            except (NetworkError, TelegramError) as e:  # TimedOut is a NetworkError
                err = self.redact(f"{type(e).__name__}: {e}")
                outbox_db.mark_attempt(self.db, msg["id"], err)
                backoff = min(60.0, 2.0 ** min(msg.get("attempts") or 0, 6))
                self.not_before = time.monotonic() + backoff
                log.warning("outbox %s: %s; retrying in %.0f s", msg["id"], err, backoff)
                return "blocked"
            i += 1
            if i < len(units):
                telegram_db.set_cursor(self.db, msg["id"], i)
        telegram_db.finish_message(self.db, msg["id"])
        return "sent"

    def _refused(self, msg: dict, err: str) -> str:
        give_up = (msg.get("attempts") or 0) + 1 >= self.max_attempts
        outbox_db.mark_attempt(self.db, msg["id"], err, give_up=give_up)
        if give_up:
            telegram_db.set_cursor(self.db, None, 0)
            events_db.record(self.db, "error", "telegram_send_failed",
                             f"outbox message {msg['id']} ({msg['kind']}) given up: {err}",
                             {"outbox_id": msg["id"]})
            log.error("outbox %s given up after %s attempts: %s", msg["id"], self.max_attempts, err)
            return "failed"
        self.not_before = time.monotonic() + min(60.0, 2.0 ** min(msg.get("attempts") or 0, 6))
        log.warning("outbox %s refused: %s", msg["id"], err)
        return "blocked"
