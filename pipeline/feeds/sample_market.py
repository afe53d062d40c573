"""A synthetic sample market: deterministic daily bars that exercise every Sennot rule.

Generated, not shipped: ``generate(seed)`` always returns the same bars for the same arguments
(seeded numpy RNG).  Each symbol warms up with a long up-trend (the trend filter needs 240 bars)
and then strings together scripted episodes, each an entry pattern followed by an exit pattern:

- entries: a 2-4% pullback then a rebound; a tight range then a breakout over the 20-day high
  on a volume spike; a decline then a high-volume rally (SMA5 crossing above SMA20);
- exits: a sharp drop (stop loss -4%); a run of +7% or more then a 3%+ pullback (take profit,
  then trailing stop); a flat drift (10-bar time exit);

with ordinary noisy up-trend stretches in between, plus two market-wide crashes for the
portfolio's daily-loss and drawdown limits.  Prices are integer KRW rounded to KRX tick
sizes; everything it writes is labelled ``synthetic``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

SOURCE = "synthetic"
SECTORS = ("Synthetic Tech", "Synthetic Finance", "Synthetic Energy", "Synthetic Health",
           "Synthetic Consumer", "Synthetic Industrials")
# Business days spanned: about 3.2 years, some 790 KRX trading days once holidays are out.
DEFAULT_DAYS = 830
# KRX tick sizes (2023-): (upper bound exclusive, tick)
_TICKS = ((2_000, 1), (5_000, 5), (20_000, 10), (50_000, 50), (200_000, 100), (500_000, 500))


def krx_tick(price: float) -> int:
    for bound, tick in _TICKS:
        if price < bound:
            return tick
    return 1_000


def round_to_tick(price: float, how: str = "nearest") -> int:
    tick = krx_tick(price)
    q = price / tick
    n = np.floor(q) if how == "down" else np.ceil(q) if how == "up" else np.floor(q + 0.5)
    return int(max(n, 1) * tick)


def symbol_names(n_symbols: int = 36) -> list[str]:
    return [f"SYN{i:03d}" for i in range(1, n_symbols + 1)]


def sectors(n_symbols: int = 36) -> dict[str, str]:
    """``symbol -> sector``: six synthetic sectors, assigned round-robin."""
    return {s: SECTORS[i % len(SECTORS)] for i, s in enumerate(symbol_names(n_symbols))}


def krx_dates(start: str, n_days: int) -> np.ndarray:
    """The KRX trading days among ``n_days`` business days from ``start``: weekdays without the
    exchange's holidays (Christmas, Seollal, Chuseok, ...), as a real KRX feed has them."""
    from datetime import date

    from pipeline.schedule.calendar import trading_days

    span = pd.bdate_range(start=start, periods=n_days)
    days = trading_days("krx", date.fromisoformat(span[0].strftime("%Y-%m-%d")), span[-1].date())
    return np.array([d.isoformat() for d in days])


def generate(seed: int = 7, n_symbols: int = 36, n_days: int = DEFAULT_DAYS,
             start: str = "2023-01-02") -> dict[str, pd.DataFrame]:
    """``symbol -> DataFrame(date, open, high, low, close, volume)`` on the KRX trading days
    of ``n_days`` business days from ``start`` (``krx_dates``): no bar on a holiday."""
    dates = krx_dates(start, n_days)
    rng = np.random.default_rng(seed)
    market = _market_shocks(len(dates))
    out = {}
    for sym in symbol_names(n_symbols):
        out[sym] = _one_symbol(np.random.default_rng(rng.integers(2**63)), dates, market)
    return out


def _market_shocks(n: int) -> np.ndarray:
    """Returns every symbol shares, after the trend filter has warmed up: a two-day sell-off
    (a portfolio's daily loss limit) and a deeper two-day crash (its drawdown limit: a backtest
    of the default rules on the default market falls about 11% below its peak there)."""
    m = np.zeros(n)
    for at, moves in ((int(n * 0.55), [-0.05, -0.035]), (int(n * 0.75), [-0.11, -0.07])):
        if at + len(moves) <= n:
            m[at:at + len(moves)] = moves
    return m


# --- episodes: each returns (daily log returns, volume multipliers) -------------------------

def _trend(rng, k: int, drift: float = 0.0025, vol: float = 0.009):
    return list(rng.normal(drift, vol, k)), list(rng.lognormal(0, 0.15, k).clip(0.7, 1.3))


def _pullback(rng):
    # A clean 4-day climb makes the last close the 10-day high; three -1.1% days dip ~3.3%
    # (inside -2%..-4%), then the rebound day closes higher.
    r = [0.008] * 4 + [-0.011] * 3 + [0.012]
    return r, [1.0] * len(r)


