"""Hand-built bars and markets for the strategy/risk/engine tests, plus an invariant checker;
and a small KRX workspace with its snapshot helpers for the bad-input tests.

A typical series is a flat warm-up (``WARMUP`` bars at one price and volume: no rule fires on
a flat series, see ``test_flat_series_fires_nothing``) followed by a crafted tail, so the bar
where a rule should fire is the only one where anything happens.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import sqlite3
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.engine import SimResult
from pipeline.market import InstrumentRules, Market
from risk.params import RiskParams
from sennot.costs import Costs
from sennot.numeric import floor_to_lot, le, lt
from sennot.types import SymbolBars

WARMUP = 260  # > SMA(240): the trend filter is defined over the whole tail
ENTRY_REASONS = {"+".join(c) for c in (("breakout",), ("golden_cross",), ("pullback",),
                                       ("breakout", "golden_cross"), ("breakout", "pullback"),
                                       ("golden_cross", "pullback"),
                                       ("breakout", "golden_cross", "pullback"))}
EXIT_RULES = {"stop_loss", "trailing_stop", "take_profit", "time_exit"}


def business_dates(n: int, start: str = "2020-01-01") -> list[str]:
    return list(pd.bdate_range(start, periods=n).strftime("%Y-%m-%d"))


def symbol_bars(closes: Sequence[float], *, symbol: str = "X", highs=None, lows=None, opens=None,
                volumes: float | Sequence[float] = 1000.0, dates: Sequence[str] | None = None,
                start: str = "2020-01-01") -> SymbolBars:
    """Bars from closes; highs/lows/opens default to the close, volume to a constant."""
    c = np.asarray(closes, dtype=float)
    n = len(c)

    def arr(x, default):
        if x is None:
            return default.copy()
        a = np.asarray(x, dtype=float)
        return np.full(n, float(a)) if a.ndim == 0 else a

    ds = np.asarray(list(dates) if dates is not None else business_dates(n, start), dtype=str)
    assert len(ds) == n
    return SymbolBars(symbol, ds, arr(opens, c), arr(highs, c), arr(lows, c), c, arr(volumes, np.ones(n)))


def warm(tail_closes: Sequence[float], *, level: float = 100.0, warmup: int = WARMUP,
         warm_high: float | None = None, tail_highs: Sequence[float] | None = None,
         volume: float = 1000.0, tail_volumes: Sequence[float] | None = None,
         tail_opens: Sequence[float] | None = None, symbol: str = "X",
         start: str = "2020-01-01") -> SymbolBars:
    """``warmup`` flat bars at ``level`` (high ``warm_high`` or the level), then the tail."""
    k = len(tail_closes)
    closes = [level] * warmup + list(tail_closes)
    highs = [warm_high if warm_high is not None else level] * warmup + \
        list(tail_highs if tail_highs is not None else tail_closes)
    vols = [volume] * warmup + list(tail_volumes if tail_volumes is not None else [volume] * k)
    opens = [level] * warmup + list(tail_opens if tail_opens is not None else tail_closes)
    lows = [min(a, b) for a, b in zip(opens, closes)]
    return symbol_bars(closes, symbol=symbol, highs=highs, lows=lows, opens=opens, volumes=vols,
                       start=start)


def market(*bars: SymbolBars, sectors: Mapping[str, str | None] | None = None,
           lots: Mapping[str, float] | None = None, min_notional: Mapping[str, float] | None = None) -> Market:
    rules = {}
    for b in bars:
        s = b.symbol
        rules[s] = InstrumentRules((lots or {}).get(s, 1.0), (min_notional or {}).get(s, 0.0),
                                   (sectors or {}).get(s))
    return Market({b.symbol: b for b in bars}, rules)


def rename(b: SymbolBars, symbol: str, dates: Sequence[str] | None = None) -> SymbolBars:
    return SymbolBars(symbol, np.asarray(dates, dtype=str) if dates is not None else b.dates,
                      b.open, b.high, b.low, b.close, b.volume)


# --------------------------------------------------------------------------- invariants

def _close_on_or_before(m: Market, sym: str, d: str) -> float:
    b = m.bars[sym]
    i = int(np.searchsorted(b.dates, d, side="right")) - 1
    return float(b.close[i])


def _sector(m: Market, sym: str):
    sec = m.rule(sym).sector
    return ("sector", sec) if sec else ("symbol", sym)


def check_invariants(res: SimResult, m: Market, rp: RiskParams, costs: Costs, capital: float) -> dict:
    """Recompute, from the trades and the equity rows alone, everything the spec promises about
    positions, lots, cash, blocked days, drawdown sizing and sector exposure.  Returns counts
    (how often each invariant was actually exercised) so a caller can tell the test bit."""
    seen = defaultdict(int)
    trades_by_date: dict[str, list] = defaultdict(list)
    for t in res.trades:
        trades_by_date[t.date].append(t)
    verdicts_by_date: dict[str, list] = defaultdict(list)
    for v in res.verdicts:
        verdicts_by_date[v["date"]].append(v)
    sells_by_date: dict[str, list] = defaultdict(list)
    for e in res.exits:
        if e["qty"] > 0:
            sells_by_date[e["date"]].append(e)

    dates = [e.date for e in res.equity]
    assert dates == sorted(set(dates)), "one equity row per decision date, ascending"
    assert set(trades_by_date) <= set(dates), "every fill is on a decision date"

    cash = capital
    held: dict[str, float] = {}
    peak = capital
    prev_eq = None
    approved_prev: list[dict] = []
    pending_full: dict[str, float] = {}  # SELLs decided and not yet filled
    for row in res.equity:
        d = row.date
        # Fills at d's open: SELLs first, then BUYs; each BUY was approved the date before.
        fills = trades_by_date.get(d, [])
        sides = [t.side for t in fills]
        assert sides == sorted(sides, key=lambda s: s != "SELL"), f"{d}: SELLs fill before BUYs"
        approved_syms = [v["symbol"] for v in approved_prev]
        buys = [t for t in fills if t.side == "BUY"]
        assert [t.symbol for t in buys] == [s for s in approved_syms if s in {t.symbol for t in buys}], \
            f"{d}: BUYs fill in approval order"
        for t in fills:
            lot = m.rule(t.symbol).lot
            assert t.qty > 0 and abs(t.qty / lot - round(t.qty / lot)) < 1e-9, f"whole lots: {t}"
            seen["fills"] += 1
            if t.side == "BUY":
                assert t.reason in ENTRY_REASONS, t
                v = next(v for v in approved_prev if v["symbol"] == t.symbol)
                assert t.qty <= v["qty"] and t.reason == v["signal_reason"], (t, v)
                assert t.symbol not in held, f"{d}: bought {t.symbol} while holding it"
                cash -= t.qty * t.price * (1 + costs.commission)
                held[t.symbol] = t.qty
            else:
                assert t.reason in EXIT_RULES, t
                pending_full.pop(t.symbol, None)
                assert t.qty <= held.get(t.symbol, 0) + 1e-9, f"{d}: sold more than held: {t}"
                notional = t.qty * t.price
                cash += notional - notional * costs.commission - notional * costs.sell_tax
                left = held[t.symbol] - t.qty
                if left <= 1e-9:
                    del held[t.symbol]
                else:
                    held[t.symbol] = left
            assert cash >= -1e-6 * capital, f"{d}: cash below zero ({cash})"
        assert row.cash >= 0, f"{d}: cash below zero in equity.csv ({row.cash})"
        assert math.isclose(row.cash, cash, rel_tol=1e-9, abs_tol=1e-6), (d, row.cash, cash)
        # A full SELL decided at t frees its slot at t even when, for want of a bar, it waits
        # past t+1's open: only then may the holdings briefly exceed max_positions.
        waiting_full = {s for s, q in pending_full.items() if s in held and q >= held[s] - 1e-9}
        assert row.positions == len(held), (d, row.positions, len(held))
        assert len(held) - len(waiting_full) <= rp.max_positions, f"{d}: {row.positions} positions"
        if not waiting_full:
            seen["positions_checked"] += 1
        value = {s: q * _close_on_or_before(m, s, d) for s, q in held.items()}
        eq = cash + sum(value.values())
        assert math.isclose(row.equity, eq, rel_tol=1e-9), (d, row.equity, eq)

        # Risk state recomputed from the equity series.
        peak = max(peak, row.equity)
        dd = row.equity / peak - 1
        daily = 0.0 if prev_eq is None else row.equity / prev_eq - 1
        blocked = lt(daily, rp.daily_loss_limit)
        mult = rp.drawdown_size_multiplier if lt(dd, rp.drawdown_limit) else 1.0
        assert row.buy_blocked == int(blocked), (d, row.buy_blocked, daily)
        assert row.size_multiplier == mult and math.isclose(row.drawdown, dd, rel_tol=1e-9, abs_tol=1e-12)
        prev_eq = row.equity

        verdicts = verdicts_by_date.get(d, [])
        approved = [v for v in verdicts if v["approved"]]
        if blocked:
            seen["blocked_days"] += 1
            assert not approved and all(v["reason"] == "daily_loss_block" for v in verdicts), d
        if mult < 1:
            seen["halved_days"] += 1
        for v in verdicts:
            assert v["symbol"] not in held, f"{d}: BUY candidate {v['symbol']} is held"
            if v["qty"] > 0:
                want = floor_to_lot(row.equity / rp.max_positions * mult / v["close"], m.rule(v["symbol"]).lot)
                assert v["qty"] == want, (d, v, want)
                seen["sized_halved" if mult < 1 else "sized_full"] += 1
        # Positions and sector exposure at entry: holdings after today's SELLs plus approvals.
        sold = {s["symbol"]: s["qty"] for s in sells_by_date[d]}
        assert not set(sold) & {v["symbol"] for v in verdicts}, f"{d}: sold and bought the same day"
        left = {s: q - sold.get(s, 0.0) for s, q in held.items()}
        n_after = sum(1 for q in left.values() if q > 1e-9)
        # (Without approvals nothing is promised: a position whose full SELL waits for a bar
        # still counts as held and may keep the count above the limit for a day.)
        if approved:
            assert n_after + len(approved) <= rp.max_positions, (d, n_after, len(approved))
        if approved:
            by_sector: dict = defaultdict(float)
            for s, q in left.items():
                if q > 1e-9:
                    by_sector[_sector(m, s)] += q * _close_on_or_before(m, s, d)
            for v in approved:
                key = _sector(m, v["symbol"])
                by_sector[key] += v["qty"] * v["close"]
                assert le(by_sector[key], rp.sector_cap * row.equity), (d, key, by_sector[key], row.equity)
                seen["sector_checked"] += 1
        approved_prev = approved
        for e in sells_by_date[d]:
            pending_full[e["symbol"]] = e["qty"]
    return dict(seen)


# --------------------------------------------------------------------------- a workspace and its snapshot
# For the bad-input tests (test_bad_*.py): a KRX workspace built once, copied per test, and what
# was stored in it read back, so a test can prove a refused command changed nothing.

ROWS = [  # a few KRX trading days (2024-01-02 .. 2024-01-05 are Tue..Fri)
    ("2024-01-02", 100, 110, 95, 105, 1000),
    ("2024-01-03", 105, 112, 101, 110, 1200),
    ("2024-01-04", 110, 115, 108, 112, 900),
    ("2024-01-05", 112, 113, 104, 106, 1100),
]


def write_csv(folder: Path, symbol: str, rows=ROWS, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / (name or f"{symbol}.csv")
    p.write_text("date,open,high,low,close,volume\n"
                 + "".join(",".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    return p


_TEMPLATES: dict[Path, Path] = {}  # the session's base folder -> its template workspace


def _template(tmp_path_factory) -> Path:
    """A KRX workspace with two symbols' bars, built once a session and copied for each test."""
    base = tmp_path_factory.getbasetemp()
    if base not in _TEMPLATES:
        from typer.testing import CliRunner

        from cli.main import app

        root = tmp_path_factory.mktemp("tpl") / "ws"
        runner = CliRunner()
        assert runner.invoke(app, ["init", str(root)]).exit_code == 0
        csv = root / "csv"
        write_csv(csv, "005930")
        write_csv(csv, "000660")
        res = runner.invoke(app, ["--config", str(root / "qtx.yaml"), "collect", "--source", "csv",
                                  "--path", str(csv), "--asof", "2024-01-05"])
        assert res.exit_code == 0, res.output
        _TEMPLATES[base] = root
    return _TEMPLATES[base]


@pytest.fixture(name="ws")
def ws_fixture(tmp_path_factory, tmp_path, monkeypatch) -> Path:
    """A copy of the template workspace, the market's clock a few days after its bars.  A test
    module takes it by importing ``ws_fixture``."""
    dst = tmp_path / "ws"
    shutil.copytree(_template(tmp_path_factory), dst)
    # The market's clock (windows_gate.now) a few days after the stored bars.
    monkeypatch.setenv("QTX_NOW", "2024-01-08T20:00:00+09:00")
    return dst


def db_of(ws: Path) -> Path:
    return ws / "data" / "qtx-krx-paper.sqlite"


def contents(path: Path) -> list[str]:
    """Everything stored, read without touching the file (immutable: no WAL, no lock)."""
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def file_bytes(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_line_error(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert errors, stderr
    assert "Traceback" not in stderr
    return errors[0]
