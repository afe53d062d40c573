"""Market calendars and stage windows: when each stage may act, whatever the Mac's clock zone.

Pure functions (the clock is always passed in as an aware ``datetime``).  KRX is judged in
Asia/Seoul time, Bybit in UTC.  A stage started outside its window (a launchd job fired on wake,
a stray manual run) gets ``WindowVerdict(ok=False, reason=...)`` and exits 0 without acting.

Windows (times KST for KRX, UTC for Bybit; ``d`` is a trading day):

* KRX ``collect``, ``signal``, ``report`` for ``d``: from 5 minutes after the closing auction
  (15:35) until 5 minutes before the next trading day's opening auction (08:25).  Until then a
  missed run is still useful: its decisions can still reach the next opening auction.  A job
  fired later than its slot is a *catch-up* (``verdict.catchup``); ``window_gate`` refuses it
  when that date was already done, so a missed run is caught up once.
* KRX ``execute`` for ``d``: 08:30-08:55 of ``d`` (opening auction; orders sent then fill at the
  open).  The stage must *start* by 08:55 so its orders reach the auction before it uncrosses
  at 09:00.  It acts on the decisions of the previous trading day.
* ``reconcile`` and ``sync``: any time, any day (they place no orders; reconcile is the first
  thing to do after downtime, and a sync after the close records the closing auction's fills).
  Their market date is the market's current date.
* A late open (``calendar.late_open``: ``"2026-11-19": "10:00"``) shifts every session time of
  that day by the same amount (CSAT day: auction 09:30, open 10:00, close 16:30).
  One-off closures go in ``calendar.extra_holidays``.
* Bybit: the daily candle of ``D`` closes at 00:00 UTC of ``D+1``.  ``collect``, ``signal`` and
  ``report`` for ``D`` may run from 00:01 of ``D+1`` until the next candle closes.  ``execute``
  for ``D+1`` (decisions of ``D``) only in the first ``BYBIT_EXECUTE_HOURS`` hours after 00:00,
  so a job fired on wake at 17:00 does not trade on a stale decision.

``verdict.market_date`` is the date the stage acts as of: the last closed session for
collect/signal/report, the session whose open the orders are for for execute, today for reconcile and sync.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from pipeline.schedule import krx_holidays

KST = ZoneInfo("Asia/Seoul")
STAGES = ("collect", "signal", "execute", "sync", "report", "reconcile")
# They place no orders: reconcile is the first thing to do after downtime, and a fill sync after
# the close still records the closing auction's fills (the 15:35 slot).
ANY_TIME = ("reconcile", "sync")
POST_CLOSE_STAGES = ("collect", "signal", "report")

# KRX session (regular day, KST).
KRX_AUCTION_OPEN = time(8, 30)
KRX_OPEN = time(9, 0)
KRX_CONTINUOUS_END = time(15, 20)
KRX_CLOSE = time(15, 30)
# Slack around the session edges (see the module docstring).
AFTER_CLOSE = timedelta(minutes=5)
BEFORE_AUCTION = timedelta(minutes=5)
EXECUTE_CUTOFF = timedelta(minutes=5)  # execute must start by open - 5 min

BYBIT_SETTLE = timedelta(minutes=1)
BYBIT_EXECUTE_HOURS = 4

_MAX_SCAN_DAYS = 40  # no real market closes longer than this


@dataclass(frozen=True)
class WindowVerdict:
    ok: bool
    reason: str
    market_date: date | None
    window: tuple[datetime, datetime] | None = None
    catchup: bool = False

    @property
    def asof(self) -> str | None:
        """``market_date`` as YYYY-MM-DD: what the stage passes on as its as-of date."""
        return self.market_date.isoformat() if self.market_date else None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["asof"] = self.asof
        d["market_date"] = self.market_date.isoformat() if self.market_date else None
        d["window"] = [w.isoformat() for w in self.window] if self.window else None
        return d


@dataclass(frozen=True)
class CalendarConf:
    """The config's ``calendar`` section, parsed: extra closures and late opens."""

    extra_holidays: frozenset[date] = frozenset()
    late_open: Mapping[date, time] = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.late_open is None:
            object.__setattr__(self, "late_open", {})

    def shift(self, d: date) -> timedelta:
        t = self.late_open.get(d)
        if t is None:
            return timedelta(0)
        return datetime.combine(d, t) - datetime.combine(d, KRX_OPEN)


