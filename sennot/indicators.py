"""Indicators over a symbol's own bars, along the last axis.

A 1-D array is one symbol (index = the symbol's bar number); a 2-D array is many symbols, one
per row, right-aligned and left-padded with NaN, so the batch costs a few numpy calls instead
of a few per symbol.  Undefined values (not enough history, or a window reaching into the
padding) are NaN.  Each window is averaged on its own (``sliding_window_view``), not from a
running sum, so a value does not depend on how much history was loaded: a daily stage that
loads the last few hundred bars computes, to the bit, what a backtest over years computes.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def sma(x: np.ndarray, n: int) -> np.ndarray:
    """``SMA(n, t)`` = mean of ``x[t-n+1] .. x[t]`` (today included)."""
    out = np.full(x.shape, np.nan)
    if x.shape[-1] >= n:
        out[..., n - 1:] = sliding_window_view(x, n, axis=-1).mean(axis=-1)
    return out


def mean_prev(x: np.ndarray, n: int) -> np.ndarray:
    """``mean_prev(x, n, t)`` = mean of ``x[t-n] .. x[t-1]`` (the n bars before t)."""
    out = np.full(x.shape, np.nan)
    if x.shape[-1] > n:
        out[..., n:] = sliding_window_view(x[..., :-1], n, axis=-1).mean(axis=-1)
    return out


def max_prev(x: np.ndarray, n: int) -> np.ndarray:
    """max of ``x[t-n] .. x[t-1]``."""
    out = np.full(x.shape, np.nan)
    if x.shape[-1] > n:
        out[..., n:] = window_max(x[..., :-1], n)
    return out


def window_max(x: np.ndarray, n: int) -> np.ndarray:
    """The max of every window of ``n`` along the last axis (``len - n + 1`` of them), NaN when
    the window holds one.  By doubling: log2(n) passes of ``np.maximum`` instead of ``n``; a max
    is exact, so the values are the sliding window's own (a zero, whose sign depends on the
    order, is taken from the sliding window itself)."""
    m, w = x, 1  # m[..., t] = max(x[..., t .. t + w - 1])
    while 2 * w <= n:
        m = np.maximum(m[..., :-w], m[..., w:])
        w *= 2
    if w < n:  # two overlapping windows of w cover n
        m = np.maximum(m[..., :m.shape[-1] - (n - w)], m[..., n - w:])
    zero = m == 0
    if zero.any():
        m[zero] = sliding_window_view(x, n, axis=-1)[zero].max(axis=-1)
    return m


def shift(x: np.ndarray, k: int = 1) -> np.ndarray:
    """``x[t-k]`` at t (NaN for the first k bars)."""
    out = np.full(x.shape, np.nan)
    if x.shape[-1] > k:
        out[..., k:] = x[..., :-k]
    return out
