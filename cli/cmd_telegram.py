"""``qtx telegram`` (the resident listener), ``qtx positions`` and ``qtx analysis``."""

from __future__ import annotations

import asyncio
import signal
import threading

import typer
from rich.table import Table

from cli.common import EXIT_FAILED, ctx_of, emit_json, err, fail, guarded, out
from cli.main import app
from pipeline.config import ConfigError


@app.command("telegram")
def telegram_cmd(
    ctx: typer.Context,
    drain: bool = typer.Option(
        False, "--drain", "--once",
        help="Deliver every queued message (waiting out Telegram's rate limits), then exit. "
             "For cron or after an outage; does not read commands."),
    json_out: bool = typer.Option(False, "--json", help="With --drain: print the counts as JSON."),
) -> None:
    """Run the Telegram listener: answers /start /stop /status /positions /analysis /report
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


def _n(v, digits=2) -> str:
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def _pct(v) -> str:
    return "–" if v is None else f"{v * 100:+.2f}%"


@app.command("positions")
def positions_cmd(
    ctx: typer.Context,
    asof: str | None = typer.Option(None, "--asof", help="Value at this date's closes (YYYY-MM-DD)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document instead of a table."),
) -> None:
    """Open positions: quantity, average and last price, P&L, days held, stop / trailing levels
    (what Telegram's /positions shows)."""
    from pipeline import service

    c = ctx_of(ctx)

    def body():
        rows = service.positions(c.db, c.settings, asof=asof)
        if json_out:
            emit_json(rows)
            return
        t = Table(title=f"Positions ({len(rows)})")
        for col in ("symbol", "qty", "avg", "last", "P&L", "P&L %", "days", "stop", "trailing"):
            t.add_column(col, justify="left" if col == "symbol" else "right")
        for p in rows:
            t.add_row(p["symbol"], _n(p["qty"], 6).rstrip("0").rstrip("."), _n(p["avg_price"]),
                      _n(p["last_price"]), _n(p["pnl"]), _pct(p["pnl_pct"]), str(p["days_held"]),
                      _n(p["stop_level"]), _n(p["trailing_level"]))
        out.print(t)

    guarded(body)


@app.command("analysis")
def analysis_cmd(
    ctx: typer.Context,
    days: int = typer.Option(30, "--days", min=1, help="Look back this many calendar days."),
    asof: str | None = typer.Option(None, "--asof", help="End date (default: the latest bar)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document instead of tables."),
) -> None:
    """Sennot summary (Telegram's /analysis): signals by rule, approval rate and rejections by
    reason, win rate and average return by entry rule, exposure by sector, trend-filter share."""
    from pipeline import service

    c = ctx_of(ctx)

    def body():
        a = service.analysis(c.db, c.settings, days=days, asof=asof)
        if json_out:
            emit_json(a)
            return
        if not a["asof"]:
            out.print("No bars stored yet.")
            return
        out.print(f"[bold]Analysis[/] {a['since']} … {a['asof']}")
        t = Table(title="Signals by rule")
        t.add_column("side")
        t.add_column("rule")
        t.add_column("count", justify="right")
        for k, v in a["signals"]["buy_by_rule"].items():
            t.add_row("BUY", k, str(v))
        for k, v in a["signals"]["sell_by_reason"].items():
            t.add_row("SELL", k, str(v))
        out.print(t)
        ap = a["approval"]
        out.print(f"Approved {ap['approved']} / rejected {ap['rejected']} / pending {ap['pending']}"
                  f" (rate {_pct(ap['approval_rate']).lstrip('+') if ap['approval_rate'] is not None else '–'})")
        for k, v in ap["rejections_by_reason"].items():
            out.print(f"  rejected {k}: {v}")
        t = Table(title="Closed trades by entry rule")
        for col in ("rule", "trades", "win rate", "avg return"):
            t.add_column(col, justify="left" if col == "rule" else "right")
        rows = [("all", a["trades"]["all"])] + list(a["trades"]["by_entry_rule"].items())
        for rule, st in rows:
            t.add_row(rule, str(st["trades"]),
                      "–" if st["win_rate"] is None else f"{st['win_rate'] * 100:.0f}%",
                      _pct(st["avg_return"]))
        out.print(t)
        t = Table(title="Exposure by sector")
        for col in ("sector", "value", "share"):
            t.add_column(col, justify="left" if col == "sector" else "right")
        for k, v in a["exposure"]["by_sector"].items():
            t.add_row(k, _n(v["value"]), "–" if v["share"] is None else f"{v['share'] * 100:.1f}%")
        out.print(t)
        for tf in a["filters"]:
            out.print(f"{tf['name'].capitalize()} filter ({tf['label']}) on {tf['date']}: "
                      f"{tf['passing']}/{tf['evaluated']} pass"
                      + (f", {tf['insufficient_history']} lack history" if tf["insufficient_history"] else ""))

    guarded(body)
