"""Loading a config and counting bars for status need neither numpy nor pandas: the strategy is
built at config load but computes nothing, and the counts come from the block summaries."""

from __future__ import annotations

import subprocess
import sys


def test_config_and_bar_counts_import_no_numpy(repo_root, tmp_path):
    code = f"""
import sys
from db import open_db
from db import bars as bars_db
from pipeline.config import from_dict
import pipeline.read.status
s = from_dict({{"database": {str(tmp_path / 'q.sqlite')!r}}})
db = open_db(s.db_path, market=s.market, mode=s.mode, create=True)
print(bars_db.bar_stats(db)["bars"], sorted(m for m in ("numpy", "pandas") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "[]"], out.stdout + out.stderr


def test_the_check_sees_numpy(repo_root):
    out = subprocess.run([sys.executable, "-c", "import sys; from sennot import rules; print('numpy' in sys.modules)"],
                         cwd=repo_root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_loading_a_config_imports_neither_pydantic_nor_numpy(repo_root, tmp_path):
    # Every qtx command loads the config: pydantic's import and schema building cost a third of
    # a second of CPU, numpy's (with OpenBLAS starting threads) as much again.
    cfg = tmp_path / "qtx.yaml"
    cfg.write_text("universe: {symbols: [005930]}\nstrategy: {params: {stop_loss: 0.05}}\n"
                   "profiles: {calm: {risk: {max_positions: 4}}}\nprofile: calm\n", encoding="utf-8")
    code = f"""
import sys
from pipeline.config import ConfigError, from_dict, load
s = load({str(cfg)!r})
try:
    from_dict({{"risk": {{"max_positions": "many"}}}})
except ConfigError as e:
    print(e.key)
print(s.universe.symbols[0], s.risk.max_positions, sorted(m for m in ("numpy", "pandas", "pydantic") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["risk.max_positions", "005930", "4", "[]"], out.stdout + out.stderr
