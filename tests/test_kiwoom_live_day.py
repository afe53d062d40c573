"""A live KRX day through Kiwoom, end to end: real ``qtx`` processes, as launchd starts them, with
the clock injected (``QTX_NOW``), against the local Kiwoom REST fake.

collect (after the close) -> signal -> execute (08:35, opening auction) -> fill sync (09:05) ->
collect, signal, report and reconcile after the close; plus the faults the issue names: a rate
limit paced, a token reused by every process, an IP error alerted once."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from db.core import open_db
from tests.fakes.kiwoom_rest import FakeKiwoomRest

D, NEXT = "2026-03-10", "2026-03-11"  # Tuesday and Wednesday, both KRX trading days
SYMS = ("005930", "000660")


def weekdays_upto(day: str, n: int) -> list[str]:
    d, out = datetime.strptime(day, "%Y-%m-%d"), []
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d.strftime("%Y-%m-%d"))
        d -= timedelta(days=1)
    return out[::-1]


def uptrend(day: str, base: int) -> list[tuple]:
    """260 weekdays rising 10 won a day; the last one breaks out on five times the volume."""
    days = weekdays_upto(day, 260)
    return [(d, base + 10 * i - 10, base + 10 * i + 5, base + 10 * i - 15, base + 10 * i,
             5000 if d == day else 1000) for i, d in enumerate(days)]


class Day:
    def __init__(self, tmp: Path, kw: FakeKiwoomRest, qtx: str):
        self.kw, self.qtx = kw, qtx
        self.cfg = tmp / "qtx-live.yaml"
        self.cfg.write_text(yaml.safe_dump({
            "market": "krx", "mode": "live", "capital": 10_000_000,
            "universe": {"symbols": list(SYMS)},
            "risk": {"max_order_notional": 2_000_000},
            "kiwoom": {"endpoint": kw.url, "min_interval": 0.0, "timeout": 3},
        }), encoding="utf-8")
        self.env = {**os.environ, "QTX_KIWOOM_APPKEY": kw.appkey, "QTX_KIWOOM_SECRETKEY": kw.secretkey}
        self.env.pop("QTX_CONFIG", None)
        open_db(self.cfg.parent / "data" / "qtx-krx-live.sqlite", market="krx", mode="live", create=True,
                capital=10_000_000).close()

    def at(self, day: str, hhmm: str) -> None:
        """Set the clock of qtx (QTX_NOW) and of the venue."""
        t = datetime.fromisoformat(f"{day}T{hhmm}:00+09:00")
        self.env["QTX_NOW"] = t.isoformat()
        self.kw.clock = lambda: t
        self.kw.set_today(day)

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run([self.qtx, "--config", str(self.cfg), *args], env=self.env, text=True,
                             capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        if ok:
            assert res.returncode == 0, f"qtx {' '.join(args)}: {res.stdout}\n{res.stderr}"
        return res

    def json(self, *args: str) -> dict:
        return json.loads(self.run(*args, "--json").stdout)

    def db(self):
        return open_db(self.cfg.parent / "data" / "qtx-krx-live.sqlite", market="krx", mode="live")


@pytest.fixture
def day(tmp_path, qtx_bin):
    with FakeKiwoomRest(cash=10_000_000, today=D) as kw:
        kw.add_instrument("005930", "삼성전자", up_name="전기전자")
        kw.add_instrument("000660", "SK하이닉스", up_name="반도체")
        kw.add_bars("005930", uptrend(D, 10_000))
        kw.add_bars("000660", uptrend(D, 12_000))
        yield Day(tmp_path, kw, qtx_bin)


def test_a_live_krx_day_with_kiwoom(day):
    kw = day.kw
    # after Tuesday's close: the bars (paced through a rate limit), then the decisions
    day.at(D, "16:00")
    kw.force_rate_limit("ka10081", 2)
    col = day.json("collect")
    assert col["bars_new"] == 2 * 260 and col["errors"] == {} and col["rate_limited"] == 2
    assert day.json("collect")["bars_new"] == 0  # incremental: nothing new
    sig = day.json("signal")
    assert sig["date"] == D and sorted(b["symbol"] for b in sig["buys"]) == list(sorted(SYMS))

    # Wednesday 08:35: the first live run is confirmed once, then the orders go out
    day.at(NEXT, "08:35")
    refused = day.run("execute", ok=False)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    exe = day.json("execute", "--yes")
    assert exe["buys_approved"] == 2 and set(exe["orders"].values()) == {"new"}
    sent = kw.calls("kt10000")
    assert len(sent) == 2 and all(c["body"]["trde_tp"] == "3" for c in sent)  # market orders
    for c in sent:  # each within the live per-order cap at the decision's close
        assert int(c["body"]["ord_qty"]) * 15_000 <= 2_000_000
    assert day.json("execute")["orders"] == {}  # a rerun sends nothing

    # 09:00 the opening auction fills them; 09:05 the fill sync records them and alerts
    kw.open_auction(prices={"005930": 12_610, "000660": 14_610})
    day.at(NEXT, "09:05")
    syn = day.json("sync")
    assert syn["new_fills"] == 2 and syn["fee_differences"] == 0  # Kiwoom charged what the config says
    assert day.json("sync")["new_fills"] == 0
    assert kw.tokens_issued == 1  # every process so far reused Tuesday's token
    db = day.db()
    try:
        fills = db.query("SELECT symbol, qty, price, fee FROM fills ORDER BY symbol")
        assert [f["price"] for f in fills] == [14_610, 12_610]
        for f in fills:  # the commission Kiwoom charged, whole won
            assert f["fee"] == int(f["qty"] * f["price"] * 15 // 100000)
        assert db.scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'fill'") == 2
    finally:
        db.close()

    # after Wednesday's close: the day's bars, decisions, report and a clean reconcile
    day.at(NEXT, "16:00")
    kw.add_bars("005930", [(NEXT, 12_610, 12_700, 12_600, 12_650, 1000)])
    kw.add_bars("000660", [(NEXT, 14_610, 14_700, 14_600, 14_650, 1000)])
    assert day.json("collect")["bars_new"] == 2
    day.json("signal")
    rep = day.json("report")
    assert rep["date"] == NEXT
    rec = day.json("reconcile")
    assert rec["diff"]["clean"] and not rec["buys_blocked"], rec
    pos = {p["symbol"]: p["qty"] for p in day.json("positions")}
    assert pos == {s: float(sum(int(c["body"]["ord_qty"]) for c in sent if c["body"]["stk_cd"] == s))
                   for s in SYMS}

    # the 24-hour token expired at 16:00 and was issued again, once; one create per order
    assert kw.tokens_issued == 2
    assert kw.orders_created[("005930", "buy")] == 1 and kw.orders_created[("000660", "buy")] == 1


def test_an_ip_that_kiwoom_does_not_accept_is_alerted_once_with_what_to_do(day):
    day.at(D, "16:00")
    day.kw.device_error(8050)
    for _ in range(2):
        res = day.run("collect", ok=False)
        assert res.returncode == 1
        assert "register this machine's public IP" in res.stderr and "Traceback" not in res.stderr
    db = day.db()
    try:
        rows = db.query("SELECT kind, payload FROM outbox WHERE dedup_key LIKE 'auth:%'")
        assert len(rows) == 1 and "8050" in rows[0]["payload"]
    finally:
        db.close()


def test_missing_keys_name_the_variable_and_exit_2(day):
    day.at(D, "16:00")
    del day.env["QTX_KIWOOM_SECRETKEY"]
    res = day.run("collect", ok=False)
    assert res.returncode == 2 and "QTX_KIWOOM_SECRETKEY" in res.stderr
    assert day.kw.requests == []


def test_init_mode_live_writes_the_live_config_beside_the_paper_one(tmp_path, qtx_bin):
    def qtx(*args):
        return subprocess.run([qtx_bin, *args], text=True, capture_output=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    assert qtx("init", str(tmp_path), "--market", "krx").returncode == 0
    paper = tmp_path / "qtx.yaml"
    paper.write_text(paper.read_text().replace("symbols: []", "symbols: ['005930']"))
    no_cap = qtx("init", str(tmp_path), "--mode", "live")
    assert no_cap.returncode == 2 and "--max-order-notional" in no_cap.stderr
    assert qtx("init", str(tmp_path), "--mode", "live", "--max-order-notional", "3000000").returncode == 0
    live = yaml.safe_load((tmp_path / "qtx-live.yaml").read_text())
    assert live["mode"] == "live" and live["risk"]["max_order_notional"] == 3_000_000
    assert live["universe"]["symbols"] == ["005930"]  # the paper settings carried over
    assert (tmp_path / "data" / "qtx-krx-live.sqlite").exists()
    assert (tmp_path / "data" / "qtx-krx-paper.sqlite").exists()
    again = qtx("init", str(tmp_path), "--mode", "live", "--max-order-notional", "3000000")
    assert again.returncode == 2  # never replaced without --force



def _fired_execute_times() -> list[str]:
    from pipeline.schedule.timetable import jobs_for

    return [f"{j.hour:02d}:{j.minute:02d}" for j in jobs_for("krx") if j.stage == "execute"]


def _morning_after_signal(day) -> None:
    from pipeline.stages.execute import record_live_confirmation

    day.at(D, "16:00")
    day.json("collect")
    assert len(day.json("signal")["buys"]) == 2
    db = day.db()
    try:
        record_live_confirmation(db)  # confirmed on a terminal once, before launchd runs it
    finally:
        db.close()
    day.env["QTX_LAUNCHD"] = "1"  # from here on, runs are launchd's


def test_kiwoom_down_at_0835_the_0845_retry_places_the_orders_once(day):
    """The soak's finding: the broker failing at the 08:35 execute lost the day's orders.  The
    timetable fires execute again at 08:45; it acts only because 08:35 did not succeed."""
    assert _fired_execute_times() == ["08:35", "08:45"]
    _morning_after_signal(day)
    kw = day.kw
    for api in ("kt00018", "kt00001", "ka10075", "ka10076", "kt10000"):
        kw.fail_next(api, 503, n=10**6)
    day.at(NEXT, "08:35")
    down = day.run("execute", ok=False)
    assert down.returncode == 1 and "Traceback" not in down.stderr
    assert kw.orders_created.get(("005930", "buy"), 0) == 0
    with kw.lock:
        kw.faults.clear()  # Kiwoom is back

    day.at(NEXT, "08:45")
    retry = day.json("execute")
    assert retry["buys_approved"] == 2 and set(retry["orders"].values()) == {"new"}
    day.at(NEXT, "08:50")  # any later fire of the day (a DST twin) finds the date done
    assert day.json("execute")["status"] == "skipped"
    assert kw.orders_created[("005930", "buy")] == 1 and kw.orders_created[("000660", "buy")] == 1
    db = day.db()
    try:
        outcomes = [r["outcome"] for r in db.query("SELECT outcome FROM runs WHERE stage = 'execute' ORDER BY id")]
    finally:
        db.close()
    assert outcomes == ["failed", "ok", "skipped"]


def test_after_a_good_0835_the_0845_retry_does_nothing(day):
    _morning_after_signal(day)
    day.at(NEXT, "08:35")
    assert set(day.json("execute")["orders"].values()) == {"new"}
    creates = len(day.kw.calls("kt10000"))
    day.at(NEXT, "08:45")
    again = day.json("execute")
    assert again["status"] == "skipped" and "already done" in again["reason"]
    assert len(day.kw.calls("kt10000")) == creates == 2
