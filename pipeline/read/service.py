"""One service layer behind the terminal (``qtx status/positions/analysis``) and Telegram.

Each function returns plain JSON-ready dicts; ``control.format`` renders them as Telegram HTML
and the CLI as rich tables or ``--json``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from db import DB, readside, trading
from db import control as control_db
from db import telegram as telegram_db
from pipeline.config import Settings


def _age_seconds(ts: str | None, now: datetime | None = None) -> float | None:
    if not ts:
        return None
    try:
        t = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - t).total_seconds()


def _base_status(db: DB, settings: Settings) -> dict:
    """The foundation's ``pipeline.read.status`` dict, when that module is present."""
    try:
        from pipeline.read import status as status_mod
    except ImportError:
        return {}
    try:
        return dict(status_mod.status(db, settings))
    except Exception as e:  # the read side must answer even if one part of it breaks
        return {"status_error": f"{type(e).__name__}: {e}"}


def status(db: DB, settings: Settings) -> dict:
    """Mode, trading and buy-block state with reasons, equity, day P&L, drawdown and size
    multiplier, open orders, each stage's last run and the listener's heartbeat."""
    out = _base_status(db, settings)
    flags = control_db.flags(db)
    reasons = control_db.buy_block_reasons(db)
    m = readside.latest_metrics(db)
    metrics = None
    if m:
        prev_equity = m["equity"] / (1 + m["daily_return"]) if m["daily_return"] > -1 else None
        metrics = {"date": m["date"], "equity": m["equity"], "cash": m["cash"], "peak": m["peak"],
                   "day_return": m["daily_return"],
                   "day_pnl": m["equity"] - prev_equity if prev_equity is not None else None,
                   "drawdown": m["drawdown"], "size_multiplier": m["size_multiplier"],
                   "positions": m["positions"], "exposure": m["exposure"],
                   "buy_blocked": bool(m["buy_blocked"])}
    hb = telegram_db.heartbeat(db)
    if hb:
        hb = dict(hb, age_seconds=_age_seconds(hb.get("ts")))
    # Each stage's last run (the foundation's shape: stage -> row or None), plus when it last
    # succeeded, so "failed today, fine yesterday" reads at a glance.
    runs = dict(out.get("runs") or {})
    for r in readside.runs_summary(db):
        row = dict(runs.get(r["stage"]) or {k: r[k] for k in
                   ("outcome", "asof", "started_at", "ended_at", "message")})
        row["last_ok_started"] = r["last_ok_started"]
        runs[r["stage"]] = row
    out.update({
        "market": settings.market,
        "mode": settings.mode,
        "trading_enabled": flags["trading_enabled"]["value"],
        "trading": flags["trading_enabled"],
        "buys_blocked": bool(reasons),
        "buy_block_reasons": reasons,
        "flags": flags,
        "metrics": metrics,
        "open_orders": trading.open_orders(db),
        "runs": runs,
        "listener": hb,
        "outbox": telegram_db.outbox_counts(db),
    })
    return out


def positions(db: DB, settings: Settings, asof: str | None = None) -> list[dict]:
    from pipeline.read import positions_view  # the engine and the bars: not for status
    from pipeline.read.money import currency_of

    cur = currency_of(settings)  # each row says its money's currency, for every renderer
    return [dict(row, currency=cur) for row in positions_view.positions(db, settings, asof=asof)]


def analysis(db: DB, settings: Settings, days: int = 30, asof: str | None = None) -> dict:
    from pipeline.read import analysis as analysis_mod  # the backtest machinery: not for status
    from pipeline.read.money import currency_of

    return dict(analysis_mod.analysis(db, settings, days=days, asof=asof), currency=currency_of(settings))


def set_trading(db: DB, enabled: bool, by: str, reason: str | None = None) -> dict:
    """``/start`` and ``/stop``: the switch lives in the database, so it survives restarts."""
    control_db.set_flag(db, "trading_enabled", enabled, reason=reason, by=by)
    from db import events as events_db
    events_db.record(db, "info", "trading_enabled" if enabled else "trading_stopped",
                     f"trading {'enabled' if enabled else 'stopped'} by {by}",
                     {"by": by, "reason": reason})
    return {"trading_enabled": enabled, "buy_block_reasons": control_db.buy_block_reasons(db)}
