"""launchd plists: keys and types, the schedule in the Mac's zone, the listener's keep-alive,
install/uninstall, and the 0600 secrets file the jobs load."""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import subprocess
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from launchd import plists, schedule
from pipeline.config import ConfigError, from_dict
from pipeline.envfile import load_env_file, load_from_environment
from pipeline.schedule import calendar as cal

KST = ZoneInfo("Asia/Seoul")
WINTER = date(2026, 11, 23)  # a Monday; New York on EST, London on GMT
SUMMER = date(2027, 7, 5)  # a Monday; EDT / BST
STAGES = ("collect", "signal", "execute", "sync", "report", "reconcile")


def target(tmp_path, market="krx", daemon=True, zone="Asia/Seoul", on=WINTER, late_open=None):
    return plists.Target(
        market=market, mode="paper", qtx=Path("/opt/qtx/venv/bin/qtx"),
        config=tmp_path / "qtx.yaml", workdir=tmp_path, logs=tmp_path / "logs", daemon=daemon,
        user="trader" if daemon else None, home="/Users/trader",
        env_file=Path("/Users/trader/.config/qtx/qtx.env"), local_zone=zone, on=on,
        late_open=late_open or {})


def parsed(t):
    """Every generated plist, round-tripped through its XML bytes with plistlib."""
    return {g.name: plistlib.loads(g.dumps()) for g in plists.build(t)}


# --- keys and types -----------------------------------------------------------------------


@pytest.mark.parametrize("market", ["krx", "bybit"])
@pytest.mark.parametrize("daemon", [True, False])
@pytest.mark.parametrize("zone", ["Asia/Seoul", "America/New_York", "Europe/London", "Asia/Kolkata"])
def test_every_plist_parses_with_the_right_keys_and_types(tmp_path, market, daemon, zone):
    jobs = parsed(target(tmp_path, market, daemon, zone))
    assert set(jobs) == {*STAGES, "telegram", "catchup"}
    for name, p in jobs.items():
        assert p["Label"] == f"com.qtx.{market}.paper.{name}"
        args = p["ProgramArguments"]
        assert all(isinstance(a, str) for a in args)
        assert args[:3] == ["/opt/qtx/venv/bin/qtx", "--config", str(tmp_path / "qtx.yaml")]
        assert Path(args[0]).is_absolute() and Path(args[2]).is_absolute()
        for key in ("WorkingDirectory", "StandardOutPath", "StandardErrorPath"):
            assert isinstance(p[key], str) and Path(p[key]).is_absolute(), key
        assert p["StandardOutPath"].startswith(str(tmp_path / "logs"))
        env = p["EnvironmentVariables"]
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
        assert env["QTX_CONFIG"] == str(tmp_path / "qtx.yaml")
        assert env["QTX_ENV_FILE"] == "/Users/trader/.config/qtx/qtx.env"
        assert env["PATH"].split(":")[0] == "/opt/qtx/venv/bin"
        assert type(p["ThrottleInterval"]) is int and p["ThrottleInterval"] >= 10
        assert type(p["ExitTimeOut"]) is int and p["ExitTimeOut"] > 0
        assert p["ProcessType"] in ("Background", "Standard")
        assert type(p["RunAtLoad"]) is bool
        if daemon:
            assert p["UserName"] == "trader" and isinstance(p["GroupName"], str)
        else:
            assert "UserName" not in p
    for stage in STAGES:
        p = jobs[stage]
        assert p["ProgramArguments"][3] == stage
        assert p["RunAtLoad"] is False and p["KeepAlive"] is False
        entries = p["StartCalendarInterval"]
        assert entries and all(isinstance(e, dict) for e in entries)
        for e in entries:
            assert set(e) <= {"Month", "Day", "Weekday", "Hour", "Minute"}
            assert all(type(v) is int for v in e.values())
            assert 0 <= e["Hour"] <= 23 and 0 <= e["Minute"] <= 59
            assert 0 <= e.get("Weekday", 0) <= 6
    assert jobs["report"]["ProgramArguments"][3:] == ["report", "--send"]
    assert jobs["execute"]["ProcessType"] == "Standard"  # races the opening auction
    assert jobs["collect"]["ProcessType"] == "Background"
    assert jobs["catchup"]["ProgramArguments"][3:] == ["launchd", "catchup"]
    assert jobs["catchup"]["RunAtLoad"] is True and jobs["catchup"]["KeepAlive"] is False


