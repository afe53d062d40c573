"""The spec's fill model, shared by the backtest and the paper broker.  Pure.

At the open of a decision date: SELLs fill first (those that already waited, then the new
ones, each group by symbol), then BUYs in approval order.  A BUY whose symbol has no bar is
cancelled (``no_bar_at_fill``); a SELL waits for the symbol's next open.  A BUY whose cost
exceeds the cash left is cut to the largest whole-lot quantity that fits, or cancelled
(``insufficient_cash_at_fill``).  Prices carry slippage and are not rounded; costs are
commission on both sides plus sell tax on SELLs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from sennot.costs import Costs
from sennot.numeric import floor_to_lot, on_lot_grid


@dataclass(slots=True)
class PendingOrder:
    key: str                # client order id
    symbol: str
    side: str               # BUY | SELL
    qty: float
    seq: int = 0            # approval order (BUYs)
    reason: str = ""
    lot: float = 1.0
    waited: bool = False    # already passed a fill attempt without a bar


@dataclass(slots=True)
class SimFill:
    key: str
    symbol: str
    side: str
    qty: float
    price: float
    fee: float
    reason: str
    cut_from: float | None = None  # original qty when a BUY was cut for cash


@dataclass
class FillOutcome:
    fills: list[SimFill]
    cancelled: list[tuple[PendingOrder, str]]
    waiting: list[PendingOrder]
    cash: float


def fill_sequence(orders: Iterable[PendingOrder]) -> list[PendingOrder]:
    sells: list[PendingOrder] = []
    buys: list[PendingOrder] = []
    for o in orders:  # one pass (a backtest asks this every day an order is open)
        if o.side == "SELL":
            sells.append(o)
        elif o.side == "BUY":
            buys.append(o)
    sells.sort(key=_sell_rank)
    buys.sort(key=_buy_rank)
    return sells + buys


def _sell_rank(o: PendingOrder) -> tuple[bool, str]:
    return not o.waited, o.symbol


def _buy_rank(o: PendingOrder) -> int:
    return o.seq


def buy_fill_price(open_: float, costs: Costs) -> float:
    return open_ * (1 + costs.slippage)


def sell_fill_price(open_: float, costs: Costs) -> float:
    return open_ * (1 - costs.slippage)


def buy_cost(qty: float, price: float, commission: float) -> float:
    """``qty * price * (1 + commission)``, evaluated in exactly that order: the spec's cash test
    is exact, so a different order of operations could decide a tie the other way."""
    return qty * price * (1 + commission)


def affordable_qty(qty: float, price: float, cash: float, commission: float, lot: float) -> float:
    """The order's qty if it fits the cash, else the largest whole-lot qty that does (exact)."""
    if buy_cost(qty, price, commission) <= cash:
        return qty
    unit = price * (1 + commission)
    q = min(qty, floor_to_lot(cash / unit, lot)) if unit > 0 else 0.0
    # The division is only an estimate: step down until it fits, then up while the next lot fits.
    while q > 0 and buy_cost(q, price, commission) > cash:
        q = on_lot_grid(q - lot, lot)
    while q + lot <= qty and buy_cost(on_lot_grid(q + lot, lot), price, commission) <= cash:
        q = on_lot_grid(q + lot, lot)
    return max(q, 0.0)


def fill_at_open(orders: Iterable[PendingOrder], opens: Mapping[str, float], cash: float,
                 holdings: Mapping[str, float], costs: Costs) -> FillOutcome:
    """Fill ``orders`` at the opens of the day (``opens`` has a price only for symbols with a bar)."""
    fills: list[SimFill] = []
    cancelled: list[tuple[PendingOrder, str]] = []
    waiting: list[PendingOrder] = []
    held = dict(holdings)
    for o in fill_sequence(orders):
        op = opens.get(o.symbol)
        if o.side == "SELL":
            if op is None:
                waiting.append(replace(o, waited=True))
                continue
            qty = min(o.qty, held.get(o.symbol, 0.0))
            if not qty > 0:
                cancelled.append((o, "nothing_held"))
                continue
            price = sell_fill_price(op, costs)
            notional = qty * price
            fee = notional * costs.commission + notional * costs.sell_tax
            cash += notional - fee
            held[o.symbol] = on_lot_grid(held[o.symbol] - qty, o.lot)
            fills.append(SimFill(o.key, o.symbol, "SELL", qty, price, fee, o.reason))
        else:
            if op is None:
                cancelled.append((o, "no_bar_at_fill"))
                continue
            price = buy_fill_price(op, costs)
            qty = affordable_qty(o.qty, price, cash, costs.commission, o.lot)
            if not qty > 0:
                cancelled.append((o, "insufficient_cash_at_fill"))
                continue
            notional = qty * price
            fee = notional * costs.commission
            # Deduct the very amount the cash test compared, so cash never goes below zero.
            cash = cash - buy_cost(qty, price, costs.commission)
            held[o.symbol] = held.get(o.symbol, 0.0) + qty
            fills.append(SimFill(o.key, o.symbol, "BUY", qty, price, fee, o.reason,
                                 cut_from=o.qty if qty != o.qty else None))
    return FillOutcome(fills, cancelled, waiting, cash)


__all__ = ["Costs", "FillOutcome", "PendingOrder", "SimFill", "affordable_qty", "buy_cost", "fill_at_open",
           "fill_sequence"]
