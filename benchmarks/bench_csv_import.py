"""CSV import: 100 symbols x 2000 bars of generated data into a fresh database, then again."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

N_SYMBOLS, N_BARS = 100, 2000


def write_files(directory: Path, n_symbols: int = N_SYMBOLS, n_bars: int = N_BARS, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2015-01-01", periods=n_bars).strftime("%Y-%m-%d")
    for i in range(n_symbols):
        close = np.round(10_000 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, n_bars))))
        open_ = np.round(close * (1 + rng.normal(0, 0.003, n_bars)))
        high = np.maximum(open_, close) + np.round(close * 0.005)
        low = np.minimum(open_, close) - np.round(close * 0.005)
        vol = rng.integers(1_000, 1_000_000, n_bars)
        pd.DataFrame({"date": dates, "open": open_, "high": high, "low": low, "close": close,
                      "volume": vol}).to_csv(directory / f"B{i:04d}.csv", index=False)


def run() -> dict:
    from db import open_db
    from pipeline.stages.collect import collect_csv
    from pipeline.config import from_dict

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "csv"
        src.mkdir()
        write_files(src)
        settings = from_dict({"database": str(Path(tmp) / "bench.sqlite")})
        db = open_db(settings.db_path, market="krx", mode="paper", create=True)
        t0 = time.perf_counter()
        first = collect_csv(db, settings, src)
        t1 = time.perf_counter()
        second = collect_csv(db, settings, src)
        t2 = time.perf_counter()
        db.close()
    bars = N_SYMBOLS * N_BARS
    assert first["bars_new"] == bars and second["bars_new"] == 0, (first, second)
    return {
        "bars": bars,
        "first_import_s": round(t1 - t0, 3),
        "first_import_bars_per_s": int(bars / (t1 - t0)),
        "reimport_s": round(t2 - t1, 3),
        "reimport_bars_per_s": int(bars / (t2 - t1)),
    }
