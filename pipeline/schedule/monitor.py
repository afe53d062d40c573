"""Stage monitoring: which stages failed or are late (``incidents``, pure: the caller passes
rows, slots and clock), and ``check_stages``, which records the heartbeat and queues one alert
per new incident.  The Telegram listener only schedules ``check_stages``; ``qtx doctor`` and
the soak simulation read the same answers.

- ``failed``: a stage's latest run ended in failure. One incident per failed run.
- ``late``: a stage's latest scheduled slot (``pipeline.schedule.timetable`` on the market's trading
  days, see ``pipeline.schedule.catchup.last_expected_slot``) passed more than ``grace`` ago and no
  successful run started since. One incident per missed slot; slots from before ``baseline``
  (when the database was created) are not expected.

Each incident carries a ``key``; the listener queues its alert with that outbox dedup key,
so an incident is alerted once however often the watcher runs, across restarts too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from db.core import parse_ts
from pipeline.schedule.catchup import SLOT_TOLERANCE, last_expected_slot

FAILED_OUTCOMES = ("failed", "error", "crashed", "killed", "timeout")


@dataclass(frozen=True)
class Incident:
    stage: str
    kind: str  # 'failed' | 'late'
    key: str
    message: str


def incidents(runs: Iterable[dict], slots: Mapping[str, datetime | None], grace: timedelta,
              now: datetime, baseline: datetime | None = None,
              failed: Iterable[dict] = ()) -> list[Incident]:
    """``runs``: per stage its latest run (stage, id, outcome, started_at, ended_at, message)
    plus ``last_ok_id``/``last_ok_started`` (as ``db.readside.runs_summary`` returns).
    ``slots``: per watched stage, its latest scheduled time at or before ``now``.
    ``failed``: recent failed runs, not only the latest of each stage (a run killed mid-way is
    marked failed by the next run, which is then the latest).  A run still 'running' after the
    grace was killed: its slot is late."""
    by_stage = {r["stage"]: r for r in runs}
    out: list[Incident] = []
    seen: set[int] = set()
    for r in [*failed, *(r for _, r in sorted(by_stage.items()))]:
        if r.get("outcome") in FAILED_OUTCOMES and r["id"] not in seen:
            seen.add(r["id"])
            stage = r["stage"]
            msg = f"{stage} run #{r['id']} failed at {r.get('ended_at') or r.get('started_at')}"
            if r.get("message"):
                msg += f": {str(r['message'])[:300]}"
            out.append(Incident(stage, "failed", f"hb:failed:{stage}:{r['id']}", msg))
    for stage, slot in sorted(slots.items()):
        if slot is None or (baseline is not None and slot < baseline):
            continue
        if now <= slot + grace:
            continue
        r = by_stage.get(stage) or {}
        last_ok = parse_ts(r.get("last_ok_started"))
        if last_ok is not None and last_ok >= slot - SLOT_TOLERANCE:
            continue
        started = parse_ts(r.get("started_at"))
        running = r.get("outcome") == "running" and started is not None and started >= slot - SLOT_TOLERANCE
        if running and now <= started + grace:
            continue  # under way (a long collect); it becomes a failure or a success
        slot_utc = slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
        since = f"last success {r['last_ok_started']}" if last_ok else "it never succeeded"
        if running:  # killed without a result (a power cut, SIGKILL): nobody else will say so
            since += f"; run #{r['id']} started at {r['started_at']} and never ended"
        local = slot.strftime("%Y-%m-%d %H:%M %Z").strip()
        out.append(Incident(stage, "late", f"hb:late:{stage}:{slot_utc}",
                            f"{stage} was due at {local} and has not run successfully "
                            f"({since}; grace {int(grace.total_seconds() // 60)} min)"))
    return out


def expected_slots(settings, now: datetime) -> dict[str, datetime | None]:
    """Each watched stage's latest scheduled time at or before ``now`` (the timetable on the
    market's trading days); ``telegram.watch_stages`` narrows the list."""
    from pipeline.schedule.timetable import scheduled_stages

    stages = scheduled_stages(settings.market)
    watch = settings.telegram.watch_stages
    if watch is not None:
        stages = [s for s in stages if s in watch]
    return {s: last_expected_slot(settings.market, s, now, settings) for s in stages}


def current_incidents(db, settings, now: datetime) -> list[Incident]:
    from db import readside

    created = parse_ts(db.meta().get("created_at"))
    since = (now - timedelta(days=2)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return incidents(readside.runs_summary(db), expected_slots(settings, now),
                     timedelta(minutes=settings.telegram.heartbeat_grace_minutes), now, created,
                     failed=readside.failed_runs_since(db, since))


def check_stages(db, settings, now: datetime) -> list[Incident]:
    """Queue an alert (and an event) for each incident not alerted before; returns the new ones."""
    from db import events as events_db
    from pipeline import alerts

    new = []
    for inc in current_incidents(db, settings, now):
        level = "error" if inc.kind == "failed" else "warning"
        if alerts.notify(db, "stage", level, f"{inc.stage} {inc.kind}", inc.message,
                         dedup_key=inc.key) is not None:
            events_db.record(db, level, f"stage_{inc.kind}", inc.message, {"stage": inc.stage, "key": inc.key})
            new.append(inc)
    return new
