"""The errors every broker adapter raises, apart from the interface's types so that code that
only catches them (the CLI, the stage runner) does not load the interface (0.02-0.04 s of CPU
on each ``qtx status``).  ``brokers.base`` re-exports them.

Nothing here imports the rest of qtx.
"""

from __future__ import annotations


class BrokerError(Exception):
    """A broker answered with an error.  ``kind`` says how the caller must treat it."""

    kind = "error"

    def __init__(self, message: str, *, code: str | int | None = None, retry_after: float | None = None,
                 not_processed: bool = False):
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after
        # The venue said it did not act on the request (a clock-skew refusal): safe to resend.
        self.not_processed = not_processed


class Rejected(BrokerError):
    """Definitely not placed (balance, quantity, price, symbol).  Never retried."""

    kind = "rejected"


class AuthError(BrokerError):
    """Keys missing, wrong, expired or not allowed from this IP.  Never retried."""

    kind = "auth"


class MissingKeys(AuthError):
    """The API key variables a venue needs are not set (a setup problem: exit 2)."""


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
