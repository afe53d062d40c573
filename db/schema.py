"""Schema and forward migrations.

``PRAGMA user_version`` holds the schema version.  Each migration is applied in its own
transaction, so a kill during a migration leaves the previous version intact.  Add a new
migration at the end of ``MIGRATIONS``; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3

MIGRATION_1 = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE instruments (
    symbol TEXT PRIMARY KEY,
    name TEXT,
    sector TEXT,
    lot REAL NOT NULL DEFAULT 1,
    tick REAL,
    min_qty REAL NOT NULL DEFAULT 0,
    min_notional REAL NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'trading',
    updated_at TEXT NOT NULL
);
CREATE TABLE bars (
    symbol TEXT NOT NULL,
    date TEXT NOT NULL,
    open REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    close REAL NOT NULL,
    volume REAL NOT NULL,
    source TEXT NOT NULL DEFAULT 'csv',
    PRIMARY KEY (symbol, date)
) WITHOUT ROWID;
CREATE INDEX bars_date ON bars(date);
CREATE TABLE signals (
    id INTEGER PRIMARY KEY,
    date TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    qty REAL,
    close REAL NOT NULL,
    strength REAL,
    reason TEXT NOT NULL,
    strategy TEXT NOT NULL DEFAULT 'sennot',
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
    verdict_reason TEXT,
    rank INTEGER,
    created_at TEXT NOT NULL,
    decided_at TEXT,
    UNIQUE (date, symbol, side)
);
CREATE INDEX signals_status ON signals(status, date);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    client_order_id TEXT NOT NULL UNIQUE,
    signal_id INTEGER REFERENCES signals(id),
    date TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    qty REAL NOT NULL,
    order_type TEXT NOT NULL DEFAULT 'market',
    limit_price REAL,
    seq INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    status TEXT NOT NULL DEFAULT 'intent',
    broker_order_id TEXT,
    filled_qty REAL NOT NULL DEFAULT 0,
    avg_fill_price REAL,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX orders_status ON orders(status);
CREATE TABLE fills (
    id INTEGER PRIMARY KEY,
    fill_id TEXT NOT NULL UNIQUE,
    client_order_id TEXT,
    date TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    qty REAL NOT NULL,
    price REAL NOT NULL,
    fee REAL NOT NULL DEFAULT 0,
    reason TEXT,
    ts TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'broker'
);
CREATE INDEX fills_date ON fills(date);
CREATE TABLE positions (
    symbol TEXT PRIMARY KEY,
    qty REAL NOT NULL,
    avg_price REAL NOT NULL,
    entry_price REAL NOT NULL,
    entry_date TEXT NOT NULL,
    armed_date TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE daily_metrics (
    date TEXT PRIMARY KEY,
    cash REAL NOT NULL,
    equity REAL NOT NULL,
    peak REAL NOT NULL,
    drawdown REAL NOT NULL,
    daily_return REAL NOT NULL,
    positions INTEGER NOT NULL,
    buy_blocked INTEGER NOT NULL DEFAULT 0,
    size_multiplier REAL NOT NULL DEFAULT 1.0,
    exposure REAL NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('info', 'warning', 'error', 'risk', 'security')),
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT
);
CREATE INDEX events_kind ON events(kind, ts);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    stage TEXT NOT NULL,
    asof TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT NOT NULL DEFAULT 'running',
    message TEXT,
    pid INTEGER
);
CREATE INDEX runs_stage ON runs(stage, started_at);
CREATE TABLE control (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    reason TEXT,
    updated_by TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    photo BLOB,
    dedup_key TEXT UNIQUE,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    sent_at TEXT
);
CREATE INDEX outbox_status ON outbox(status, id);
-- The paper broker's simulated venue: an outside system as far as qtx is concerned, so that
-- reconcile compares two real records even in paper mode.
CREATE TABLE paper_account (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    cash REAL NOT NULL,
    last_bar_date TEXT
);
CREATE TABLE paper_orders (
    id INTEGER PRIMARY KEY,
    client_order_id TEXT NOT NULL UNIQUE,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    qty REAL NOT NULL,
    order_type TEXT NOT NULL DEFAULT 'market',
    limit_price REAL,
    status TEXT NOT NULL,
    filled_qty REAL NOT NULL DEFAULT 0,
    avg_fill_price REAL,
    reject_reason TEXT,
    placed_date TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE paper_fills (
    id INTEGER PRIMARY KEY,
    exec_id TEXT NOT NULL UNIQUE,
    client_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    qty REAL NOT NULL,
    price REAL NOT NULL,
    fee REAL NOT NULL,
    date TEXT NOT NULL,
    ts TEXT NOT NULL
);
CREATE TABLE paper_holdings (
    symbol TEXT PRIMARY KEY,
    qty REAL NOT NULL,
    avg_price REAL NOT NULL
);
"""

