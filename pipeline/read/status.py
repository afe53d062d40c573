"""``status``: what the terminal (`qtx status`) and Telegram (`/status`) show.

``status(db, settings)`` builds a plain dict; other parts add their own keys to it (positions,
heartbeat, control flags) from their own modules.  Keep values JSON-friendly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from db import bars as bars_db
from db import runs as runs_db
from db.core import DB, SCHEMA_VERSION, parse_ts
from pipeline.read.money import currency_of
from pipeline.schedule.calendar import STAGES, market_zone


def local_time(ts: str | None, market: str) -> str | None:
    """A stored UTC timestamp as the market's local time, short: ``12-02 16:00 KST`` (the
    operator thinks in the market's clock, and 80 columns have no room for microseconds)."""
    t = parse_ts(ts)
    if t is None:
        return None
    local = t.astimezone(market_zone(market))
    return f"{local:%m-%d %H:%M} {local.tzname()}"


def run_seconds(started: str | None, ended: str | None) -> float | None:
    a, b = parse_ts(started), parse_ts(ended)
    return None if a is None or b is None else max((b - a).total_seconds(), 0.0)


def fmt_duration(seconds: float | None) -> str:
    """``0.03`` -> ``0.0s``, ``75`` -> ``1m15s``, ``7300`` -> ``2h01m``; None -> ``''``."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    s = int(round(seconds))
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def data_source_label(sources: dict[str, int]) -> str:
    """'synthetic', 'csv', 'csv+synthetic', ... or 'none' (names as stored in bars.source)."""
    return "+".join(sorted(sources)) if sources else "none"


def status(db: DB, settings: Any) -> dict[str, Any]:
    bars = bars_db.bar_stats(db)
    last = runs_db.last_runs(db)
    meta = db.meta()
    runs = {}
    for stage in [*STAGES, *sorted(set(last) - set(STAGES))]:
        r = last.get(stage)
        runs[stage] = None if r is None else {
            "outcome": r["outcome"], "asof": r["asof"], "started_at": r["started_at"],
            "ended_at": r["ended_at"], "message": r["message"], "pid": r["pid"],
            "started_local": local_time(r["started_at"], settings.market),
            "seconds": run_seconds(r["started_at"], r["ended_at"])}
    return {
        "config": str(Path(settings.config_path)) if settings.config_path else None,
        "market": settings.market,
        "mode": settings.mode,
        "profile": settings.profile,
        "strategy": settings.strategy.name,
        "currency": currency_of(settings),
        "database": {
            "path": str(db.path),
            "schema_version": db.schema_version,
            "schema_version_known": SCHEMA_VERSION,
            "created_at": meta.get("created_at"),
        },
        "data": {
            "source": data_source_label(bars["sources"]),
            "symbols": bars["symbols"],
            "bars": bars["bars"],
            "first_date": bars["first_date"],
            "last_date": bars["last_date"],
            "bars_by_source": bars["sources"],
        },
        "runs": runs,
        "telegram_setup": telegram_setup(settings),
    }


def telegram_setup(settings: Any) -> str | None:
    """Why Telegram cannot deliver (no token, no allowed chat), or None when it can: without
    it the outbox only piles up, and the operator should be told so rather than find out."""
    from pipeline.config import ConfigError, read_secret

    tg = settings.telegram
    file = str(settings.resolve(tg.token_file)) if tg.token_file else None
    try:
        token = read_secret(tg.token_env, file, what="telegram.token_env")
    except ConfigError as e:  # an unreadable or too-open token file: say so, do not fail status
        return str(e)
    missing = []
    if not token:
        missing.append(f"no bot token (${tg.token_env} unset"
                       + (f", {tg.token_file} empty" if tg.token_file else "") + ")")
    if not tg.allowed_chat_ids:
        missing.append("no telegram.allowed_chat_ids")
    return "Telegram not configured: " + " and ".join(missing) if missing else None
