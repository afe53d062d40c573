"""``qtx doctor`` against the local fakes (Bybit v5, Kiwoom REST, Telegram Bot API): all good,
then each check failing in turn with what to do; exit codes 0 / 1 / 2; no secret value ever in
what it prints.  Nothing here leaves 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from db import open_db
from db import runs as runs_db
from db import telegram as telegram_db
from db.bars import insert_bars
from pipeline.read import doctor
from pipeline.read.doctor import FAIL, OK, SKIP, WARN, Check, ClockReading, Probes, diagnose
from tests.fakes.bybit_v5 import FakeBybitV5
from tests.fakes.kiwoom_rest import FakeKiwoomRest
from tests.telegram_helpers import CHAT, TOKEN

KEY, SECRET = "K3y-doctor-abcdef", "S3cr3t-doctor-uvwxyz"
KW_KEY, KW_SECRET = "kiwoom-APPKEY-0123456789", "kiwoom-SECRET-9876543210"
ENV_NAMES = {"key": "QTX_T_BYBIT_KEY", "secret": "QTX_T_BYBIT_SECRET", "tg": "QTX_T_TG_TOKEN",
             "kw_key": "QTX_T_KW_KEY", "kw_secret": "QTX_T_KW_SECRET"}
SECRET_VALUES = (KEY, SECRET, TOKEN, KW_KEY, KW_SECRET)
KST = ZoneInfo("Asia/Seoul")


@dataclass
class World:
    config: Path
    raw: dict
    env: dict
    root: Path

    def write(self, **changes) -> None:
        """Change config sections (merged one level deep) and rewrite the file."""
        for k, v in changes.items():
            if isinstance(v, dict) and isinstance(self.raw.get(k), dict):
                self.raw[k] = {**self.raw[k], **v}
            else:
                self.raw[k] = v
        self.config.write_text(yaml.safe_dump(self.raw))

    def db(self):
        return open_db(self.root / "q.sqlite", market=self.raw["market"], mode=self.raw["mode"])

    def probes(self, **kw) -> Probes:
        base = dict(environ=self.env, platform="linux", plist_dirs=(), local_zone=lambda: UTC,
                    disk_free=lambda p: 50 << 30, timeout=3.0)
        base.update(kw)
        return Probes(**base)


def _no_leak(*texts: str) -> None:
    for t in texts:
        for v in SECRET_VALUES:
            assert v not in t, "a secret value was printed"


def by_name(report) -> dict[str, Check]:
    return {c.name: c for c in report.checks}


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Every socket this module opens goes to 127.0.0.1: the doctor's defaults point at the
    real Bybit, Kiwoom and Telegram, and a test must never reach them."""
    real = socket.socket.connect

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        assert host in ("127.0.0.1", "::1", "localhost"), f"a test tried to reach {address}"
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for v in ("QTX_ENV_FILE", "QTX_NOW", "QTX_CONFIG"):
        monkeypatch.delenv(v, raising=False)


@pytest.fixture
def bybit(tmp_path, fake):
    """A live Bybit setup that is entirely healthy: keys accepted, Telegram answering, the
    listener beating, yesterday's candle stored."""
    with FakeBybitV5(api_key=KEY, api_secret=SECRET) as ex:
        ex.fund("USDT", "1000")
        raw = {"market": "bybit", "mode": "live", "capital": 1000, "database": str(tmp_path / "q.sqlite"),
               "risk": {"max_order_notional": 100},
               "bybit": {"endpoint": ex.url, "api_key_env": ENV_NAMES["key"],
                         "api_secret_env": ENV_NAMES["secret"]},
               "telegram": {"token_env": ENV_NAMES["tg"], "allowed_chat_ids": [CHAT], "base_url": fake.url}}
        cfg = tmp_path / "qtx.yaml"
        cfg.write_text(yaml.safe_dump(raw))
        db = open_db(tmp_path / "q.sqlite", market="bybit", mode="live", create=True, capital=1000)
        yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
        insert_bars(db, "BTCUSDT", [(yesterday, 100, 110, 90, 105, 1000)])
        telegram_db.beat(db, os.getpid(), "2026-01-01T00:00:00Z")
        db.close()
        env = {ENV_NAMES["key"]: KEY, ENV_NAMES["secret"]: SECRET, ENV_NAMES["tg"]: TOKEN}
        world = World(cfg, raw, env, tmp_path)
        world.exchange = ex
        world.bot = fake
        yield world


