"""Whether a stage may act now: the market window (and, under launchd, once per market date),
or --asof for replays.  Thin on purpose: the rules live in ``pipeline.calendar`` and
``pipeline.catchup``.

``$QTX_NOW`` (an ISO timestamp with its offset, e.g. ``2026-11-24T08:40:00+09:00``) makes the
gate judge the window as if the wall clock said so: for dry checks of the schedule and tests.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime

from pipeline import catchup
from pipeline.config import ConfigError

# Stages that only read and summarise: an operator may run them by hand at any hour.
READ_ONLY = ("report",)


def clock() -> datetime | None:
    raw = os.environ.get("QTX_NOW")
    if not raw:
        return None
    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        raise ConfigError(None, "QTX_NOW", f"not an ISO timestamp: {raw!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def now() -> datetime:
    """The wall clock, or ``$QTX_NOW`` when set."""
    return clock() or datetime.now(UTC)


def gate(db, settings, stage: str, asof: str | None):
    """The verdict (``ok``, ``reason``, ``asof``) for running ``stage`` now or as of ``asof``."""
    verdict = catchup.stage_gate(db, settings, stage, asof, now=clock())
    if not verdict.ok and stage in READ_ONLY and not catchup.scheduled():
        return replace(verdict, ok=True, reason="manual run outside the window")
    return verdict
