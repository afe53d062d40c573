"""A backtest over the real KRX bars in ``shared/data/krx`` (skipped when absent): imported with
`qtx collect --source csv`, run with `qtx backtest`, and every trade obeys the invariants."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from db import open_db
from pipeline.engine import simulate
from pipeline.history import load_market
from risk.params import RiskParams
from sennot import create
from sennot.costs import Costs
from tests.builders import check_invariants

CAPITAL = 100_000_000


def test_krx_backtest_keeps_every_invariant(shared_data, tmp_path, tmp_config, run_cli):
    src = shared_data / "krx"
    if not src.is_dir():
        pytest.skip(f"{src} not present")
    db_path = tmp_path / "krx.sqlite"
    cfg = tmp_config(database=str(db_path), capital=CAPITAL)
    open_db(db_path, market="krx", mode="paper", create=True, capital=CAPITAL).close()
    code, out, err = run_cli(["--config", cfg, "collect", "--source", "csv", "--path", src, "--json"])
    assert code == 0, err
    tr, eqf = tmp_path / "trades.csv", tmp_path / "equity.csv"
    code, out, err = run_cli(["--config", cfg, "backtest", "--json", "--trades-out", tr, "--equity-out", eqf])
    assert code == 0, err
    doc = json.loads(out)
    n_files = len([p for p in src.glob("*.csv") if p.name != "sectors.csv"])
    assert doc["symbols"] == n_files and doc["fills"] > 100

    db = open_db(db_path, market="krx", mode="paper")
    m = load_market(db)
    db.close()
    secs = pd.read_csv(src / "sectors.csv", dtype=str)
    assert {s: m.rule(s).sector for s in m.symbols} == dict(zip(secs.symbol, secs.sector))
    rp, costs = RiskParams(), Costs()
    res = simulate(m, create(), rp, costs, CAPITAL)
    seen = check_invariants(res, m, rp, costs, CAPITAL)
    assert seen["fills"] == doc["fills"] and seen["sector_checked"] > 0
    assert seen["halved_days"] > 0 or seen["blocked_days"] > 0 or doc["max_drawdown"] >= -0.10

    # the CSV files are the same run
    with open(tr, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(res.trades)
    assert all(r["date"] == t.date and r["symbol"] == t.symbol and r["side"] == t.side
               and float(r["qty"]) == t.qty and float(r["price"]) == t.price and r["reason"] == t.reason
               for r, t in zip(rows, res.trades))
    with open(eqf, newline="") as f:
        eq = list(csv.DictReader(f))
    assert [r["date"] for r in eq] == m.dates.tolist()
    assert float(eq[-1]["equity"]) == res.equity[-1].equity


def test_krx_backtest_with_start_is_warm_up_only(shared_data):
    src = shared_data / "krx"
    frames = {p.stem: pd.read_csv(p, dtype={"date": str}) for p in sorted(src.glob("*.csv"))
              if p.name != "sectors.csv"}
    secs = pd.read_csv(src / "sectors.csv", dtype=str)
    from pipeline.market import from_frames
    m = from_frames(frames, dict(zip(secs.symbol, secs.sector)))
    start = str(m.dates[len(m.dates) // 2])
    rp, costs = RiskParams(), Costs()
    res = simulate(m, create(), rp, costs, CAPITAL, start=start)
    check_invariants(res, m, rp, costs, CAPITAL)
    assert res.equity[0].date == start and res.equity[0].equity == CAPITAL
    # entries on the first decision date are possible: earlier bars warmed the indicators up
    first_buys = [v for v in res.verdicts if v["date"] == start]
    tables = {s: create().entries(m.bars[s]) for s in m.symbols}
    expect = sorted(s for s in m.symbols if m.own_index(s, m.date_index(start)) >= 0
                    and tables[s].buy[m.own_index(s, m.date_index(start))])
    assert sorted(v["symbol"] for v in first_buys) == expect
