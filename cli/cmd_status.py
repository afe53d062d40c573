"""The read side in the terminal: ``qtx status``, ``qtx positions`` and ``qtx analysis`` (what
Telegram's /status, /positions and /analysis show, from the same service layer)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import ctx_of, date_option, emit_json, guarded, out


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as one JSON document.")] = False,
) -> None:
    """Show the config, database, stored bars, trading state and last runs.

    The config in use, market, mode, profile, database, stored bars, the trading switch and
    what blocks BUYs, equity, open orders, the Telegram listener and outbox, and each stage's
    last run (what Telegram's /status shows)."""
    from pipeline.read.service import (
        status as build_status,  # + switches, metrics, orders, listener
    )

    app_ctx = ctx_of(ctx)

    def body():
        data = build_status(app_ctx.db, app_ctx.settings)
        if as_json:
            emit_json(data)
        else:
            render(data)

    guarded(body)


def render(d: dict) -> None:
    from rich.table import Table

    from pipeline.read.money import fmt_money
    from pipeline.read.status import fmt_duration

    cur = d.get("currency")
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")  # a long path folds onto the next line, never cut
    t.add_row("config", str(d.get("config")))
    t.add_row("market / mode", f"{d['market']} / {d['mode']}")
    t.add_row("profile", d.get("profile") or "(none)")
    db = d["database"]
    t.add_row("database", f"{db['path']} (schema v{db['schema_version']})")
    data = d["data"]
    if data["bars"]:
        t.add_row("data source", data["source"])
        t.add_row("bars", f"{data['bars']:,} bars of {data['symbols']} symbols, "
                          f"{data['first_date']} .. {data['last_date']}")
    else:
        t.add_row("bars", "none stored (qtx collect, or qtx init --demo)")
    if "trading_enabled" in d:
        blocks = d.get("buy_block_reasons") or []
        t.add_row("trading", ("on" if d["trading_enabled"] else "STOPPED")
                  + (f"; BUYs blocked: {'; '.join(blocks)}" if blocks else ""))
    m = d.get("metrics")
    if m:
        t.add_row("equity", f"{fmt_money(m['equity'], cur, unit=True)} on {m['date']} "
                            f"(cash {fmt_money(m['cash'], cur)})")
        t.add_row("day / drawdown", f"{m.get('day_return', 0):+.2%} / {m.get('drawdown', 0):.2%}"
                  f" (size x{m.get('size_multiplier', 1):g})")
    if "open_orders" in d:
        t.add_row("open orders", str(len(d["open_orders"])))
    if "listener" in d:
        hb = d["listener"]
        t.add_row("telegram listener", f"{hb.get('state')} (heartbeat {hb.get('ts')})" if hb else "never started")
    if d.get("outbox"):
        t.add_row("outbox", ", ".join(f"{k} {v}" for k, v in d["outbox"].items()))
    if d.get("telegram_setup"):
        t.add_row("telegram", f"{d['telegram_setup']}; messages only pile up in the outbox")
    out.print(t)
    # Times in the market's own clock, short, and how long each run took: the whole row fits
    # 80 columns; only the free-text message wraps.
    runs = Table(title="last runs", title_justify="left")
    for col in ("stage", "outcome", "as of", "started", "took"):
        runs.add_column(col, no_wrap=True, justify="right" if col == "took" else "left")
    runs.add_column("message", overflow="fold", ratio=1)
    for stage, r in d["runs"].items():
        if r is None:
            runs.add_row(stage, "never", "", "", "", "")
        else:
            runs.add_row(stage, r["outcome"], r["asof"] or "",
                         r.get("started_local") or r["started_at"] or "",
                         fmt_duration(r.get("seconds")), r["message"] or "")
    out.print(runs)


def _pct(v) -> str:
    return "–" if v is None else f"{v * 100:+.2f}%"


def positions_cmd(
    ctx: typer.Context,
    asof: Annotated[str | None, typer.Option("--asof", callback=date_option, help="Value at this date's closes (YYYY-MM-DD).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of a table.")] = False,
) -> None:
    """Open positions: quantity, prices, P&L, days held, stop and trailing levels.

    Quantity, average and last price, P&L, days held, stop and trailing levels (what
    Telegram's /positions shows)."""
    from pipeline.read import service

    c = ctx_of(ctx)

    def body():
        rows = service.positions(c.db, c.settings, asof=asof)
        if json_out:
            emit_json(rows)
            return
        from rich import box
        from rich.table import Table

        from pipeline.read.money import currency_of, fmt_money, fmt_price, fmt_qty

        cur = currency_of(c.settings)
        # No vertical rules and one exit column (a position has a stop until its trailing
        # stop arms, then only the trailing level): every price fits whole at 80 columns.
        t = Table(title=f"Positions ({len(rows)}, {cur})", box=box.SIMPLE_HEAD, show_edge=False,
                  pad_edge=False)
        for col in ("symbol", "qty", "avg", "last", "P&L", "P&L %", "days", "exit at"):
            t.add_column(col, justify="left" if col == "symbol" else "right", no_wrap=True)
        for p in rows:
            exit_at = (f"{fmt_price(p['trailing_level'], cur)} trail" if p.get("armed")
                       else f"{fmt_price(p['stop_level'], cur)} stop")
            t.add_row(p["symbol"], fmt_qty(p["qty"]), fmt_price(p["avg_price"], cur),
                      fmt_price(p["last_price"], cur), fmt_money(p["pnl"], cur, sign=True),
                      _pct(p["pnl_pct"]), str(p["days_held"]), exit_at)
        out.print(t)

    guarded(body)


def analysis_cmd(
    ctx: typer.Context,
    days: Annotated[int, typer.Option("--days", min=1, help="Look back this many calendar days.")] = 30,
    asof: Annotated[str | None, typer.Option("--asof", callback=date_option, help="End date (default: the latest bar).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")] = False,
) -> None:
    """Sennot summary (Telegram's /analysis).

    Signals by rule, approval rate and rejections by
    reason, win rate and average return by entry rule, exposure by sector, trend-filter share."""
    from pipeline.read import service

    c = ctx_of(ctx)

    def body():
        a = service.analysis(c.db, c.settings, days=days, asof=asof)
        if json_out:
            emit_json(a)
            return
        if not a["asof"]:
            out.print("No bars stored yet.")
            return
        from rich.table import Table

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
        from pipeline.read.money import currency_of, fmt_money

        cur = currency_of(c.settings)
        t = Table(title=f"Exposure by sector ({cur})")
        for col in ("sector", "value", "share"):
            t.add_column(col, justify="left" if col == "sector" else "right")
        for k, v in a["exposure"]["by_sector"].items():
            t.add_row(k, fmt_money(v["value"], cur), "–" if v["share"] is None else f"{v['share'] * 100:.1f}%")
        out.print(t)
        for tf in a["filters"]:
            out.print(f"{tf['name'].capitalize()} filter ({tf['label']}) on {tf['date']}: "
                      f"{tf['passing']}/{tf['evaluated']} pass"
                      + (f", {tf['insufficient_history']} lack history" if tf["insufficient_history"] else ""))

    guarded(body)
