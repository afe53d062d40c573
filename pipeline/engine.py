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
from functools import partial
from operator import attrgetter

import numpy as np

from brokers.fill_model import PendingOrder, fill_at_open
from pipeline.market import Market
from risk import guard
from risk.params import RiskParams
from risk.portfolio import assess
from risk.portfolio import equity as portfolio_equity
from sennot.costs import Costs
from sennot.numeric import eq, on_lot_grid, v_ge
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
    _view: PositionView | None = field(default=None, repr=False, compare=False)
    # The backtest's per-position lookups, made once at the entry rather than every day.
    col: int = field(default=-1, repr=False, compare=False)          # the symbol's column in market.own
    closes: np.ndarray | None = field(default=None, repr=False, compare=False)
    close: float | None = field(default=None, repr=False, compare=False)  # last known close

    def view(self) -> PositionView:
        # One view per position, brought up to date: the exit rules ask for it every bar.
        v = self._view
        if v is None:
            v = self._view = PositionView(self.symbol, self.qty, self.entry_price, self.entry_index,
                                          self.armed_index, self.memo)
        elif v.qty != self.qty or v.armed_index != self.armed_index:
            # changed: what the strategy found quiet for the position as it was no longer holds
            v.qty, v.armed_index, v.quiet_until = self.qty, self.armed_index, None
        return v


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
    # Each decision date's BUY verdicts, in rank order: a list, or a function that gives them
    # (a day whose every candidate is rejected for the same reason is vetted only when asked).
    verdict_days: list[tuple[str, list[guard.Verdict] | Callable[[], list[guard.Verdict]]]] = \
        field(default_factory=list)
    verdict_counts: Counter = field(default_factory=Counter)  # reason ("approved" too) -> count
    exits: list[dict] = field(default_factory=list)         # every exit decision (incl. 0-qty arms)
    cancelled: list[dict] = field(default_factory=list)
    open_orders: list[dict] = field(default_factory=list)   # still open after the last date
    capital: float = 0.0

    @property
    def raw_verdicts(self) -> list[tuple[str, guard.Verdict]]:
        """Every BUY candidate's verdict with its date."""
        return [(d, v) for d, vs in self.verdict_days for v in (vs if isinstance(vs, list) else vs())]

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
    own_k, col, bars, rules, exit_ = market.own[k], market.col, market.bars, market.rules, strategy.exit
    for h in sorted(held, key=_symbol):
        sym = h.symbol
        if sym in open_sells:
            continue
        i = own_k.item(col[sym])
        if i < 0:
            continue
        v = h._view
        if v is None or v.qty != h.qty or v.armed_index != h.armed_index:
            v = h.view()  # new or brought up to date: nothing found quiet yet
        elif v.quiet_until is not None and i < v.quiet_until:  # the strategy found no exit before then
            continue
        close = bars[sym].close
        dec = exit_(v, close, i, rules[sym].lot)
        if dec is None:
            continue
        if dec.arm:
            arms.append((h, i))
        if dec.qty > 0:
            sells.append(SellSignal(sym, dec.qty, close.item(i), dec.rule, full=dec.qty >= h.qty))
    return sells, arms


_symbol = attrgetter("symbol")


