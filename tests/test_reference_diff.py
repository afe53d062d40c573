"""Differential test: qtx's engine against an independent reference of trading-rules.md.

``tests/reference_impl.py`` was written from the spec alone; here both run on the same bars
(real KRX / crypto / US data, seeded synthetic markets with integer prices so exact ties
happen, and hand-made tie cases) and must agree row for row: every trade (date, symbol, side,
reason exact; qty, price, fee within 1e-9 relative), every equity row and every BUY verdict.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.engine import simulate
from pipeline.market import InstrumentRules, from_frames
from risk.params import Costs, RiskParams
from sennot import create
from tests.reference_impl import run_reference

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REL = 1e-9


# --------------------------------------------------------------------------- harness

def run_qtx(bars, sectors, capital=100_000_000, commission=0.00015, sell_tax=0.0020,
            slippage_bps=0, max_positions=8, sector_cap=0.40, daily_loss_limit=-0.03,
            drawdown_limit=-0.10, dd_multiplier=0.5, start=None, end=None, lot=1.0):
    frames = {s: pd.DataFrame(rows, columns=["date", "open", "high", "low", "close", "volume"])
              for s, rows in bars.items()}
    rules = {s: InstrumentRules(lot=lot) for s in bars}
    market = from_frames(frames, sectors, rules)
    rp = RiskParams(max_positions, sector_cap, daily_loss_limit, drawdown_limit, dd_multiplier)
    costs = Costs(commission, sell_tax, slippage_bps)
    res = simulate(market, create(), rp, costs, capital, start, end)
    trades = [t.to_dict() for t in res.trades]
    equity = [e.to_dict() for e in res.equity]
    verdicts = [{"date": v["date"], "symbol": v["symbol"], "reason": v["reason"],
                 "qty": v["qty"]} for v in res.verdicts]
    return trades, equity, verdicts


def _close(a: float, b: float, scale: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=REL * scale)


def first_difference(bars, sectors, **kw) -> str | None:
    """None when both agree, else a description of the first disagreement."""
    ref_verdicts: list[dict] = []
    ref_trades, ref_equity = run_reference(bars, sectors, verdicts=ref_verdicts, **kw)
    q_trades, q_equity, q_verdicts = run_qtx(bars, sectors, **kw)
    scale = float(kw.get("capital", 100_000_000))

    for n, (r, q) in enumerate(zip(ref_trades, q_trades)):
        same = (r["date"] == q["date"] and r["symbol"] == q["symbol"] and r["side"] == q["side"]
                and r["reason"] == q["reason"] and _close(r["qty"], q["qty"], 0)
                and _close(r["price"], q["price"], 0) and _close(r["fee"], q["fee"], 0))
        if not same:
            return f"trade #{n}: reference {r} != qtx {q}"
    if len(ref_trades) != len(q_trades):
        extra = (ref_trades + q_trades)[min(len(ref_trades), len(q_trades))]
        return f"trade count reference {len(ref_trades)} != qtx {len(q_trades)}; first extra {extra}"

    if len(ref_equity) != len(q_equity):
        return f"equity rows reference {len(ref_equity)} != qtx {len(q_equity)}"
    for r, q in zip(ref_equity, q_equity):
        same = (r["date"] == q["date"] and r["positions"] == q["positions"]
                and r["buy_blocked"] == q["buy_blocked"]
                and r["size_multiplier"] == q["size_multiplier"]
                and _close(r["cash"], q["cash"], scale) and _close(r["equity"], q["equity"], scale)
                and _close(r["drawdown"], q["drawdown"], 1e-6))
        if not same:
            return f"equity row {r['date']}: reference {r} != qtx {q}"

    for n, (r, q) in enumerate(zip(ref_verdicts, q_verdicts)):
        if (r["date"], r["symbol"], r["reason"]) != (q["date"], q["symbol"], q["reason"]) \
                or not _close(r["qty"], q["qty"], 0):
            return f"verdict #{n}: reference {r} != qtx {q}"
    if len(ref_verdicts) != len(q_verdicts):
        return f"verdict count reference {len(ref_verdicts)} != qtx {len(q_verdicts)}"
    return None


def assert_agree(bars, sectors, min_trades=1, **kw):
    diff = first_difference(bars, sectors, **kw)
    assert diff is None, diff
    # A comparison of two empty runs could not fail: insist that something traded.
    ref_trades, _ = run_reference(bars, sectors, **kw)
    assert len(ref_trades) >= min_trades


# --------------------------------------------------------------------------- real data

def load_folder(folder: Path, symbols=None):
    if not folder.is_dir():
        pytest.skip(f"real data folder {folder} is absent")
    names = sorted(p.stem for p in folder.glob("*.csv") if p.stem != "sectors")
    if symbols is not None:
        names = symbols(names)
    bars = {}
    for s in names:
        with open(folder / f"{s}.csv", newline="") as fh:
            bars[s] = [{"date": r["date"], "open": float(r["open"]), "high": float(r["high"]),
                        "low": float(r["low"]), "close": float(r["close"]),
                        "volume": float(r["volume"])} for r in csv.DictReader(fh)]
    sectors = {}
    if (folder / "sectors.csv").exists():
        with open(folder / "sectors.csv", newline="") as fh:
            sectors = {r["symbol"]: r["sector"] for r in csv.DictReader(fh) if r["symbol"] in bars}
    return bars, sectors


@pytest.mark.realdata
def test_krx_first_half_all_dates():
    bars, sectors = load_folder(DATA / "krx", lambda n: n[:48])
    assert_agree(bars, sectors, min_trades=100)


@pytest.mark.realdata
def test_krx_second_half_all_dates():
    bars, sectors = load_folder(DATA / "krx", lambda n: n[48:])
    assert_agree(bars, sectors, min_trades=100)


@pytest.mark.realdata
def test_krx_start_end_window_and_slippage():
    bars, sectors = load_folder(DATA / "krx", lambda n: n[::3])
    assert_agree(bars, sectors, min_trades=50, start="2018-03-02", end="2021-06-30",
                 slippage_bps=5, max_positions=5)


@pytest.mark.realdata
def test_crypto_no_sell_tax_fractional_lot():
    bars, sectors = load_folder(DATA / "crypto")
    assert_agree(bars, sectors, min_trades=50, sell_tax=0.0, lot=0.001, capital=100_000)


@pytest.mark.realdata
def test_us_subset_with_sectors():
    bars, sectors = load_folder(DATA / "us", lambda n: n[:30])
    assert sectors, "us/sectors.csv should name the sectors"
    assert_agree(bars, sectors, min_trades=50, sell_tax=0.0)


# --------------------------------------------------------------------------- synthetic markets

def synthetic_market(seed: int, n_symbols: int = 10, n_bars: int = 400):
    """Integer-priced random walks with gaps, halts, market-wide crashes and zero-volume days,
    so exact ties, waiting SELLs, daily-loss blocks and drawdown sizing all occur."""
    rng = np.random.default_rng(seed)
    calendar = [str(d.date()) for d in pd.bdate_range("2020-01-01", periods=n_bars)]
    shocks = rng.random(n_bars) < 0.02  # market-wide crash days
    bars, sectors = {}, {}
    for s in range(n_symbols):
        sym = f"S{s:02d}"
        price = float(rng.choice([20, 60, 100, 150, 400]) + rng.integers(0, 10))
        vol_pct = float(rng.choice([0.01, 0.02, 0.035]))
        rows = []
        # Some symbols list late or halt for a stretch; others miss single days.
        listed_from = int(rng.choice([0, 0, 0, 30]))
        halt = int(rng.integers(0, n_bars)) if rng.random() < 0.5 else -1
        for k, d in enumerate(calendar):
            move = rng.normal(0.0015, vol_pct) - (rng.uniform(0.06, 0.15) if shocks[k] else 0.0)
            step = float(round(price * move))
            if rng.random() < 0.15:  # small integer steps: exact -2% / -4% dips and SMA ties
                step = float(rng.choice([-2, -1, 0, 1, 2]))
            price = max(5.0, price + step)
            if k < listed_from or (halt >= 0 and halt <= k < halt + 4) or rng.random() < 0.03:
                continue
            gap = float(round(price * rng.normal(0.0, vol_pct / 2)))
            open_ = max(1.0, price + gap)
            high = max(open_, price) + float(rng.integers(0, 3))
            low = max(1.0, min(open_, price) - float(rng.integers(0, 3)))
            volume = 0.0 if rng.random() < 0.03 else float(rng.choice([100, 150, 200, 300, 600]))
            rows.append({"date": d, "open": open_, "high": high, "low": low, "close": price,
                         "volume": volume})
        bars[sym] = rows
        sec = rng.choice(["A", "B", "C", ""])
        if sec:
            sectors[sym] = str(sec)
    return bars, sectors


# Risk settings that make the rarer paths happen: one big slot (cuts at the fill), a handful
# of shares (take-profits whose half rounds to zero, min_order), a tight sector cap.
SYNTH_SETTINGS = [
    {},
    {"capital": 20_000, "max_positions": 4},
    {"capital": 1_500, "max_positions": 3, "sector_cap": 1.0},
    {"capital": 50_000, "max_positions": 1, "sector_cap": 1.0, "slippage_bps": 10},
    {"capital": 100_000, "max_positions": 5, "sector_cap": 0.25, "daily_loss_limit": -0.02},
]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
def test_synthetic_markets(seed):
    bars, sectors = synthetic_market(seed)
    assert_agree(bars, sectors, min_trades=5, **SYNTH_SETTINGS[seed % len(SYNTH_SETTINGS)])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_symbols=st.integers(2, 6),
       capital=st.sampled_from([3_000, 10_000, 100_000]), max_positions=st.integers(1, 5),
       sector_cap=st.sampled_from([0.25, 0.40, 1.0]))
def test_synthetic_hypothesis(seed, n_symbols, capital, max_positions, sector_cap):
    bars, sectors = synthetic_market(seed, n_symbols=n_symbols, n_bars=300)
    diff = first_difference(bars, sectors, capital=capital, max_positions=max_positions,
                            sector_cap=sector_cap)
    assert diff is None, diff


# --------------------------------------------------------------------------- hand-made ties

def _flat(n: int, price: float = 100.0, volume: float = 1000.0, start: str = "2020-01-01"):
    """n bars: a slow exact uptrend (so close > SMA240) ending at ``price``."""
    dates = [str(d.date()) for d in pd.bdate_range(start, periods=n)]
    rows = []
    for k, d in enumerate(dates):
        c = price - (n - 1 - k) * 0.125  # binary-exact steps
        rows.append({"date": d, "open": c, "high": c, "low": c, "close": c, "volume": volume})
    return rows


def _more_dates(rows, closes, volume=1000.0, highs=None, volumes=None):
    last = pd.Timestamp(rows[-1]["date"])
    dates = [str(d.date()) for d in pd.bdate_range(last + pd.Timedelta(days=1), periods=len(closes))]
    for k, (d, c) in enumerate(zip(dates, closes)):
        rows.append({"date": d, "open": c, "high": highs[k] if highs else c, "low": c, "close": c,
                     "volume": volumes[k] if volumes else volume})
    return rows


def _entries(trades):
    return [(t["date"], t["symbol"], t["reason"]) for t in trades if t["side"] == "BUY"]


@pytest.mark.parametrize("dip_close", [96.0, 98.0])
def test_exact_pullback_dip_band_edges(dip_close):
    # ref = 100, close[t-1] = 96 (-4% exact) or 98 (-2% exact), then a rebound: pullback holds.
    rows = _flat(260, 100.0)
    rows = _more_dates(rows, [dip_close, dip_close + 0.5, dip_close + 0.5, dip_close + 0.5])
    bars = {"AAA": rows}
    ref_trades, _ = run_reference(bars, {})
    assert _entries(ref_trades)[:1] == [(rows[262]["date"], "AAA", "pullback")]
    assert_agree(bars, {})


def test_dip_just_outside_the_band_is_no_pullback():
    rows = _more_dates(_flat(260, 100.0), [95.99, 96.5, 96.5])
    bars = {"AAA": rows}
    ref_trades, _ = run_reference(bars, {})
    assert not ref_trades
    q_trades, _, _ = run_qtx(bars, {})
    assert not q_trades


def test_volume_exactly_one_and_a_half_mean_with_sma_tie_on_prior_day():
    # SMA5(t-1) == SMA20(t-1) exactly (flat closes), SMA5(t) > SMA20(t), volume == 1.5 x mean.
    rows = _flat(250, 100.0)
    for r in rows[-30:]:
        r.update(open=100.0, high=100.0, low=100.0, close=100.0)
    rows = _more_dates(rows, [100.5, 101.0, 101.0, 101.0], volumes=[1500.0, 1000.0, 1000.0, 1000.0],
                       highs=[100.5, 101, 101, 101])
    # 100.5 > max(high) = 100 too, and 1500 > 1000: breakout also holds.
    bars = {"AAA": rows}
    ref_trades, _ = run_reference(bars, {})
    assert _entries(ref_trades)[:1] == [(rows[251]["date"], "AAA", "breakout+golden_cross")]
    assert_agree(bars, {})


def test_strength_tie_broken_by_symbol():
    # Identical bars under two names: equal strength, so the symbol first as text ranks first
    # and its BUY fills first (BUYs fill in approval order).
    rows = _more_dates(_flat(260, 100.0), [101.0, 101.0, 101.0], volumes=[2000.0, 1000, 1000],
                       highs=[101.0, 101, 101])
    bars = {"ZZZ": [dict(r) for r in rows], "AAA": [dict(r) for r in rows]}
    ref_trades, _ = run_reference(bars, {})
    assert [t["symbol"] for t in ref_trades if t["side"] == "BUY"][:2] == ["AAA", "ZZZ"]
    assert_agree(bars, {})


def test_strength_tie_with_one_slot_left():
    # Same tie, but one slot: only AAA is approved; ZZZ is rejected with max_positions.
    rows = _more_dates(_flat(260, 100.0), [101.0, 101.0, 101.0], volumes=[2000.0, 1000, 1000],
                       highs=[101.0, 101, 101])
    bars = {"ZZZ": [dict(r) for r in rows], "AAA": [dict(r) for r in rows]}
    verdicts: list[dict] = []
    ref_trades, _ = run_reference(bars, {}, max_positions=1, sector_cap=1.0, capital=1000.0,
                                  verdicts=verdicts)
    assert [(v["symbol"], v["reason"]) for v in verdicts][:2] == [("AAA", "approved"),
                                                                  ("ZZZ", "max_positions")]
    assert_agree(bars, {}, max_positions=1, sector_cap=1.0, capital=1000.0)


def test_take_profit_half_of_one_share_sells_nothing_but_arms():
    rows = _more_dates(_flat(260, 100.0), [101.0, 101.0, 108.2, 110.0, 112.0, 108.0, 108.0],
                       volumes=[2000.0, 1000, 1000, 1000, 1000, 1000, 1000],
                       highs=[101.0, 101, 108.2, 110, 112, 108, 108])
    bars = {"AAA": rows}
    # capital buys exactly one share at 101 (the slice is capital / 8).
    ref_trades, _ = run_reference(bars, {}, capital=1000.0)
    sells = [t for t in ref_trades if t["side"] == "SELL"]
    assert [t["reason"] for t in sells] == ["trailing_stop"]
    assert_agree(bars, {}, capital=1000.0)


def test_sell_waits_through_missing_bars_and_buy_without_bar_is_cancelled():
    a = _more_dates(_flat(260, 100.0), [101.0] + [101.0] * 14, volumes=[2000.0] + [1000.0] * 14,
                    highs=[101.0] * 15)
    b = [dict(r) for r in a]
    # AAA: time exit decided at its 10th held bar, then halted for 3 days; BBB gets a BUY whose
    # fill date has no BBB bar (cancelled).
    del a[273:276]
    del b[261]
    bars = {"AAA": a, "BBB": b}
    assert_agree(bars, {})
