"""The market as the engine sees it: every symbol's own bars plus the union calendar."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from db.bar_blocks import CLOSE, DAY, HIGH, LOW, OPEN, VOLUME, date_texts
from sennot.types import SymbolBars


@dataclass(frozen=True)
class InstrumentRules:
    lot: float = 1.0
    min_notional: float = 0.0
    sector: str | None = None


@dataclass
class Market:
    """Every symbol's own bars, the union calendar ``dates`` and ``own[k, s]``: the bar number
    of symbol ``s`` (column ``col[symbol]``) on union date ``k``, or -1 without a bar.

    ``calendar`` (optional, from ``from_columns``): the union dates and each symbol's dates as
    positions in them, in symbol order, when the caller has built them already."""

    bars: dict[str, SymbolBars]
    rules: dict[str, InstrumentRules] = field(default_factory=dict)
    calendar: tuple[np.ndarray, list[np.ndarray]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.symbols = sorted(self.bars)
        self.col = {sym: s for s, sym in enumerate(self.symbols)}
        if self.calendar is None:
            self.calendar = _calendar_of_texts([self.bars[s].dates for s in self.symbols])
        self.dates, positions = self.calendar
        self._pos = {d: k for k, d in enumerate(self.dates.tolist())}
        self.own = np.full((len(self.dates), len(self.symbols)), -1, dtype=np.int32)
        for s, pos in enumerate(positions):
            self.own[pos, s] = np.arange(len(pos), dtype=np.int32)
        default = InstrumentRules()
        self.rules = {sym: self.rules.get(sym, default) for sym in self.symbols} | self.rules

    def rule(self, symbol: str) -> InstrumentRules:
        return self.rules[symbol]

    def date_index(self, date: str) -> int:
        return self._pos[date]

    def own_index(self, symbol: str, k: int) -> int:
        return self.own.item(k, self.col[symbol])

    def last_index(self, symbol: str, k: int) -> int:
        """The symbol's last bar number on or before union date k (-1 if none yet)."""
        b = self.bars[symbol]
        return int(np.searchsorted(b.dates, self.dates[k], side="right")) - 1


def _calendar_of_texts(dates: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The union of date texts, and each symbol's dates as positions in it."""
    union = np.unique(np.concatenate(dates)).astype(str) if dates else np.array([], dtype=str)
    return union, [np.searchsorted(union, d) for d in dates]


def _calendar_of_days(days: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The union of integer dates (as texts), and each symbol's dates as positions in it: a
    table over the span of the keys instead of a sort of every bar's date."""
    if not days or not any(len(d) for d in days):
        return np.array([], dtype=str), [np.empty(0, dtype=np.intp) for _ in days]
    lo = min(int(d[0]) for d in days if len(d))
    hi = max(int(d[-1]) for d in days if len(d))
    seen = np.zeros(hi - lo + 1, dtype=bool)
    for d in days:
        seen[d - lo] = True
    union = np.flatnonzero(seen) + lo
    where = np.cumsum(seen) - 1  # key - lo -> position in the union
    return date_texts(union), [where[d - lo] for d in days]


def from_columns(columns: Mapping[str, np.ndarray], rules: Mapping[str, InstrumentRules] | None = None) -> Market:
    """Build from ``symbol -> (6, n)`` columns (``db.bar_blocks``: day as YYYYMMDD, open, high,
    low, close, volume; ascending): the calendar from the integer days, each symbol's series as
    views of its columns and its date texts picked from the calendar's."""
    symbols = sorted(columns)
    dates, positions = _calendar_of_days([columns[s][DAY].astype(np.int64) for s in symbols])
    bars = {s: SymbolBars(s, _dates_at(dates, pos), c[OPEN], c[HIGH], c[LOW], c[CLOSE], c[VOLUME])
            for s, pos, c in zip(symbols, positions, (columns[s] for s in symbols), strict=True)}
    return Market(bars, dict(rules or {}), (dates, positions))


def _dates_at(dates: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """``dates[pos]``; a slice (no copy) when the symbol has a bar on every union date of its
    span, as most have: 2,000 symbols x 2,000 days of date texts are 160 MB copied."""
    if pos.size and pos[-1] - pos[0] + 1 == pos.size:
        return dates[pos[0]:pos[-1] + 1]
    return dates[pos]


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

