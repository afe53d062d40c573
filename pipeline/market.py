"""The market as the engine sees it: every symbol's own bars plus the union calendar."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from sennot.types import SymbolBars


@dataclass(frozen=True)
class InstrumentRules:
    lot: float = 1.0
    min_notional: float = 0.0
    sector: str | None = None


@dataclass
class Market:
    bars: dict[str, SymbolBars]
    rules: dict[str, InstrumentRules] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.symbols = sorted(self.bars)
        all_dates = np.concatenate([b.dates for b in self.bars.values()]) if self.bars else np.array([], dtype=str)
        self.dates = np.unique(all_dates).astype(str)
        self._pos = {d: k for k, d in enumerate(self.dates.tolist())}
        # own[k, s]: the bar number of symbol s on union date k, or -1 without a bar.
        self.own = np.full((len(self.dates), len(self.symbols)), -1, dtype=np.int64)
        for s, sym in enumerate(self.symbols):
            b = self.bars[sym]
            self.own[np.searchsorted(self.dates, b.dates), s] = np.arange(len(b))
        self.col = {sym: s for s, sym in enumerate(self.symbols)}
        self._own_rows = self.own.tolist()  # plain ints: the daily loop indexes this a lot
        default = InstrumentRules()
        self.rules = {sym: self.rules.get(sym, default) for sym in self.symbols} | self.rules

    def rule(self, symbol: str) -> InstrumentRules:
        return self.rules[symbol]

    def date_index(self, date: str) -> int:
        return self._pos[date]

    def own_index(self, symbol: str, k: int) -> int:
        return self._own_rows[k][self.col[symbol]]

    def last_index(self, symbol: str, k: int) -> int:
        """The symbol's last bar number on or before union date k (-1 if none yet)."""
        b = self.bars[symbol]
        return int(np.searchsorted(b.dates, self.dates[k], side="right")) - 1


def from_frames(frames: Mapping[str, object], sectors: Mapping[str, str | None] | None = None,
                rules: Mapping[str, InstrumentRules] | None = None) -> Market:
    """Build a Market from per-symbol DataFrames (date, open, high, low, close, volume)."""
    bars = {}
    for sym, df in frames.items():
        bars[sym] = SymbolBars(
            symbol=sym,
            dates=np.asarray(df["date"], dtype=str),
            open=np.asarray(df["open"], dtype=float),
            high=np.asarray(df["high"], dtype=float),
            low=np.asarray(df["low"], dtype=float),
            close=np.asarray(df["close"], dtype=float),
            volume=np.asarray(df["volume"], dtype=float),
        )
    r = dict(rules or {})
    for sym, sec in (sectors or {}).items():
        if sym in bars:
            base = r.get(sym, InstrumentRules())
            r[sym] = InstrumentRules(base.lot, base.min_notional, sec)
    return Market(bars, r)


def from_array(a: np.ndarray, rules: Mapping[str, InstrumentRules] | None = None) -> Market:
    """Build from a structured array (symbol, date, open, high, low, close, volume) sorted by
    symbol then date: one slice per symbol, no per-row Python work."""
    if not len(a):
        return Market({}, dict(rules or {}))
    sym = a["symbol"]
    day = a["date"]
    ohlcv = [np.ascontiguousarray(a[f]) for f in ("open", "high", "low", "close", "volume")]
    starts = np.flatnonzero(np.r_[True, sym[1:] != sym[:-1]])
    ends = np.r_[starts[1:], len(sym)]
    bars = {}
    for a, b in zip(starts.tolist(), ends.tolist()):
        s = str(sym[a])
        bars[s] = SymbolBars(s, day[a:b], *(c[a:b] for c in ohlcv))
    return Market(bars, dict(rules or {}))
