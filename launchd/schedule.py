"""The schedule launchd runs: which stage, when (in the market's zone), and the Mac's local times.

``StartCalendarInterval`` is read in the Mac's LOCAL zone, so each market time is converted:

* KRX times are KST (Asia/Seoul, no DST), Monday-Friday in Korea.  On a Mac in another zone the
  local weekday can differ (KST Monday 08:35 is Sunday 18:35 in New York in winter), so every
  (KST weekday, time) pair is converted on its own.
* If the Mac's zone has DST, the same KST time is one local hour apart in summer and winter.
  Rather than a schedule that goes wrong at the next clock change, entries are generated for
  every offset the zone uses in the coming year.  The twin that fires an hour off either lands
  outside the stage's window or finds the date already done, and exits 0 (``window_gate``).
* A late open (``calendar.late_open``) adds one-date entries (Month/Day) with every stage time
  shifted by that day's delay; past dates are dropped, so re-run ``qtx launchd install`` after
  adding one.
* Bybit times are UTC, daily.

Pure: the clock and zone are arguments; the timetable itself is the market's
(``pipeline.schedule.timetable``), read from there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.schedule.timetable import JOBS, MARKET_ZONES, WEEKDAYS, Job, jobs_for

__all__ = ["JOBS", "MARKET_ZONES", "WEEKDAYS", "Job", "calendar_entries", "jobs_for", "zone", "zone_warnings"]



def local_zone_name() -> str | None:
    """The Mac's zone: $TZ, else the /etc/localtime link (…/zoneinfo/Area/City), else None."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        return tz
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        return None
    marker = "zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else None


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Asia/Seoul)") from None


def zone_offsets(tz: tzinfo, on: date, days: int = 366) -> list[timedelta]:
    """Distinct UTC offsets ``tz`` uses from ``on`` for ``days`` days, the current one first."""
    seen: list[timedelta] = []
    for k in range(days):
        off = datetime.combine(on + timedelta(days=k), time(12), tzinfo=tz).utcoffset()
        assert off is not None
        if off not in seen:
            seen.append(off)
    return seen


def next_offset_change(tz: tzinfo, on: date, days: int = 366) -> date | None:
    first = datetime.combine(on, time(12), tzinfo=tz).utcoffset()
    for k in range(1, days):
        d = on + timedelta(days=k)
        if datetime.combine(d, time(12), tzinfo=tz).utcoffset() != first:
            return d
    return None


def _launchd_weekday(iso: int) -> int:
    return iso % 7  # launchd: 0 (or 7) is Sunday, 1 Monday .. 6 Saturday


def _week_of(on: date, iso_weekday: int) -> date:
    return on - timedelta(days=on.isoweekday() - 1) + timedelta(days=iso_weekday - 1)


def calendar_entries(market: str, job: Job, local: tzinfo, on: date,
                     late_open: Mapping[date, time] | None = None) -> list[dict]:
    """The job's ``StartCalendarInterval`` entries in the Mac's zone ``local`` (see module doc)."""
    mzone = zone(MARKET_ZONES[market])
    entries: list[dict] = []

    def add(e: dict) -> None:
        if e not in entries:
            entries.append(e)

    for off in zone_offsets(local, on):
        fixed = timezone(off)
        if job.weekdays is None:
            t = datetime.combine(on, time(job.hour, job.minute), tzinfo=mzone).astimezone(fixed)
            add({"Hour": t.hour, "Minute": t.minute})
            continue
        for wd in job.weekdays:
            t = datetime.combine(_week_of(on, wd), time(job.hour, job.minute), tzinfo=mzone)
            lt = t.astimezone(fixed)
            add({"Weekday": _launchd_weekday(lt.isoweekday()), "Hour": lt.hour, "Minute": lt.minute})
    # Late opens: one-date entries at the shifted time, converted with that date's real offset.
    for d, opens in sorted((late_open or {}).items()):
        if d < on or job.weekdays is None:
            continue
        shift = datetime.combine(d, opens) - datetime.combine(d, time(9, 0))
        t = (datetime.combine(d, time(job.hour, job.minute), tzinfo=mzone) + shift).astimezone(local)
        add({"Month": t.month, "Day": t.day, "Hour": t.hour, "Minute": t.minute})
    return entries


def zone_warnings(market: str, local_name: str | None, on: date) -> list[str]:
    """What an operator must know about running ``market``'s schedule in the Mac's zone."""
    out: list[str] = []
    if local_name is None:
        out.append("could not tell the Mac's time zone (no $TZ, no /etc/localtime link); "
                   "assumed UTC - pass --tz ZONE")
        local_name = "UTC"
    local = zone(local_name)
    mname = MARKET_ZONES[market]
    offs = zone_offsets(local, on)
    if len(offs) > 1:
        change = next_offset_change(local, on)
        out.append(
            f"the Mac's zone {local_name} changes its UTC offset (DST; next change {change}): "
            f"{market.upper()} times ({mname}) move by an hour in local time across the year. "
            "Entries for both offsets are installed; the twin that fires an hour off exits 0 "
            "by its window check. Setting the Mac to a zone without DST avoids the twins.")
    if market == "krx" and (len(offs) > 1 or offs[0] != timedelta(hours=9)):
        out.append(
            f"the Mac's zone is {local_name}, not Asia/Seoul: the KRX schedule (KST Mon-Fri) is "
            "converted to local times, and local weekdays may differ from Korea's.")
    return out


def which_qtx() -> Path | None:
    """The absolute path of the installed ``qtx`` script (the running venv's, else PATH's)."""
    import shutil
    import sys

    cand = Path(sys.executable).parent / "qtx"
    if cand.exists():
        return cand.resolve()
    found = shutil.which("qtx")
    return Path(found).resolve() if found else None
