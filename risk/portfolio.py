"""Portfolio state at a decision date: equity, peak, daily return, drawdown, exposure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from risk.params import RiskParams
from sennot.numeric import lt


@dataclass(frozen=True, init=False)
class RiskState:
    equity: float
    peak: float
    daily_return: float
    drawdown: float
    buy_blocked: bool        # daily loss limit breached: every BUY is rejected today
    size_multiplier: float   # drawdown sizing

    def __init__(self, equity: float, peak: float, daily_return: float, drawdown: float, buy_blocked: bool,
                 size_multiplier: float) -> None:
        # One update of the instance dict where a frozen dataclass's own __init__ makes six
        # object.__setattr__ calls (6 -> 1.5 us; a backtest makes one per decision date).
        # Still frozen: assigning an attribute raises.
        self.__dict__.update(equity=equity, peak=peak, daily_return=daily_return, drawdown=drawdown,
                             buy_blocked=buy_blocked, size_multiplier=size_multiplier)


def equity(cash: float, holdings: Iterable[tuple[float, float]]) -> float:
    """``cash + sum(qty * close)``; ``holdings`` yields (qty, close) pairs.  Callers pass them
    in symbol order, so the backtest and the live pipeline add in the same order, to the bit."""
    total = cash
    for qty, close in holdings:
        total += qty * close
    return total


def assess(equity_t: float, prev_equity: float | None, prev_peak: float, p: RiskParams) -> RiskState:
    """The risk state at t.  ``prev_equity`` is None on the first decision date."""
    peak = max(prev_peak, equity_t)
    daily_return = 0.0 if prev_equity is None else equity_t / prev_equity - 1
    drawdown = equity_t / peak - 1
    return RiskState(
        equity=equity_t,
        peak=peak,
        daily_return=daily_return,
        drawdown=drawdown,
        buy_blocked=lt(daily_return, p.daily_loss_limit),
        size_multiplier=p.drawdown_size_multiplier if lt(drawdown, p.drawdown_limit) else 1.0,
    )
