"""The resident ``qtx telegram`` listener: long polling, the command gate, the outbox sender and
the heartbeat watcher, all in one python-telegram-bot Application.

Nothing it needs lives only in memory: switches are in ``control``, messages in ``outbox``,
its heartbeat and delivery cursor in ``meta``; killing it at any line loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable

# Opt in to PTB's timedelta retry_after now (the sender handles both forms), which also
# silences its deprecation warning on every 429.
os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram import BotCommand, Update
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, ExtBot
from telegram.request import HTTPXRequest

from control import format as fmt
from control import handlers
from control.outbox_sender import OutboxSender
from db import DB, open_db
from db import telegram as telegram_db
from pipeline.config import ConfigError, Settings, read_secret
from pipeline.schedule import monitor

log = logging.getLogger("qtx.telegram")


# -- secrets -------------------------------------------------------------------------------------
def read_token(settings: Settings) -> str:
    tg = settings.telegram
    file = str(settings.resolve(tg.token_file)) if tg.token_file else None
    token = read_secret(tg.token_env, file, what="telegram.token_env")
    if not token:
        raise ConfigError(settings.config_path, "telegram.token_env",
                          f"no bot token: set the environment variable {tg.token_env}"
                          " (or telegram.token_file, a 0600 file)")
    return token


class _Redactor:
    def __init__(self) -> None:
        self.secrets: set[str] = set()

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            if s and s in text:
                text = text.replace(s, "<redacted>")
        return text


redact = _Redactor()
_factory_installed = False


def protect_logs(token: str) -> None:
    """Keep the token out of every log line: httpx logs request URLs (which contain
    ``/bot<token>/``) at INFO, so it is held at WARNING, and every record, exception text
    included, is redacted at creation whichever handler later prints it."""
    global _factory_installed
    redact.secrets.add(token)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per job run otherwise
    if _factory_installed:
        return
    base = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = base(*args, **kwargs)
        try:
            msg = record.getMessage()
        except Exception:
            msg = str(record.msg)
        clean = redact(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


# -- the application -----------------------------------------------------------------------------
def _urls(settings: Settings) -> tuple[str, str] | None:
    base = settings.telegram.base_url
    if not base:
        return None
    base = base.rstrip("/")
    return base + "/bot", base + "/file/bot"


class _ScreenedUpdates(HTTPXRequest):
    """The getUpdates connection, each update screened (``handlers.screen_update``) before the
    library parses the batch, so one it cannot read is skipped instead of blocking the rest."""

    async def post(self, url, request_data=None, *args, **kwargs):
        result = await super().post(url, request_data, *args, **kwargs)
        if url.endswith("/getUpdates") and isinstance(result, list):
            result = [u for u in map(handlers.screen_update, result) if u is not None]
        return result


def build_application(settings: Settings, token: str) -> Application:
    tg = settings.telegram
    b = (ApplicationBuilder().token(token)
         # max_retries=0: a 429 reaches the outbox sender, which keeps order and honours it.
         .rate_limiter(AIORateLimiter(max_retries=0))
         # One connection, as the builder's default for polling.
         .get_updates_request(_ScreenedUpdates(connection_pool_size=1, read_timeout=tg.poll_timeout + 10)))
    urls = _urls(settings)
    if urls:
        b = b.base_url(urls[0]).base_file_url(urls[1])
    app = b.build()
    handlers.install(app)
    return app


def build_bot(settings: Settings, token: str) -> ExtBot:
    """A bare bot for ``--drain`` (no polling)."""
    kw = {}
    urls = _urls(settings)
    if urls:
        kw = {"base_url": urls[0], "base_file_url": urls[1]}
    return ExtBot(token, rate_limiter=AIORateLimiter(max_retries=0), **kw)


async def _outbox_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    st: handlers.ListenerState = context.application.bot_data["qtx"]
    lock: asyncio.Lock = context.application.bot_data["outbox_lock"]
    if lock.locked():
        return
    async with lock:
        try:
            await st.sender.drain()
        except Exception as e:  # one bad pass must not stop the job
            log.error("outbox pass failed: %s", redact(f"{type(e).__name__}: {e}"))


def check_stages(st: handlers.ListenerState) -> list:
    """Record the listener's heartbeat, then the pipeline's stage check (alerts once each)."""
    telegram_db.beat(st.db, os.getpid(), st.started_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    return monitor.check_stages(st.db, st.settings, st.now())


class _JobContext:  # what the job callbacks read from PTB's context, for a direct call
    def __init__(self, app: Application):
        self.application = app


async def _heartbeat_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    try:
        check_stages(context.application.bot_data["qtx"])
    except Exception as e:
        log.error("heartbeat check failed: %s", redact(f"{type(e).__name__}: {e}"))


async def run(settings: Settings, stop: threading.Event | None = None, *,
              token: str | None = None, ready: threading.Event | None = None,
              clock: Callable | None = None) -> None:
    """Run the listener until ``stop`` is set (the CLI sets it on SIGINT/SIGTERM)."""
    tg = settings.telegram
    if not tg.allowed_chat_ids:
        raise ConfigError(settings.config_path, "telegram.allowed_chat_ids",
                          "is empty: nobody could command the bot or receive alerts")
    token = token or read_token(settings)
    protect_logs(token)
    stop = stop or threading.Event()
    db = open_db(settings.db_path, market=settings.market, mode=settings.mode)
    app = build_application(settings, token)
    st = handlers.ListenerState(db=db, settings=settings, clock=clock, redact=redact)
    st.sender = OutboxSender(db, app.bot, tg.allowed_chat_ids, tg.max_send_attempts, redact=redact)
    app.bot_data["qtx"] = st
    app.bot_data["outbox_lock"] = asyncio.Lock()
    try:
        async with app:  # initialize (getMe) ... shutdown
            await app.bot.set_my_commands([BotCommand(c, d) for c, d in fmt.COMMANDS])
            jq = app.job_queue
            await _heartbeat_job(_JobContext(app))  # at once: an incident from the downtime
            jq.run_repeating(_heartbeat_job, interval=tg.heartbeat_check_seconds,
                             first=tg.heartbeat_check_seconds, name="heartbeat")
            jq.run_repeating(_outbox_job, interval=tg.outbox_poll_seconds, first=0.2,
                             name="outbox", job_kwargs={"max_instances": 2})
            await app.start()
            await app.updater.start_polling(timeout=tg.poll_timeout, allowed_updates=Update.ALL_TYPES,
                                            drop_pending_updates=False)
            log.info("listening (chats %s)", ", ".join(str(c) for c in tg.allowed_chat_ids))
            if ready:
                ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.2)
            log.info("stopping")
            # Finish the send in flight, record it, and send nothing more: launchd kills a
            # job that takes long to stop, and a kill during a send can duplicate it.
            st.sender.request_stop()
            await app.updater.stop()
            await app.stop()
    finally:
        try:
            telegram_db.beat(db, os.getpid(), st.started_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                             state="stopped")
        finally:
            db.close()


async def drain(settings: Settings, *, token: str | None = None) -> dict:
    """Deliver everything pending and return (``qtx telegram --drain``)."""
    tg = settings.telegram
    if not tg.allowed_chat_ids:
        raise ConfigError(settings.config_path, "telegram.allowed_chat_ids", "is empty")
    token = token or read_token(settings)
    protect_logs(token)
    db: DB = open_db(settings.db_path, market=settings.market, mode=settings.mode)
    try:
        bot = build_bot(settings, token)
        async with bot:
            return await OutboxSender(db, bot, tg.allowed_chat_ids, tg.max_send_attempts,
                                      redact=redact).drain(wait=True)
    finally:
        db.close()
