"""The strategy summary behind ``/analysis`` and ``qtx analysis``.

Signals by rule over recent days, the risk layer's approval rate and rejections by reason,
closed trades' win rate and average return by entry rule, exposure by sector, and how much of
the universe passes each of the strategy's filters (Sennot: close > SMA(trend_sma)) on the
latest date.  The strategy describes its own filters and rules; nothing here knows Sennot.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta

from db import DB, readside
from db import bars as bars_db
from pipeline.config import Settings
from pipeline.engine import UniverseFilter
from pipeline.history import load_recent_market, strategy_of
from pipeline.read.positions_view import positions as positions_view
from sennot.numeric import same_qty
from sennot.strategy import Strategy


def _closed_trades(fills: list[dict]) -> list[dict]:
    """Round trips per symbol: a BUY opens, SELLs close; a trade ends when qty is back to 0."""
    open_: dict[str, dict] = {}
    trades = []
    for f in fills:
        sym = f["symbol"]
        if f["side"] == "BUY":
            t = open_.setdefault(sym, {"symbol": sym, "entry_date": f["date"], "qty": 0.0,
                                       "cost": 0.0, "proceeds": 0.0, "rule": f["reason"] or "unknown"})
            t["qty"] += f["qty"]
            t["cost"] += f["qty"] * f["price"] + (f["fee"] or 0)
        else:
            t = open_.get(sym)
            if t is None:
                continue  # a sell without a recorded buy (e.g. before the window); not a trade
            t["qty"] -= f["qty"]
            t["proceeds"] += f["qty"] * f["price"] - (f["fee"] or 0)
            if t["qty"] <= 0 or same_qty(t["qty"], 0.0):
                t["exit_date"] = f["date"]
                t["return"] = t["proceeds"] / t["cost"] - 1 if t["cost"] else 0.0
                trades.append(t)
                del open_[sym]
    return trades


def _filters(db: DB, settings: Settings, strategy: Strategy, filters: list[dict], asof: str) -> list[dict]:
    """Each filter with how many listed symbols it was evaluated on at ``asof`` (a symbol is
    evaluated only on a date it has a bar), how many pass, and how many lack the history."""
    if not filters:
        return []
    need = max([strategy.warmup] + [int(f.get("bars") or 0) for f in filters])
    market = load_recent_market(db, asof, need)
    universe = UniverseFilter.from_settings(settings.universe)
    counts = {f["name"]: {"evaluated": 0, "passing": 0, "insufficient_history": 0} for f in filters}
    for sym, bars in market.bars.items():
        if not universe.listed(sym) or bars.dates[-1] != asof:
            continue
        for name, holds in strategy.filters_at(bars).items():
            c = counts.get(name)
            if c is None:
                continue
            if holds is None:
                c["insufficient_history"] += 1
            else:
                c["evaluated"] += 1
                c["passing"] += bool(holds)
    return [{**f, "date": asof, **counts[f["name"]],
             "share": counts[f["name"]]["passing"] / counts[f["name"]]["evaluated"]
             if counts[f["name"]]["evaluated"] else None} for f in filters]


def analysis(db: DB, settings: Settings, days: int = 30, asof: str | None = None) -> dict:
    asof = asof or readside.latest_bar_date(db)
    if asof is None:
        return {"asof": None, "days": days, "since": None, "strategy": {}, "signals": {}, "approval": {},
                "trades": {}, "exposure": {}, "filters": []}
    since = (date.fromisoformat(asof) - timedelta(days=days)).isoformat()
    strategy = strategy_of(settings)
    described = strategy.describe()

    sigs = readside.signals_since(db, since, asof)
    buy_rules: Counter = Counter()
    sell_rules: Counter = Counter()
    by_date: dict[str, dict] = {}
    for s in sigs:
        d = by_date.setdefault(s["date"], {"date": s["date"], "BUY": 0, "SELL": 0})
        d[s["side"]] += 1
        if s["side"] == "BUY":
            for rule in (s["reason"] or "").split("+"):
                if rule:
                    buy_rules[rule] += 1
        else:
            sell_rules[s["reason"] or "unknown"] += 1
    buys = [s for s in sigs if s["side"] == "BUY"]
    approved = sum(1 for s in buys if s["status"] == "approved")
    rejected = [s for s in buys if s["status"] == "rejected"]
    decided = approved + len(rejected)

    trades = [t for t in _closed_trades(readside.fills_upto(db, asof)) if t["exit_date"] >= since]
    per_rule: dict[str, list[float]] = defaultdict(list)
    for t in trades:
        for rule in t["rule"].split("+"):
            per_rule[rule].append(t["return"])

    def _stats(rets: list[float]) -> dict:
        return {"trades": len(rets),
                "win_rate": sum(1 for r in rets if r > 0) / len(rets) if rets else None,
                "avg_return": sum(rets) / len(rets) if rets else None}

    pos = positions_view(db, settings, asof=asof)
    sector_of = bars_db.sectors(db)
    metrics = readside.latest_metrics(db, asof)
    held_value = sum(p["value"] or 0 for p in pos)
    equity = metrics["equity"] if metrics else None
    base = equity or held_value or None
    exposure: dict[str, float] = defaultdict(float)
    for p in pos:
        # A symbol without a sector is a sector of its own (trading-rules.md).
        exposure[sector_of.get(p["symbol"]) or p["symbol"]] += p["value"] or 0
    filters = _filters(db, settings, strategy, described.get("filters") or [], asof)
    return {
        "asof": asof,
        "days": days,
        "since": since,
        "signals": {"buy_by_rule": dict(sorted(buy_rules.items())),
                    "sell_by_reason": dict(sorted(sell_rules.items())),
                    "by_date": [by_date[d] for d in sorted(by_date)]},
        "approval": {"buy_signals": len(buys), "approved": approved, "rejected": len(rejected),
                     "pending": len(buys) - decided,
                     "approval_rate": approved / decided if decided else None,
                     "rejections_by_reason": dict(sorted(Counter(
                         s["verdict_reason"] or "unknown" for s in rejected).items()))},
        "trades": {"all": _stats([t["return"] for t in trades]),
                   "by_entry_rule": {r: _stats(v) for r, v in sorted(per_rule.items())}},
        "exposure": {"equity": equity, "invested": held_value,
                     "invested_share": held_value / base if base else None,
                     "by_sector": {k: {"value": v, "share": v / base if base else None}
                                   for k, v in sorted(exposure.items(), key=lambda kv: -kv[1])}},
        "strategy": described,
        "filters": filters,
    }
