"""``qtx doctor``: is everything an unattended Mac mini needs in order, and what to do if not.

One ``Check`` per concern (name, status, detail, fix).  The ``judge_*`` functions are pure
(values in, a Check out); the probes that gather those values (broker calls, ``getMe``,
``launchctl print``, PRAGMAs, free disk) sit at the edges and come through ``Probes``, so tests
point them at local fakes.  ``diagnose`` runs everything in order; the report fails when any
check failed (``warn`` and ``skip`` do not fail it).

Secret values never enter a Check: names of variables and paths of files only.  Broker calls
are read-only (server time, token, balance).  What the launchd jobs will see is what is
checked: when ``$QTX_ENV_FILE`` is not set in this process, the secrets file the installed
plists name is read (names for the report, values only to try the keys).
"""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pipeline.config import ConfigError, Settings, load

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
STATUSES = (OK, WARN, FAIL, SKIP)

# Bybit refuses a signed request stamped more than 1 s ahead of its clock; launchd slots and
# market windows are judged to the minute.  Judged on the part of the offset that is certain
# (the measured offset minus the measurement's own uncertainty).
CLOCK_WARN_S = 0.5
CLOCK_FAIL_S = 2.0
DISK_FAIL_BYTES = 1 << 30  # 1 GiB
DISK_WARN_BYTES = 5 << 30
DAEMONS_DIR = Path("/Library/LaunchDaemons")
AGENTS_DIR = Path("~/Library/LaunchAgents")


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str
    fix: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"check status must be one of {STATUSES}, not {self.status!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Report:
    checks: list[Check]
    config: str | None = None
    checked_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def ok(self) -> bool:
        return not any(c.status == FAIL for c in self.checks)

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for c in self.checks if c.status == s) for s in STATUSES}

    def to_dict(self) -> dict:
        return {"ok": self.ok, "config": self.config, "checked_at": self.checked_at,
                "counts": self.counts(), "checks": [c.to_dict() for c in self.checks]}


def _default_now() -> datetime:
    from pipeline.schedule.gate import now

    return now()


def run_launchctl(argv: list[str]) -> tuple[int, str]:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return 127, f"{type(e).__name__}: {e}"
    return p.returncode, p.stdout + p.stderr


@dataclass
class Probes:
    """The outside world as ``diagnose`` sees it; every field can be replaced in a test."""

    wall: Callable[[], float] = time.time  # the machine clock, compared with the broker's
    now: Callable[[], datetime] = _default_now  # market time for lateness and freshness ($QTX_NOW)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    platform: str = sys.platform
    plist_dirs: tuple[Path, ...] | None = None  # default: the daemon and agent folders
    launchctl: Callable[[list[str]], tuple[int, str]] = run_launchctl
    disk_free: Callable[[Path], int] = lambda p: shutil.disk_usage(p).free
    # The Mac's zone, which launchd reads StartCalendarInterval in (default: this process's).
    local_zone: Callable[[], tzinfo | None] = lambda: datetime.now().astimezone().tzinfo
    uid: int = field(default_factory=lambda: os.getuid() if hasattr(os, "getuid") else 0)
    timeout: float = 5.0  # seconds for getMe and the Date-header request (adapters: their config's)


# -- config ----------------------------------------------------------------------------------------
def judge_config(path: str, settings: Settings | None, error: str | None) -> Check:
    if settings is None:
        return Check("config", FAIL, error or f"{path}: cannot be read",
                     "fix the key the message names (qtx init writes a commented example)")
    return Check("config", OK, f"{path}: {settings.market} / {settings.mode}"
                 + (f", profile {settings.profile}" if settings.profile else ""))


# -- secrets ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Need:
    var: str  # the environment variable's name (never its value)
    what: str
    required: bool  # missing: fail if required, else warn


def needed_secrets(s: Settings) -> list[Need]:
    """The variables this config needs, from the names the config gives them."""
    needs: list[Need] = []
    tg = s.telegram
    if tg.allowed_chat_ids and not tg.token_file:
        needs.append(Need(tg.token_env, "the Telegram bot token", True))
    if s.market == "bybit" and s.mode == "live":
        needs += [Need(s.bybit.api_key_env, "the Bybit API key", True),
                  Need(s.bybit.api_secret_env, "the Bybit API secret", True)]
    if s.market == "krx":
        # Paper KRX still collects its bars from Kiwoom's charts (collect without --source).
        live = s.mode == "live"
        needs += [Need(s.kiwoom.appkey_env, "the Kiwoom app key", live),
                  Need(s.kiwoom.secretkey_env, "the Kiwoom secret key", live)]
    return needs


