"""The market history a stage works on, read from the database: the bars of every symbol as a
``Market`` (with each instrument's lot, minimum notional and sector), and the configured
strategy.  Shared by the backtest and the daily stages; apart from ``stages.backtest`` so a
daily stage does not import the backtest's file writing and metrics."""

from __future__ import annotations

from db import DB
from db import market as market_db
from pipeline.config import Settings
from pipeline.market import InstrumentRules, Market, from_columns
from sennot import create


def instrument_rules(db: DB) -> dict[str, InstrumentRules]:
    return {r["symbol"]: InstrumentRules(float(r["lot"] or 1.0), float(r["min_notional"] or 0.0), r["sector"])
            for r in market_db.instrument_rows(db)}


def load_market(db: DB, end: str | None = None) -> Market:
    return from_columns(market_db.bar_columns(db, end=end), instrument_rules(db))


def load_recent_market(db: DB, end: str, bars_per_symbol: int, keep_since: str | None = None) -> Market:
    """The market a daily stage needs at ``end``: each symbol's last ``bars_per_symbol`` bars
    (indicators use a symbol's own bars only, so values at ``end`` equal a full-history run)
    plus everything since ``keep_since`` (the oldest open position's entry)."""
    return from_columns(market_db.recent_bar_columns(db, end, bars_per_symbol, keep_since), instrument_rules(db))


def strategy_of(settings: Settings):
    return create(settings.strategy.name, settings.strategy.params)
