"""The broker interface (the order layer) and the plain types every adapter speaks.

Shaped on Bybit v5 and Kiwoom REST, not on the paper broker: orders are addressed by *our*
client order id (Bybit ``orderLinkId``), they can fill partially, be amended (price or
quantity) and cancelled, and a create can end with an *unknown outcome* (timeout, dropped
connection) that the caller must resolve by looking the order up, never by sending again
blindly.  Every adapter reports orders, fills and positions so that ``reconcile`` can compare
the broker with the database.

Nothing here imports the rest of qtx.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol, runtime_checkable

Side = Literal["BUY", "SELL"]
OrderStatus = Literal["new", "partially_filled", "filled", "cancelled", "rejected"]
OPEN_STATUSES = ("new", "partially_filled")


# --------------------------------------------------------------------------- errors

class BrokerError(Exception):
    """A broker answered with an error.  ``kind`` says how the caller must treat it."""

    kind = "error"

    def __init__(self, message: str, *, code: str | int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


class Rejected(BrokerError):
    """Definitely not placed (balance, quantity, price, symbol).  Never retried."""

    kind = "rejected"


class AuthError(BrokerError):
    """Keys missing, wrong, expired or not allowed from this IP.  Never retried."""

    kind = "auth"


class RateLimited(BrokerError):
    """Too many requests; safe to retry after ``retry_after`` seconds."""

    kind = "rate_limited"


class Transient(BrokerError):
    """A server-side or clock problem that is safe to retry for reads."""

    kind = "transient"


class UnknownOutcome(BrokerError):
    """The request may or may not have reached the broker (timeout, connection reset).

    For a create: look the order up by its client order id; send again only if the broker
    has no such order.
    """

    kind = "unknown"


class NotFound(BrokerError):
    kind = "not_found"


# --------------------------------------------------------------------------- types

@dataclass(frozen=True)
class Instrument:
    symbol: str
    lot: float = 1.0            # quantity step
    tick: float | None = None   # price step (None: the market's tick table decides)
    min_qty: float = 0.0
    min_notional: float = 0.0
    sector: str | None = None
    name: str | None = None
    status: str = "trading"


@dataclass(frozen=True)
class Bar:
    symbol: str
    date: str  # YYYY-MM-DD, the market date of the (closed) bar
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True)
class OrderRequest:
    client_order_id: str
    symbol: str
    side: Side
    qty: float
    order_type: Literal["market", "limit"] = "market"
    limit_price: float | None = None
    date: str | None = None  # the decision date that produced the order (paper fills after it)


@dataclass
class OrderState:
    client_order_id: str
    symbol: str
    side: Side
    qty: float
    status: OrderStatus
    filled_qty: float = 0.0
    avg_price: float | None = None
    broker_order_id: str | None = None
    order_type: str = "market"
    limit_price: float | None = None
    reject_reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Fill:
    fill_id: str              # the broker's execution id: unique, so fills are never doubled
    client_order_id: str
    symbol: str
    side: Side
    qty: float
    price: float
    fee: float
    date: str                 # market date of the fill
    ts: str                   # ISO timestamp

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Position:
    symbol: str
    qty: float
    avg_price: float


@dataclass(frozen=True)
class Balance:
    cash: float                              # free cash in the account currency
    currency: str = "KRW"
    holdings: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- interface

@runtime_checkable
class Broker(Protocol):
    name: str

    def instruments(self, symbols: list[str] | None = None) -> list[Instrument]: ...

    def bars(self, symbol: str, start: str | None = None, end: str | None = None) -> list[Bar]:
        """Closed daily bars, ascending; never the candle still open."""
        ...

    def place(self, req: OrderRequest) -> OrderState:
        """Create an order.  Raises Rejected, UnknownOutcome, RateLimited, AuthError.

        Placing a client order id the broker already has returns that order (a duplicate id is
        "already placed", not an error)."""
        ...

    def cancel(self, client_order_id: str) -> OrderState: ...

    def replace(self, client_order_id: str, *, qty: float | None = None,
                price: float | None = None) -> OrderState: ...

    def order_status(self, client_order_id: str) -> OrderState | None:
        """The order by our id, open or closed; None when the broker has never seen it."""
        ...

    def open_orders(self) -> list[OrderState]: ...

    def fills(self, since: str | None = None) -> list[Fill]:
        """Executions at or after ``since`` (an ISO date or timestamp), oldest first."""
        ...

    def positions(self) -> list[Position]: ...

    def balance(self) -> Balance: ...


# --------------------------------------------------------------------------- ids

_ID_OK = re.compile(r"[^A-Za-z0-9_-]")


def client_order_id(date: str, side: str, symbol: str, prefix: str = "qtx") -> str:
    """Deterministic id for the one order a (decision date, side, symbol) can make.

    At most 36 characters of letters, digits, ``-`` and ``_`` (Bybit's ``orderLinkId`` rule).
    """
    ymd = date.replace("-", "")
    sym = _ID_OK.sub("_", symbol)
    cid = f"{prefix}-{ymd}-{side[0].upper()}-{sym}"
    if len(cid) > 36:
        digest = hashlib.sha1(cid.encode()).hexdigest()[:8]
        cid = f"{prefix}-{ymd}-{side[0].upper()}-{sym[: 36 - len(prefix) - 13 - 9]}-{digest}"
    return cid[:36]
