"""The collect stage: bring daily bars into the database.

``collect(db, settings, source=...)`` dispatches on the source: ``csv`` reads a directory of
``<SYMBOL>.csv`` files; a market's own feed (Bybit, Kiwoom; ``FEEDS``, run by the one loop in
``pipeline.feeds.loop``) is the default when no source is given.  Every source stores nothing dated
after ``asof``.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from db import bars as bars_db
from db import events
from db.core import DB
from pipeline.faults import checkpoint
from pipeline.feeds import corporate_actions
from pipeline.feeds.bybit import collect_bybit
from pipeline.feeds.csv_bars import (
    FLAG_REASONS,
    REQUIRED,
    SECTORS_FILE,
    SKIP_REASONS,
    CsvFolder,
    CsvFormatError,
    MarketDays,
    ParsedBars,
    bar_files,
    parse_file,
    parse_sectors,
    sniff_header,
    symbol_of,
    symbol_problem,
)
from pipeline.feeds.kiwoom import collect_kiwoom
from pipeline.feeds.loop import Progress
from sennot.numeric import v_eq

log = logging.getLogger(__name__)

# Market feeds: source name -> collect function (db, settings, asof=, progress=) -> summary.
FEEDS: dict[str, Callable[..., dict[str, Any]]] = {"bybit": collect_bybit, "kiwoom": collect_kiwoom}
# The feed a market uses when `qtx collect` is given no --source.
MARKET_FEED = {"krx": "kiwoom", "bybit": "bybit"}


class CollectUsageError(Exception):
    """The collect request itself is unusable (bad path, bad file, unknown source)."""


def resolve_source(settings: Any, source: str | None, path: str | Path | None = None) -> str:
    """The source a collect will use; ``CollectUsageError`` when it cannot run at all."""
    if path is not None and source != "csv":
        # Said, not ignored: the market feed would run and the folder would never be read.
        raise CollectUsageError(f"--path {path} is read only with --source csv "
                                f"(did you mean: qtx collect --source csv --path {path}?)")
    source = source or MARKET_FEED.get(settings.market, settings.market)
    if source == "csv":
        if path is None:
            raise CollectUsageError("--source csv needs --path DIR (a folder of <SYMBOL>.csv files)")
        if not Path(path).is_dir():
            raise CollectUsageError(f"--path {path}: not a directory")
    elif source not in FEEDS:
        known = ", ".join(["csv", *sorted(FEEDS)])
        raise CollectUsageError(f"no collector for source {source!r} (available: {known})")
    elif source != MARKET_FEED.get(settings.market):
        raise CollectUsageError(f"--source {source} is the feed of another market; this workspace is "
                                f"market: {settings.market} (use --source csv or no --source)")
    return source


def collect(db: DB, settings: Any, source: str | None = None, path: str | Path | None = None,
            asof: str | None = None, progress: Progress | None = None,
            folder: CsvFolder | None = None) -> dict[str, Any]:
    """Run one collect from ``source`` (default: the configured market's feed).  ``folder``:
    the CSV files' reader to reuse (a replay collects the same folder date after date)."""
    source = resolve_source(settings, source, path)
    if source == "csv":
        out = collect_csv(db, settings, path, asof=asof, progress=progress, folder=folder)
    else:
        out = FEEDS[source](db, settings, asof=asof, progress=progress)
    # Blocks whose rows changed behind them (a database migrated from schema 2, a hand edit)
    # are rebuilt here, so the readers' fallback to rows stays the exception.
    bars_db.refresh_blocks(db)
    return out


def collect_csv(db: DB, settings: Any, path: str | Path, asof: str | None = None,
                progress: Progress | None = None, folder: CsvFolder | None = None) -> dict[str, Any]:
    """Import every ``<SYMBOL>.csv`` in ``path`` (and ``sectors.csv``) into ``bars``.

    Bad rows are skipped, counted by reason and recorded as one warning event per file; a
    stored bar that differs from the file is a conflict (reported, never overwritten).  Every
    file's header is checked before anything is written, so a malformed file stores nothing.
    With ``folder`` (``CsvFolder``), the files are read through it: once, however many dates
    a replay collects them as of.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise CollectUsageError(f"{directory}: not a directory")
    files = bar_files(directory)
    if not files:  # nothing to import is a wrong folder, not a successful run
        raise CollectUsageError(f"--path {directory}: no <SYMBOL>.csv bar files in this folder")
    # A file whose name is no symbol of the market (a Finder duplicate, notes.csv) is skipped
    # and said: imported, it would become a symbol of its own.
    not_symbols = [{"file": f.name, "reason": why} for f in files
                   if (why := symbol_problem(symbol_of(f), settings.market))]
    files = [f for f in files if not symbol_problem(symbol_of(f), settings.market)]
    if not files:
        raise CollectUsageError(
            f"--path {directory}: no usable <SYMBOL>.csv bar file in this folder ("
            + "; ".join(f"{x['file']}: {x['reason']}" for x in not_symbols[:5]) + ")")
    rows_in: dict[str, int] = {}  # symbol -> rows in its file (its lines, without a folder)
    if folder is not None:  # read (and so check) every file before writing anything
        for f in files:
            rows_in[symbol_of(f)] = len(folder.read(f).days)
    else:
        for f in files:  # fail before writing anything
            with f.open(encoding="utf-8-sig", errors="replace") as fh:
                sniff_header(fh.readline(), f)
            rows_in[symbol_of(f)] = f.read_bytes().count(b"\n")  # 0.05 us per bar
    sectors_path = directory / SECTORS_FILE
    try:
        sectors = parse_sectors(sectors_path) if sectors_path.exists() else {}
    except UnicodeDecodeError:
        raise CsvFormatError(sectors_path, "not UTF-8 text (save it as CSV UTF-8 with a "
                             "symbol,sector header)") from None
    except (csv.Error, IsADirectoryError) as e:
        raise CsvFormatError(sectors_path, f"not a readable CSV ({e})") from None

    # Rows the market's calendar rules out: closed days, and days after its current date.
    from pipeline.schedule.calendar import market_date, sessions
    from pipeline.schedule.gate import now

    is_session, today = sessions(settings).is_session, market_date(settings.market, now()).isoformat()
    days = folder.days(is_session, today) if folder is not None else MarketDays(is_session, today)
    status_now = corporate_actions.statuses(db)
    summary: dict[str, Any] = {
        "status": "ok", "source": "csv", "path": str(directory), "asof": asof, "files": len(files),
        "not_symbols": not_symbols, "corporate_actions": [], "corporate_actions_cleared": [],
        "headerless_files": [], "rows_read": 0, "bars_new": 0, "bars_unchanged": 0,
        "after_asof": 0, "skipped": {}, "skipped_total": 0, "flagged": {}, "conflicts": 0,
        "conflict_examples": [], "sectors": 0, "symbols": [],
    }
    skipped, flagged = Counter(), Counter()
    # Each file's skips as last reported: one read of those events, not one per file.
    reported = {f: (d or {}).get("skipped") for f, d in events.latest_by(db, "collect_bad_rows", "file").items()}
    # An import that at least doubles the stored bars (a first import) is one transaction that
    # builds the date index once at its end (``bars_db.date_index_deferred``): 2-3x cheaper
    # per bar, at the price of holding the write lock for the whole import.
    bulk = _bulk(db, rows_in)
    batch = _Batches(db, whole=bulk)
    try:
        if bulk:
            batch.begin()
        with bars_db.bulk_writes(db), (bars_db.date_index_deferred(db) if bulk else nullcontext()):
            for i, f in enumerate(files, 1):
                if folder is not None:
                    parsed = folder.judged(f, days).upto(asof)
                else:
                    parsed = parse_file(f, asof=asof, days=days)
                batch.begin()
                new, unchanged, conflicts = _store(db, parsed)
                _record_problems(db, parsed, conflicts, reported)
                # The move is judged on what the strategy will read: the file's bars, or where the
                # file differs from them, the stored bars of its range (a conflict keeps those).
                dates, closes = parsed.dates, parsed.values[3]
                if conflicts:
                    stored = bars_db.read_bar_arrays(db, parsed.symbol, dates[0], dates[-1])
                    dates, closes = stored["date"], stored["close"]
                change = corporate_actions.review(db, settings.market, parsed.symbol, dates, closes,
                                                  current=status_now.get(parsed.symbol))
                if change:
                    summary["corporate_actions" if change == "flagged" else "corporate_actions_cleared"].append(parsed.symbol)
                batch.done(len(parsed))
                checkpoint("collect:after_file")
                summary["rows_read"] += parsed.rows_read
                summary["bars_new"] += new
                summary["bars_unchanged"] += unchanged
                summary["after_asof"] += parsed.after_asof
                summary["conflicts"] += len(conflicts)
                summary["conflict_examples"].extend(conflicts[: max(0, 10 - len(summary["conflict_examples"]))])
                summary["symbols"].append(parsed.symbol)
                skipped.update(parsed.skipped)
                flagged.update(parsed.flagged)
                if parsed.headerless:
                    summary["headerless_files"].append(f.name)
                if progress:
                    progress(i, len(files), parsed.symbol)
        if summary["rows_read"] == sum(skipped.values()):
            # Every row of every file was skipped: a wrong folder or wrong files, not an import.
            raise CollectUsageError(
                f"--path {directory}: no usable bar in {len(files)} file(s) (skipped: "
                + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())) + ")")
        checkpoint("collect:before_commit")
    except BaseException:
        batch.abort()
        raise
    batch.commit()

    if sectors:
        summary["sectors"] = bars_db.upsert_instruments(
            db, [{"symbol": s, "sector": sec or None} for s, sec in sorted(sectors.items())])
    summary["skipped"] = dict(sorted(skipped.items()))
    summary["skipped_total"] = sum(skipped.values())
    summary["flagged"] = dict(sorted(flagged.items()))
    summary["reasons"] = {k: SKIP_REASONS.get(k) or FLAG_REASONS.get(k)
                          for k in [*summary["skipped"], *summary["flagged"]]}
    if summary["headerless_files"]:
        log.info("%d file(s) had no header and were read as date,open,high,low,close,volume: %s",
                 len(summary["headerless_files"]), ", ".join(summary["headerless_files"][:5]))
    return summary


# Fewer new bars than this are no bulk import: keeping the date index row by row costs them
# less than building it again over the stored bars.
BULK_MIN_ROWS = 10_000


def _bulk(db: DB, rows_in: dict[str, int]) -> bool:
    """Whether an import of ``rows_in`` (symbol -> rows in its file) is a bulk import: it may
    add at least as many bars as are stored, and at least ``BULK_MIN_ROWS``."""
    stored = bars_db.bar_counts(db)
    new = sum(max(0, n - stored.get(sym, 0)) for sym, n in rows_in.items())
    return new >= max(BULK_MIN_ROWS, sum(stored.values()))


class _Batches:
    """Whole files grouped into transactions of about ``BATCH_ROWS`` bars: one commit per file
    costs a WAL checkpoint each time, one for everything holds the write lock too long (but a
    bulk import, ``whole``, is one transaction: see ``_bulk``)."""

    BATCH_ROWS = 100_000

    def __init__(self, db: DB, whole: bool = False):
        self.db, self.rows, self.open, self.whole = db, 0, False, whole

    def begin(self) -> None:
        if not self.open and not self.db.conn.in_transaction:
            self.db.begin()
            self.open = True

    def done(self, rows: int) -> None:
        self.rows += rows
        if self.rows >= self.BATCH_ROWS and not self.whole:
            self.commit()

    def commit(self) -> None:
        if self.open:
            self.db.commit()
        self.open, self.rows = False, 0

    def abort(self) -> None:
        if self.open:
            self.db.rollback()
        self.open, self.rows = False, 0


def _store(db: DB, parsed: ParsedBars) -> tuple[int, int, list[dict]]:
    """Insert the file's bars that are new; compare the ones already stored."""
    if not len(parsed):
        return 0, 0, []
    days, values, cols = parsed.days, parsed.values, REQUIRED[1:]
    with db.transaction():
        stored = bars_db.bar_columns(db, parsed.symbol, parsed.dates[0], parsed.dates[-1])
        at = np.minimum(np.searchsorted(stored[0], days), max(stored.shape[1] - 1, 0))
        found = (stored[0, at] == days) if stored.shape[1] else np.zeros(days.size, bool)
        old = stored[1:, at] if stored.shape[1] else np.empty_like(values)
        with np.errstate(invalid="ignore"):
            same = ((old == values) | v_eq(old, values)).all(axis=0)
        conflicts = [{"symbol": parsed.symbol, "date": str(parsed.dates[i]),
                      "stored": dict(zip(cols, old[:, i].tolist(), strict=True)),
                      "file": dict(zip(cols, values[:, i].tolist(), strict=True))}
                     for i in np.flatnonzero(found & ~same).tolist()]
        new = bars_db.insert_columns(db, parsed.symbol, parsed.dates[~found], values[:, ~found], source="csv",
                                     days=days[~found])
    return new, int((found & same).sum()), conflicts


def _record_problems(db: DB, parsed: ParsedBars, conflicts: list[dict], reported: dict[str, dict]) -> None:
    """``reported``: each file's skips as last recorded (``events.latest_by``), kept up to date."""
    # A file re-imported day after day (replays, --asof runs) reports the same bad rows once.
    if parsed.skipped and reported.get(parsed.path) != dict(parsed.skipped):
        reported[parsed.path] = dict(parsed.skipped)
        events.record(
            db, "warning", "collect_bad_rows",
            f"{parsed.path}: skipped {parsed.skipped_total} row(s) that cannot be trading days "
            f"({', '.join(f'{k} {v}' for k, v in sorted(parsed.skipped.items()))})",
            {"symbol": parsed.symbol, "file": parsed.path, "skipped": dict(parsed.skipped),
             "flagged": dict(parsed.flagged), "examples": parsed.examples})
    if conflicts:
        events.record(
            db, "warning", "collect_conflict",
            f"{parsed.symbol}: {len(conflicts)} bar(s) in {parsed.path} differ from the stored ones "
            "(kept the stored bars)",
            {"symbol": parsed.symbol, "file": parsed.path, "count": len(conflicts),
             "examples": conflicts[:5]})


__all__ = ["FEEDS", "MARKET_FEED", "CollectUsageError", "CsvFormatError", "collect", "collect_csv",
           "resolve_source"]

