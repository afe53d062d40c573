"""Issue 13, bad input: every foreseeable failure a one-line error naming the culprit, the
right exit code (2 bad usage or config, 1 a failure at run time), no traceback unless
--verbose, and nothing stored changed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from db import DatabaseError, open_db
from tests.builders import contents, db_of, file_bytes, one_line_error, write_csv, ws_fixture  # noqa: F401 - ws_fixture: the fixture ws

# --------------------------------------------------------------------------- the database

def _zero_bytes(p: Path) -> None:
    p.write_bytes(b"")


def _foreign(p: Path) -> None:
    c = sqlite3.connect(p)
    c.execute("CREATE TABLE notes(x)")
    c.execute("INSERT INTO notes VALUES ('mine')")
    c.commit()
    c.close()


def _empty_sqlite(p: Path) -> None:
    c = sqlite3.connect(p)
    c.execute("PRAGMA user_version = 0")
    c.execute("VACUUM")  # a valid SQLite header, no tables
    c.close()


def _corrupt(p: Path) -> None:
    p.write_bytes(b"this is not sqlite at all\n" * 200)


@pytest.mark.parametrize("make,culprit", [
    (_zero_bytes, "empty file (0 bytes)"),
    (_foreign, "of something else"),
    (_empty_sqlite, "empty SQLite database"),
    (_corrupt, "not a readable SQLite database"),
], ids=["zero-bytes", "foreign-sqlite", "empty-sqlite", "corrupt"])
@pytest.mark.parametrize("command", [["status"], ["signal", "--asof", "2024-01-05"],
                                     ["collect", "--source", "csv", "--path", "CSV_DIR"],
                                     ["backtest"]], ids=lambda c: c[0])
def test_a_file_that_is_no_qtx_database_is_refused_untouched(ws, run_cli, make, culprit, command):
    path = db_of(ws)
    for extra in path.parent.glob("*"):
        extra.unlink()
    make(path)
    before = file_bytes(path)
    args = [a if a != "CSV_DIR" else str(ws / "csv") for a in command]
    code, _, stderr = run_cli(["--config", ws / "qtx.yaml", *args])
    assert code == 2, stderr
    line = one_line_error(stderr)
    assert str(path) in line and culprit in line
    assert file_bytes(path) == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no -wal/-shm left


def test_open_db_refuses_foreign_files_but_init_replaces_them(tmp_path):
    p = tmp_path / "x.sqlite"
    _foreign(p)
    with pytest.raises(DatabaseError, match="something else"):
        open_db(p, market="krx", mode="paper")
    with pytest.raises(DatabaseError, match="something else"):  # create never adopts either
        open_db(p, market="krx", mode="paper", create=True)
    (tmp_path / "d.sqlite").mkdir()
    with pytest.raises(DatabaseError, match="is a folder"):
        open_db(tmp_path / "d.sqlite", market="krx", mode="paper")


def test_a_locked_database_says_so_after_the_busy_timeout(ws, run_cli, monkeypatch):
    import db.core

    monkeypatch.setattr(db.core, "BUSY_TIMEOUT_S", 0.2)
    before = contents(db_of(ws))
    holder = sqlite3.connect(db_of(ws), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, _, stderr = run_cli(["--config", ws / "qtx.yaml", "collect", "--source", "csv",
                                   "--path", ws / "csv", "--asof", "2024-01-05"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 1, stderr
    line = one_line_error(stderr)
    assert str(db_of(ws)) in line and "locked" in line and "waited 0.2 s" in line
    assert contents(db_of(ws)) == before


@pytest.mark.parametrize("message,expected,code", [
    ("attempt to write a readonly database", "is read-only", 1),
    ("database is locked", "is locked", 1),
    ("database or disk is full", "disk is full", 1),
    ("file is not a database", "not a readable SQLite database", 2),
    ("database disk image is malformed", "not a readable SQLite database", 2),
])
def test_sqlite_failures_are_named_with_what_to_do(message, expected, code):
    from db.core import explain

    cls = sqlite3.DatabaseError if "not a database" in message or "malformed" in message \
        else sqlite3.OperationalError
    e = explain(cls(message), "/x/q.sqlite")
    assert e is not None and e.exit_code == code
    assert str(e).startswith("/x/q.sqlite") and expected in str(e)
    assert explain(ValueError("other"), "/x") is None


def test_a_read_only_database_is_a_one_line_error(ws, run_cli, monkeypatch):
    """Root ignores file modes, so the read-only failure is raised where SQLite raises it."""
    import db.bars

    def readonly(*_a, **_k):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    for name in dir(db.bars):
        if name.startswith(("upsert", "insert", "store", "write")) and callable(getattr(db.bars, name)):
            monkeypatch.setattr(db.bars, name, readonly)
    before = contents(db_of(ws))
    write_csv(ws / "csv2", "035720")
    code, _, stderr = run_cli(["--config", ws / "qtx.yaml", "collect", "--source", "csv",
                               "--path", ws / "csv2", "--asof", "2024-01-05"])
    assert code == 1, stderr
    assert "read-only" in one_line_error(stderr)
    assert contents(db_of(ws)) == before