# The broker seam and typed messages:
# - ``broker_kv``: each adapter's small persistent store (a token with its expiry, a cursor),
#   namespaced by adapter, so state survives between stage processes;
# - ``broker_order_ids``: our client order id -> the venue's order id, written *before* a create
#   is sent (venue id NULL) and completed as soon as the venue names its id (Kiwoom has no
#   client id: this map is how its orders are found again);
# - ``orders.sent_at``: when the create was first sent (reconcile matches unknown orders on the
#   venue's lists by time after it);
# - ``fills.broker_order_id`` and ``fills.fee_qty`` (the part of a BUY the venue kept as fee,
#   in the asset bought: the order filled ``qty``, the position grew by ``qty - fee_qty``);
# - ``outbox.payload``: a typed message (kind + JSON data) that each channel renders itself.
MIGRATION_2 = """
CREATE TABLE broker_kv (
    adapter TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    expires_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (adapter, key)
);
CREATE TABLE broker_order_ids (
    adapter TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    broker_order_id TEXT,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    qty REAL NOT NULL,
    sent_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (adapter, client_order_id)
);
CREATE INDEX broker_order_ids_venue ON broker_order_ids(adapter, broker_order_id);
ALTER TABLE orders ADD COLUMN sent_at TEXT;
ALTER TABLE fills ADD COLUMN broker_order_id TEXT;
ALTER TABLE fills ADD COLUMN fee_qty REAL NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN payload TEXT;
"""

