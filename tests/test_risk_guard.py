"""The risk guard: each check and its reason, the order of the checks, ranking, and the
portfolio state (daily loss block, drawdown halving) with their exact boundaries."""

from __future__ import annotations

import math

from risk.guard import Candidate, Holding, Sale, rank, vet
from risk.params import RiskParams
from risk.portfolio import assess, equity
from risk.sizing import order_qty
from sennot.costs import Costs

RP = RiskParams()
COSTS = Costs()
EQ = 8_000_000.0  # slice = 1,000,000


def state(eq=EQ, prev=None, peak=None):
    return assess(eq, prev, peak if peak is not None else eq, RP)


def cand(sym, strength=2.0, close=1000.0, sector=None, **kw):
    return Candidate(sym, strength, close, "breakout", sector=sector, **kw)


def reasons(vs):
    return [(v.symbol, v.reason) for v in vs]


def test_approved_sizing_is_equity_over_max_positions():
    [v] = vet([cand("A", close=999.0)], [], [], EQ, state(), RP, COSTS)
    assert v.approved and v.reason == "approved" and v.qty == math.floor(1_000_000 / 999.0)


def test_ranking_strength_desc_then_symbol_as_text():
    cs = [cand("B", 1.5), cand("A", 1.5), cand("C", 3.0), cand("10", 1.5), cand("9", 1.5),
          cand("D", 1.5 * (1 + 1e-12))]  # equal to 1.5 under the rule: ordered by symbol
    assert [c.symbol for c in rank(cs)] == ["C", "10", "9", "A", "B", "D"]
    assert [v.rank for v in vet(cs, [], [], 1e12, state(1e12), RP, COSTS)] == [1, 2, 3, 4, 5, 6]


def test_max_positions_counts_holdings_after_todays_sells_and_approvals():
    holdings = [Holding(f"H{i}", 10, 1000.0) for i in range(7)]
    vs = vet([cand("A", 3), cand("B", 2)], holdings, [], EQ, state(), RP, COSTS)
    assert reasons(vs) == [("A", "approved"), ("B", "max_positions")]
    # a full sale frees a slot, a partial take-profit does not
    full = [Sale("H0", 10, 1000.0, True)]
    part = [Sale("H0", 5, 1000.0, False)]
    holdings8 = holdings + [Holding("H7", 10, 1000.0)]
    assert reasons(vet([cand("A")], holdings8, full, EQ, state(), RP, COSTS)) == [("A", "approved")]
    assert reasons(vet([cand("A")], holdings8, part, EQ, state(), RP, COSTS)) == [("A", "max_positions")]


def test_min_order_zero_qty_and_min_notional():
    [v] = vet([cand("A", close=1_000_001.0)], [], [], EQ, state(), RP, COSTS)
    assert (v.reason, v.qty) == ("min_order", 0.0)
    # qty 1 at 600,000 < min_notional 700,000
    [v] = vet([cand("A", close=600_000.0, min_notional=700_000.0)], [], [], EQ, state(), RP, COSTS)
    assert (v.reason, v.qty) == ("min_order", 1.0)
    [v] = vet([cand("A", close=600_000.0, min_notional=600_000.0)], [], [], EQ, state(), RP, COSTS)
    assert v.approved  # qty * close >= min_notional: equal passes


def test_cash_check_is_exact_and_counts_sale_proceeds_and_earlier_approvals():
    c = cand("A", close=1000.0)  # qty 1000, cost 1000 * 1000 * 1.00015 = 1,000,150
    cost = 1000 * 1000.0 * (1 + COSTS.commission)
    assert vet([c], [], [], cost, state(), RP, COSTS)[0].approved
    assert vet([c], [], [], math.nextafter(cost, 0), state(), RP, COSTS)[0].reason == "cash"
    # sale proceeds net of commission and tax make it fit
    sale = Sale("S", 100, 1000.0, True)
    net = 100_000 - 100_000 * COSTS.commission - 100_000 * COSTS.sell_tax
    vs = vet([c], [Holding("S", 100, 1000.0)], [sale], cost - net, state(), RP, COSTS)
    assert vs[0].approved
    vs = vet([c], [Holding("S", 100, 1000.0)], [sale], math.nextafter(cost - net, 0), state(), RP, COSTS)
    assert vs[0].reason == "cash"
    # the second candidate sees the cash the first one used
    vs = vet([cand("A", 3), cand("B", 2)], [], [], cost * 1.5, state(), RP, COSTS)
    assert reasons(vs) == [("A", "approved"), ("B", "cash")]


