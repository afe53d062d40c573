"""Stage monitoring: a killed stage is alerted even though no run of it ends in failure by itself,
and a failed run is alerted even when a later run of the stage is the latest (found by the soak)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from db import runs as runs_db
from pipeline.schedule import monitor


def _stamp(db, run_id: int, started: datetime) -> None:
    # The runner stamps the real time; the test chooses the clock of each run.
    db.conn.execute("UPDATE runs SET started_at = ? WHERE id = ?",
                    (started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), run_id))


def test_a_killed_run_makes_its_slot_late_then_its_failure_is_alerted_once(qtx_db, qtx_settings):
    slot = datetime(2026, 9, 23, 8, 20, tzinfo=UTC).astimezone()  # a scheduled reconcile
    slots = {"reconcile": slot}
    killed_row = {"stage": "reconcile", "id": 7, "outcome": "running",
                  "started_at": slot.astimezone(UTC).isoformat(), "last_ok_started": None}
    grace = timedelta(minutes=30)
    assert monitor.incidents([killed_row], slots, grace, slot + timedelta(minutes=10)) == []  # under way
    late = monitor.incidents([killed_row], slots, grace, slot + timedelta(hours=1))
    assert [i.kind for i in late] == ["late"] and "never ended" in late[0].message
    t0 = datetime.now(UTC) - timedelta(hours=3)
    killed = runs_db.start_run(qtx_db, "reconcile", None, 4242)  # SIGKILLed: stays 'running'
    _stamp(qtx_db, killed, t0)
    # The next run marks the killed one failed and succeeds: it is the latest run now.
    runs_db.abandon_running(qtx_db, "reconcile", "ended without a result (process killed or crashed)")
    nxt = runs_db.start_run(qtx_db, "reconcile", None, 4243)
    runs_db.finish_run(qtx_db, nxt, "ok")
    again = [i for i in monitor.check_stages(qtx_db, qtx_settings, datetime.now(UTC)) if i.stage == "reconcile"]
    assert len(again) == 1 and again[0].key == f"hb:failed:reconcile:{killed}"
    assert [i for i in monitor.check_stages(qtx_db, qtx_settings, datetime.now(UTC))
            if i.stage == "reconcile"] == []  # alerted once
    assert qtx_db.scalar("SELECT COUNT(*) FROM outbox WHERE dedup_key LIKE 'hb:failed:reconcile:%'") == 1


def test_a_failed_run_that_is_no_longer_the_latest_is_still_alerted(qtx_db, qtx_settings):
    bad = runs_db.start_run(qtx_db, "collect", None, 1)
    runs_db.finish_run(qtx_db, bad, "failed", "Kiwoom 8050")
    good = runs_db.start_run(qtx_db, "collect", None, 2)
    runs_db.finish_run(qtx_db, good, "ok")
    found = [i for i in monitor.check_stages(qtx_db, qtx_settings, datetime.now(UTC)) if i.stage == "collect"]
    assert [i.key for i in found] == [f"hb:failed:collect:{bad}"]


def test_a_run_killed_before_a_weekend_is_alerted_when_marked_failed_days_later(qtx_db, qtx_settings):
    """Found by the 30-day soak: Friday's killed execute was marked failed on Monday, outside a
    window judged by its start."""
    friday = datetime.now(UTC) - timedelta(days=3)
    killed = runs_db.start_run(qtx_db, "execute", None, 1)
    _stamp(qtx_db, killed, friday)
    runs_db.abandon_running(qtx_db, "execute", "ended without a result (process killed or crashed)")
    ok = runs_db.start_run(qtx_db, "execute", None, 2)
    runs_db.finish_run(qtx_db, ok, "ok")
    found = [i.key for i in monitor.check_stages(qtx_db, qtx_settings, datetime.now(UTC)) if i.stage == "execute"]
    assert f"hb:failed:execute:{killed}" in found


def test_a_run_that_woke_after_its_window_does_not_satisfy_the_slot(qtx_db, qtx_settings):
    """Found by the 30-day soak: the Mac slept through 08:35, execute ran on wake at 09:02 and was
    skipped (window closed); the skipped run counted as done and nobody heard."""
    from db import readside

    slot = datetime(2022, 8, 22, 23, 35, tzinfo=UTC)
    done = runs_db.start_run(qtx_db, "execute", None, 1)
    runs_db.finish_run(qtx_db, done, "ok")
    _stamp(qtx_db, done, slot - timedelta(days=1))
    woke = runs_db.start_run(qtx_db, "execute", None, 2)
    runs_db.finish_run(qtx_db, woke, "skipped", "after the execute window")
    _stamp(qtx_db, woke, slot + timedelta(minutes=27))
    rows = readside.runs_summary(qtx_db)
    late = monitor.incidents(rows, {"execute": slot}, timedelta(minutes=30), slot + timedelta(minutes=31))
    assert [i.kind for i in late] == ["late"]


def test_the_next_run_of_a_stage_reports_a_killed_predecessor_at_once(qtx_db, qtx_settings):
    """Found by the soak in CI: a report killed on Tuesday was marked failed by the last day's
    report, after the listener's last check; the run that finds a killed row now says so."""
    from pipeline.schedule.stage import run_stage

    killed = runs_db.start_run(qtx_db, "report", None, 99)
    with run_stage(qtx_db, qtx_settings, "report", None):
        pass
    assert qtx_db.scalar("SELECT outcome FROM runs WHERE id = ?", (killed,)) == "failed"
    assert qtx_db.scalar("SELECT COUNT(*) FROM outbox WHERE dedup_key = ?", (f"hb:failed:report:{killed}",)) == 1
    monitor.check_stages(qtx_db, qtx_settings, datetime.now(UTC))  # the monitor does not alert it again
    assert qtx_db.scalar("SELECT COUNT(*) FROM outbox WHERE dedup_key LIKE 'hb:failed:report:%'") == 1
