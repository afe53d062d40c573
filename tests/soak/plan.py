"""The faults of a soak run, drawn from its seed (pure: dates in, a plan out).

Every kind the issue names appears at least once in a run of five trading days or more; longer
runs get more of the recurring kinds.  Times are aware KST datetimes.  The Mac's own outages
(power off, a sleep) never overlap each other, and nothing else is planned inside them.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

KST = ZoneInfo("Asia/Seoul")
KINDS = ("stage_killed", "power_off", "late_wake", "listener_killed", "broker_failing",
         "telegram_down", "holiday", "late_open")
BROKER_MODES = ("outage", "rate_limits", "timeouts", "dropped_create")
KILL_STAGES = ("reconcile", "execute", "sync", "collect", "signal", "report")
CHECKPOINTS = {"execute": ("execute:after_vet", "execute:before_place", "execute:after_place",
                           "execute:after_record"),
               "sync": ("sync:after_fill",)}
# The schedule's fires a kill can aim at (KST), by stage.
FIRES = {"reconcile": ((8, 20),), "execute": ((8, 35),), "sync": ((9, 5), (11, 0), (15, 35)),
         "collect": ((15, 45),), "signal": ((16, 0),), "report": ((16, 15),)}


@dataclass
class Fault:
    id: str
    kind: str
    day: str                          # the simulated day it belongs to
    start: datetime | None = None     # spans: [start, end)
    end: datetime | None = None
    stage: str | None = None          # stage_killed: the stage and the fire it aims at
    at: datetime | None = None
    mode: str | None = None           # stage_killed: timer|checkpoint; broker_failing: BROKER_MODES
    checkpoint: str | None = None
    delay: float | None = None        # stage_killed by timer: real seconds after the start
    injected: bool = False            # set by the driver when the fault actually happened
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("start", "end", "at"):
            d[k] = d[k].isoformat() if d[k] else None
        return {k: v for k, v in d.items() if v not in (None, [])}


@dataclass
class Plan:
    seed: int
    days: list[str]                   # the simulated trading days D0..DN (D0: the first evening)
    holiday: str | None
    late_open: dict[str, str]
    faults: list[Fault]

    def of_kind(self, kind: str) -> list[Fault]:
        return [f for f in self.faults if f.kind == kind]


def at(d: str, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(date.fromisoformat(d), time(hh, mm), tzinfo=KST)


def counts(n_days: int) -> dict[str, int]:
    """How many of each kind in a run of ``n_days`` trading days."""
    return {"stage_killed": max(1, n_days // 3), "power_off": max(1, n_days // 10),
            "late_wake": max(1, n_days // 10), "listener_killed": max(1, n_days // 8),
            "broker_failing": max(1, n_days // 5), "telegram_down": max(1, n_days // 15)}


def draw(seed: int, sessions: list[str], n_days: int) -> Plan:
    """``sessions``: the market's session dates, ascending.  The run covers the last
    ``n_days + 2`` of them: the first evening (D0), one closed by ``calendar.extra_holidays``,
    and ``n_days`` trading days."""
    if n_days < 2:
        raise ValueError("a soak needs at least 2 trading days")
    rng = random.Random(seed)
    window = sessions[-(n_days + 2):]
    if len(window) < n_days + 2:
        raise ValueError(f"the market has only {len(sessions)} sessions")
    holiday = rng.choice(window[2:-1])  # a weekday session that the config closes
    days = [d for d in window if d != holiday]
    late = rng.choice([d for d in days[1:] if d != holiday])
    end = at(days[-1], 23, 0)
    faults: list[Fault] = [Fault("holiday-1", "holiday", holiday, injected=True),
                           Fault("late_open-1", "late_open", late, injected=True,
                                 notes=["session shifted by an hour (auction 09:30, open 10:00)"])]
    mac: list[tuple[datetime, datetime]] = []

    def free(a: datetime, b: datetime) -> bool:
        return all(b <= s or a >= e for s, e in mac)

    def span(kind: str, d: str, lo: int, hi: int, hours: tuple[float, float]):
        for _ in range(200):
            a = at(d, rng.randint(lo, hi), rng.choice((0, 10, 25, 40, 50)))
            b = a + timedelta(minutes=rng.randint(int(hours[0] * 60), int(hours[1] * 60)))
            if free(a - timedelta(hours=1), b + timedelta(hours=1)) and b < end - timedelta(hours=1):
                return a, b
        return None

    n = counts(n_days)
    order = [k for k in KINDS if k in n for _ in range(n[k])]
    rng.shuffle(order)
    traded = days[1:]
    cycle: list[str] = []
    seq: dict[str, int] = {}
    for kind in sorted(order, key=lambda k: k not in ("power_off", "late_wake")):  # Mac spans first
        if not cycle:
            cycle = traded[:]
            rng.shuffle(cycle)
        d = cycle.pop()
        seq[kind] = seq.get(kind, 0) + 1
        f = Fault(f"{kind}-{seq[kind]}", kind, d)
        if kind == "power_off":
            s = span(kind, d, 5, 19, (2.0, 20.0))
            if s is None:
                continue
            f.start, f.end = s
            mac.append(s)
        elif kind == "late_wake":
            s = span(kind, d, 7, 16, (1.0, 8.0))
            if s is None:
                continue
            f.start, f.end = s
            mac.append(s)
        elif kind == "telegram_down":
            f.start = at(d, rng.randint(0, 12))
            f.end = f.start + timedelta(hours=24)
        elif kind == "listener_killed":
            for _ in range(100):
                t = at(d, rng.randint(7, 20), rng.randint(0, 59))
                if free(t - timedelta(minutes=5), t + timedelta(minutes=5)):
                    f.at = t
                    break
            else:
                continue
        elif kind == "broker_failing":
            f.mode = rng.choice(BROKER_MODES)
            if f.mode == "dropped_create":
                f.start, f.end = at(d, 8, 30), at(d, 8, 40)
            else:
                stage = rng.choice(KILL_STAGES)
                hh, mm = rng.choice(FIRES[stage])
                f.start = at(d, hh, mm) - timedelta(minutes=5)
                f.end = f.start + timedelta(minutes=rng.randint(30, 180))
        elif kind == "stage_killed":
            # A fire the Mac is awake for; another trading day when this one has none left, so
            # the kind is never silently dropped from a plan.
            picked = None
            for day in [d, *rng.sample(traded, len(traded))]:
                for _ in range(100):
                    stage = rng.choice(KILL_STAGES)
                    hh, mm = rng.choice(FIRES[stage])
                    t = at(day, hh, mm)
                    if free(t - timedelta(minutes=1), t + timedelta(minutes=1)):
                        picked = (day, stage, t)
                        break
                if picked:
                    break
            if picked is None:
                continue
            f.day, f.stage, f.at = picked
            if stage in CHECKPOINTS and rng.random() < 0.5:
                f.mode, f.checkpoint = "checkpoint", rng.choice(CHECKPOINTS[stage])
            else:
                f.mode, f.delay = "timer", round(rng.uniform(0.05, 0.6), 2)
        faults.append(f)
    faults.sort(key=lambda f: (f.start or f.at or at(f.day, 0), f.id))
    return Plan(seed, days, holiday, {late: "10:00"}, faults)
