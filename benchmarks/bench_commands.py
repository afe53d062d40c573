"""The scheduled commands, cold (a new process each time): ``qtx --help``, ``qtx status`` and
``qtx signal`` on 100 symbols x 2,000 generated days."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from benchmarks.common import Figure, medians, qtx, workspace, write_market

REPEAT = 5


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_market(tmp / "csv", 100, 2000)
        ws = workspace(tmp, tmp / "csv")
        last = json.loads(medians({"status": qtx("--config", ws.config, "status", "--json")}, 1)["status"].stdout)
        asof = last["data"]["last_date"]
        got = medians({
            "help": qtx("--help"),
            "status": qtx("--config", ws.config, "status", "--json"),
            "signal": qtx("--config", ws.config, "signal", "--asof", asof, "--json"),
        }, REPEAT)
    return [
        Figure("qtx --help, cold", got["help"].cpu_s, "s", 0.3, got["help"].cpu_s),
        Figure("qtx status, cold (100 x 2,000 bars)", got["status"].cpu_s, "s", 0.3, got["status"].cpu_s),
        Figure("qtx signal, 100 symbols", got["signal"].cpu_s, "s", 0.4, got["signal"].cpu_s),
    ]


if __name__ == "__main__":
    from benchmarks.run import main

    sys.exit(main(["commands"]))
