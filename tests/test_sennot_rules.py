"""Sennot entries and exits on hand-built bars: each rule fires exactly once, and each nearly
fires (the boundaries of trading-rules.md: -2%/-4% dips, an SMA tie the day before, volume of
exactly 1.5x, a take-profit whose half rounds to zero, two exits true on one bar)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.engine import simulate
from risk.params import RiskParams
from sennot import ParamError, PositionView, Sennot, StrategyError, create
from sennot import indicators as ind
from sennot.costs import Costs
from sennot.numeric import eq
from tests.builders import market, warm

S = Sennot()


def table(b):
    return S.entries(b)


def fired(t, rule):
    return np.flatnonzero(getattr(t, rule)).tolist()


def test_flat_series_fires_nothing():
    t = table(warm([100.0] * 30))
    assert not t.buy.any() and not t.trend.any()
    assert not (t.breakout | t.golden_cross | t.pullback).any()


# --------------------------------------------------------------------------- pullback

def pullback_bars(prev: float, today: float):
    # warm-up at 50 keeps the trend filter true; 12 bars at 100 set ref = 100.
    return warm([100.0] * 12 + [prev, today], level=50.0)


@pytest.mark.parametrize("prev,today,fires", [
    (98.0, 99.0, True),     # dip exactly -2%
    (96.0, 97.0, True),     # dip exactly -4%
    (97.0, 97.5, True),     # inside the band
    (98.1, 99.0, False),    # -1.9%: too shallow
    (95.9, 97.0, False),    # -4.1%: too deep
    (98.0, 98.0, False),    # no rebound (equal close)
    (98.0, 98.0 * (1 + 1e-12), False),  # equal within 1e-9: still no rebound
])
def test_pullback_boundaries(prev, today, fires):
    b = pullback_bars(prev, today)
    t = table(b)
    last = len(b) - 1
    assert fired(t, "pullback") == ([last] if fires else [])
    assert fired(t, "buy") == ([last] if fires else [])
    assert not t.breakout.any() and not t.golden_cross.any()
    if fires:
        assert t.reason(last) == "pullback"


@pytest.mark.parametrize("n99,fires", [(8, True), (9, False)])
def test_pullback_ref_window_is_the_10_bars_before(n99, fires):
    # 100 at t-10 (in the window: dip -2%) or at t-11 (out: ref 99, dip -1.01%).
    b = warm([100.0] + [99.0] * n99 + [98.0, 98.5], level=50.0)
    assert fired(table(b), "pullback") == ([len(b) - 1] if fires else [])


# --------------------------------------------------------------------------- golden cross

def cross_bars(tail, vols, level=100.0):
    # warm highs at 110 keep breakout out of the way.
    return warm(tail, level=level, warm_high=110.0, tail_volumes=vols)


@pytest.mark.parametrize("vol,fires", [
    (1500.0, True),                    # exactly 1.5x the mean of the 20 bars before
    (1500.0 * (1 - 1e-12), True),      # equal within 1e-9
    (1499.99, False),
])
def test_golden_cross_volume_boundary_and_sma_tie_the_day_before(vol, fires):
    b = cross_bars([101.0], [vol])
    t = table(b)
    last = len(b) - 1
    fast, slow = ind.sma(b.close, 5), ind.sma(b.close, 20)
    assert fast[last - 1] == slow[last - 1]  # SMA5 equal to SMA20 the day before
    assert fired(t, "golden_cross") == ([last] if fires else [])
    assert fired(t, "buy") == ([last] if fires else [])
    assert not t.breakout.any() and not t.pullback.any()
    if fires:
        assert t.reason(last) == "golden_cross" and t.strength[last] == pytest.approx(1.5)


def test_golden_cross_tie_within_tolerance_counts_as_below():
    b = cross_bars([100.1, 100.2, 100.3, 100.4, 100.5, 101.0], [1000.0] * 5 + [1500.0], level=100.3)
    t = table(b)
    last = len(b) - 1
    fast, slow = ind.sma(b.close, 5), ind.sma(b.close, 20)
    assert eq(fast[last - 1], slow[last - 1])  # a tie under the spec's equality
    assert fired(t, "golden_cross") == [last]


def test_golden_cross_needs_the_cross_today():
    # SMA5 already above SMA20 the day before: no cross at the volume bar.
    b = cross_bars([101.0, 101.5], [1000.0, 1500.0])
    fast, slow = ind.sma(b.close, 5), ind.sma(b.close, 20)
    assert fast[-2] > slow[-2]
    assert not table(b).golden_cross.any()
    # SMA5 equal to SMA20 today: not above.
    assert not table(cross_bars([100.0], [1500.0])).golden_cross.any()


# --------------------------------------------------------------------------- breakout

@pytest.mark.parametrize("close,vol,fires", [
    (105.01, 1001.0, True),
    (105.0, 1001.0, False),                # equal to the highest high: not above
    (105.0 * (1 + 1e-12), 1001.0, False),  # equal within 1e-9
    (105.01, 1000.0, False),               # volume equal to the mean: not above
])
def test_breakout_boundaries(close, vol, fires):
    b = warm([close], warm_high=105.0, tail_volumes=[vol])
    t = table(b)
    last = len(b) - 1
    assert fired(t, "breakout") == ([last] if fires else [])
    assert not t.golden_cross.any() and not t.pullback.any()
    assert fired(t, "buy") == ([last] if fires else [])


@pytest.mark.parametrize("back,fires", [(21, True), (20, False)])
def test_breakout_window_is_the_20_bars_before(back, fires):
    b = warm([101.0], tail_volumes=[1001.0])
    b.high[len(b) - 1 - back] = 200.0  # a high at t-21 is out of the window, at t-20 in it
    assert fired(table(b), "breakout") == ([len(b) - 1] if fires else [])


# --------------------------------------------------------------------------- trend, reasons, strength

def test_trend_filter_is_strict_and_needs_240_bars():
    b = warm([100.0, 101.0], tail_volumes=[1000.0, 1001.0])
    t = table(b)
    assert t.trend[-1] and not t.trend[-2]  # close equal to SMA240: not above
    short = warm([101.0], warmup=238, tail_volumes=[1001.0])  # 239 bars: SMA240 undefined
    ts = table(short)
    assert ts.breakout[-1] and not ts.trend.any() and not ts.buy.any()


def test_reason_lists_every_rule_in_spec_order():
    b = warm([101.0], tail_volumes=[1500.0])
    t = table(b)
    assert t.reason(len(b) - 1) == "breakout+golden_cross"
    b = warm([101.0, 98.5, 103.0], tail_volumes=[1000.0, 1000.0, 1500.0])
    t = table(b)
    last = len(b) - 1
    assert t.breakout[last] and t.golden_cross[last] and t.pullback[last]
    assert t.reason(last) == "breakout+golden_cross+pullback"
    assert fired(t, "buy") == [last]


def test_strength_is_infinite_when_the_volume_mean_is_zero():
    b = warm([101.0], volume=0.0, tail_volumes=[5.0])
    t = table(b)
    assert t.breakout[-1] and math.isinf(t.strength[-1])


def test_entry_at_t_uses_no_later_bar():
    b = pullback_bars(98.0, 99.0)
    longer = warm([100.0] * 12 + [98.0, 99.0, 150.0, 10.0], level=50.0)
    a, c = table(b), table(longer)
    n = len(b)
    for col in ("trend", "breakout", "golden_cross", "pullback", "buy"):
        assert (getattr(a, col) == getattr(c, col)[:n]).all()


# --------------------------------------------------------------------------- exits

def pos(qty=100.0, entry=100.0, entry_index=0, armed=None, memo=None):
    return PositionView("X", qty, entry, entry_index, armed, memo)


def ex(p, closes, i=None, lot=1.0):
    c = np.asarray(closes, dtype=float)
    return S.exit(p, c, len(c) - 1 if i is None else i, lot)


def test_stop_loss_boundary_and_on_the_fill_bar():
    assert ex(pos(), [100, 96.0]).rule == "stop_loss"
    assert ex(pos(), [100, 96.0]).qty == 100
    assert ex(pos(), [100, 96.0001]) is None
    assert ex(pos(), [96.0]).rule == "stop_loss"  # held 0: the entry fill bar itself


def test_take_profit_boundary_sells_half_and_arms():
    d = ex(pos(qty=101), [100, 107.0])
    assert (d.rule, d.qty, d.arm) == ("take_profit", 50, True)
    assert ex(pos(), [100, 106.99]) is None


@pytest.mark.parametrize("qty,lot,sold", [(1.0, 1.0, 0.0), (3.0, 1.0, 1.0), (0.001, 0.001, 0.0),
                                          (0.003, 0.001, 0.001)])
def test_take_profit_whose_half_rounds_to_zero_still_arms(qty, lot, sold):
    d = ex(pos(qty=qty), [100, 108.0], lot=lot)
    assert d.rule == "take_profit" and d.arm and d.qty == sold


def test_trailing_stop_boundary_from_the_peak_since_arming():
    closes = [100, 107, 110, 106.7]  # 110 * 0.97 = 106.7
    assert ex(pos(armed=1), closes).rule == "trailing_stop"
    assert ex(pos(armed=1), [100, 107, 110, 106.71]) is None
    # with the running peak kept in the memo up to the bar before
    assert ex(pos(armed=1, memo={"armed": 1, "i": 2, "peak": 110.0}), closes).rule == "trailing_stop"
    # a high close before arming is not the peak
    assert ex(pos(armed=2), [100, 120, 107, 104.0]) is None
    assert ex(pos(armed=2), [100, 120, 107, 103.79]).rule == "trailing_stop"


def test_the_running_peak_kept_in_the_memo_equals_the_scan():
    closes = np.array([100, 107, 112, 109, 110, 111.0])
    memo: dict = {}
    for i in range(2, len(closes)):
        assert S.exit(pos(armed=1, memo=memo), closes, i) is None is S.exit(pos(armed=1), closes, i)
        assert memo == {"armed": 1, "i": i, "peak": max(closes[1:i + 1])}
    # The memo is read only when it is this arming's and ends at the bar before (a peak of 1000
    # would make 111 a trailing stop):
    assert ex(pos(armed=1, memo={"armed": 1, "i": 4, "peak": 1000.0}), closes).rule == "trailing_stop"
    assert ex(pos(armed=1, memo={"armed": 1, "i": 3, "peak": 1000.0}), closes) is None
    assert ex(pos(armed=1, memo={"armed": 0, "i": 4, "peak": 1000.0}), closes) is None


def test_time_exit_after_10_own_bars_unless_armed():
    assert ex(pos(), [100] * 10) is None           # held 9
    d = ex(pos(), [100] * 11)                       # held 10
    assert (d.rule, d.qty) == ("time_exit", 100)
    assert ex(pos(entry_index=5), [100] * 15) is None  # held 9 from a later fill bar
    assert ex(pos(armed=1), [100, 107] + [106.0] * 20) is None  # armed: left to the trailing stop


def test_two_exits_on_one_bar_the_first_in_order_decides():
    assert ex(pos(), [100] * 10 + [95.0]).rule == "stop_loss"       # stop_loss and time_exit
    d = ex(pos(), [100] * 10 + [108.0])                               # take_profit and time_exit
    assert d.rule == "take_profit" and d.qty == 50
    d = ex(pos(qty=1), [100] * 10 + [108.0])                          # ...even when it sells 0
    assert d.rule == "take_profit" and d.qty == 0


def test_custom_params_through_the_registry():
    st = create("sennot", {"stop_loss": 0.10})
    assert st.exit(pos(), np.array([100, 96.0]), 1) is None
    with pytest.raises(StrategyError, match="unknown strategy 'no_such_strategy' \\(known: .*sennot"):
        create("no_such_strategy")


@pytest.mark.parametrize("params, param, problem", [
    ({"stop_los": 0.05}, "stop_los", "unknown parameter of strategy sennot (known: trend_sma, "),
    ({"trend_sma": "240"}, "trend_sma", "must be a whole number (got '240')"),
    ({"trend_sma": 240.5}, "trend_sma", "must be a whole number (got 240.5)"),
    ({"stop_loss": True}, "stop_loss", "must be a number (got True)"),
    ({"stop_loss": float("nan")}, "stop_loss", "must be a number"),
    ({"trend_sma": 0}, "trend_sma", "must be at least 1 (got 0)"),
    ({"fast_sma": 20}, "fast_sma", "must be shorter than slow_sma (got 20 >= 20)"),
    ({"stop_loss": 1.5}, "stop_loss", "must be between 0 and 1 (got 1.5)"),
    ({"pullback_max_dip": 0.01}, "pullback_max_dip", "must be at most 0"),
    ({"pullback_min_dip": -0.01}, "pullback_min_dip", "must be at most pullback_max_dip"),
    ({"take_profit_fraction": 0}, "take_profit_fraction", "must be in (0, 1]"),
    ({"breakout_volume": -1}, "breakout_volume", "must be at least 0"),
])
def test_a_bad_param_is_refused_naming_it(params, param, problem):
    with pytest.raises(ParamError) as err:
        create("sennot", params)
    assert err.value.param == param and err.value.problem.startswith(problem), err.value


def test_params_are_converted_to_their_types():
    st = create("sennot", {"trend_sma": 120.0, "stop_loss": 1 / 20})
    assert st.params.trend_sma == 120 and isinstance(st.params.trend_sma, int) and st.warmup == 120


def test_describe_and_filters_follow_the_params():
    st = create("sennot", {"trend_sma": 30})
    d = st.describe()
    assert d["filters"] == [{"name": "trend", "label": "close > SMA(30)", "bars": 30}]
    assert [r["name"] for r in d["entry_rules"]] == ["breakout", "golden_cross", "pullback"]
    assert [r["name"] for r in d["exit_rules"]] == ["stop_loss", "trailing_stop", "take_profit", "time_exit"]
    assert d["params"]["trend_sma"] == 30
    b = warm([100.0, 101.0, 100.0], warmup=40)  # flat at 100: an exact SMA tie is not above it
    t = st.entries(b)
    for i in range(len(b)):
        expected = None if i < 29 else bool(t.trend[i])
        assert st.filters_at(b, i) == {"trend": expected}, i
    # the tie at 100, above it at 101, below the (now higher) SMA at 100
    assert [st.filters_at(b, i)["trend"] for i in (-3, -2, -1)] == [False, True, False]
    assert st.filters_at(b, 28) == {"trend": None}  # 29 bars: SMA(30) is undefined


# --------------------------------------------------------------------------- through the engine

CAP = 100_000_000


def run(m, capital=CAP, **rp):
    return simulate(m, create(), RiskParams(**rp), Costs(), capital)


def test_engine_pullback_buy_then_time_exit():
    b = warm([100.0] * 12 + [98.0, 99.0] + [99.5] * 12, level=50.0)
    res = run(market(b))
    d = b.dates.tolist()
    sig = 260 + 13
    assert [(t.date, t.side, t.reason) for t in res.trades] == [
        (d[sig + 1], "BUY", "pullback"), (d[sig + 12], "SELL", "time_exit")]
    buy = res.trades[0]
    assert buy.qty == math.floor(CAP / 8 / 99.0) and buy.price == 99.5
    assert buy.fee == pytest.approx(buy.qty * 99.5 * 0.00015, rel=1e-12)
    sell = res.trades[1]
    assert sell.fee == pytest.approx(sell.qty * 99.5 * (0.00015 + 0.0020), rel=1e-12)


def test_engine_take_profit_rounding_to_zero_arms_then_trails():
    tail = [100.0] * 12 + [98.0, 99.0, 99.0, 107.0] + [107.0] * 12 + [110.0, 106.7, 106.0]
    b = warm(tail, level=50.0)
    res = run(market(b), capital=1000.0)  # qty floor(1000/8/99) = 1
    assert [(t.side, t.qty, t.reason) for t in res.trades] == [
        ("BUY", 1.0, "pullback"), ("SELL", 1.0, "trailing_stop")]
    rules = [(e["rule"], e["qty"]) for e in res.exits]
    assert rules == [("take_profit", 0.0), ("trailing_stop", 1.0)]  # no time_exit once armed
    assert res.trades[1].date == b.dates[260 + 30]


def test_engine_symbol_with_a_sell_today_is_not_bought_today():
    # Signal at S (97 -> 97.5); fill at S+1 opens 110, closes 98: a stop loss AND a pullback
    # at S+1.  No BUY candidate at S+1; after the SELL fills at S+2's open, S+2's pullback
    # (98 -> 98.5, dip -2%) buys again.
    tail = [100.0] * 12 + [97.0, 97.5, 98.0, 98.5, 98.5]
    opens = tail.copy()
    opens[14] = 110.0
    b = warm(tail, level=50.0, tail_opens=opens)
    t = table(b)
    s = 260 + 13
    assert t.buy[s] and t.buy[s + 1] and t.buy[s + 2]
    res = run(market(b))
    d = b.dates.tolist()
    assert [v["date"] for v in res.verdicts] == [d[s], d[s + 2]]
    assert [(t.date, t.side, t.reason) for t in res.trades] == [
        (d[s + 1], "BUY", "pullback"), (d[s + 2], "SELL", "stop_loss"), (d[s + 3], "BUY", "pullback")]
    assert res.trades[0].price == 110.0


def test_engine_entry_uses_slippage_for_the_stop():
    b = warm([100.0] * 12 + [98.0, 99.0, 99.0, 95.5], level=50.0)
    # entry = 99 * 1.005 = 99.495; stop at 95.5152 -> 95.5 stops out
    res = simulate(market(b), create(), RiskParams(), Costs(slippage=50 / 10000), CAP)
    assert res.trades[0].price == pytest.approx(99.495, rel=1e-12)
    assert res.exits[0]["rule"] == "stop_loss"
    res = simulate(market(b), create(), RiskParams(), Costs(), CAP)  # entry 99: stop 95.04
    assert not res.exits


def test_universe_filter_blocks_buys_but_not_exits():
    from pipeline.engine import UniverseFilter

    b = warm([100.0] * 12 + [98.0, 99.0, 99.0, 94.0, 94.0], level=50.0)
    m = market(b)
    blocked = simulate(m, create(), RiskParams(), Costs(), CAP, universe=UniverseFilter(min_price=99.5))
    assert blocked.trades == [] and blocked.verdicts == []
    assert simulate(m, create(), RiskParams(), Costs(), CAP,
                    universe=UniverseFilter(exclude=("X",))).trades == []
    # held, then below the minimum price: the stop loss still sells
    res = simulate(m, create(), RiskParams(), Costs(), CAP, universe=UniverseFilter(min_price=95.0))
    assert [(t.side, t.reason) for t in res.trades] == [("BUY", "pullback"), ("SELL", "stop_loss")]
