"""The CSV import's bulk path (a first import: one transaction, the date index built once at
its end) stores exactly what the batched path stores, bit for bit, and exactly the files'
numbers (read here independently, with ``csv`` and ``float``); killed at any point, it leaves
the database as it was, date index included, and a rerun imports everything once."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import pipeline.stages.collect as collect_mod
from db import bar_blocks as blocks
from db import bars as bars_db
from pipeline.stages.collect import collect_csv
from tests.paper_world import make_world


def _rows(db) -> list[tuple]:
    """Every stored bar, floats as their bits (so -0.0 and 0.0, or two NaNs, never compare equal
    by accident)."""
    rows = db.conn.execute("SELECT symbol, date, open, high, low, close, volume, source FROM bars "
                           "ORDER BY symbol, date").fetchall()
    return [(s, d, *np.array(v, dtype=float).view(np.int64).tolist(), src) for s, d, *v, src in rows]


def _blocks(db) -> dict[str, bytes]:
    return {s: np.ascontiguousarray(c).tobytes() for s, c in blocks.read_columns(db.conn).items()}


def _index_sql(path: Path) -> str | None:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'bars_date'").fetchone()
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return row[0] if row else None
    finally:
        conn.close()


def _file_rows(folder: Path) -> dict[tuple[str, str], tuple[float, ...]]:
    """``(symbol, date) -> (open, high, low, close, volume)`` of each file's first row of a date,
    read with ``csv`` and ``float`` (not the importer's reader)."""
    out: dict[tuple[str, str], tuple[float, ...]] = {}
    for p in sorted(folder.glob("*.csv")):
        if p.name == "sectors.csv":
            continue
        with p.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
        header = [h.strip().lower() for h in rows[0]]
        at = [header.index(c) for c in ("date", "open", "high", "low", "close", "volume")]
        for r in rows[1:]:
            if r:
                out.setdefault((p.stem, r[at[0]]), tuple(float(r[k]) for k in at[1:]))
    return out


def _assert_rows_are_the_files(db, folder: Path) -> None:
    want = _file_rows(folder)
    stored = db.conn.execute("SELECT symbol, date, open, high, low, close, volume FROM bars").fetchall()
    assert stored
    for s, d, *v in stored:
        assert np.array_equal(np.array(v).view(np.int64), np.array(want[(s, d)]).view(np.int64)), (s, d)


def _import(tmp_path, folder: Path, name: str, settings, monkeypatch, bulk: bool):
    from db import open_db

    monkeypatch.setattr(collect_mod, "BULK_MIN_ROWS", 1 if bulk else 10**12)
    path = tmp_path / name
    db = open_db(path, market=settings.market, mode=settings.mode, create=True, capital=settings.capital)
    seen: list[bool] = []
    real = collect_mod._bulk
    monkeypatch.setattr(collect_mod, "_bulk", lambda *a: seen.append(real(*a)) or seen[-1])
    summary = collect_csv(db, settings, folder)
    assert seen == [bulk]
    return db, summary, path


def _same_both_ways(tmp_path, folder: Path, settings, monkeypatch) -> None:
    a, sa, pa = _import(tmp_path, folder, "bulk.sqlite", settings, monkeypatch, bulk=True)
    b, sb, pb = _import(tmp_path, folder, "batched.sqlite", settings, monkeypatch, bulk=False)
    try:
        assert sa == sb
        assert _rows(a) == _rows(b)
        assert _blocks(a) == _blocks(b)
        assert _index_sql(pa) == _index_sql(pb) is not None
        _assert_rows_are_the_files(a, folder)
        # the blocks are the rows
        for s, cols in blocks.read_columns(a.conn).items():
            rows = bars_db.read_bar_arrays(a, s)
            assert np.array_equal(cols[blocks.CLOSE].view(np.int64), np.asarray(rows["close"]).view(np.int64))
        # importing again adds nothing, by either path
        assert collect_csv(a, settings, folder)["bars_new"] == 0
    finally:
        a.close()
        b.close()


def test_bulk_and_batched_imports_store_the_same_bits(tmp_path, monkeypatch):
    world = make_world(tmp_path / "w", n_symbols=8, n_days=300)
    _same_both_ways(tmp_path, world.csv_dir, world.settings, monkeypatch)


def test_bulk_import_of_the_published_files(tmp_path, shared_data, monkeypatch):
    import shutil

    from pipeline.config import from_dict

    src = tmp_path / "csv"
    src.mkdir()
    for sub in ("us", "krx"):
        for p in sorted((shared_data / sub).glob("*.csv"))[::5]:
            if p.name != "sectors.csv":
                shutil.copy(p, src / p.name)
    settings = from_dict({"database": str(tmp_path / "unused.sqlite"), "market": "krx"})
    _same_both_ways(tmp_path, src, settings, monkeypatch)


def test_a_failed_bulk_import_leaves_nothing_and_keeps_the_index(tmp_path, monkeypatch):
    world = make_world(tmp_path / "w", n_symbols=6, n_days=200)
    monkeypatch.setattr(collect_mod, "BULK_MIN_ROWS", 1)
    db = world.db()
    real = collect_mod.parse_file
    names = sorted(p.name for p in world.csv_dir.glob("*.csv") if p.name != "sectors.csv")

    def flaky(path, **kw):
        if path.name == names[3]:
            raise OSError("disk went away")
        return real(path, **kw)

    monkeypatch.setattr(collect_mod, "parse_file", flaky)
    with pytest.raises(OSError):
        collect_csv(db, world.settings, world.csv_dir)
    assert not db.conn.in_transaction
    assert db.scalar("SELECT COUNT(*) FROM bars") == 0
    assert _index_sql(world.settings.db_path)
    monkeypatch.setattr(collect_mod, "parse_file", real)
    s = collect_csv(db, world.settings, world.csv_dir)
    assert s["bars_new"] == s["rows_read"] - s["skipped_total"] == db.scalar("SELECT COUNT(*) FROM bars") > 0
    db.close()


def test_an_import_into_a_full_database_is_no_bulk(tmp_path):
    world = make_world(tmp_path / "w", n_symbols=4, n_days=300)
    db = world.db()
    try:
        assert collect_mod._bulk(db, {"A": 20_000})
        collect_csv(db, world.settings, world.csv_dir, asof=world.dates[-2])
        stored = sum(bars_db.bar_counts(db).values())
        assert stored == db.scalar("SELECT COUNT(*) FROM bars")
        # the same files again (one new day each), or a new symbol smaller than what is stored
        assert not collect_mod._bulk(db, {f"S{i}": 300 for i in range(4)})
        assert not collect_mod._bulk(db, {"NEW": stored - 1})
        assert collect_mod._bulk(db, {"NEW": max(stored, collect_mod.BULK_MIN_ROWS)})
    finally:
        db.close()


@pytest.mark.parametrize("fault", ["collect:after_file", "collect:before_commit"])
def test_a_bulk_import_killed_anywhere_leaves_the_database_as_it_was(tmp_path, qtx_bin, fault):
    # 12 x 900 bars: above BULK_MIN_ROWS, so the real process takes the bulk path
    world = make_world(tmp_path / "w", n_symbols=12, n_days=900)
    assert 12 * 900 >= collect_mod.BULK_MIN_ROWS
    world.db().close()
    killed = world.qtx(qtx_bin, "collect", "--source", "csv", "--path", str(world.csv_dir),
                       env={"QTX_FAULT": fault}, check=False)
    assert killed.returncode == -9, killed.stderr
    db = world.db()
    try:
        assert db.scalar("SELECT COUNT(*) FROM bar_rows") == 0
        assert db.scalar("SELECT COUNT(*) FROM bar_blocks") == 0
        assert _index_sql(world.settings.db_path)
        import json

        out = json.loads(world.qtx(qtx_bin, "collect", "--source", "csv", "--path", str(world.csv_dir),
                                   "--json").stdout)
        assert out["bars_new"] == out["rows_read"] - out["skipped_total"] == \
            db.scalar("SELECT COUNT(*) FROM bars") > 10_000
        _assert_rows_are_the_files(db, world.csv_dir)
        assert _index_sql(world.settings.db_path)
        plan = db.conn.execute("EXPLAIN QUERY PLAN SELECT 1 FROM bars WHERE date = ? LIMIT 1",
                               ("2024-01-02",)).fetchall()
        assert "bars_date" in str(plan)
    finally:
        db.close()


def test_the_next_days_import_into_a_full_database_is_no_bulk(tmp_path, qtx_db, qtx_settings, monkeypatch):
    """Files whose early lines are short and late ones long (prices that grew): the plan counts
    their lines, so one new day per file is no bulk import."""
    days = np.arange(np.datetime64("1990-01-01"), np.datetime64("2024-12-31"))
    days = days[np.is_busday(days)][-6_001:].astype(str).tolist()
    src = tmp_path / "csv"
    src.mkdir()

    def write(n: int) -> None:
        for sym in ("AAA", "BBB"):
            rows = [f"{d},{p},{p},{p},{p},{i}" for i, d in enumerate(days[:n])
                    for p in [1 if i < n // 2 else 123456.125]]
            (src / f"{sym}.csv").write_text("date,open,high,low,close,volume\n" + "\n".join(rows) + "\n")

    seen: list[bool] = []
    real = collect_mod._bulk
    monkeypatch.setattr(collect_mod, "_bulk", lambda *a: seen.append(real(*a)) or seen[-1])
    write(6_000)
    first = collect_csv(qtx_db, qtx_settings, src)
    write(6_001)
    second = collect_csv(qtx_db, qtx_settings, src)
    assert seen == [True, False]
    assert second["bars_new"] + second["skipped_total"] - first["skipped_total"] == 2  # one day each
    assert qtx_db.scalar("SELECT COUNT(*) FROM bars") == first["bars_new"] + second["bars_new"]
