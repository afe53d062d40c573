"""The tolerance rule lives only in ``sennot/numeric.py``: no other module of qtx compares with
a hand-written tolerance (``tests/reference_impl.py`` is an independent implementation on
purpose and is not scanned)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("brokers", "risk", "pipeline", "sennot", "db", "control", "cli", "launchd")
# A float literal small enough to be a tolerance: 1e-6 .. 1e-15.
TOLERANCE = re.compile(r"(?<![\w.])\d*\.?\d+e-(?:0?[6-9]|1[0-5])\b")
# Sites whose owner is routing them through sennot.numeric (remove an entry when it is done).
PENDING: dict[str, int] = {}


def _hits() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "sennot/numeric.py":
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                code = line.split("#", 1)[0]
                if TOLERANCE.search(code):
                    out.setdefault(rel, []).append(f"{rel}:{n}: {line.strip()}")
    return out


def test_no_tolerance_outside_sennot_numeric():
    hits = _hits()
    pending = {k: len(v) for k, v in hits.items() if k in PENDING}
    assert pending == {k: n for k, n in PENDING.items() if k in hits}, pending
    rest = [h for k, v in hits.items() if k not in PENDING for h in v]
    assert not rest, "use sennot.numeric (eq/gt/..., same_qty, floor_to_lot, ceil_to_lot):\n" + "\n".join(rest)


def test_the_scan_finds_a_tolerance():
    assert TOLERANCE.search("if abs(a - b) <= 1e-9 * max(a, b):")
    assert TOLERANCE.search("x >= q - 1e-12") and TOLERANCE.search("tol = 1.5e-07")
    assert not TOLERANCE.search("timeout = 1e3") and not TOLERANCE.search("name_1e-9x = 0")
