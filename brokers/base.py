"""The broker interface (the order layer) and the plain types every adapter speaks.

Shaped on Bybit v5 and Kiwoom REST, not on the paper broker.  Market data (``MarketData``) is
apart from execution (``Execution``); cancel and amend are an optional capability
(``CancelReplace``) and the paper broker's power to move its own market is one too
(``SimulatedVenue``).  Orders carry *our* client order id and, once known, the venue's order id:
Bybit stores our id (``orderLinkId``), Kiwoom only returns its own ``ord_no``, so an adapter keeps
the map in its store (``db.broker_store``).  A create can end with an *unknown outcome*
(timeout, dropped connection) that ``execute`` resolves by looking the order up, never by
sending again blindly; ``Capabilities`` tells it what the venue guarantees.  Every adapter
reports orders, fills and positions so that ``reconcile`` can compare the venue with the
database.

Nothing here imports the rest of qtx.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol, runtime_checkable

from brokers.errors import (  # noqa: F401 - the interface's errors (in their own light module)
    AuthError,
    BrokerError,
    MissingKeys,
    NotFound,
    RateLimited,
    Rejected,
    Transient,
    UnknownOutcome,
)

Side = Literal["BUY", "SELL"]
OrderStatus = Literal["new", "partially_filled", "filled", "cancelled", "rejected"]
OPEN_STATUSES = ("new", "partially_filled")


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
    broker_order_id: str | None = None  # the venue's id, once known (lookups, amend, cancel)
    reference_price: float | None = None  # the previous close: a limit outside the band is refused


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
    ts: str | None = None  # when the venue accepted it (ISO UTC), where the venue says

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
    broker_order_id: str | None = None  # the venue's id of the order (Kiwoom ord_no)
    fee_qty: float = 0.0      # part of ``qty`` the venue kept as fee, in the asset bought (Bybit spot)
    # The venue reports an order's executions so far as one row (Kiwoom ka10076): qty, price and
    # fee are the order's totals, and the pipeline records what is new since it last looked.
    cumulative: bool = False

    @property
    def position_qty(self) -> float:
        """What the fill changes the position by: the quantity received after an in-kind fee."""
        return self.qty - self.fee_qty

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

@dataclass(frozen=True)
class Capabilities:
    """What a venue guarantees, so that one policy in ``execute`` fits every venue.

    ``enforces_client_ids``: the venue refuses a second create with the same client id (Bybit's
    ``orderLinkId``), so a create whose outcome is unknown may be sent again once the lookup
    finds nothing.  A venue without it (Kiwoom) must never get a second create: an unknown
    outcome is left to ``reconcile``, which matches it on the venue's own lists.
    ``visibility_delay``: seconds a venue may take to show an accepted create in its lookups
    (venues process creates asynchronously); an empty lookup sooner than that proves nothing.
    """

    enforces_client_ids: bool = False
    visibility_delay: float = 0.0
    cancel_replace: bool = False


@runtime_checkable
class MarketData(Protocol):
    """Reference data and closed daily bars."""

    def instruments(self, symbols: list[str] | None = None) -> list[Instrument]: ...

    def bars(self, symbol: str, start: str | None = None, end: str | None = None) -> list[Bar]:
        """Closed daily bars, ascending; never the candle still open."""
        ...


@runtime_checkable
class Execution(Protocol):
    """Orders, fills, positions and cash at a venue: what ``execute`` and ``reconcile`` use."""

    name: str
    capabilities: Capabilities

    def place(self, req: OrderRequest) -> OrderState:
        """Create an order.  Raises Rejected, UnknownOutcome, RateLimited, AuthError.

        On a venue that enforces client ids, placing an id it already has returns that order
        (a duplicate id is "already placed", not an error)."""
        ...

    def order_status(self, client_order_id: str, broker_order_id: str | None = None) -> OrderState | None:
        """The order by our id (and the venue's id when known), open or closed; None when the
        venue does not show it (which, right after a create, proves nothing: see
        ``Capabilities.visibility_delay``)."""
        ...

    def open_orders(self) -> list[OrderState]: ...

    def fills(self, since: str | None = None) -> list[Fill]:
        """Executions at or after ``since`` (an ISO date or timestamp), oldest first."""
        ...

    def positions(self) -> list[Position]: ...

    def balance(self) -> Balance: ...


@runtime_checkable
class CancelReplace(Protocol):
    """The optional capability to cancel and amend open orders."""

    def cancel(self, client_order_id: str) -> OrderState: ...

    def replace(self, client_order_id: str, *, qty: float | None = None,
                price: float | None = None) -> OrderState: ...


@runtime_checkable
class SimulatedVenue(Protocol):
    """A venue that qtx moves itself (the paper broker): it fills at the opens of the bars
    the market has reached, when told the market reached them."""

    def on_bars(self, upto: str, complete: bool = True) -> list[Fill]:
        """Fill at the opens of the trading days up to ``upto``; ``complete``: every bar up to
        ``upto`` is in (a symbol without its bar had none), else wait for bars still to come."""
        ...


class AdapterStore(Protocol):
    """An adapter's small persistent store (``db.broker_store.BrokerStore``): stage processes
    come and go, so a token, and which venue order is which of ours, live in the database."""

    def get(self, key: str, now: str | None = None) -> str | None: ...

    def put(self, key: str, value: str, expires_at: str | None = None) -> None: ...

    def delete(self, key: str) -> None: ...

    def note_sending(self, client_order_id: str, symbol: str, side: str, qty: float) -> None: ...

    def note_venue_id(self, client_order_id: str, broker_order_id: str) -> None: ...

    def venue_id(self, client_order_id: str) -> str | None: ...

    def client_id(self, broker_order_id: str) -> str | None: ...

    def sent(self, client_order_id: str) -> dict | None: ...


@runtime_checkable
class Broker(Execution, MarketData, Protocol):
    """A venue that is both a data feed and an execution venue (paper, Bybit, Kiwoom)."""


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
        import hashlib  # only for a long symbol: loading OpenSSL cost every stage 6 ms of CPU

        digest = hashlib.sha1(cid.encode()).hexdigest()[:8]
        cid = f"{prefix}-{ymd}-{side[0].upper()}-{sym[: 36 - len(prefix) - 13 - 9]}-{digest}"
    return cid[:36]
