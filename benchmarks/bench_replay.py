"""``qtx replay --source csv`` over the last 10 dates of 56 US files (generated when
``../shared/data/us`` is absent): how often each file is read, and CPU per replayed date."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import ROOT, SHARED_US, Figure, workspace, write_market

DATES = 10
# `qtx replay` in one process, counting the reads of each file (printed last on stderr).
DRIVER = """
import json, sys
from collections import Counter
from pipeline.feeds import csv_bars
reads = Counter()
real = csv_bars.read_file
def counting(path, symbol=None):
    reads[str(path)] += 1
    return real(path, symbol)
csv_bars.read_file = counting
from cli.main import run
sys.argv = ["qtx", *sys.argv[1:]]
if run():
    sys.exit(1)
print(json.dumps({"max_reads": max(reads.values()), "files": len(reads)}), file=sys.stderr)
"""


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = SHARED_US
        if not src.is_dir():
            src = tmp / "csv"
            write_market(src, 56, 4277)
        days = [ln.split(",")[0] for ln in sorted(src.glob("[A-Z]*.csv"))[0].read_text().splitlines()[1:]]
        many = _replay(workspace(tmp, name="many").config, src, days[-DATES])
        one = _replay(workspace(tmp, name="one").config, src, days[-1])  # the first date's import alone
    per_date = (many["cpu_s"] - one["cpu_s"]) / (DATES - 1)
    return [
        Figure(f"qtx replay --source csv, {DATES} dates: reads of each file", many["max_reads"], "", 1.0,
               None, f"{many['files']} files"),
        Figure("  CPU per replayed date after the first", per_date, "s", None, per_date),
    ]


def _replay(config: Path, src: Path, start: str) -> dict:
    p = subprocess.Popen([sys.executable, "-c", DRIVER, "--config", str(config), "replay", "--source", "csv",
                          "--path", str(src), "--start", start, "--json"], cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env={k: v for k, v in os.environ.items() if k != "QTX_CONFIG"})
    err = p.stderr.read().decode()
    _, status, usage = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"replay failed: {err[-2000:]}")
    out = json.loads(err.strip().splitlines()[-1])
    out["cpu_s"] = usage.ru_utime + usage.ru_stime
    return out


if __name__ == "__main__":
    from benchmarks.run import main

    sys.exit(main(["replay"]))
