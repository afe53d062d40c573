"""Sennot's entry and exit rules, exactly as trading-rules.md states them.

Entries are vectorized over a symbol's whole history (each value uses only bars up to its own
index, so there is no look-ahead); exits are evaluated per held position per bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sennot import indicators as ind
from sennot.numeric import above, below, floor_to_lot, ge, le, v_ge, v_gt, v_le
from sennot.params import SennotParams
from sennot.types import EntryTable, ExitDecision, PositionView, SymbolBars

# The order a BUY's reason lists the rules in (bit 0 first).
ENTRY_RULES = ("breakout", "golden_cross", "pullback")


@dataclass(frozen=True)
class SennotEntries(EntryTable):
    """Sennot's entry table, with the trend filter's and each rule's own column."""

    trend: np.ndarray
    breakout: np.ndarray
    golden_cross: np.ndarray
    pullback: np.ndarray


def entry_buy(trend, breakout, golden_cross, pullback) -> np.ndarray:
    return trend & (breakout | golden_cross | pullback)


def entry_codes(breakout, golden_cross, pullback) -> np.ndarray:
    return (breakout.astype(np.int8) | (golden_cross.astype(np.int8) << 1)
            | (pullback.astype(np.int8) << 2))


def entry_table(bars: SymbolBars, p: SennotParams) -> SennotEntries:
    return entry_tables([bars], p)[0]


def entry_tables(many: list[SymbolBars], p: SennotParams) -> list[SennotEntries]:
    """Entry tables for many symbols in one batch (rows right-aligned, NaN-padded on the left;
    a window that reaches into the padding is undefined, exactly like missing history)."""
    if not many:
        return []
    width = max(len(b) for b in many)
    mats = []
    for field in ("close", "high", "volume"):
        m = np.full((len(many), width), np.nan)
        for r, b in enumerate(many):
            if len(b):
                m[r, width - len(b):] = getattr(b, field)
        mats.append(m)
    trend, breakout, golden_cross, pullback, strength = _entries(*mats, p)
    buy = entry_buy(trend, breakout, golden_cross, pullback)
    codes = entry_codes(breakout, golden_cross, pullback)
    out = []
    for r, b in enumerate(many):
        cols = slice(width - len(b), width)
        out.append(SennotEntries(buy=buy[r, cols], strength=strength[r, cols], codes=codes[r, cols],
                                 rules=ENTRY_RULES, trend=trend[r, cols], breakout=breakout[r, cols],
                                 golden_cross=golden_cross[r, cols], pullback=pullback[r, cols]))
    return out


def _entries(close: np.ndarray, high: np.ndarray, volume: np.ndarray, p: SennotParams):
    trend = v_gt(close, ind.sma(close, p.trend_sma))

    fast, slow = ind.sma(close, p.fast_sma), ind.sma(close, p.slow_sma)
    vol_mean = ind.mean_prev(volume, p.volume_window)
    # SMA(fast, t-1) <= SMA(slow, t-1): the comparison at t-1, shifted (at the first bar both
    # are undefined, so false, as the shifted comparison's fill).
    below = v_le(fast, slow)
    was_below = np.zeros_like(below)
    was_below[..., 1:] = below[..., :-1]
    golden_cross = was_below & v_gt(fast, slow) & v_ge(volume, p.golden_cross_volume * vol_mean)

    breakout = (v_gt(close, ind.max_prev(high, p.breakout_window))
                & v_gt(volume, p.breakout_volume * vol_mean))

    prev_close = ind.shift(close)
    ref = ind.max_prev(close, p.pullback_window)
    with np.errstate(invalid="ignore", divide="ignore"):
        dip = prev_close / ref - 1
    pullback = v_ge(dip, p.pullback_min_dip) & v_le(dip, p.pullback_max_dip) & v_gt(close, prev_close)

    with np.errstate(invalid="ignore", divide="ignore"):
        strength = np.where(vol_mean == 0, np.inf, volume / np.where(vol_mean == 0, 1, vol_mean))
    strength = np.where(np.isnan(vol_mean), np.nan, strength)
    return trend, breakout, golden_cross, pullback, strength


def exit_decision(pos: PositionView, close: np.ndarray, i: int, p: SennotParams,
                  lot: float = 1.0) -> ExitDecision | None:
    """The first exit rule that holds at bar ``i`` of the symbol, or None.

    ``close`` is the symbol's own close series; ``pos.entry_index <= i``.  With None, sets
    ``pos.quiet_until``: the next bar where a rule holds for the position as it is, found by the
    same tests on the bars ``close`` has after ``i`` (a live run has none: the next bar)."""
    c = close.item(i)
    if pos.armed_index is None:  # stop_loss, take_profit, time_exit; an armed one trails
        entry = pos.entry_price
        stop, take = entry * (1 - p.stop_loss), entry * (1 + p.take_profit)
        if le(c, stop):
            return ExitDecision("stop_loss", pos.qty)
        if ge(c, take):
            return ExitDecision("take_profit", floor_to_lot(pos.qty * p.take_profit_fraction, lot), arm=True)
        timed = pos.entry_index + p.time_exit_bars  # the bar of the time exit
        if i >= timed:
            return ExitDecision("time_exit", pos.qty)
        j = i + 1
        clear_of_stop, clear_of_take = above(stop), below(take)
        for c in close[j:timed].tolist():  # at most time_exit_bars of them
            if not clear_of_stop < c < clear_of_take and (le(c, stop) or ge(c, take)):
                break
            j += 1
        pos.quiet_until = j
        return None
    peak = trailing_peak(pos, close, i)
    if pos.memo is not None:  # the running peak, so the next bar need not scan back
        pos.memo["armed"], pos.memo["i"], pos.memo["peak"] = pos.armed_index, i, peak
    keep = 1 - p.trailing_stop
    if le(c, peak * keep):
        return ExitDecision("trailing_stop", pos.qty)
    j, end, step = i + 1, len(close), 16
    clear = above(peak * keep)
    while j < end:  # in growing chunks: a trail may last a few bars or years
        for c in close[j:j + step].tolist():
            if c > peak:  # max(peak, c), as the memo keeps it bar after bar
                peak = c
                clear = above(peak * keep)
            if not c > clear and le(c, peak * keep):
                break
            j += 1
        else:
            step *= 2
            continue
        break
    # A caller that skips to bar j finds the memo ending before the bar before it, and the peak
    # is scanned from the arming bar: the same number unless a close is NaN (np.max keeps it,
    # max() may not), so with one the bars are not skipped.
    if j > i + 1 and np.isnan(close[pos.armed_index:j + 1]).any():
        j = i + 1
    pos.quiet_until = j
    return None


def trailing_peak(pos: PositionView, close: np.ndarray, i: int) -> float | None:
    """max(close since arming, arming bar included) up to bar ``i``."""
    if pos.armed_index is None:
        return None
    m = pos.memo
    if m and m.get("armed") == pos.armed_index and m.get("i") == i - 1:  # kept up to the bar before
        return max(m["peak"], close.item(i))
    return float(np.max(close[pos.armed_index:i + 1]))
