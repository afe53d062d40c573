"""Risk and cost numbers, with the spec's defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RiskParams:
    max_positions: int = 8
    sector_cap: float = 0.40
    daily_loss_limit: float = -0.03
    drawdown_limit: float = -0.10
    drawdown_size_multiplier: float = 0.5


@dataclass(frozen=True)
class Costs:
    commission: float = 0.00015
    sell_tax: float = 0.0020
    slippage_bps: float = 0.0

    @property
    def slippage(self) -> float:
        return self.slippage_bps / 10000


def from_settings(settings) -> tuple[RiskParams, Costs]:
    """RiskParams and Costs from a validated ``pipeline.config.Settings``."""
    r, c = settings.risk, settings.costs
    return (
        RiskParams(r.max_positions, r.sector_cap, r.daily_loss_limit, r.drawdown_limit,
                   r.drawdown_size_multiplier),
        Costs(c.commission, c.sell_tax if c.sell_tax is not None else 0.0, c.slippage_bps),
    )