def entry_candidates(market: Market, tables: dict[str, EntryTable], masks: dict[str, np.ndarray],
                     k: int, blocked: set[str], symbols: Iterable[str] | None = None) -> list[guard.Candidate]:
    """BUY candidates at union date ``k``: flat symbols (not in ``blocked``) where an entry holds."""
    out = []
    own_k, col, bars, rules = market.own[k], market.col, market.bars, market.rules
    for sym in (symbols if symbols is not None else market.symbols):
        if sym in blocked:
            continue
        i = own_k.item(col[sym])
        if i < 0:
            continue
        t = tables[sym]
        if not t.buy.item(i) or not masks[sym].item(i):
            continue
        r = rules[sym]
        out.append(guard.Candidate(sym, t.strength.item(i), bars[sym].close.item(i), t.reason(i), r.lot,
                                   r.min_notional, r.sector))
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
    dates = market.dates.tolist()
    ks = [k for k, d in enumerate(dates) if (start is None or d >= start) and (end is None or d <= end)]
    tables = strategy.entries_many([market.bars[s] for s in market.symbols])
    masks = {s: universe.mask(market.bars[s]) for s in market.symbols}
    entry_syms, entry_strength = _entry_lists(market, tables, masks)
    own, col, bars = market.own, market.col, market.bars
    lots = {s: r.lot for s, r in market.rules.items()}
    progress_every = max(1, len(ks) // 200)  # a progress bar needs no more than a few hundred updates

    res = SimResult(capital=capital)
    trades, equity_rows, verdict_days, counts = res.trades, res.equity, res.verdict_days, res.verdict_counts
    cash = capital
    peak = capital
    prev_equity: float | None = None
    held: dict[str, Held] = {}  # in the order of their entries (the guard adds sector values in it)
    ordered: list[Held] = []    # the same, by symbol: equity adds in that order, exits run in it
    pending: list[PendingOrder] = []
    no_sells: frozenset[str] = frozenset()

    for n, k in enumerate(ks):
        d = dates[k]
        own_k = own[k]
        # 1. fills at the open of d
        if pending:
            opens = {}
            holdings = {}  # of the orders' symbols: the fill model reads no other
            for o in pending:
                sym = o.symbol
                i = own_k.item(col[sym])
                if i >= 0:
                    opens[sym] = bars[sym].open.item(i)
                h = held.get(sym)
                if h is not None:
                    holdings[sym] = h.qty
            out = fill_at_open(pending, opens, cash, holdings, costs)
            cash = out.cash
            changed = False
            for f in out.fills:
                sym = f.symbol
                trades.append(Trade(d, sym, f.side, f.qty, f.price, f.fee, f.reason))
                if f.side == "BUY":
                    c = col[sym]
                    held[sym] = Held(sym, f.qty, f.price, d, own_k.item(c), col=c, closes=bars[sym].close)
                    changed = True
                else:
                    h = held[sym]
                    h.qty = on_lot_grid(h.qty - f.qty, lots[sym])
                    if not h.qty > 0:
                        del held[sym]
                        changed = True
            if changed:
                ordered = sorted(held.values(), key=_symbol)
            for o, why in out.cancelled:
                res.cancelled.append({"date": d, "symbol": o.symbol, "side": o.side, "qty": o.qty, "reason": why})
            pending = out.waiting

        # 2. valuation at the closes of d (the last known close for a symbol without a bar)
        for h in ordered:
            i = own_k.item(h.col)
            if i >= 0:
                h.close = h.closes.item(i)
            elif h.close is None:
                h.close = valuation_close(market, h.symbol, k)
        equity = portfolio_equity(cash, [(h.qty, h.close) for h in ordered])
        state = assess(equity, prev_equity, peak, rp)

        # 3. exits
        open_sells = {o.symbol for o in pending} if pending else no_sells
        new_orders: list[PendingOrder] = []
        sells: list[SellSignal] = []
        if ordered:
            sells, arms = exit_signals(strategy, market, ordered, k, open_sells)
            for h, i in arms:
                h.armed_index = i
            for h, _ in arms:
                if not any(s.symbol == h.symbol for s in sells):
                    res.exits.append({"date": d, "symbol": h.symbol, "rule": "take_profit", "qty": 0.0})
            for s in sells:
                res.exits.append({"date": d, "symbol": s.symbol, "rule": s.rule, "qty": s.qty})
                new_orders.append(PendingOrder(f"{d}-S-{s.symbol}", s.symbol, "SELL", s.qty, 0, s.rule,
                                               lots[s.symbol]))

        # 4. entries and 5. the risk guard
        syms_k = entry_syms[k]
        if syms_k:
            flat = [(sym, x) for sym, x in zip(syms_k, entry_strength[k])
                    if sym not in held and sym not in open_sells]
            if flat:
                flat_syms = [sym for sym, _ in flat]
                book = [(h.symbol, h.qty, h.close) for h in held.values()]
                vet = partial(_vet, market, tables, masks, k, flat_syms, book, sells, cash, state, rp, costs)
                # The guard's first checks, for the whole day at once: with buys blocked, or the
                # book full once today's full SELLs are out, every candidate is rejected for that
                # one reason (guard.vet's own order), so the verdicts are built only if asked for.
                held_after = len(held) - sum(1 for s in sells if s.full)
                if state.buy_blocked or not held_after < rp.max_positions:
                    verdict_days.append((d, vet))
                    counts["daily_loss_block" if state.buy_blocked else "max_positions"] += len(flat_syms)
                else:
                    top = _vet_top(vet, flat, rp.max_positions - held_after)
                    if top is not None:  # the book filled among the strongest: the rest waits
                        verdicts = top
                        verdict_days.append((d, vet))
                        counts["max_positions"] += len(flat_syms) - len(top)
                    else:
                        verdicts = vet()
                        verdict_days.append((d, verdicts))
                    seq = 0
                    for v in verdicts:
                        counts[v.reason] += 1
                        if v.approved:
                            seq += 1
                            new_orders.append(PendingOrder(f"{d}-B-{v.symbol}", v.symbol, "BUY", v.qty, seq,
                                                           v.signal_reason, lots[v.symbol]))

        equity_rows.append(EquityRow(d, cash, equity, state.drawdown, len(held),
                                     int(state.buy_blocked), state.size_multiplier))
        prev_equity, peak = equity, state.peak
        if new_orders:
            pending = pending + new_orders
        if progress is not None and (n % progress_every == 0 or n + 1 == len(ks)):
            progress(n + 1, len(ks))

    res.open_orders = [{"symbol": o.symbol, "side": o.side, "qty": o.qty, "reason": o.reason,
                        "waiting": o.waited} for o in pending]
    return res


def _entry_lists(market: Market, tables: dict[str, EntryTable],
                 masks: dict[str, np.ndarray]) -> tuple[list[list[str]], list[list[float]]]:
    """Per union date, the symbols with an entry (in symbol order) and their strengths: made
    once for every date rather than day by day (a crowded day vets only its strongest: _vet_top)."""
    own, symbols = market.own, market.symbols
    buy_any = np.zeros(own.shape, dtype=bool)
    for s, sym in enumerate(symbols):
        has = own[:, s] >= 0
        idx = own[has, s]
        buy_any[has, s] = tables[sym].buy[idx] & masks[sym][idx]
    cols, rows = np.nonzero(buy_any.T)  # by symbol, then date: each symbol's entries in one slice
    bounds = np.searchsorted(cols, np.arange(len(symbols) + 1)).tolist()
    strengths = np.empty(rows.size)
    for s, sym in enumerate(symbols):
        a, b = bounds[s], bounds[s + 1]
        strengths[a:b] = tables[sym].strength[own[rows[a:b], s]]
    by_date = np.lexsort((cols, rows))  # then by date, symbols in order within a date
    rows, cols, strengths = rows[by_date], cols[by_date], strengths[by_date]
    names = [symbols[c] for c in cols.tolist()]
    xs = strengths.tolist()
    cuts = np.searchsorted(rows, np.arange(own.shape[0] + 1)).tolist()
    return ([names[a:b] for a, b in zip(cuts, cuts[1:])], [xs[a:b] for a, b in zip(cuts, cuts[1:])])


def _vet(market: Market, tables: dict[str, EntryTable], masks: dict[str, np.ndarray], k: int,
         flat_syms: list[str], book: list[tuple[str, float, float]], sells: list[SellSignal], cash: float,
         state, rp: RiskParams, costs: Costs, only: list[str] | None = None) -> list[guard.Verdict]:
    """The risk guard's verdicts on the entries of union date ``k`` (``flat_syms``: the symbols
    with an entry, neither held nor selling; ``only``: just these of them).  ``book``: the
    positions held as (symbol, qty, close at k), in the order of their entries; ``sells``:
    today's SELL signals.  Kept as plain values, the guard's types built only when vetted (a
    deferred day may never be)."""
    rules = market.rules
    holdings = [guard.Holding(sym, qty, close, rules[sym].sector) for sym, qty, close in book]
    sales = [guard.Sale(s.symbol, s.qty, s.close, s.full) for s in sells]
    return guard.vet(entry_candidates(market, tables, masks, k, set(), only if only is not None else flat_syms),
                     holdings, sales, cash, state, rp, costs)


# How many of a day's strongest candidates to vet first, for each free slot of the book.
TOP_PER_SLOT = 3


def _vet_top(vet: Callable[..., list[guard.Verdict]], flat: list[tuple[str, float]],
             slots: int) -> list[guard.Verdict] | None:
    """The verdicts of the day's strongest candidates when the book fills among them, else None.

    guard.vet decides candidates in rank order (strength descending, then symbol), each against
    those before it, and once the book is full it rejects every later one for max_positions:
    so when the top ``TOP_PER_SLOT * slots`` approve ``slots``, their verdicts are the first of
    the full list's and every other candidate is a max_positions rejection.  Strengths equal
    within the tolerance but not exactly (where the guard's order needs the tolerant sort) and
    short lists go to the full vet."""
    want = TOP_PER_SLOT * slots + 2
    if len(flat) <= want:
        return None
    if any(x != x for _, x in flat):  # an undefined strength: leave the ranking to the guard
        return None
    ranked = sorted(flat, key=lambda c: (-c[1], c[0]))
    if any(a[1] != b[1] and eq(a[1], b[1]) for a, b in zip(ranked, ranked[1:])):
        return None
    top = vet(only=[sym for sym, _ in ranked[:want]])
    return top if sum(1 for v in top if v.approved) == slots else None
