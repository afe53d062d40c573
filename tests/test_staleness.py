"""A clock-driven stage knows the newest bar it should have: on stale data ``signal`` refuses,
alerts once and exits 1; an ``--asof`` run says which bar it acted on (issue 12, "Staleness")."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from db import runs as runs_db
from pipeline.schedule import calendar as cal
from tests.paper_world import make_world

# Tuesday 2026-11-24, after the KRX close: the signal window for that day is open.
TUESDAY_EVENING = "2026-11-24T16:05:00+09:00"


def kst(*a) -> datetime:
    return datetime(*a, tzinfo=cal.KST)


@pytest.mark.parametrize("now,expected", [
    (kst(2026, 11, 24, 16, 5), date(2026, 11, 23)),  # Tuesday evening: Monday's bar at least
    (kst(2026, 11, 24, 8, 40), date(2026, 11, 23)),  # Tuesday morning: Monday's bar
    (kst(2026, 11, 23, 8, 40), date(2026, 11, 20)),  # Monday morning: Friday's bar
    (kst(2026, 9, 28, 16, 5), date(2026, 9, 23)),    # after Chuseok: the last session before it
])
def test_the_calendar_names_the_bar_a_stage_should_have(now, expected):
    assert cal.expected_bar_date("krx", now) == expected


def test_freshness_verdict_is_pure_and_names_both_dates():
    ok = cal.freshness("krx", "2026-11-23", kst(2026, 11, 24, 16, 5))
    assert ok.ok and ok.newest == "2026-11-23" and ok.expected == "2026-11-23"
    stale = cal.freshness("krx", "2024-08-09", kst(2026, 11, 24, 16, 5))
    assert not stale.ok and "2024-08-09" in stale.reason and "2026-11-23" in stale.reason
    assert not cal.freshness("krx", None, kst(2026, 11, 24, 16, 5)).ok
    assert cal.freshness("bybit", "2026-11-23", datetime.fromisoformat("2026-11-24T00:05:00+00:00")).ok
    assert not cal.freshness("bybit", "2026-11-22", datetime.fromisoformat("2026-11-24T00:05:00+00:00")).ok


@pytest.fixture
def old_world(tmp_path, run_cli):
    """A paper database whose newest bars are from 2024."""
    world = make_world(tmp_path, n_symbols=8)
    world.db().close()
    assert run_cli(["--config", world.config, "collect", "--source", "csv", "--path", world.csv_dir])[0] == 0
    return world


def test_signal_on_stale_bars_refuses_alerts_once_and_exits_1(old_world, run_cli):
    world = old_world
    for _ in range(2):  # launchd fires again: still refused, still one alert
        code, out, err = run_cli(["--config", world.config, "signal", "--json"], env={"QTX_NOW": TUESDAY_EVENING})
        assert code == 1
        r = json.loads(out)
        assert r["status"] == "stale" and r["newest"] == world.dates[-1] and r["expected"] == "2026-11-23"
        assert world.dates[-1] in err and "traceback" not in err.lower()
    db = world.db()
    assert db.scalar("SELECT COUNT(*) FROM signals") == 0
    assert db.scalar("SELECT COUNT(*) FROM daily_metrics") == 0
    assert db.scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'error' AND text LIKE '%stale_data%'") == 1
    assert [r["outcome"] for r in runs_db.runs_of(db, "signal")] == ["failed", "failed"]


def test_signal_with_asof_states_the_bar_it_used(old_world, run_cli):
    world = old_world
    last = world.dates[-1]  # a Friday
    code, out, _ = run_cli(["--config", world.config, "signal", "--asof", "2024-08-12", "--json"])
    assert code == 0
    r = json.loads(out)
    assert r["status"] == "ok" and (r["asof"], r["bar_date"], r["date"]) == ("2024-08-12", last, last)
    code, out, _ = run_cli(["--config", world.config, "signal", "--asof", "2024-08-12"])
    assert code == 0 and f"as of 2024-08-12: the newest bars are of {last}" in " ".join(out.split())
