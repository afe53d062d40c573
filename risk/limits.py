"""Limits that outrank the guard's approval of a BUY: the operator's blocks (``/stop``, a
reconcile mismatch) and, in live mode, the per-order notional cap.  Pure: the caller passes
what the database and config say."""

from __future__ import annotations


def final_buy_reason(guard_reason: str, qty: float, close: float, blocks: list[str],
                     max_notional: float | None) -> str:
    """The reason a BUY the guard judged ends with: ``approved`` only if the guard approved it,
    nothing blocks buying, and ``qty * close`` is within ``max_notional`` (None: no cap)."""
    if guard_reason != "approved":
        return guard_reason
    if blocks:
        return "buys_blocked: " + "; ".join(blocks)
    if max_notional is not None and qty * close > max_notional:
        return "notional_cap"
    return "approved"