def test_the_listener_starts_at_load_and_comes_back_when_it_dies(tmp_path):
    for daemon in (True, False):
        p = parsed(target(tmp_path, daemon=daemon))["telegram"]
        assert p["ProgramArguments"][3:] == ["telegram"]
        assert p["RunAtLoad"] is True and p["KeepAlive"] is True
        assert "StartCalendarInterval" not in p
        assert p["ProcessType"] == "Standard" and p["ThrottleInterval"] >= 10


def test_no_secret_value_ever_reaches_a_plist(tmp_path, monkeypatch):
    monkeypatch.setenv("QTX_TELEGRAM_TOKEN", "123456:SECRET-token-value")
    monkeypatch.setenv("QTX_BYBIT_SECRET", "bybit-secret-value")
    blob = b"".join(g.dumps() for g in plists.build(target(tmp_path, "bybit")))
    assert b"SECRET-token-value" not in blob and b"bybit-secret-value" not in blob


# --- the schedule in the Mac's zone -------------------------------------------------------


def entries_of(t, stage):
    return parsed(t)[stage]["StartCalendarInterval"]


def test_seoul_mac_gets_the_kst_times_monday_to_friday(tmp_path):
    t = target(tmp_path, zone="Asia/Seoul")
    want = {"collect": [(15, 45)], "signal": [(16, 0)], "report": [(16, 15)],
            "reconcile": [(8, 20)], "execute": [(8, 35), (8, 45)]}  # 08:45: the retry
    for stage, times in want.items():
        assert entries_of(t, stage) == [{"Weekday": wd, "Hour": hh, "Minute": mm}
                                        for hh, mm in times for wd in range(1, 6)]
    assert schedule.zone_warnings("krx", "Asia/Seoul", WINTER) == []


def test_new_york_mac_shifts_weekdays_and_installs_both_dst_offsets(tmp_path):
    ex = entries_of(target(tmp_path, zone="America/New_York"), "execute")
    # KST Monday 08:35 is Sunday 18:35 EST (19:35 EDT): launchd weekdays Sun(0)..Thu(4).
    for hh in (18, 19):
        assert [e for e in ex if e["Hour"] == hh and e["Minute"] == 35] == [
            {"Weekday": wd, "Hour": hh, "Minute": 35} for wd in range(0, 5)]
    assert len(ex) == 20  # and the 08:45 retry, at both offsets
    col = entries_of(target(tmp_path, zone="America/New_York"), "collect")
    assert {"Weekday": 1, "Hour": 1, "Minute": 45} in col  # KST Mon 15:45 = Mon 01:45 EST
    warns = schedule.zone_warnings("krx", "America/New_York", WINTER)
    assert any("DST" in w for w in warns) and any("not Asia/Seoul" in w for w in warns)


def test_half_hour_zone_and_bybit_daily_utc(tmp_path):
    col = entries_of(target(tmp_path, zone="Asia/Kolkata"), "collect")
    assert col[0] == {"Weekday": 1, "Hour": 12, "Minute": 15}  # 15:45 KST = 12:15 IST
    assert entries_of(target(tmp_path, "bybit", zone="UTC"), "execute") == [{"Hour": 0, "Minute": 15},
                                                                            {"Hour": 0, "Minute": 40}]
    assert entries_of(target(tmp_path, "bybit", zone="Asia/Seoul"), "collect") == [{"Hour": 9, "Minute": 5}]
    london = entries_of(target(tmp_path, "bybit", zone="Europe/London"), "report")
    assert london == [{"Hour": 0, "Minute": 20}, {"Hour": 1, "Minute": 20}]
    assert schedule.zone_warnings("bybit", "UTC", WINTER) == []


def fires(entries, local: ZoneInfo, start: date, days: int):
    """When launchd would start a job in ``days`` local days from ``start`` (entries matching
    the same minute start it once)."""
    out = []
    for k in range(days):
        d = start + timedelta(days=k)
        for e in entries:
            if "Weekday" in e and e["Weekday"] != d.isoweekday() % 7:
                continue
            if "Month" in e and (e["Month"], e["Day"]) != (d.month, d.day):
                continue
            out.append(datetime.combine(d, time(e["Hour"], e["Minute"]), tzinfo=local))
    return sorted(set(out))


