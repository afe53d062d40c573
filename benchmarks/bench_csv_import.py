"""CSV import of 100 symbols x 2,000 generated days into a fresh database (a bulk import: one
transaction, the date index built once at its end), then again (nothing new), then 50 more
symbols into that database (no bulk: batched, the date index kept row by row): CPU per bar
inside one process (the 2,000 x 2,000 figure of a whole process is in ``bench_scale``)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Figure, write_market

N_SYMBOLS, N_BARS, N_MORE = 100, 2000, 50


def write_files(directory: Path, n_symbols: int = N_SYMBOLS, n_bars: int = N_BARS, seed: int = 1) -> int:
    return write_market(directory, n_symbols, n_bars, seed)


def run() -> list[Figure]:
    from db import open_db
    from pipeline.config import from_dict
    from pipeline.stages.collect import collect_csv

    with tempfile.TemporaryDirectory() as tmp:
        src, more = Path(tmp) / "csv", Path(tmp) / "more"
        bars = write_files(src)
        # other symbols (seed 2 names them the same: keep the last N_MORE of a larger market)
        more_bars = write_files(more, N_SYMBOLS + N_MORE, N_BARS, seed=2)
        for p in sorted(more.glob("*.csv"))[:N_SYMBOLS]:
            p.unlink()
        more_bars -= N_SYMBOLS * N_BARS
        settings = from_dict({"database": str(Path(tmp) / "bench.sqlite")})
        db = open_db(settings.db_path, market="krx", mode="paper", create=True)
        t0 = time.process_time()
        first = collect_csv(db, settings, src)
        t1 = time.process_time()
        second = collect_csv(db, settings, src)
        t2 = time.process_time()
        third = collect_csv(db, settings, more)
        t3 = time.process_time()
        db.close()
    assert first["rows_read"] == bars and second["bars_new"] == 0 and third["rows_read"] == more_bars, \
        (first, second, third)
    return [Figure("CSV import, 100 x 2,000, first (in-process)", (t1 - t0) / bars * 1e6, "us", None, t1 - t0,
                   "per bar; bulk"),
            Figure("  again, nothing new (in-process)", (t2 - t1) / bars * 1e6, "us", None, t2 - t1, "per bar"),
            Figure("  50 more symbols into it (in-process)", (t3 - t2) / more_bars * 1e6, "us", None, t3 - t2,
                   "per bar; batched")]


if __name__ == "__main__":
    from benchmarks.run import main

    sys.exit(main(["csv_import"]))