def test_a_healthy_bybit_setup_passes_every_check(bybit):
    r = diagnose(bybit.config, bybit.probes())
    checks = by_name(r)
    assert r.ok, [c for c in r.checks if c.status == FAIL]
    for name in ("config", "secrets", "clock", "time zone", "broker", "telegram", "listener",
                 "database", "disk", "data"):
        assert checks[name].status == OK, checks[name]
    assert "keys accepted" in checks["broker"].detail
    assert "@qtx_test_bot" in checks["telegram"].detail
    assert checks["launchd"].status == SKIP and "not macOS" in checks["launchd"].detail
    assert {f"stage {s}" for s in ("collect", "signal", "reconcile", "execute", "sync", "report")} <= set(checks)
    assert bybit.bot.method_count("getMe") == 1
    _no_leak(json.dumps(r.to_dict()))


@pytest.mark.parametrize("case", ["key missing", "env file readable by others", "env file absent"])
def test_secrets_fail_by_name_never_by_value(bybit, tmp_path, case):
    env = dict(bybit.env)
    if case == "key missing":
        del env[ENV_NAMES["secret"]]
    else:
        f = tmp_path / "qtx.env"
        env = {"QTX_ENV_FILE": str(f)}  # the keys only in the file
        if case == "env file readable by others":
            f.write_text(f"{ENV_NAMES['key']}={KEY}\n{ENV_NAMES['secret']}={SECRET}\n{ENV_NAMES['tg']}={TOKEN}\n")
            f.chmod(0o644)
    r = diagnose(bybit.config, bybit.probes(environ=env))
    c = by_name(r)["secrets"]
    assert c.status == FAIL and not r.ok
    if case == "key missing":
        assert ENV_NAMES["secret"] in c.detail and "Bybit API secret" in c.detail
        assert by_name(r)["broker"].status == FAIL  # live mode refuses to start without it
    elif case == "env file readable by others":
        assert "0644" in c.detail and f"chmod 600 {f}" in c.detail
    else:
        assert "does not exist" in c.detail and "install -m 600" in c.fix
    _no_leak(json.dumps(r.to_dict()))


def test_the_secrets_file_launchd_uses_is_read_when_this_shell_has_none(bybit, tmp_path):
    """Run by hand, doctor checks what the jobs will see: the file their plists name."""
    f = tmp_path / "qtx.env"
    f.write_text(f"{ENV_NAMES['key']}={KEY}\n{ENV_NAMES['secret']}={SECRET}\n{ENV_NAMES['tg']}={TOKEN}\n")
    f.chmod(0o600)
    dirs = install_plists(bybit, tmp_path / "LaunchDaemons", env_file=f)
    r = diagnose(bybit.config, bybit.probes(environ={}, plist_dirs=dirs))
    checks = by_name(r)
    assert checks["secrets"].status == OK and str(f) in checks["secrets"].detail
    assert checks["broker"].status == OK and checks["telegram"].status == OK
    _no_leak(json.dumps(r.to_dict()))


def test_a_wrong_machine_clock_fails_the_clock_check_only(bybit):
    r = diagnose(bybit.config, bybit.probes(wall=lambda: time.time() - 30))
    c = by_name(r)["clock"]
    assert c.status == FAIL and "behind Bybit server time" in c.detail and "30." in c.detail
    assert "setusingnetworktime" in c.fix
    assert by_name(r)["broker"].status == OK  # the signing clock is the real one
    assert doctor.judge_clock(ClockReading("x", 1.0, 0.2)).status == WARN
    assert doctor.judge_clock(ClockReading("x", 0.9, 0.5)).status == OK  # within what we can tell
    assert doctor.judge_clock(ClockReading("x", -2.8, 0.5)).status == FAIL