def _parse_date(s: Any, what: str) -> date:
    if isinstance(s, date):
        return s
    try:
        return date.fromisoformat(str(s))
    except ValueError:
        raise ValueError(f"calendar.{what}: {s!r} is not a YYYY-MM-DD date") from None


def _parse_time(s: Any, what: str) -> time:
    if isinstance(s, time):
        return s
    try:
        h, m = str(s).split(":")
        return time(int(h), int(m))
    except ValueError:
        raise ValueError(f"calendar.{what}: {s!r} is not an HH:MM time") from None


def calendar_conf(conf: Any = None) -> CalendarConf:
    """Accept ``Settings``, ``Settings.calendar``, a plain dict, a ``CalendarConf`` or None."""
    if isinstance(conf, CalendarConf):
        return conf
    if conf is None:
        return CalendarConf()
    if hasattr(conf, "calendar") and not isinstance(conf, Mapping):
        conf = conf.calendar
    if not isinstance(conf, Mapping):
        conf = {"extra_holidays": getattr(conf, "extra_holidays", []),
                "late_open": getattr(conf, "late_open", {})}
    extra = frozenset(_parse_date(x, "extra_holidays") for x in conf.get("extra_holidays") or [])
    late = {_parse_date(k, "late_open"): _parse_time(v, f"late_open.{k}")
            for k, v in (conf.get("late_open") or {}).items()}
    return CalendarConf(extra, late)


def market_zone(market: str) -> ZoneInfo:
    if market == "krx":
        return KST
    if market == "bybit":
        return ZoneInfo("UTC")
    raise ValueError(f"unknown market {market!r}")


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now


def market_date(market: str, now: datetime) -> date:
    """The market's current date: the KST date for KRX, the UTC date for Bybit."""
    return _aware(now).astimezone(market_zone(market)).date()


@lru_cache(maxsize=64)
def _xkrx(year: int) -> dict[date, str]:
    # The precomputed table while it matches the installed ``holidays`` (loading the package
    # costs 0.4 s, most of a short stage); the package itself otherwise.
    table = krx_holidays.for_year(year)
    return table if table is not None else krx_holidays.from_package(year)


def closure_reason(market: str, d: date, conf: Any = None) -> str | None:
    """Why ``d`` has no session (weekend, holiday name, config closure), or None if it has one."""
    if market == "bybit":
        return None
    c = calendar_conf(conf)
    if d.weekday() >= 5:
        return f"{d.isoformat()} is a {d.strftime('%A')}"
    if d in c.extra_holidays:
        return f"{d.isoformat()} is closed by calendar.extra_holidays"
    name = _xkrx(d.year).get(d)
    if name:
        return f"{d.isoformat()} is a KRX holiday ({name})"
    return None


def is_trading_day(market: str, d: date, conf: Any = None) -> bool:
    """KRX: a weekday, not an XKRX holiday, not in ``calendar.extra_holidays``. Bybit: always."""
    return closure_reason(market, d, conf) is None


def next_trading_day(market: str, d: date, conf: Any = None) -> date:
    c = calendar_conf(conf)
    for k in range(1, _MAX_SCAN_DAYS):
        nd = d + timedelta(days=k)
        if is_trading_day(market, nd, c):
            return nd
    raise ValueError(f"no {market} trading day within {_MAX_SCAN_DAYS} days after {d}")


def previous_trading_day(market: str, d: date, conf: Any = None) -> date:
    c = calendar_conf(conf)
    for k in range(1, _MAX_SCAN_DAYS):
        pd = d - timedelta(days=k)
        if is_trading_day(market, pd, c):
            return pd
    raise ValueError(f"no {market} trading day within {_MAX_SCAN_DAYS} days before {d}")


@dataclass(frozen=True)
class Sessions:
    """A market's trading days as YYYY-MM-DD strings: the calendar the paper venue moves on
    (``brokers.paper.SessionCalendar``), and by which decision dates are told from stray rows."""

    market: str
    conf: CalendarConf = CalendarConf()

    def is_session(self, d: str) -> bool:
        return is_trading_day(self.market, date.fromisoformat(d), self.conf)

    def next_session(self, d: str) -> str:
        return next_trading_day(self.market, date.fromisoformat(d), self.conf).isoformat()


