"""The ``runs`` table: every stage run (start, end, outcome). It is also the heartbeat."""

from __future__ import annotations

from db.core import DB, now_iso

OUTCOMES = ("running", "ok", "failed", "skipped")


def start_run(db: DB, stage: str, asof: str | None, pid: int) -> int:
    cur = db.conn.execute(
        "INSERT INTO runs(stage, asof, started_at, outcome, pid) VALUES (?, ?, ?, 'running', ?)",
        (stage, asof, now_iso(), pid))
    return int(cur.lastrowid)


def finish_run(db: DB, run_id: int, outcome: str, message: str | None = None) -> None:
    if outcome not in OUTCOMES or outcome == "running":
        raise ValueError(f"a finished run's outcome is ok, failed or skipped, not {outcome!r}")
    db.conn.execute("UPDATE runs SET ended_at = ?, outcome = ?, message = ? WHERE id = ?",
                    (now_iso(), outcome, message, run_id))


def abandon_running(db: DB, stage: str, message: str) -> list[dict]:
    """Mark ``stage`` runs still 'running' as failed and return them; call only while holding
    the stage lock, when no such run can still be alive (its process was killed)."""
    rows = db.query("SELECT id, started_at FROM runs WHERE stage = ? AND outcome = 'running'", (stage,))
    db.conn.execute(
        "UPDATE runs SET outcome = 'failed', ended_at = ?, message = ? "
        "WHERE stage = ? AND outcome = 'running'", (now_iso(), message, stage))
    return rows


def last_runs(db: DB) -> dict[str, dict]:
    """The newest run of each stage: ``stage -> row``."""
    rows = db.query(
        "SELECT r.* FROM runs r JOIN (SELECT stage, MAX(id) AS id FROM runs GROUP BY stage) m "
        "ON r.id = m.id ORDER BY r.stage")
    return {r["stage"]: r for r in rows}


def last_ok(db: DB, stage: str) -> dict | None:
    return db.one("SELECT * FROM runs WHERE stage = ? AND outcome = 'ok' ORDER BY id DESC LIMIT 1",
                  (stage,))


def runs_of(db: DB, stage: str | None = None, limit: int = 50) -> list[dict]:
    if stage:
        return db.query("SELECT * FROM runs WHERE stage = ? ORDER BY id DESC LIMIT ?", (stage, limit))
    return db.query("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,))
