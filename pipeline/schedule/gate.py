"""Whether a stage may act now: the market window (and, under launchd, once per market date),
or --asof for replays; and, for a stage that decides on the bars, whether they are fresh.
The one gate (``gate``): the rules live in ``pipeline.schedule.calendar`` (pure) and what was already
done in ``pipeline.schedule.catchup``.

``$QTX_NOW`` (an ISO timestamp with its offset, e.g. ``2026-11-24T08:40:00+09:00``) makes the
gate judge the window as if the wall clock said so: for dry checks of the schedule and tests.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime

from db import market as market_db
from pipeline import alerts
from pipeline.config import ConfigError
from pipeline.schedule import calendar as cal
from pipeline.schedule import catchup

# Stages that only read and summarise: an operator may run them by hand at any hour.
READ_ONLY = ("report",)
# Stages that act more than once a market date on purpose (fill syncs during the session, a
# reconcile before each trade): the once-per-date rule of scheduled runs does not apply.
REPEATABLE = ("sync", "reconcile")
# Stages that decide on the bars: run by the clock, they refuse bars older than the calendar
# says they should have.  (``execute`` acts on a decision already made and expires a stale one.)
NEEDS_FRESH_BARS = ("signal",)


class StaleData(Exception):
    """The newest stored bar is older than the bar the stage should have by now."""

    def __init__(self, stage: str, fresh: cal.Freshness):
        super().__init__(f"{stage} refused: {fresh.reason} (has collect run?)")
        self.stage = stage
        self.freshness = fresh


def clock() -> datetime | None:
    raw = os.environ.get("QTX_NOW")
    if not raw:
        return None
    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        raise ConfigError(None, "QTX_NOW", f"not an ISO timestamp: {raw!r}") from None
    if t.tzinfo is None:  # read as UTC, 08:40 would be 17:40 in Seoul: say so instead
        raise ConfigError(None, "QTX_NOW", f"{raw!r} has no UTC offset: write it as {raw}+09:00 (KST) "
                                           f"or {raw}Z (UTC)")
    return t


def now() -> datetime:
    """The wall clock, or ``$QTX_NOW`` when set."""
    return clock() or datetime.now(UTC)


def gate(db, settings, stage: str, asof: str | None, *, at: datetime | None = None,
         once: bool | None = None):
    """The one gate every stage passes: the verdict (``ok``, ``reason``, ``asof``) for running
    ``stage`` now (``at``, default the clock) or as of ``asof``.

    The rule is the calendar's (``calendar.window_gate``, pure).  With ``once`` (default: when
    launchd started us) a date the stage already acted for is refused, so a missed run is caught
    up exactly once and twin schedule entries (DST, late opens) act once; manual runs may repeat
    a date.  A read-only stage run by hand may act outside its window; a deciding stage run by
    the clock refuses stale bars (``StaleData``)."""
    once = (catchup.scheduled() if once is None else once) and stage not in REPEATABLE
    last = catchup.last_done_date(db, settings, stage) if (once and asof is None) else None
    verdict = cal.window_gate(settings, stage, asof, at or clock(), last_done=last)
    if not verdict.ok and stage in READ_ONLY and not catchup.scheduled():
        return replace(verdict, ok=True, reason="manual run outside the window")
    if verdict.ok and asof is None and stage in NEEDS_FRESH_BARS:
        require_fresh_bars(db, settings, stage, at)
    return verdict


def require_fresh_bars(db, settings, stage: str, at: datetime | None = None) -> cal.Freshness:
    """Raise ``StaleData`` (after one alert per missing bar) when the newest stored trading-day
    bar is older than the one the calendar says should be in by now.  An ``--asof`` run is not
    checked: it states the bar it used instead."""
    t = at or now()
    today = cal.market_date(settings.market, t).isoformat()
    newest = market_db.newest_date(db, today, cal.sessions(settings).is_session)
    fresh = cal.freshness(settings.market, newest, t, settings)
    if not fresh.ok:
        alerts.error_alert(db, "stale_data", f"{stage} refused: {fresh.reason}",
                           fresh.to_dict() | {"stage": stage},
                           dedup_key=f"stale_data:{stage}:{fresh.expected}")
        raise StaleData(stage, fresh)
    return fresh
