"""Whether a stage may act now: the market window (and, under launchd, once per market date),
or --asof for replays.  Thin on purpose: the rules live in ``pipeline.calendar`` and
``pipeline.catchup``."""

from __future__ import annotations

from pipeline import catchup


def gate(db, settings, stage: str, asof: str | None):
    """The verdict (``ok``, ``reason``, ``asof``) for running ``stage`` now or as of ``asof``."""
    return catchup.stage_gate(db, settings, stage, asof)
