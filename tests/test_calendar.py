"""Market calendars, stage windows, the window gate and catch-up after downtime."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from pipeline.config import from_dict
from pipeline.schedule import calendar as cal
from pipeline.schedule import catchup

KST = ZoneInfo("Asia/Seoul")


def kst(y, m, d, hh, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=KST)


def utc(y, m, d, hh, mm=0, ss=0):
    return datetime(y, m, d, hh, mm, ss, tzinfo=UTC)


KRX = from_dict({"market": "krx"})
BYBIT = from_dict({"market": "bybit"})

# 2026: Chuseok closes Thu 24 and Fri 25 September; Wed 23 and Mon 28 trade.
CHUSEOK = date(2026, 9, 25)
TUE = date(2026, 11, 24)


# --- trading days ------------------------------------------------------------------------


def test_trading_days_follow_xkrx_weekends_and_config_closures():
    assert cal.is_trading_day("krx", TUE)
    assert not cal.is_trading_day("krx", date(2026, 11, 21))  # Saturday
    assert not cal.is_trading_day("krx", CHUSEOK)
    assert "Chuseok" in cal.closure_reason("krx", CHUSEOK)
    assert not cal.is_trading_day("krx", date(2026, 12, 31))  # year-end closure
    conf = {"extra_holidays": ["2026-11-24"]}
    assert not cal.is_trading_day("krx", TUE, conf)
    assert "extra_holidays" in cal.closure_reason("krx", TUE, conf)
    # Bybit trades every day, holidays and weekends included.
    assert all(cal.is_trading_day("bybit", date(2026, 9, 20) + timedelta(days=k)) for k in range(10))


def test_next_and_previous_trading_day_skip_closures():
    assert cal.previous_trading_day("krx", date(2026, 9, 28)) == date(2026, 9, 23)
    assert cal.next_trading_day("krx", date(2026, 9, 23)) == date(2026, 9, 28)
    assert cal.next_trading_day("krx", date(2026, 11, 20)) == date(2026, 11, 23)  # Fri -> Mon
    assert cal.next_trading_day("bybit", date(2026, 11, 21)) == date(2026, 11, 22)


def test_market_date_is_kst_for_krx_and_utc_for_bybit():
    now = utc(2026, 11, 23, 23, 30)  # 08:30 KST on the 24th
    assert cal.market_date("krx", now) == date(2026, 11, 24)
    assert cal.market_date("bybit", now) == date(2026, 11, 23)
    with pytest.raises(ValueError):
        cal.market_date("krx", datetime(2026, 11, 23, 12))  # naive clocks are refused


def test_bad_calendar_entries_are_named():
    with pytest.raises(ValueError, match="late_open"):
        cal.calendar_conf({"late_open": {"2026-11-19": "ten"}})
    with pytest.raises(ValueError, match="extra_holidays"):
        cal.calendar_conf({"extra_holidays": ["19/11/2026"]})


# --- windows: KRX ------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["collect", "signal", "report"])
def test_krx_post_close_stages_act_after_the_close_until_before_the_next_auction(stage):
    ok = cal.check_window("krx", stage, kst(2026, 11, 24, 15, 45))
    assert ok.ok and ok.market_date == TUE and not ok.catchup
    assert ok.asof == "2026-11-24"
    # During the session: the previous day's catch-up time is over, today's has not started.
    during = cal.check_window("krx", stage, kst(2026, 11, 24, 14, 0))
    assert not during.ok and "outside" in during.reason
    assert not cal.check_window("krx", stage, kst(2026, 11, 24, 15, 34)).ok
    # Fired on wake the next morning: still useful (its decisions can reach 08:30), a catch-up.
    wake = cal.check_window("krx", stage, kst(2026, 11, 25, 7, 0))
    assert wake.ok and wake.market_date == TUE and wake.catchup and "catch-up" in wake.reason
    assert not cal.check_window("krx", stage, kst(2026, 11, 25, 8, 25)).ok


def test_krx_execute_only_in_the_opening_auction_of_a_trading_day():
    inside = cal.check_window("krx", "execute", kst(2026, 11, 24, 8, 35))
    assert inside.ok and inside.market_date == TUE
    for hh, mm in [(8, 29), (8, 55), (9, 0), (12, 0), (16, 0), (0, 10)]:
        v = cal.check_window("krx", "execute", kst(2026, 11, 24, hh, mm))
        assert not v.ok, (hh, mm)
        assert "execute window 08:30-08:55" in v.reason
    assert cal.check_window("krx", "execute", kst(2026, 11, 24, 8, 54)).ok


def test_every_krx_stage_but_reconcile_refuses_on_a_holiday():
    settings = from_dict({"market": "krx"})
    # Chuseok Friday at each stage's own slot; the Wednesday before was fully done.
    done = {"collect": date(2026, 9, 23), "signal": date(2026, 9, 23), "report": date(2026, 9, 23),
            "execute": date(2026, 9, 23)}
    slots = {"collect": (15, 45), "signal": (16, 0), "report": (16, 15), "execute": (8, 35)}
    for stage, (hh, mm) in slots.items():
        v = cal.window_gate(settings, stage, now=kst(2026, 9, 25, hh, mm), last_done=done[stage])
        assert not v.ok, stage
    ex = cal.check_window("krx", "execute", kst(2026, 9, 25, 8, 35))
    assert not ex.ok and "Chuseok" in ex.reason
    # Reconcile compares records and places no orders: it may always run.
    assert cal.check_window("krx", "reconcile", kst(2026, 9, 25, 8, 20)).ok


def test_a_missed_run_is_caught_up_once_even_across_a_holiday():
    # Wednesday's collect never ran (Mac asleep); it fires on Thursday (a holiday) afternoon.
    now = kst(2026, 9, 24, 15, 50)
    first = cal.window_gate(KRX, "collect", now=now, last_done=date(2026, 9, 22))
    assert first.ok and first.market_date == date(2026, 9, 23) and first.catchup
    second = cal.window_gate(KRX, "collect", now=now + timedelta(hours=1), last_done=first.market_date)
    assert not second.ok and "already done" in second.reason
    # Friday's missed signal is still useful on Saturday or Sunday morning (Monday trades).
    sat = cal.window_gate(KRX, "signal", now=kst(2026, 11, 22, 10), last_done=date(2026, 11, 19))
    assert sat.ok and sat.market_date == date(2026, 11, 20)


def test_late_open_shifts_every_session_time_of_that_day():
    conf = {"late_open": {"2026-11-19": "10:00"}}
    assert not cal.check_window("krx", "execute", kst(2026, 11, 19, 8, 35), conf).ok
    late = cal.check_window("krx", "execute", kst(2026, 11, 19, 9, 35), conf)
    assert late.ok and late.market_date == date(2026, 11, 19)
    assert not cal.check_window("krx", "collect", kst(2026, 11, 19, 15, 45), conf).ok
    assert cal.check_window("krx", "collect", kst(2026, 11, 19, 16, 45), conf).ok
    # The day before: its catch-up time runs until 09:25, five minutes before the late auction.
    wake = cal.check_window("krx", "signal", kst(2026, 11, 19, 9, 0), conf)
    assert wake.ok and wake.market_date == date(2026, 11, 18)
    assert cal.stage_window("krx", "execute", CHUSEOK) is None


def test_krx_windows_tile_the_week_without_overlap():
    """Over two weeks in 5-minute steps: a post-close stage may act exactly outside
    [08:25, close+5) of trading days, execute exactly in [08:30, 08:55) of trading days."""
    t = kst(2026, 9, 21, 0, 0)
    while t < kst(2026, 10, 5, 0, 0):
        d = t.date()
        trading = cal.is_trading_day("krx", d)
        hm = (t.hour, t.minute)
        busy = trading and (8, 25) <= hm < (15, 35)
        assert cal.check_window("krx", "collect", t).ok == (not busy), t
        assert cal.check_window("krx", "execute", t).ok == (trading and (8, 30) <= hm < (8, 55)), t
        t += timedelta(minutes=5)


# --- windows: Bybit ----------------------------------------------------------------------


def test_bybit_windows_in_utc():
    c = cal.check_window("bybit", "collect", utc(2026, 11, 23, 0, 5))
    assert c.ok and c.market_date == date(2026, 11, 22)  # the candle that closed at 00:00
    assert not cal.check_window("bybit", "collect", utc(2026, 11, 23, 0, 0, 30)).ok  # settling
    assert cal.check_window("bybit", "signal", utc(2026, 11, 23, 17, 0)).ok
    ex = cal.check_window("bybit", "execute", utc(2026, 11, 23, 0, 15))
    assert ex.ok and ex.market_date == date(2026, 11, 23)
    # Fired on wake late in the day: the decision is stale, do not trade.
    late = cal.check_window("bybit", "execute", utc(2026, 11, 23, 17, 0))
    assert not late.ok and "after the execute window" in late.reason
    assert not cal.check_window("bybit", "execute", utc(2026, 11, 23, 4, 0)).ok


# --- the gate -----------------------------------------------------------------------------


def test_asof_bypasses_the_clock_but_not_the_calendar():
    midday = kst(2026, 11, 24, 12, 0)  # outside every KRX window but reconcile
    v = cal.window_gate(KRX, "execute", asof="2026-11-24", now=midday)
    assert v.ok and v.asof == "2026-11-24"
    for stage in ("signal", "execute"):
        r = cal.window_gate(KRX, stage, asof="2026-09-25", now=midday)
        assert not r.ok and "not a trading day" in r.reason
    assert cal.window_gate(KRX, "collect", asof="2026-09-25", now=midday).ok
    # --asof replays even a date already done.
    assert cal.window_gate(KRX, "signal", asof="2026-11-24", now=midday, last_done=TUE).ok
    assert cal.window_gate(BYBIT, "execute", asof=date(2026, 11, 21), now=midday).ok


def test_gate_without_asof_uses_the_clock():
    assert cal.window_gate(KRX, "execute", now=kst(2026, 11, 24, 8, 40)).ok
    assert not cal.window_gate(KRX, "execute", now=kst(2026, 11, 24, 10, 0)).ok
    assert cal.window_gate(KRX, "reconcile", now=kst(2026, 11, 24, 10, 0)).ok
    conf = from_dict({"market": "krx", "calendar": {"extra_holidays": ["2026-11-24"]}})
    assert not cal.window_gate(conf, "execute", now=kst(2026, 11, 24, 8, 40)).ok


# --- catch-up -------------------------------------------------------------------------------


def _slot(stage, d):
    return catchup.slot_on("krx", stage, d)


def test_catchup_after_a_power_cut_runs_what_is_still_useful_in_order():
    fri, thu = date(2026, 11, 20), date(2026, 11, 19)
    last = {s: _slot(s, fri) for s in ("reconcile", "execute")}
    last.update({s: _slot(s, thu) for s in ("collect", "signal", "report")})
    # Power back Saturday morning: Friday's fill syncs and post-close stages are missed and still
    # useful (the fills first: Friday's bars and decisions come after them).
    assert catchup.needs_catchup(last, kst(2026, 11, 21, 10), "krx") == ["sync", "collect", "signal", "report"]
    # Power back Monday 08:40: Friday's decisions are too late; trade, reconciling first.
    assert catchup.needs_catchup(last, kst(2026, 11, 23, 8, 40), "krx") == ["sync", "reconcile", "execute"]
    # Even when reconcile ran on time, the first trade after downtime reconciles again.
    last["reconcile"] = _slot("reconcile", date(2026, 11, 23))
    last["sync"] = catchup.slots_on("krx", "sync", fri)[-1]
    assert catchup.needs_catchup(last, kst(2026, 11, 23, 8, 40), "krx") == ["reconcile", "execute"]
    # Nothing missed: nothing to do.
    done = {s: _slot(s, date(2026, 11, 23)) for s in ("reconcile", "execute")}
    done["sync"] = last["sync"]
    assert catchup.needs_catchup(done, kst(2026, 11, 23, 8, 40), "krx") == []


def test_bybit_catchup_order_and_stale_execute():
    day = date(2026, 11, 22)
    stages = ("collect", "signal", "reconcile", "execute", "sync", "report")
    last = {s: catchup.slot_on("bybit", s, day) for s in stages}
    assert catchup.needs_catchup(last, utc(2026, 11, 23, 0, 30), "bybit") == list(stages)
    # At 17:00 the execute window is long closed; a fill sync is useful at any hour.
    assert catchup.needs_catchup(last, utc(2026, 11, 23, 17, 0), "bybit") == [
        "collect", "signal", "reconcile", "sync", "report"]


def test_a_stage_that_fires_several_times_a_day_is_one_catchup_and_its_latest_slot_counts():
    # KRX syncs at 09:05, 11:00 and 15:35: the 11:00 one is the latest due at noon.
    assert catchup.last_expected_slot("krx", "sync", kst(2026, 11, 24, 12)) == kst(2026, 11, 24, 11)
    last = {s: kst(2026, 11, 24, 8, 40) for s in ("reconcile", "execute")} | {"sync": kst(2026, 11, 24, 9, 5)}
    assert catchup.needs_catchup(last, kst(2026, 11, 24, 12), "krx") == ["sync"]
    assert catchup.needs_catchup({}, kst(2026, 11, 24, 10), "krx") == ["reconcile", "sync"]


@pytest.mark.parametrize("market", ["krx", "bybit"])
def test_every_fire_of_the_timetable_is_inside_its_stage_window(market):
    """A job the timetable fires outside its own stage's window would never act (the 15:35 fill
    sync, outside a sync window that ended at 15:35, skipped every day)."""
    from pipeline.schedule.timetable import jobs_for

    for d in (date(2026, 11, 24), date(2026, 11, 27)):  # a Tuesday and a Friday
        for job in jobs_for(market):
            t = datetime.combine(d, time(job.hour, job.minute), tzinfo=cal.market_zone(market))
            assert cal.check_window(market, job.stage, t).ok, (job, t)


def test_the_execute_retry_is_not_a_slot_of_its_own():
    # 08:45 fires execute again (acting only if 08:35 failed); lateness is still judged on 08:35.
    assert catchup.slots_on("krx", "execute", date(2026, 11, 24)) == [kst(2026, 11, 24, 8, 35)]
    assert catchup.last_expected_slot("krx", "execute", kst(2026, 11, 24, 8, 50)) == kst(2026, 11, 24, 8, 35)


def test_downtime_gap():
    now = utc(2026, 11, 23, 12)
    assert catchup.downtime_gap("2026-11-23T11:50:00.000000Z", now) is None
    assert catchup.downtime_gap("2026-11-23T06:00:00Z", now) == timedelta(hours=6)
    assert catchup.downtime_gap(None, now) is None


def _add_run(db, stage, started: datetime, outcome="ok", asof=None):
    # Test setup writes run rows with chosen clocks (the runner stamps the real time).
    ts = started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    db.conn.execute("INSERT INTO runs(stage, asof, started_at, ended_at, outcome) VALUES (?,?,?,?,?)",
                    (stage, asof, ts, ts, outcome))


def test_must_reconcile_first_reads_the_runs_table(qtx_db):
    now = kst(2026, 11, 24, 8, 36)
    assert catchup.must_reconcile_first(qtx_db, now)  # never reconciled
    _add_run(qtx_db, "reconcile", kst(2026, 11, 23, 8, 20))
    assert catchup.must_reconcile_first(qtx_db, now)  # yesterday's; today's slot was missed
    _add_run(qtx_db, "reconcile", kst(2026, 11, 24, 8, 20), outcome="failed")
    assert catchup.must_reconcile_first(qtx_db, now)
    _add_run(qtx_db, "reconcile", kst(2026, 11, 24, 8, 20))
    assert not catchup.must_reconcile_first(qtx_db, now)


def test_the_gate_refuses_a_date_already_done_only_for_scheduled_runs(qtx_db, qtx_settings):
    from pipeline.schedule.gate import gate

    # A scheduled collect ran Wednesday 23 Sep at 15:46 without --asof.
    _add_run(qtx_db, "collect", kst(2026, 9, 23, 15, 46))
    _add_run(qtx_db, "collect", kst(2026, 9, 23, 16, 46), outcome="skipped")
    assert catchup.last_done_date(qtx_db, qtx_settings, "collect") == date(2026, 9, 23)
    holiday = kst(2026, 9, 24, 15, 45)
    v = gate(qtx_db, qtx_settings, "collect", None, at=holiday, once=True)
    assert not v.ok and "already done" in v.reason
    assert gate(qtx_db, qtx_settings, "collect", None, at=holiday, once=False).ok
    # Nothing done yet for the Wednesday: the one catch-up passes the window check (and then,
    # with no bars stored, refuses to decide on stale data).
    from pipeline.schedule.gate import StaleData

    with pytest.raises(StaleData):
        gate(qtx_db, qtx_settings, "signal", None, at=holiday, once=True)


def test_run_catchup_runs_missed_stages_in_order_and_queues_the_gap(qtx_db, qtx_settings):
    _add_run(qtx_db, "collect", kst(2026, 11, 19, 15, 45))
    _add_run(qtx_db, "signal", kst(2026, 11, 19, 16, 0))
    _add_run(qtx_db, "report", kst(2026, 11, 19, 16, 15))
    _add_run(qtx_db, "reconcile", kst(2026, 11, 20, 8, 20))
    _add_run(qtx_db, "execute", kst(2026, 11, 20, 8, 35))
    _add_run(qtx_db, "sync", kst(2026, 11, 20, 15, 35))
    calls = []

    def runner(argv):
        calls.append(argv)
        return 1 if argv[-2:] == ["report", "--send"] else 0

    now = kst(2026, 11, 21, 9, 0)  # Saturday morning, power back since Friday 15:35
    dry = catchup.run_catchup(qtx_settings, "/abs/qtx", now=now, dry_run=True, runner=runner)
    assert dry["stages"] == ["collect", "signal", "report"] and calls == []
    res = catchup.run_catchup(qtx_settings, "/abs/qtx", now=now, runner=runner)
    assert [c[3] for c in calls] == ["collect", "signal", "report"]
    assert calls[0][:3] == ["/abs/qtx", "--config", str(qtx_settings.config_path)]
    assert res["stopped_at"] == "report"
    assert res["gap_seconds"] == int(timedelta(hours=17, minutes=25).total_seconds())
    msgs = qtx_db.query("SELECT kind, text FROM outbox")
    assert len(msgs) == 1 and msgs[0]["kind"] == "downtime" and "17.4 h" in msgs[0]["text"]
    # A second pass after the same gap does not alert twice.
    catchup.run_catchup(qtx_settings, "/abs/qtx", now=now, runner=lambda a: 0)
    assert qtx_db.scalar("SELECT COUNT(*) FROM outbox") == 1


def test_a_fill_sync_runs_at_each_of_its_slots_under_launchd(qtx_db, qtx_settings):
    from pipeline.schedule.gate import gate

    # The 09:05 sync ran; the 11:00 one (same market date) must act too, and so must reconcile.
    _add_run(qtx_db, "sync", kst(2026, 9, 23, 9, 5))
    assert gate(qtx_db, qtx_settings, "sync", None, at=kst(2026, 9, 23, 11, 0), once=True).ok
    _add_run(qtx_db, "collect", kst(2026, 9, 23, 15, 46))
    assert not gate(qtx_db, qtx_settings, "collect", None, at=kst(2026, 9, 23, 16, 46), once=True).ok
