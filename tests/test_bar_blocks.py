"""Bars kept as per-symbol column blocks (schema 3): whatever writes the bars, and however,
every reader sees exactly the stored rows.

The checker is the row table itself: ``rows_of`` reads ``bar_rows`` with plain SQL, and each
test compares the block readers against it after inserts, raw SQL writes through the ``bars``
view, updates, deletes and a migration from schema 2."""

from __future__ import annotations

import sqlite3
from collections import Counter

import numpy as np
import pytest

from db import bar_blocks as blocks
from db import bars as bars_db
from db import market as market_db
from db.core import connect
from db.schema import MIGRATIONS, migrate
from pipeline.config import from_dict
from pipeline.history import load_market, load_recent_market
from pipeline.stages.collect import collect


def rows_of(db, symbol=None) -> dict[str, np.ndarray]:
    """``symbol -> (6, n)`` straight from the rows: the truth the blocks must match."""
    sql = "SELECT symbol, date, open, high, low, close, volume FROM bar_rows"
    params: tuple = ()
    if symbol:
        sql, params = sql + " WHERE symbol = ?", (symbol,)
    out: dict[str, list] = {}
    for r in db.conn.execute(sql + " ORDER BY symbol, date", params):
        out.setdefault(r[0], []).append(r[1:])
    return {s: blocks.columns_from_rows(rs) for s, rs in out.items()}


def old_stats(db) -> dict:
    """bar_stats as it was computed before blocks: a scan of every bar."""
    row = db.conn.execute("SELECT COUNT(DISTINCT symbol), COUNT(*), MIN(date), MAX(date) FROM bar_rows").fetchone()
    sources = dict(db.conn.execute("SELECT source, COUNT(*) FROM bar_rows GROUP BY source ORDER BY source"))
    return {"symbols": row[0], "bars": row[1], "first_date": row[2], "last_date": row[3], "sources": sources}


def assert_blocks_match(db) -> None:
    truth = rows_of(db)
    got = market_db.bar_columns(db)
    assert list(got) == sorted(truth)
    for s, cols in truth.items():
        assert np.array_equal(got[s], cols), s
    assert bars_db.bar_stats(db) == old_stats(db)
    assert bars_db.symbols(db) == sorted(truth)


def _dates(n: int, start: str = "2019-12-20") -> list[str]:
    return [str(d) for d in np.arange(np.datetime64(start), np.datetime64(start) + n)]


def _rows(dates, base: float = 100.0):
    return [(d, base + i, base + i + 1, base + i - 1, base + i + 0.5, 1000.0 + i) for i, d in enumerate(dates)]


def test_day_numbers_round_trip_and_real_dates():
    texts = ["1999-12-31", "2000-02-29", "2024-01-02", "9999-12-31"]
    days = blocks.day_numbers(texts)
    assert days.tolist() == [19991231, 20000229, 20240102, 99991231]
    assert blocks.date_texts(days).tolist() == texts
    assert blocks.real_days(np.array([20240229, 20230229, 21000229, 20000229, 20240431, 20241301, 20240100])
                            ).tolist() == [True, False, False, True, False, False, False]


def test_inserts_across_years_keep_blocks_equal_to_rows(qtx_db):
    db = qtx_db
    dates = _dates(40)  # spans 2019 and 2020
    assert bars_db.insert_bars(db, "A", _rows(dates[10:30])) == 20
    # out of order, overlapping, a duplicate date in the input (its first row wins), new years
    more = _rows(dates[25:40], base=500.0)[::-1] + _rows(dates[:12], base=300.0)
    more.append((dates[0], 1, 1, 1, 1, 1))
    assert bars_db.insert_bars(db, "A", more) == 10 + 10
    assert bars_db.insert_bars(db, "B", _rows(dates[5:8]), source="synthetic") == 3
    assert_blocks_match(db)
    a = rows_of(db, "A")["A"]
    assert a[blocks.CLOSE, 0] == 300.5  # dates[0] from the first row given for it
    assert a[blocks.CLOSE, 10] == 100.5  # a stored bar is kept, not overwritten by 300 + 10
    assert bars_db.insert_bars(db, "A", _rows(dates)) == 0
    assert db.scalar("SELECT COUNT(*) FROM bar_blocks WHERE stale = 1") == 0


