"""Database core: migrations forward, refusal of newer schemas, atomic migrations, guards, bars SQL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from db import DatabaseError, open_db
from db import bars as bars_db
from db import runs as runs_db
from db.core import connect
from db.schema import MIGRATION_1, SCHEMA_VERSION, current_version, migrate

MIGRATION_2_TEST = """
ALTER TABLE bars ADD COLUMN adj_close REAL;
CREATE TABLE test_notes (id INTEGER PRIMARY KEY, note TEXT NOT NULL);
INSERT INTO test_notes(note) SELECT symbol || ':' || date FROM bars;
"""


def _v1_db(path):
    conn = connect(path)
    assert migrate(conn, [MIGRATION_1]) == 1
    conn.execute("INSERT INTO bars(symbol, date, open, high, low, close, volume) "
                 "VALUES ('AAA', '2024-01-02', 100.5, 101, 99, 100.25, 1234)")
    conn.execute("INSERT INTO events(ts, level, kind, message) VALUES ('t', 'info', 'k', 'kept')")
    return conn


def test_forward_migration_preserves_data(tmp_path):
    conn = _v1_db(tmp_path / "m.sqlite")
    assert migrate(conn, [MIGRATION_1, MIGRATION_2_TEST]) == 2
    assert current_version(conn) == 2
    assert conn.execute("SELECT symbol, date, open, close, volume, adj_close FROM bars").fetchall() == [
        ("AAA", "2024-01-02", 100.5, 100.25, 1234.0, None)]
    assert conn.execute("SELECT note FROM test_notes").fetchall() == [("AAA:2024-01-02",)]
    assert conn.execute("SELECT message FROM events").fetchall() == [("kept",)]
    # Running the migrations again is a no-op.
    assert migrate(conn, [MIGRATION_1, MIGRATION_2_TEST]) == 2
    assert conn.execute("SELECT COUNT(*) FROM test_notes").fetchone() == (1,)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    db = open_db(path, market="krx", mode="paper", create=True)
    db.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    db.close()
    with pytest.raises(DatabaseError, match="newer"):
        open_db(path, market="krx", mode="paper")


def test_failing_migration_rolls_back_to_old_version(tmp_path):
    conn = _v1_db(tmp_path / "f.sqlite")
    broken = "CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n"
    with pytest.raises(Exception, match="no_such_table"):
        migrate(conn, [MIGRATION_1, broken])
    assert current_version(conn) == 1
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchone() is None
    assert conn.execute("SELECT COUNT(*) FROM bars").fetchone() == (1,)


KILL_SCRIPT = r"""
import sys, time
from pathlib import Path
from db.core import connect
from db.schema import MIGRATION_1, migrate
flag = Path(sys.argv[2])
conn = connect(sys.argv[1])
def slow():
    flag.write_text("in migration")
    time.sleep(120)
    return 1