def _breakout(rng):
    # 20 quiet days around one level, then a +4.5% close on 2.5x volume.
    r, level = [], 0.0
    for _ in range(20):
        step = -0.4 * level + rng.normal(0, 0.003)
        r.append(step)
        level += step
    return r + [0.045], [0.8] * 20 + [2.5]


def _golden_cross(rng):
    # A 12-day slide puts SMA5 under SMA20; a 5-day high-volume rally crosses it back.
    r = [-0.006] * 12 + [0.0] * 2 + [0.018] * 5
    return r, [0.9] * 14 + [2.4] * 5


def _sharp_drop(rng):
    r = [0.003, -0.03, -0.03, -0.02]
    return r, [1.0, 1.8, 2.0, 1.5]


def _run_then_pullback(rng):
    # About +10% in five days (take profit at +7%), then -4% (trailing stop at -3% from the peak).
    r = [0.02] * 5 + [-0.015, -0.025]
    return r, [1.3] * 5 + [1.2, 1.4]


def _flat(rng):
    k = 13
    r = list(rng.normal(0, 0.0015, k).clip(-0.004, 0.004))
    return r, list(rng.lognormal(0, 0.1, k).clip(0.8, 1.2) * 0.7)


_ENTRIES = (_pullback, _breakout, _golden_cross)
_EXITS = (_sharp_drop, _run_then_pullback, _flat)


def _one_symbol(rng: np.random.Generator, dates: np.ndarray, market: np.ndarray) -> pd.DataFrame:
    n = len(dates)
    rets: list[float] = []
    vmul: list[float] = []
    drift = rng.uniform(0.0008, 0.002)
    r, v = _trend(rng, 250, drift=drift, vol=0.008)  # warm-up for the 240-bar trend filter
    rets += r
    vmul += v
    i = 0
    while len(rets) < n:
        entry = _ENTRIES[(i + int(rng.integers(3))) % 3]
        exit_ = _EXITS[int(rng.integers(3))]
        for part in (entry(rng), exit_(rng), _trend(rng, int(rng.integers(8, 20)), drift=drift + 0.001)):
            rets += part[0]
            vmul += part[1]
        i += 1
    rets_a = np.array(rets[:n]) + market
    vmul_a = np.array(vmul[:n])

    close_f = rng.uniform(8_000, 150_000) * np.exp(np.cumsum(rets_a))
    gap = rng.normal(0, 0.002, n).clip(-0.006, 0.006)
    open_f = np.empty(n)
    open_f[0] = close_f[0] * (1 + gap[0])
    open_f[1:] = close_f[:-1] * (1 + gap[1:])
    wick_hi = np.abs(rng.normal(0, 0.004, n))
    wick_lo = np.abs(rng.normal(0, 0.004, n))
    high_f = np.maximum(open_f, close_f) * (1 + wick_hi)
    low_f = np.minimum(open_f, close_f) * (1 - wick_lo)

    close = np.array([round_to_tick(x) for x in close_f], dtype=np.int64)
    open_ = np.array([round_to_tick(x) for x in open_f], dtype=np.int64)
    high = np.array([round_to_tick(x, "up") for x in high_f], dtype=np.int64)
    low = np.array([round_to_tick(x, "down") for x in low_f], dtype=np.int64)
    high = np.maximum.reduce([high, open_, close])
    low = np.minimum.reduce([low, open_, close])

    base_volume = rng.uniform(50_000, 2_000_000)
    volume = (base_volume * vmul_a * rng.lognormal(0, 0.12, n)).round().astype(np.int64)
    return pd.DataFrame({"date": dates, "open": open_, "high": high, "low": low,
                         "close": close, "volume": volume})


def load_into(db: Any, seed: int = 7, n_symbols: int = 36, n_days: int = DEFAULT_DAYS,
              start: str = "2023-01-02") -> dict[str, Any]:
    """Write the sample market's bars and instruments (source 'synthetic'); idempotent."""
    from db import bars as bars_db  # the only place this module touches the database

    data = generate(seed=seed, n_symbols=n_symbols, n_days=n_days, start=start)
    new = 0
    with db.transaction():
        for sym, df in data.items():
            new += bars_db.insert_bars(
                db, sym, df[["date", "open", "high", "low", "close", "volume"]].itertuples(index=False),
                source=SOURCE)
        secs = sectors(n_symbols)
        bars_db.upsert_instruments(db, [
            {"symbol": s, "name": f"{secs[s]} {s[3:]}", "sector": secs[s], "lot": 1}
            for s in data])
    first = min(df["date"].iloc[0] for df in data.values())
    last = max(df["date"].iloc[-1] for df in data.values())
    return {"source": SOURCE, "seed": seed, "symbols": len(data), "bars_new": new,
            "bars": int(sum(len(df) for df in data.values())), "first_date": first, "last_date": last}