@pytest.mark.parametrize("zone", ["Asia/Seoul", "America/New_York", "Europe/London", "America/Los_Angeles"])
@pytest.mark.parametrize("week", [WINTER, SUMMER])
def test_plists_made_in_winter_act_once_per_trading_day_in_any_season(tmp_path, zone, week):
    """Simulate launchd over a week (the plists made in winter, run in winter or summer): every
    stage acts exactly once per KRX trading day, at a time inside its window; every other fire
    (DST twins) exits without acting."""
    t = target(tmp_path, zone=zone, on=WINTER)
    local = ZoneInfo(zone)
    settings = from_dict({"market": "krx"})
    trading = [d for d in (week + timedelta(days=k) for k in range(5)) if cal.is_trading_day("krx", d)]
    for stage in STAGES:
        acted, last = [], None
        for when in fires(entries_of(t, stage), local, week - timedelta(days=1), 9):
            v = cal.window_gate(settings, stage, now=when, last_done=last)
            if v.ok:
                acted.append(v.market_date)
                last = v.market_date
                kst_time = when.astimezone(KST).time()
                if stage == "execute":
                    assert time(8, 30) <= kst_time < time(8, 55)
        in_week = [d for d in acted if week <= d < week + timedelta(days=5)]
        assert in_week == trading, (stage, zone)


def test_late_open_adds_one_date_entries_and_trades_that_morning(tmp_path):
    late = {date(2026, 11, 19): time(10, 0)}
    t = target(tmp_path, zone="America/New_York", on=date(2026, 11, 16), late_open=late)
    ex = entries_of(t, "execute")
    # 09:35 KST on 19 Nov is 19:35 EST on the 18th.
    assert {"Month": 11, "Day": 18, "Hour": 19, "Minute": 35} in ex
    settings = from_dict({"market": "krx", "calendar": {"late_open": {"2026-11-19": "10:00"}}})
    acted, last = [], None
    for w in fires(ex, ZoneInfo("America/New_York"), date(2026, 11, 18), 1):
        if cal.window_gate(settings, "execute", now=w, last_done=last).ok:
            acted.append(w.astimezone(KST).strftime("%d %H:%M"))
            last = cal.check_window("krx", "execute", w, settings).market_date
    assert acted == ["19 09:35"]  # the 09:45 retry, shifted too, finds the date done
    assert {"Month": 11, "Day": 18, "Hour": 19, "Minute": 45} in ex
    # A late open already past adds nothing.
    t2 = target(tmp_path, zone="Asia/Seoul", on=date(2026, 11, 20), late_open=late)
    assert all("Month" not in e for e in entries_of(t2, "execute"))


# --- install / uninstall through the CLI ---------------------------------------------------


@pytest.fixture
def cfg(tmp_config):
    return tmp_config(market="krx", mode="paper")


def test_install_print_and_uninstall_agents(run_cli, cfg, tmp_path):
    d = tmp_path / "agents"
    d.mkdir()
    (d / "com.qtx.krx.paper.oldjob.plist").write_bytes(b"stale")
    (d / "com.qtx.bybit.paper.collect.plist").write_bytes(b"another market")
    code, outp, _ = run_cli(["--config", cfg, "launchd", "install", "--agent", "--dir", d,
                             "--tz", "Asia/Seoul", "--qtx", "/opt/qtx/bin/qtx", "--json"])
    assert code == 0, outp
    res = json.loads(outp)
    assert len(res["written"]) == len(STAGES) + 2  # the stages, the listener, the catch-up job
    for f in res["written"]:
        p = plistlib.loads(Path(f).read_bytes())
        assert p["ProgramArguments"][0] == "/opt/qtx/bin/qtx"
        assert (os.stat(f).st_mode & 0o777) == 0o644
    assert not (d / "com.qtx.krx.paper.oldjob.plist").exists()
    assert (d / "com.qtx.bybit.paper.collect.plist").exists()  # other markets are left alone
    uid = os.getuid()
    cmds = res["load_commands"]
    assert f"launchctl bootstrap gui/{uid} {d}/com.qtx.krx.paper.telegram.plist" in cmds
    assert any(c.startswith(f"launchctl bootout gui/{uid}/com.qtx.krx.paper.oldjob") for c in cmds)
    assert (tmp_path / "logs").is_dir()

    code, text, _ = run_cli(["--config", cfg, "launchd", "print", "--agent", "--tz", "Asia/Seoul",
                             "--qtx", "/opt/qtx/bin/qtx"])
    assert code == 0 and "<key>KeepAlive</key>" in text and "launchctl bootstrap" in text

    code, outp, _ = run_cli(["--config", cfg, "launchd", "uninstall", "--agent", "--dir", d, "--json"])
    res = json.loads(outp)
    assert code == 0 and len(res["removed"]) == len(STAGES) + 2
    assert f"launchctl bootout gui/{uid}/com.qtx.krx.paper.execute" in res["unload_commands"]
    assert sorted(p.name for p in d.iterdir()) == ["com.qtx.bybit.paper.collect.plist"]


