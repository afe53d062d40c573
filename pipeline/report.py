"""The daily report, from the database alone: equity, P&L, drawdown, positions, fills,
decisions with their reasons, the risk state, and an equity chart."""

from __future__ import annotations

import html
from pathlib import Path

from db import DB, readside, trading
from db import control as control_db
from db import market as market_db
from pipeline.config import Settings


def build(db: DB, settings: Settings, asof: str | None = None) -> dict:
    m = readside.latest_metrics(db, asof)
    if m is None:
        return {"date": None, "empty": True, "reason": "no daily metrics yet (run `qtx signal`)"}
    d = m["date"]
    prev = trading.metrics_before(db, d)
    positions = []
    for sym, p in trading.positions(db).items():
        last = readside.last_bar(db, sym, d)
        close = last["close"] if last else p["avg_price"]
        positions.append({"symbol": sym, "qty": p["qty"], "avg_price": p["avg_price"], "last": close,
                          "pnl": (close - p["avg_price"]) * p["qty"],
                          "pnl_pct": close / p["avg_price"] - 1 if p["avg_price"] else 0.0,
                          "entry_date": p["entry_date"], "armed": p["armed_date"] is not None})
    signals = trading.signals_on(db, d)
    return {
        "date": d, "empty": False, "market": settings.market, "mode": settings.mode,
        "data_sources": market_db.bar_sources(db),
        "equity": m["equity"], "cash": m["cash"],
        "day_pnl": m["equity"] - prev["equity"] if prev else m["equity"] - settings.capital,
        "day_return": m["daily_return"],
        "total_pnl": m["equity"] - settings.capital, "total_return": m["equity"] / settings.capital - 1,
        "drawdown": m["drawdown"], "peak": m["peak"],
        "risk": {"buy_blocked": bool(m["buy_blocked"]), "size_multiplier": m["size_multiplier"],
                 "control_blocks": control_db.buy_block_reasons(db)},
        "positions": positions,
        "fills": [{k: f[k] for k in ("date", "symbol", "side", "qty", "price", "fee", "reason")}
                  for f in trading.fills_between(db, d, d)],
        "signals": [{"symbol": s["symbol"], "side": s["side"], "reason": s["reason"], "status": s["status"],
                     "verdict": s["verdict_reason"], "qty": s["qty"]} for s in signals],
    }


def to_html(r: dict) -> str:
    """Telegram HTML: every value escaped."""
    e = html.escape
    if r.get("empty"):
        return f"<b>qtx daily report</b>\n{e(r['reason'])}"
    lines = [
        f"<b>qtx daily report</b> — {e(r['market'])} {e(r['mode'])} — {e(r['date'])}"
        + (" — <i>synthetic sample data</i>" if "synthetic" in r.get("data_sources", []) else ""),
        f"Equity <b>{r['equity']:,.0f}</b> (cash {r['cash']:,.0f})",
        f"Day P&amp;L {r['day_pnl']:+,.0f} ({r['day_return']:+.2%}) · Total {r['total_pnl']:+,.0f} "
        f"({r['total_return']:+.2%})",
        f"Drawdown {r['drawdown']:.2%} · size x{r['risk']['size_multiplier']:g}"
        + (" · <b>BUYs blocked (daily loss)</b>" if r["risk"]["buy_blocked"] else ""),
    ]
    if r["risk"]["control_blocks"]:
        lines.append("Blocked: " + e("; ".join(r["risk"]["control_blocks"])))
    lines.append(f"\n<b>Positions</b> ({len(r['positions'])})")
    for p in r["positions"]:
        lines.append(f"{e(p['symbol'])} {p['qty']:g} @ {p['avg_price']:,.6g} → {p['last']:,.6g} "
                     f"{p['pnl']:+,.0f} ({p['pnl_pct']:+.2%}){' armed' if p['armed'] else ''}")
    lines.append(f"\n<b>Fills</b> ({len(r['fills'])})")
    for f in r["fills"]:
        lines.append(f"{e(f['side'])} {e(f['symbol'])} {f['qty']:g} @ {f['price']:,.6g} — {e(f['reason'] or '')}")
    lines.append(f"\n<b>Signals</b> ({len(r['signals'])})")
    for s in r["signals"]:
        verdict = s["status"] + (f": {s['verdict']}" if s["verdict"] and s["verdict"] != s["status"] else "")
        lines.append(f"{e(s['side'])} {e(s['symbol'])} [{e(s['reason'])}] → {e(verdict)}")
    return "\n".join(lines)


def chart(db: DB, settings: Settings, path: str | Path, asof: str | None = None) -> Path | None:
    series = trading.metrics_series(db, asof)
    if not series:
        return None
    from pipeline.backtest import write_chart

    write_chart([r["date"] for r in series], [r["equity"] for r in series], [r["drawdown"] for r in series],
                path, title=f"qtx {settings.market} {settings.mode} equity"
                + (" (synthetic sample data)" if "synthetic" in market_db.bar_sources(db) else ""))
    return Path(path)


def run_report(db: DB, settings: Settings, asof: str | None = None, send: bool = False,
               chart_path: str | None = None) -> dict:
    from pipeline import alerts

    r = build(db, settings, asof)
    if not r.get("empty"):
        path = Path(chart_path) if chart_path else settings.db_path.parent / "reports" / f"equity-{r['date']}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        r["chart"] = str(chart(db, settings, path, asof))
    if send:
        photo = Path(r["chart"]).read_bytes() if r.get("chart") else None
        r["queued"] = alerts.queue(db, "report", to_html(r), photo=photo,
                                   dedup_key=f"report:{r['date']}" if r.get("date") else None)
    return r


__all__ = ["build", "chart", "run_report", "to_html"]