def judge_secrets(needs: list[Need], present: set[str], source: str, problem: str | None = None,
                  fix: str | None = None) -> Check:
    """``present``: the names that have a non-empty value; ``source`` says where they were
    looked for; ``problem``: a secrets file that cannot be used (permissions, syntax)."""
    if problem:
        return Check("secrets", FAIL, problem, fix)
    missing = [n for n in needs if n.var not in present]
    hard = [n for n in missing if n.required]
    where = f" (looked in {source})"
    if hard:
        return Check("secrets", FAIL, "missing: " + ", ".join(f"{n.var} ({n.what})" for n in hard) + where,
                     "add NAME=value lines to the secrets file (mode 0600) that QTX_ENV_FILE names")
    if missing:
        return Check("secrets", WARN, "not set: " + ", ".join(f"{n.var} ({n.what})" for n in missing)
                     + where + "; `qtx collect` without --source needs them",
                     "add them to the secrets file, or collect with --source csv")
    if not needs:
        return Check("secrets", OK, "this config needs no secrets" + where)
    return Check("secrets", OK, "present: " + ", ".join(n.var for n in needs) + where)


@dataclass
class Secrets:
    """What the jobs will have: this process's environment, plus the launchd secrets file when
    this process was not given one.  ``get`` is the secret reader handed to the adapters."""

    values: dict[str, str]
    source: str
    problem: str | None = None
    fix: str | None = None

    def get(self, name: str) -> str | None:
        v = self.values.get(name)
        return v.strip() if v and v.strip() else None

    def redactor(self, names: list[str]) -> Callable[[str], str]:
        """Blanks the values of ``names`` out of a text: a venue's error may quote what it was
        sent (Bybit's signature error echoes the API key)."""
        values = sorted({v for v in (self.get(n) for n in names) if v and len(v) >= 4}, key=len, reverse=True)

        def redact(text: str) -> str:
            for v in values:
                text = text.replace(v, "<redacted>")
            return text

        return redact


def gather_secrets(environ: Mapping[str, str], plist_env_file: str | None) -> Secrets:
    from pipeline.envfile import check_private, parse_env

    values = dict(environ)
    path = environ.get("QTX_ENV_FILE") or plist_env_file
    if not path:
        return Secrets(values, "the environment (no QTX_ENV_FILE)")
    p = Path(path).expanduser()
    source = f"the environment and {p}"
    if not p.exists():
        return Secrets(values, source, f"secrets file {p} does not exist",
                       f"create it: install -m 600 /dev/null {p}, then add NAME=value lines")
    try:
        check_private(p)
        file_values = parse_env(p.read_text(encoding="utf-8"), p)
    except ConfigError as e:
        return Secrets(values, source, str(e), f"chmod 600 {p} (owned by the user the jobs run as)")
    except OSError as e:
        return Secrets(values, source, f"secrets file {p} cannot be read ({type(e).__name__})",
                       "run qtx doctor as the user the jobs run as")
    for k, v in file_values.items():
        values.setdefault(k, v)  # the environment wins, as when qtx loads the file
    return Secrets(values, source)


# -- clock and time zone ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ClockReading:
    source: str  # e.g. "Bybit server time"
    offset: float | None  # broker minus machine, seconds
    uncertainty: float = 0.0  # half the round trip, plus the source's resolution
    error: str | None = None


def judge_clock(r: ClockReading) -> Check:
    if r.offset is None:
        return Check("clock", SKIP, f"could not read {r.source}: {r.error or 'no answer'}")
    sure = max(0.0, abs(r.offset) - r.uncertainty)
    ahead = "ahead of" if r.offset < 0 else "behind"
    text = (f"machine clock {abs(r.offset):.2f} s {ahead} {r.source} "
            f"(±{r.uncertainty:.2f} s)")
    fix = "turn on network time: sudo systemsetup -setusingnetworktime on (then sudo sntp -sS time.apple.com)"
    if sure > CLOCK_FAIL_S:
        return Check("clock", FAIL, text, fix)
    if sure > CLOCK_WARN_S:
        return Check("clock", WARN, text, fix)
    return Check("clock", OK, text)


