"""Who may talk to the bot (pure: no I/O, no clock).

Every update, callback queries included, passes through ``decide`` before any handler runs.
A chat must be in ``telegram.allowed_chat_ids``; when ``allowed_user_ids`` is set, the sender
must be in it too. Anything else (channel posts, updates without a chat) is refused. From an
allowed chat only a new message typed there or a button press is acted on: an edited message
(fixing ``/stpo`` must not silently stop trading, nor an old message re-edited act again) and
a forwarded one (somebody else's words) are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Who:
    chat_id: int | None
    user_id: int | None
    username: str | None = None
    text: str | None = None  # the command or callback data, for the events log
    sent_at: datetime | None = None  # when the user sent it (messages only)
    kind: str = "message"  # message | callback | edited | forwarded | other


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    stale: bool = False
    reason: str = ""
    ignored: bool = False  # allowed sender, but not a command (edited, forwarded, ...)

ACTIONABLE = ("message", "callback")


def identify(update: Any) -> Who:
    """Chat, sender and payload of a PTB ``Update`` (or anything shaped like one)."""
    chat = getattr(update, "effective_chat", None)
    user = getattr(update, "effective_user", None)
    msg = getattr(update, "effective_message", None)
    cq = getattr(update, "callback_query", None)
    text = None
    sent_at = None
    if cq is not None:
        text = cq.data
    elif msg is not None:
        text = getattr(msg, "text", None) or getattr(msg, "caption", None)
        sent_at = getattr(msg, "date", None)
    new = getattr(update, "message", None)
    if cq is not None:
        kind = "callback"
    elif new is not None:
        kind = "forwarded" if getattr(new, "forward_origin", None) is not None else "message"
    elif getattr(update, "edited_message", None) is not None:
        kind = "edited"
    else:
        kind = "other"  # channel posts, business messages, ...
    return Who(chat_id=getattr(chat, "id", None), user_id=getattr(user, "id", None),
               username=getattr(user, "username", None), text=text, sent_at=sent_at, kind=kind)


def is_allowed(who: Who, allowed_chat_ids: list[int] | tuple[int, ...],
               allowed_user_ids: list[int] | tuple[int, ...] = ()) -> bool:
    if who.chat_id is None or who.chat_id not in set(allowed_chat_ids):
        return False
    if allowed_user_ids and (who.user_id is None or who.user_id not in set(allowed_user_ids)):
        return False
    return True


def is_stale(sent_at: datetime | None, now: datetime, max_age_seconds: float) -> bool:
    """A command sent more than ``max_age_seconds`` ago (e.g. queued during an outage)."""
    if sent_at is None or max_age_seconds <= 0:
        return False
    return (now - sent_at).total_seconds() > max_age_seconds


def decide(who: Who, now: datetime, allowed_chat_ids, allowed_user_ids=(),
           stale_seconds: float = 300) -> Verdict:
    if not is_allowed(who, allowed_chat_ids, allowed_user_ids):
        return Verdict(False, reason="not an allowed chat/user")
    if who.kind not in ACTIONABLE:
        return Verdict(True, ignored=True, reason=f"{who.kind} message, not a command")
    if is_stale(who.sent_at, now, stale_seconds):
        return Verdict(True, stale=True, reason=f"older than {stale_seconds:g} s")
    return Verdict(True)


STRANGER_PREFIX = "stranger:"


def stranger_key(who: Who, day: str) -> str:
    """Outbox dedup key: the operator hears about each stranger once per day."""
    ident = who.user_id if who.user_id is not None else f"chat{who.chat_id}"
    return f"{STRANGER_PREFIX}{ident}:{day}"


def strangers_summary_key(day: str) -> str:
    """Outbox dedup key of the one "more strangers" alert a day, once the cap is reached."""
    return f"strangers-more:{day}"
