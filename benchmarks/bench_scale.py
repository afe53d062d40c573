"""2,000 symbols x 2,000 generated days: the CSV import (CPU per bar of the whole `qtx collect`
process), the backtest (CPU and peak memory), and status on 4 million bars."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from benchmarks.common import Figure, medians, qtx, run_process, workspace, write_market

N_SYMBOLS, N_DAYS = 2000, 2000
REPEAT = 3


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bars = write_market(tmp / "csv", N_SYMBOLS, N_DAYS)
        ws = workspace(tmp)
        collect = qtx("--config", ws.config, "collect", "--source", "csv", "--path", tmp / "csv", "--json")
        first = run_process(collect)
        again = run_process(collect)
        got = medians({"backtest": qtx("--config", ws.config, "backtest", "--json"),
                       "status": qtx("--config", ws.config, "status", "--json")}, REPEAT)
    bt = got["backtest"]
    return [
        Figure("CSV import, 2,000 x 2,000, first", first.cpu_s / bars * 1e6, "us", 8.0, first.cpu_s,
               "per bar"),
        Figure("  CSV import again (nothing new)", again.cpu_s / bars * 1e6, "us", None, again.cpu_s, "per bar"),
        Figure("qtx backtest, 2,000 x 2,000", bt.cpu_s, "s", 8.0, bt.cpu_s),
        Figure("  its peak memory", bt.maxrss_mb, "MB", 1024.0),
        Figure("  qtx status on these 4,000,000 bars, cold", got["status"].cpu_s, "s", None, got["status"].cpu_s),
    ]


if __name__ == "__main__":
    from benchmarks.run import main

    sys.exit(main(["scale"]))
