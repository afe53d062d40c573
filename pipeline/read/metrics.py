"""Backtest and report statistics from trades and the equity curve.  Pure."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date

from sennot.numeric import same_qty


def round_trips(trades: Sequence) -> list[dict]:
    """Closed positions: one per entry, closed when its last share is sold.

    P&L includes fees on both sides; the entry rule is the BUY's reason."""
    open_: dict[str, dict] = {}
    out = []
    for t in trades:
        if t.side == "BUY":
            open_[t.symbol] = {"symbol": t.symbol, "entry_date": t.date, "entry_reason": t.reason,
                               "qty": t.qty, "cost": t.qty * t.price + t.fee, "proceeds": 0.0,
                               "exit_rules": []}
        else:
            p = open_.get(t.symbol)
            if p is None:
                continue
            p["proceeds"] += t.qty * t.price - t.fee
            p["exit_rules"].append(t.reason)
            p["qty"] -= t.qty
            if p["qty"] <= 0 or same_qty(p["qty"], 0.0):
                p["exit_date"] = t.date
                p["pnl"] = p["proceeds"] - p["cost"]
                p["return"] = p["pnl"] / p["cost"] if p["cost"] else 0.0
                del p["qty"]
                out.append(p)
                del open_[t.symbol]
    return out


def summary(trades: Sequence, equity: Sequence, capital: float, verdicts: Sequence[dict] = (),
            exits: Sequence[dict] = (), periods_per_year: float | None = None) -> dict:
    if not equity:
        return {"days": 0, "trades": 0, "capital": capital}
    final = equity[-1].equity
    d0, d1 = date.fromisoformat(equity[0].date), date.fromisoformat(equity[-1].date)
    years = max((d1 - d0).days, 1) / 365.25
    rets = []
    prev = capital
    for row in equity:
        rets.append(row.equity / prev - 1)
        prev = row.equity
    if periods_per_year is None:
        periods_per_year = len(equity) / years if years > 0 else 252.0
    mean = sum(rets) / len(rets)
    var = sum((r - mean) ** 2 for r in rets) / (len(rets) - 1) if len(rets) > 1 else 0.0
    sharpe = mean / math.sqrt(var) * math.sqrt(periods_per_year) if var > 0 else 0.0
    trips = round_trips(trades)
    wins = [t for t in trips if t["pnl"] > 0]
    losses = [t for t in trips if t["pnl"] <= 0]
    by_rule: dict[str, list[float]] = defaultdict(list)
    for t in trips:
        for rule in t["entry_reason"].split("+"):
            by_rule[rule].append(t["return"])
    return {
        "start": equity[0].date,
        "end": equity[-1].date,
        "days": len(equity),
        "capital": capital,
        "final_equity": final,
        "total_return": final / capital - 1,
        "cagr": (final / capital) ** (1 / years) - 1 if years > 0 and final > 0 else 0.0,
        "max_drawdown": min(r.drawdown for r in equity),
        "sharpe": sharpe,
        "fills": len(trades),
        "buys": sum(1 for t in trades if t.side == "BUY"),
        "sells": sum(1 for t in trades if t.side == "SELL"),
        "round_trips": len(trips),
        "win_rate": len(wins) / len(trips) if trips else 0.0,
        "avg_win": sum(t["return"] for t in wins) / len(wins) if wins else 0.0,
        "avg_loss": sum(t["return"] for t in losses) / len(losses) if losses else 0.0,
        "exposure": sum(1 for r in equity if r.positions > 0) / len(equity),
        "avg_invested": sum((r.equity - r.cash) / r.equity for r in equity if r.equity > 0) / len(equity),
        "fees": sum(t.fee for t in trades),
        "rejections": dict(sorted(Counter(v["reason"] for v in verdicts if not v["approved"]).items())),
        "approved": sum(1 for v in verdicts if v["approved"]),
        "exits": dict(sorted(Counter(e["rule"] for e in exits).items())),
        "return_by_entry_rule": {k: {"trades": len(v), "avg_return": sum(v) / len(v),
                                     "win_rate": sum(1 for x in v if x > 0) / len(v)}
                                 for k, v in sorted(by_rule.items())},
        "blocked_days": sum(r.buy_blocked for r in equity),
        "reduced_size_days": sum(1 for r in equity if r.size_multiplier < 1),
    }
