"""Queries the schedule needs: what each stage last did successfully (see pipeline/schedule/catchup.py)."""

from __future__ import annotations

from db.core import DB


def last_ok_started(db: DB) -> dict[str, str]:
    """``stage -> started_at`` of its newest successful ('ok') run."""
    rows = db.query("SELECT stage, MAX(started_at) AS t FROM runs WHERE outcome = 'ok' GROUP BY stage")
    return {r["stage"]: r["t"] for r in rows}


def last_done(db: DB, stage: str) -> str | None:
    """The latest market date ``stage`` acted for successfully (``runs.asof`` of 'ok' runs).

    The stage runner must record the date it acted as of (``WindowVerdict.market_date``) in
    ``asof``, also for runs without ``--asof``; rows with no asof are ignored.
    """
    return db.scalar("SELECT MAX(asof) FROM runs WHERE stage = ? AND outcome = 'ok' "
                     "AND asof IS NOT NULL", (stage,))


def last_activity(db: DB) -> str | None:
    """When any stage last started or ended: the pipeline's own heartbeat."""
    return db.scalar("SELECT MAX(COALESCE(ended_at, started_at)) FROM runs")
