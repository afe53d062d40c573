"""What a soak run must show, judged from its database, the venue's books and what Telegram got.

``judge(soak)`` gathers the evidence; ``verdicts(evidence)`` is pure (so a test can tamper with
the evidence and see each check fail).  Checks:

- ``decisions``: every trading day's decisions made once and executed once, or reported to the
  operator (a late or failed alert, the downtime message, the stale-decision alert): none
  silently missed (``missed``);
- ``no_doubles``: no order sent twice, counted at the venue (``doubles``);
- ``fault_free``: each day's orders, fills, positions, cash and decisions equal a fault-free
  replay of that day, or each difference is explained by a fault that made an order impossible;
- ``failed_alerted``: every failed stage run (a killed one included) alerted exactly once;
- ``outages_alerted``: every power cut reported once (the catch-up's downtime message), every
  slot the listener saw missed past its grace alerted, and no late alert without a miss;
- ``fills_alerted``: every fill alerted exactly once;
- ``nothing_lost``: every queued message delivered, those queued while Telegram was down too.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from db.core import parse_ts
from pipeline.schedule import calendar as cal
from pipeline.schedule import catchup

GRACE = timedelta(minutes=30)


def _rows(db_path: Path, sql: str) -> list[dict]:
    con = sqlite3.connect(db_path)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql)]
    finally:
        con.close()


def delivered_counts(outbox: list[dict], sent_texts: list[str]) -> dict[int, int]:
    """How many times Telegram received each outbox row (by its first part; rows whose first
    part is identical share their deliveries)."""
    from control.format import message_html
    from control.outbox_sender import split_html

    prefix = {r["id"]: (split_html(message_html(r)) or [""])[0][:160] for r in outbox}
    got = Counter()
    for t in sent_texts:
        for p in set(prefix.values()):
            if p and t.startswith(p):
                got[p] += 1
    share = Counter(prefix.values())
    return {i: got[p] // share[p] + (1 if got[p] % share[p] else 0) for i, p in prefix.items()}


def judge(soak) -> dict:
    db = soak.world.db_path
    conf = soak.world.calendar
    runs = _rows(db, "SELECT * FROM runs ORDER BY id")
    for r in runs:
        r["acted_for"] = (str(catchup.acted_for("krx", r["stage"], r, conf))
                          if r["outcome"] == "ok" and r["stage"] in cal.STAGES else None)
    outbox = _rows(db, "SELECT id, created_at, kind, text, payload, dedup_key, status, attempts, "
                       "photo IS NOT NULL AS has_photo FROM outbox ORDER BY id")
    texts = [m.get("text") or m.get("caption") or "" for m in soak.bot.sent]
    delivered = delivered_counts(outbox, texts)
    for r in outbox:
        r["delivered"] = delivered[r["id"]]
    with soak.kw.lock:
        venue_orders = [{"ord_no": o.ord_no, "day": o.day, "symbol": o.symbol, "side": o.side,
                         "qty": o.qty, "filled": o.filled} for o in soak.kw.orders.values() if o.kind == "new"]
        created = sum(soak.kw.orders_created.values())
    evidence = {
        "days": soak.plan.days, "late_open": soak.plan.late_open, "holiday": soak.plan.holiday,
        "runs": runs, "outbox": outbox,
        "orders": _rows(db, "SELECT * FROM orders ORDER BY id"),
        "fills": _rows(db, "SELECT * FROM fills ORDER BY id"),
        "signals": _rows(db, "SELECT date, symbol, side, status, reason FROM signals ORDER BY id"),
        "metrics": [r["date"] for r in _rows(db, "SELECT date FROM daily_metrics")],
        "venue_orders": venue_orders, "venue_creates": created,
        "blocks": [{k: v for k, v in b.items() if k not in ("venue", "venue_end")} for b in soak.blocks],
        "expected_late": soak.expected_late,
        "faults": [f.to_dict() for f in soak.plan.faults],
        "telegram_down": [(f.start.isoformat(), f.end.isoformat()) for f in soak.plan.of_kind("telegram_down")
                          if f.injected],
        "calendar": {"extra_holidays": [soak.plan.holiday], "late_open": soak.plan.late_open},
    }
    result = verdicts(evidence)
    jobs = soak.jobs
    result.update({
        "seed": soak.seed, "market": soak.market.source, "symbols": len(soak.market.bars),
        "first_day": soak.plan.days[1], "last_day": soak.plan.days[-1], "dir": str(soak.root),
        "jobs": {"fired": sum(1 for _ in soak.events() if _.kind == "fire"),
                 "ran": sum(1 for j in jobs if j.how in ("scheduled", "on_wake")),
                 "on_wake": sum(1 for j in jobs if j.how == "on_wake"),
                 "catchup": sum(1 for j in jobs if j.how == "boot"),
                 "killed": sum(1 for j in jobs if j.killed),
                 "failed": sum(1 for j in jobs if j.exit_code not in (0, None) and not j.killed),
                 "missed_while_off": len(soak.missed_fires),
                 "listener_starts": soak.listener_starts,
                 "seconds": round(sum(j.seconds for j in jobs), 1),
                 "replay_seconds": round(sum(b.get("replay_seconds", 0) for b in soak.blocks), 1)},
        "fault_list": evidence["faults"],
    })
    return result


def _slot_key(stage: str, slot: datetime) -> str:
    return f"hb:late:{stage}:{slot.astimezone(UTC).strftime('%Y-%m-%dT%H:%MZ')}"


def _ts(s: str | None) -> datetime | None:
    return parse_ts(s) if s else None


def verdicts(ev: dict) -> dict:
    """The checks over the gathered evidence (pure)."""
    conf = cal.calendar_conf(ev["calendar"])
    checks: dict[str, dict] = {}
    outbox, runs = ev["outbox"], ev["runs"]
    keys = {r["dedup_key"]: r for r in outbox if r["dedup_key"]}
    alerts = [r for r in outbox if r["kind"] not in ("fill", "report")]

    def alerted(key: str) -> bool:
        r = keys.get(key)
        return r is not None and r["status"] == "sent" and r["delivered"] >= 1

    # -- decisions: made and executed once, or reported
    missed, twice = [], []
    days = ev["days"]
    for i, d in enumerate(days[:-1]):
        ok_signal = [r for r in runs if r["stage"] == "signal" and r["acted_for"] == d]
        if len(ok_signal) > 1:
            twice.append({"date": d, "signal_runs": [r["id"] for r in ok_signal]})
        sigs = [s for s in ev["signals"] if s["date"] == d]
        decided = bool(ok_signal) or d in ev["metrics"]
        slot_d = {s: catchup.slot_on("krx", s, date.fromisoformat(d), conf) for s in ("collect", "signal")}
        if not decided:
            why = _reported_undecided(d, slot_d, runs, keys, alerts, conf)
            if why is None:
                missed.append({"date": d, "what": "no decisions and no alert"})
            continue
        left = [s for s in sigs if s["status"] in ("pending", "expired")]
        if left:
            stale = [a for a in alerts if "stale" in (a["text"] or "") and d in (a["text"] or "")]
            exe_slot = catchup.slot_on("krx", "execute", date.fromisoformat(days[i + 1]), conf)
            late = exe_slot is not None and alerted(_slot_key("execute", exe_slot))
            failed = [r for r in runs if r["stage"] == "execute" and r["outcome"] == "failed"
                      and alerted(f"hb:failed:execute:{r['id']}")
                      and exe_slot and _ts(r["started_at"]) and abs(_ts(r["started_at"]) - exe_slot) < timedelta(hours=2)]
            if not (stale or late or failed) or any(s["status"] == "pending" for s in left):
                missed.append({"date": d, "what": f"{len(left)} decision(s) not executed "
                               f"({', '.join(sorted({s['status'] for s in left}))}) and not reported"
                               if not (stale or late or failed) else
                               f"{len(left)} decision(s) still pending after their execute day"})
    checks["decisions"] = {"ok": not missed and not twice, "evidence": missed + twice}

    # -- doubles, counted at the venue
    venue = Counter((o["day"], o["symbol"], o["side"]) for o in ev["venue_orders"])
    sent = Counter()
    for o in ev["orders"]:
        if o["sent_at"]:
            day = _ts(o["sent_at"]).astimezone(cal.KST).strftime("%Y%m%d")
            sent[(day, o["symbol"], o["side"].lower())] += 1
    doubles = [{"venue": k, "at_venue": n, "sent_by_qtx": sent[k]} for k, n in venue.items() if n > sent[k]]
    claimed = {o["broker_order_id"] for o in ev["orders"] if o["broker_order_id"]}
    unmatched = [o for o in ev["venue_orders"] if o["ord_no"] not in claimed]
    n_doubles = sum(d["at_venue"] - d["sent_by_qtx"] for d in doubles)
    checks["no_doubles"] = {"ok": n_doubles == 0 and ev["venue_creates"] == len(ev["venue_orders"]),
                            "evidence": doubles}
    checks["orders_known"] = {"ok": not unmatched, "evidence": [
        {"venue_order": o, "why": "the venue has it; no order of qtx carries its number"} for o in unmatched]}

    # -- each day against its fault-free replay
    diffs = [dict(d, day=b["day"]) for b in ev["blocks"] for d in b.get("differences", [])]
    unexplained = [d for d in diffs if not d.get("explained_by")]
    bad_replays = [dict(f, day=b["day"]) for b in ev["blocks"] for f in b.get("fault_free_failures", [])]
    checks["fault_free"] = {"ok": not unexplained and not bad_replays, "evidence": unexplained + bad_replays}

    # -- alerts
    failed_runs = [r for r in runs if r["outcome"] == "failed"]
    not_alerted = [{"run": r["id"], "stage": r["stage"], "started_at": r["started_at"], "message": r["message"]}
                   for r in failed_runs if not alerted(f"hb:failed:{r['stage']}:{r['id']}")]
    checks["failed_alerted"] = {"ok": not not_alerted, "evidence": not_alerted}

    outage_ev = []
    power = [f for f in ev["faults"] if f["kind"] == "power_off" and f.get("injected")]
    downtime = [r for r in outbox if (r["dedup_key"] or "").startswith("downtime:")]
    if len(downtime) != len(power) or not all(alerted(r["dedup_key"]) for r in downtime):
        outage_ev.append({"power_cuts": len(power), "downtime_messages": len(downtime),
                          "delivered": [r["delivered"] for r in downtime]})
    for e in ev["expected_late"]:
        if _slot_key(e["stage"], datetime.fromisoformat(e["slot"])) not in keys:
            outage_ev.append({"late_not_alerted": e})
    for k in keys:
        if not k.startswith("hb:late:"):
            continue
        _, _, stage, slot_s = k.split(":", 3)
        slot = datetime.strptime(slot_s, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
        ran = [r for r in runs if r["stage"] == stage and r["outcome"] == "ok" and _ts(r["started_at"])
               and slot - catchup.SLOT_TOLERANCE <= _ts(r["started_at"]) <= slot + GRACE]
        if ran:
            outage_ev.append({"late_alert_without_a_miss": k, "runs": [r["id"] for r in ran]})
    checks["outages_alerted"] = {"ok": not outage_ev, "evidence": outage_ev}

    fill_ev = []
    for f in ev["fills"]:
        r = keys.get(f"fill:{f['fill_id']}")
        if r is None or r["delivered"] != 1:
            fill_ev.append({"fill": f["fill_id"], "symbol": f["symbol"], "date": f["date"],
                            "queued": r is not None, "delivered": r["delivered"] if r else 0})
    checks["fills_alerted"] = {"ok": not fill_ev, "evidence": fill_ev}

    lost = [{"outbox": r["id"], "kind": r["kind"], "status": r["status"], "delivered": r["delivered"],
             "created_at": r["created_at"]} for r in outbox if r["status"] != "sent" or r["delivered"] < 1]
    checks["nothing_lost"] = {"ok": not lost, "evidence": lost}

    down = [(_ts(a), _ts(b)) for a, b in ev["telegram_down"]]
    during = [r for r in outbox if _ts(r["created_at"]) and any(a <= _ts(r["created_at"]) < b for a, b in down)]
    dup = [r for r in outbox if r["delivered"] > 1]
    return {
        "days": len(days) - 1,
        "doubles": n_doubles + len(twice),
        "missed": len(missed),
        "missed_days": missed,
        "orders": len(ev["orders"]), "fills": len(ev["fills"]),
        "faults": dict(Counter(f["kind"] for f in ev["faults"] if f.get("injected"))),
        "alerts": {"queued": len(outbox), "delivered": sum(1 for r in outbox if r["delivered"] >= 1),
                   "lost": len(lost), "duplicated": len(dup),
                   "queued_while_telegram_down": len(during),
                   "by_kind": dict(Counter(r["kind"] for r in outbox)),
                   "failed_stage": sum(1 for k in keys if k.startswith("hb:failed:")),
                   "late_stage": sum(1 for k in keys if k.startswith("hb:late:")),
                   "downtime": len(downtime)},
        "differences": {"explained": len(diffs) - len(unexplained), "unexplained": len(unexplained),
                        "items": diffs[:50]},
        "checks": checks,
        "ok": all(c["ok"] for c in checks.values()),
    }


def _reported_undecided(d, slots, runs, keys, alerts, conf) -> str | None:
    """Why the operator knows that day ``d`` has no decisions (None: nothing told them)."""
    for stage, slot in slots.items():
        if slot is not None and _slot_key(stage, slot) in keys:
            return f"late {stage} alert"
    win = cal.stage_window("krx", "signal", date.fromisoformat(d), conf)
    for r in runs:
        if r["stage"] in ("collect", "signal") and r["outcome"] == "failed" and win \
                and f"hb:failed:{r['stage']}:{r['id']}" in keys and win[0] <= _ts(r["started_at"]) < win[1]:
            return f"failed {r['stage']} alert"
    for k in keys:
        if k.startswith("downtime:") and win and _ts(k.split(":", 1)[1]) \
                and _ts(k.split(":", 1)[1]) <= slots["signal"]:
            return "downtime message"
    return None


def summary_text(r: dict) -> str:
    """The one-screen summary."""
    j, a = r["jobs"], r["alerts"]
    lines = [
        f"qtx soak: {r['days']} trading days {r['first_day']} .. {r['last_day']} "
        f"({r['market']} bars, {r['symbols']} symbols), seed {r['seed']}, {r.get('seconds', '?')} s",
        f"jobs: {j['fired']} fired, {j['ran']} ran ({j['on_wake']} on wake), {j['missed_while_off']} lost "
        f"while off, {j['catchup']} boot catch-up(s), {j['killed']} killed, {j['failed']} failed; "
        f"listener started {j['listener_starts']}x",
        "faults: " + ", ".join(f"{k} {v}" for k, v in sorted(r["faults"].items())),
        f"orders {r['orders']}, fills {r['fills']}; doubles {r['doubles']}, missed days {r['missed']}",
        f"alerts: {a['queued']} queued, {a['delivered']} delivered, {a['lost']} lost, "
        f"{a['duplicated']} duplicated; {a['queued_while_telegram_down']} queued while Telegram was "
        f"down; failed-stage {a['failed_stage']}, late {a['late_stage']}, downtime {a['downtime']}",
        f"vs fault-free days: {r['differences']['explained']} explained difference(s), "
        f"{r['differences']['unexplained']} unexplained",
        "checks: " + ", ".join(f"{k} {'ok' if v['ok'] else 'FAILED'}" for k, v in r["checks"].items()),
    ]
    for name, c in r["checks"].items():
        for e in c["evidence"][:3]:
            lines.append(f"  {name}: {str(e)[:300]}")
    lines.append(f"{'PASS' if r['ok'] else 'FAIL'}; details in {r['dir']}/summary.json")
    return "\n".join(lines)
