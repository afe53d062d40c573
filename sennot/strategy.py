"""The ``Strategy`` interface and the registry that lets another model replace Sennot.

A strategy is pure: given a symbol's bars it says where entries hold (vectorized) and, for a
held position at a bar, which exit (if any) applies.  The pipeline and the backtest only talk
to this interface, so a model registered under another name (in code, or through the
``qtx.strategies`` entry-point group) replaces Sennot without touching them.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

import numpy as np

from sennot import rules
from sennot.params import SennotParams
from sennot.types import EntryTable, ExitDecision, PositionView, SymbolBars


@runtime_checkable
class Strategy(Protocol):
    name: str
    warmup: int

    def entries(self, bars: SymbolBars) -> EntryTable: ...

    def entries_many(self, many: list[SymbolBars]) -> dict[str, EntryTable]:
        """``entries`` for many symbols at once (a strategy may batch the work)."""
        ...

    def exit(self, pos: PositionView, close: np.ndarray, i: int, lot: float = 1.0) -> ExitDecision | None: ...

    def levels(self, pos: PositionView, close: np.ndarray, i: int) -> dict[str, float | None]:
        """Stop and trailing levels of a held position (for display)."""
        ...


class Sennot:
    name = "sennot"

    def __init__(self, params: SennotParams | None = None):
        self.params = params or SennotParams()
        self.warmup = self.params.warmup

    def entries(self, bars: SymbolBars) -> EntryTable:
        return rules.entry_table(bars, self.params)

    def entries_many(self, many: list[SymbolBars]) -> dict[str, EntryTable]:
        return {b.symbol: t for b, t in zip(many, rules.entry_tables(many, self.params))}

    def exit(self, pos: PositionView, close: np.ndarray, i: int, lot: float = 1.0) -> ExitDecision | None:
        return rules.exit_decision(pos, close, i, self.params, lot)

    def levels(self, pos: PositionView, close: np.ndarray, i: int) -> dict[str, float | None]:
        p = self.params
        peak = rules.trailing_peak(pos, close, i)
        return {
            "stop": None if peak is not None else pos.entry_price * (1 - p.stop_loss),
            "take_profit": None if peak is not None else pos.entry_price * (1 + p.take_profit),
            "trailing_peak": peak,
            "trailing_stop": None if peak is None else peak * (1 - p.trailing_stop),
            "time_exit_bars_left": None if peak is not None else max(0, p.time_exit_bars - (i - pos.entry_index)),
        }


_REGISTRY: dict[str, Callable[[dict[str, Any]], Strategy]] = {
    "sennot": lambda params: Sennot(SennotParams.from_dict(params)),
}


def register(name: str, factory: Callable[[dict[str, Any]], Strategy]) -> None:
    _REGISTRY[name] = factory


def create(name: str = "sennot", params: dict[str, Any] | None = None) -> Strategy:
    """Build the named strategy; unknown names are looked up in the ``qtx.strategies`` group."""
    if name not in _REGISTRY:
        for ep in entry_points(group="qtx.strategies"):
            if ep.name == name:
                _REGISTRY[name] = ep.load()
                break
        else:
            known = ", ".join(sorted(_REGISTRY))
            raise KeyError(f"unknown strategy {name!r} (known: {known})")
    return _REGISTRY[name](params or {})


def available() -> list[str]:
    names = set(_REGISTRY) | {ep.name for ep in entry_points(group="qtx.strategies")}
    return sorted(names)
