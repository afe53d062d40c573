"""``python -m tests.soak --days 30 --seed 1`` (``make soak DAYS=30 SEED=1``): run the soak,
print the one-screen summary, write ``summary.json`` beside the run's databases; exit 1 when a
check fails."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.soak.checks import summary_text
from tests.soak.driver import Soak, default_dir


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    p.add_argument("--days", type=int, default=30, help="trading days to simulate (at least 2)")
    p.add_argument("--seed", type=int, default=1, help="the seed the faults are drawn from")
    p.add_argument("--dir", type=Path, default=None,
                   help=f"where the run's files go (default: $SOAK_DIR, else {default_dir()})")
    p.add_argument("--synthetic", action="store_true",
                   help="use the synthetic market even when shared/data/krx is present")
    p.add_argument("--exec", action="store_true",
                   help="start every job as the installed qtx script (slower) instead of forking it "
                        "from a warmed-up parent")
    a = p.parse_args(argv)
    if a.days < 2:
        p.error("--days: at least 2")
    soak = Soak(a.days, a.seed, a.dir, prefer_real=not a.synthetic,
                log=lambda m: print(m, file=sys.stderr), fork=not a.exec)
    result = soak.run()
    print(summary_text(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
