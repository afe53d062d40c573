"""Telegram HTML for the service layer's dicts and the outbox's typed messages.  Every value
goes through ``e()`` (html.escape), so a symbol, a reason or an error text can never break the
markup or inject a link."""

from __future__ import annotations

import html
import logging
from typing import Any

from pipeline import alerts, styled
from pipeline.read.money import fmt_money, fmt_price, fmt_qty, report_currency
from pipeline.stages import report as report_mod

log = logging.getLogger("qtx.telegram")

COMMANDS = [
    ("start", "enable automatic trading"),
    ("stop", "block new buys (exits still run)"),
    ("status", "mode, switches, equity, orders, stage runs"),
    ("positions", "open positions with stop and trailing levels"),
    ("analysis", "signals, approvals, win rates, exposure"),
    ("report", "the latest daily report"),
    ("health", "qtx doctor: what is wrong and what to do"),
    ("help", "this list"),
]


def e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=False)


def num(v: Any, digits: int = 2) -> str:
    if v is None:
        return "–"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return e(v)
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}".rstrip("0").rstrip(".") if digits else f"{x:,.0f}"


def pct(v: Any) -> str:
    if v is None:
        return "–"
    return f"{float(v) * 100:+.2f}%"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    s = int(seconds)
    if s < 120:
        return f"{s}s ago"
    if s < 7200:
        return f"{s // 60}m ago"
    if s < 172800:
        return f"{s // 3600}h ago"
    return f"{s // 86400}d ago"


def _short(ts) -> str:
    """2026-11-23T21:22:28.716231Z -> 2026-11-23 21:22Z"""
    t = str(ts or "")
    return (t[:10] + " " + t[11:16] + "Z") if len(t) >= 16 else t


def help_text() -> str:
    lines = ["<b>qtx commands</b>"]
    lines += [f"/{e(c)} — {e(d)}" for c, d in COMMANDS]
    return "\n".join(lines)


def trading_changed(result: dict, by: str) -> str:
    if result["trading_enabled"]:
        head = "▶️ <b>Automatic trading enabled</b>"
    else:
        head = "⏸ <b>New buys blocked</b> (exits still run)"
    lines = [head, f"by {e(by)}"]
    if result["buy_block_reasons"]:
        lines.append("Buys blocked: " + e("; ".join(result["buy_block_reasons"])))
    return "\n".join(lines)


def status(s: dict, now_age=None) -> str:
    lines = [f"<b>qtx status</b> — {e(s.get('market'))} / {e(s.get('mode'))}"]
    lines.append("Trading: " + ("<b>on</b>" if s.get("trading_enabled") else "<b>stopped</b>"))
    reasons = s.get("buy_block_reasons") or []
    lines.append("Buys: " + ("blocked — " + e("; ".join(reasons)) if reasons else "allowed"))
    m = s.get("metrics")
    cur = report_currency(s)
    if m:
        lines.append(f"Equity: <code>{e(fmt_money(m['equity'], cur, unit=True))}</code> ({e(m['date'])})")
        lines.append(f"Day P&amp;L: <code>{e(fmt_money(m.get('day_pnl'), cur, sign=True))}</code> "
                     f"({e(pct(m.get('day_return')))})")
        dd = m.get("drawdown")
        lines.append(f"Drawdown: {'–' if dd is None else f'{float(dd) * 100:.2f}%'} · "
                     f"size ×{e(num(m.get('size_multiplier')))}")
    else:
        lines.append("Equity: no daily metrics yet")
    orders = s.get("open_orders") or []
    lines.append(f"Open orders: {len(orders)}")
    for o in orders[:10]:
        lines.append(f"  • {e(o['side'])} {e(o['symbol'])} {e(fmt_qty(o['qty']))} [{e(o['status'])}]")
    if len(orders) > 10:
        lines.append(f"  … {len(orders) - 10} more")
    runs = s.get("runs") or {}
    if runs:
        lines.append("<b>Stages</b>")
        for stage, r in runs.items():
            if not r:
                lines.append(f"  {e(stage)}: never ran")
                continue
            # the market's own clock when the status carries it, else the stored UTC time
            when = r.get("started_local") or _short(r.get("ended_at") or r.get("started_at"))
            line = f"  {e(stage)}: {e(r.get('outcome'))} {e(when)}"
            if r.get("outcome") == "failed" and r.get("message"):
                line += f" — {e(str(r['message'])[:200])}"
            lines.append(line)
    hb = s.get("listener")
    lines.append("Listener: " + (f"{e(hb.get('state'))}, heartbeat {e(_age(hb.get('age_seconds')))}"
                                  if hb else "no heartbeat"))
    ob = s.get("outbox") or {}
    if ob.get("pending") or ob.get("failed"):
        lines.append(f"Outbox: {ob.get('pending', 0)} pending, {ob.get('failed', 0)} failed")
    return "\n".join(lines)


