"""``qtx reconcile``: compare the broker with the database and repair what differs.

``diff`` is pure: it takes what the broker reports (orders, fills, positions) and what the
database holds, and lists the differences.  ``match_unknown`` is pure too: it finds orders whose
create had an unknown outcome on a venue without client ids (Kiwoom) in the venue's own lists
(same symbol, side and quantity, accepted after we sent, not claimed by another order).
``run_reconcile`` then records the fills the database missed and brings order states up to date
from what the venue says.  An order is never closed because the venue does not show it (venues
show creates late): it is closed when the venue says it ended, and alerted once if it stays
missing.  When a difference remains that it cannot explain (a position that still disagrees, an
order we never made), it blocks new BUYs and alerts the operator until a later reconcile finds
everything in order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from brokers.base import OPEN_STATUSES, Fill, OrderState
from db import DB, now_iso, trading
from db import control as control_db
from db import events as events_db
from db.broker_store import BrokerStore
from pipeline import alerts
from pipeline.brokers_factory import make_broker
from pipeline.config import Settings
from pipeline.sync import advance_market, apply_fill, apply_order_state, venue_fills
from sennot.numeric import same_qty


@dataclass
class Diff:
    missing_fills: list[dict] = field(default_factory=list)       # broker fills not in the database
    order_updates: list[dict] = field(default_factory=list)       # our order, broker state differs
    missing_at_broker: list[dict] = field(default_factory=list)   # our open order, broker has none
    unknown_at_broker: list[dict] = field(default_factory=list)   # broker open order we never made
    position_mismatches: list[dict] = field(default_factory=list)  # after applying missing fills

    @property
    def clean(self) -> bool:
        return not any(asdict(self).values())

    @property
    def unexplained(self) -> list[str]:
        out = [f"position {m['symbol']}: broker {m['broker_qty']:g}, qtx {m['db_qty']:g}"
               for m in self.position_mismatches]
        out += [f"broker order {o['client_order_id']} ({o['side']} {o['symbol']}) not made by qtx"
                for o in self.unknown_at_broker]
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["clean"] = self.clean
        d["unexplained"] = self.unexplained
        return d


def diff(broker_orders: dict[str, OrderState], broker_open: list[OrderState], broker_fills: list[Fill],
         broker_positions: dict[str, float], db_orders: dict[str, dict], db_fill_ids: set[str],
         db_positions: dict[str, float]) -> Diff:
    """Pure comparison.  ``broker_orders`` holds the broker's state of each of our orders."""
    d = Diff()
    expected = dict(db_positions)
    for f in broker_fills:
        if f.fill_id in db_fill_ids:
            continue
        d.missing_fills.append(f.to_dict())
        sign = 1 if f.side == "BUY" else -1
        expected[f.symbol] = expected.get(f.symbol, 0.0) + sign * f.qty
    for cid, o in db_orders.items():
        st = broker_orders.get(cid)
        if st is None:
            if o["status"] in OPEN_STATUSES or o["status"] == "unknown":
                d.missing_at_broker.append({"client_order_id": cid, "symbol": o["symbol"],
                                            "side": o["side"], "status": o["status"]})
        elif st.status != o["status"]:
            d.order_updates.append({"client_order_id": cid, "symbol": o["symbol"], "db_status": o["status"],
                                    "broker_status": st.status})
    for st in broker_open:
        if st.client_order_id not in db_orders:
            d.unknown_at_broker.append(st.to_dict())
    for sym in sorted(set(expected) | set(broker_positions)):
        b, q = broker_positions.get(sym, 0.0), expected.get(sym, 0.0)
        if not same_qty(b, q):
            d.position_mismatches.append({"symbol": sym, "broker_qty": b, "db_qty": q})
    return d


def match_unknown(unknown: list[dict], venue_open: list[OrderState], venue_fills: list[Fill],
                  claimed: set[str]) -> dict[str, str]:
    """Our orders of unknown outcome -> the venue order id each one is, found on the venue's
    lists.  A venue order matches when its symbol, side and quantity are ours, it was accepted
    at or after our ``sent_at``, and no other order of ours claims its id.  Orders are matched
    oldest first, each to the earliest candidate, so the result is deterministic."""
    cands: dict[str, dict] = {}
    for st in venue_open:
        if st.broker_order_id:
            cands[st.broker_order_id] = {"symbol": st.symbol, "side": st.side, "qty": st.qty, "ts": st.ts or ""}
    for f in venue_fills:
        if f.broker_order_id and f.broker_order_id not in cands:
            cands[f.broker_order_id] = {"symbol": f.symbol, "side": f.side, "qty": None, "filled": 0.0,
                                        "ts": f.ts}
        c = cands.get(f.broker_order_id or "")
        if c is not None and c.get("qty") is None:
            c["filled"] += f.qty
            c["ts"] = min(c["ts"], f.ts)
    taken = set(claimed)
    out: dict[str, str] = {}
    for o in sorted(unknown, key=lambda o: (o.get("sent_at") or "", o["client_order_id"])):
        for vid, c in sorted(cands.items(), key=lambda kv: (kv[1]["ts"], kv[0])):
            if vid in taken or c["symbol"] != o["symbol"] or c["side"] != o["side"]:
                continue
            qty_ok = (same_qty(c["qty"], o["qty"]) if c["qty"] is not None
                      else c["filled"] <= o["qty"] or same_qty(c["filled"], o["qty"]))
            if qty_ok and _not_before(c["ts"], o.get("sent_at")):
                out[o["client_order_id"]] = vid
                taken.add(vid)
                break
    return out


