"""Plain types a strategy speaks: one symbol's bars, entry tables, exits, position views, and
the error a strategy raises for a parameter it cannot use."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy loads with the first computation, not with these types
    import numpy as np


@dataclass(frozen=True)
class SymbolBars:
    """One symbol's own daily bars, ascending, one row per trading day."""

    symbol: str
    dates: np.ndarray   # str 'YYYY-MM-DD'
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return int(self.close.shape[0])

    def index_of(self, date: str) -> int:
        """The bar number of ``date``, or -1 when the symbol has no bar that day."""
        i = int(self.dates.searchsorted(date))
        return i if i < len(self) and self.dates[i] == date else -1


@dataclass(frozen=True)
class EntryTable:
    """A strategy's entries at every bar of one symbol (vectorized): all the engine reads.

    ``codes`` has bit ``j`` set at a bar where ``rules[j]`` held; a BUY's reason lists those
    rules joined by ``+``, in the order of ``rules``.  A strategy may subclass this to keep its
    own columns beside (Sennot keeps each rule's)."""

    buy: np.ndarray           # bool: the filters pass and at least one entry rule holds
    strength: np.ndarray      # float, for ranking (inf allowed; NaN undefined)
    codes: np.ndarray         # int: the rules that held, one bit each
    rules: tuple[str, ...]    # the entry rules' names, bit 0 first

    def reason(self, i: int) -> str:
        """Every rule that held at bar ``i``, joined by ``+`` in the order of ``rules``."""
        return reason_of(self.rules, self.codes.item(i))


@functools.lru_cache(maxsize=1024)
def reason_of(rules: tuple[str, ...], code: int) -> str:
    return "+".join(name for bit, name in enumerate(rules) if code >> bit & 1)


@dataclass(slots=True)
class PositionView:
    """What the exit rules need to know about a held position."""

    symbol: str
    qty: float
    entry_price: float       # entry fill price, slippage included, fees not
    entry_index: int         # the symbol's bar number of the entry fill bar
    armed_index: int | None  # bar number where the strategy armed (marked) it, None if not armed
    # The strategy's own scratch for this position, kept between bars by a caller that calls
    # ``exit`` bar after bar (the backtest loop); None or empty: everything from the bars.
    memo: dict | None = None
    # Set by the strategy when ``exit`` returns None: no exit holds for this position, as it is
    # (qty, arming), at the bars after this one and before ``quiet_until``, so a caller that
    # keeps the view may skip them; None: call at the next bar.  The caller clears it when the
    # position changes.
    quiet_until: int | None = None


@dataclass(slots=True)
class ExitDecision:
    rule: str          # stop_loss | trailing_stop | take_profit | time_exit
    qty: float         # quantity to sell (0 for a take-profit whose half rounds to zero)
    arm: bool = False  # take_profit arms the trailing stop at this bar


@dataclass(slots=True)
class BuySignal:
    symbol: str
    reason: str
    strength: float
    close: float


class ParamError(ValueError):
    """A strategy parameter that cannot be used.  ``param`` names it (None: the parameters as a
    whole), so the config loader can name the key: ``strategy.params.<param>``."""

    def __init__(self, param: str | None, problem: str):
        self.param = param
        self.problem = problem
        super().__init__(f"{param}: {problem}" if param else problem)