def test_refused_keys_and_an_unreachable_broker(bybit):
    env = dict(bybit.env, **{ENV_NAMES["key"]: "not-the-key"})
    c = by_name(diagnose(bybit.config, bybit.probes(environ=env)))["broker"]
    assert c.status == FAIL and "refused the keys" in c.detail
    # A wrong secret: Bybit's signature error quotes the API key back; the report must not.
    env = dict(bybit.env, **{ENV_NAMES["secret"]: "not-the-secret"})
    r = diagnose(bybit.config, bybit.probes(environ=env))
    assert by_name(r)["broker"].status == FAIL and "<redacted>" in by_name(r)["broker"].detail
    _no_leak(json.dumps(r.to_dict()))
    bybit.write(bybit={"endpoint": "http://127.0.0.1:1"})
    r = diagnose(bybit.config, bybit.probes())
    assert by_name(r)["broker"].status == FAIL and "unreachable" in by_name(r)["broker"].detail
    assert by_name(r)["clock"].status == SKIP


def test_telegram_token_refused_or_no_allowed_chats(bybit):
    env = dict(bybit.env, **{ENV_NAMES["tg"]: "999:not-the-token"})
    r = diagnose(bybit.config, bybit.probes(environ=env))
    c = by_name(r)["telegram"]
    assert c.status == FAIL and "refused" in c.detail and "@BotFather" in c.fix
    assert "999:not-the-token" not in json.dumps(r.to_dict())
    bybit.write(telegram={"allowed_chat_ids": []})
    c = by_name(diagnose(bybit.config, bybit.probes()))["telegram"]
    assert c.status == FAIL and "allowed_chat_ids is empty" in c.detail


def test_a_silent_listener(bybit):
    later = lambda: datetime.now(UTC) + timedelta(hours=2)  # noqa: E731
    c = by_name(diagnose(bybit.config, bybit.probes(now=later)))["listener"]
    assert c.status == FAIL and "no heartbeat" in c.detail and "kickstart" in c.fix


def test_a_full_disk(bybit):
    r = diagnose(bybit.config, bybit.probes(disk_free=lambda p: 200 << 20))
    assert by_name(r)["disk"].status == FAIL and "0.2 GiB free" in by_name(r)["disk"].detail
    assert by_name(diagnose(bybit.config, bybit.probes(disk_free=lambda p: 3 << 30)))["disk"].status == WARN


