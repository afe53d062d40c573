"""``qtx doctor``: the health of everything an unattended machine needs (``pipeline.read.doctor``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.common import EXIT_FAILED, EXIT_OK, ctx_of, emit_json, guarded, out

STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def doctor(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON document.")] = False,
) -> None:
    """Check everything an unattended machine needs and say what to do about each problem.

    The config, clock and time zone, secrets (names only, never values), the broker
    (read-only calls) and its keys, the Telegram token and allowed chats, the launchd jobs (macOS),
    the database (integrity, WAL, free disk), each stage's last run and lateness, and data
    freshness; say what to do about each problem. Exit 0 when nothing failed, 1 otherwise; 2
    (as every command) when the config cannot be loaded."""
    from pipeline.read.doctor import diagnose

    app_ctx = ctx_of(ctx)
    guarded(lambda: app_ctx.settings)  # a config that cannot be loaded: one line, exit 2
    report = diagnose(app_ctx.config_path)
    if as_json:
        emit_json(report.to_dict())
    else:
        render(report.to_dict())
    raise typer.Exit(EXIT_OK if report.ok else EXIT_FAILED)


def render(d: dict) -> None:
    t = Table(title=f"qtx doctor — {d['config']}", title_justify="left")
    for col in ("check", "status", "detail", "what to do"):
        t.add_column(col, overflow="fold")
    for c in d["checks"]:
        t.add_row(c["name"], f"[{STYLE[c['status']]}]{c['status']}[/]", c["detail"], c["fix"] or "")
    out.print(t)
    n = d["counts"]
    out.print(("[green]all good[/]" if d["ok"] else f"[bold red]{n['fail']} failed[/]")
              + f" ({n['ok']} ok, {n['warn']} warnings, {n['skip']} skipped)")
