"""The market timetable: which stage runs when, in the market's own zone.

It belongs with the calendar (the rules of when a market trades), not with launchd (one way of
firing it): the catch-up, the listener's lateness watch, the soak simulation and the launchd
plists all read it from here.  Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass

MARKET_ZONES = {"krx": "Asia/Seoul", "bybit": "UTC"}
WEEKDAYS = (1, 2, 3, 4, 5)  # ISO Monday..Friday (in the market's zone)


@dataclass(frozen=True)
class Job:
    stage: str
    hour: int  # in the market's zone
    minute: int
    weekdays: tuple[int, ...] | None  # ISO weekdays in the market's zone; None: every day
    args: tuple[str, ...] = ()


# KRX: after the closing auction (15:30) for the day's bars and decisions; before the opening
# auction (08:30-09:00) for reconcile and the orders; fill syncs after the open and during the
# session.  Bybit's daily candle closes at 00:00 UTC; orders just after fill near the next open.
JOBS: dict[str, tuple[Job, ...]] = {
    "krx": (
        Job("collect", 15, 45, WEEKDAYS),
        Job("signal", 16, 0, WEEKDAYS),
        Job("report", 16, 15, WEEKDAYS, ("--send",)),
        Job("reconcile", 8, 20, WEEKDAYS),
        Job("execute", 8, 35, WEEKDAYS),
        Job("sync", 9, 5, WEEKDAYS),
        Job("sync", 11, 0, WEEKDAYS),
        Job("sync", 15, 35, WEEKDAYS),
    ),
    "bybit": (
        Job("collect", 0, 5, None),
        Job("signal", 0, 10, None),
        Job("reconcile", 0, 12, None),
        Job("execute", 0, 15, None),
        Job("sync", 0, 18, None),
        Job("report", 0, 20, None, ("--send",)),
    ),
}


def jobs_for(market: str) -> tuple[Job, ...]:
    try:
        return JOBS[market]
    except KeyError:
        raise ValueError(f"unknown market {market!r}") from None


def scheduled_stages(market: str) -> list[str]:
    """Each scheduled stage once, in timetable order."""
    return list(dict.fromkeys(j.stage for j in jobs_for(market)))
