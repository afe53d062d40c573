"""Bybit v5 retCodes and HTTP failures mapped onto our error kinds (brokers.base).

The kind decides what a caller may do: ``RateLimited`` and ``Transient`` (clock skew, server
trouble) may be retried; ``Rejected`` and ``AuthError`` never; ``UnknownOutcome`` means "look the
order up by orderLinkId before anything else".  Codes not listed here are ``Rejected``: an
answer we do not understand must never cause a second order.
"""

from __future__ import annotations

import time

from brokers.base import (
    AuthError,
    BrokerError,
    NotFound,
    RateLimited,
    Rejected,
    Transient,
)

# Duplicate orderLinkId: the order is already at the exchange ("already placed", not an error).
DUPLICATE_LINK_ID = {110072, 170141}

RATE_LIMIT = {10006, 10018, 170005}          # too many visits (UID / IP / spot)
CLOCK_SKEW = {10002}                         # timestamp outside recv_window
# Server error, restart, "high server load, please retry" (retCode 429), timeout inside Bybit:
# none of them is final.
SERVER = {429, 10000, 10016, 170007, 170146}
AUTH = {10003, 10004, 10005, 10007, 10008, 10009, 10010, 33004, 10029}
NOT_FOUND = {110001, 170213, 170142}         # order does not exist (or too late to cancel)
INSUFFICIENT = {110004, 110007, 110012, 110052, 170131, 170033}
BAD_QTY = {10001, 110003, 110017, 110094, 170130, 170132, 170133, 170134, 170135, 170136,
           170137, 170140, 170148, 170149, 170121}

# What each family means, for docs/bybit.md and for messages.
TABLE: list[tuple[str, str, str]] = [
    ("0", "OK", "-"),
    ("10002", "request timestamp outside recv_window (clock skew)", "Transient: retried (wider recv_window)"),
    ("10006, 10018, 170005", "too many requests (UID / IP)", "RateLimited: waits for X-Bapi-Limit-Reset-Timestamp, retried"),
    ("429, 10000, 10016, 170007, 170146", "server error, restart, high load / busy", "reads: Transient (retried); writes: UnknownOutcome (looked up, then sent again only if Bybit still has no such order)"),
    ("10003-10005, 10007-10010, 10029, 33004", "key invalid, signature, permission, IP not allowed, expired", "AuthError: never retried"),
    ("110001, 170213, 170142", "order does not exist / too late to cancel", "NotFound"),
    ("110072, 170141", "duplicate orderLinkId", "already placed: the order is looked up and returned"),
    ("110004, 110007, 110012, 110052, 170131, 170033", "insufficient balance", "Rejected: never retried"),
    ("10001, 110003, 170130-170137, 170140, 170148, 170149, 170121", "bad parameter, quantity, precision, price, value below minimum, symbol", "Rejected: never retried"),
    ("HTTP 403", "IP rate limit / region ban", "RateLimited"),
    ("HTTP 401", "unauthorised", "AuthError"),
    ("HTTP 5xx, bad JSON", "server trouble", "reads: Transient (retried); writes: UnknownOutcome (looked up)"),
    ("timeout, connection error", "request may or may not have arrived", "reads: Transient (retried); writes: UnknownOutcome (looked up)"),
    ("anything else", "unknown answer", "Rejected: never retried"),
]


class DuplicateOrder(Rejected):
    """Bybit already has an order with this orderLinkId: it was placed before."""

    kind = "duplicate"


def reset_after(headers, now_ms: float | None = None, default: float = 1.0) -> float:
    """Seconds until the rate-limit window resets, from ``X-Bapi-Limit-Reset-Timestamp``."""
    if not headers:
        return default
    raw = headers.get("X-Bapi-Limit-Reset-Timestamp") or headers.get("x-bapi-limit-reset-timestamp")
    try:
        reset_ms = float(raw)
    except (TypeError, ValueError):
        return default
    now_ms = time.time() * 1000 if now_ms is None else now_ms
    return max(0.0, min(60.0, (reset_ms - now_ms) / 1000.0))


def from_ret_code(code: int, message: str, headers=None) -> BrokerError:
    """The error for a non-zero retCode."""
    text = f"Bybit {code}: {message}"
    if code in DUPLICATE_LINK_ID:
        return DuplicateOrder(text, code=code)
    if code in RATE_LIMIT:
        return RateLimited(text, code=code, retry_after=reset_after(headers))
    if code in CLOCK_SKEW:
        return Transient(text, code=code, not_processed=True)  # refused before processing
    if code in SERVER:
        return Transient(text, code=code)
    if code in AUTH:
        return AuthError(text, code=code)
    if code in NOT_FOUND:
        return NotFound(text, code=code)
    return Rejected(text, code=code)


def from_http_status(status: int, message: str, headers=None) -> BrokerError:
    """The error for an HTTP status other than 200 (before any JSON)."""
    text = f"Bybit HTTP {status}: {message}"
    if status == 403 or status == 429:
        return RateLimited(text, code=f"http-{status}", retry_after=reset_after(headers, default=5.0))
    if status == 401:
        return AuthError(text, code=f"http-{status}")
    if status >= 500:
        return Transient(text, code=f"http-{status}")
    return Rejected(text, code=f"http-{status}")
