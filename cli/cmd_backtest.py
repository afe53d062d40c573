"""``qtx backtest``."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import (
    check_range,
    ctx_of,
    date_option,
    emit_json,
    err,
    guarded,
    is_quiet,
    out,
    output_file,
    progress_bar,
    progress_line,
)


def backtest(
    ctx: typer.Context,
    start: Annotated[str | None, typer.Option("--start", callback=date_option, help="First decision date (YYYY-MM-DD); earlier bars only warm up the indicators.")] = None,
    end: Annotated[str | None, typer.Option("--end", callback=date_option, help="Last decision date (YYYY-MM-DD); later bars are ignored.")] = None,
    trades_out: Annotated[str | None, typer.Option("--trades-out", callback=output_file, help="Write trades.csv (date,symbol,side,qty,price,fee,reason) here.")] = None,
    equity_out: Annotated[str | None, typer.Option("--equity-out", callback=output_file, help="Write equity.csv (date,cash,equity,drawdown,positions,buy_blocked,size_multiplier) here.")] = None,
    chart: Annotated[str | None, typer.Option("--chart", callback=output_file, help="Save an equity-and-drawdown chart as PNG here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON document.")] = False,
) -> None:
    """Run the Sennot rules and the risk layer over the stored bars.

    Uses the configured capital, costs, limits and universe. Prints return, CAGR, max
    drawdown, Sharpe, trades, win rate, average win/loss, exposure, rejections by reason and
    exits by rule. Orders still open after the last date are reported as open, not filled.
    """
    from pipeline.stages import backtest as bt

    check_range(start, end)
    app_ctx = ctx_of(ctx)

    def body():
        s, db = app_ctx.settings, app_ctx.db
        try:
            if err.is_terminal and not is_quiet():
                res, stats = _with_bar(lambda progress: bt.run(db, s, start, end, progress=progress))
            else:
                res, stats = bt.run(db, s, start, end, progress=_tenths("backtest"))
        except ValueError as e:
            from cli.common import EXIT_USAGE, fail
            fail(str(e), EXIT_USAGE if isinstance(e, bt.OutsideTheBars) else 1)
        if trades_out:
            bt.write_trades(res, trades_out)
        if equity_out:
            bt.write_equity(res, equity_out)
        if chart and res.equity:
            from pipeline.read.chart import equity_chart

            equity_chart(db, s, [e.date for e in res.equity], [e.equity for e in res.equity],
                         [e.drawdown for e in res.equity], chart,
                         title=f"qtx backtest ({s.market})" + (" — synthetic sample data" if stats.get("synthetic") else ""))
        stats["files"] = {"trades": trades_out, "equity": equity_out, "chart": chart}
        if as_json:
            emit_json(stats)
        else:
            render(stats)

    guarded(body)


def _with_bar(work):
    """Run ``work(progress)`` under the progress bar of a terminal."""
    with progress_bar("backtest") as prog:
        task = prog.add_task("days", total=None)
        return work(lambda n, total: prog.update(task, completed=n, total=total))


def _tenths(what: str):
    """Progress off a terminal (a pipe, a log file): a line per tenth of the days."""
    step = {"next": 0}

    def progress(n: int, total: int) -> None:
        if n >= step["next"] or n == total:
            progress_line(f"{what} {n}/{total} days")
            step["next"] = n + max(1, total // 10)

    return progress


def render(st: dict) -> None:
    from rich.table import Table

    t = Table(title=f"Backtest {st['start']} → {st['end']} ({st['days']} days, {st['symbols']} symbols)"
                + (" — synthetic sample data" if st.get("synthetic") else ""))
    t.add_column("metric")
    t.add_column("value", justify="right")
    pct = lambda x: f"{x * 100:,.2f}%"  # noqa: E731
    for name, val in [
        ("capital", f"{st['capital']:,.0f}"), ("final equity", f"{st['final_equity']:,.0f}"),
        ("total return", pct(st["total_return"])), ("CAGR", pct(st["cagr"])),
        ("max drawdown", pct(st["max_drawdown"])), ("Sharpe", f"{st['sharpe']:.2f}"),
        ("fills (buy/sell)", f"{st['fills']} ({st['buys']}/{st['sells']})"),
        ("round trips", str(st["round_trips"])), ("win rate", pct(st["win_rate"])),
        ("avg win", pct(st["avg_win"])), ("avg loss", pct(st["avg_loss"])),
        ("exposure (days invested)", pct(st["exposure"])), ("avg invested", pct(st["avg_invested"])),
        ("fees", f"{st['fees']:,.0f}"), ("approved BUYs", str(st["approved"])),
        ("days buys blocked", str(st["blocked_days"])), ("days size halved", str(st["reduced_size_days"])),
        ("orders open at end", str(len(st["open_orders"]))),
    ]:
        t.add_row(name, val)
    out.print(t)
    r = Table(title="Rejections and exits")
    r.add_column("kind")
    r.add_column("reason")
    r.add_column("count", justify="right")
    for k, v in st["rejections"].items():
        r.add_row("rejected", k, str(v))
    for k, v in st["exits"].items():
        r.add_row("exit", k, str(v))
    out.print(r)
    files = {k: v for k, v in st.get("files", {}).items() if v}
    for k, v in files.items():
        out.print(f"{k}: {v}")
