"""``qtx telegram`` (the resident listener), ``qtx positions`` and ``qtx analysis``."""

from __future__ import annotations

import asyncio
import signal
import threading
from typing import Annotated

import typer

from cli.common import EXIT_FAILED, ctx_of, emit_json, err, fail, guarded
from pipeline.config import ConfigError


def telegram_cmd(
    ctx: typer.Context,
    drain: Annotated[bool, typer.Option(
        "--drain", "--once",
        help="Deliver every queued message (waiting out Telegram's rate limits), then exit. "
             "For cron or after an outage; does not read commands.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="With --drain: print the counts as JSON.")] = False,
) -> None:
    """Run the Telegram listener.

    It answers /start /stop /status /positions /analysis /report
    /help from the allowed chats only, delivers the outbox in order, and alerts when a stage
    fails or is late. Runs until SIGINT/SIGTERM. The bot token is read from the environment
    variable named by telegram.token_env (or the 0600 file telegram.token_file)."""
    from control import listener

    c = ctx_of(ctx)

    def body():
        settings = c.settings
        if drain:
            try:
                res = asyncio.run(listener.drain(settings))
            except ConfigError:
                raise
            except Exception as e:  # noqa: BLE001 - a clear line, never a traceback with secrets
                fail(listener.redact(f"cannot deliver the outbox: {type(e).__name__}: {e}"))
            if json_out:
                emit_json(res)
            else:
                err.print(f"sent {res['sent']}, failed {res['failed']}"
                          + (", some still pending (Telegram unreachable?)" if res["pending"] else ""))
            if res["failed"] or res["pending"]:
                raise typer.Exit(EXIT_FAILED)
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        try:
            asyncio.run(listener.run(settings, stop))
        except ConfigError:
            raise
        except Exception as e:  # noqa: BLE001 - exit 1 (launchd restarts it), no secrets printed
            fail(listener.redact(f"telegram listener stopped: {type(e).__name__}: {e}"))

    guarded(body)
