"""Whether a stage may act now: the market window (and, under launchd, once per market date),
or --asof for replays.  Thin on purpose: the rules live in ``pipeline.calendar`` and
``pipeline.catchup``."""

from __future__ import annotations

from dataclasses import replace

from pipeline import catchup

# Stages that only read and summarise: an operator may run them by hand at any hour.
READ_ONLY = ("report",)


def gate(db, settings, stage: str, asof: str | None):
    """The verdict (``ok``, ``reason``, ``asof``) for running ``stage`` now or as of ``asof``."""
    verdict = catchup.stage_gate(db, settings, stage, asof)
    if not verdict.ok and stage in READ_ONLY and not catchup.scheduled():
        return replace(verdict, ok=True, reason="manual run outside the window")
    return verdict
