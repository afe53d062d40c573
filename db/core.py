"""Opening the database: pragmas, migrations, the market/mode guard, transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from db.schema import SCHEMA_VERSION, current_version, migrate


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class DatabaseError(Exception):
    """The database cannot be used as asked (wrong market or mode, too new, missing)."""


class DB:
    """One SQLite file for one market and mode.

    ``conn`` is the raw connection (autocommit; use ``transaction()`` for atomic writes) and
    ``su`` the sqlite-utils view of the same connection.
    """

    def __init__(self, path: str | Path, conn: sqlite3.Connection):
        self.path = Path(path)
        self.conn = conn
        self._su = None

    @property
    def su(self):
        """sqlite-utils over the same connection (imported on first use: it pulls in pandas,
        which a short stage such as ``execute`` does not otherwise need)."""
        if self._su is None:
            import sqlite_utils

            self._su = sqlite_utils.Database(self.conn)
        return self._su

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; a kill or an exception inside leaves nothing written."""
        if self.conn.in_transaction:  # nested: join the outer transaction
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    # Explicit transaction control for callers that batch several units of work into one
    # transaction (``transaction()`` is the usual way).
    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict]:
        cur = self.conn.execute(sql, params)
        cols = [c[0] for c in cur.description or []]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def one(self, sql: str, params: tuple | dict = ()) -> dict | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: tuple | dict = ()):
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    @property
    def schema_version(self) -> int:
        return current_version(self.conn)

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                          "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def meta(self) -> dict[str, str]:
        return {r["key"]: r["value"] for r in self.query("SELECT key, value FROM meta")}

    def close(self) -> None:
        self.conn.close()


def connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def open_db(path: str | Path, *, market: str, mode: str, create: bool = False,
            capital: float | None = None) -> DB:
    """Open (and migrate) the database for ``market``/``mode``.

    A file made for another market or mode is refused: paper and live never share a file.
    """
    path = Path(path)
    if not create and not path.exists():
        raise DatabaseError(f"database {path} does not exist (run `qtx init`)")
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    try:
        migrate(conn)
    except RuntimeError as err:
        conn.close()
        raise DatabaseError(f"{path}: {err}") from None
    db = DB(path, conn)
    meta = db.meta()
    if not meta:
        with db.transaction():
            for k, v in (("market", market), ("mode", mode), ("created_at", now_iso())):
                conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (k, v))
            if capital is not None:
                conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('capital', ?)",
                             (repr(float(capital)),))
        meta = db.meta()
    if meta.get("market") != market or meta.get("mode") != mode:
        conn.close()
        raise DatabaseError(
            f"{path} belongs to market={meta.get('market')} mode={meta.get('mode')}, "
            f"not market={market} mode={mode}; paper and live never share a database"
        )
    return db


__all__ = ["DB", "DatabaseError", "SCHEMA_VERSION", "connect", "now_iso", "open_db"]
