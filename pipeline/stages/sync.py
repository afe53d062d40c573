"""Bring qtx's record up to date with the broker: fills, order states, positions.

Every stage that decides or acts syncs first, so it sees the positions after the fills at the
day's open.  Fills are keyed by the broker's execution id, so a sync that is killed and rerun
records each fill exactly once.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from brokers.base import Fill, OrderState, SimulatedVenue
from db import DB, trading
from db import events as events_db
from db.broker_store import BrokerStore
from pipeline import alerts
from pipeline.faults import checkpoint
from sennot.numeric import on_lot_grid, same_qty


def advance_market(broker, upto: str | None, complete: bool = False) -> list[Fill]:
    """Let a simulated venue see the bars up to ``upto`` (the paper broker fills at their opens).

    ``complete``: every bar up to ``upto`` is in (the stage deciding as of ``upto`` says so), and
    a symbol without its bar on a trading day had none.  Otherwise (after a collect, before a
    session's bars exist) the venue waits for bars that may still come: ``PaperBroker.on_bars``."""
    if upto and isinstance(broker, SimulatedVenue):
        return broker.on_bars(upto, complete=complete)
    return []


def apply_fill(db: DB, f: Fill, lot: float = 1.0) -> bool:
    """Record one broker fill and its effect on the order and the position (one transaction)."""
    with db.transaction():
        o = trading.order(db, f.client_order_id)
        reason = o["reason"] if o else "external"
        if not trading.insert_fill(db, f.to_dict(), reason):
            return False  # already recorded
        if o is None:
            # A trade qtx did not make (by hand, another program): the position follows the
            # broker, and the operator is told.
            alerts.risk_alert(db, "external_fill",
                              f"{f.side} {f.symbol} {f.qty:g} @ {f.price:g} by order {f.client_order_id}, "
                              "which qtx did not place", f.to_dict(), dedup_key=f"external:{f.fill_id}")
        if o:
            # Filled means filled: the order's quantity counts what executed; an in-kind fee
            # only changes what the position received (below).
            filled = o["filled_qty"] + f.qty
            avg = ((o["avg_fill_price"] or 0.0) * o["filled_qty"] + f.price * f.qty) / filled
            status = "filled" if filled >= o["qty"] or same_qty(filled, o["qty"]) else "partially_filled"
            if o["status"] in ("cancelled", "rejected", "expired"):
                status = o["status"]
            trading.update_order(db, f.client_order_id, filled_qty=filled, avg_fill_price=avg, status=status)
        p = trading.position(db, f.symbol)
        got = f.position_qty
        if f.side == "BUY":
            if p is None:
                trading.upsert_position(db, f.symbol, got, f.price, f.price, f.date, None)
            else:
                qty = p["qty"] + got
                avg = (p["avg_price"] * p["qty"] + f.price * got) / qty
                # More of the entry order (a partial fill): the entry price is its average.
                same_entry = p["entry_date"] == f.date
                trading.upsert_position(db, f.symbol, qty, avg, avg if same_entry else p["entry_price"],
                                        p["entry_date"], p["armed_date"])
        elif p is not None:
            qty = on_lot_grid(p["qty"] - f.qty, lot)
            if qty > 0:
                trading.upsert_position(db, f.symbol, qty, p["avg_price"], p["entry_price"],
                                        p["entry_date"], p["armed_date"])
            else:
                trading.delete_position(db, f.symbol)
        alerts.fill(db, f.to_dict(), reason)
    checkpoint("sync:after_fill")
    return True


def apply_order_state(db: DB, st: OrderState) -> None:
    fields = {"status": st.status, "error": st.reject_reason}
    if st.broker_order_id:  # never forget a venue id we knew
        fields["broker_order_id"] = st.broker_order_id
    trading.update_order(db, st.client_order_id, **fields)


def after_collect(db: DB, settings, asof: str | None = None) -> dict:
    """In paper mode the new bars move the simulated market: pending orders fill at their
    opens now (fill alerts queued), not only when the next stage happens to sync.

    The market has reached the date the collect acted as of (``asof``, else today's market
    date by the clock), not the newest date some file happens to have."""
    if settings.mode != "paper":
        return {}
    from pipeline.brokers_factory import make_broker
    from pipeline.schedule.calendar import market_date
    from pipeline.schedule.gate import now

    upto = asof or market_date(settings.market, now()).isoformat()
    return sync(db, make_broker(settings, db), upto=upto)


def unrecorded(fills: list[Fill], known: set[str], totals: dict[str, tuple[float, float, float]]) -> list[Fill]:
    """The venue's fills that qtx has not recorded.  A cumulative row (an order's executions so
    far) becomes the increment over what is recorded for that venue order: its quantity, the
    average price of the new part, and the new part of the fee."""
    out = []
    for f in fills:
        if f.fill_id in known:
            continue
        if f.cumulative:
            q0, v0, fee0 = totals.get(f.broker_order_id or "", (0.0, 0.0, 0.0))
            dq = f.qty - q0
            if dq <= 0 or same_qty(f.qty, q0):
                continue
            f = replace(f, qty=dq, price=(f.qty * f.price - v0) / dq, fee=max(0.0, f.fee - fee0), cumulative=False)
        out.append(f)
    return out


def venue_fills(db: DB, broker) -> list[Fill]:
    """What ``broker.fills()`` reports that the database lacks, as increments."""
    return unrecorded(broker.fills(), trading.fill_ids(db), trading.fill_totals_by_venue_order(db))


def sync(db: DB, broker, upto: str | None = None, lots: dict[str, float] | None = None) -> dict:
    """Record fills the database lacks and refresh the state of our open orders.  Orders of
    unknown outcome on a venue without client ids are matched first, so their fills are
    recorded as theirs, not as trades qtx did not make."""
    advance_market(broker, upto)
    adopt_unknown(db, broker)
    new = venue_fills(db, broker)
    for f in new:
        apply_fill(db, f, (lots or {}).get(f.symbol, 1.0))
    changed = 0
    for o in trading.open_orders(db):
        if o["status"] in ("intent", "unknown"):
            continue  # execute resolves these (look up, then place)
        st = broker.order_status(o["client_order_id"], o["broker_order_id"])
        if st is not None and st.status != o["status"]:
            with db.transaction():
                apply_order_state(db, st)
            changed += 1
    return {"new_fills": len(new), "orders_updated": changed}


def run_fill_sync(db: DB, settings, asof: str | None = None, broker=None) -> dict:
    """``qtx sync``: record the venue's new fills (each queues its fill alert) and the states of
    our open orders, without moving a simulated market.  Scheduled after the open and during
    the session, so the operator hears of a fill within minutes."""
    from pipeline.brokers_factory import make_broker

    broker = broker or make_broker(settings, db)
    before = trading.fill_ids(db)
    out = sync(db, broker)
    if settings.market == "krx" and settings.mode == "live":
        out["fee_differences"] = _check_krx_fees(db, settings, trading.fill_ids(db) - before)
    return {"status": "ok", "date": asof, **out}


def _check_krx_fees(db: DB, settings, fill_ids: set[str]) -> int:
    """What Kiwoom charged is what qtx records; a charge that differs from the configured
    commission and the sell tax of the settlement year by more than rounding is reported once."""
    from brokers.krx import sell_tax_rate

    c = settings.costs
    n = 0
    for f in trading.fills_by_ids(db, sorted(fill_ids)):
        notional = f["qty"] * f["price"]
        tax = sell_tax_rate(f["date"], c.sell_tax_by_year, c.sell_tax or 0.0) if f["side"] == "SELL" else 0.0
        expected = notional * (c.commission + tax)
        if abs(f["fee"] - expected) > 2 + 0.01 * expected:  # whole-won rounding of each part
            n += 1
            events_db.record(db, "warning", "fee_difference",
                             f"{f['side']} {f['symbol']} {f['qty']:g} @ {f['price']:g}: Kiwoom charged "
                             f"{f['fee']:,.0f}, the config expects {expected:,.0f} (check costs.commission "
                             "and costs.sell_tax_by_year)", {"fill_id": f["fill_id"], "expected": expected})
    return n


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


def adopt_unknown(db: DB, broker) -> dict[str, str]:
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