def positions(rows: list[dict]) -> str:
    if not rows:
        return "<b>Positions</b>\nNo open positions."
    lines = [f"<b>Positions</b> ({len(rows)})"]
    for p in rows:
        cur = p.get("currency") or "KRW"
        lines.append("")
        lines.append(f"<b>{e(p['symbol'])}</b> ×{e(fmt_qty(p['qty']))} @ {e(fmt_price(p['avg_price'], cur))}")
        lines.append(f"  last {e(fmt_price(p['last_price'], cur))} ({e(p.get('last_date'))}) · "
                     f"P&amp;L {e(fmt_money(p['pnl'], cur, sign=True))} ({e(pct(p['pnl_pct']))}) · "
                     f"{e(p['days_held'])}d held")
        if p.get("armed"):
            lines.append(f"  trailing {e(fmt_price(p['trailing_level'], cur))} "
                         f"(peak {e(fmt_price(p['peak'], cur))}, armed {e(p['armed_date'])})")
        else:
            lines.append(f"  stop {e(fmt_price(p['stop_level'], cur))} · "
                         f"take-profit {e(fmt_price(p['take_profit_level'], cur))}")
    return "\n".join(lines)


def analysis(a: dict) -> str:
    if not a.get("asof"):
        return "<b>Analysis</b>\nNo bars stored yet."
    lines = [f"<b>Analysis</b> — {e(a['since'])} … {e(a['asof'])}"]
    sig = a["signals"]
    buys = ", ".join(f"{e(k)} {v}" for k, v in sig["buy_by_rule"].items()) or "none"
    sells = ", ".join(f"{e(k)} {v}" for k, v in sig["sell_by_reason"].items()) or "none"
    lines.append(f"Entry signals by rule: {buys}")
    lines.append(f"Exit signals by rule: {sells}")
    ap = a["approval"]
    lines.append(f"Risk: {ap['approved']}/{ap['approved'] + ap['rejected']} approved"
                 f" ({e(_rate(ap['approval_rate']))})"
                 + (f", {ap['pending']} pending" if ap.get("pending") else ""))
    if ap["rejections_by_reason"]:
        lines.append("  rejected: " + ", ".join(f"{e(k)} {v}" for k, v in ap["rejections_by_reason"].items()))
    tr = a["trades"]
    allt = tr["all"]
    lines.append(f"Closed trades: {allt['trades']}, win {e(_rate(allt['win_rate']))}, "
                 f"avg {e(pct(allt['avg_return']))}")
    for rule, st in tr["by_entry_rule"].items():
        lines.append(f"  {e(rule)}: {st['trades']} trades, win {e(_rate(st['win_rate']))}, "
                     f"avg {e(pct(st['avg_return']))}")
    ex = a["exposure"]
    cur = report_currency(a)
    lines.append(f"Invested: {e(fmt_money(ex['invested'], cur, unit=True))}"
                 + (f" ({e(_rate(ex['invested_share']))} of equity)" if ex["invested_share"] is not None else ""))
    for sector, v in ex["by_sector"].items():
        lines.append(f"  {e(sector)}: {e(fmt_money(v['value'], cur))} ({e(_rate(v['share']))})")
    for t in a.get("filters") or []:  # the strategy's own filters, with its parameters
        lines.append(f"{e(t['name'].capitalize())} filter ({e(t['label'])}): {t['passing']}/{t['evaluated']} pass"
                     + (f" ({e(_rate(t['share']))})" if t["share"] is not None else "")
                     + (f", {t['insufficient_history']} lack history" if t["insufficient_history"] else ""))
    return "\n".join(lines)


