"""Which venue a configuration trades through and which feed ``collect`` reads.

Adapters never read the config or the environment themselves: keys come through the config's
secret reader (the environment, which ``QTX_ENV_FILE`` fills from a 0600 file), and each
adapter gets its own store in the database (``db.broker_store``).
"""

from __future__ import annotations

from brokers.base import Broker, Execution, MarketData
from db import DB
from db.broker_store import BrokerStore
from db.paper import PaperStore
from pipeline.config import Settings, read_secret
from risk.params import costs_of


def _secret(name: str) -> str | None:
    return read_secret(name, what=name)


def _clock() -> float:
    """The adapters' clock: the wall clock, or ``$QTX_NOW`` (the same injected clock the stage
    windows are judged by), so a simulated day is one day for the venue too."""
    from pipeline.schedule.gate import now

    return now().timestamp()


def make_broker(settings: Settings, db: DB) -> Execution:
    """Paper mode trades on a simulated account in the database, on the market's own data;
    live mode trades through the market's real broker (Bybit, or Kiwoom for KRX)."""
    if settings.mode == "paper":
        from brokers.paper import PaperBroker
        from pipeline.schedule.calendar import sessions

        return PaperBroker(PaperStore(db), settings.capital, costs_of(settings),
                           currency="KRW" if settings.market == "krx" else settings.bybit.quote_coin,
                           sessions=sessions(settings))
    return live_broker(settings, db)


def live_broker(settings: Settings, db: DB) -> Broker:
    if settings.market == "bybit":
        from brokers.bybit import BybitBroker

        return BybitBroker.from_settings(settings.bybit, settings.mode, secret=_secret)
    from brokers.kiwoom import KiwoomBroker

    return KiwoomBroker.from_settings(settings.kiwoom, BrokerStore(db, "kiwoom"), secret=_secret, clock=_clock)


def data_feed(settings: Settings, db: DB) -> MarketData:
    """The venue whose market data ``collect`` reads when no --source is given: Bybit's public
    candles (no keys needed), or Kiwoom's charts (keys needed, in paper mode too)."""
    if settings.market == "bybit":
        from brokers.bybit import BybitBroker

        return BybitBroker.from_settings(settings.bybit, "paper", secret=_secret)
    from brokers.kiwoom import KiwoomBroker

    return KiwoomBroker.from_settings(settings.kiwoom, BrokerStore(db, "kiwoom"), secret=_secret, clock=_clock)