def test_a_damaged_database_file(bybit):
    import sqlite3

    from db import events as events_db

    db_file = bybit.root / "q.sqlite"
    db = bybit.db()
    for i in range(400):  # a few hundred pages of events
        events_db.record(db, "info", "filler", f"event {i} " + "x" * 500)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    pages = db_file.stat().st_size // 4096
    with db_file.open("r+b") as f:  # overwrite a page in the middle of the file
        f.seek((pages // 2) * 4096)
        f.write(b"\xff" * 4096)
    try:  # the file really is damaged
        assert sqlite3.connect(db_file).execute("PRAGMA quick_check").fetchall() != [("ok",)]
    except sqlite3.DatabaseError:
        pass
    r = diagnose(bybit.config, bybit.probes())
    c = by_name(r)["database"]
    assert c.status == FAIL and ".recover" in c.fix
    assert by_name(r)["stages and data"].status == SKIP
    assert by_name(r)["broker"].status == OK  # the rest of the report still comes


def test_journal_mode_and_schema_are_judged():
    p = Path("/x/q.sqlite")
    assert doctor.judge_database(p, ["ok"], "wal", 2, 2).status == OK
    assert doctor.judge_database(p, ["ok"], "delete", 2, 2).status == FAIL
    assert doctor.judge_database(p, ["ok"], "wal", 3, 2).status == FAIL
    bad = doctor.judge_database(p, ["*** in database main ***", "Page 7: btreeInitPage() returns error code 11"],
                                "wal", 2, 2)
    assert bad.status == FAIL and "2 problem(s)" in bad.detail


def test_a_failed_run_and_a_late_stage(bybit, tmp_path):
    db = bybit.db()
    run = runs_db.start_run(db, "collect", None, 1)
    runs_db.finish_run(db, run, "failed", "Bybit kline timed out")
    db.close()
    r = diagnose(bybit.config, bybit.probes())
    c = by_name(r)["stage collect"]
    assert c.status == FAIL and "Bybit kline timed out" in c.detail and "collect.err.log" in c.fix
    assert by_name(r)["stage signal"].status == OK  # nothing scheduled: never "late"
    # With the schedule installed, two days on and nothing run: every stage is late.
    dirs = install_plists(bybit, tmp_path / "LaunchDaemons")
    noon = datetime.combine(datetime.now(UTC).date() + timedelta(days=2), datetime.min.time().replace(hour=12),
                            tzinfo=UTC)
    r = diagnose(bybit.config, bybit.probes(plist_dirs=dirs, now=lambda: noon))
    late = by_name(r)["stage signal"]
    assert late.status == FAIL and "has not run successfully" in late.detail and "catchup" in late.fix


def test_stale_or_missing_bars(bybit):
    later = lambda: datetime.now(UTC) + timedelta(days=3)  # noqa: E731
    c = by_name(diagnose(bybit.config, bybit.probes(now=later)))["data"]
    assert c.status == FAIL and "stale data" in c.detail and "qtx collect" in c.fix
    bybit.write(database=str(bybit.root / "empty.sqlite"))
    open_db(bybit.root / "empty.sqlite", market="bybit", mode="live", create=True).close()
    c = by_name(diagnose(bybit.config, bybit.probes()))["data"]
    assert c.status == FAIL and "no bars are stored" in c.detail


# -- launchd and the time zone ----------------------------------------------------------------------
def install_plists(world: World, folder: Path, zone: str = "UTC", env_file: Path | None = None) -> tuple[Path]:
    from launchd import plists

    s = world.raw
    t = plists.Target(market=s["market"], mode=s["mode"], qtx=Path("/usr/local/bin/qtx"),
                      config=world.config, workdir=world.root, logs=world.root / "logs", daemon=True,
                      user="trader", home="/Users/trader", env_file=env_file, local_zone=zone,
                      on=date.today())
    folder.mkdir(parents=True, exist_ok=True)
    for g in plists.build(t):
        (folder / g.filename).write_bytes(g.dumps())
    return (folder,)


def launchctl(states: dict[str, tuple[int, str]]):
    calls = []

    def run(argv):
        calls.append(argv)
        label = argv[-1].split("/", 1)[1]
        return states.get(label, (0, "state = not running\n\tlast exit code = 0\n"))

    run.calls = calls
    return run


def test_launchd_on_macos_installed_loaded_and_running(bybit, tmp_path):
    dirs = install_plists(bybit, tmp_path / "LaunchDaemons")
    listener = "com.qtx.bybit.live.telegram"
    run = launchctl({listener: (0, "\tstate = running\n\tpid = 4242\n")})
    c = by_name(diagnose(bybit.config, bybit.probes(platform="darwin", plist_dirs=dirs, launchctl=run)))["launchd"]
    assert c.status == OK and "as daemons" in c.detail
    assert ["launchctl", "print", f"system/{listener}"] in run.calls


@pytest.mark.parametrize("case", ["none installed", "one missing", "not loaded", "listener down"])
def test_launchd_failures(bybit, tmp_path, case):
    listener = "com.qtx.bybit.live.telegram"
    states = {listener: (0, "state = running\n")}
    dirs = (tmp_path / "LaunchDaemons",)
    if case != "none installed":
        dirs = install_plists(bybit, tmp_path / "LaunchDaemons")
    if case == "one missing":
        (dirs[0] / "com.qtx.bybit.live.execute.plist").unlink()
    if case == "not loaded":
        states["com.qtx.bybit.live.collect"] = (113, "Could not find service")
    if case == "listener down":
        states[listener] = (0, "state = not running\nlast exit code = 1\n")
    c = by_name(diagnose(bybit.config, bybit.probes(platform="darwin", plist_dirs=dirs,
                                                     launchctl=launchctl(states))))["launchd"]
    assert c.status == FAIL
    assert {"none installed": "launchd install", "one missing": "launchd install",
            "not loaded": "launchctl bootstrap system", "listener down": "kickstart"}[case] in c.fix
    assert {"none installed": "no qtx jobs", "one missing": "com.qtx.bybit.live.execute",
            "not loaded": "com.qtx.bybit.live.collect", "listener down": "last exit code 1"}[case] in c.detail


@pytest.mark.parametrize("market", ["krx", "bybit"])
@pytest.mark.parametrize("installed_for,mac", [
    ("Asia/Seoul", "Asia/Seoul"), ("America/New_York", "America/New_York"),  # DST twins: one fires right
    ("Europe/London", "Europe/London"), ("UTC", "UTC"),
    ("Asia/Seoul", "America/New_York"), ("America/New_York", "Europe/Berlin"), ("UTC", "Asia/Seoul"),
])
def test_a_schedule_installed_for_another_time_zone(bybit, tmp_path, market, installed_for, mac):
    if market == "krx":
        bybit.write(market="krx", database=str(tmp_path / "k.sqlite"))
        open_db(tmp_path / "k.sqlite", market="krx", mode="live", create=True).close()
    dirs = install_plists(bybit, tmp_path / "LaunchDaemons", zone=installed_for)
    r = diagnose(bybit.config, bybit.probes(plist_dirs=dirs, local_zone=lambda: ZoneInfo(mac)))
    c = by_name(r)["time zone"]
    if installed_for == mac:
        assert c.status == OK and "fires at the market's times" in c.detail, c
    else:
        assert c.status == FAIL and "another time zone" in c.detail and "launchd install" in c.fix
        assert "execute" in c.detail


def test_time_zone_without_a_schedule(bybit):
    c = by_name(diagnose(bybit.config, bybit.probes(local_zone=lambda: ZoneInfo("Asia/Seoul"))))["time zone"]
    assert c.status == OK and "UTC+09:00" in c.detail and "converted" in c.detail
    assert by_name(diagnose(bybit.config, bybit.probes(local_zone=lambda: None)))["time zone"].status == WARN


# -- Kiwoom (KRX) -----------------------------------------------------------------------------------
@pytest.fixture
def krx(tmp_path):
    with FakeKiwoomRest(KW_KEY, KW_SECRET, today=datetime.now(UTC).date().isoformat()) as kw:
        raw = {"market": "krx", "mode": "live", "database": str(tmp_path / "q.sqlite"),
               "risk": {"max_order_notional": 1_000_000},
               "kiwoom": {"endpoint": kw.url, "appkey_env": ENV_NAMES["kw_key"],
                          "secretkey_env": ENV_NAMES["kw_secret"]}}
        cfg = tmp_path / "qtx.yaml"
        cfg.write_text(yaml.safe_dump(raw))
        open_db(tmp_path / "q.sqlite", market="krx", mode="live", create=True).close()
        world = World(cfg, raw, {ENV_NAMES["kw_key"]: KW_KEY, ENV_NAMES["kw_secret"]: KW_SECRET}, tmp_path)
        world.kiwoom = kw
        yield world


def test_kiwoom_token_account_and_the_clock_from_its_date_header(krx):
    r = diagnose(krx.config, krx.probes())
    checks = by_name(r)
    assert checks["broker"].status == OK and "account read" in checks["broker"].detail
    assert checks["clock"].status == OK and "Kiwoom" in checks["clock"].detail
    assert krx.kiwoom.tokens_issued == 1 and krx.kiwoom.calls("kt00001")
    r2 = diagnose(krx.config, krx.probes(wall=lambda: time.time() + 20))
    assert by_name(r2)["clock"].status == FAIL and "ahead of" in by_name(r2)["clock"].detail
    assert krx.kiwoom.tokens_issued == 1  # the day's token is kept in the database and reused
    _no_leak(json.dumps(r.to_dict()), json.dumps(r2.to_dict()))


def test_kiwoom_refuses_the_keys_or_this_ip(krx):
    env = dict(krx.env, **{ENV_NAMES["kw_secret"]: "wrong-secret"})
    c = by_name(diagnose(krx.config, krx.probes(environ=env)))["broker"]
    assert c.status == FAIL and "refused the keys" in c.detail
    krx.kiwoom.device_error(8050)
    c = by_name(diagnose(krx.config, krx.probes(environ=env)))["broker"]
    assert c.status == FAIL and "public IP" in c.detail and "IP 등록" in c.fix


def test_paper_krx_without_kiwoom_keys_only_warns(krx):
    krx.write(mode="paper", database=str(krx.root / "p.sqlite"))
    open_db(krx.root / "p.sqlite", market="krx", mode="paper", create=True).close()
    r = diagnose(krx.config, krx.probes(environ={}))
    assert by_name(r)["secrets"].status == WARN and "--source csv" in by_name(r)["secrets"].fix
    assert by_name(r)["broker"].status == WARN
    assert by_name(r)["telegram"].status == WARN  # not set up: said, not failed


# -- the command -------------------------------------------------------------------------------------
def test_exit_codes_and_json(bybit, run_cli):
    code, out, err = run_cli(["--config", bybit.config, "doctor", "--json"], env=bybit.env)
    d = json.loads(out)
    assert code == 0, [c for c in d["checks"] if c["status"] == "fail"]
    assert d["ok"] is True and d["counts"]["fail"] == 0
    assert {"name", "status", "detail", "fix"} == set(d["checks"][0])
    bad = dict(bybit.env, **{ENV_NAMES["tg"]: "1:refused"})
    code, out, err = run_cli(["--config", bybit.config, "doctor"], env=bad)
    assert code == 1 and "telegram" in out and "failed" in out
    _no_leak(out, err)
    code, out, err = run_cli(["--config", bybit.config, "doctor", "--json"], env=bad)
    assert code == 1 and json.loads(out)["ok"] is False
    bybit.config.write_text("market: krx\nrisk: {sector_cap: 1.5}\n")
    code, out, err = run_cli(["--config", bybit.config, "doctor", "--json"], env=bybit.env)
    assert code == 2 and out == "" and "risk.sector_cap" in err


def test_a_bad_config_is_a_failed_check_for_telegram_and_mcp(bybit):
    """/health and the MCP tool run diagnose() on a config that was fine when they started."""
    bybit.config.write_text("market: [\n")
    r = diagnose(bybit.config, bybit.probes())
    assert [c.status for c in r.checks] == [FAIL] and "not valid YAML" in r.checks[0].detail


def test_check_is_typed():
    with pytest.raises(ValueError):
        Check("x", "bad", "detail")
    assert replace(Check("x", OK, "d"), status=FAIL).to_dict() == {"name": "x", "status": "fail",
                                                                   "detail": "d", "fix": None}


# -- Telegram /health ---------------------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_telegram_health_shows_the_same_report(bybit, monkeypatch):
    from pipeline.config import load
    from tests.telegram_helpers import running_listener

    bybit.write(telegram={"poll_timeout": 1, "outbox_poll_seconds": 0.2, "watch_stages": []})
    for k, v in bybit.env.items():
        monkeypatch.setenv(k, v)
    fake = bybit.bot
    with running_listener(load(bybit.config)):
        fake.push_command(CHAT, "/health")
        assert fake.wait_for(lambda f: any("qtx health" in t for t in f.texts(CHAT)), timeout=60)
        monkeypatch.setenv(ENV_NAMES["key"], "not-the-key")
        fake.push_command(CHAT, "/health")
        assert fake.wait_for(lambda f: sum("qtx health" in t for t in f.texts(CHAT)) == 2, timeout=60)
    first, second = [t for t in fake.texts(CHAT) if "qtx health" in t]
    assert "broker" in first and "refused the keys" not in first
    assert "❌ <b>broker</b>: Bybit refused the keys" in second and "→ check the key" in second
    assert "❌ <b>qtx health:" in second
    _no_leak(first, second)
