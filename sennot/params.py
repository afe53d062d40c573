"""Every Sennot number, with the spec's default."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class SennotParams:
    trend_sma: int = 240
    fast_sma: int = 5
    slow_sma: int = 20
    volume_window: int = 20
    golden_cross_volume: float = 1.5
    breakout_window: int = 20
    breakout_volume: float = 1.0
    pullback_window: int = 10
    pullback_min_dip: float = -0.04
    pullback_max_dip: float = -0.02
    stop_loss: float = 0.04
    trailing_stop: float = 0.03
    take_profit: float = 0.07
    take_profit_fraction: float = 0.5
    time_exit_bars: int = 10

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> SennotParams:
        raw = dict(raw or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise ValueError(f"unknown Sennot parameter(s): {', '.join(unknown)}")
        out = {}
        for k, v in raw.items():
            typ = int if known[k].type in ("int", int) else float
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"{k}: must be a number (got {v!r})")
            if typ is int and float(v) != int(v):
                raise ValueError(f"{k}: must be a whole number (got {v!r})")
            out[k] = typ(v)
        p = cls(**out)
        p.validate()
        return p

    def validate(self) -> None:
        for name in ("trend_sma", "fast_sma", "slow_sma", "volume_window", "breakout_window",
                     "pullback_window", "time_exit_bars"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1")
        if self.fast_sma >= self.slow_sma:
            raise ValueError("fast_sma: must be shorter than slow_sma")
        if not self.pullback_min_dip <= self.pullback_max_dip <= 0:
            raise ValueError("pullback_min_dip <= pullback_max_dip <= 0 must hold")
        for name in ("stop_loss", "trailing_stop", "take_profit"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name}: must be between 0 and 1")
        if not 0 < self.take_profit_fraction <= 1:
            raise ValueError("take_profit_fraction: must be in (0, 1]")

    @property
    def warmup(self) -> int:
        """Bars of history a symbol needs before an entry can be true."""
        return max(self.trend_sma, self.slow_sma + 1, self.volume_window + 1,
                   self.breakout_window + 1, self.pullback_window + 1)
