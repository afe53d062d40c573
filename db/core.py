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


def parse_ts(ts: datetime | str | None) -> datetime | None:
    """A stored timestamp (``now_iso``'s, or any ISO text) as an aware datetime, naive ones
    taken as UTC; None for none or for text that is not a timestamp."""
    if ts is None or ts == "":
        return None
    if isinstance(ts, datetime):
        return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    try:
        t = datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


class DatabaseError(Exception):
    """The database cannot be used as asked (wrong market or mode, too new, missing, not a qtx
    database, corrupt, locked, read-only).  ``exit_code``: 2 when the file is the wrong one (bad
    setup), 1 when a usable file failed at run time (locked, read-only, disk full)."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


# How long a connection waits for another process's write lock before "database is locked".
BUSY_TIMEOUT_S = 30


def explain(exc: BaseException, path: str | Path | None) -> DatabaseError | None:
    """A ``DatabaseError`` naming the file and what to do for a foreseeable SQLite failure
    (``None`` when ``exc`` is not one): corrupt, locked past the busy timeout, read-only, full."""
    if isinstance(exc, DatabaseError):
        return exc
    if not isinstance(exc, sqlite3.Error):
        return None
    where = str(path) if path is not None else "the database"
    msg = str(exc).lower()
    if "locked" in msg or "busy" in msg:
        return DatabaseError(
            f"{where} is locked by another process (waited {BUSY_TIMEOUT_S} s): let the other qtx "
            "run finish (qtx status shows running stages) and try again", 1)
    if "readonly" in msg or "read-only" in msg:
        return DatabaseError(
            f"{where} is read-only: make the file and its folder writable by this user (SQLite "
            "writes -wal/-shm files beside it)", 1)
    if "full" in msg:
        return DatabaseError(f"{where}: the disk is full: free some space and run again", 1)
    if "unable to open" in msg or "disk i/o" in msg:
        return DatabaseError(f"{where} cannot be opened ({exc}): check the path and its "
                             "permissions", 1)
    if "not a database" in msg or "malformed" in msg or "encrypted" in msg:
        return DatabaseError(
            f"{where} is not a readable SQLite database (corrupt or another kind of file): keep a "
            "copy, then recover it (sqlite3 FILE .recover) or restore a backup; `qtx doctor` "
            "checks it")
    return None


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
    conn = sqlite3.connect(str(path), timeout=float(BUSY_TIMEOUT_S), isolation_level=None,
                           check_same_thread=False)
    _set_pragmas(conn)
    return conn


def _set_pragmas(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")


def _not_ours(conn: sqlite3.Connection, path: Path) -> str | None:
    """Why an existing file is not a qtx database (``None`` if it is one).  Read-only checks,
    made before any pragma: ``journal_mode = WAL`` would already rewrite a foreign file's header."""
    if current_version(conn) >= 1:
        return None
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if tables:
        return (f"{path} is a SQLite database of something else (no qtx schema): point `database:` "
                "at a qtx database, or run `qtx init` in another folder")
    return (f"{path} is an empty SQLite database, not a qtx account: only `qtx init` creates "
            "databases (qtx init --force replaces it)")


def open_db(path: str | Path, *, market: str, mode: str, create: bool = False,
            capital: float | None = None) -> DB:
    """Open (and migrate) the database for ``market``/``mode``.

    A file made for another market or mode is refused: paper and live never share a file.
    """
    path = Path(path)
    if path.is_dir():
        raise DatabaseError(f"database {path} is a folder, not a file: `database:` must name a "
                            "file (or leave it unset)")
    exists = path.exists()
    if not create and not exists:
        raise DatabaseError(f"database {path} does not exist (run `qtx init`)")
    # Only ``qtx init`` (create) makes a new account: a 0-byte or foreign file found where the
    # database should be is refused and left untouched, never adopted as a fresh account.
    if not create and path.stat().st_size == 0:
        raise DatabaseError(f"{path} is an empty file (0 bytes), not a qtx database: restore it "
                            "from a backup, or run `qtx init --force` to start a new account")
    if not path.parent.is_dir():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DatabaseError(f"cannot create the folder of database {path}: {e.strerror}") from None
    conn = None
    try:
        conn = sqlite3.connect(str(path), timeout=float(BUSY_TIMEOUT_S), isolation_level=None,
                               check_same_thread=False)
        if exists and path.stat().st_size > 0:
            why = _not_ours(conn, path)
            if why:
                raise DatabaseError(why)
        _set_pragmas(conn)
        migrate(conn)
    except RuntimeError as err:
        conn.close()
        raise DatabaseError(f"{path}: {err}") from None
    except (sqlite3.Error, DatabaseError) as err:
        if conn is not None:
            conn.close()
        named = explain(err, path)
        if named is None or (named.exit_code == 2 and not isinstance(err, DatabaseError)):
            # Corruption stays a sqlite3.DatabaseError (qtx doctor tells it apart to advise a
            # recovery); the CLI names it through ``explain``.
            raise
        raise named from None
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


__all__ = ["BUSY_TIMEOUT_S", "DB", "DatabaseError", "SCHEMA_VERSION", "connect", "explain", "now_iso",
           "open_db"]