def test_sector_cap_counts_holdings_left_and_approvals_and_equal_passes():
    eq = 10_000_000.0  # cap 4,000,000; slice 1,250,000 -> qty 1250 at 1000
    st = assess(eq, None, eq, RP)
    hold = [Holding("H", 1500, 1000.0, "tech")]  # 1.5M in tech
    vs = vet([cand("A", 3, sector="tech"), cand("B", 2, sector="tech")], hold, [], eq, st, RP, COSTS)
    # 1.5M + 1.25M = 2.75M ok; + 1.25M = 4.0M == cap: equal passes
    assert reasons(vs) == [("A", "approved"), ("B", "approved")]
    vs = vet([cand("A", 3, sector="tech"), cand("B", 2, sector="tech")],
             [Holding("H", 1501, 1000.0, "tech")], [], eq, st, RP, COSTS)
    assert reasons(vs) == [("A", "approved"), ("B", "sector_cap")]
    # today's sale of part of the holding lowers the sector's value
    vs = vet([cand("A", 3, sector="tech"), cand("B", 2, sector="tech")],
             [Holding("H", 1501, 1000.0, "tech")], [Sale("H", 1, 1000.0, False)], eq, st, RP, COSTS)
    assert reasons(vs) == [("A", "approved"), ("B", "approved")]
    # other sectors and sectorless symbols are separate; a sectorless symbol never joins a sector
    # named like it
    vs = vet([cand("A", 3, sector="tech"), cand("tech", 2), cand("C", 1, sector="bio")],
             [Holding("H", 2800, 1000.0, "tech")], [], eq, st, RP, COSTS)
    assert reasons(vs) == [("A", "sector_cap"), ("tech", "approved"), ("C", "approved")]


def test_order_of_checks_first_failure_is_the_reason():
    eq = 10_000_000.0
    st = assess(eq, None, eq, RP)
    full = [Holding(f"H{i}", 1, 1000.0) for i in range(8)]
    # fails max_positions, min_order, cash and sector_cap at once -> max_positions
    bad = cand("A", close=2_000_000.0, sector="s")
    assert vet([bad], full, [], 0.0, st, RP, COSTS)[0].reason == "max_positions"
    # fails min_order and cash -> min_order
    assert vet([bad], [], [], 0.0, st, RP, COSTS)[0].reason == "min_order"
    # fails cash and sector_cap -> cash
    heavy = [Holding("H", 4000, 1000.0, "s")]
    assert vet([cand("A", sector="s")], heavy, [], 0.0, st, RP, COSTS)[0].reason == "cash"
    assert vet([cand("A", sector="s")], heavy, [], eq, st, RP, COSTS)[0].reason == "sector_cap"
    # a blocked day rejects everything with daily_loss_block, before any other check
    blocked = assess(eq, eq / 0.95, eq / 0.95, RP)
    vs = vet([cand("A", 3), bad], full, [], 0.0, blocked, RP, COSTS)
    assert [v.reason for v in vs] == ["daily_loss_block", "daily_loss_block"]


def test_every_candidate_gets_a_verdict_and_rejections_consume_nothing():
    cs = [cand("A", 5, close=2_000_000.0), cand("B", 4), cand("C", 3)]
    vs = vet(cs, [Holding(f"H{i}", 1, 1.0) for i in range(6)], [], EQ, state(), RP, COSTS)
    assert reasons(vs) == [("A", "min_order"), ("B", "approved"), ("C", "approved")]


def test_drawdown_halves_the_size():
    st = assess(8_000_000.0, 8_000_000.0, 10_000_000.0, RP)  # drawdown -20%
    assert st.size_multiplier == 0.5
    [v] = vet([cand("A", close=1000.0)], [], [], 8_000_000.0, st, RP, COSTS)
    assert v.qty == 500 == order_qty(8_000_000.0, 8, 0.5, 1000.0)


def test_assess_boundaries():
    s = assess(100.0, None, 100.0, RP)
    assert (s.daily_return, s.drawdown, s.buy_blocked, s.size_multiplier) == (0.0, 0.0, False, 1.0)
    assert not assess(97.0, 100.0, 100.0, RP).buy_blocked        # exactly -3%: not below
    assert assess(96.99, 100.0, 100.0, RP).buy_blocked
    assert assess(90.0, 90.0, 100.0, RP).size_multiplier == 1.0  # exactly -10%: not below
    assert assess(89.99, 89.99, 100.0, RP).size_multiplier == 0.5
    s = assess(120.0, 100.0, 110.0, RP)
    assert s.peak == 120.0 and s.drawdown == 0.0


def test_equity():
    assert equity(10.0, [(2, 3.0), (1, 4.5)]) == 20.5


def test_sizing_whole_lots():
    assert order_qty(8_000_000.0, 8, 1.0, 3.0) == 333_333
    assert order_qty(1000.0, 8, 1.0, 30_000.0, lot=0.001) == 0.004
    assert order_qty(1000.0, 8, 1.0, 0.0) == 0.0