def read_http_date(url: str, wall: Callable[[], float], timeout: float, source: str) -> ClockReading:
    """The ``Date`` header of any answer from ``url`` (one-second resolution)."""
    from email.utils import parsedate_to_datetime

    import requests

    t0 = wall()
    try:
        r = requests.head(url, timeout=timeout, allow_redirects=False)
    except requests.exceptions.RequestException as e:
        return ClockReading(source, None, error=type(e).__name__)
    t1 = wall()
    raw = r.headers.get("Date")
    if not raw:
        return ClockReading(source, None, error="the answer had no Date header")
    try:
        server = parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return ClockReading(source, None, error=f"unreadable Date header {raw!r}")
    # The header is truncated to the second: the true time lies in [server, server + 1).
    return ClockReading(source, server + 0.5 - (t0 + t1) / 2, 0.5 + (t1 - t0) / 2)


def _weekly(plist: Mapping[str, Any]) -> list[dict]:
    raw = plist.get("StartCalendarInterval") or []
    raw = [raw] if isinstance(raw, dict) else raw
    return [e for e in raw if "Month" not in e and "Day" not in e]  # late-open dates aside


def fired_market_times(entries: list[dict], local: tzinfo, market_zone: tzinfo,
                       on: date) -> set[tuple]:
    """What ``StartCalendarInterval`` entries mean in the market's zone when launchd reads them
    in the Mac's zone ``local``: ``(iso weekday in the market's zone or None, hour, minute)``."""
    monday = on - timedelta(days=on.weekday())
    out = set()
    for e in entries:
        if "Weekday" in e:  # launchd: 0 or 7 is Sunday, 1 Monday .. 6 Saturday
            d = monday + timedelta(days=(int(e["Weekday"]) - 1) % 7)
        else:
            d = on
        t = datetime.combine(d, dtime(int(e.get("Hour", 0)), int(e.get("Minute", 0))),
                             tzinfo=local).astimezone(market_zone)
        out.add((t.isoweekday() if "Weekday" in e else None, t.hour, t.minute))
    return out


def misplaced_stages(market: str, installed: Mapping[str, Mapping[str, Any]], local: tzinfo,
                     on: date) -> list[str]:
    """Stages whose installed plist does not fire at the timetable's market times in the Mac's
    zone ``local``: the schedule was computed for another zone (or the zone changed since).
    A daylight-saving zone gets twin entries; one of them matching is enough."""
    from pipeline.schedule.timetable import MARKET_ZONES, jobs_for

    mzone = ZoneInfo(MARKET_ZONES[market])
    bad = []
    for label, plist in sorted(installed.items()):
        stage = label.rsplit(".", 1)[-1]
        jobs = [j for j in jobs_for(market) if j.stage == stage]
        if not jobs:
            continue
        want = {(wd, j.hour, j.minute) for j in jobs for wd in (j.weekdays or (None,))}
        if not want <= fired_market_times(_weekly(plist), local, mzone, on):
            bad.append(stage)
    return bad


def judge_time_zone(market: str, local: tzinfo | None, on: date,
                    installed: Mapping[str, Mapping[str, Any]]) -> Check:
    """The Mac's zone, and whether the installed plists' times were computed for it
    (``installed``: label -> plist of the jobs found)."""
    from pipeline.schedule.timetable import MARKET_ZONES

    if local is None:
        return Check("time zone", WARN, "cannot tell the Mac's time zone",
                     "set it: sudo systemsetup -settimezone Asia/Seoul (or your zone), then reinstall the schedule")
    now_local = datetime.combine(on, dtime(12), tzinfo=local)
    name = f"{now_local.tzname()} (UTC{now_local.strftime('%z')[:3]}:{now_local.strftime('%z')[3:]})"
    stale = misplaced_stages(market, installed, local, on)
    if stale:
        return Check("time zone", FAIL,
                     f"the schedule of {', '.join(stale)} was installed for another time zone than "
                     f"the Mac's {name}: those jobs fire at the wrong hours",
                     "re-run `qtx launchd install` and the launchctl commands it prints")
    market_offset = datetime.combine(on, dtime(12), tzinfo=ZoneInfo(MARKET_ZONES[market])).utcoffset()
    detail = f"the Mac's zone is {name}"
    if now_local.utcoffset() != market_offset:
        detail += f"; the {market.upper()} times ({MARKET_ZONES[market]}) are converted to it"
    if installed:
        detail += "; the installed schedule fires at the market's times"
    return Check("time zone", OK, detail)


