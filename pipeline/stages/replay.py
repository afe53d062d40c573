"""Drive the daily pipeline over past dates, as launchd would have day by day.

Each date runs collect (when a source is given), signal and execute as of that date, each
under its stage lock with a ``runs`` row, exactly like the scheduled stages.  Because every
stage acts only on what was known at its ``--asof`` date, a replay over stored bars gives the
trades a backtest of the same window gives.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from db import DB, trading
from db import market as market_db
from db.paper import PaperStore
from pipeline.config import Settings
from pipeline.feeds.csv_bars import CsvFolder
from pipeline.schedule.calendar import sessions
from pipeline.schedule.stage import run_stage
from pipeline.stages.collect import collect as run_collect
from pipeline.stages.execute import run_execute
from pipeline.stages.signal import run_signal
from pipeline.stages.sync import after_collect


def replay_dates(db: DB, days: int | None, start: str | None, end: str | None,
                 source_dates: list[str] | None = None, settings: Settings | None = None) -> list[str]:
    """The decision dates to replay: dates with bars (or in the source), in ``[start, end]``,
    the last ``days`` of them; with ``settings``, only the market's trading days (a weekend
    or holiday row is not a day to decide on)."""
    dates = source_dates if source_dates is not None else market_db.market_dates(db)
    dates = [d for d in dates if (start is None or d >= start) and (end is None or d <= end)]
    if settings is not None:
        days_of = sessions(settings)
        dates = [d for d in dates if days_of.is_session(d)]
    return dates[-days:] if days else dates


class ReplayRefused(Exception):
    """The replay would act on dates this database has already moved past."""


def last_processed(db: DB) -> str | None:
    """The newest date this database has acted on: its last decision (``daily_metrics``) or
    the last open the paper venue filled at."""
    metrics = trading.metrics_series(db)
    done = [d for d in (metrics[-1]["date"] if metrics else None, PaperStore(db).last_open()) if d]
    return max(done) if done else None


def refuse_done_dates(db: DB, dates: list[str]) -> None:
    """Raise ``ReplayRefused`` when ``dates`` reach back to a date already processed: deciding
    it again would place back-dated orders on positions and cash that have moved on."""
    done = last_processed(db)
    if done is not None and dates and dates[0] <= done:
        raise ReplayRefused(
            f"replay: this database has already processed up to {done}, so {dates[0]} cannot be "
            f"replayed (its orders would be back-dated after the account moved on); replay the "
            f"dates after {done} (--start), or start from a fresh database (qtx init --force)")


def run_replay(db: DB, settings: Settings, dates: list[str], source: str | None = None,
               path: str | Path | None = None,
               progress: Callable[[int, int, str], None] | None = None) -> dict:
    refuse_done_dates(db, dates)
    trades_before = trading.fill_count(db)
    stored = "+".join(market_db.bar_sources(db)) or "none"
    # A folder of CSV files is read once (and again only where a file changes), not per date.
    folder = CsvFolder.of(path) if source == "csv" and path is not None else None
    per_day = []
    for n, d in enumerate(dates, start=1):
        with run_stage(db, settings, "collect", d) as run:
            if source:
                c = run_collect(db, settings, source=source, path=path, asof=d, folder=folder)
                after_collect(db, settings, d)
                run.note(f"{c.get('bars_new', 0)} new bars")
            else:
                # Over stored bars the data stage is the store itself: say so in `runs`, so
                # status shows what moved the market on each replayed date, not "never".
                run.note(f"replay: the bars up to {d} were already stored ({stored})")
        with run_stage(db, settings, "signal", d) as run:
            s = run_signal(db, settings, d)
            run.note(f"date={s.get('date')}")
        with run_stage(db, settings, "execute", d) as run:
            e = run_execute(db, settings, d)
            run.note(f"date={e.get('date')}")
        per_day.append({"date": d, "sells": len(s.get("sells", [])), "buys": len(s.get("buys", [])),
                        "orders": len(e.get("orders") or {}), "equity": s.get("equity")})
        if progress:
            progress(n, len(dates), d)
    return {"days": len(dates), "first": dates[0] if dates else None, "last": dates[-1] if dates else None,
            "fills": trading.fill_count(db) - trades_before, "per_day": per_day}
