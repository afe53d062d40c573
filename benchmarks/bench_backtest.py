"""``qtx backtest`` over 56 US symbols x 4,277 days (``../shared/data/us``; a generated market
of the same size when it is absent): the whole process, and where its time goes.

Runs under ``python -m benchmarks`` or alone: ``python -m benchmarks.bench_backtest``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from benchmarks.common import SHARED_US, Figure, medians, qtx, run_process, workspace, write_market

REPEAT = 5
# The phases of one backtest, timed inside a fresh interpreter as `qtx backtest` runs them.
PHASES = """
import json, sys, time
t0 = time.process_time()
from db import open_db
from db import market as market_db
from pipeline import history
from pipeline.config import load
from pipeline.engine import simulate
from pipeline.market import from_columns
from pipeline.read.metrics import summary
from risk.params import from_settings
t = {"imports": time.process_time() - t0}
s = load(sys.argv[1]); db = open_db(s.db_path, market=s.market, mode=s.mode)
c = time.process_time(); cols = market_db.bar_columns(db); t["read bars"] = time.process_time() - c
c = time.process_time(); m = from_columns(cols, history.instrument_rules(db)); t["market build"] = time.process_time() - c
st = history.strategy_of(s); rp, costs = from_settings(s)
c = time.process_time(); st.entries_many([m.bars[x] for x in m.symbols]); t["entry tables"] = time.process_time() - c
c = time.process_time(); res = simulate(m, st, rp, costs, s.capital); sim = time.process_time() - c
t["decision loop"] = max(sim - t["entry tables"], 0.0)
c = time.process_time(); summary(res.trades, res.equity, res.capital, (), res.exits, 252.0)
t["summary"] = time.process_time() - c
print(json.dumps(t))
"""


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if SHARED_US.is_dir():
            src, what = SHARED_US, "56 US symbols x 4,277 days"
        else:
            src, what = tmp / "csv", "generated 56 x 4,277 (shared/data/us absent)"
            write_market(src, 56, 4277)
        ws = workspace(tmp, src)
        got = medians({"backtest": qtx("--config", ws.config, "backtest", "--json")}, REPEAT)["backtest"]
        fills = json.loads(got.stdout)["fills"]
        phases = json.loads(run_process([sys.executable, "-c", PHASES, str(ws.config)]).stdout)
    out = [Figure(f"qtx backtest, {what}", got.cpu_s, "s", 1.0, got.cpu_s, f"{fills} fills, {got.maxrss_mb:.0f} MB")]
    out += [Figure(f"  {name} (in-process)", v, "s", None, v) for name, v in phases.items()]
    return out


if __name__ == "__main__":
    from benchmarks.run import main

    sys.exit(main(["backtest"]))