# -- broker ----------------------------------------------------------------------------------------
def _broker_error(venue: str, e: Exception, mode: str) -> Check:
    from brokers.base import AuthError, MissingKeys

    name = type(e).__name__
    if isinstance(e, MissingKeys):
        status = FAIL if mode == "live" else WARN
        return Check("broker", status, str(e),  # names the venue and the variables
                     "put the keys in the secrets file" + ("" if mode == "live" else
                                                           ", or collect with --source csv"))
    if name == "IpNotAllowed":
        return Check("broker", FAIL, f"{venue}: this machine's public IP is not registered for the app key",
                     "register the Mac mini's public IP in Kiwoom's Open API portal (API 사용신청 → IP 등록)")
    if isinstance(e, AuthError):
        return Check("broker", FAIL, f"{venue} refused the keys: {e}",
                     "check the key and secret in the secrets file (expired? read permission? "
                     "real or mock network?)")
    return Check("broker", FAIL, f"{venue} unreachable: {e}",
                 "check the network, and the endpoint in the config")


def check_bybit(settings: Settings, secrets: Secrets,
                wall: Callable[[], float]) -> tuple[Check, ClockReading]:
    """Reachable (server time, which is also the clock reading) and, with keys, accepted."""
    try:
        return _check_bybit(settings, secrets, wall)
    except Exception as e:  # an adapter bug must not take the whole report down; no text (secrets)
        return (Check("broker", FAIL, f"Bybit check crashed ({type(e).__name__})",
                      "run the failing stage by hand with -v to see the error"),
                ClockReading("Bybit server time", None, error="the broker check crashed"))


def _check_bybit(settings: Settings, secrets: Secrets,
                 wall: Callable[[], float]) -> tuple[Check, ClockReading]:
    from brokers.base import BrokerError
    from brokers.bybit import BybitBroker

    source = "Bybit server time"
    try:
        b = BybitBroker.from_settings(settings.bybit, settings.mode, secret=secrets.get, max_attempts=1)
    except BrokerError as e:
        return _broker_error("Bybit", e, settings.mode), ClockReading(source, None, error="no broker")
    try:
        t0 = wall()
        server = b.server_time_ms() / 1000.0
        t1 = wall()
    except BrokerError as e:
        return _broker_error("Bybit", e, settings.mode), ClockReading(source, None, error=str(e))
    clock = ClockReading(source, server - (t0 + t1) / 2, (t1 - t0) / 2 + 0.001)
    where = f"Bybit {settings.bybit.network} {settings.bybit.category}"
    if not b.has_keys:
        return Check("broker", OK, f"{where} reachable; no keys (public market data only)"), clock
    try:
        bal = b.balance()  # read-only, signed: proves the keys and their permissions
    except BrokerError as e:
        return _broker_error("Bybit", e, settings.mode), clock
    return Check("broker", OK, f"{where} reachable, keys accepted ({bal.currency} account read)"), clock


def check_kiwoom(settings: Settings, db: Any, secrets: Secrets, now: Callable[[], datetime]) -> Check:
    """``db``: where the day's token is kept (None: in memory, for this check only)."""
    from brokers.base import BrokerError
    from brokers.kiwoom import KiwoomBroker, MemoryStore
    from db.broker_store import BrokerStore

    k = settings.kiwoom
    store = BrokerStore(db, "kiwoom") if db is not None else MemoryStore()
    try:
        b = KiwoomBroker.from_settings(k, store, secret=secrets.get,
                                       clock=lambda: now().timestamp(), max_attempts=1)
        b.server_ok()  # issues (or reuses) the day's token
        where = f"Kiwoom {k.network}" + (f" ({k.endpoint})" if k.endpoint else "")
        if settings.mode != "live":
            return Check("broker", OK, f"{where}: token issued (charts for collect)")
        b.balance()  # read-only account TRs: the app key works from this IP for trading
        return Check("broker", OK, f"{where}: token issued, account read")
    except BrokerError as e:
        return _broker_error("Kiwoom", e, settings.mode)
    except Exception as e:  # an adapter bug must not take the whole report down; no text (secrets)
        return Check("broker", FAIL, f"Kiwoom check crashed ({type(e).__name__})",
                     "run the failing stage by hand with -v to see the error")


