"""``qtx collect``: one data stage (CSV files now; the market feeds register in pipeline.stages.collect)."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from cli.common import (
    EXIT_USAGE,
    check_date,
    ctx_of,
    date_option,
    emit_json,
    err,
    fail,
    guarded,
    out,
    progress_bar,
)
from cli.main import app

PROGRESS_MIN_FILES = 20  # a bar only for imports long enough to need one


@app.command()
def collect(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option(
        "--source", help="csv, or a market feed (default: the configured market's own feed).")] = None,
    path: Annotated[Path | None, typer.Option(
        "--path", help="With --source csv: a folder of <SYMBOL>.csv files (+ optional sectors.csv).")] = None,
    asof: Annotated[str | None, typer.Option("--asof", callback=date_option,
                                             help="Act as of this date (YYYY-MM-DD): store nothing dated after it.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the import summary as one JSON document.")] = False,
) -> None:
    """Import daily bars: one collect stage run (locked, recorded in runs).

    CSV files need a header with date,open,high,low,close,volume (other columns ignored;
    files without a header in that column order are read with a notice). Rows that cannot be
    trading days are skipped, counted by reason and recorded as events. Importing the same
    files twice changes nothing; a stored bar that differs from the file is reported as a
    conflict and kept.
    """
    from pipeline.schedule.gate import gate
    from pipeline.schedule.stage import StageBusy, run_stage
    from pipeline.stages.collect import CollectUsageError, CsvFormatError, resolve_source
    from pipeline.stages.collect import collect as run_collect
    from pipeline.stages.sync import after_collect

    asof = check_date(asof)
    app_ctx = ctx_of(ctx)

    def body():
        s = app_ctx.settings
        try:  # a request that cannot run is bad usage, not a failed run
            resolve_source(s, source, path)
        except CollectUsageError as e:
            fail(str(e), EXIT_USAGE)
        db = app_ctx.db
        n_files = len(list(path.glob("*.csv"))) if path is not None and path.is_dir() else 0
        show = n_files >= PROGRESS_MIN_FILES and err.is_terminal
        bar = progress_bar("collect") if show else nullcontext()
        try:
            with bar as prog, run_stage(db, s, "collect", asof) as run:
                task = prog.add_task("", total=n_files) if prog else None

                def progress(done: int, total: int, label: str) -> None:
                    if prog is not None:
                        prog.update(task, completed=done, total=total, description=label)

                day = asof
                if source is None:  # the scheduled market feed keeps to its window
                    verdict = gate(db, s, "collect", asof)
                    if not verdict.ok:
                        run.skip(verdict.reason)
                        summary = {"status": "skipped", "stage": "collect", "reason": verdict.reason}
                        return _show(summary, as_json)
                    day = asof or verdict.asof
                summary = run_collect(db, s, source=source, path=path, asof=day, progress=progress)
                summary["paper"] = after_collect(db, s, day)
                run.note(_one_line(summary))
        except (CollectUsageError, CsvFormatError) as e:
            fail(str(e), EXIT_USAGE)
        except StageBusy as e:  # another collect is at work: nothing to do (exit 0)
            err.print(str(e), highlight=False, soft_wrap=True)
            if as_json:
                emit_json({"status": "busy", "stage": "collect", "reason": str(e)})
            return
        _show(summary, as_json)

    guarded(body)


def _show(summary: dict, as_json: bool) -> None:
    _warn(summary)
    if as_json:
        emit_json(summary)
    elif summary.get("status") == "skipped":
        out.print(f"collect: skipped: {summary['reason']}")
    else:
        render(summary)


def _warn(s: dict) -> None:
    """What the import left out or flagged, on stderr whatever the output format."""
    for x in s.get("not_symbols") or []:
        err.print(f"warning: skipped {x['file']}: {x['reason']}", highlight=False, markup=False,
                  soft_wrap=True)
    for sym in s.get("corporate_actions") or []:
        err.print(f"warning: {sym}: a daily move beyond the price limit (unadjusted split?); "
                  "no BUYs for it until adjusted bars replace the stored ones",
                  highlight=False, markup=False, soft_wrap=True)
    for sym in s.get("corporate_actions_cleared") or []:
        err.print(f"{sym}: bars now within the price limit; BUYs allowed again",
                  highlight=False, markup=False, soft_wrap=True)


def _one_line(s: dict) -> str:
    parts = [f"{s.get('bars_new', 0)} new bars"]
    if s.get("files") is not None:
        parts.insert(0, f"{s['files']} files")
    if s.get("skipped_total"):
        parts.append(f"{s['skipped_total']} rows skipped")
    if s.get("conflicts"):
        parts.append(f"{s['conflicts']} conflicts")
    return ", ".join(parts)


def render(s: dict) -> None:
    out.print(f"collect from {s.get('source')}: {_one_line(s)}"
              + (f", {s['bars_unchanged']} already stored" if s.get("bars_unchanged") else "")
              + (f", {s['after_asof']} after --asof ignored" if s.get("after_asof") else ""),
              soft_wrap=True)
    if s.get("sectors"):
        out.print(f"sectors: {s['sectors']} symbols")
    if s.get("skipped") or s.get("flagged"):
        from rich.markup import escape
        from rich.table import Table

        t = Table(title="rows skipped (never stored) / flagged (stored)", title_justify="left")
        t.add_column("reason")
        t.add_column("rows", justify="right")
        t.add_column("meaning")
        for k, v in {**s.get("skipped", {}), **s.get("flagged", {})}.items():
            t.add_row(k, str(v), escape(s.get("reasons", {}).get(k) or ""))
        out.print(t)
    if s.get("conflicts"):
        err.print(f"warning: {s['conflicts']} stored bar(s) differ from the files and were kept; "
                  "first: " + ", ".join(f"{c['symbol']} {c['date']}" for c in s["conflict_examples"][:5]),
                  highlight=False, soft_wrap=True)
