"""Play the launchd schedule of KRX over N trading days, as real ``qtx`` processes, with faults.

The world: one live KRX workspace (``qtx-live.yaml``, its database), the local Kiwoom REST fake
serving the market's bars day by day (the opening auction fills at each day's open), and the
local Telegram Bot API fake with the resident ``qtx telegram`` listener polling it.

The clock: every qtx process gets ``QTX_NOW`` (the instant launchd fired it) and the soak's
process clock (``tests/soak/clock``), so its ``runs`` rows, order times and heartbeat agree
with its windows, as on a real Mac where there is one clock.  The listener follows the clock
file as the driver moves it.  Between fires the driver jumps the clock; launchd's fires come
from ``launchd.schedule.calendar_entries`` (the plists' own ``StartCalendarInterval`` entries in
Asia/Seoul, late-open one-date entries included).

What launchd does, and so what the driver does:
- a fire while the Mac is on runs the job at once; while it sleeps, each job that missed a fire
  runs once on wake (late); while it is off, nothing: at boot the ``catchup`` job runs
  ``qtx launchd catchup`` and the listener starts (RunAtLoad);
- the listener is kept alive: killed, it is started again 30 s later (ThrottleInterval);
- the listener checks the stages every minute: the driver runs its check
  (``control.listener.check_stages``, the real code) on the simulated clock 31 minutes after each
  slot, while the listener is alive (its own timer runs in real seconds).

Each trading day is also replayed without faults, in-process, from a copy of the database and
of the venue taken at 08:25 that day, so any difference is found on the day it appears and can
be explained by that day's faults (``checks``).
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import yaml

from db.core import parse_ts
from launchd.schedule import JOBS, calendar_entries
from pipeline.schedule import calendar as cal
from pipeline.schedule import catchup
from tests.fakes.kiwoom_rest import ROUTES, FakeKiwoomRest
from tests.fakes.telegram_bot_api import FakeBotAPI
from tests.soak import market as market_mod
from tests.soak import plan as plan_mod
from tests.soak.plan import KST

REPO = Path(__file__).resolve().parents[2]
CLOCK_DIR = Path(__file__).resolve().parent / "clock"
TOKEN = "123456789:AAFakeSoakTokenForTestsOnly-abcdefg"
TOKEN_ENV = "QTX_SOAK_TELEGRAM_TOKEN"
CHAT = 4242
CAPITAL = 100_000_000
GRACE = timedelta(minutes=30)
LISTENER_RESTART = timedelta(seconds=30)  # the plist's ThrottleInterval
KIWOOM_TIMEOUT = 1.0
STATE = ("today", "instruments", "bars", "live_bars", "last_prices", "entr", "pending",
         "holdings", "orders", "orders_created", "tokens", "tokens_issued")


def default_dir() -> Path:
    return Path(os.environ.get("SOAK_DIR") or Path(tempfile.gettempdir()) / "qtx-soak")


class SoakBot(FakeBotAPI):
    """The Bot API fake with an outage switch: while ``down``, every call answers 502."""

    down = False
    refused = 0

    def _handle(self, h):
        if self.down:
            n = int(h.headers.get("Content-Length") or 0)
            if n:
                h.rfile.read(n)
            with self._cond:
                self.refused += 1
            return self._reply(h, 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
        return super()._handle(h)


@dataclass(order=True)
class Event:
    t: datetime
    rank: int                      # order of events at the same instant
    kind: str = field(compare=False)
    data: dict = field(compare=False, default_factory=dict)


@dataclass
class Job:
    t: str                          # simulated start (ISO)
    stage: str
    how: str                        # scheduled | on_wake | catchup | boot
    exit_code: int | None = None
    killed: str | None = None
    seconds: float = 0.0
    block: int = -1


def fires(first: date, last: date, late_open: dict[date, dtime]) -> list[tuple[datetime, str, tuple]]:
    """Every launchd fire from ``first`` to ``last`` (the plists' entries, Mac in Asia/Seoul)."""
    out: set[tuple[datetime, str, tuple]] = set()
    for job in JOBS["krx"]:
        entries = calendar_entries("krx", job, KST, first, late_open)
        d = first
        while d <= last:
            for e in entries:
                if "Weekday" in e and e["Weekday"] % 7 != d.isoweekday() % 7:
                    continue
                if "Month" in e and (e["Month"], e["Day"]) != (d.month, d.day):
                    continue
                t = datetime.combine(d, dtime(e["Hour"], e["Minute"]), tzinfo=KST)
                out.add((t, job.stage, tuple(job.args)))
            d += timedelta(days=1)
    return sorted(out)


class World:
    """A workspace, its venue and its config (the run itself, or a fault-free replay)."""

    def __init__(self, root: Path, mkt: market_mod.Market, plan: plan_mod.Plan, kw: FakeKiwoomRest,
                 bot_url: str | None):
        self.root, self.market, self.plan, self.kw = root, mkt, plan, kw
        root.mkdir(parents=True, exist_ok=True)
        self.db_path = root / "data" / "qtx-krx-live.sqlite"
        self.cfg = root / "qtx-live.yaml"
        self.settings_raw = {
            "market": "krx", "mode": "live", "capital": CAPITAL,
            "database": str(self.db_path),
            "universe": {"symbols": sorted(mkt.bars)},
            "risk": {"max_order_notional": 20_000_000},
            "kiwoom": {"endpoint": kw.url, "min_interval": 0.0, "timeout": KIWOOM_TIMEOUT},
            "calendar": {"extra_holidays": [plan.holiday] if plan.holiday else [],
                         "late_open": dict(plan.late_open)},
            "telegram": {"token_env": TOKEN_ENV, "allowed_chat_ids": [CHAT],
                         "base_url": bot_url or "http://127.0.0.1:9", "poll_timeout": 1,
                         "outbox_poll_seconds": 0.2, "heartbeat_check_seconds": 3600,
                         "heartbeat_grace_minutes": int(GRACE.total_seconds() // 60)},
        }
        self.cfg.write_text(yaml.safe_dump(self.settings_raw, allow_unicode=True), encoding="utf-8")
        self.calendar = cal.calendar_conf(self.settings_raw["calendar"])

    def settings(self):
        from pipeline.config import load

        return load(self.cfg)

    def session(self, d: str) -> cal.Session:
        return cal.krx_session(date.fromisoformat(d), self.calendar)

    # the venue's day: a new date, the opening auction, the day's bar at the close
    def venue_event(self, kind: str, d: str) -> None:
        if kind == "new_day":
            self.kw.set_today(d)
        elif kind == "auction":
            prices = {s: b[0] for s in self.market.bars if (b := self.market.bar(s, d))}
            self.kw.open_auction(prices=prices)
        elif kind == "close":
            for s in self.market.bars:
                if (b := self.market.bar(s, d)) is not None:
                    self.kw.add_bars(s, [(d, *b)])

    def venue_state(self) -> dict:
        with self.kw.lock:
            return {k: copy.deepcopy(getattr(self.kw, k)) for k in STATE}


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it ended first


def restore_venue(kw: FakeKiwoomRest, state: dict) -> None:
    with kw.lock:
        for k, v in state.items():
            setattr(kw, k, copy.deepcopy(v))
        top = max((int(n) for n in kw.orders), default=0)
        kw._seq = itertools.count(top + 1)


def backup(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        a.backup(b)
    finally:
        a.close()
        b.close()


class Soak:
    def __init__(self, days: int, seed: int, root: Path | None = None, prefer_real: bool = True,
                 log=print, fork: bool = True):
        self.n_days, self.seed, self.log, self.fork = days, seed, log, fork
        self.zygote: subprocess.Popen | None = None
        self.root = (root or default_dir()) / f"seed{seed}-days{days}"
        self.qtx = str(Path(sys.executable).parent / "qtx")
        self.market = market_mod.load(prefer_real=prefer_real)
        self.plan = plan_mod.draw(seed, self.market.dates, days)
        self.jobs: list[Job] = []
        self.missed_fires: list[dict] = []       # fires launchd never ran (the Mac was off)
        self.hits: list[dict] = []               # which fault touched which stage run, per block
        self.expected_late: list[dict] = []      # slots the listener saw missed past the grace
        self.blocks: list[dict] = []
        self.mac = "on"
        self.slept: dict[str, datetime] = {}
        self.listener: subprocess.Popen | None = None
        self.listener_starts = 0
        self.broker: plan_mod.Fault | None = None
        self.now = plan_mod.at(self.plan.days[0], 15, 40)
        self.block = -1

    # ------------------------------------------------------------------ clock and processes

    def set_clock(self, t: datetime) -> None:
        self.now = t
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(f"{t.isoformat()} {time.time():.6f}\n", encoding="utf-8")
        os.replace(tmp, self.clock_file)

    def sim_now(self) -> datetime:
        try:
            sim, real = self.clock_file.read_text(encoding="utf-8").split()
            return datetime.fromisoformat(sim) + timedelta(seconds=time.time() - float(real))
        except (OSError, ValueError):
            return self.now

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("QTX_CONFIG", "QTX_FAULT", "QTX_NOW", "QTX_LAUNCHD")}
        env.update({"QTX_KIWOOM_APPKEY": self.kw.appkey, "QTX_KIWOOM_SECRETKEY": self.kw.secretkey,
                    TOKEN_ENV: TOKEN, "QTX_SOAK_CLOCK": str(self.clock_file),
                    "PYTHONPATH": os.pathsep.join([str(CLOCK_DIR), str(REPO)]),
                    "QTX_NOW": self.now.isoformat(), "QTX_LAUNCHD": "1"})
        env.update(extra)
        return env

    def run_qtx(self, args: list[str], how: str, stage: str, kill: plan_mod.Fault | None = None) -> Job:
        job = Job(self.now.isoformat(), stage, how, block=self.block)
        extra = {"QTX_FAULT": kill.checkpoint} if kill and kill.mode == "checkpoint" else {}
        t0 = time.monotonic()
        with (self.root / "logs" / f"{stage}.log").open("a", encoding="utf-8") as logf:
            logf.write(f"--- {self.now.isoformat()} {how}: qtx {' '.join(args)}\n")
            logf.flush()
            self._spawn(job, args, extra, kill, logf)
        job.seconds = round(time.monotonic() - t0, 2)
        if kill and job.exit_code == -signal.SIGKILL:
            job.killed = kill.checkpoint or f"timer {kill.delay}s"
            kill.injected = True
            kill.notes.append(f"{stage} killed ({job.killed}) at {self.now.isoformat()}")
        elif kill:
            kill.notes.append(f"{stage} ended (exit {job.exit_code}) before the kill")
        self.jobs.append(job)
        return job

    def _spawn(self, job: Job, args: list[str], extra: dict, kill, logf) -> None:
        argv = ["--config", str(self.world.cfg), *args]
        if self.zygote is not None:  # a forked child of the warmed-up parent (tests/soak/zygote.py)
            self.zygote.stdin.write(json.dumps({"argv": argv, "env": self.env(**extra),
                                                "log": str(logf.name)}) + "\n")
            self.zygote.stdin.flush()
            pid = json.loads(self.zygote.stdout.readline())["pid"]
            timer = None
            if kill and kill.mode == "timer":
                timer = threading.Timer(kill.delay, _kill, (pid,))
                timer.start()
            try:
                job.exit_code = json.loads(self.zygote.stdout.readline())["exit"]
            finally:
                if timer:
                    timer.cancel()
        else:
            proc = subprocess.Popen([self.qtx, *argv], env=self.env(**extra),
                                    stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
            timer = None
            if kill and kill.mode == "timer":
                timer = threading.Timer(kill.delay, proc.kill)
                timer.start()
            try:
                job.exit_code = proc.wait(timeout=300)
            finally:
                if timer:
                    timer.cancel()

    def start_listener(self) -> None:
        if self.listener and self.listener.poll() is None:
            return
        logf = (self.root / "logs" / "telegram.log").open("a", encoding="utf-8")
        logf.write(f"--- {self.now.isoformat()} listener start\n")
        logf.flush()
        self.listener = subprocess.Popen([self.qtx, "--config", str(self.world.cfg), "telegram"],
                                         env=self.env(QTX_LAUNCHD="1"), stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf)
        logf.close()
        self.listener_starts += 1

    def listener_alive(self) -> bool:
        return self.mac == "on" and self.listener is not None and self.listener.poll() is None

    def kill_listener(self) -> None:
        if self.listener and self.listener.poll() is None:
            self.listener.send_signal(signal.SIGCONT)
            self.listener.kill()
            self.listener.wait()
        self.listener = None

    # ------------------------------------------------------------------ the schedule

    def events(self) -> list[Event]:
        p, w = self.plan, self.world
        first, last = date.fromisoformat(p.days[0]), date.fromisoformat(p.days[-1])
        start, end = plan_mod.at(p.days[0], 15, 40), plan_mod.at(p.days[-1], 23, 0)
        late = {date.fromisoformat(k): dtime.fromisoformat(v) for k, v in p.late_open.items()}
        ev: list[Event] = []
        for t, stage, args in fires(first, last, late):
            if start <= t <= end:
                ev.append(Event(t, 3, "fire", {"stage": stage, "args": list(args)}))
        for d in p.days:
            s = w.session(d)
            if d != p.days[0]:
                ev.append(Event(plan_mod.at(d, 0, 0), 0, "venue", {"what": "new_day", "d": d}))
                ev.append(Event(s.open, 1, "venue", {"what": "auction", "d": d}))
                ev.append(Event(plan_mod.at(d, 8, 25), 0, "block", {"d": d}))
            ev.append(Event(s.close, 1, "venue", {"what": "close", "d": d}))
            for job in JOBS["krx"]:
                slot = catchup.slot_on("krx", job.stage, date.fromisoformat(d), w.calendar)
                if slot is not None and start <= slot and slot + GRACE < end:
                    ev.append(Event(slot + GRACE + timedelta(minutes=1), 4, "tick",
                                    {"stage": job.stage, "slot": slot.isoformat()}))
        for f in p.faults:
            if f.kind in ("power_off", "late_wake"):
                ev.append(Event(f.start, 2, "mac_down", {"fault": f}))
                ev.append(Event(f.end, 2, "mac_up", {"fault": f}))
            elif f.kind in ("telegram_down", "broker_failing"):
                ev.append(Event(f.start, 2, f"{f.kind}_start", {"fault": f}))
                ev.append(Event(min(f.end, end), 2, f"{f.kind}_end", {"fault": f}))
            elif f.kind == "listener_killed":
                ev.append(Event(f.at, 2, "listener_kill", {"fault": f}))
        ev.append(Event(end, 9, "end"))
        return sorted(ev)

    # ------------------------------------------------------------------ running

    def setup(self) -> None:
        import shutil

        if self.root.exists():
            shutil.rmtree(self.root)
        (self.root / "logs").mkdir(parents=True)
        self.clock_file = self.root / "clock"
        self.kw = FakeKiwoomRest(cash=CAPITAL, today=self.plan.days[0]).start()
        self.kw.clock = self.sim_now
        self.bot = SoakBot(TOKEN).start()
        self.world = World(self.root, self.market, self.plan, self.kw, self.bot.url)
        for i, s in enumerate(sorted(self.market.bars)):
            self.kw.add_instrument(s, f"SOAK{i:02d}", up_name=self.market.sectors[s])
            self.kw.add_bars(s, self.market.rows_upto(s, self.plan.days[0])[:-1])
        self.set_clock(self.now)
        # The operator's one-time setup: the database, created on the simulated clock, and the
        # first live run confirmed (launchd jobs never pass --yes).
        code = ("import sys; from db import open_db; from pipeline.stages.execute import record_live_confirmation;"
                f"db = open_db({str(self.world.db_path)!r}, market='krx', mode='live', create=True,"
                f" capital={CAPITAL}); record_live_confirmation(db); db.close()")
        subprocess.run([sys.executable, "-c", code], env=self.env(), check=True, cwd=REPO)
        if self.fork:
            self.zygote = subprocess.Popen([sys.executable, "-m", "tests.soak.zygote"], env=self.env(),
                                           cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           text=True)
        self.start_listener()

    def run(self) -> dict:
        from tests.soak import checks

        t0 = time.monotonic()
        self.setup()
        try:
            for ev in self.events():
                self.set_clock(max(ev.t, self.now))
                getattr(self, f"on_{ev.kind}")(ev)
            self.finish()
            result = checks.judge(self)
        finally:
            self.kill_listener()
            if self.zygote is not None:
                self.zygote.stdin.close()
                self.zygote.wait(timeout=30)
                self.zygote = None
            self.kw.stop()
            self.bot.stop()
        result["seconds"] = round(time.monotonic() - t0, 1)
        (self.root / "summary.json").write_text(json.dumps(result, indent=2, ensure_ascii=False,
                                                           default=str), encoding="utf-8")
        return result

    def block_of(self) -> int:
        return self.block

    def hit(self, fault: plan_mod.Fault, stage: str, how: str) -> None:
        self.hits.append({"block": self.block, "fault": fault.id, "kind": fault.kind,
                          "mode": fault.mode, "stage": stage, "how": how, "t": self.now.isoformat()})

    def on_venue(self, ev: Event) -> None:
        self.world.venue_event(ev.data["what"], ev.data["d"])

    def on_fire(self, ev: Event) -> None:
        stage, args = ev.data["stage"], ev.data["args"]
        if self.mac == "off":
            self.missed_fires.append({"t": self.now.isoformat(), "stage": stage, "why": "off"})
            for f in self.active("power_off"):
                self.hit(f, stage, "fire missed: the Mac was off")
            return
        if self.mac == "asleep":
            self.slept.setdefault(stage, self.now)
            for f in self.active("late_wake"):
                self.hit(f, stage, "fire missed while asleep (runs on wake)")
            return
        kill = next((f for f in self.plan.of_kind("stage_killed")
                     if f.stage == stage and f.at == self.now), None)
        self.run_stage(stage, args, "scheduled", kill)

    def active(self, kind: str) -> list[plan_mod.Fault]:
        return [f for f in self.plan.of_kind(kind) if f.start and f.start <= self.now < f.end]

    def run_stage(self, stage: str, args: list[str], how: str, kill=None) -> Job:
        b = self.broker
        if b is not None:
            self.arm_broker(b, stage)
        if kill is not None:
            self.hit(kill, stage, "killed")
        job = self.run_qtx([stage, *args], how, stage, kill)
        if b is not None:
            with self.kw.lock:
                self.kw.faults.clear()
        return job

    def arm_broker(self, f: plan_mod.Fault, stage: str) -> None:
        kw = self.kw
        f.injected = True
        self.hit(f, stage, f"broker {f.mode}")
        if f.mode == "outage":
            for api in ROUTES:
                kw.fail_next(api, 503, n=10**6)
        elif f.mode == "rate_limits":
            for api in ROUTES:
                kw.force_rate_limit(api, 2)
        elif f.mode == "timeouts":
            for api in ("ka10075", "ka10076", "kt00018", "kt00001"):
                kw.delay_after_accept(api, KIWOOM_TIMEOUT + 0.3, n=1)
        elif f.mode == "dropped_create":
            kw.drop_after_accept("kt10000", 1)
            kw.drop_after_accept("kt10001", 1)

    def on_broker_failing_start(self, ev: Event) -> None:
        self.broker = ev.data["fault"]

    def on_broker_failing_end(self, ev: Event) -> None:
        self.broker = None

    def on_telegram_down_start(self, ev: Event) -> None:
        self.bot.down = True
        ev.data["fault"].injected = True

    def on_telegram_down_end(self, ev: Event) -> None:
        self.bot.down = False

    def on_listener_kill(self, ev: Event) -> None:
        f = ev.data["fault"]
        if not self.listener_alive():
            f.notes.append("the listener was not running")
            return
        self.kill_listener()
        f.injected = True
        # launchd's KeepAlive starts it again after the throttle interval.
        self.set_clock(self.now + LISTENER_RESTART)
        if self.mac == "on":
            self.start_listener()

    def on_mac_down(self, ev: Event) -> None:
        f = ev.data["fault"]
        f.injected = True
        if f.kind == "power_off":
            self.mac = "off"
            self.kill_listener()  # the power is cut: no goodbye
        else:
            self.mac = "asleep"
            if self.listener and self.listener.poll() is None:
                self.listener.send_signal(signal.SIGSTOP)

    def on_mac_up(self, ev: Event) -> None:
        f = ev.data["fault"]
        if f.kind == "power_off":
            self.mac = "on"
            self.start_listener()                            # RunAtLoad + KeepAlive
            self.run_qtx(["launchd", "catchup"], "boot", "catchup")   # RunAtLoad, once at boot
            return
        self.mac = "on"
        if self.listener and self.listener.poll() is None:
            self.listener.send_signal(signal.SIGCONT)
        # launchd runs each job that missed a fire once, now (the driver: one after another).
        for stage, first in sorted(self.slept.items(), key=lambda kv: kv[1]):
            job = next(j for j in JOBS["krx"] if j.stage == stage)
            f.notes.append(f"{stage} (missed at {first:%H:%M}) ran on wake at {self.now:%H:%M}")
            self.run_stage(stage, list(job.args), "on_wake")
        self.slept.clear()

    def on_tick(self, ev: Event) -> None:
        """The listener's minute check, 31 minutes after a slot (when it is alive)."""
        if not self.listener_alive():
            return
        from control import handlers
        from control.listener import check_stages
        from db import open_db
        from db import schedule as sched_db

        slot = datetime.fromisoformat(ev.data["slot"])
        db = open_db(self.world.db_path, market="krx", mode="live")
        try:
            from db import runs as runs_db

            stage = ev.data["stage"]
            last = parse_ts(sched_db.last_ok_started(db).get(stage))
            done = {catchup.acted_for("krx", stage, r, self.world.calendar)
                    for r in runs_db.runs_of(db, stage, limit=20) if r["outcome"] == "ok"}
            # Required: nothing ran since the slot, nor earlier for its date (a twin entry).
            if (last is None or last < slot - catchup.SLOT_TOLERANCE) and slot.date() not in done:
                self.expected_late.append({"stage": ev.data["stage"], "slot": ev.data["slot"]})
            st = handlers.ListenerState(db=db, settings=self.settings, clock=lambda: self.now)
            check_stages(st)
        finally:
            db.close()

    def on_block(self, ev: Event) -> None:
        if self.block >= 0:
            self.close_block()
        self.block += 1
        d = ev.data["d"]
        snap = self.root / "blocks" / f"{self.block:02d}-{d}"
        backup(self.world.db_path, snap / "start.sqlite")
        self.blocks.append({"index": self.block, "day": d, "start": self.now.isoformat(),
                            "dir": str(snap), "venue": self.world.venue_state()})

    def close_block(self) -> None:
        from tests.soak import replay

        blk = self.blocks[self.block]
        blk["end"] = self.now.isoformat()
        backup(self.world.db_path, Path(blk["dir"]) / "end.sqlite")
        blk["venue_end"] = self.world.venue_state()
        replay.replay_block(self, blk)
        del blk["venue"], blk["venue_end"]

    def on_end(self, ev: Event) -> None:
        if self.mac != "on":  # an outage that outlasts the run: it ends with it
            self.on_mac_up(Event(self.now, 0, "mac_up",
                                 {"fault": next(f for f in self.plan.faults if f.start and f.start <= self.now < f.end)}))
        if self.block >= 0:
            self.close_block()

    def finish(self) -> None:
        """Stop the listener as launchd would (SIGTERM), then deliver what is left."""
        self.bot.down = False
        if self.listener and self.listener.poll() is None:
            self.listener.terminate()
            try:
                self.listener.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.listener.kill()
        self.listener = None
        for _ in range(3):
            job = self.run_qtx(["telegram", "--drain"], "final", "drain")
            if job.exit_code == 0:
                break

    @property
    def settings(self):
        if not hasattr(self, "_settings"):
            self._settings = self.world.settings()
        return self._settings
