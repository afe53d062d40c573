"""Coming back after downtime: which scheduled runs were missed and are still useful.

launchd replays a calendar job missed while the Mac slept (once, on wake), but not one missed
while it was off.  After a power cut the ``catchup`` job (RunAtLoad) asks ``needs_catchup`` and
runs those stages in order.  The rule "the first run after downtime reconciles before it trades"
is ``must_reconcile_first``, which ``execute`` checks.

Slots are the schedule's regular times (``pipeline.schedule.timetable``, in the market's zone) on the market's
trading days, shifted on late-open days.  Pure except ``must_reconcile_first`` (reads ``runs``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from db.core import parse_ts
from pipeline.schedule import calendar as cal
from pipeline.schedule.timetable import regular_jobs, scheduled_stages

# launchd fires at the minute; a run that started a little before the slot (clock adjustments)
# still counts for it.
SLOT_TOLERANCE = timedelta(minutes=2)
_SCAN_DAYS = 40


def slots_on(market: str, stage: str, d: date, conf: Any = None) -> list[datetime]:
    """Every regular time ``stage`` is scheduled on market date ``d``, earliest first (sync fires
    several times a day; an execute retry is not a slot of its own)."""
    c = cal.calendar_conf(conf)
    if not cal.is_trading_day(market, d, c):
        return []
    shift = c.shift(d) if market == "krx" else timedelta(0)
    return sorted(datetime.combine(d, time(job.hour, job.minute), tzinfo=cal.market_zone(market)) + shift
                  for job in regular_jobs(market, stage)
                  if job.weekdays is None or d.isoweekday() in job.weekdays)


def slot_on(market: str, stage: str, d: date, conf: Any = None) -> datetime | None:
    """When ``stage`` is first scheduled on market date ``d`` (None: not scheduled that day)."""
    slots = slots_on(market, stage, d, conf)
    return slots[0] if slots else None


def last_expected_slot(market: str, stage: str, now: datetime, conf: Any = None) -> datetime | None:
    """The latest scheduled time of ``stage`` at or before ``now``."""
    c = cal.calendar_conf(conf)
    today = cal.market_date(market, now)
    for k in range(_SCAN_DAYS):
        passed = [s for s in slots_on(market, stage, today - timedelta(days=k), c) if s <= now]
        if passed:
            return passed[-1]
    return None


def downtime_gap(last_seen: datetime | str | None, now: datetime,
                 grace: timedelta = timedelta(minutes=30)) -> timedelta | None:
    """How long qtx was silent, if longer than ``grace`` (None: no gap, or nothing seen yet).

    ``last_seen``: the listener's last heartbeat, or ``db.schedule.last_activity``.
    """
    t = parse_ts(last_seen)
    if t is None:
        return None
    gap = now - t
    return gap if gap > grace else None


def _done_since(last_ok: Any, slot: datetime) -> bool:
    if isinstance(last_ok, Mapping):  # a runs row
        last_ok = last_ok.get("last_ok_at") or last_ok.get("started_at")
    t = parse_ts(last_ok)
    return t is not None and t >= slot - SLOT_TOLERANCE


def needs_catchup(last_runs: Mapping[str, Any], now: datetime, market: str,
                  conf: Any = None) -> list[str]:
    """Stages whose last scheduled slot passed without a successful run and whose window is
    still open, oldest slot first; ``reconcile`` always comes before ``execute``.

    ``last_runs``: ``stage -> started_at`` of its last successful run (``db.schedule.
    last_ok_started``), a datetime, or a runs row; a missing stage never ran.
    """
    c = cal.calendar_conf(conf)
    missed: list[tuple[datetime, str]] = []
    for stage in scheduled_stages(market):
        slot = last_expected_slot(market, stage, now, c)
        if slot is None or _done_since(last_runs.get(stage), slot):
            continue
        if cal.check_window(market, stage, now, c).ok:
            # Ordered by the day's first slot: a sync missed at 00:45 still comes before the
            # report of 00:20, as the 00:18 one does.
            first = slots_on(market, stage, cal.market_date(market, slot), c)[0]
            missed.append((first, stage))
    stages = [s for _, s in sorted(missed)]
    if "execute" in stages:
        # Trading after downtime: the broker may have moved while we were away.
        if "reconcile" in stages:
            stages.remove("reconcile")
        stages.insert(stages.index("execute"), "reconcile")
    return stages


def must_reconcile_first(db: Any, now: datetime | None = None, conf: Any = None,
                         market: str | None = None) -> bool:
    """True when the last successful reconcile is older than the last expected reconcile slot
    (or there never was one): ``execute`` then reconciles before it sends anything."""
    from db import schedule as sched_db  # the SQL lives in db/

    now = now or datetime.now(UTC)
    market = market or db.meta().get("market")
    slot = last_expected_slot(market, "reconcile", now, conf)
    last = sched_db.last_ok_started(db).get("reconcile")
    if last is None:
        return True
    return slot is not None and not _done_since(last, slot)


def acted_for(market: str, stage: str, run: Mapping[str, Any], conf: Any = None) -> date | None:
    """The market date a successful run acted for: its ``asof``, else the window date at its
    start (a scheduled run without --asof acted for ``check_window``'s date)."""
    if run.get("asof"):
        return date.fromisoformat(str(run["asof"])[:10])
    t = parse_ts(run.get("started_at"))
    return cal.check_window(market, stage, t, conf).market_date if t else None


def last_done_date(db: Any, settings: Any, stage: str) -> date | None:
    """The latest market date ``stage`` already acted for (for ``window_gate(last_done=...)``)."""
    from db import runs as runs_db

    rows = [r for r in runs_db.runs_of(db, stage, limit=20) if r.get("outcome") == "ok"]
    dates = [d for d in (acted_for(settings.market, stage, r, settings) for r in rows) if d]
    return max(dates) if dates else None


def scheduled() -> bool:
    """Whether this process was started by a launchd job (the plists set QTX_LAUNCHD=1)."""
    import os

    return os.environ.get("QTX_LAUNCHD") == "1"


def run_catchup(settings: Any, qtx: str, now: datetime | None = None, dry_run: bool = False,
                runner: Any = None) -> dict:
    """Run the missed stages that are still useful, in order, each as ``qtx <stage>`` (so each
    takes its own lock and window check).  Stops at the first failure.  Queues one Telegram
    message about the downtime gap, if there was one."""
    import subprocess

    from db import events as events_db
    from db import open_db
    from db import schedule as sched_db
    from pipeline import alerts

    now = now or datetime.now(UTC)
    db = open_db(settings.db_path, market=settings.market, mode=settings.mode)
    try:
        last_seen = sched_db.last_activity(db)
        grace = timedelta(minutes=settings.telegram.heartbeat_grace_minutes)
        gap = downtime_gap(last_seen, now, grace)
        stages = needs_catchup(sched_db.last_ok_started(db), now, settings.market, settings)
        if gap is not None and not dry_run:
            hours = gap.total_seconds() / 3600
            msg = (f"qtx was down for {hours:.1f} h (last activity {last_seen}); "
                   f"catching up: {', '.join(stages) or 'nothing still useful'}")
            events_db.record(db, "warning", "downtime", msg,
                             {"gap_seconds": int(gap.total_seconds()), "stages": stages})
            alerts.queue(db, "downtime", msg, dedup_key=f"downtime:{last_seen}")
    finally:
        db.close()
    result: dict[str, Any] = {"now": now.isoformat(), "stages": stages, "ran": [],
                              "gap_seconds": int(gap.total_seconds()) if gap else None,
                              "dry_run": dry_run}
    if dry_run:
        return result
    run = runner or (lambda argv: subprocess.run(argv, check=False).returncode)
    for stage in stages:
        argv = [qtx, "--config", str(settings.config_path), stage]
        if stage == "report":
            argv.append("--send")
        rc = run(argv)
        result["ran"].append({"stage": stage, "exit_code": rc})
        if rc != 0:
            result["stopped_at"] = stage
            break
    return result