# Version 3: bars also kept as per-symbol column blocks, so a backtest or a daily stage loads a
# symbol's history in one read instead of one Python row per bar (issue 14).
# - ``bar_rows``: the bar rows (the old ``bars`` table, renamed; its ``bars_date`` index kept);
# - ``bars``: a view of ``bar_rows`` under the old name, so every reader's SQL is unchanged;
#   a write through it lands in ``bar_rows`` and marks the block it touched stale;
# - ``bar_blocks``: one row per symbol and calendar year: how many bars, first and last date,
#   their source (NULL when mixed) and ``stale`` (the rows changed behind the block's back);
# - ``bar_block_data``: that block's bars as one blob of six little-endian float64 columns
#   (the date as YYYYMMDD, open, high, low, close, volume), apart so that scanning the
#   summaries never reads the blobs.
# ``db.bars.insert_bars`` writes ``bar_rows`` and the blocks together; an insert into the
# ``bars`` view (or a delete or update of ``bar_rows``) only marks the block stale: readers
# then take that block from the rows, and the next write rebuilds it.  Existing bars start
# stale (a migration cannot build blobs) and are rebuilt by the next collect.
MIGRATION_3 = """
ALTER TABLE bars RENAME TO bar_rows;
CREATE TABLE bar_blocks (
    symbol TEXT NOT NULL,
    year INTEGER NOT NULL,
    stale INTEGER NOT NULL DEFAULT 1,
    n INTEGER NOT NULL DEFAULT 0,
    first_date TEXT,
    last_date TEXT,
    source TEXT,
    PRIMARY KEY (symbol, year)
) WITHOUT ROWID;
CREATE INDEX bar_blocks_stale ON bar_blocks(stale) WHERE stale = 1;
CREATE TABLE bar_block_data (
    symbol TEXT NOT NULL,
    year INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (symbol, year)
);
INSERT INTO bar_blocks(symbol, year)
    SELECT DISTINCT symbol, CAST(substr(date, 1, 4) AS INTEGER) FROM bar_rows;
CREATE VIEW bars AS SELECT symbol, date, open, high, low, close, volume, source FROM bar_rows;
CREATE TRIGGER bars_insert INSTEAD OF INSERT ON bars BEGIN
    INSERT INTO bar_rows(symbol, date, open, high, low, close, volume, source)
    VALUES (NEW.symbol, NEW.date, NEW.open, NEW.high, NEW.low, NEW.close, NEW.volume,
            COALESCE(NEW.source, 'csv'));
    INSERT INTO bar_blocks(symbol, year) VALUES (NEW.symbol, CAST(substr(NEW.date, 1, 4) AS INTEGER))
    ON CONFLICT(symbol, year) DO UPDATE SET stale = 1;
END;
CREATE TRIGGER bars_update INSTEAD OF UPDATE ON bars BEGIN
    UPDATE bar_rows SET symbol = NEW.symbol, date = NEW.date, open = NEW.open, high = NEW.high,
        low = NEW.low, close = NEW.close, volume = NEW.volume, source = NEW.source
    WHERE symbol = OLD.symbol AND date = OLD.date;
END;
CREATE TRIGGER bars_delete INSTEAD OF DELETE ON bars BEGIN
    DELETE FROM bar_rows WHERE symbol = OLD.symbol AND date = OLD.date;
END;
CREATE TRIGGER bar_rows_update AFTER UPDATE ON bar_rows BEGIN
    INSERT INTO bar_blocks(symbol, year) VALUES (OLD.symbol, CAST(substr(OLD.date, 1, 4) AS INTEGER))
    ON CONFLICT(symbol, year) DO UPDATE SET stale = 1;
    INSERT INTO bar_blocks(symbol, year) VALUES (NEW.symbol, CAST(substr(NEW.date, 1, 4) AS INTEGER))
    ON CONFLICT(symbol, year) DO UPDATE SET stale = 1;
END;
CREATE TRIGGER bar_rows_delete AFTER DELETE ON bar_rows BEGIN
    UPDATE bar_blocks SET stale = 1
    WHERE symbol = OLD.symbol AND year = CAST(substr(OLD.date, 1, 4) AS INTEGER);
END;
"""

# Forward migrations, oldest first.  Index i migrates from version i to version i + 1.
MIGRATIONS: list[str] = [MIGRATION_1, MIGRATION_2, MIGRATION_3]

SCHEMA_VERSION = len(MIGRATIONS)


def current_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection, migrations: list[str] | None = None) -> int:
    """Bring the database to the newest version; returns the version reached."""
    migrations = MIGRATIONS if migrations is None else migrations
    version = current_version(conn)
    if version > len(migrations):
        raise RuntimeError(
            f"database schema version {version} is newer than this qtx knows ({len(migrations)}); "
            "upgrade qtx"
        )
    for target in range(version + 1, len(migrations) + 1):
        script = migrations[target - 1]
        # executescript commits implicitly; wrap so the script and the version bump are one unit.
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return current_version(conn)


def _statements(script: str) -> list[str]:
    out, buf = [], []
    for line in script.splitlines():
        stripped = line.strip()
        if stripped.startswith("--") and not buf:
            continue
        buf.append(line)
        candidate = "\n".join(buf)
        if stripped.endswith(";") and sqlite3.complete_statement(candidate):
            out.append(candidate)
            buf = []
    if "\n".join(buf).strip():
        out.append("\n".join(buf))
    return out
