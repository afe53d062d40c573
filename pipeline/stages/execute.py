"""``qtx execute``: vet pending signals, write order intents, send them, record the outcome.

Two phases, each safe to kill at any line:

1. *Vet* (one transaction): the risk guard over the pending signals of the latest decision
   date, every verdict and reason stored, and an order intent with a deterministic client order
   id written for each approved signal.  Killed inside, nothing is written; rerun, it vets again.
2. *Submit* (``submit``): the one policy for unknown outcomes, for every venue.  An intent is
   marked sent before the request; a maybe-sent order is looked up (twice, around the venue's
   visibility delay) and sent again only while its decision is current and the venue enforces
   client ids; otherwise it stays ``unknown`` for ``reconcile``.  Orders of an older decision
   are only looked up, never sent.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from brokers.base import (
    BrokerError,
    Execution,
    OrderRequest,
    OrderState,
    Rejected,
    UnknownOutcome,
    client_order_id,
)
from db import DB, now_iso, trading
from db import control as control_db
from db import events as events_db
from pipeline import alerts
from pipeline.brokers_factory import make_broker
from pipeline.config import Settings
from pipeline.engine import valuation_close
from pipeline.faults import checkpoint
from pipeline.history import load_recent_market
from pipeline.stages.sync import apply_order_state, sync
from risk import guard
from risk.limits import final_buy_reason
from risk.params import from_settings
from risk.portfolio import RiskState

log = logging.getLogger("qtx.execute")


def _state_of(m: dict) -> RiskState:
    return RiskState(m["equity"], m["peak"], m["daily_return"], m["drawdown"], bool(m["buy_blocked"]),
                     m["size_multiplier"])


def vet(db: DB, settings: Settings, d: str, cash: float) -> dict:
    """Phase 1 for decision date ``d``: verdicts and intents, atomically."""
    rp, costs = from_settings(settings)
    signals = trading.signals_on(db, d, status="pending")
    metrics = trading.metrics_on(db, d)
    if metrics is None:
        raise RuntimeError(f"no daily_metrics for {d}: run `qtx signal --asof {d}` first")
    state = _state_of(metrics)
    market = load_recent_market(db, d, 2)
    k = market.date_index(d)
    positions = trading.positions(db)
    sells = [s for s in signals if s["side"] == "SELL"]
    buys = [s for s in signals if s["side"] == "BUY"]
    blocks = control_db.buy_block_reasons(db)
    cap = settings.risk.max_order_notional if settings.mode == "live" else None

    sales, sell_orders = [], []
    for s in sorted(sells, key=lambda s: s["symbol"]):
        p = positions.get(s["symbol"])
        qty = min(s["qty"] or 0.0, p["qty"] if p else 0.0)
        if qty > 0:
            sales.append(guard.Sale(s["symbol"], qty, s["close"], full=qty >= p["qty"]))
            sell_orders.append((s, qty))
    holdings = [guard.Holding(sym, p["qty"], valuation_close(market, sym, k), market.rule(sym).sector)
                for sym, p in positions.items() if sym in market.bars]
    cands = [guard.Candidate(b["symbol"], float("inf") if b["strength"] >= 1e308 else b["strength"],
                             b["close"], b["reason"], market.rule(b["symbol"]).lot,
                             market.rule(b["symbol"]).min_notional, market.rule(b["symbol"]).sector)
             for b in buys]
    verdicts = guard.vet(cands, holdings, sales, cash, state, rp, costs)
    by_symbol = {b["symbol"]: b for b in buys}

    approved = rejected = 0
    with db.transaction():
        for s, qty in sell_orders:
            trading.set_verdict(db, s["id"], "approved", "sell_always_allowed", qty)
            trading.insert_order_intent(db, client_order_id(d, "SELL", s["symbol"]), s["id"], d,
                                        s["symbol"], "SELL", qty, 0, s["reason"])
        ordered = {x["symbol"] for x, _ in sell_orders}
        for s in sells:
            if s["symbol"] not in ordered:
                trading.set_verdict(db, s["id"], "rejected", "nothing_held")
        seq = 0
        for v in verdicts:
            sig = by_symbol[v.symbol]
            reason = final_buy_reason(v.reason, v.qty, v.close, blocks, cap)
            if reason == "approved":
                seq += 1
                approved += 1
                trading.set_verdict(db, sig["id"], "approved", "approved", v.qty, v.rank)
                trading.insert_order_intent(db, client_order_id(d, "BUY", v.symbol), sig["id"], d,
                                            v.symbol, "BUY", v.qty, seq, v.signal_reason)
            else:
                rejected += 1
                trading.set_verdict(db, sig["id"], "rejected", reason, v.qty or None, v.rank)
        _risk_events(db, d, state, verdicts, blocks)
        checkpoint("execute:after_vet")
    return {"date": d, "sells": len(sell_orders), "buys_approved": approved, "buys_rejected": rejected,
            "buy_blocks": blocks}


def _risk_events(db: DB, d: str, state: RiskState, verdicts: list[guard.Verdict], blocks: list[str]) -> None:
    if state.buy_blocked:
        alerts.risk_alert(db, "daily_loss_block",
                          f"{d}: daily return {state.daily_return:.2%} breached the limit; every BUY rejected",
                          {"date": d, "daily_return": state.daily_return}, dedup_key=f"risk:daily_loss:{d}")
    if state.size_multiplier < 1:
        alerts.risk_alert(db, "drawdown_sizing",
                          f"{d}: drawdown {state.drawdown:.2%}; BUY sizes x{state.size_multiplier:g}",
                          {"date": d, "drawdown": state.drawdown}, dedup_key=f"risk:drawdown:{d}")
    capped = [v.symbol for v in verdicts if v.reason == "sector_cap"]
    if capped:
        alerts.risk_alert(db, "sector_cap", f"{d}: sector cap reached; rejected {', '.join(capped)}",
                          {"date": d, "symbols": capped}, dedup_key=f"risk:sector_cap:{d}")
    if blocks and verdicts:
        events_db.record(db, "risk", "buys_blocked", f"{d}: BUYs blocked: {'; '.join(blocks)}",
                         {"date": d, "reasons": blocks})


def submit(db: DB, broker: Execution, o: dict, *, current: bool = True, live: bool = False,
           sleep: Callable[[float], None] = time.sleep) -> str:
    """Phase 2 for one order; returns the order's status after it.

    The one policy for every venue: an order never sent is sent only while its decision is
    current (``sent_at`` is written first, so a kill after it makes the order "maybe sent").
    A maybe-sent order is looked up; an empty lookup sooner than the venue's visibility delay
    proves nothing, so it is looked up again after that delay.  Still absent, it is sent again
    only if its decision is current *and* the venue enforces client ids (a second create with
    the same id is refused, so it cannot double); otherwise it stays ``unknown`` for
    ``reconcile``, which matches it on the venue's own lists."""
    cid = o["client_order_id"]
    try:
        checkpoint("execute:before_lookup")
        if o["sent_at"] is None:
            if not current:
                return _expire(db, o, "never sent; its session has passed")
            return _send(db, broker, o, live, sleep=sleep)
        st = _lookup(broker, o, sleep)
        if st is not None:
            return _record(db, st)
        if not current and broker.capabilities.enforces_client_ids:
            # The venue would show it by its client id: it never arrived, and it is too late now.
            return _expire(db, o, "the venue never received it; its session has passed")
        if not (current and broker.capabilities.enforces_client_ids):
            return _mark_unknown(db, o, "not found at the venue yet; reconcile matches it on the venue's lists")
        log.warning("order %s: the venue has no such order after its visibility delay; sending it again", cid)
        return _send(db, broker, o, live, resend=True, sleep=sleep)
    except BrokerError as e:
        events_db.record(db, "error", "broker_error", f"{cid}: {e}", {"client_order_id": cid, "kind": e.kind})
        return "deferred"


