"""Whether a stage may act now: the market window, or --asof for replays."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Gate:
    ok: bool
    reason: str
    asof: str | None


def gate(settings, stage: str, asof: str | None) -> Gate:
    """With --asof a stage acts as of that date; without, the market calendar decides."""
    try:
        from pipeline.calendar import window_gate
    except ImportError:  # calendar not available: act on the latest data
        return Gate(True, "", asof)
    v = window_gate(settings, stage, asof)
    return Gate(v.ok, v.reason, asof if asof else None)
