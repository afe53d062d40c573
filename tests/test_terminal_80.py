"""What the operator reads (issue 13): every command that prints data, run at 80 columns on a
demo workspace with positions and open orders, cuts no number and no table cell; money is
printed in the workspace's currency (KRW whole, USDT with cents)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.read.money import currency_of, fmt_money, fmt_price, fmt_qty

QTX = [sys.executable, "-m", "cli.main"]
CUT_NUMBER = re.compile(r"\d…|…\d|[,.]…")
TABLE_CHARS = "│┃┏┗┡└"


def _qtx(args, cwd: Path, columns: int = 80) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("QTX_CONFIG", "QTX_TELEGRAM_TOKEN")}
    env.update(COLUMNS=str(columns), LINES="50", TERM="dumb")
    return subprocess.run([*QTX, *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("demo80")
    root = Path(__file__).resolve().parent.parent
    assert _qtx(["init", ws / "w", "--demo"], root).returncode == 0
    cfg = ws / "w" / "qtx.yaml"
    r = _qtx(["--config", cfg, "replay", "--days", "5"], root)
    assert r.returncode == 0, r.stderr
    REPLAY_OUT.append(r.stdout)  # the replay's own table is checked like the others
    return cfg


REPLAY_OUT: list[str] = []


COMMANDS = [["status"], ["positions"], ["analysis"], ["report"], ["reconcile", "--dry-run"],
            ["replay"], ["signal", "--asof", "LAST"], ["backtest", "--start", "2025-09-01"], ["doctor"]]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c))
def test_nothing_essential_is_cut_at_80_columns(demo, cmd):
    root = Path(__file__).resolve().parent.parent
    if "LAST" in cmd:
        last = _qtx(["--config", demo, "status", "--json"], root).stdout
        cmd = [c if c != "LAST" else re.search(r'"last_date": "([\d-]+)"', last).group(1) for c in cmd]
    if cmd == ["replay"]:
        text = REPLAY_OUT[0]
    else:
        r = _qtx(["--config", demo, *cmd], root)
        assert r.returncode == (1 if cmd == ["doctor"] else 0), r.stderr  # doctor: no keys here
        text = r.stdout
    assert text.strip(), f"{cmd} printed nothing"
    for line in text.splitlines():
        assert len(line) <= 80, f"{cmd}: line wider than 80 columns: {line!r}"
        assert not CUT_NUMBER.search(line), f"{cmd}: a number is cut: {line!r}"
        if any(ch in line for ch in TABLE_CHARS):
            assert "…" not in line, f"{cmd}: a table cell is cut: {line!r}"


def test_the_demo_output_is_krw_whole_with_separators(demo):
    root = Path(__file__).resolve().parent.parent
    pos = _qtx(["--config", demo, "positions"], root).stdout
    assert "KRW" in pos
    rows = [ln for ln in pos.splitlines() if ln.startswith("SYN")]
    assert rows, pos
    for ln in rows:  # avg, last and P&L whole won with separators; no cents
        cells = ln.split()
        assert re.fullmatch(r"\d{1,3}(,\d{3})+", cells[2]), ln
        assert re.fullmatch(r"[+-]?\d{1,3}(,\d{3})*", cells[4]), ln
        assert cells[-1] in ("stop", "trail"), ln
    status = _qtx(["--config", demo, "status"], root).stdout
    assert re.search(r"equity\s+\d{1,3}(,\d{3})+ KRW on ", status), status
    assert re.search(r"\d\d-\d\d \d\d:\d\d KST", status), status  # run times in market time
    report = _qtx(["--config", demo, "report"], root).stdout
    assert re.search(r"Open orders \(\d+\)\n(SELL|BUY) SYN\d+ ", report), report


@pytest.mark.parametrize(("amount", "cur", "kw", "want"), [
    (1234567.8, "KRW", {}, "1,234,568"),
    (1234567.8, "USDT", {}, "1,234,567.80"),
    (-51000, "KRW", {"sign": True}, "-51,000"),
    (1274400, "KRW", {"sign": True}, "+1,274,400"),
    (0.004, "USDT", {"sign": True}, "+0.00"),
    (-0.2, "KRW", {}, "0"),
    (12.5, "usdt", {"unit": True}, "12.50 USDT"),
    (None, "KRW", {}, "–"),
])
def test_fmt_money(amount, cur, kw, want):
    assert fmt_money(amount, cur, **kw) == want


@pytest.mark.parametrize(("price", "cur", "want"), [
    (146100.0, "KRW", "146,100"), (146100.5, "KRW", "146,100.5"), (97123.4, "USDT", "97,123.40"),
    (0.00001234, "USDT", "0.00001234"), (0.5, "USDT", "0.50"), (1.23456, "USDT", "1.23456")])
def test_fmt_price(price, cur, want):
    assert fmt_price(price, cur) == want


def test_fmt_qty_and_currency_of():
    from types import SimpleNamespace as NS

    assert fmt_qty(85.0) == "85" and fmt_qty(0.0123) == "0.0123" and fmt_qty(1234.0) == "1,234"
    assert currency_of(NS(market="krx")) == "KRW"
    assert currency_of(NS(market="bybit", bybit=NS(quote_coin="usdc"))) == "USDC"


def test_status_after_a_replay_shows_the_data_stage_that_moved_the_market(demo):
    """A replay over stored bars records its data stage: status shows collect as of the last
    replayed date, saying the bars were already stored (not 'collect: never')."""
    import json

    root = Path(__file__).resolve().parent.parent
    st = json.loads(_qtx(["--config", demo, "status", "--json"], root).stdout)
    collect = st["runs"]["collect"]
    assert collect is not None and collect["outcome"] == "ok"
    assert collect["asof"] == st["runs"]["signal"]["asof"] == st["data"]["last_date"]
    assert "already stored (synthetic)" in collect["message"]
    text = _qtx(["--config", demo, "status"], root).stdout
    assert not re.search(r"collect\s+│\s+never", text), text