def _lookup(broker: Execution, o: dict, sleep: Callable[[float], None]) -> OrderState | None:
    st = broker.order_status(o["client_order_id"], o["broker_order_id"])
    if st is None:
        wait = broker.capabilities.visibility_delay - _age_seconds(o["sent_at"])
        if wait > 0:
            sleep(wait)
            st = broker.order_status(o["client_order_id"], o["broker_order_id"])
    return st


def _send(db: DB, broker: Execution, o: dict, live: bool, resend: bool = False,
          sleep: Callable[[float], None] = time.sleep) -> str:
    cid = o["client_order_id"]
    with db.transaction():
        trading.update_order(db, cid, sent_at=now_iso())
    checkpoint("execute:before_place")
    req = OrderRequest(cid, o["symbol"], o["side"], o["qty"], date=o["date"])
    try:
        st = broker.place(req)
    except UnknownOutcome as e:
        # It may have reached the venue: the next lookup (this run's or a later one's) decides.
        events_db.record(db, "warning", "order_unknown_outcome", f"{cid}: {e}", {"client_order_id": cid})
        st = _lookup(broker, {**o, "sent_at": now_iso()}, sleep)
        if st is None:
            if not resend and broker.capabilities.enforces_client_ids:
                return _send(db, broker, o, live, resend=True, sleep=sleep)
            return _mark_unknown(db, o, str(e))
    except Rejected as e:
        if resend:
            # An error answer to a second create is not final: the first may yet show and fill.
            return _mark_unknown(db, o, f"second create refused ({e}); the first may still appear")
        with db.transaction():
            trading.update_order(db, cid, status="rejected", error=str(e)[:300])
            alerts.error_alert(db, "order_rejected", f"{o['side']} {o['symbol']} {o['qty']:g}: {e}",
                               {"client_order_id": cid, "code": e.code}, dedup_key=f"rejected:{cid}")
        return "rejected"
    if live:
        log.info("live order %s", json.dumps({"request": req.__dict__, "response": st.to_dict()}, default=str))
    checkpoint("execute:after_place")
    return _record(db, st)


def _record(db: DB, st: OrderState) -> str:
    with db.transaction():
        apply_order_state(db, st)
    checkpoint("execute:after_record")
    return st.status


