"""The paper broker: a simulated account that persists in the database.

It behaves like a real venue behind the broker interface: orders are addressed by client order
id (a duplicate id returns the existing order), they stay open until the market moves, and
fills happen by the spec's fill model at the open of the market's next trading day once its
bars are in (``on_bars``), or at a live quote with slippage (``on_quotes``) when a feed
provides one.  Its state lives in the ``paper_*`` tables through a store object
(``db.paper.PaperStore``), so separate processes see one account.  Which days are trading days
is the market calendar's to say (``sessions``, ``pipeline.schedule.calendar.Sessions`` for a config).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from brokers.base import (
    OPEN_STATUSES,
    Balance,
    Bar,
    Capabilities,
    Fill,
    Instrument,
    NotFound,
    OrderRequest,
    OrderState,
    Position,
    Rejected,
)
from brokers.fill_model import PendingOrder, fill_at_open
from sennot.costs import Costs
from sennot.numeric import on_lot_grid, same_qty


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SessionCalendar(Protocol):
    """A market's trading days, as YYYY-MM-DD strings."""

    def is_session(self, d: str) -> bool: ...

    def next_session(self, d: str) -> str: ...


class Weekdays:
    """Monday to Friday: the calendar of a paper venue built without its market's own."""

    def is_session(self, d: str) -> bool:
        return date.fromisoformat(d).weekday() < 5

    def next_session(self, d: str) -> str:
        x = date.fromisoformat(d) + timedelta(days=1)
        while x.weekday() >= 5:
            x += timedelta(days=1)
        return x.isoformat()


