"""What ``qtx doctor`` asks SQLite about the file itself: integrity and journal mode."""

from __future__ import annotations

import sqlite3

from db.core import DB


def quick_check(db: DB) -> list[str]:
    """``PRAGMA quick_check``: ``["ok"]`` for a sound file, else one line per problem found
    (a file too damaged to walk raises inside SQLite: that is one problem too)."""
    try:
        return [str(r[0]) for r in db.conn.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.DatabaseError as e:
        return [str(e)]


def journal_mode(db: DB) -> str:
    return str(db.conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