def kiwoom_base_url(settings: Settings) -> str:
    from brokers.kiwoom import HOSTS

    return (settings.kiwoom.endpoint or HOSTS[settings.kiwoom.network]).rstrip("/")


# -- Telegram --------------------------------------------------------------------------------------
def telegram_get_me(base_url: str | None, token: str, timeout: float) -> dict:
    """``getMe``: ``{"ok": True, "username": ...}`` or ``{"ok": False, "status": .., "error": ..}``.
    The token is part of the URL: no exception text (which would quote it) leaves here."""
    import requests

    base = (base_url or "https://api.telegram.org").rstrip("/")
    try:
        r = requests.get(f"{base}/bot{token}/getMe", timeout=timeout)
    except requests.exceptions.RequestException as e:
        return {"ok": False, "status": None, "error": f"unreachable ({type(e).__name__})"}
    try:
        body = r.json()
    except ValueError:
        body = {}
    if r.status_code == 200 and body.get("ok"):
        return {"ok": True, "username": (body.get("result") or {}).get("username")}
    desc = str(body.get("description") or f"HTTP {r.status_code}").replace(token, "<token>")
    return {"ok": False, "status": r.status_code, "error": desc}


def judge_telegram(has_token: bool, chats: list[int], token_name: str,
                   get_me: dict | None) -> Check:
    if not has_token and not chats:
        return Check("telegram", WARN, "not set up: no alerts reach you, no remote control",
                     f"create a bot with @BotFather, put its token in {token_name} and your chat id "
                     "in telegram.allowed_chat_ids")
    if not has_token:
        return Check("telegram", FAIL, f"no bot token ({token_name} is not set)",
                     f"put the token in the secrets file as {token_name}=...")
    if not chats:
        return Check("telegram", FAIL, "telegram.allowed_chat_ids is empty: the listener refuses to "
                     "start and alerts go nowhere", "add your chat id to telegram.allowed_chat_ids")
    if get_me is None:
        return Check("telegram", SKIP, "getMe not tried")
    if get_me.get("ok"):
        return Check("telegram", OK, f"bot @{get_me.get('username')} answers getMe; "
                     f"{len(chats)} allowed chat{'s' if len(chats) != 1 else ''}")
    if get_me.get("status") in (401, 403, 404):
        return Check("telegram", FAIL, f"the bot token was refused ({get_me.get('error')})",
                     f"get the current token from @BotFather and update {token_name}")
    return Check("telegram", FAIL, f"Telegram {get_me.get('error')}",
                 "check the network (and telegram.base_url)")


