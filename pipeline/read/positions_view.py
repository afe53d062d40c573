"""Open positions as the operator sees them: prices, P&L, days held, the strategy's exit levels."""

from __future__ import annotations

from db import DB, readside, trading
from db import bars as bars_db
from pipeline.config import Settings
from pipeline.engine import held_on
from pipeline.history import strategy_of
from sennot.strategy import Strategy
from sennot.types import SymbolBars


def _levels(db: DB, strategy: Strategy, p: dict, armed_date: str | None, asof: str | None) -> dict:
    """The strategy's levels for a stored position at its last bar up to ``asof`` ({} without
    bars since the entry)."""
    a = bars_db.read_bar_arrays(db, p["symbol"], start=p["entry_date"], end=asof)
    if not len(a["close"]):
        return {}
    bars = SymbolBars(p["symbol"], a["date"], a["open"], a["high"], a["low"], a["close"], a["volume"])
    h = held_on(p["symbol"], p["qty"], p["entry_price"], p["entry_date"], armed_date, bars)
    return strategy.levels(h.view(), bars.close, len(bars) - 1)


def positions(db: DB, settings: Settings, asof: str | None = None) -> list[dict]:
    """One dict per held symbol: symbol, qty, avg_price, last_price, last_date, value, pnl,
    pnl_pct, days_held, armed, the strategy's ``levels`` and, from them, stop_level and
    take_profit_level (unarmed), trailing_level and peak (armed)."""
    strategy = strategy_of(settings)
    out = []
    for p in trading.positions(db).values():
        bar = readside.last_bar(db, p["symbol"], asof)
        last = bar["close"] if bar else None
        armed = p["armed_date"] if p["armed_date"] and (asof is None or p["armed_date"] <= asof) else None
        levels = _levels(db, strategy, p, armed, asof)
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
            "armed": armed is not None,
            "armed_date": armed,
            "stop_level": levels.get("stop"),
            "take_profit_level": levels.get("take_profit"),
            "peak": levels.get("trailing_peak"),
            "trailing_level": levels.get("trailing_stop"),
            "levels": levels,
        }
        out.append(row)
    return out
