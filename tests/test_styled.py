"""A message's content is written once (``pipeline.styled`` lines); the channels only style it:
Telegram's HTML, its tags removed and its entities read back, is the terminal's plain text."""

from __future__ import annotations

import html
import re

import pytest

from control import format as fmt
from pipeline import alerts
from pipeline.stages import report as report_mod
from pipeline.styled import em, plain, strong

NASTY = "<script>A&B</b>"


def _unstyle(h: str) -> str:
    return html.unescape(re.sub(r"</?(b|i)>", "", h))


def _report(**over) -> dict:
    r = {"date": "2026-11-23", "empty": False, "market": "kr", "mode": "paper", "currency": "KRW",
         "data_sources": ["synthetic"], "equity": 9280.0, "cash": 8000.0, "day_pnl": -93.7,
         "day_return": -0.01, "total_pnl": -720.0, "total_return": -0.072, "drawdown": -0.0231, "peak": 9500.0,
         "risk": {"buy_blocked": True, "size_multiplier": 0.5, "control_blocks": [f"reconcile {NASTY}"]},
         "positions": [{"symbol": NASTY, "qty": 10, "avg_price": 100.0, "last": 110.0, "pnl": 100.0,
                        "pnl_pct": 0.1, "entry_date": "2026-11-20", "armed": True}],
         "fills": [{"date": "2026-11-23", "symbol": NASTY, "side": "BUY", "qty": 10, "price": 100.0,
                    "fee": 0.1, "reason": "breakout & <i>x</i>"}],
         "signals": [{"symbol": NASTY, "side": "BUY", "reason": "breakout", "status": "rejected",
                      "verdict": "sector cap <30%>", "qty": 1}],
         "open_orders": [{"date": "2026-11-23", "symbol": NASTY, "side": "SELL", "qty": 5,
                          "status": "new", "reason": None}]}
    r.update(over)
    return r


PAYLOADS = [
    {"type": "text", "data": {"text": f"reconciled {NASTY}"}},
    {"type": "alert", "data": {"level": "risk", "title": NASTY, "message": f"rejected {NASTY}\nline 2"}},
    {"type": "fill", "data": {"side": "BUY", "symbol": NASTY, "qty": 10.0, "price": 1234.5, "fee": 1.25,
                              "reason": "a & b", "date": "2026-11-23"}},
    {"type": "report", "data": _report()},
    {"type": "report", "data": _report(data_sources=["csv"], open_orders=[], fills=[],
                                       risk={"buy_blocked": False, "size_multiplier": 1.0, "control_blocks": []})},
    {"type": "report", "data": {"date": None, "empty": True, "reason": f"no metrics {NASTY}"}},
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p["type"])
def test_telegram_and_the_terminal_say_the_same_words(payload):
    h = fmt.render(payload)
    assert "<script>" not in h  # every value escaped
    assert _unstyle(h) == alerts.to_text(payload)


def test_the_report_reads_the_same_in_both_channels_and_styles_only_in_telegram():
    r = _report()
    text, h = report_mod.to_text(r), fmt.daily_report(r)
    assert _unstyle(h) == text
    assert text.startswith("qtx daily report — kr paper — 2026-11-23 — synthetic sample data\n")
    assert h.startswith("<b>qtx daily report</b> — kr paper — 2026-11-23 — <i>synthetic sample data</i>\n")
    assert "\n\n<b>Positions</b> (1)\n&lt;script&gt;A&amp;B&lt;/b&gt; 10 @ " in h
    assert "\n\nOpen orders (1)\nSELL <script>A&B</b> 5 [new] (of 2026-11-23)" in text
    assert " · <b>BUYs blocked (daily loss)</b>" in h and "Day P&amp;L" in h


def test_styles_are_only_marks_for_the_channel():
    lines = [[strong("Head"), " & ", em("aside")], [], ["<x>"]]
    assert plain(lines) == "Head & aside\n\n<x>"
    assert fmt.to_html(lines) == "<b>Head</b> &amp; <i>aside</i>\n\n&lt;x&gt;"
