"""Command handlers and the gate every update passes first.

The gate (group -1) refuses strangers silently (an ``events`` row, and one operator alert per
stranger per day through the outbox, at most ``STRANGER_ALERTS_PER_DAY`` a day), skips updates
that cannot be read or are not commands (edited, forwarded), and drops commands that waited
too long, e.g. a ``/start`` queued on Telegram's side while the listener was down. Handlers answer from ``pipeline.read.service``,
the same layer as ``qtx status`` and ``qtx positions``.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import RetryAfter
from telegram.ext import (
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    TypeHandler,
    filters,
)

from control import auth
from control import format as fmt
from control.outbox_sender import plan, retry_seconds, split_html
from db import DB
from db import events as events_db
from db import outbox as outbox_db
from pipeline import alerts
from pipeline.config import Settings
from pipeline.read import service

log = logging.getLogger("qtx.telegram")

STRANGER_EVENTS_PER_DAY = 100
# Operator alerts about strangers a day (each stranger once); then one "more strangers" alert.
# Many distinct senders must not flood the operator; every attempt is still an event.
STRANGER_ALERTS_PER_DAY = 5
# An update python-telegram-bot cannot parse arrives as an empty one carrying the error under
# this key (``screen_update``); the gate records it and drops it.
BAD_UPDATE = "qtx_unparseable"


@dataclass
class ListenerState:
    db: DB
    settings: Settings
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    sender: object | None = None
    clock: object = None  # tests may replace: () -> aware datetime
    redact: object = staticmethod(lambda s: s)  # removes the bot token from error texts

    def now(self) -> datetime:
        return self.clock() if self.clock else datetime.now(UTC)


def state_of(context: ContextTypes.DEFAULT_TYPE) -> ListenerState:
    return context.application.bot_data["qtx"]


async def _send(bot, chat_id: int, text: str, reply_markup=None) -> None:
    """An immediate answer, split at 4096; waits out a 429 (twice at most) rather than drop it."""
    parts = split_html(text)
    for i, part in enumerate(parts):
        for attempt in range(3):
            try:
                await bot.send_message(chat_id, part, parse_mode=ParseMode.HTML,
                                       link_preview_options=LinkPreviewOptions(is_disabled=True),
                                       reply_markup=reply_markup if i == len(parts) - 1 else None)
                break
            except RetryAfter as e:
                if attempt == 2:
                    raise
                await asyncio.sleep(retry_seconds(e))


def screen_update(raw: Any) -> dict | None:
    """One raw update from getUpdates, as python-telegram-bot will accept it.

    The library parses a batch all at once: one update it cannot parse fails the batch, the
    offset never moves past it, and the listener stops answering.  Such an update becomes an
    empty one with its id (so the offset moves on) and the error (for the gate's event).
    Without an id it cannot be acknowledged either way and is left out."""
    try:
        Update.de_json(copy.deepcopy(raw), None)
        return raw
    except Exception as exc:  # whatever the library raises on it
        uid = raw.get("update_id") if isinstance(raw, dict) else None
        if not isinstance(uid, int):
            return None
        return {"update_id": uid, BAD_UPDATE: f"{type(exc).__name__}: {exc}"[:300]}


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    st = state_of(context)
    bad = (update.api_kwargs or {}).get(BAD_UPDATE) if isinstance(update, Update) else None
    if bad:
        events_db.record(st.db, "warning", "telegram_bad_update",
                         f"skipped update {update.update_id}, which could not be read: {bad}",
                         {"update_id": update.update_id})
        log.warning("skipped update %s, which could not be read: %s", update.update_id, bad)
        raise ApplicationHandlerStop
    tg = st.settings.telegram
    who = auth.identify(update)
    now = st.now()
    verdict = auth.decide(who, now, tg.allowed_chat_ids, tg.allowed_user_ids, tg.stale_command_seconds)
    if not verdict.allowed:
        day = now.strftime("%Y-%m-%d")
        key = auth.stranger_key(who, day)
        # Every refusal is logged, up to a cap per stranger per day so a flood cannot fill the disk.
        if events_db.count_since(st.db, "unauthorized", f"{day}T00:00:00", key=key) < STRANGER_EVENTS_PER_DAY:
            events_db.record(st.db, "security", "unauthorized",
                             f"refused update from chat {who.chat_id} user {who.user_id}",
                             {"key": key, "chat_id": who.chat_id, "user_id": who.user_id,
                              "username": who.username, "text": (who.text or "")[:100]})
        _alert_stranger(st.db, who, key, day)
        log.warning("refused an update from chat %s user %s", who.chat_id, who.user_id)
        raise ApplicationHandlerStop  # the stranger gets nothing, not even a callback answer
    if verdict.ignored:
        events_db.record(st.db, "info", "ignored_update",
                         f"ignored {who.text!r} from chat {who.chat_id}: {verdict.reason}",
                         {"chat_id": who.chat_id, "kind": who.kind, "text": (who.text or "")[:100]})
        if who.chat_id is not None and (who.text or "").startswith("/"):
            await _send(context.bot, who.chat_id, fmt.ignored_notice(who))
        raise ApplicationHandlerStop
    if verdict.stale:
        events_db.record(st.db, "info", "stale_command",
                         f"ignored {who.text!r} from chat {who.chat_id}: {verdict.reason}",
                         {"chat_id": who.chat_id, "text": (who.text or "")[:100],
                          "sent_at": who.sent_at.isoformat() if who.sent_at else None})
        if who.chat_id is not None:
            await _send(context.bot, who.chat_id,
                        fmt.stale_notice(who, tg.stale_command_seconds))
        raise ApplicationHandlerStop


def _alert_stranger(db: DB, who: auth.Who, key: str, day: str) -> None:
    if outbox_db.has_key(db, key):
        return  # this stranger was reported today
    alerted = outbox_db.count_keys(db, auth.STRANGER_PREFIX, f":{day}")
    if alerted < STRANGER_ALERTS_PER_DAY:
        alerts.notify(db, "security", "security", "Unauthorized access attempt",
                      stranger_message(who), dedup_key=key)
    else:
        alerts.notify(db, "security", "security", "More strangers tried today",
                      f"{alerted} were reported today and more strangers are trying; further ones "
                      "today are recorded in events (kind unauthorized), not alerted.",
                      dedup_key=auth.strangers_summary_key(day))


def stranger_message(who: auth.Who) -> str:
    return (f"chat {who.chat_id}, user {who.user_id} (@{who.username}) sent {(who.text or '')[:100]}\n"
            "Further attempts from this sender today are logged but not alerted.")


def _by(update: Update) -> str:
    u = update.effective_user
    return f"telegram:{u.id}" if u else f"telegram:chat{update.effective_chat.id}"


_STATUS_KB = InlineKeyboardMarkup([[InlineKeyboardButton("🔄 Refresh", callback_data="status"),
                                    InlineKeyboardButton("Positions", callback_data="positions")]])


async def cmd_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    st = state_of(context)
    res = service.set_trading(st.db, True, by=_by(update), reason="/start")
    await _send(context.bot, update.effective_chat.id, fmt.trading_changed(res, _by(update)))


async def cmd_stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    st = state_of(context)
    reason = " ".join(context.args or []) or "/stop"
    res = service.set_trading(st.db, False, by=_by(update), reason=reason)
    await _send(context.bot, update.effective_chat.id, fmt.trading_changed(res, _by(update)))


async def cmd_status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    st = state_of(context)
    await _send(context.bot, update.effective_chat.id,
                fmt.status(service.status(st.db, st.settings)), reply_markup=_STATUS_KB)


async def cmd_positions(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    st = state_of(context)
    await _send(context.bot, update.effective_chat.id,
                fmt.positions(service.positions(st.db, st.settings)))


async def cmd_analysis(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    st = state_of(context)
    days = 30
    if context.args and context.args[0].isdigit():
        days = max(1, min(int(context.args[0]), 3650))
    await _send(context.bot, update.effective_chat.id,
                fmt.analysis(service.analysis(st.db, st.settings, days=days)))


async def cmd_report(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Today's daily report (``pipeline.stages.report``, chart included) built now; if that fails,
    the last one the report stage queued; if there is none, a status summary."""
    st = state_of(context)
    chat = update.effective_chat.id
    msg = None
    try:
        from pipeline.stages import report as report_mod

        r = report_mod.run_report(st.db, st.settings, send=False)
        photo = Path(r["chart"]).read_bytes() if r.get("chart") else None
        msg = {"text": fmt.daily_report(r), "photo": photo}
    except Exception as e:  # the report stage's code is not ours to crash the listener with
        log.warning("report build failed: %s: %s", type(e).__name__, e)
        msg = outbox_db.latest(st.db, "report")
    if not msg:
        await _send(context.bot, chat, fmt.report_summary(service.status(st.db, st.settings),
                                                         service.positions(st.db, st.settings)))
        return
    for unit in plan(msg, [chat]):
        if unit.kind == "photo":
            await context.bot.send_photo(chat, photo=unit.photo, caption=unit.text,
                                         parse_mode=ParseMode.HTML)
        else:
            await _send(context.bot, chat, unit.text)


async def cmd_health(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``qtx doctor`` from the phone.  It makes network calls (broker, getMe), so it runs in a
    thread with its own database connection while the listener keeps answering."""
    from pipeline.read.doctor import diagnose

    st = state_of(context)
    report = await asyncio.to_thread(diagnose, st.settings.config_path)
    await _send(context.bot, update.effective_chat.id, fmt.health(report.to_dict()))


async def cmd_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _send(context.bot, update.effective_chat.id, fmt.help_text())


async def on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    q = update.callback_query
    await q.answer()
    if q.data == "positions":
        await cmd_positions(update, context)
    else:
        await cmd_status(update, context)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    st = context.application.bot_data.get("qtx")
    err = context.error
    text = f"{type(err).__name__}: {err}"
    if st is not None:
        text = st.redact(text)
    log.error("handler error: %s", text)
    if st is not None:
        events_db.record(st.db, "error", "telegram_handler_error", text)
    if isinstance(update, Update) and update.effective_chat and st is not None:
        who = auth.identify(update)
        tg = st.settings.telegram
        if auth.is_allowed(who, tg.allowed_chat_ids, tg.allowed_user_ids):
            try:
                await _send(context.bot, update.effective_chat.id,
                            f"❌ {fmt.e(text[:300])}")
            except Exception:  # the error report itself failing must not loop
                pass


HANDLERS = {"start": cmd_start, "stop": cmd_stop, "status": cmd_status,
            "positions": cmd_positions, "analysis": cmd_analysis, "report": cmd_report,
            "health": cmd_health, "help": cmd_help}


def install(app) -> None:
    app.add_handler(TypeHandler(Update, gate), group=-1)
    for name, fn in HANDLERS.items():
        # New messages only (the gate says why to the operator; this is the second lock).
        app.add_handler(CommandHandler(name, fn, filters=filters.UpdateType.MESSAGE & ~filters.FORWARDED))
    app.add_handler(CallbackQueryHandler(on_callback))
    app.add_error_handler(on_error)
