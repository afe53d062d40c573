"""The only SQL in qtx: schema, migrations and the queries each area needs."""

from db.core import DB, DatabaseError, now_iso, open_db
from db.schema import SCHEMA_VERSION

__all__ = ["DB", "DatabaseError", "SCHEMA_VERSION", "now_iso", "open_db"]
