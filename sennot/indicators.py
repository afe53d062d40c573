"""Indicators over one symbol's own bars (numpy arrays, index = the symbol's bar number).

Undefined values (not enough history) are NaN.  Each window is averaged on its own
(``sliding_window_view``), not from a running sum, so a long history accumulates no drift
that could move an exact tie across the comparison tolerance.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def sma(x: np.ndarray, n: int) -> np.ndarray:
    """``SMA(n, t)`` = mean of ``x[t-n+1] .. x[t]`` (today included)."""
    out = np.full(x.shape[0], np.nan)
    if x.shape[0] >= n:
        out[n - 1:] = sliding_window_view(x, n).mean(axis=1)
    return out


def mean_prev(x: np.ndarray, n: int) -> np.ndarray:
    """``mean_prev(x, n, t)`` = mean of ``x[t-n] .. x[t-1]`` (the n bars before t)."""
    out = np.full(x.shape[0], np.nan)
    if x.shape[0] > n:
        out[n:] = sliding_window_view(x[:-1], n).mean(axis=1)
    return out


def max_prev(x: np.ndarray, n: int) -> np.ndarray:
    """max of ``x[t-n] .. x[t-1]``."""
    out = np.full(x.shape[0], np.nan)
    if x.shape[0] > n:
        out[n:] = sliding_window_view(x[:-1], n).max(axis=1)
    return out


def shift(x: np.ndarray, k: int = 1) -> np.ndarray:
    """``x[t-k]`` at t (NaN for the first k bars)."""
    out = np.full(x.shape[0], np.nan)
    if x.shape[0] > k:
        out[k:] = x[:-k]
    return out
