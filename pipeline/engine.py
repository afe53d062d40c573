"""The decision engine shared by the backtest and the live pipeline.  Pure: no I/O, no clock.

One decision date ``t`` goes: fills at t's open -> valuation at t's closes -> exits for held
positions -> entries for flat symbols -> the risk guard -> orders for the next open.  The
backtest runs that loop in memory (``simulate``); the live stages run the same helpers
(``exit_signals``, ``entry_candidates``, ``risk.guard.vet``, the fill model) against the
database, so a replay gives the backtest's trades.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import numpy as np

from brokers.fill_model import PendingOrder, fill_at_open
from pipeline.market import Market
from risk import guard
from risk.params import RiskParams
from risk.portfolio import assess
from risk.portfolio import equity as portfolio_equity
from sennot.costs import Costs
from sennot.numeric import on_lot_grid, v_ge
from sennot.strategy import Strategy
from sennot.types import EntryTable, PositionView, SymbolBars


@dataclass(frozen=True)
class UniverseFilter:
    symbols: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    min_price: float | None = None
    min_avg_value: float | None = None
    avg_value_window: int = 20

    @classmethod
    def from_settings(cls, u) -> UniverseFilter:
        return cls(tuple(u.symbols), tuple(u.exclude), u.min_price, u.min_avg_value)

    def listed(self, symbol: str) -> bool:
        return (not self.symbols or symbol in self.symbols) and symbol not in self.exclude

    def mask(self, bars) -> np.ndarray:
        """``passes`` at every bar, vectorized."""
        n = len(bars)
        if not self.listed(bars.symbol):
            return np.zeros(n, dtype=bool)
        ok = np.ones(n, dtype=bool)
        if self.min_price is not None:
            ok &= v_ge(bars.close, np.full(n, self.min_price))
        if self.min_avg_value is not None:
            from sennot.indicators import sma
            ok &= v_ge(sma(bars.close * bars.volume, self.avg_value_window), np.full(n, self.min_avg_value))
        return ok


@dataclass(slots=True)
class Held:
    """A position as the engine tracks it."""

    symbol: str
    qty: float
    entry_price: float
    entry_date: str
    entry_index: int          # the symbol's bar number at the entry fill
    armed_index: int | None = None
    memo: dict = field(default_factory=dict)  # the strategy's own, kept between bars

    def view(self) -> PositionView:
        return PositionView(self.symbol, self.qty, self.entry_price, self.entry_index,
                            self.armed_index, self.memo)


def held_on(symbol: str, qty: float, entry_price: float, entry_date: str, armed_date: str | None,
            bars: SymbolBars) -> Held:
    """A stored position on the symbol's own ``bars``: bar numbers for its entry (a fill on a
    day without a bar counts from the next bar) and for its arming (None: not armed)."""
    entry_i = bars.index_of(entry_date)
    if entry_i < 0:
        entry_i = int(bars.dates.searchsorted(entry_date))
    armed_i = bars.index_of(armed_date) if armed_date else -1
    return Held(symbol, qty, entry_price, entry_date, entry_i, armed_i if armed_i >= 0 else None)


@dataclass(slots=True)
class SellSignal:
    symbol: str
    qty: float
    close: float
    rule: str
    full: bool


@dataclass(slots=True)
class Trade:
    date: str
    symbol: str
    side: str
    qty: float
    price: float
    fee: float
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(slots=True)
class EquityRow:
    date: str
    cash: float
    equity: float
    drawdown: float
    positions: int
    buy_blocked: int
    size_multiplier: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SimResult:
    trades: list[Trade] = field(default_factory=list)
    equity: list[EquityRow] = field(default_factory=list)
    raw_verdicts: list[tuple[str, guard.Verdict]] = field(default_factory=list)
    verdict_counts: Counter = field(default_factory=Counter)  # reason ("approved" too) -> count
    exits: list[dict] = field(default_factory=list)         # every exit decision (incl. 0-qty arms)
    cancelled: list[dict] = field(default_factory=list)
    open_orders: list[dict] = field(default_factory=list)   # still open after the last date
    capital: float = 0.0

    @property
    def verdicts(self) -> list[dict]:
        """Every BUY candidate's verdict as a dict with its date (built on demand: the loop
        keeps the objects, since most runs never look at most of them)."""
        return [{"date": d, **v.to_dict()} for d, v in self.raw_verdicts]


# --------------------------------------------------------------------------- shared steps

def exit_signals(strategy: Strategy, market: Market, held: Iterable[Held], k: int,
                 open_sells: set[str]) -> tuple[list[SellSignal], list[tuple[Held, int]]]:
    """Exit decisions at union date ``k`` for held positions with a bar and no open SELL.

    Returns the SELL signals and the positions to arm (with the arming bar number)."""
    sells: list[SellSignal] = []
    arms: list[tuple[Held, int]] = []
    for h in sorted(held, key=lambda h: h.symbol):
        if h.symbol in open_sells:
            continue
        i = market.own_index(h.symbol, k)
        if i < 0:
            continue
        bars = market.bars[h.symbol]
        dec = strategy.exit(h.view(), bars.close, i, market.rule(h.symbol).lot)
        if dec is None:
            continue
        if dec.arm:
            arms.append((h, i))
        if dec.qty > 0:
            sells.append(SellSignal(h.symbol, dec.qty, bars.close.item(i), dec.rule,
                                    full=dec.qty >= h.qty))
    return sells, arms


def entry_candidates(market: Market, tables: dict[str, EntryTable], masks: dict[str, np.ndarray],
                     k: int, blocked: set[str], symbols: Iterable[str] | None = None) -> list[guard.Candidate]:
    """BUY candidates at union date ``k``: flat symbols (not in ``blocked``) where an entry holds."""
    out = []
    for sym in (symbols if symbols is not None else market.symbols):
        if sym in blocked:
            continue
        i = market.own_index(sym, k)
        if i < 0:
            continue
        t = tables[sym]
        if not t.buy.item(i) or not masks[sym].item(i):
            continue
        r = market.rule(sym)
        out.append(guard.Candidate(sym, t.strength.item(i), market.bars[sym].close.item(i),
                                   t.reason(i), r.lot, r.min_notional, r.sector))
    return out


def valuation_close(market: Market, symbol: str, k: int) -> float:
    """close at union date k, or the last known close before it."""
    i = market.last_index(symbol, k)
    return float(market.bars[symbol].close[i])


# --------------------------------------------------------------------------- the backtest loop

def simulate(market: Market, strategy: Strategy, rp: RiskParams, costs: Costs, capital: float,
             start: str | None = None, end: str | None = None,
             universe: UniverseFilter | None = None,
             progress: Callable[[int, int], None] | None = None) -> SimResult:
    # The loop allocates many small objects and makes no reference cycles: the cyclic
    # collector would only spend time (about 7%) looking for garbage that is not there.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _simulate(market, strategy, rp, costs, capital, start, end, universe, progress)
    finally:
        if enabled:
            gc.enable()


def _simulate(market: Market, strategy: Strategy, rp: RiskParams, costs: Costs, capital: float,
              start: str | None, end: str | None, universe: UniverseFilter | None,
              progress: Callable[[int, int], None] | None) -> SimResult:
    universe = universe or UniverseFilter()
    ks = [k for k, d in enumerate(market.dates.tolist())
          if (start is None or d >= start) and (end is None or d <= end)]
    tables = strategy.entries_many([market.bars[s] for s in market.symbols])
    masks = {s: universe.mask(market.bars[s]) for s in market.symbols}
    # Precomputed per date: which symbols have an entry (keeps the daily loop small).
    buy_any = np.zeros(market.own.shape, dtype=bool)
    for s, sym in enumerate(market.symbols):
        has = market.own[:, s] >= 0
        idx = market.own[has, s]
        buy_any[has, s] = tables[sym].buy[idx] & masks[sym][idx]

    res = SimResult(capital=capital)
    cash = capital
    peak = capital
    prev_equity: float | None = None
    held: dict[str, Held] = {}
    pending: list[PendingOrder] = []
    last_close = {}  # symbol -> last known close, maintained for held symbols

    for n, k in enumerate(ks):
        d = str(market.dates[k])
        # 1. fills at the open of d
        if pending:
            opens = {}
            for o in pending:
                i = market.own_index(o.symbol, k)
                if i >= 0:
                    opens[o.symbol] = market.bars[o.symbol].open.item(i)
            out = fill_at_open(pending, opens, cash, {s: h.qty for s, h in held.items()}, costs)
            cash = out.cash
            for f in out.fills:
                res.trades.append(Trade(d, f.symbol, f.side, f.qty, f.price, f.fee, f.reason))
                if f.side == "BUY":
                    held[f.symbol] = Held(f.symbol, f.qty, f.price, d, market.own_index(f.symbol, k))
                else:
                    h = held[f.symbol]
                    h.qty = on_lot_grid(h.qty - f.qty, market.rule(f.symbol).lot)
                    if not h.qty > 0:
                        del held[f.symbol]
            for o, why in out.cancelled:
                res.cancelled.append({"date": d, "symbol": o.symbol, "side": o.side, "qty": o.qty, "reason": why})
            pending = out.waiting

        # 2. valuation at the closes of d
        for sym in held:
            i = market.own_index(sym, k)
            if i >= 0:
                last_close[sym] = market.bars[sym].close.item(i)
            elif sym not in last_close:
                last_close[sym] = valuation_close(market, sym, k)
        equity = portfolio_equity(cash, ((held[s].qty, last_close[s]) for s in sorted(held)))
        state = assess(equity, prev_equity, peak, rp)

        # 3. exits
        open_sells = {o.symbol for o in pending}
        sells, arms = exit_signals(strategy, market, held.values(), k, open_sells)
        for h, i in arms:
            h.armed_index = i
        for h, _ in arms:
            if not any(s.symbol == h.symbol for s in sells):
                res.exits.append({"date": d, "symbol": h.symbol, "rule": "take_profit", "qty": 0.0})
        new_orders: list[PendingOrder] = []
        for s in sells:
            res.exits.append({"date": d, "symbol": s.symbol, "rule": s.rule, "qty": s.qty})
            new_orders.append(PendingOrder(f"{d}-S-{s.symbol}", s.symbol, "SELL", s.qty, 0, s.rule,
                                           market.rule(s.symbol).lot))

        # 4. entries and 5. the risk guard
        flat_syms = [market.symbols[s] for s in np.flatnonzero(buy_any[k])]
        cands = entry_candidates(market, tables, masks, k, set(held) | open_sells, flat_syms)
        if cands:
            holdings = [guard.Holding(s, h.qty, last_close[s], market.rule(s).sector) for s, h in held.items()]
            sales = [guard.Sale(s.symbol, s.qty, s.close, s.full) for s in sells]
            verdicts = guard.vet(cands, holdings, sales, cash, state, rp, costs)
            seq = 0
            for v in verdicts:
                res.raw_verdicts.append((d, v))
                res.verdict_counts[v.reason] += 1
                if v.approved:
                    seq += 1
                    new_orders.append(PendingOrder(f"{d}-B-{v.symbol}", v.symbol, "BUY", v.qty, seq,
                                                   v.signal_reason, market.rule(v.symbol).lot))

        res.equity.append(EquityRow(d, cash, equity, state.drawdown, len(held),
                                    int(state.buy_blocked), state.size_multiplier))
        prev_equity, peak = equity, state.peak
        pending = pending + new_orders
        if progress is not None:
            progress(n + 1, len(ks))

    res.open_orders = [{"symbol": o.symbol, "side": o.side, "qty": o.qty, "reason": o.reason,
                        "waiting": o.waited} for o in pending]
    return res
