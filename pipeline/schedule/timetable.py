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
    # A second firing for when the first failed (a broker down at 08:35): the gate's
    # once-per-date rule makes it a no-op after a success.  Not a slot of its own: lateness and
    # catch-up are judged on the stage's regular slots.
    retry: bool = False


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
        Job("execute", 8, 45, WEEKDAYS, retry=True),  # still before the 08:55 cutoff
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
        Job("execute", 0, 40, None, retry=True),
        Job("sync", 0, 45, None),  # the fills of a retried execute
    ),
}


def jobs_for(market: str) -> tuple[Job, ...]:
    try:
        return JOBS[market]
    except KeyError:
        raise ValueError(f"unknown market {market!r}") from None


def regular_jobs(market: str, stage: str) -> tuple[Job, ...]:
    """``stage``'s slots that count for lateness and catch-up (retries excluded)."""
    return tuple(j for j in jobs_for(market) if j.stage == stage and not j.retry)


def scheduled_stages(market: str) -> list[str]:
    """Each scheduled stage once, in timetable order."""
    return list(dict.fromkeys(j.stage for j in jobs_for(market)))