CLOCK_SKEW = timedelta(seconds=60)  # the venue's clock and ours, and its whole-second times


def _not_before(venue_ts: str | None, sent_at: str | None) -> bool:
    """The venue accepted it no earlier than we sent (give or take the clocks' skew)."""
    if not venue_ts or not sent_at:
        return True
    def parse(t: str) -> datetime:
        return datetime.fromisoformat(t.replace("Z", "+00:00"))
    return parse(venue_ts) >= parse(sent_at) - CLOCK_SKEW


def snapshot(db: DB, broker) -> tuple:
    db_orders = {o["client_order_id"]: o for o in trading.open_orders(db)}
    broker_orders = {}
    for cid, o in db_orders.items():
        st = broker.order_status(cid, o["broker_order_id"])
        if st is not None:
            broker_orders[cid] = st
    broker_positions = {p.symbol: p.qty for p in broker.positions()}
    db_positions = {s: p["qty"] for s, p in trading.positions(db).items()}
    return (broker_orders, broker.open_orders(), venue_fills(db, broker), broker_positions, db_orders,
            trading.fill_ids(db), db_positions)


def run_reconcile(db: DB, settings: Settings, asof: str | None = None, dry_run: bool = False,
                  broker=None) -> dict:
    broker = broker or make_broker(settings, db)
    if not dry_run:
        advance_market(broker, asof)
        matched = _adopt_unknown(db, broker)
    d = diff(*snapshot(db, broker))
    result = {"dry_run": dry_run, "diff": d.to_dict(), "repaired": {}, "buys_blocked": False}
    if dry_run:
        return result
    repaired = {"fills": 0, "orders": 0, "matched": len(matched), "missing": 0}
    for f in d.missing_fills:
        if apply_fill(db, Fill(**f)):
            repaired["fills"] += 1
            events_db.record(db, "warning", "reconcile_missing_fill",
                             f"recorded fill {f['fill_id']} ({f['side']} {f['symbol']} {f['qty']:g}) the database missed",
                             {"fill_id": f["fill_id"]})
    for u in d.order_updates:
        st = broker.order_status(u["client_order_id"])
        if st is not None:
            with db.transaction():
                apply_order_state(db, st)
            repaired["orders"] += 1
    for m in d.missing_at_broker:
        # Never closed for being absent: the venue may show it late, and it may still fill.
        repaired["missing"] += 1
        _alert_if_long_missing(db, m, asof)
    # What is left after the repairs is what we cannot explain.
    after = diff(*snapshot(db, broker))
    problems = after.unexplained
    with db.transaction():
        if problems:
            control_db.set_flag(db, "reconcile_block", True, "; ".join(problems)[:500], by="reconcile")
            alerts.risk_alert(db, "reconcile_mismatch", "New BUYs blocked until resolved: " + "; ".join(problems),
                              {"problems": problems}, dedup_key="reconcile:" + "|".join(problems)[:200])
        elif control_db.flags(db)["reconcile_block"]["value"]:
            control_db.set_flag(db, "reconcile_block", False, "reconciled", by="reconcile")
            alerts.queue(db, "info", "✅ reconcile: broker and database agree again; BUYs unblocked")
    result.update(repaired=repaired, buys_blocked=bool(problems), remaining=after.to_dict())
    return result


def _adopt_unknown(db: DB, broker) -> dict[str, str]:
    """Find unknown orders on a venue without client ids by its lists; record the venue id in
    our order and in the adapter's id map, so every later lookup and fill knows it."""
    if broker.capabilities.enforces_client_ids:
        return {}
    unknown = [o for o in trading.open_orders(db) if o["status"] == "unknown" and not o["broker_order_id"]]
    if not unknown:
        return {}
    since = min((o["sent_at"] or o["created_at"]) for o in unknown)
    matched = match_unknown(unknown, broker.open_orders(), broker.fills(since[:10]),
                            trading.claimed_broker_ids(db))
    store = BrokerStore(db, broker.name)
    for cid, vid in matched.items():
        store.note_venue_id(cid, vid)
        with db.transaction():
            trading.update_order(db, cid, broker_order_id=vid)
            events_db.record(db, "warning", "reconcile_matched_unknown",
                             f"order {cid} of unknown outcome is the venue's order {vid}",
                             {"client_order_id": cid, "broker_order_id": vid})
    return matched


def _alert_if_long_missing(db: DB, m: dict, asof: str | None) -> None:
    """Alert once when an order is still absent at the venue after its decision day."""
    o = trading.order(db, m["client_order_id"])
    today = asof or now_iso()[:10]
    if o is None or o["date"] >= today:
        return
    alerts.risk_alert(db, "order_missing_at_venue",
                      f"{o['side']} {o['symbol']} {o['qty']:g} ({o['client_order_id']}, {o['status']}) "
                      f"of {o['date']} is still not shown by the venue; check it there",
                      {"client_order_id": o["client_order_id"]}, dedup_key=f"missing:{o['client_order_id']}")