def _rate(v) -> str:
    return "–" if v is None else f"{float(v) * 100:.0f}%"


_HEALTH_ICON = {"ok": "✅", "warn": "⚠️", "fail": "❌", "skip": "➖"}


def health(d: dict) -> str:
    """``pipeline.read.doctor``'s report: problems first, each with what to do; the passing checks
    on one line, so the answer stays short on a phone."""
    n = d["counts"]
    head = ("✅ <b>qtx health: all good</b>" if d["ok"] else
            f"❌ <b>qtx health: {n['fail']} failed</b>")
    lines = [head + f" ({n['ok']} ok, {n['warn']} warnings, {n['skip']} skipped)"]
    for c in d["checks"]:
        if c["status"] in ("fail", "warn"):
            lines.append(f"{_HEALTH_ICON[c['status']]} <b>{e(c['name'])}</b>: {e(c['detail'])}")
            if c.get("fix"):
                lines.append(f"    → {e(c['fix'])}")
    passed = [c["name"] for c in d["checks"] if c["status"] == "ok"]
    if passed:
        lines.append("✅ " + e(", ".join(passed)))
    skipped = [f"{c['name']} ({c['detail']})" for c in d["checks"] if c["status"] == "skip"]
    if skipped:
        lines.append("➖ " + e("; ".join(skipped)))
    return "\n".join(lines)


def report_summary(s: dict, pos: list[dict]) -> str:
    """Used by /report when no daily report has been queued yet."""
    return ("<i>No daily report queued yet; current state:</i>\n\n" + status(s) + "\n\n" + positions(pos))


def stale_notice(who, seconds: int) -> str:
    return (f"⏳ Ignored <code>{e((who.text or '')[:50])}</code> sent at {e(who.sent_at)}: "
            f"older than {seconds} s when the listener saw it. Send it again if you still mean it.")


def ignored_notice(who) -> str:
    what = {"edited": "an edited", "forwarded": "a forwarded"}.get(who.kind, "this kind of")
    return (f"✋ Ignored <code>{e((who.text or '')[:50])}</code>: only a new message typed here is a "
            f"command, not {what} message. Send it again if you mean it.")


# -- the outbox's typed messages (pipeline.alerts) -----------------------------------------------
_TAGS = {"strong": "b", "em": "i"}


def to_html(lines: list[styled.Line]) -> str:
    """Lines of ``pipeline.styled`` as Telegram HTML: every word escaped, each style its tag."""
    def span(s: str | styled.Span) -> str:
        if isinstance(s, str):
            return e(s)
        tag = _TAGS[s.style]
        return f"<{tag}>{e(s.text)}</{tag}>"

    return "\n".join("".join(span(s) for s in line) for line in lines)


def render(payload: dict) -> str:
    """A typed message as Telegram HTML."""
    return to_html(alerts.lines(payload))


def message_html(row: dict) -> str:
    """An outbox row as Telegram HTML.  A row without a payload was queued before typed messages
    and holds HTML already; a payload this version cannot render (a newer type, damage) goes
    as its plain text rather than blocking the queue."""
    raw = row.get("payload")
    if not raw:
        return row.get("text") or ""
    try:
        return render(alerts.parse(raw))
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("outbox %s: cannot render its payload (%s); sending its plain text",
                    row.get("id"), exc)
        return e(row.get("text"))


def daily_report(r: dict) -> str:
    """``pipeline.stages.report.build``'s report as Telegram HTML."""
    return to_html(report_mod.lines(r))