def sessions(settings: Any) -> Sessions:
    """The trading days of ``settings.market``, with the config's closures."""
    return Sessions(settings.market, calendar_conf(settings))


@dataclass(frozen=True)
class Session:
    """A KRX trading day's times (aware, KST), late opens applied."""

    auction_open: datetime
    open: datetime
    continuous_end: datetime
    close: datetime


def krx_session(d: date, conf: Any = None) -> Session:
    shift = calendar_conf(conf).shift(d)

    def at(t: time) -> datetime:
        return datetime.combine(d, t, tzinfo=KST) + shift

    return Session(at(KRX_AUCTION_OPEN), at(KRX_OPEN), at(KRX_CONTINUOUS_END), at(KRX_CLOSE))


def stage_window(market: str, stage: str, d: date, conf: Any = None
                 ) -> tuple[datetime, datetime] | None:
    """[start, end) in which ``stage`` may act as of market date ``d``; None if it never may.

    ``reconcile`` has no window (it may always act): this returns the whole market day.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    c = calendar_conf(conf)
    zone = market_zone(market)
    if stage in ANY_TIME:
        start = datetime.combine(d, time(0), tzinfo=zone)
        return start, start + timedelta(days=1)
    if market == "bybit":
        midnight = datetime.combine(d, time(0), tzinfo=zone)
        if stage == "execute":
            return midnight, midnight + timedelta(hours=BYBIT_EXECUTE_HOURS)
        # Candle d closes at 00:00 of d+1; useful until candle d+1 closes.
        return midnight + timedelta(days=1) + BYBIT_SETTLE, midnight + timedelta(days=2)
    if market != "krx":
        raise ValueError(f"unknown market {market!r}")
    if not is_trading_day(market, d, c):
        return None
    s = krx_session(d, c)
    if stage == "execute":
        return s.auction_open, s.open - EXECUTE_CUTOFF
    nxt = krx_session(next_trading_day(market, d, c), c)
    return s.close + AFTER_CLOSE, nxt.auction_open - BEFORE_AUCTION


def _fmt(dt: datetime, zone: ZoneInfo) -> str:
    return dt.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def check_window(market: str, stage: str, now: datetime, conf: Any = None) -> WindowVerdict:
    """May ``stage`` act at ``now``, and as of which market date?"""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    c = calendar_conf(conf)
    zone = market_zone(market)
    now = _aware(now)
    today = market_date(market, now)
    label = "KST" if market == "krx" else "UTC"

    if stage in ANY_TIME:
        return WindowVerdict(True, f"{stage} may run at any time ({market} date {today})",
                             today, stage_window(market, stage, today, c))

    if stage == "execute":
        closed = closure_reason(market, today, c)
        if closed:
            return WindowVerdict(False, f"no {stage} today: {closed}", today)
        win = stage_window(market, stage, today, c)
        assert win is not None
        if win[0] <= now < win[1]:
            return WindowVerdict(True, f"inside the {stage} window {_span(win, zone)} {label}",
                                 today, win)
        when = "before" if now < win[0] else "after"
        return WindowVerdict(False, f"{when} the {stage} window {_span(win, zone)} {label} "
                                    f"of {today} (now {_fmt(now, zone)})", today, win)

    # collect / signal / report: the latest session that has closed by now.
    if market == "bybit":
        d = today - timedelta(days=1)
    else:
        d = today
        win = stage_window(market, stage, d, c)
        if win is None or now < win[0]:
            d = previous_trading_day(market, today, c)
    win = stage_window(market, stage, d, c)
    assert win is not None
    if win[0] <= now < win[1]:
        # A catch-up is a run later than the day's own slot window (e.g. fired on wake).
        catchup = market == "krx" and today != d
        why = (f"catch-up for {d}: its {stage} window is open until {_fmt(win[1], zone)}"
               if catchup else f"inside the {stage} window for {d} ({_span(win, zone)} {label})")
        if catchup and closure_reason(market, today, c):
            why += f"; {closure_reason(market, today, c)}"
        return WindowVerdict(True, why, d, win, catchup)
    if now < win[0]:
        return WindowVerdict(False, f"the {stage} window for {d} opens at {_fmt(win[0], zone)}",
                             d, win)
    # Between windows: the last session's catch-up time is over and today's has not closed yet.
    closed = closure_reason(market, today, c)
    why = (f"outside the {stage} window (now {_fmt(now, zone)}): the window for {d} closed at "
           f"{_fmt(win[1], zone)}" + (f"; {closed}" if closed else
                                      f"; the next opens after the close of {today}"))
    return WindowVerdict(False, why, d, win)


def _span(win: tuple[datetime, datetime], zone: ZoneInfo) -> str:
    a, b = (w.astimezone(zone) for w in win)
    return f"{a:%H:%M}-{b:%H:%M}"


def _as_date(x: Any) -> date | None:
    if x is None or x == "":
        return None
    if isinstance(x, datetime):
        return x.date()
    if isinstance(x, date):
        return x
    return date.fromisoformat(str(x)[:10])


# Stages whose --asof date must be a session: deciding or trading on a closed day is meaningless.
_ASOF_NEEDS_SESSION = ("signal", "execute")


def window_gate(settings: Any, stage: str, asof: str | date | None = None,
                now: datetime | None = None, last_done: str | date | None = None
                ) -> WindowVerdict:
    """The one check a stage runner makes before acting.

    * ``asof`` given (replays, backfills, tests): the wall clock is ignored and the stage acts as
      of that date, except that ``signal``/``execute`` refuse a date that is not a trading day.
    * otherwise ``check_window`` at ``now`` (default: the real clock); and when ``last_done``
      (the market date of this stage's last successful run) is the verdict's date or later, the
      run is refused as already done, so a missed run is caught up once and a job that fires
      twice (DST or late-open twin entries) acts once.  Pass ``last_done`` for scheduled runs.
    """
    market = getattr(settings, "market", None) or (settings.get("market") if isinstance(settings, Mapping) else None)
    conf = calendar_conf(settings)
    if asof is not None:
        d = _as_date(asof)
        assert d is not None
        closed = closure_reason(market, d, conf)
        if closed and stage in _ASOF_NEEDS_SESSION:
            return WindowVerdict(False, f"--asof {d}: not a trading day ({closed})", d)
        return WindowVerdict(True, f"--asof {d}: acting as of that date (wall clock ignored)", d)
    now = now or datetime.now(UTC)
    v = check_window(market, stage, now, conf)
    done = _as_date(last_done)
    if v.ok and done is not None and v.market_date is not None and done >= v.market_date:
        return WindowVerdict(False, f"{stage} already done for {v.market_date} "
                                    f"(last run as of {done}); nothing to catch up",
                             v.market_date, v.window, v.catchup)
    return v


def expected_bar_date(market: str, now: datetime, conf: Any = None) -> date:
    """The newest session whose daily bar must be stored by ``now``: the previous trading day's
    (it has closed by now).  Today's own bar is not asked for: its collect may still be running."""
    return previous_trading_day(market, market_date(market, now), conf)


@dataclass(frozen=True)
class Freshness:
    """Whether the stored bars are recent enough for a stage to decide on them."""

    ok: bool
    reason: str
    newest: str | None  # the newest stored bar on a trading day, up to today
    expected: str       # the bar that should be in by now

    def to_dict(self) -> dict:
        return asdict(self)


def freshness(market: str, newest: str | None, now: datetime, conf: Any = None) -> Freshness:
    """Judge the newest stored bar date against ``expected_bar_date``."""
    expected = expected_bar_date(market, now, conf).isoformat()
    if newest is not None and newest >= expected:
        return Freshness(True, f"bars up to {newest} are in (the bar of {expected} is due)", newest, expected)
    have = f"the newest bar is of {newest}" if newest else "no bars are stored"
    return Freshness(False, f"stale data: {have}, but the bar of {expected} should be in by now",
                     newest, expected)


def trading_days(market: str, start: date, end: date, conf: Any = None) -> Iterable[date]:
    """Trading days in [start, end]."""
    c = calendar_conf(conf)
    d = start
    while d <= end:
        if is_trading_day(market, d, c):
            yield d
        d += timedelta(days=1)