def judge_listener(hb: Mapping[str, Any] | None, now: datetime, grace: timedelta,
                   label: str) -> Check:
    from db.core import parse_ts

    fix = f"start it: sudo launchctl kickstart -k system/{label} (or run qtx telegram)"
    if not hb:
        return Check("listener", WARN, "the Telegram listener never ran against this database", fix)
    t = parse_ts(hb.get("ts"))
    age = (now - t) if t else None
    if hb.get("state") == "stopped":
        return Check("listener", WARN, f"the Telegram listener stopped at {hb.get('ts')}", fix)
    if age is None or age > grace:
        mins = int(age.total_seconds() // 60) if age else None
        return Check("listener", FAIL, f"no heartbeat from the Telegram listener for "
                     f"{mins if mins is not None else '?'} min (last {hb.get('ts')})", fix)
    return Check("listener", OK, f"heartbeat {int(age.total_seconds())} s ago (pid {hb.get('pid')})")


# -- launchd ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Installed:
    label: str
    path: Path
    plist: dict
    daemon: bool


def expected_labels(market: str, mode: str) -> list[str]:
    """The documented labels ``com.qtx.<market>.<mode>.<job>``: each scheduled stage, the
    Telegram listener and the boot-time catch-up."""
    from pipeline.schedule.timetable import scheduled_stages

    return [f"com.qtx.{market}.{mode}.{n}" for n in [*scheduled_stages(market), "telegram", "catchup"]]


def find_plists(market: str, mode: str, dirs: tuple[Path, ...]) -> dict[str, Installed]:
    """The qtx plists of this market and mode in ``dirs`` (daemons first, then agents)."""
    out: dict[str, Installed] = {}
    prefix = f"com.qtx.{market}.{mode}."
    for d in dirs:
        d = d.expanduser()
        if not d.is_dir():
            continue
        for p in sorted(d.glob(f"{prefix}*.plist")):
            try:
                with p.open("rb") as f:
                    plist = plistlib.load(f)
            except (OSError, plistlib.InvalidFileException, ValueError):
                plist = {}
            out.setdefault(p.stem, Installed(p.stem, p, plist, d == DAEMONS_DIR or "LaunchDaemons" in str(d)))
    return out


def parse_launchctl_print(text: str) -> dict[str, str]:
    """The few lines of ``launchctl print`` that matter: state, pid, last exit code."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(" = ")
        if sep and key in ("state", "pid", "last exit code", "last exit status", "runs"):
            out.setdefault(key, value.strip())
    return out


def judge_launchd(platform: str, expected: list[str], installed: Mapping[str, Installed],
                  printed: Mapping[str, tuple[int, str]], config: str) -> Check:
    """``printed``: label -> (exit code, output) of ``launchctl print <domain>/<label>``."""
    if platform != "darwin":
        return Check("launchd", SKIP, f"not macOS ({platform}): no launchd schedule to check")
    install_fix = (f"sudo qtx --config {config} launchd install --daemon, then run the "
                   "launchctl commands it prints")
    if not installed:
        return Check("launchd", FAIL, "no qtx jobs installed for this market and mode", install_fix)
    missing = [lab for lab in expected if lab not in installed]
    if missing:
        return Check("launchd", FAIL, "plists missing: " + ", ".join(missing), install_fix)
    not_loaded = [lab for lab in expected if printed.get(lab, (1, ""))[0] != 0]
    if not_loaded:
        daemon = installed[not_loaded[0]].daemon
        cmd = ("sudo launchctl bootstrap system" if daemon else "launchctl bootstrap gui/$(id -u)")
        return Check("launchd", FAIL, "installed but not loaded: " + ", ".join(not_loaded),
                     f"{cmd} {installed[not_loaded[0]].path} (and the same for the others)")
    listener = next((lab for lab in expected if lab.endswith(".telegram")), None)
    if listener:
        info = parse_launchctl_print(printed[listener][1])
        if info.get("state") != "running":
            return Check("launchd", FAIL, f"{listener} is loaded but {info.get('state') or 'not running'}"
                         + (f" (last exit code {info['last exit code']})" if "last exit code" in info else ""),
                         f"read its log, then: sudo launchctl kickstart -k system/{listener}")
    kind = "daemons" if installed[expected[0]].daemon else "agents"
    return Check("launchd", OK, f"{len(expected)} jobs installed and loaded as {kind}")


def launchctl_outputs(probes: Probes, installed: Mapping[str, Installed]) -> dict[str, tuple[int, str]]:
    out = {}
    for label, inst in installed.items():
        dom = "system" if inst.daemon else f"gui/{probes.uid}"
        out[label] = probes.launchctl(["launchctl", "print", f"{dom}/{label}"])
    return out


# -- database, disk --------------------------------------------------------------------------------
def judge_database(path: Path, quick_check: list[str], journal_mode: str, version: int,
                   known: int) -> Check:
    if quick_check != ["ok"]:
        return Check("database", FAIL, f"{path}: integrity check found {len(quick_check)} problem(s): "
                     + "; ".join(quick_check[:3]),
                     "stop the jobs, keep a copy of the file, and recover it (sqlite3 FILE .recover)")
    if journal_mode != "wal":
        return Check("database", FAIL, f"{path}: journal mode is {journal_mode}, not wal",
                     "open it once with qtx (any command) to switch it back to WAL")
    if version > known:
        return Check("database", FAIL, f"{path}: schema v{version} is newer than this qtx (v{known})",
                     "upgrade qtx")
    return Check("database", OK, f"{path}: integrity ok, WAL, schema v{version}")


def judge_disk(path: Path, free: int) -> Check:
    gib = free / (1 << 30)
    text = f"{gib:.1f} GiB free on the database's disk ({path})"
    if free < DISK_FAIL_BYTES:
        return Check("disk", FAIL, text, "free disk space: SQLite cannot write on a full disk")
    if free < DISK_WARN_BYTES:
        return Check("disk", WARN, text, "free some disk space (logs: rotate them with newsyslog)")
    return Check("disk", OK, text)


# -- stages and data -------------------------------------------------------------------------------
def judge_stages(stages: list[str], runs: list[dict], found: list[Any], logs: Path) -> list[Check]:
    """One check per stage: its last run and outcome, failed if the listener's monitor
    (``pipeline.schedule.monitor.incidents``: ``found``) says it failed or is late.
    ``runs``: ``db.readside.runs_summary`` rows."""
    by_stage = {r["stage"]: r for r in runs}
    out = []
    for stage in stages:
        name = f"stage {stage}"
        mine = [i for i in found if i.stage == stage]
        if mine:
            inc = next((i for i in mine if i.kind == "failed"), mine[0])
            fix = (f"read {logs / (stage + '.err.log')}, then run `qtx {stage}` by hand"
                   if inc.kind == "failed" else
                   "is the Mac asleep or the job unloaded? `qtx launchd catchup --dry-run` shows "
                   "what a catch-up would run")
            out.append(Check(name, FAIL, inc.message, fix))
            continue
        r = by_stage.get(stage)
        if r is None:
            out.append(Check(name, OK, "never ran"))
        elif r.get("outcome") == "running":
            out.append(Check(name, OK, f"running since {r.get('started_at')} (run #{r['id']})"))
        else:
            out.append(Check(name, OK, f"{r.get('outcome')} at {r.get('ended_at') or r.get('started_at')}"
                             + (f" as of {r['asof']}" if r.get("asof") else "")
                             + (f": {str(r['message'])[:120]}" if r.get("message") else "")))
    return out


def judge_freshness(fresh: Any) -> Check:
    """``pipeline.schedule.calendar.freshness``, the same judgement a clock-driven ``signal`` makes."""
    if fresh.ok:
        return Check("data", OK, fresh.reason)
    return Check("data", FAIL, fresh.reason,
                 "run `qtx collect`; if it runs on schedule, read logs/collect.err.log")


# -- all of it -------------------------------------------------------------------------------------
def diagnose(config: str | Path | None = None, probes: Probes | None = None) -> Report:
    """Every check, in the order an operator would fix them; never raises for what it finds."""
    from pipeline.config import find_config

    pr = probes or Probes()
    path = str(find_config(config))
    checks: list[Check] = []
    try:
        settings: Settings | None = load(config)
        error = None
    except ConfigError as e:
        settings, error = None, str(e)
    checks.append(judge_config(path, settings, error))
    report = Report(checks, path)
    if settings is None:
        return report
    s = settings
    dirs = pr.plist_dirs if pr.plist_dirs is not None else (DAEMONS_DIR, AGENTS_DIR)
    installed = find_plists(s.market, s.mode, dirs)
    plist_env = next((i.plist.get("EnvironmentVariables", {}).get("QTX_ENV_FILE")
                      for i in installed.values()
                      if i.plist.get("EnvironmentVariables", {}).get("QTX_ENV_FILE")), None)
    secrets = gather_secrets(pr.environ, plist_env)
    present = {n.var for n in needed_secrets(s) if secrets.get(n.var)}
    checks.append(judge_secrets(needed_secrets(s), present, secrets.source, secrets.problem, secrets.fix))

    db, db_check = _open(s)
    try:
        # The broker and its clock.  Kiwoom keeps its token in the database; a damaged one
        # must not hide the broker's answer, so the token then lives in memory for this check.
        if s.market == "bybit":
            broker_check, clock = check_bybit(s, secrets, pr.wall)
        else:
            clock = read_http_date(kiwoom_base_url(s), pr.wall, pr.timeout, "Kiwoom's server (Date header)")
            broker_check = check_kiwoom(s, db if db_check.status == OK else None, secrets, pr.now)
        checks.append(judge_clock(clock))
        checks.append(judge_time_zone(s.market, pr.local_zone(), datetime.now(UTC).date(),
                                      {k: v.plist for k, v in installed.items()}))
        checks.append(broker_check)

        tg = s.telegram
        token = secrets.get(tg.token_env)
        if not token and tg.token_file:
            token = _token_file(s, checks)
        get_me = (telegram_get_me(tg.base_url, token, pr.timeout)
                  if token and tg.allowed_chat_ids else None)
        checks.append(judge_telegram(bool(token), list(tg.allowed_chat_ids), tg.token_env, get_me))

        expected = expected_labels(s.market, s.mode)
        printed = launchctl_outputs(pr, installed) if pr.platform == "darwin" else {}
        checks.append(judge_launchd(pr.platform, expected, installed, printed, path))

        checks.append(db_check)
        checks.append(judge_disk(s.db_path.parent, pr.disk_free(s.db_path.parent)))
        if db_check.status == OK:
            _database_checks(s, db, pr, installed, bool(token or tg.allowed_chat_ids), checks)
        else:
            checks.append(Check("stages and data", SKIP, "the database cannot be read"))
    finally:
        if db is not None:
            db.close()
    redact = secrets.redactor([s.telegram.token_env, s.bybit.api_key_env, s.bybit.api_secret_env,
                               s.kiwoom.appkey_env, s.kiwoom.secretkey_env])
    report.checks[:] = [Check(c.name, c.status, redact(c.detail), c.fix and redact(c.fix)) for c in checks]
    return report


def _token_file(s: Settings, checks: list[Check]) -> str | None:
    from pipeline.config import read_secret

    try:
        return read_secret("", str(s.resolve(s.telegram.token_file)), what="telegram.token_file")
    except ConfigError as e:
        checks.append(Check("telegram token file", FAIL, str(e), "chmod 600 the file, or fix its path"))
        return None


def _open(s: Settings) -> tuple[Any, Check]:
    """The database and its own check (integrity, WAL, schema)."""
    import sqlite3

    from db import DatabaseError, health, open_db
    from db.core import SCHEMA_VERSION

    try:
        db = open_db(s.db_path, market=s.market, mode=s.mode)
    except DatabaseError as e:
        return None, Check("database", FAIL, str(e), "run `qtx init` (or fix `database:` in the config)")
    except sqlite3.DatabaseError as e:
        return None, Check("database", FAIL, f"{s.db_path}: {e}",
                           "stop the jobs, keep a copy of the file, and recover it (sqlite3 FILE .recover)")
    return db, judge_database(Path(db.path), health.quick_check(db), health.journal_mode(db),
                              db.schema_version, SCHEMA_VERSION)


def _database_checks(s: Settings, db: Any, pr: Probes, installed: Mapping[str, Installed],
                     telegram_used: bool, checks: list[Check]) -> None:
    from db import market as market_db
    from db import readside
    from db import telegram as telegram_db
    from db.core import parse_ts
    from pipeline.schedule import calendar as cal
    from pipeline.schedule.monitor import expected_slots, incidents
    from pipeline.schedule.timetable import scheduled_stages

    now = pr.now()
    grace = timedelta(minutes=s.telegram.heartbeat_grace_minutes)
    if telegram_used:
        checks.append(judge_listener(telegram_db.heartbeat(db), now, grace,
                                     f"com.qtx.{s.market}.{s.mode}.telegram"))
    stages = scheduled_stages(s.market)
    # The listener's own answer (failed or late); lateness only where a schedule is installed,
    # so a setup run by hand is never "late".
    slots = expected_slots(s, now) if any(lab.rsplit(".", 1)[-1] in stages for lab in installed) else {}
    runs = readside.runs_summary(db)
    found = incidents(runs, slots, grace, now, parse_ts(db.meta().get("created_at")))
    checks.extend(judge_stages(stages, runs, found, s.base_dir / "logs"))
    today = cal.market_date(s.market, now).isoformat()
    newest = market_db.newest_date(db, today, cal.sessions(s).is_session)
    checks.append(judge_freshness(cal.freshness(s.market, newest, now, s)))
