"""CSV import of 100 symbols x 2,000 generated days into a fresh database, then again (nothing
new): CPU per bar inside one process (the 2,000 x 2,000 figure is in ``bench_scale``)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Figure, write_market

N_SYMBOLS, N_BARS = 100, 2000


def write_files(directory: Path, n_symbols: int = N_SYMBOLS, n_bars: int = N_BARS, seed: int = 1) -> int:
    return write_market(directory, n_symbols, n_bars, seed)


def run() -> list[Figure]:
    from db import open_db
    from pipeline.config import from_dict
    from pipeline.stages.collect import collect_csv

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "csv"
        bars = write_files(src)
        settings = from_dict({"database": str(Path(tmp) / "bench.sqlite")})
        db = open_db(settings.db_path, market="krx", mode="paper", create=True)
        t0 = time.process_time()
        first = collect_csv(db, settings, src)
        t1 = time.process_time()
        second = collect_csv(db, settings, src)
        t2 = time.process_time()
        db.close()
    assert first["rows_read"] == bars and second["bars_new"] == 0, (first, second)
    return [Figure("CSV import, 100 x 2,000, first (in-process)", (t1 - t0) / bars * 1e6, "us", None, t1 - t0,
                   "per bar"),
            Figure("  again, nothing new (in-process)", (t2 - t1) / bars * 1e6, "us", None, t2 - t1, "per bar")]


if __name__ == "__main__":
    from benchmarks.run import main

    sys.exit(main(["csv_import"]))
