"""``qtx signal``: the strategy's decisions for one date, stored in ``signals``.

For decision date ``t`` (the latest stored bar date, or ``--asof``): sync the broker so the
positions are those after the fills at t's open, value the book at t's closes (the risk state
goes into ``daily_metrics``), evaluate the exits of held positions and the entries of flat
symbols, and store each decision with its reason and strength.  Rerunning for the same date
stores nothing new and gives the same decisions.
"""

from __future__ import annotations

from db import DB, trading
from db import bars as bars_db
from db import events as events_db
from db import market as market_db
from pipeline.brokers_factory import make_broker
from pipeline.config import Settings
from pipeline.engine import (
    Held,
    entry_candidates,
    exit_signals,
    held_on,
    valuation_close,
)
from pipeline.feeds import corporate_actions
from pipeline.history import load_recent_market, strategy_of
from pipeline.schedule.calendar import sessions
from pipeline.stages.sync import advance_market, sync
from risk.params import from_settings
from risk.portfolio import assess
from risk.portfolio import equity as portfolio_equity


def decision_date(db: DB, asof: str | None, settings: Settings | None = None) -> str | None:
    """The newest bar date up to ``asof``; with ``settings``, the newest that is a trading day
    of the market (a weekend or holiday row in one file is not a decision date)."""
    return market_db.newest_date(db, asof, sessions(settings).is_session if settings else None)


def held_positions(db: DB, market, t: str) -> list[Held]:
    out = []
    for sym, p in trading.positions(db).items():
        if sym not in market.bars:
            continue
        armed = p["armed_date"]
        # Armed *at* t means this run already decided t once: decide it again the same way.
        out.append(held_on(sym, p["qty"], p["entry_price"], p["entry_date"],
                           armed if armed and armed < t else None, market.bars[sym]))
    return out


def risk_state(db: DB, settings: Settings, market, t: str, cash: float, held: list[Held]):
    rp, _ = from_settings(settings)
    k = market.date_index(t)
    equity = portfolio_equity(cash, ((h.qty, valuation_close(market, h.symbol, k))
                                     for h in sorted(held, key=lambda h: h.symbol)))
    prev = trading.metrics_before(db, t)
    start_peak = settings.capital if settings.mode == "paper" else equity
    return assess(equity, prev["equity"] if prev else None, prev["peak"] if prev else start_peak, rp)


def unmatched_universe(wanted: list[str], stored: list[str], market: str) -> list[dict]:
    """Universe symbols no stored bar matches, each with what it probably meant (a KRX code that
    lost its leading zeros: ``5930`` -> ``005930``).  Pure."""
    have = set(stored)
    out = []
    for sym in wanted:
        if sym in have:
            continue
        guess = sym.zfill(6) if market == "krx" and sym.isdigit() and len(sym) < 6 else None
        out.append({"symbol": sym, "did_you_mean": guess})
    return out


def run_signal(db: DB, settings: Settings, asof: str | None = None, broker=None) -> dict:
    t = decision_date(db, asof, settings)
    if t is None:
        stored = bars_db.symbols(db)
        why = (f"no bar on or before {asof} (the first stored bar is later)" if stored and asof
               else "no bars stored (qtx collect, or qtx init --demo)")
        return {"status": "nothing_to_do", "reason": why, "date": None, "asof": asof, "bar_date": None}
    unmatched = unmatched_universe(list(settings.universe.symbols), bars_db.symbols(db), settings.market)
    if unmatched:
        events_db.record(db, "warning", "universe_unmatched",
                         "universe.symbols with no stored bars: " + ", ".join(
                             u["symbol"] + (f" (did you mean {u['did_you_mean']}?)" if u["did_you_mean"] else "")
                             for u in unmatched), {"unmatched": unmatched})
    broker = broker or make_broker(settings, db)
    strategy = strategy_of(settings)
    entries = [p["entry_date"] for p in trading.positions(db).values()]
    market = load_recent_market(db, t, strategy.warmup + 2, min(entries) if entries else None)
    # Deciding as of t: every bar up to t is in, so the venue fills at t's open by the fill
    # model (a symbol without a bar at t had none); then the record catches up.
    advance_market(broker, t, complete=True)
    sync(db, broker, upto=t, lots={s: r.lot for s, r in market.rules.items()})
    k = market.date_index(t)
    held = held_positions(db, market, t)
    open_orders = trading.open_orders(db)
    open_sells = {o["symbol"] for o in open_orders if o["side"] == "SELL"}
    busy = {o["symbol"] for o in open_orders}

    sells, arms = exit_signals(strategy, market, held, k, open_sells)
    flat = [s for s in market.symbols if s not in {h.symbol for h in held} and s not in busy
            and market.own_index(s, k) >= 0]
    tables = strategy.entries_many([market.bars[s] for s in flat])
    universe = corporate_actions.universe_filter(db, settings)  # no BUY on a flagged symbol
    masks = {s: universe.mask(market.bars[s]) for s in flat}
    buys = entry_candidates(market, tables, masks, k, set(), flat)

    cash = broker.balance().cash
    state = risk_state(db, settings, market, t, cash, held)
    new = 0
    with db.transaction():
        for h, _ in arms:
            trading.arm_position(db, h.symbol, t)
        for s in sells:
            new += trading.insert_signal(db, t, s.symbol, "SELL", s.close, s.rule, qty=s.qty,
                                         strategy=strategy.name)
        for c in buys:
            new += trading.insert_signal(db, t, c.symbol, "BUY", c.close, c.reason, strength=c.strength,
                                         strategy=strategy.name)
        trading.upsert_metrics(db, {
            "date": t, "cash": cash, "equity": state.equity, "peak": state.peak,
            "drawdown": state.drawdown, "daily_return": state.daily_return, "positions": len(held),
            "buy_blocked": int(state.buy_blocked), "size_multiplier": state.size_multiplier,
            "exposure": (state.equity - cash) / state.equity if state.equity else 0.0})
    return {
        # What it acted on: the bars of ``bar_date`` (the decision date), for ``asof``.
        "status": "ok", "date": t, "asof": asof, "bar_date": t, "new_signals": new,
        "sells": [{"symbol": s.symbol, "qty": s.qty, "rule": s.rule} for s in sells],
        "buys": [{"symbol": c.symbol, "reason": c.reason, "strength": c.strength} for c in buys],
        "armed": [h.symbol for h, _ in arms],
        "equity": state.equity, "cash": cash, "drawdown": state.drawdown,
        "daily_return": state.daily_return, "buy_blocked": state.buy_blocked,
        "size_multiplier": state.size_multiplier,
        "universe_unmatched": unmatched,
    }
