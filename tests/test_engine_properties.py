"""Property tests over random markets: whatever the bars, the backtest's trades keep every
promise of trading-rules.md (at most max_positions, sector exposure at entry within the cap,
whole lots, cash never negative, no BUY on a blocked day, halved sizes in drawdown), checked by
``tests.builders.check_invariants`` from the outputs alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline.engine import simulate
from pipeline.market import InstrumentRules, Market
from risk.params import RiskParams
from sennot import create
from sennot.costs import Costs
from sennot.types import SymbolBars
from tests.builders import business_dates, check_invariants

# Short windows so a 60-200 bar market trades a lot.
FAST = {"trend_sma": 10, "fast_sma": 2, "slow_sma": 5, "volume_window": 5, "breakout_window": 5,
        "pullback_window": 5}


def random_market(seed: int, n_symbols: int, n_bars: int, lot: float = 1.0, gaps: float = 0.05) -> Market:
    rng = np.random.default_rng(seed)
    dates = np.array(business_dates(n_bars))
    bars, rules = {}, {}
    sectors = ["a", "b", "c", None]
    for s in range(n_symbols):
        sym = f"S{s:02d}"
        # fat-tailed integer prices: ties happen, and so do -3% days and -10% drawdowns
        r = rng.standard_t(3, n_bars) * 0.03 + 0.001
        close = np.maximum(1.0, np.round(1000 * np.exp(np.cumsum(r))))
        open_ = np.maximum(1.0, np.round(close * np.exp(rng.normal(0, 0.01, n_bars))))
        open_ = np.roll(open_, 1)
        high = np.maximum(open_, close) + rng.integers(0, 10, n_bars)
        low = np.maximum(1.0, np.minimum(open_, close) - rng.integers(0, 10, n_bars))
        vol = rng.integers(0, 5, n_bars) * 1000.0
        keep = rng.random(n_bars) >= gaps  # halted days: the symbol has no bar
        keep[:3] = True
        bars[sym] = SymbolBars(sym, dates[keep], open_[keep], high[keep], low[keep], close[keep], vol[keep])
        rules[sym] = InstrumentRules(lot, 0.0, sectors[s % 4])
    return Market(bars, rules)


def run_and_check(m, rp, costs, capital, start=None):
    res = simulate(m, create("sennot", FAST), rp, costs, capital, start=start)
    return res, check_invariants(res, m, rp, costs, capital)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_symbols=st.integers(2, 14), n_bars=st.integers(30, 160),
       max_positions=st.sampled_from([1, 3, 8]), sector_cap=st.sampled_from([0.2, 0.4, 1.0]),
       capital=st.sampled_from([1e4, 1e6, 1e8]), slippage_bps=st.sampled_from([0, 10]),
       gaps=st.sampled_from([0.0, 0.1]))
# Found by hypothesis: a full SELL waiting for a bar keeps its position counted for a day.
@example(seed=14, n_symbols=12, n_bars=30, max_positions=3, sector_cap=0.4, capital=1e4,
         slippage_bps=0, gaps=0.1)
def test_random_markets_keep_every_invariant(seed, n_symbols, n_bars, max_positions, sector_cap,
                                             capital, slippage_bps, gaps):
    m = random_market(seed, n_symbols, n_bars, gaps=gaps)
    rp = RiskParams(max_positions=max_positions, sector_cap=sector_cap)
    res, _ = run_and_check(m, rp, Costs(slippage=slippage_bps / 10000), capital)
    if not gaps:  # no SELL ever waits: the holdings never exceed the limit
        assert all(e.positions <= max_positions for e in res.equity)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_symbols=st.integers(2, 8))
def test_fractional_lots_keep_every_invariant(seed, n_symbols):
    m = random_market(seed, n_symbols, 100, lot=0.001)
    run_and_check(m, RiskParams(), Costs(sell_tax=0.0), 1e4)


def test_the_invariants_are_actually_exercised():
    """Over a few fixed markets every invariant is checked many times (so the property test
    above is not vacuous): blocked days, halved sizes, sector checks, cuts."""
    total: dict[str, int] = {}
    for seed in range(6):
        m = random_market(seed, 12, 200, gaps=0.05)
        res, seen = run_and_check(m, RiskParams(), Costs(), 1e7)
        for k, v in seen.items():
            total[k] = total.get(k, 0) + v
        reasons = {v["reason"] for v in res.verdicts}
        total.update({f"reason:{r}": 1 for r in reasons})
    for key in ("fills", "blocked_days", "halved_days", "sized_halved", "sized_full", "sector_checked",
                "reason:max_positions", "reason:daily_loss_block", "reason:approved"):
        assert total.get(key, 0) > 0, (key, total)


def test_start_date_starts_flat_with_the_capital():
    m = random_market(3, 8, 150)
    start = str(m.dates[80])
    res, _ = run_and_check(m, RiskParams(), Costs(), 1e7, start=start)
    assert res.equity[0].date == start and res.equity[0].equity == 1e7
    assert all(t.date >= start for t in res.trades)


def test_the_checker_catches_a_broken_result():
    """A test that cannot fail is a defect: tamper with a correct result and expect a failure."""
    m = random_market(1, 10, 150)
    rp, costs = RiskParams(), Costs()
    res, _ = run_and_check(m, rp, costs, 1e7)
    buys = [i for i, t in enumerate(res.trades) if t.side == "BUY"]
    assert buys
    from dataclasses import replace
    bad = replace(res.trades[buys[0]], qty=res.trades[buys[0]].qty + 0.5)
    res.trades[buys[0]] = bad
    with pytest.raises(AssertionError):
        check_invariants(res, m, rp, costs, 1e7)


@pytest.mark.parametrize("engine_rp,claimed_rp", [
    (RiskParams(sector_cap=1.0), RiskParams()),                       # no sector cap
    (RiskParams(drawdown_size_multiplier=1.0), RiskParams()),         # no halving in drawdown
    (RiskParams(daily_loss_limit=-1.0), RiskParams()),                # never blocked
    (RiskParams(max_positions=12), RiskParams(max_positions=8)),      # too many positions
])
def test_the_checker_catches_each_broken_risk_rule(engine_rp, claimed_rp):
    """Run the engine with one risk rule switched off and check against the real rules: the
    checker must notice on at least one of a few markets."""
    caught = 0
    for seed in range(4):
        m = random_market(seed, 14, 200, gaps=0.0)
        res = simulate(m, create("sennot", FAST), engine_rp, Costs(), 1e7)
        try:
            check_invariants(res, m, claimed_rp, Costs(), 1e7)
        except AssertionError:
            caught += 1
    assert caught > 0
