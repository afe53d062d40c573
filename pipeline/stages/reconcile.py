"""``qtx reconcile``: compare the broker with the database and repair what differs.

``diff`` is pure: it takes what the broker reports (orders, fills, positions) and what the
database holds, and lists the differences.  Before it, orders whose create had an unknown
outcome on a venue without client ids (Kiwoom) are found on the venue's own lists
(``pipeline.stages.sync.adopt_unknown``, over the pure ``match_unknown``; every sync does it too).
``run_reconcile`` then records the fills the database missed and brings order states up to date
from what the venue says.  An order is never closed because the venue does not show it (venues
show creates late): it is closed when the venue says it ended, and alerted once if it stays
missing.  When a difference remains that it cannot explain (a position that still disagrees, an
order we never made), it blocks new BUYs and alerts the operator until a later reconcile finds
everything in order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from brokers.base import OPEN_STATUSES, Fill, OrderState
from db import DB, now_iso, trading
from db import control as control_db
from db import events as events_db
from pipeline import alerts
from pipeline.brokers_factory import make_broker
from pipeline.config import Settings
from pipeline.stages.sync import (
    adopt_unknown,
    advance_market,
    apply_fill,
    apply_order_state,
    venue_fills,
)
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
        matched = adopt_unknown(db, broker)
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
