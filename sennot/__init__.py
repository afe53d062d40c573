"""Sennot: the strategy (indicators, entry and exit rules), pure numpy."""

from sennot.params import SennotParams
from sennot.strategy import Sennot, Strategy, available, create, register
from sennot.types import BuySignal, EntryTable, ExitDecision, PositionView, SymbolBars

__all__ = ["BuySignal", "EntryTable", "ExitDecision", "PositionView", "Sennot", "SennotParams",
           "Strategy", "SymbolBars", "available", "create", "register"]
