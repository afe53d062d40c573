"""The ``Strategy`` interface and the registry that lets another model replace Sennot.

A strategy is pure: given a symbol's bars it says where entries hold (vectorized) and, for a
held position at a bar, which exit (if any) applies; it also describes itself (filters, rules,
exit levels) for the read side.  The pipeline and the backtest only talk to this interface, so
a model registered under another name (in code with ``register``, or through the
``qtx.strategies`` entry-point group) replaces Sennot without touching them.

A factory takes the config's ``strategy.params`` mapping and returns a strategy; it validates
the params and raises ``ParamError`` naming the one it cannot use.  The config loader builds
the configured strategy once, so a typo fails every command at load.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sennot.numeric import gt
from sennot.params import SennotParams
from sennot.types import EntryTable, ExitDecision, ParamError, PositionView, SymbolBars

if TYPE_CHECKING:
    import numpy as np

ENTRY_POINT_GROUP = "qtx.strategies"


@runtime_checkable
class Strategy(Protocol):
    name: str
    warmup: int  # bars of a symbol's own history before an entry can hold

    def entries(self, bars: SymbolBars) -> EntryTable: ...

    def entries_many(self, many: list[SymbolBars]) -> dict[str, EntryTable]:
        """``entries`` for many symbols at once (a strategy may batch the work)."""
        ...

    def exit(self, pos: PositionView, close: np.ndarray, i: int, lot: float = 1.0) -> ExitDecision | None: ...

    def levels(self, pos: PositionView, close: np.ndarray, i: int) -> dict[str, float | None]:
        """A held position's exit levels at bar ``i``, for display.  The views show the keys
        ``stop``, ``take_profit``, ``trailing_peak`` and ``trailing_stop`` in their columns and
        list every key as is."""
        ...

    def describe(self) -> dict[str, Any]:
        """What the strategy is, for display: ``name``, ``params``, ``filters`` (each ``name``,
        ``label``, ``bars`` of history it needs), ``entry_rules`` and ``exit_rules`` (each
        ``name``, ``label``)."""
        ...

    def filters_at(self, bars: SymbolBars, i: int = -1) -> dict[str, bool | None]:
        """Each filter of ``describe()`` at bar ``i``: True holds, False fails, None undefined
        (not enough history)."""
        ...


class BaseStrategy:
    """Defaults for the optional parts of ``Strategy``; a plugin may subclass it and write
    only ``entries`` and ``exit`` (and set ``name`` and ``warmup``)."""

    name = "base"
    warmup = 1

    def entries(self, bars: SymbolBars) -> EntryTable:
        raise NotImplementedError

    def entries_many(self, many: list[SymbolBars]) -> dict[str, EntryTable]:
        return {b.symbol: self.entries(b) for b in many}

    def exit(self, pos: PositionView, close: np.ndarray, i: int, lot: float = 1.0) -> ExitDecision | None:
        raise NotImplementedError

    def levels(self, pos: PositionView, close: np.ndarray, i: int) -> dict[str, float | None]:
        return {}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "params": {}, "filters": [], "entry_rules": [], "exit_rules": []}

    def filters_at(self, bars: SymbolBars, i: int = -1) -> dict[str, bool | None]:
        return {}


class Sennot(BaseStrategy):
    name = "sennot"

    def __init__(self, params: SennotParams | None = None):
        self.params = params or SennotParams()
        self.warmup = self.params.warmup

    @functools.cached_property
    def _rules(self):
        # The rules (and numpy) load when the strategy first computes, not when the config is
        # validated: `qtx status` builds the strategy and never runs it.
        from sennot import rules

        return rules

    def entries(self, bars: SymbolBars) -> EntryTable:
        return self._rules.entry_table(bars, self.params)

    def entries_many(self, many: list[SymbolBars]) -> dict[str, EntryTable]:
        return {b.symbol: t for b, t in zip(many, self._rules.entry_tables(many, self.params))}

    def exit(self, pos: PositionView, close: np.ndarray, i: int, lot: float = 1.0) -> ExitDecision | None:
        return self._rules.exit_decision(pos, close, i, self.params, lot)

    def levels(self, pos: PositionView, close: np.ndarray, i: int) -> dict[str, float | None]:
        p = self.params
        peak = self._rules.trailing_peak(pos, close, i)
        return {
            "stop": None if peak is not None else pos.entry_price * (1 - p.stop_loss),
            "take_profit": None if peak is not None else pos.entry_price * (1 + p.take_profit),
            "trailing_peak": peak,
            "trailing_stop": None if peak is None else peak * (1 - p.trailing_stop),
            "time_exit_bars_left": None if peak is not None else max(0, p.time_exit_bars - (i - pos.entry_index)),
        }

    def describe(self) -> dict[str, Any]:
        p = self.params
        vol = f"mean(volume, {p.volume_window} bars before)"
        return {
            "name": self.name,
            "params": dataclasses.asdict(p),
            "filters": [{"name": "trend", "label": f"close > SMA({p.trend_sma})", "bars": p.trend_sma}],
            "entry_rules": [
                {"name": "breakout", "label": f"close > max(high, {p.breakout_window} bars before) "
                                              f"and volume > {p.breakout_volume:g} x {vol}"},
                {"name": "golden_cross", "label": f"SMA({p.fast_sma}) crosses above SMA({p.slow_sma}) "
                                                  f"and volume >= {p.golden_cross_volume:g} x {vol}"},
                {"name": "pullback", "label": f"previous close {-p.pullback_max_dip:.0%} to "
                                              f"{-p.pullback_min_dip:.0%} below max(close, "
                                              f"{p.pullback_window} bars before), then a higher close"},
            ],
            "exit_rules": [
                {"name": "stop_loss", "label": f"close <= entry x (1 - {p.stop_loss:g}), not armed"},
                {"name": "trailing_stop", "label": f"close <= peak x (1 - {p.trailing_stop:g}), armed"},
                {"name": "take_profit", "label": f"close >= entry x (1 + {p.take_profit:g}): sell "
                                                 f"{p.take_profit_fraction:g} of the position and arm "
                                                 f"the trailing stop"},
                {"name": "time_exit", "label": f"{p.time_exit_bars} bars held, not armed"},
            ],
        }

    def filters_at(self, bars: SymbolBars, i: int = -1) -> dict[str, bool | None]:
        n = self.params.trend_sma
        i = i + len(bars) if i < 0 else i
        if not 0 <= i < len(bars) or i + 1 < n:
            return {"trend": None}
        # The indicator over exactly the window it needs: the same value, to the bit, as the
        # entry table's (each window is averaged on its own).
        close = bars.close[i + 1 - n:i + 1]
        from sennot import indicators as ind

        return {"trend": gt(close.item(-1), ind.sma(close, n).item(-1))}


class StrategyError(ValueError):
    """A strategy name that cannot be used: unknown, or its plugin does not load or conform."""


_REGISTRY: dict[str, Callable[[dict[str, Any]], Strategy]] = {
    "sennot": lambda params: Sennot(SennotParams.from_dict(params)),
}


def register(name: str, factory: Callable[[dict[str, Any]], Strategy]) -> None:
    _REGISTRY[name] = factory


def _factory(name: str) -> Callable[[dict[str, Any]], Strategy]:
    if name in _REGISTRY:
        return _REGISTRY[name]
    for ep in _entry_points():
        if ep.name == name:
            try:
                factory = ep.load()
            except Exception as e:  # a broken plugin is a config problem, reported as one
                raise StrategyError(f"strategy {name!r} ({ep.value}) could not be loaded: "
                                    f"{type(e).__name__}: {e}") from None
            _REGISTRY[name] = factory
            return factory
    raise StrategyError(f"unknown strategy {name!r} (known: {', '.join(available())})")


def create(name: str = "sennot", params: dict[str, Any] | None = None) -> Strategy:
    """Build the named strategy with ``params`` (validated by its factory, which raises
    ``ParamError`` for a parameter it cannot use); unknown names are looked up in the
    ``qtx.strategies`` entry-point group."""
    s = _factory(name)(dict(params or {}))
    missing = [m for m in ("name", "warmup", "entries", "entries_many", "exit", "levels", "describe",
                           "filters_at") if not hasattr(s, m)]
    if missing:
        raise StrategyError(f"strategy {name!r} does not implement the Strategy interface "
                            f"(missing: {', '.join(missing)}; subclass sennot.strategy.BaseStrategy)")
    return s


def available() -> list[str]:
    names = set(_REGISTRY) | {ep.name for ep in _entry_points()}
    return sorted(names)


def _entry_points():
    # Only for a name the registry lacks (and for ``available``): importing importlib.metadata
    # and scanning the installed packages cost every command 0.05-0.08 s of CPU for "sennot".
    from importlib.metadata import entry_points

    return entry_points(group=ENTRY_POINT_GROUP)


__all__ = ["BaseStrategy", "ParamError", "Sennot", "Strategy", "StrategyError", "available", "create",
           "register"]
