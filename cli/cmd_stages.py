"""The daily stages: ``qtx signal``, ``qtx execute``, ``qtx report``, ``qtx reconcile``.

Each is a few lines over its pipeline function, run under the stage lock with a ``runs`` row.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Annotated

import typer

from cli.common import (
    check_date,
    check_range,
    ctx_of,
    date_option,
    emit_json,
    err,
    guarded,
    out,
    output_file,
)

ASOF_HELP = ("Act as of this market date (YYYY-MM-DD), as if the clock said so; replays and "
             "tests drive the pipeline day by day with it. Default: the current market date.")
JSON_HELP = "Print the result as one JSON document on stdout."


def _run(ctx: typer.Context, stage: str, asof: str | None, as_json: bool,
         fn: Callable[..., dict], render: Callable[[dict], None]) -> None:
    from pipeline.schedule.gate import StaleData, gate
    from pipeline.schedule.stage import StageBusy, run_stage

    asof = check_date(asof)
    app_ctx = ctx_of(ctx)

    def body():
        s, db = app_ctx.settings, app_ctx.db
        try:
            with run_stage(db, s, stage, asof) as run:
                verdict = gate(db, s, stage, asof)
                if not verdict.ok:
                    run.skip(verdict.reason)
                    result = {"status": "skipped", "stage": stage, "reason": verdict.reason}
                else:
                    # Without --asof the calendar's market date stands in for it.
                    result = fn(db, s, asof or verdict.asof)
                    run.note(_summary_line(result))
        except StageBusy as e:
            err.print(str(e), highlight=False)
            result = {"status": "busy", "stage": stage, "reason": str(e)}
        except StaleData as e:  # refused (run failed, operator alerted): exit 1
            err.print(f"error: {e}", highlight=False, markup=False, soft_wrap=True)
            if as_json:
                emit_json(e.freshness.to_dict() | {"status": "stale", "stage": stage, "reason": str(e)})
            raise typer.Exit(1) from None
        note = _older_than_asked(asof, result)
        if note:
            result["note"] = note
            err.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
        if as_json:
            emit_json(result)
        elif result.get("status") in ("skipped", "busy"):
            out.print(f"{stage}: {result['status']}: {result['reason']}")
        else:
            render(result)

    guarded(body)


def _older_than_asked(asof: str | None, result: dict) -> str | None:
    """A stage asked about a date after the newest data it has says which date it used."""
    used = result.get("bar_date") or result.get("date")
    if asof and used and used < asof:
        return f"--asof {asof} is after the newest stored bar; this is as of {used}"
    return None


def _summary_line(r: dict) -> str:
    keys = ("date", "status", "new_signals", "buys_approved", "buys_rejected", "sells")
    return ", ".join(f"{k}={r[k]}" for k in keys if r.get(k) is not None)


def signal(
    ctx: typer.Context,
    asof: Annotated[str | None, typer.Option("--asof", callback=date_option, help=ASOF_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Decide for the latest stored bar (or --asof).

    Exits for held positions, entries for
    flat symbols, with reasons and strength, into `signals`; the day's equity, drawdown and
    risk state into `daily_metrics`. Rerunning for the same date changes nothing."""
    from pipeline.stages.signal import run_signal

    def render(r: dict) -> None:
        if r.get("status") == "nothing_to_do":
            out.print(f"signal: nothing to do ({r['reason']})")
            return
        from rich.table import Table

        stated = (f" (as of {r['asof']}: the newest bars are of {r['date']})"
                  if r.get("asof", r["date"]) != r["date"] else "")
        t = Table(title=f"Signals for {r['date']}{stated}")
        for c in ("side", "symbol", "reason", "detail"):
            t.add_column(c)
        for s in r["sells"]:
            t.add_row("SELL", s["symbol"], s["rule"], f"qty {s['qty']:g}")
        for b in r["buys"]:
            t.add_row("BUY", b["symbol"], b["reason"], f"strength {b['strength']:.2f}")
        out.print(t)
        from pipeline.read.money import currency_of, fmt_money

        cur = currency_of(ctx_of(ctx).settings)
        out.print(f"equity {fmt_money(r['equity'], cur, unit=True)}  drawdown {r['drawdown']:.2%}"
                  f"  day {r['daily_return']:+.2%}"
                  + ("  BUYs blocked (daily loss)" if r["buy_blocked"] else "")
                  + (f"  size x{r['size_multiplier']:g}" if r["size_multiplier"] < 1 else ""))
        for u in r.get("universe_unmatched") or []:  # a universe entry that has no effect is said
            err.print(f"warning: universe symbol {u['symbol']} has no stored bars"
                      + (f" (did you mean {u['did_you_mean']}?)" if u["did_you_mean"] else ""),
                      markup=False, highlight=False)

    _run(ctx, "signal", asof, as_json, lambda db, s, a: run_signal(db, s, a), render)


