"""Every Sennot number, with the spec's default."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from sennot.types import ParamError


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
        """Validated params from a mapping of overrides; a bad one raises ``ParamError`` naming it."""
        raw = dict(raw or {})
        known = {f.name: f for f in fields(cls)}
        for k in sorted(raw, key=str):
            if k not in known:
                raise ParamError(str(k), f"unknown parameter of strategy sennot (known: {', '.join(known)})")
        out = {}
        for k, v in raw.items():
            typ = int if known[k].type in ("int", int) else float
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ParamError(k, f"must be a {'whole ' if typ is int else ''}number (got {v!r})")
            if typ is int and float(v) != int(v):
                raise ParamError(k, f"must be a whole number (got {v!r})")
            out[k] = typ(v)
        p = cls(**out)
        p.validate()
        return p

    def validate(self) -> None:
        for name in ("trend_sma", "fast_sma", "slow_sma", "volume_window", "breakout_window",
                     "pullback_window", "time_exit_bars"):
            if getattr(self, name) < 1:
                raise ParamError(name, f"must be at least 1 (got {getattr(self, name)})")
        if self.fast_sma >= self.slow_sma:
            raise ParamError("fast_sma", f"must be shorter than slow_sma (got {self.fast_sma} >= {self.slow_sma})")
        for name in ("golden_cross_volume", "breakout_volume"):
            if getattr(self, name) < 0:
                raise ParamError(name, f"must be at least 0 (got {getattr(self, name)})")
        if self.pullback_max_dip > 0:
            raise ParamError("pullback_max_dip", f"must be at most 0 (got {self.pullback_max_dip})")
        if self.pullback_min_dip > self.pullback_max_dip:
            raise ParamError("pullback_min_dip", f"must be at most pullback_max_dip "
                                                 f"(got {self.pullback_min_dip} > {self.pullback_max_dip})")
        for name in ("stop_loss", "trailing_stop", "take_profit"):
            if not 0 < getattr(self, name) < 1:
                raise ParamError(name, f"must be between 0 and 1 (got {getattr(self, name)})")
        if not 0 < self.take_profit_fraction <= 1:
            raise ParamError("take_profit_fraction", f"must be in (0, 1] (got {self.take_profit_fraction})")

    @property
    def warmup(self) -> int:
        """Bars of history a symbol needs before an entry can be true."""
        return max(self.trend_sma, self.slow_sma + 1, self.volume_window + 1,
                   self.breakout_window + 1, self.pullback_window + 1)
