"""Plain types the strategy speaks: one symbol's bars, entry tables, exits, position views."""

from __future__ import annotations

from dataclasses import dataclass

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
        i = int(np.searchsorted(self.dates, date))
        return i if i < len(self) and self.dates[i] == date else -1


@dataclass(frozen=True)
class EntryTable:
    """Entry rules evaluated at every bar of one symbol (vectorized)."""

    trend: np.ndarray          # bool
    breakout: np.ndarray       # bool
    golden_cross: np.ndarray   # bool
    pullback: np.ndarray       # bool
    strength: np.ndarray       # float (inf when the volume mean is 0; NaN undefined)
    buy: np.ndarray = None     # trend and at least one entry rule (derived)

    codes: np.ndarray = None   # bit 0 breakout, bit 1 golden_cross, bit 2 pullback (derived)

    def __post_init__(self) -> None:
        if self.buy is None:
            object.__setattr__(self, "buy", entry_buy(self.trend, self.breakout, self.golden_cross, self.pullback))
        if self.codes is None:
            object.__setattr__(self, "codes", entry_codes(self.breakout, self.golden_cross, self.pullback))

    def reason(self, i: int) -> str:
        """Every rule that held at bar ``i``, joined by ``+`` in the spec's order."""
        return _REASONS[self.codes.item(i)]


def entry_buy(trend, breakout, golden_cross, pullback) -> np.ndarray:
    return trend & (breakout | golden_cross | pullback)


def entry_codes(breakout, golden_cross, pullback) -> np.ndarray:
    return (breakout.astype(np.int8) | (golden_cross.astype(np.int8) << 1)
            | (pullback.astype(np.int8) << 2))


_REASONS = tuple("+".join(name for bit, name in enumerate(("breakout", "golden_cross", "pullback"))
                          if code >> bit & 1) for code in range(8))


@dataclass(slots=True)
class PositionView:
    """What the exit rules need to know about a held position."""

    symbol: str
    qty: float
    entry_price: float       # entry fill price, slippage included, fees not
    entry_index: int         # the symbol's bar number of the entry fill bar
    armed_index: int | None  # bar number where the trailing stop was armed, None if not armed
    peak: float | None = None  # max close from the arming bar to the bar before this one, if known


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
