"""Which broker a configuration trades through."""

from __future__ import annotations

from db import DB
from db.paper import PaperStore
from pipeline.config import ConfigError, Settings
from risk.params import costs_of


def make_broker(settings: Settings, db: DB):
    """Paper mode trades on a simulated account in the database, on the market's own data;
    live mode trades through the market's real broker."""
    if settings.mode == "paper":
        from brokers.paper import PaperBroker

        return PaperBroker(PaperStore(db), settings.capital, costs_of(settings),
                           currency="KRW" if settings.market == "krx" else settings.bybit.quote_coin)
    if settings.market == "bybit":
        from brokers.bybit import BybitBroker

        return BybitBroker.from_settings(settings.bybit, settings.mode)
    raise ConfigError(settings.config_path, "market",
                      "live trading on krx needs the Kiwoom REST adapter, which is not built yet; "
                      "use mode: paper")


def data_broker(settings: Settings, db: DB):
    """The broker whose market data ``collect`` uses when no --source is given (Bybit: its
    public candles, in paper mode too)."""
    if settings.market == "bybit":
        from brokers.bybit import BybitBroker

        return BybitBroker.from_settings(settings.bybit, "paper")
    return None
