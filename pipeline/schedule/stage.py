"""Running one pipeline stage: a per-stage file lock plus a ``runs`` row.

    with run_stage(db, settings, "collect", asof) as run:
        if nothing_to_do:
            run.skip("no new bars")
            return
        ...
        run.note("42 bars stored")

The lock is ``fcntl.flock`` on ``<db path>.<stage>.lock``: the kernel releases it when the
holder exits, even on SIGKILL, so a killed run never blocks the next one.  A second run of the
same stage on the same database raises ``StageBusy`` (the CLI prints it and exits 0).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from brokers.errors import AuthError
from db import events, runs
from db.core import DB, now_iso


class StageBusy(Exception):
    """Another run of the same stage holds the lock."""

    def __init__(self, stage: str, pid: int | None, lock_path: Path):
        self.stage, self.pid, self.lock_path = stage, pid, lock_path
        who = f" (pid {pid})" if pid else ""
        super().__init__(f"stage busy: another {stage} run holds the lock{who}")


@dataclass
class StageRun:
    """What the body of ``run_stage`` can say about its run."""

    stage: str
    asof: str | None
    run_id: int
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    def skip(self, reason: str) -> None:
        """Mark the run as skipped (nothing to do, outside market hours); the body should return."""
        self.skipped = reason

    def note(self, msg: str) -> None:
        """Add a line to the run's message (kept in ``runs.message``)."""
        self.notes.append(msg)

    @property
    def message(self) -> str | None:
        parts = ([self.skipped] if self.skipped else []) + self.notes
        return "; ".join(parts) or None


def lock_path(db: DB, stage: str) -> Path:
    return Path(f"{db.path}.{stage}.lock")


@contextmanager
def stage_lock(path: Path, stage: str) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` for the block, with our pid written in the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StageBusy(stage, _read_pid(fd), path) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            # Closing the descriptor releases the lock; the file stays (deleting it would race).
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 64).decode(errors="replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


@contextmanager
def run_stage(db: DB, settings: object, stage: str, asof: str | None) -> Iterator[StageRun]:
    """Lock ``stage`` on this database, record the run, and record how it ended.

    Raises ``StageBusy`` before writing anything when another run holds the lock.  An exception
    in the body ends the run as 'failed' (with an error event) and is re-raised.
    """
    with stage_lock(lock_path(db, stage), stage):
        # We hold the lock, so a 'running' row of this stage belongs to a killed process.
        why = "ended without a result (process killed or crashed)"
        for killed in runs.abandon_running(db, stage, why):
            # Said by the run that found it, whatever the listener was doing meanwhile; the key is
            # the monitor's, so the failure is alerted once.
            from pipeline import alerts

            msg = f"{stage} run #{killed['id']} (started {killed['started_at']}) {why}"
            if alerts.notify(db, "stage", "error", f"{stage} failed", msg,
                             dedup_key=f"hb:failed:{stage}:{killed['id']}") is not None:
                events.record(db, "error", "stage_failed", msg, {"stage": stage, "run_id": killed["id"]})
        run = StageRun(stage, asof, runs.start_run(db, stage, asof, os.getpid()))
        try:
            yield run
        except BaseException as exc:
            problem = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
            if run.notes:
                problem += " (" + "; ".join(run.notes) + ")"
            runs.finish_run(db, run.run_id, "failed", problem)
            events.record(db, "error", "stage_failed", f"{stage} failed: {problem}",
                          {"stage": stage, "asof": asof, "run_id": run.run_id})
            if isinstance(exc, AuthError):
                # Keys refused or this machine's IP not registered: nothing works until the
                # operator acts, so say what to do, once a day per cause.
                from pipeline import alerts

                alerts.error_alert(db, "broker_auth", str(exc), {"stage": stage, "code": exc.code},
                                   dedup_key=f"auth:{exc.code}:{now_iso()[:10]}")
            raise
        else:
            runs.finish_run(db, run.run_id, "skipped" if run.skipped else "ok", run.message)
