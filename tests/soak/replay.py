"""One trading day again without faults: from the database and venue as they were at 08:25, the
same fires and venue events, in-process (the CLI through Typer's runner, ``QTX_NOW`` as the
clock), then a comparison with what the faulty run left at the end of that day.

Only what the issue compares is compared: orders, fills, positions, cash (the venue's account
and the day's recorded cash), and the decisions.  A difference is explained when one of the
day's faults hit a stage that writes that table in a way that can make an order impossible
(a kill, the Mac off or asleep at its fire, the broker refusing everything); rate limits,
timeouts, a dropped connection after an accepted create, the listener and Telegram must leave
no difference at all.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from pathlib import Path

from tests.fakes.kiwoom_rest import FakeKiwoomRest

# Which stages write what is compared.
WRITERS = {"orders": ("execute", "sync", "reconcile"), "fills": ("execute", "sync", "reconcile"),
           "positions": ("execute", "sync", "reconcile"), "venue": ("execute", "sync", "reconcile"),
           "signals": ("signal", "collect", "execute"),
           # The day's cash and equity follow the morning's orders and fills too.
           "metrics": ("signal", "collect", "execute", "sync")}
EXPLAINS = {("stage_killed", None), ("power_off", None), ("late_wake", None),
            ("broker_failing", "outage")}


def tables(db_path: Path) -> dict:
    con = sqlite3.connect(db_path)
    con.row_factory = sqlite3.Row
    try:
        q = lambda sql: [dict(r) for r in con.execute(sql)]  # noqa: E731
        return {
            "orders": {r["client_order_id"]: (r["symbol"], r["side"], round(r["qty"], 6), r["status"],
                                              round(r["filled_qty"], 6))
                       for r in q("SELECT * FROM orders")},
            "fills": Counter((r["client_order_id"], r["symbol"], r["side"], round(r["qty"], 6),
                              round(r["price"], 4), round(r["fee"], 4)) for r in q("SELECT * FROM fills")),
            "positions": {r["symbol"]: (round(r["qty"], 6), round(r["avg_price"], 4))
                          for r in q("SELECT * FROM positions")},
            "signals": {f"{r['date']} {r['side']} {r['symbol']}": r["status"]
                        for r in q("SELECT * FROM signals")},
            "metrics": {r["date"]: (round(r["cash"], 2), round(r["equity"], 2))
                        for r in q("SELECT * FROM daily_metrics")},
        }
    finally:
        con.close()


def venue(state: dict) -> dict:
    orders = Counter((o.day, o.symbol, o.side, o.qty, o.filled) for o in state["orders"].values()
                     if o.kind == "new")
    return {"cash": (state["entr"], state["entr"] + sum(a for _, a in state["pending"])),
            "holdings": {s: h["qty"] for s, h in state["holdings"].items()},
            "orders": {"{} {} {} {} filled {}".format(*k): n for k, n in orders.items()}}


def differences(run: dict, free: dict) -> list[dict]:
    out = []
    for table in run:
        a, b = run[table], free[table]
        if table == "fills":
            for k in sorted(set(a) | set(b), key=str):
                if a[k] != b[k]:
                    out.append({"table": table, "key": str(k), "run": a[k], "fault_free": b[k]})
            continue
        for k in sorted(set(a) | set(b), key=str):
            if a.get(k) != b.get(k):
                out.append({"table": table, "key": str(k), "run": a.get(k), "fault_free": b.get(k)})
    return out


def explain(diffs: list[dict], hits: list[dict]) -> None:
    for d in diffs:
        table = "venue" if d["table"].startswith("venue") else d["table"]
        why = sorted({h["fault"] for h in hits if h["stage"] in WRITERS[table]
                      and ((h["kind"], None) in EXPLAINS or (h["kind"], h["mode"]) in EXPLAINS)})
        d["explained_by"] = why


def replay_block(soak, blk: dict) -> None:
    import time

    from typer.testing import CliRunner

    from cli.main import app
    from tests.soak.driver import World, restore_venue

    t0 = time.monotonic()
    folder = Path(blk["dir"]) / "fault-free"
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "data").mkdir(parents=True)
    shutil.copyfile(Path(blk["dir"]) / "start.sqlite", folder / "data" / "qtx-krx-live.sqlite")
    clock = {"now": None}
    with FakeKiwoomRest(cash=0, today=blk["day"]) as kw:
        restore_venue(kw, blk["venue"])
        kw.clock = lambda: clock["now"]
        world = World(folder, soak.market, soak.plan, kw, None)
        runner = CliRunner()
        start, end = blk["start"], blk["end"]
        for ev in soak.events():
            if not _dt(start) <= ev.t < _dt(end):
                continue
            t = ev.t.isoformat()
            clock["now"] = ev.t
            if ev.kind == "venue":
                world.venue_event(ev.data["what"], ev.data["d"])
            elif ev.kind == "fire" and ev.data["stage"] != "report":  # a report changes nothing compared
                env = {"QTX_NOW": t, "QTX_KIWOOM_APPKEY": kw.appkey, "QTX_KIWOOM_SECRETKEY": kw.secretkey,
                       "QTX_LAUNCHD": None, "QTX_CONFIG": None, "QTX_FAULT": None, "QTX_SOAK_CLOCK": None}
                res = runner.invoke(app, ["--config", str(world.cfg), ev.data["stage"], *ev.data["args"]],
                                    env=env)
                if res.exit_code not in (0,):
                    blk.setdefault("fault_free_failures", []).append(
                        {"t": t, "stage": ev.data["stage"], "exit_code": res.exit_code,
                         "output": (res.output or "")[-500:]})
        free = tables(world.db_path)
        free_venue = venue(world.venue_state())
    run = tables(Path(blk["dir"]) / "end.sqlite")
    run_venue = venue(blk["venue_end"])
    diffs = differences(run, free)
    for k in ("cash", "holdings", "orders"):
        if run_venue[k] != free_venue[k]:
            diffs.append({"table": f"venue.{k}", "key": k, "run": run_venue[k], "fault_free": free_venue[k]})
    explain(diffs, [h for h in soak.hits if h["block"] == blk["index"]])
    blk["differences"] = diffs
    blk["replay_seconds"] = round(time.monotonic() - t0, 1)


def _dt(s: str):
    from datetime import datetime

    return datetime.fromisoformat(s)
