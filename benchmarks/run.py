"""Discover ``benchmarks/bench_*.py`` modules, run them, print their figures against targets.

Each module defines ``run() -> list[Figure]`` (``benchmarks.common``).  ``python -m benchmarks
[NAME ...]`` runs all, or those whose module name contains one of the given words; ``--json``
prints one JSON document instead of the table.  The reference unit (the naive reference
backtest, ``tests/reference_impl.py``) is measured before each module and at the end; every
figure's ratio is taken to their median, so a load that comes and goes during the bench
weighs on both.  Nothing here asserts on time.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))


def main(argv: list[str] | None = None) -> int:
    argv = list(argv or [])
    as_json = "--json" in argv
    words = [a for a in argv if not a.startswith("-")]
    if str(HERE.parent) not in sys.path:
        sys.path.insert(0, str(HERE.parent))
    from benchmarks.common import print_figures, reference_unit

    refs: list[float] = []
    figures = []
    for name in discover():
        if words and not any(w in name for w in words):
            continue
        refs.append(reference_unit())
        mod = importlib.import_module(f"benchmarks.{name}")
        t0 = time.perf_counter()
        got = mod.run()
        if not as_json:
            print(f"{name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        figures.extend(got)
    refs.append(reference_unit())
    ref_s = statistics.median(refs)
    if as_json:
        print(json.dumps({"reference_unit_s": ref_s, "figures": [
            {"name": f.name.strip(), "value": f.value, "unit": f.unit, "target": f.target,
             "cpu_s": f.cpu_s, "ratio": f.ratio(ref_s), "note": f.note} for f in figures]}, indent=2))
    else:
        print_figures(figures, ref_s)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
