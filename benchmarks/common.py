"""What every benchmark shares: CPU time of whole processes (interleaved runs, medians), the
reference unit, generated markets and workspaces, and the figures with their targets.

CPU time (user + system, from ``os.wait4`` of the process itself) rather than wall time: the
machine is shared, and another engineer's tests stretch the wall clock far more than the CPU
time.  Each figure is also given as a ratio to the reference unit, the CPU time of
``tests/reference_impl.py`` (the naive, independent implementation of the trading rules) over a
fixed generated market, measured in the same bench: a ratio holds across machines and loads
where seconds do not.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_US = ROOT.parent / "shared" / "data" / "us"


@dataclass
class Run:
    cpu_s: float
    maxrss_mb: float
    stdout: str


def run_process(args: list[str], cwd: Path = ROOT, env: dict | None = None, stdin: str | None = None) -> Run:
    """One process to its end: its own CPU time and peak memory (not the bench's)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("QTX_CONFIG",)}
    full_env.update(env or {})
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(args, cwd=cwd, env=full_env, stdout=out, stderr=err,
                             stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, args))} exited {p.returncode}: "
                               f"{err.read().decode(errors='replace')[-2000:]}")
        # ru_maxrss is in KiB on Linux, bytes on macOS
        rss = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
        return Run(usage.ru_utime + usage.ru_stime, rss, out.read().decode(errors="replace"))


def qtx(*args: str) -> list[str]:
    exe = Path(sys.executable).parent / "qtx"
    if exe.exists():
        return [str(exe), *map(str, args)]
    return [sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())", *map(str, args)]


def medians(jobs: dict[str, list[str]], repeat: int) -> dict[str, Run]:
    """Each job ``repeat`` times, interleaved (a, b, c, a, b, c, ...): the median CPU time and
    the largest peak memory of each."""
    runs: dict[str, list[Run]] = {k: [] for k in jobs}
    for _ in range(repeat):
        for name, args in jobs.items():
            runs[name].append(run_process(args))
    return {k: Run(statistics.median(r.cpu_s for r in v), max(r.maxrss_mb for r in v), v[-1].stdout)
            for k, v in runs.items()}


# ---------------------------------------------------------------------------- the reference unit

REF_SYMBOLS, REF_DAYS = 24, 600
_REF_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
from benchmarks.common import REF_DAYS, REF_SYMBOLS, market_frames
from tests.reference_impl import run_reference
frames = market_frames(REF_SYMBOLS, REF_DAYS, seed=4)
bars = {s: [dict(zip(("date", "open", "high", "low", "close", "volume"), row)) for row in zip(*cols)]
        for s, cols in frames.items()}
trades, equity = run_reference(bars, {})
print(len(trades), len(equity))
"""


def reference_unit() -> float:
    """CPU seconds of the naive reference backtest over a fixed generated market (24 symbols
    x 600 days), in a fresh interpreter."""
    return run_process([sys.executable, "-c", _REF_SCRIPT, str(ROOT)]).cpu_s


# ---------------------------------------------------------------------------- generated markets

def market_frames(n_symbols: int, n_days: int, seed: int = 1,
                  start: str = "2015-01-01") -> dict[str, tuple[list, ...]]:
    """``symbol -> (dates, open, high, low, close, volume)`` on business days, seeded: integer
    prices around 10,000 (so exact ties happen), a random walk with a small drift."""
    rng = np.random.default_rng(seed)
    first = np.datetime64(start, "D")
    days = np.arange(first, first + int(n_days * 1.5) + 10)
    days = days[np.is_busday(days)][:n_days].astype(str).tolist()
    out = {}
    for i in range(n_symbols):
        close = np.round(10_000 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, n_days))))
        open_ = np.round(close * (1 + rng.normal(0, 0.003, n_days)))
        high = np.maximum(open_, close) + np.round(close * 0.005)
        low = np.minimum(open_, close) - np.round(close * 0.005)
        vol = rng.integers(1_000, 1_000_000, n_days).astype(float)
        out[f"B{i:04d}"] = (days, open_.tolist(), high.tolist(), low.tolist(), close.tolist(), vol.tolist())
    return out


def write_market(directory: Path, n_symbols: int, n_days: int, seed: int = 1) -> int:
    """Write a generated market as ``<SYMBOL>.csv`` files; returns the number of bars."""
    directory.mkdir(parents=True, exist_ok=True)
    for sym, (days, o, h, lo, c, v) in market_frames(n_symbols, n_days, seed).items():
        rows = "\n".join(f"{d},{a:.0f},{b:.0f},{e:.0f},{f:.0f},{g:.0f}" for d, a, b, e, f, g in zip(days, o, h, lo, c, v))
        (directory / f"{sym}.csv").write_text("date,open,high,low,close,volume\n" + rows + "\n", encoding="utf-8")
    return n_symbols * n_days


@dataclass
class Workspace:
    root: Path
    config: Path
    bars: int = 0


def workspace(root: Path, csv_dir: Path | None = None, name: str = "ws") -> Workspace:
    """A paper KRX workspace (config and database), with ``csv_dir`` imported when given."""
    from db import open_db
    from pipeline.config import load

    root = root / name
    root.mkdir(parents=True, exist_ok=True)
    cfg = root / "qtx.yaml"
    cfg.write_text(f"database: {root / 'qtx.sqlite'}\nmarket: krx\n", encoding="utf-8")
    s = load(cfg)
    open_db(s.db_path, market="krx", mode="paper", create=True, capital=s.capital).close()
    ws = Workspace(root, cfg)
    if csv_dir is not None:
        run_process(qtx("--config", cfg, "collect", "--source", "csv", "--path", csv_dir, "--json"))
    return ws


# ---------------------------------------------------------------------------- figures

@dataclass
class Figure:
    """One measured figure: ``value`` in ``unit``, with the issue's target when there is one.
    ``cpu_s``: the CPU seconds the ratio to the reference unit is taken of."""

    name: str
    value: float
    unit: str
    target: float | None = None
    cpu_s: float | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    def ratio(self, ref_s: float) -> float | None:
        return None if self.cpu_s is None else self.cpu_s / ref_s

    def met(self) -> str:
        if self.target is None:
            return ""
        return "yes" if self.value <= self.target else "NO"


def print_figures(figures: list[Figure], ref_s: float) -> None:
    print(f"\n  reference unit: tests/reference_impl.py over {REF_SYMBOLS} x {REF_DAYS} generated bars"
          f" = {ref_s:.3f} CPU s (ratio = figure's CPU seconds / reference unit)")
    print(f"  {'figure':<52} {'measured':>12} {'target':>10} {'met':>4} {'ratio':>8}")
    for f in figures:
        r = f.ratio(ref_s)
        target = "" if f.target is None else f"<= {f.target:g}"
        print(f"  {f.name:<52} {f.value:>9.3f} {f.unit:<2} {target:>10} {f.met():>4} "
              f"{'' if r is None else f'{r:.4f}':>8}" + (f"  {f.note}" if f.note else ""))