conn.create_function("slow", 0, slow)
migrate(conn, [MIGRATION_1, "CREATE TABLE half_done (x INTEGER);\nINSERT INTO half_done SELECT slow();\n"])
"""


def test_kill_during_migration_leaves_old_version(tmp_path, repo_root):
    path = tmp_path / "k.sqlite"
    _v1_db(path).close()
    flag = tmp_path / "flag"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(path), str(flag)], cwd=repo_root)
    try:
        for _ in range(600):
            if flag.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert flag.exists(), "the migration never started"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    db = open_db(path, market="krx", mode="paper", create=False)  # migrates to the real latest
    assert db.conn.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchone() is None
    assert db.scalar("SELECT close FROM bars WHERE symbol = 'AAA'") == 100.25
    db.close()


def test_market_and_mode_guard(tmp_path):
    path = tmp_path / "g.sqlite"
    open_db(path, market="krx", mode="paper", create=True).close()
    for market, mode in (("krx", "live"), ("bybit", "paper")):
        with pytest.raises(DatabaseError, match="never share"):
            open_db(path, market=market, mode=mode)
    open_db(path, market="krx", mode="paper").close()


def test_missing_database_is_not_created_silently(tmp_path):
    with pytest.raises(DatabaseError, match="qtx init"):
        open_db(tmp_path / "none.sqlite", market="krx", mode="paper")
    assert not (tmp_path / "none.sqlite").exists()


def test_pragmas_and_capital(tmp_path):
    db = open_db(tmp_path / "p.sqlite", market="krx", mode="paper", create=True, capital=12345.5)
    assert db.scalar("PRAGMA journal_mode") == "wal"
    assert db.scalar("PRAGMA foreign_keys") == 1
    assert db.schema_version == SCHEMA_VERSION
    assert float(db.meta()["capital"]) == 12345.5
    db.close()


def test_transaction_rolls_back_on_error(qtx_db):
    with pytest.raises(RuntimeError):
        with qtx_db.transaction():
            bars_db.insert_bars(qtx_db, "AAA", [("2024-01-02", 1, 2, 1, 2, 10)])
            raise RuntimeError("boom")
    assert bars_db.symbols(qtx_db) == []


def test_bars_round_trip_exactly(qtx_db):
    rows = [("2024-01-03", 0.1 + 0.2, 1e9 + 0.5, 0.1, 123456789.123456, 1e-8),
            ("2024-01-02", 100, 110, 90, 105, 5000)]
    assert bars_db.insert_bars(qtx_db, "X", rows, source="csv") == 2
    assert bars_db.insert_bars(qtx_db, "X", rows, source="csv") == 0  # INSERT OR IGNORE
    df = bars_db.read_bars(qtx_db, "X")
    assert list(df["date"]) == ["2024-01-02", "2024-01-03"]
    assert df.iloc[1]["open"] == 0.1 + 0.2 and df.iloc[1]["close"] == 123456789.123456
    arr = bars_db.read_bar_arrays(qtx_db, "X", start="2024-01-03")
    assert list(arr["date"]) == ["2024-01-03"] and arr["volume"][0] == 1e-8
    bars_db.insert_bars(qtx_db, "Y", [("2024-01-04", 1, 1, 1, 1, 0)], source="synthetic")
    assert bars_db.symbols(qtx_db) == ["X", "Y"]
    assert bars_db.date_range(qtx_db) == ("2024-01-02", "2024-01-04")
    assert bars_db.date_range(qtx_db, "X") == ("2024-01-02", "2024-01-03")
    assert bars_db.decision_dates(qtx_db, end="2024-01-03") == ["2024-01-02", "2024-01-03"]
    assert set(bars_db.bars_by_symbol(qtx_db)) == {"X", "Y"}
    assert len(bars_db.read_all_bars(qtx_db, symbols=["Y"])) == 1
    assert bars_db.bar_stats(qtx_db) == {"symbols": 2, "bars": 3, "first_date": "2024-01-02",
                                         "last_date": "2024-01-04", "sources": {"csv": 2, "synthetic": 1}}


def test_instruments_upsert_changes_only_given_fields(qtx_db):
    bars_db.upsert_instruments(qtx_db, [{"symbol": "A", "sector": "Tech", "lot": 1, "name": "Alpha"}])
    bars_db.upsert_instruments(qtx_db, [{"symbol": "A", "sector": "Energy"}])
    row = bars_db.read_instruments(qtx_db)["A"]
    assert (row["sector"], row["name"], row["lot"]) == ("Energy", "Alpha", 1)
    assert bars_db.sectors(qtx_db) == {"A": "Energy"}
    with pytest.raises(ValueError, match="unknown instrument fields"):
        bars_db.upsert_instruments(qtx_db, [{"symbol": "A", "colour": "red"}])


def test_runs_table(qtx_db):
    a = runs_db.start_run(qtx_db, "collect", "2024-01-02", 11)
    runs_db.finish_run(qtx_db, a, "ok", "done")
    b = runs_db.start_run(qtx_db, "collect", None, 12)
    c = runs_db.start_run(qtx_db, "signal", None, 13)
    runs_db.finish_run(qtx_db, c, "skipped", "outside market hours")
    last = runs_db.last_runs(qtx_db)
    assert last["collect"]["id"] == b and last["collect"]["outcome"] == "running"
    assert last["signal"]["outcome"] == "skipped" and last["signal"]["ended_at"]
    assert runs_db.last_ok(qtx_db, "collect")["id"] == a
    assert len(runs_db.abandon_running(qtx_db, "collect", "killed")) == 1
    assert runs_db.last_runs(qtx_db)["collect"]["outcome"] == "failed"
    with pytest.raises(ValueError):
        runs_db.finish_run(qtx_db, a, "running")
