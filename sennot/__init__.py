"""Sennot: the strategy (indicators, entry and exit rules), pure numpy."""

from sennot.costs import Costs
from sennot.params import SennotParams
from sennot.strategy import (
           BaseStrategy,
           Sennot,
           Strategy,
           StrategyError,
           available,
           create,
           register,
)
from sennot.types import BuySignal, EntryTable, ExitDecision, ParamError, PositionView, SymbolBars

__all__ = ["BaseStrategy", "BuySignal", "Costs", "EntryTable", "ExitDecision", "ParamError", "PositionView",
           "Sennot", "SennotParams", "Strategy", "StrategyError", "SymbolBars", "available", "create", "register"]
