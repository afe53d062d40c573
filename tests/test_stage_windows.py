"""Each stage started by the clock (no --asof) acts only inside its market window and on
trading days; outside it logs why, records a skipped run and exits 0 without acting.
``QTX_NOW`` stands in for the wall clock."""

from __future__ import annotations

import json

import pytest

from db import trading
from tests.paper_world import make_world


@pytest.fixture
def pending(tmp_path):
    """A paper world on the real calendar (its last bar is Monday 2026-11-23) with that day's
    decisions pending for Tuesday's opening auction."""
    for seed in (7, 8, 9, 10, 11):
        world = make_world(tmp_path / str(seed), n_symbols=16, seed=seed, end="2026-11-23")
        db = world.db()
        from pipeline.stages.collect import collect_csv

        collect_csv(db, world.settings, world.csv_dir, asof="2026-11-16")
        for d in world.dates[-6:]:
            world.day(db, d, execute=d != "2026-11-23")
        if trading.signals_on(db, "2026-11-23", status="pending"):
            return world, db
        db.close()
    pytest.fail("no seed gave pending signals on 2026-11-23")


def _execute(run_cli, world, now):
    code, out, _ = run_cli(["--config", world.config, "execute", "--json"], env={"QTX_NOW": now})
    assert code == 0
    return json.loads(out)


@pytest.mark.parametrize("now,why", [
    ("2026-11-24T06:29:00+09:00", "before"),            # Tuesday, before the opening auction
    ("2026-11-24T09:30:00+09:00", "after"),             # continuous session: too late for the auction
    ("2026-11-28T08:40:00+09:00", "Saturday"),
])
def test_execute_outside_its_window_does_nothing(pending, run_cli, now, why):
    world, db = pending
    r = _execute(run_cli, world, now)
    assert r["status"] == "skipped" and why in r["reason"]
    assert db.scalar("SELECT COUNT(*) FROM orders WHERE date = '2026-11-23'") == 0
    run = db.one("SELECT outcome, message FROM runs WHERE stage = 'execute' ORDER BY id DESC LIMIT 1")
    assert run["outcome"] == "skipped" and why in run["message"]


def test_execute_inside_its_window_acts(pending, run_cli):
    world, db = pending
    r = _execute(run_cli, world, "2026-11-24T08:40:00+09:00")
    assert r["status"] == "ok" and r["date"] == "2026-11-23"
    assert db.scalar("SELECT COUNT(*) FROM signals WHERE date = '2026-11-23' AND status = 'pending'") == 0


def test_execute_on_a_krx_holiday_does_nothing(tmp_config, run_cli):
    cfg = tmp_config()
    run_cli(["init", cfg.parent, "--force"])
    code, out, _ = run_cli(["--config", cfg, "execute", "--json"], env={"QTX_NOW": "2026-09-25T08:40:00+09:00"})
    r = json.loads(out)
    assert code == 0 and r["status"] == "skipped" and "Chuseok" in r["reason"]


def test_a_stale_decision_expires_instead_of_trading(pending, run_cli):
    """The Mac was off on Tuesday: on Wednesday morning Monday's decisions are stale."""
    world, db = pending
    r = _execute(run_cli, world, "2026-11-25T08:40:00+09:00")
    assert r["status"] == "nothing_to_do" and r["date"] is None
    assert db.scalar("SELECT COUNT(*) FROM orders WHERE date = '2026-11-23'") == 0
    assert db.scalar("SELECT COUNT(*) FROM signals WHERE date = '2026-11-23' AND status = 'expired'") > 0
    assert db.scalar("SELECT COUNT(*) FROM outbox WHERE text LIKE '%stale_signals%'") == 1


@pytest.mark.parametrize("stage,now,ok", [
    ("signal", "2026-11-24T11:00:00+09:00", False),  # market open: no decisions on a half bar
    ("signal", "2026-11-24T16:05:00+09:00", True),
    ("reconcile", "2026-11-24T11:00:00+09:00", True),  # places no orders: any time
])
def test_other_stages_keep_their_windows(pending, run_cli, stage, now, ok):
    world, db = pending
    code, out, _ = run_cli(["--config", world.config, stage, "--json"], env={"QTX_NOW": now})
    assert code == 0
    assert (json.loads(out).get("status") != "skipped") == ok


def test_bybit_execute_only_early_in_the_utc_day(tmp_config, run_cli):
    cfg = tmp_config(market="bybit")
    run_cli(["init", cfg.parent, "--market", "bybit", "--force"])
    late = json.loads(run_cli(["--config", cfg, "execute", "--json"], env={"QTX_NOW": "2026-11-24T17:00:00+00:00"}).stdout)
    early = json.loads(run_cli(["--config", cfg, "execute", "--json"], env={"QTX_NOW": "2026-11-24T00:20:00+00:00"}).stdout)
    assert late["status"] == "skipped" and early["status"] != "skipped"


def test_qtx_now_without_an_offset_or_not_a_time_is_exit_2_naming_it(tmp_config, run_cli):
    """Read as UTC, 08:40 would be 17:40 in Seoul: a dry check of the schedule would lie."""
    cfg = tmp_config()
    run_cli(["init", cfg.parent, "--force"])
    for raw, said in (("2026-11-24T08:40:00", "has no UTC offset"), ("garbage", "not an ISO timestamp")):
        code, out, err = run_cli(["--config", cfg, "execute", "--json"], env={"QTX_NOW": raw})
        assert code == 2 and out == "" and err.startswith(f"error: QTX_NOW: {raw!r} " if "offset" in said
                                                          else "error: QTX_NOW: not") and said in err


def test_catchup_dry_run_judges_the_clock_qtx_now_gives(tmp_config, run_cli):
    cfg = tmp_config()
    run_cli(["init", cfg.parent, "--force"])
    code, out, _ = run_cli(["--config", cfg, "launchd", "catchup", "--dry-run", "--json"],
                           env={"QTX_NOW": "2026-11-24T08:40:00+09:00"})
    r = json.loads(out)
    assert code == 0 and r["now"] == "2026-11-24T08:40:00+09:00"
    assert r["stages"] == ["sync", "reconcile", "execute"]  # 08:40: before the 08:55 cutoff
