"""The ``control`` table: operator switches that outlive every process.

Flags (absent means the default):
- ``trading_enabled`` (default on): ``/stop`` turns it off: no new BUYs, exits still run.
- ``reconcile_block`` (default off): set by ``reconcile`` while a broker/database difference it
  cannot explain remains; blocks new BUYs.
- ``manual_buy_block`` (default off): an operator's block with a reason.
"""

from __future__ import annotations

from db.core import DB, now_iso

DEFAULTS = {"trading_enabled": True, "reconcile_block": False, "manual_buy_block": False}
# Flags whose "on" value blocks buys (trading_enabled blocks when off).
_BLOCKING_WHEN_ON = ("reconcile_block", "manual_buy_block")


def set_flag(db: DB, key: str, on: bool, reason: str | None = None, by: str = "cli") -> None:
    db.conn.execute(
        "INSERT INTO control(key, value, reason, updated_by, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value, reason = excluded.reason, "
        "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        (key, "1" if on else "0", reason, by, now_iso()),
    )


def flags(db: DB) -> dict[str, dict]:
    """Every known flag with its value (defaults filled in), reason, who set it and when."""
    out = {k: {"value": v, "reason": None, "updated_by": None, "updated_at": None}
           for k, v in DEFAULTS.items()}
    for r in db.query("SELECT key, value, reason, updated_by, updated_at FROM control"):
        out[r["key"]] = {"value": r["value"] == "1", "reason": r["reason"],
                         "updated_by": r["updated_by"], "updated_at": r["updated_at"]}
    return out


def buy_block_reasons(db: DB) -> list[str]:
    """Why new BUYs are blocked right now; empty when they are allowed."""
    f = flags(db)
    reasons = []
    if not f["trading_enabled"]["value"]:
        reasons.append("trading stopped" + (f": {f['trading_enabled']['reason']}"
                                            if f["trading_enabled"]["reason"] else ""))
    for key in _BLOCKING_WHEN_ON:
        if f.get(key, {}).get("value"):
            reasons.append(key.replace("_", " ") + (f": {f[key]['reason']}" if f[key]["reason"] else ""))
    return reasons