def test_mixed_sources_in_one_block_are_counted_by_source(qtx_db):
    dates = _dates(6, "2024-03-01")
    bars_db.insert_bars(qtx_db, "A", _rows(dates[:3]), source="csv")
    bars_db.insert_bars(qtx_db, "A", _rows(dates[3:]), source="kiwoom")
    assert qtx_db.scalar("SELECT source FROM bar_blocks WHERE symbol = 'A'") is None
    assert bars_db.bar_stats(qtx_db)["sources"] == {"csv": 3, "kiwoom": 3}
    assert_blocks_match(qtx_db)


def test_writes_through_the_bars_view_are_seen_and_rebuilt(qtx_db):
    db = qtx_db
    dates = _dates(30, "2023-12-15")
    bars_db.insert_bars(db, "A", _rows(dates))
    bars_db.insert_bars(db, "B", _rows(dates[:5]))
    db.conn.execute("INSERT INTO bars VALUES ('C', '2024-01-03', 1, 2, 0.5, 1.5, 10, 'manual')")
    db.conn.execute("INSERT INTO bars(symbol, date, open, high, low, close, volume) "
                    "VALUES ('A', '2025-06-02', 9, 9, 9, 9, 9)")  # the source defaults to csv
    db.conn.execute("UPDATE bars SET close = 77 WHERE symbol = 'A' AND date = ?", (dates[3],))
    db.conn.execute("DELETE FROM bars WHERE symbol = 'B'")
    db.conn.execute("DELETE FROM bars WHERE symbol = 'A' AND date = ?", (dates[-1],))
    assert db.scalar("SELECT COUNT(*) FROM bar_blocks WHERE stale = 1") > 0
    assert_blocks_match(db)  # readers take stale blocks from their rows
    assert market_db.bar_sources(db) == ["csv", "manual"]
    assert bars_db.refresh_blocks(db) > 0
    assert db.scalar("SELECT COUNT(*) FROM bar_blocks WHERE stale = 1") == 0
    assert db.scalar("SELECT COUNT(*) FROM bar_blocks WHERE symbol = 'B'") == 0
    assert_blocks_match(db)
    assert bars_db.refresh_blocks(db) == 0


def test_rows_written_around_the_blocks_are_repaired_on_the_next_insert(qtx_db):
    db = qtx_db
    dates = _dates(10, "2024-05-01")
    bars_db.insert_bars(db, "A", _rows(dates[:5]))
    # bypassing both the view and insert_bars: the blocks cannot know
    db.conn.execute("INSERT INTO bar_rows VALUES ('A', ?, 1, 1, 1, 1, 1, 'csv')", (dates[6],))
    assert bars_db.insert_bars(db, "A", _rows(dates)) == 4  # dates[6] was already stored
    assert_blocks_match(db)


