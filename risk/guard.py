"""The risk guard: vets BUY candidates in the spec's order, keeping the first failing reason.

SELLs are always allowed.  Candidates are ranked by strength descending, then symbol
ascending, and each is checked against the state left by those approved before it:
``max_positions``, ``min_order``, ``cash``, ``sector_cap``.  A day whose return breached the
daily loss limit rejects every candidate with ``daily_loss_block``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from risk.params import RiskParams
from risk.portfolio import RiskState
from risk.sizing import order_qty
from sennot.costs import Costs
from sennot.numeric import eq, ge, le


@dataclass(slots=True)
class Candidate:
    symbol: str
    strength: float
    close: float
    reason: str = ""
    lot: float = 1.0
    min_notional: float = 0.0
    sector: str | None = None


@dataclass(slots=True)
class Holding:
    """A position at t, valued at ``close`` (the last known close)."""

    symbol: str
    qty: float
    close: float
    sector: str | None = None


@dataclass(slots=True)
class Sale:
    """One of today's SELLs: ``qty`` sold at ``close`` (close[t]); ``full`` if it closes the position."""

    symbol: str
    qty: float
    close: float
    full: bool


@dataclass(slots=True)
class Verdict:
    symbol: str
    approved: bool
    reason: str            # "approved" or the first failing check
    qty: float             # the sized quantity (0 when sizing did not get that far)
    rank: int              # 1-based position in the ranking
    strength: float
    close: float
    signal_reason: str

    def to_dict(self) -> dict:
        # by hand: dataclasses.asdict deep-copies and is slow in the backtest loop
        return {"symbol": self.symbol, "approved": self.approved, "reason": self.reason,
                "qty": self.qty, "rank": self.rank, "strength": self.strength,
                "close": self.close, "signal_reason": self.signal_reason}


def sector_key(symbol: str, sector: str | None) -> tuple[str, str]:
    """A symbol without a sector is a sector of its own, never one that shares its name."""
    return ("sector", sector) if sector else ("symbol", symbol)


def _by_rank(a: Candidate, b: Candidate) -> int:
    if not eq(a.strength, b.strength):
        return -1 if a.strength > b.strength else 1
    return -1 if a.symbol < b.symbol else (1 if a.symbol > b.symbol else 0)


def rank(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Strength descending (ties by the spec's equality), then symbol ascending as text."""
    out = sorted(candidates, key=_rank_key)
    # Exact ties are already ordered by symbol; only strengths equal within the tolerance
    # but not bit-equal need the tolerant comparison (rare, so the fast path stays fast).
    prev = None
    for c in out:
        x = c.strength
        if prev is not None and x != prev and eq(x, prev):
            return sorted(out, key=functools.cmp_to_key(_by_rank))
        prev = x
    return out


def _rank_key(c: Candidate) -> tuple[float, str]:
    return -c.strength, c.symbol


def vet(candidates: Iterable[Candidate], holdings: Iterable[Holding], sales: Iterable[Sale],
        cash: float, state: RiskState, p: RiskParams, costs: Costs) -> list[Verdict]:
    """Verdicts for every candidate, in rank order.  Pure."""
    ranked = rank(candidates)
    sales = sorted(sales, key=lambda s: s.symbol)
    sold_full = {s.symbol for s in sales if s.full}
    sold_qty = {s.symbol: s.qty for s in sales}

    held_after = 0
    proceeds = 0.0
    for s in sales:
        n = s.qty * s.close
        proceeds += n - n * costs.commission - n * costs.sell_tax
    sector_value: dict[tuple[str, str], float] = {}
    for h in holdings:
        if h.symbol not in sold_full:
            held_after += 1
        left = h.qty - sold_qty.get(h.symbol, 0.0)
        if left > 0:
            key = ("sector", h.sector) if h.sector else ("symbol", h.symbol)  # sector_key, inline
            sector_value[key] = sector_value.get(key, 0.0) + left * h.close

    verdicts: list[Verdict] = []
    approved_n = 0
    approved_cost = 0.0
    cap = p.sector_cap * state.equity
    commission = costs.commission
    for i, c in enumerate(ranked, start=1):
        qty = 0.0
        if state.buy_blocked:
            reason = "daily_loss_block"
        elif not held_after + approved_n < p.max_positions:
            # Full: this and every candidate after it fails the first check the same way.
            verdicts.extend(Verdict(r.symbol, False, "max_positions", 0.0, n, r.strength, r.close, r.reason)
                            for n, r in enumerate(ranked[i - 1:], start=i))
            break
        else:
            qty = order_qty(state.equity, p.max_positions, state.size_multiplier, c.close, c.lot)
            notional = qty * c.close
            cost = qty * c.close * (1 + commission)
            if not qty > 0 or not ge(notional, c.min_notional):
                reason = "min_order"
            elif not cash + proceeds - approved_cost - cost >= 0:  # exact: a comparison with zero
                reason = "cash"
            else:
                key = ("sector", c.sector) if c.sector else ("symbol", c.symbol)
                if not le(sector_value.get(key, 0.0) + notional, cap):
                    reason = "sector_cap"
                else:
                    reason = "approved"
                    approved_n += 1
                    approved_cost += cost
                    sector_value[key] = sector_value.get(key, 0.0) + notional
        verdicts.append(Verdict(c.symbol, reason == "approved", reason, qty, i, c.strength, c.close, c.reason))
    return verdicts
