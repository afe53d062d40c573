"""Discover ``benchmarks/bench_*.py`` modules and print their numbers.

Each module defines ``run() -> dict[str, float | int | str]`` (name -> measured value; put the
unit in the name, e.g. ``bars_per_s``).  ``python -m benchmarks [NAME ...]`` runs all or those
whose module name contains one of the given words; ``--json`` prints one JSON document.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
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
    results: dict[str, dict] = {}
    for name in discover():
        if words and not any(w in name for w in words):
            continue
        mod = importlib.import_module(f"benchmarks.{name}")
        t0 = time.perf_counter()
        numbers = mod.run()
        numbers["total_s"] = round(time.perf_counter() - t0, 3)
        results[name] = numbers
        if not as_json:
            print(f"{name}:")
            for k, v in numbers.items():
                print(f"  {k:<28} {v}")
    if as_json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