def execute(
    ctx: typer.Context,
    asof: Annotated[str | None, typer.Option("--asof", callback=date_option, help=ASOF_HELP)] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm the first live run of this database without a prompt.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Vet the pending signals with the risk guard and send the approved orders.

    Every verdict and reason is recorded; each approved signal gets an order intent with a
    deterministic client order id, then is sent to the broker and its outcome recorded. SELLs
    always pass; BUYs are blocked by /stop or a reconcile mismatch. Safe to rerun or to run
    after a crash: an order is looked up by its id before it is sent, never sent twice."""
    from pipeline.stages.execute import describe

    def render(r: dict) -> None:
        out.print(f"execute: {describe(r)}")
        for cid, status in (r.get("orders") or {}).items():
            out.print(f"  {cid}: {status}")

    def act(db, s, a):
        from pipeline.stages.execute import (
            needs_live_confirmation,
            record_live_confirmation,
            run_execute_stage,
        )

        if needs_live_confirmation(db, s):
            confirm_live(s, yes)
            record_live_confirmation(db)
        return run_execute_stage(db, s, a, replay=asof is not None)

    _run(ctx, "execute", asof, as_json, act, render)


def confirm_live(s, yes: bool) -> None:
    """The first live run of a database asks once on a terminal (or takes --yes)."""
    import sys

    from cli.common import EXIT_USAGE, fail

    if yes:
        return
    if not sys.stdin.isatty():
        fail("first live run: confirm on a terminal or pass --yes", EXIT_USAGE)
    venue = s.bybit.network if s.market == "bybit" else f"kiwoom {s.kiwoom.network}"
    answer = typer.prompt(f"Trade LIVE on {s.market} ({venue}) with orders up to "
                          f"{s.risk.max_order_notional:,.0f} each? Type 'live' to confirm")
    if answer.strip().lower() != "live":
        fail("live trading not confirmed", EXIT_USAGE)


def sync_fills(
    ctx: typer.Context,
    asof: Annotated[str | None, typer.Option("--asof", callback=date_option, help=ASOF_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Record the broker's new fills and the states of qtx's open orders.

    Each new fill queues a Telegram fill alert. launchd runs it after the opening auction and during the
    session (KRX 09:05, 11:00, 15:35; Bybit after execute); a rerun records nothing twice."""
    from pipeline.stages.sync import run_fill_sync

    def render(r: dict) -> None:
        out.print(f"sync: {r['new_fills']} new fill(s), {r['orders_updated']} order(s) updated")

    _run(ctx, "sync", asof, as_json, run_fill_sync, render)


def report(
    ctx: typer.Context,
    asof: Annotated[str | None, typer.Option("--asof", callback=date_option, help=ASOF_HELP)] = None,
    send: Annotated[bool, typer.Option("--send", help="Also queue the report (chart included) for Telegram.")] = False,
    chart: Annotated[str | None, typer.Option("--chart", callback=output_file, help="Where to save the equity chart PNG (default: next to the database, reports/).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """The daily report and equity chart.

    From the database: equity, day and total P&L, drawdown, positions
    with P&L, the day's fills, signals approved and rejected with reasons, the risk state, and
    an equity chart (PNG)."""
    from pipeline.stages.report import run_report, to_text

    def render(r: dict) -> None:
        out.print(to_text(r), highlight=False, markup=False)
        if r.get("chart"):
            out.print(f"chart: {r['chart']}", markup=False)
        if send:
            out.print("queued for Telegram" if r.get("queued") else "already queued for Telegram")
            from pipeline.read.status import telegram_setup

            why = telegram_setup(ctx_of(ctx).settings)
            if why:  # queued, but nothing will deliver it
                err.print(f"warning: {why}; the report waits in the outbox until it is set up",
                          highlight=False, markup=False, soft_wrap=True)

    _run(ctx, "report", asof, as_json, lambda db, s, a: run_report(db, s, a, send=send, chart_path=chart), render)


def reconcile(
    ctx: typer.Context,
    asof: Annotated[str | None, typer.Option("--asof", callback=date_option, help=ASOF_HELP)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show the differences; change nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Compare the broker with the database and repair what differs.

    The broker's open orders, fills and positions against the database: record the
    fills the database missed, close orders the broker no longer has, and block new BUYs (with
    an alert) while a difference remains that cannot be explained."""
    from pipeline.stages.reconcile import run_reconcile

    def render(r: dict) -> None:
        d = r["diff"]
        if d["clean"]:
            out.print("reconcile: broker and database agree")
        else:
            for k in ("missing_fills", "order_updates", "missing_at_broker", "unknown_at_broker", "position_mismatches"):
                if d[k]:
                    out.print(f"{k.replace('_', ' ')}: {len(d[k])}")
                    for item in d[k][:20]:
                        words = (", ".join(f"{a} {b}" for a, b in item.items() if b is not None)
                                 if isinstance(item, dict) else str(item))
                        out.print(f"  {words}", markup=False, highlight=False)
        if not r["dry_run"]:
            out.print(f"reconcile: {repaired_words(r['repaired'])}")
            if r["buys_blocked"]:
                err.print("BUYs blocked until resolved: " + "; ".join(r["remaining"]["unexplained"]), markup=False)

    _run(ctx, "reconcile", asof, as_json, lambda db, s, a: run_reconcile(db, s, a, dry_run=dry_run), render)


def repaired_words(rep: dict) -> str:
    """What reconcile repaired, as a sentence: 'recorded 2 missed fills, updated 1 order'."""
    def n(k: int, one: str) -> str:
        return f"{k} {one}" + ("" if k == 1 else "s")

    parts = [f"recorded {n(rep['fills'], 'missed fill')}" if rep.get("fills") else "",
             f"updated {n(rep['orders'], 'order state')}" if rep.get("orders") else "",
             f"matched {n(rep['matched'], 'unknown order')} on the venue's lists" if rep.get("matched") else "",
             f"kept {n(rep['missing'], 'order')} the venue does not show (yet)" if rep.get("missing") else ""]
    parts = [p for p in parts if p]
    return ", ".join(parts) if parts else "nothing to repair"


def replay(
    ctx: typer.Context,
    days: Annotated[int | None, typer.Option("--days", min=1, help="Only the last N decision dates of the range.")] = None,
    start: Annotated[str | None, typer.Option("--start", callback=date_option, help="First date to replay (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option("--end", callback=date_option, help="Last date to replay (YYYY-MM-DD).")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Collect each day from this source first (e.g. csv); default: use the stored bars.")] = None,
    path: Annotated[str | None, typer.Option("--path", help="With --source csv: the folder of <SYMBOL>.csv files.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Run the daily pipeline as of each past decision date in turn.

    Collect, signal and execute, as launchd would have, each stage locked and recorded in runs. Over stored bars it gives
    the trades a backtest of the same window gives; use it for demos, backfills and checks."""
    from cli.common import EXIT_USAGE, fail, is_quiet, progress_bar, progress_line
    from pipeline.stages.replay import ReplayRefused, refuse_done_dates, replay_dates, run_replay

    start, end = check_date(start, "--start"), check_date(end, "--end")
    check_range(start, end)
    app_ctx = ctx_of(ctx)

    def body():
        s, db = app_ctx.settings, app_ctx.db
        source_dates = None
        if source == "csv" and path:
            from pipeline.feeds.csv_bars import read_dates

            source_dates = read_dates(path)
        dates = replay_dates(db, days, start, end, source_dates, settings=s)
        try:
            refuse_done_dates(db, dates)
        except ReplayRefused as e:
            fail(str(e), EXIT_USAGE)
        bar = err.is_terminal and not is_quiet()
        with (progress_bar("replay") if bar else nullcontext()) as prog:
            task = prog.add_task("", total=len(dates)) if prog else None

            def progress(n: int, total: int, d: str) -> None:
                if prog:
                    prog.update(task, completed=n, description=d)
                else:  # a log file or a pipe: one line per replayed date (--quiet: none)
                    progress_line(f"replay {n}/{total}: {d}")

            r = run_replay(db, s, dates, source, path, progress=progress)
        if as_json:
            emit_json(r)
            return
        from rich.table import Table

        from pipeline.read.money import currency_of, fmt_money

        cur = currency_of(s)
        t = Table(title=f"Replay {r['first']} → {r['last']} ({r['days']} days, {r['fills']} fills)")
        for c in ("date", "sell signals", "buy signals", "orders", f"equity ({cur})"):
            t.add_column(c, justify="right")
        for row in r["per_day"]:
            t.add_row(row["date"], str(row["sells"]), str(row["buys"]), str(row["orders"]),
                      fmt_money(row["equity"], cur))
        out.print(t)

    guarded(body)
