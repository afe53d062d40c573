"""Open positions as the operator sees them: prices, P&L, days held, the exit levels."""

from __future__ import annotations

from db import DB, readside, trading
from pipeline.config import Settings

# Sennot's exit distances (trading-rules.md); a strategy param of the same name overrides.
DEFAULT_STOP_LOSS = 0.04
DEFAULT_TRAILING_STOP = 0.03
DEFAULT_TAKE_PROFIT = 0.07


def _param(settings: Settings, name: str, default: float) -> float:
    try:
        return float(settings.strategy.params.get(name, default))
    except (TypeError, ValueError):
        return default


def positions(db: DB, settings: Settings, asof: str | None = None) -> list[dict]:
    """One dict per held symbol: symbol, qty, avg_price, last_price, last_date, value, pnl,
    pnl_pct, days_held, armed, stop_level (unarmed), take_profit_level (unarmed),
    trailing_level and peak (armed)."""
    stop = _param(settings, "stop_loss", DEFAULT_STOP_LOSS)
    trail = _param(settings, "trailing_stop", DEFAULT_TRAILING_STOP)
    take = _param(settings, "take_profit", DEFAULT_TAKE_PROFIT)
    out = []
    for p in trading.positions(db).values():
        bar = readside.last_bar(db, p["symbol"], asof)
        last = bar["close"] if bar else None
        armed = bool(p["armed_date"])
        peak = readside.max_close_since(db, p["symbol"], p["armed_date"], asof) if armed else None
        row = {
            "symbol": p["symbol"],
            "qty": p["qty"],
            "avg_price": p["avg_price"],
            "entry_price": p["entry_price"],
            "entry_date": p["entry_date"],
            "last_price": last,
            "last_date": bar["date"] if bar else None,
            "value": p["qty"] * last if last is not None else None,
            "pnl": (last - p["avg_price"]) * p["qty"] if last is not None else None,
            "pnl_pct": (last / p["avg_price"] - 1) if last is not None and p["avg_price"] else None,
            "days_held": readside.bars_after(db, p["symbol"], p["entry_date"], asof),
            "armed": armed,
            "armed_date": p["armed_date"],
            "stop_level": None if armed else p["entry_price"] * (1 - stop),
            "take_profit_level": None if armed else p["entry_price"] * (1 + take),
            "peak": peak,
            "trailing_level": peak * (1 - trail) if peak is not None else None,
        }
        out.append(row)
    return out