def _mark_unknown(db: DB, o: dict, why: str) -> str:
    with db.transaction():
        trading.update_order(db, o["client_order_id"], status="unknown", error=why[:300])
    return "unknown"


def _expire(db: DB, o: dict, why: str) -> str:
    cid = o["client_order_id"]
    with db.transaction():
        trading.update_order(db, cid, status="expired", error=why)
        alerts.risk_alert(db, "order_expired", f"{o['side']} {o['symbol']} {o['qty']:g} ({cid}) expired: {why}",
                          {"client_order_id": cid, "date": o["date"]}, dedup_key=f"expired:{cid}")
    return "expired"


def _age_seconds(ts: str | None) -> float:
    if not ts:
        return 0.0
    t = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return (datetime.now(UTC) - t).total_seconds()


class LiveNotConfirmed(Exception):
    """The first live run of a database was not confirmed."""


def needs_live_confirmation(db: DB, settings: Settings) -> bool:
    return settings.mode == "live" and not db.meta().get("live_confirmed")


def record_live_confirmation(db: DB) -> None:
    """The operator confirmed live trading on this database: kept, so it is asked once."""
    with db.transaction():
        db.set_meta("live_confirmed", "yes")
        events_db.record(db, "warning", "live_confirmed", f"live trading confirmed for {db.path}")


def run_execute_stage(db: DB, settings: Settings, asof: str, *, replay: bool) -> dict:
    """What ``qtx execute`` does.  A replay (``--asof``) acts on that date's decisions as right
    after its signal.  A scheduled run reconciles first after downtime, and only the previous
    session's decisions are still fresh: one whose session passed while the Mac was off expires."""
    if needs_live_confirmation(db, settings):
        raise LiveNotConfirmed(f"first live run of {db.path}: confirm on a terminal or pass --yes")
    if replay:
        return run_execute(db, settings, asof)
    from pipeline.schedule.calendar import previous_trading_day
    from pipeline.schedule.catchup import must_reconcile_first
    from pipeline.schedule.gate import now

    fresh = previous_trading_day(settings.market, datetime.fromisoformat(asof).date(), settings).isoformat()
    return run_execute(db, settings, asof, reconcile_first=must_reconcile_first(db, now(), conf=settings),
                       not_before=fresh)


def run_execute(db: DB, settings: Settings, asof: str | None = None, broker=None,
                reconcile_first: bool = False, not_before: str | None = None) -> dict:
    """Vet and send.  ``not_before``: decisions older than this date are stale (the session they
    were meant for has passed) and expire instead of trading; scheduled runs pass the market's
    previous trading day."""
    broker = broker or make_broker(settings, db)
    summary: dict = {"status": "ok"}
    if reconcile_first:
        # First run after downtime: make the record agree with the broker before trading.
        from pipeline.stages.reconcile import run_reconcile

        rec = run_reconcile(db, settings, asof, broker=broker)
        summary["reconciled_first"] = {"clean": rec["diff"]["clean"], "repaired": rec["repaired"]}
    sync(db, broker, upto=asof)
    upto = asof or "9999-12-31"
    d = trading.latest_pending_date(db, upto)
    if d is not None and not_before is not None and d < not_before:
        stale = trading.expire_pending_before(db, not_before)
        alerts.risk_alert(db, "stale_signals",
                          f"{stale} stale decision(s) of {d} expired unsent: their session has passed",
                          {"date": d, "not_before": not_before}, dedup_key=f"stale:{d}")
        d = None
    summary["date"] = d
    if d is not None:
        old = trading.pending_dates_before(db, d)
        expired = trading.expire_pending_before(db, d)
        if expired:  # decisions never executed (a killed execute, a missed morning): say so
            alerts.risk_alert(db, "signals_expired",
                              f"{expired} stale decision(s) of {', '.join(old)} expired unsent: their "
                              f"session has passed (now deciding {d})",
                              {"date": d, "expired": expired, "dates": old}, dedup_key=f"expired_before:{d}")
        cash = broker.balance().cash
        summary.update(vet(db, settings, d, cash))
    # Only the current decision's orders may be sent; older ones are only looked up.
    newest = d or trading.latest_decision_date(db, upto)
    results = {}
    for o in trading.orders_to_submit(db):
        current = o["date"] == newest and (not_before is None or o["date"] >= not_before)
        results[o["client_order_id"]] = submit(db, broker, o, current=current, live=settings.mode == "live")
    summary["orders"] = results
    if d is None and not results:
        summary["status"] = "nothing_to_do"
    return summary


def describe(summary: dict) -> str:
    if summary.get("status") == "nothing_to_do":
        return "nothing to do: no pending signals"
    parts = [f"date {summary['date']}", f"sells {summary.get('sells', 0)}",
             f"buys approved {summary.get('buys_approved', 0)}", f"rejected {summary.get('buys_rejected', 0)}"]
    if summary.get("buy_blocks"):
        parts.append("blocked: " + "; ".join(summary["buy_blocks"]))
    return ", ".join(parts)