def test_daemons_staged_with_dir_print_root_copy_and_system_bootstrap(run_cli, cfg, tmp_path):
    d = tmp_path / "staged"
    code, outp, _ = run_cli(["--config", cfg, "launchd", "install", "--daemon", "--dir", d,
                             "--tz", "UTC", "--user", "nobody", "--json"])
    assert code == 0, outp
    res = json.loads(outp)
    cmds = res["load_commands"]
    assert f"sudo install -m 0644 -o root -g wheel {d}/com.qtx.krx.paper.collect.plist /Library/LaunchDaemons/" in cmds
    assert "sudo launchctl bootstrap system /Library/LaunchDaemons/com.qtx.krx.paper.telegram.plist" in cmds
    assert any("not Asia/Seoul" in w for w in res["warnings"])
    p = plistlib.loads((d / "com.qtx.krx.paper.telegram.plist").read_bytes())
    assert p["UserName"] == "nobody"


def test_launchd_commands_have_help(run_cli):
    for sub in ("print", "install", "uninstall", "catchup"):
        code, text, _ = run_cli(["launchd", sub, "--help"])
        assert code == 0 and "--json" in text


def test_bad_zone_is_a_usage_error(run_cli, cfg):
    code, _, errtext = run_cli(["--config", cfg, "launchd", "print", "--tz", "Mars/Olympus"])
    assert code == 2 and "Mars/Olympus" in errtext


# --- secrets file --------------------------------------------------------------------------


def test_env_file_must_be_private_and_values_never_show(tmp_path):
    f = tmp_path / "qtx.env"
    f.write_text("# secrets\nexport QTX_TELEGRAM_TOKEN='123:abc'\nQTX_BYBIT_KEY=k1\nQTX_SET=file\n")
    os.chmod(f, 0o644)
    with pytest.raises(ConfigError, match="0600"):
        load_env_file(f, {})
    os.chmod(f, 0o600)
    env = {"QTX_SET": "already"}
    assert load_env_file(f, env) == ["QTX_TELEGRAM_TOKEN", "QTX_BYBIT_KEY"]
    assert env == {"QTX_SET": "already", "QTX_TELEGRAM_TOKEN": "123:abc", "QTX_BYBIT_KEY": "k1"}
    f.write_text("QTX_OK=1\nthis-line-is-a-pasted-secret\n")
    with pytest.raises(ConfigError) as e:
        load_env_file(f, {})
    assert "line 2" in str(e.value) and "pasted" not in str(e.value)
    with pytest.raises(ConfigError, match="does not exist"):
        load_env_file(tmp_path / "missing.env", {})


def test_env_file_from_the_variable_the_plists_set(tmp_path):
    f = tmp_path / "qtx.env"
    f.write_text("QTX_TELEGRAM_TOKEN=t0k3n\n")
    os.chmod(f, 0o600)
    env = {"QTX_ENV_FILE": str(f)}
    assert load_from_environment(environ=env) == ["QTX_TELEGRAM_TOKEN"] and env["QTX_TELEGRAM_TOKEN"] == "t0k3n"
    warned = []
    assert load_from_environment(environ={"QTX_ENV_FILE": str(tmp_path / "none")}, warn=warned.append) == []
    assert warned and "none" in warned[0]
    assert load_from_environment(environ={}) == []
    os.chmod(f, 0o640)
    with pytest.raises(ConfigError, match="0600"):
        load_from_environment(environ={"QTX_ENV_FILE": str(f)})


def test_pm2_ecosystem_runs_the_listener(repo_root, tmp_path):
    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed: cannot evaluate ecosystem.config.js")
    script = (f"const c = require({json.dumps(str(repo_root / 'ecosystem.config.js'))});"
              "console.log(JSON.stringify(c));")
    env = {**os.environ, "QTX_CONFIG": str(tmp_path / "qtx.yaml")}
    cfg = json.loads(subprocess.run([node, "-e", script], capture_output=True, text=True,
                                    check=True, env=env).stdout)
    [app] = cfg["apps"]
    assert app["args"][-1] == "telegram" and app["autorestart"] is True
    assert app["interpreter"] == "none" and os.path.isabs(app["script"])
    assert str(tmp_path / "qtx.yaml") in app["args"]


def test_catchup_command_dry_run_reports_without_running(run_cli, qtx_db, qtx_settings):
    code, outp, _ = run_cli(["--config", qtx_settings.config_path, "launchd", "catchup",
                             "--dry-run", "--json"])
    res = json.loads(outp)
    assert code == 0 and res["dry_run"] is True and res["ran"] == []
    assert set(res["stages"]) <= set(STAGES)
    assert qtx_db.scalar("SELECT COUNT(*) FROM runs") == 0  # nothing was started
