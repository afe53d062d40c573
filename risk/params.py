"""Risk numbers with the spec's defaults, and the one place that builds them and the costs
from the config."""

from __future__ import annotations

from dataclasses import dataclass

from sennot.costs import Costs


@dataclass(frozen=True)
class RiskParams:
    max_positions: int = 8
    sector_cap: float = 0.40
    daily_loss_limit: float = -0.03
    drawdown_limit: float = -0.10
    drawdown_size_multiplier: float = 0.5


def costs_of(settings) -> Costs:
    """The costs of a validated ``pipeline.config.Settings`` (whose loader has already put the
    market's default sell tax in place of a missing one)."""
    c = settings.costs
    return Costs(c.commission, c.sell_tax if c.sell_tax is not None else 0.0, c.slippage_bps / 10000)


def from_settings(settings) -> tuple[RiskParams, Costs]:
    """RiskParams and Costs from a validated ``pipeline.config.Settings``."""
    r = settings.risk
    return (
        RiskParams(r.max_positions, r.sector_cap, r.daily_loss_limit, r.drawdown_limit,
                   r.drawdown_size_multiplier),
        costs_of(settings),
    )