class PaperBroker:
    name = "paper"
    # Like Bybit, the simulated venue refuses a second order with the same client id, and it
    # shows an order the moment it accepts it.
    capabilities = Capabilities(enforces_client_ids=True, visibility_delay=0.0, cancel_replace=True)

    def __init__(self, store, capital: float, costs: Costs, currency: str = "KRW",
                 sessions: SessionCalendar | None = None):
        self.store = store
        self.capital = capital
        self.costs = costs
        self.currency = currency
        self.sessions = sessions or Weekdays()

    # ----------------------------------------------------------------- reference data
    def instruments(self, symbols: list[str] | None = None) -> list[Instrument]:
        out = [Instrument(r["symbol"], float(r["lot"] or 1), r["tick"], float(r["min_qty"] or 0),
                          float(r["min_notional"] or 0), r["sector"], None, r["status"] or "trading")
               for r in self.store.instruments()]
        return [i for i in out if symbols is None or i.symbol in symbols]

    def _lot(self, symbol: str) -> float:
        for i in self.instruments([symbol]):
            return i.lot
        return 1.0

    def bars(self, symbol: str, start: str | None = None, end: str | None = None) -> list[Bar]:
        return [Bar(r["symbol"], r["date"], r["open"], r["high"], r["low"], r["close"], r["volume"])
                for r in self.store.bars(symbol, start, end)]

    # ----------------------------------------------------------------- orders
    def place(self, req: OrderRequest) -> OrderState:
        with self.store.transaction():
            existing = self.store.order(req.client_order_id)
            if existing is not None:  # a duplicate id is "already placed"
                return self._state(existing)
            reason = self._reject_reason(req)
            self.store.insert_order({
                "client_order_id": req.client_order_id, "symbol": req.symbol, "side": req.side,
                "qty": req.qty, "order_type": req.order_type, "limit_price": req.limit_price,
                "status": "rejected" if reason else "new", "placed_date": req.date,
                "reject_reason": reason})
        if reason:
            raise Rejected(f"paper: {reason}", code=reason)
        return self._state(self.store.order(req.client_order_id))

    def _reject_reason(self, req: OrderRequest) -> str | None:
        if req.side not in ("BUY", "SELL"):
            return "bad_side"
        if not req.qty > 0:
            return "bad_quantity"
        lot = self._lot(req.symbol)
        if not same_qty(on_lot_grid(req.qty, lot), req.qty):
            return "quantity_not_whole_lot"
        if not self.store.known_symbol(req.symbol):
            return "unknown_symbol"
        if req.side == "SELL":
            held = self.store.holdings().get(req.symbol, {}).get("qty", 0.0)
            committed = sum(o["qty"] - o["filled_qty"] for o in self.store.open_orders()
                            if o["symbol"] == req.symbol and o["side"] == "SELL")
            free = held - committed
            if req.qty > free and not same_qty(req.qty, free):
                return "insufficient_position"
        return None

    def cancel(self, client_order_id: str) -> OrderState:
        with self.store.transaction():
            o = self.store.order(client_order_id)
            if o is None:
                raise NotFound(f"paper: no order {client_order_id}")
            if o["status"] in OPEN_STATUSES:
                self.store.update_order(client_order_id, status="cancelled", reject_reason="cancelled_by_user")
        return self._state(self.store.order(client_order_id))

    def replace(self, client_order_id: str, *, qty: float | None = None,
                price: float | None = None) -> OrderState:
        with self.store.transaction():
            o = self.store.order(client_order_id)
            if o is None:
                raise NotFound(f"paper: no order {client_order_id}")
            if o["status"] not in OPEN_STATUSES:
                raise Rejected(f"paper: order {client_order_id} is {o['status']}", code="not_open")
            fields = {}
            if qty is not None:
                if not qty > o["filled_qty"]:
                    raise Rejected("paper: new quantity must exceed the filled quantity", code="bad_quantity")
                fields["qty"] = qty
            if price is not None:
                fields["limit_price"] = price
            if fields:
                self.store.update_order(client_order_id, **fields)
        return self._state(self.store.order(client_order_id))

    def order_status(self, client_order_id: str, broker_order_id: str | None = None) -> OrderState | None:
        o = self.store.order(client_order_id)
        return self._state(o) if o else None

    def open_orders(self) -> list[OrderState]:
        return [self._state(o) for o in self.store.open_orders()]

    def fills(self, since: str | None = None) -> list[Fill]:
        return [Fill(f["exec_id"], f["client_order_id"], f["symbol"], f["side"], f["qty"], f["price"],
                     f["fee"], f["date"], f["ts"]) for f in self.store.fills(since)]

    def positions(self) -> list[Position]:
        return [Position(s, h["qty"], h["avg_price"]) for s, h in sorted(self.store.holdings().items())]

    def balance(self) -> Balance:
        acct = self.store.account(self.capital)
        return Balance(acct["cash"], self.currency,
                       {s: h["qty"] for s, h in self.store.holdings().items()})

    # ----------------------------------------------------------------- the market moves
    def on_bars(self, upto: str, complete: bool = True) -> list[Fill]:
        """The market has reached ``upto``: fill the open orders at the open of each trading day
        after their decision date, up to ``upto``, one day at a time, by the fill model.
        Returns the fills made.

        Only the market's trading days count (``sessions``), never a date that some file has
        and the market did not trade (a weekend row, a holiday row).  ``complete`` (the caller
        says every bar up to ``upto`` is in, as the stage deciding as of ``upto`` does): a
        symbol without its bar on a trading day had none, so by the fill model its BUY is
        cancelled and its SELL waits; a trading day without any bar at all is a closure the
        calendar missed and is passed over.  ``complete=False`` (right after a collect, which
        may have brought only some files): the venue acts on the next trading day only once it
        has bars and each symbol with an order due that day has shown its bar for it (or a
        later one); until then it waits, so a bar dated ahead of the rest moves nothing.

        The venue's clock (``last_bar_date``, the last day it acted on) moves only when there
        are orders to act on: bars stored ahead of any order (a collect of years of history) do
        not move it, so orders decided on those days later still fill at their next open."""
        made: list[Fill] = []
        while True:
            # Read the account, decide and write in one BEGIN IMMEDIATE transaction: another
            # stage moving the market at the same time must not have its cash written over.
            with self.store.transaction():
                acct = self.store.account(self.capital)
                last = acct["last_bar_date"]
                orders = [o for o in self.store.open_orders() if o["order_type"] == "market"]
                if not orders:
                    break
                # Orders fill after their decision date and after the last day the venue acted
                # on (it never acts back in time).
                start = max(last or "", min(o["placed_date"] or "" for o in orders))
                d = self._next_day(start, upto, orders, complete)
                if d is None:
                    break
                made.extend(self._fill_date(d, last, acct))
        return made

    def _next_day(self, start: str, upto: str, orders: list[dict], complete: bool) -> str | None:
        """The trading day after ``start`` the venue acts on next, or None to wait (``on_bars``)."""
        if complete:
            return self._first_session_with_bars(start or None, upto)
        d = self.sessions.next_session(start) if start else self._first_session_with_bars(None, upto)
        if d is None or d > upto or not self.store.has_bars_on(d):
            return None
        due = sorted({o["symbol"] for o in orders if (o["placed_date"] or "") < d})
        return d if set(due) <= self.store.symbols_with_bars(d, upto, due) else None

    def _first_session_with_bars(self, after: str | None, upto: str) -> str | None:
        while True:
            batch = self.store.dates_after(after, upto, limit=32)
            d = next((x for x in batch if self.sessions.is_session(x)), None)
            if d is not None or len(batch) < 32:
                return d
            after = batch[-1]

    def _fill_date(self, d: str, prev: str | None, acct: dict) -> list[Fill]:
        orders = [o for o in self.store.open_orders()
                  if o["order_type"] == "market" and (o["placed_date"] or "") < d]
        if not orders:
            self.store.set_account(acct["cash"], d)
            return []
        pend = [PendingOrder(o["client_order_id"], o["symbol"], o["side"], o["qty"] - o["filled_qty"],
                             o["id"], "", self._lot(o["symbol"]),
                             waited=prev is not None and (o["placed_date"] or "") < prev)
                for o in orders]
        holdings = self.store.holdings()
        opens = self.store.opens_on(d, sorted({o.symbol for o in pend}))
        out = fill_at_open(pend, opens, acct["cash"], {s: h["qty"] for s, h in holdings.items()}, self.costs)
        made = self._book(out.fills, d, holdings)
        for o, why in out.cancelled:
            self.store.update_order(o.key, status="cancelled", reject_reason=why)
        self.store.set_account(out.cash, d)
        return made

    def on_quotes(self, quotes: dict[str, float], date: str) -> list[Fill]:
        """Fill open market orders at live quotes (last price with slippage), same fill model."""
        with self.store.transaction():
            acct = self.store.account(self.capital)
            orders = [o for o in self.store.open_orders() if o["order_type"] == "market"]
            pend = [PendingOrder(o["client_order_id"], o["symbol"], o["side"], o["qty"] - o["filled_qty"],
                                 o["id"], "", self._lot(o["symbol"])) for o in orders]
            holdings = self.store.holdings()
            out = fill_at_open(pend, quotes, acct["cash"], {s: h["qty"] for s, h in holdings.items()}, self.costs)
            made = self._book(out.fills, date, holdings)
            for o, why in out.cancelled:
                self.store.update_order(o.key, status="cancelled", reject_reason=why)
            self.store.set_account(out.cash, acct["last_bar_date"])
        return made

    def _book(self, fills, d: str, holdings: dict) -> list[Fill]:
        made = []
        ts = _now()
        for f in fills:
            o = self.store.order(f.key)
            filled = o["filled_qty"] + f.qty
            avg = ((o["avg_fill_price"] or 0.0) * o["filled_qty"] + f.price * f.qty) / filled
            # A BUY cut for cash fills what it can and the rest is cancelled, as a venue would.
            status = "filled" if f.cut_from is None else "cancelled"
            self.store.update_order(f.key, filled_qty=filled, avg_fill_price=avg, status=status,
                                    reject_reason=None if f.cut_from is None else "insufficient_cash_at_fill")
            h = holdings.get(f.symbol, {"qty": 0.0, "avg_price": 0.0})
            if f.side == "BUY":
                qty = h["qty"] + f.qty
                avg_price = (h["avg_price"] * h["qty"] + f.price * f.qty) / qty
            else:
                qty = on_lot_grid(h["qty"] - f.qty, self._lot(f.symbol))
                avg_price = h["avg_price"]
            holdings[f.symbol] = {"qty": qty, "avg_price": avg_price}
            self.store.set_holding(f.symbol, qty, avg_price)
            fill = Fill(f"{f.key}-{d}", f.key, f.symbol, f.side, f.qty, f.price, f.fee, d, ts)
            self.store.insert_fill(fill.to_dict() | {"exec_id": fill.fill_id})
            made.append(fill)
        return made

    @staticmethod
    def _state(o: dict) -> OrderState:
        return OrderState(o["client_order_id"], o["symbol"], o["side"], o["qty"], o["status"],
                          o["filled_qty"], o["avg_fill_price"], f"paper-{o['id']}", o["order_type"],
                          o["limit_price"], o["reject_reason"])