def test_a_schema_2_database_migrates_with_its_bars(tmp_path):
    path = tmp_path / "v2.sqlite"
    conn = connect(path)
    migrate(conn, MIGRATIONS[:2])
    rows = [("A", d, 1.0 + i, 2.0 + i, 0.5, 1.5 + i, 10.0, "csv") for i, d in enumerate(_dates(700, "2022-06-01"))]
    conn.executemany("INSERT INTO bars VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.close()
    from db import open_db

    db = open_db(path, market="krx", mode="paper")
    assert db.schema_version == len(MIGRATIONS)
    assert db.scalar("SELECT COUNT(*) FROM bar_blocks WHERE stale = 1") == 3  # 2022, 2023, 2024
    assert_blocks_match(db)
    # the next collect, whatever it brings, rebuilds them
    src = tmp_path / "csv"
    src.mkdir()
    (src / "B.csv").write_text("date,open,high,low,close,volume\n2024-01-02,1,1,1,1,1\n")
    collect(db, from_dict({"database": str(path)}), source="csv", path=src)
    assert db.scalar("SELECT COUNT(*) FROM bar_blocks WHERE stale = 1") == 0
    assert_blocks_match(db)
    db.close()


@pytest.mark.parametrize("stale", [False, True])
def test_recent_columns_are_the_last_bars_of_the_full_history(qtx_db, stale):
    db = qtx_db
    dates = _dates(900, "2021-03-01")
    bars_db.insert_bars(db, "A", _rows(dates))
    bars_db.insert_bars(db, "B", _rows(dates[::7]))    # sparse: needs more years for the same count
    bars_db.insert_bars(db, "C", _rows(dates[800:]))   # young
    if stale:
        db.conn.execute("UPDATE bars SET volume = 5 WHERE date = ?", (dates[500],))
    full = market_db.bar_columns(db)
    for end in (dates[499], dates[650], dates[-1], "2021-02-01"):
        for n, since in ((5, None), (60, None), (3, dates[300])):
            got = market_db.recent_bar_columns(db, end, n, since)
            last = blocks.day_numbers([end])[0]
            first_keep = blocks.day_numbers([since])[0] if since else None
            want = {}
            for s, c in full.items():
                c = c[:, c[blocks.DAY] <= last]
                keep = np.zeros(c.shape[1], dtype=bool)
                keep[max(0, c.shape[1] - n):] = True
                if first_keep is not None:
                    keep |= c[blocks.DAY] >= first_keep
                if keep.any():
                    want[s] = c[:, keep]
            assert list(got) == list(want), (end, n, since)
            for s in want:
                assert np.array_equal(got[s], want[s]), (s, end, n, since)
    m = load_recent_market(db, dates[650], 60)
    assert m.bars["B"].dates[-1] == max(d for d in dates[::7] if d <= dates[650])


def test_market_from_blocks_equals_market_from_rows(qtx_db):
    db = qtx_db
    dates = _dates(500, "2020-11-01")
    bars_db.insert_bars(db, "A", _rows(dates[::2]))
    bars_db.insert_bars(db, "B", _rows(dates[1::3]))
    m = load_market(db, end=dates[400])
    truth = rows_of(db)
    union = sorted({d for d in dates[:401] if d in set(dates[::2]) | set(dates[1::3])})
    assert m.dates.tolist() == union
    for s in ("A", "B"):
        c = truth[s][:, truth[s][blocks.DAY] <= blocks.day_numbers([dates[400]])[0]]
        b = m.bars[s]
        assert b.dates.tolist() == blocks.date_texts(c[blocks.DAY]).tolist()
        assert np.array_equal(b.close, c[blocks.CLOSE]) and np.array_equal(b.volume, c[blocks.VOLUME])
        for k, d in enumerate(m.dates.tolist()):
            i = m.own_index(s, k)
            assert (i >= 0) == (d in b.dates.tolist()) and (i < 0 or b.dates[i] == d)


@pytest.mark.parametrize("bad", ["2024-02-30", "2024-1-02", "2024-01-02 ", "", "２０２４-01-02", "20240102xx"])
def test_a_bad_bar_date_is_refused_by_name_and_nothing_is_written(qtx_db, bad):
    with pytest.raises(bars_db.BarDateError, match=f"X: bar date {bad!r} is not a YYYY-MM-DD date"):
        bars_db.insert_bars(qtx_db, "X", [("2024-01-02", 1, 1, 1, 1, 1), (bad, 1, 1, 1, 1, 1)])
    assert qtx_db.scalar("SELECT COUNT(*) FROM bars") == 0


def test_the_checker_sees_a_tampered_block(qtx_db):
    bars_db.insert_bars(qtx_db, "A", _rows(_dates(5, "2024-01-01")))
    cols = rows_of(qtx_db)["A"].copy()
    cols[blocks.CLOSE, 2] += 1
    qtx_db.conn.execute("UPDATE bar_block_data SET data = ? WHERE symbol = 'A'", (blocks.encode(cols),))
    with pytest.raises(AssertionError):
        assert_blocks_match(qtx_db)
    assert Counter(bars_db.bar_stats(qtx_db)["sources"]) == Counter(old_stats(qtx_db)["sources"])


def test_status_counts_never_read_the_rows(qtx_db):
    """With every block current, bar_stats reads only the summaries: it works even with the
    row table made unreadable."""
    bars_db.insert_bars(qtx_db, "A", _rows(_dates(50, "2024-01-01")))
    want = old_stats(qtx_db)
    qtx_db.conn.set_authorizer(lambda action, table, *_: sqlite3.SQLITE_DENY if table == "bar_rows"
                               else sqlite3.SQLITE_OK)
    try:
        assert bars_db.bar_stats(qtx_db) == want
    finally:
        qtx_db.conn.set_authorizer(None)
