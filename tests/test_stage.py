"""The stage runner: one run per stage at a time (file lock), every run recorded in `runs`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from db import events as events_db
from db import runs as runs_db
from pipeline.schedule.stage import StageBusy, lock_path, run_stage

HOLDER = r"""
import sys, time
from pathlib import Path
from db import open_db
from pipeline.config import load
from pipeline.schedule.stage import run_stage
s = load(sys.argv[1])
db = open_db(s.db_path, market=s.market, mode=s.mode)
with run_stage(db, s, sys.argv[2], None) as run:
    Path(sys.argv[3]).write_text("held")
    time.sleep(120)
"""


def _hold(repo_root, cfg, stage, flag, env):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(cfg), stage, str(flag)], cwd=repo_root,
                            env=env)
    for _ in range(600):
        if flag.exists() or proc.poll() is not None:
            break
        time.sleep(0.05)
    if not flag.exists():
        proc.kill()
        pytest.fail("the lock holder never started")
    return proc


def test_second_run_reports_busy_exits_0_and_records_no_ok_run(tmp_path, tmp_config, run_cli, repo_root, qtx_bin,
                                                               subprocess_env):
    cfg = tmp_config()
    assert run_cli(["init", tmp_path, "--force"])[0] == 0
    src = tmp_path / "csv"
    src.mkdir()
    (src / "AAA.csv").write_text("date,open,high,low,close,volume\n2024-01-02,1,2,1,2,10\n")
    holder = _hold(repo_root, cfg, "collect", tmp_path / "flag", subprocess_env())
    try:
        res = subprocess.run([qtx_bin, "--config", str(cfg), "collect", "--source", "csv", "--path", str(src)],
                             capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                             env=subprocess_env())
        assert res.returncode == 0, res.stderr
        assert f"stage busy: another collect run holds the lock (pid {holder.pid})" in res.stderr
        assert res.stdout == ""
        res = subprocess.run([qtx_bin, "--config", str(cfg), "collect", "--source", "csv", "--path", str(src),
                              "--json"], capture_output=True, text=True, timeout=120,
                             stdin=subprocess.DEVNULL, env=subprocess_env())
        assert res.returncode == 0
        assert json.loads(res.stdout) == {"status": "busy", "stage": "collect",
                                          "reason": f"stage busy: another collect run holds the lock (pid {holder.pid})"}
        from db import open_db
        from pipeline.config import load

        s = load(cfg)
        db = open_db(s.db_path, market=s.market, mode=s.mode)
        rows = runs_db.runs_of(db, "collect")
        assert [r["outcome"] for r in rows] == ["running"] and rows[0]["pid"] == holder.pid
        assert db.scalar("SELECT COUNT(*) FROM bars") == 0
        # Another stage is not blocked by the collect lock.
        with run_stage(db, s, "signal", None) as run:
            run.note("ran beside collect")
        assert runs_db.last_runs(db)["signal"]["outcome"] == "ok"

        # SIGKILL the holder: the kernel drops the lock, the next run goes ahead.
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        res = subprocess.run([qtx_bin, "--config", str(cfg), "collect", "--source", "csv", "--path", str(src)],
                             capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                             env=subprocess_env())
        assert res.returncode == 0, res.stderr
        assert "busy" not in res.stderr
        rows = runs_db.runs_of(db, "collect")
        assert [r["outcome"] for r in rows] == ["ok", "failed"]  # newest first
        assert "killed" in rows[1]["message"]
        assert db.scalar("SELECT COUNT(*) FROM bars") == 1
        db.close()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_busy_in_process_names_pid(qtx_db, qtx_settings):
    path = lock_path(qtx_db, "report")
    with run_stage(qtx_db, qtx_settings, "report", None):
        assert path.read_text().strip() == str(os.getpid())
        # flock locks belong to the open file description: a second open in this process
        # conflicts just as another process would.
        with pytest.raises(StageBusy) as exc:
            with run_stage(qtx_db, qtx_settings, "report", None):
                pass
        assert exc.value.pid == os.getpid() and exc.value.stage == "report"
    assert [r["outcome"] for r in runs_db.runs_of(qtx_db, "report")] == ["ok"]


def test_outcomes_ok_skipped_failed(qtx_db, qtx_settings):
    with run_stage(qtx_db, qtx_settings, "signal", "2024-01-02") as run:
        run.note("3 signals")
    with run_stage(qtx_db, qtx_settings, "execute", "2024-01-02") as run:
        run.skip("outside market hours")
    with pytest.raises(ZeroDivisionError):
        with run_stage(qtx_db, qtx_settings, "report", None) as run:
            run.note("half way")
            raise ZeroDivisionError("division by zero")
    last = runs_db.last_runs(qtx_db)
    assert (last["signal"]["outcome"], last["signal"]["message"], last["signal"]["asof"]) == ("ok", "3 signals", "2024-01-02")
    assert (last["execute"]["outcome"], last["execute"]["message"]) == ("skipped", "outside market hours")
    assert last["report"]["outcome"] == "failed"
    assert "ZeroDivisionError" in last["report"]["message"] and "half way" in last["report"]["message"]
    assert all(r["ended_at"] and r["pid"] == os.getpid() for r in last.values())
    ev = events_db.recent(qtx_db, kind="stage_failed")
    assert len(ev) == 1 and ev[0]["level"] == "error" and ev[0]["data"]["stage"] == "report"
    # The lock was released even though the body raised.
    with run_stage(qtx_db, qtx_settings, "report", None):
        pass
