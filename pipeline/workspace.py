"""The workspace a command works on: its settings and its database.

The CLI reaches the database only through here (and the pipeline functions), so the layer
rule holds: ``cli/`` -> ``pipeline/`` -> ``db/``.
"""

from __future__ import annotations

from brokers.errors import BrokerError, MissingKeys
from db import DB, DatabaseError, open_db
from db.core import explain as explain_database_error
from pipeline.config import Settings

# What a command may have to tell the operator about, named here so the CLI needs no lower layer.
__all__ = ["DB", "BrokerError", "DatabaseError", "MissingKeys", "explain_database_error",
           "open_database"]


def open_database(settings: Settings) -> DB:
    """The existing database of this market and mode (``DatabaseError`` names what is wrong:
    missing, another market's or mode's, or newer than this qtx)."""
    return open_db(settings.db_path, market=settings.market, mode=settings.mode)
