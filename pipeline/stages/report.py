"""The daily report, from the database alone: equity, P&L, drawdown, positions, fills,
decisions with their reasons, the risk state, and an equity chart."""

from __future__ import annotations

from pathlib import Path

from db import DB, readside, trading
from db import control as control_db
from db import market as market_db
from pipeline.config import Settings
from pipeline.read.money import currency_of, fmt_money, fmt_price, fmt_qty, report_currency
from pipeline.styled import Line, em, plain, strong


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
        "currency": currency_of(settings),
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
        # Orders still working at the venue (sent, not yet filled): tomorrow's open fills them.
        "open_orders": [{k: o[k] for k in ("date", "symbol", "side", "qty", "status", "reason")}
                        for o in trading.open_orders(db)],
    }


def lines(r: dict) -> list[Line]:
    """The report's content, line by line, once for every channel: the terminal prints it plain
    (``to_text``), Telegram escapes and styles it (``control.format.daily_report``)."""
    if r.get("empty"):
        return [[strong("qtx daily report")], [r["reason"]]]
    cur = report_currency(r)
    out: list[Line] = [
        [strong("qtx daily report"), f" — {r['market']} {r['mode']} — {r['date']}"]
        + ([" — ", em("synthetic sample data")] if "synthetic" in r.get("data_sources", []) else []),
        ["Equity ", strong(fmt_money(r["equity"], cur, unit=True)), f" (cash {fmt_money(r['cash'], cur)})"],
        [f"Day P&L {fmt_money(r['day_pnl'], cur, sign=True)} ({r['day_return']:+.2%}) · "
         f"Total {fmt_money(r['total_pnl'], cur, sign=True)} ({r['total_return']:+.2%})"],
        [f"Drawdown {r['drawdown']:.2%} · size x{r['risk']['size_multiplier']:g}"]
        + ([" · ", strong("BUYs blocked (daily loss)")] if r["risk"]["buy_blocked"] else []),
    ]
    if r["risk"]["control_blocks"]:
        out.append(["Blocked: " + "; ".join(r["risk"]["control_blocks"])])

    def section(title: str, items: list[str]) -> None:
        out.extend([[], [strong(title), f" ({len(items)})"]])
        out.extend([item] for item in items)

    section("Positions", [position_line(p, cur) for p in r["positions"]])
    section("Fills", [fill_line(f, cur) for f in r["fills"]])
    if "open_orders" in r:  # a report queued by an older version has no such list
        section("Open orders", [order_line(o) for o in r["open_orders"]])
    section("Signals", [signal_line(s) for s in r["signals"]])
    return out


def to_text(r: dict) -> str:
    """The report as plain text (the terminal's rendering; Telegram's is ``control.format``)."""
    return plain(lines(r))


# One line per position, fill, order and signal: plain words, short enough for 80 columns.
def position_line(p: dict, cur: str = "KRW") -> str:
    return (f"{p['symbol']} {fmt_qty(p['qty'])} @ {fmt_price(p['avg_price'], cur)} → "
            f"{fmt_price(p['last'], cur)} {fmt_money(p['pnl'], cur, sign=True)} "
            f"({p['pnl_pct']:+.2%}){' armed' if p['armed'] else ''}")


def fill_line(f: dict, cur: str = "KRW") -> str:
    return (f"{f['side']} {f['symbol']} {fmt_qty(f['qty'])} @ {fmt_price(f['price'], cur)} "
            f"— {f['reason'] or ''}")


def order_line(o: dict) -> str:
    return (f"{o['side']} {o['symbol']} {fmt_qty(o['qty'])} [{o['status']}] "
            f"{o.get('reason') or ''} (of {o['date']})").replace("  ", " ")


def signal_line(s: dict) -> str:
    verdict = s["status"] + (f": {s['verdict']}" if s["verdict"] and s["verdict"] != s["status"] else "")
    return f"{s['side']} {s['symbol']} [{s['reason']}] → {verdict}"


def chart(db: DB, settings: Settings, path: str | Path, asof: str | None = None) -> Path | None:
    series = trading.metrics_series(db, asof)
    if not series:
        return None
    from pipeline.read.chart import equity_chart

    equity_chart(db, settings, [r["date"] for r in series], [r["equity"] for r in series],
                 [r["drawdown"] for r in series], path, title=f"qtx {settings.market} {settings.mode} equity"
                + (" (synthetic sample data)" if "synthetic" in market_db.bar_sources(db) else ""))
    return Path(path)


def run_report(db: DB, settings: Settings, asof: str | None = None, send: bool = False,
               chart_path: str | None = None) -> dict:
    from pipeline import alerts

    r = build(db, settings, asof)
    r["chart"] = None
    if not r.get("empty"):
        path = Path(chart_path) if chart_path else settings.db_path.parent / "reports" / f"equity-{r['date']}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        written = chart(db, settings, path, asof)
        r["chart"] = str(written) if written else None  # no series, no chart: NULL, never "None"
    if send:
        photo = Path(r["chart"]).read_bytes() if r.get("chart") else None
        r["queued"] = alerts.report(db, r, photo=photo)
    return r


__all__ = ["build", "chart", "lines", "run_report", "to_text"]
