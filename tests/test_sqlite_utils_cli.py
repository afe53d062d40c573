"""The README's promise: the installed ``sqlite-utils`` CLI is the operator's look into a qtx
database.  Run as the README writes it, in a workspace after a short paper run."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
DB = "data/qtx-krx-paper.sqlite"  # the README's path, from the workspace folder
DAYS = 2


def _run(*args, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("QTX_CONFIG", "QTX_FAULT", "QTX_NOW")}
    res = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, env=env, timeout=180)
    assert res.returncode == 0, f"{' '.join(map(str, args))}: {res.stderr}"
    return res.stdout


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """A demo workspace after a paper run of two trading days (collect, signal, execute)."""
    ws = tmp_path_factory.mktemp("su") / "ws"
    _run(BIN / "qtx", "init", ws, "--demo", "--force", cwd=ws.parent)
    _run(BIN / "qtx", "--config", "qtx.yaml", "replay", "--days", DAYS, cwd=ws)
    return ws


def _direct(ws: Path, sql: str):
    conn = sqlite3.connect(f"file:{ws / DB}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchone()
    finally:
        conn.close()


def su(ws: Path, *args) -> list[dict]:
    return json.loads(_run(BIN / "sqlite-utils", *args, cwd=ws))


def test_tables_with_counts_lists_every_table_with_what_qtx_stored(ws):
    counts = {t["table"]: t["count"] for t in su(ws, "tables", DB, "--counts")}
    assert {"bar_rows", "instruments", "signals", "orders", "fills", "positions", "daily_metrics",
            "events", "runs", "control", "outbox"} <= set(counts)
    for table in counts:
        assert counts[table] == _direct(ws, f"SELECT COUNT(*) FROM {table}")[0], table
    assert counts["daily_metrics"] == DAYS and counts["runs"] > 0 and counts["bar_rows"] > 0


def test_the_bars_view_answers_a_query(ws):
    (views,) = su(ws, "views", DB, "--counts")
    assert views == {"view": "bars", "count": _direct(ws, "SELECT COUNT(*) FROM bar_rows")[0]}
    (row,) = su(ws, "query", DB, "SELECT COUNT(DISTINCT symbol) AS symbols, MAX(date) AS last, "
                                 "MIN(close) > 0 AS priced FROM bars")
    symbols, last = _direct(ws, "SELECT COUNT(*), (SELECT MAX(date) FROM daily_metrics) FROM instruments")
    assert row == {"symbols": symbols, "last": last, "priced": 1}


def test_rows_reads_the_orders_and_qtx_still_opens_the_file(ws):
    orders = su(ws, "rows", DB, "orders")
    assert orders and len(orders) == _direct(ws, "SELECT COUNT(*) FROM orders")[0]
    assert all(o["client_order_id"].startswith("qtx-") and o["status"] for o in orders)
    _run(BIN / "qtx", "--config", "qtx.yaml", "status", cwd=ws)  # the look changed nothing qtx needs
