"""Money as the operator reads it: KRW whole with thousands separators (a won has no cents),
USDT and other quote coins with cents.  One place, so the terminal, the daily report and
Telegram print the same amount the same way."""

from __future__ import annotations

from typing import Any

# Currencies without a minor unit in practice (KRX quotes, cash and fees are whole won).
_WHOLE = frozenset({"KRW", "JPY"})


def currency_of(settings: Any) -> str:
    """The workspace's account currency: KRW on krx, ``bybit.quote_coin`` on bybit."""
    if getattr(settings, "market", None) == "bybit":
        return str(settings.bybit.quote_coin).upper()
    return "KRW"


def report_currency(r: dict) -> str:
    """The currency of a stored report or status dict: its own ``currency``, else (a payload
    queued before it carried one) the market's usual one."""
    return r.get("currency") or ("USDT" if r.get("market") == "bybit" else "KRW")


def decimals(currency: str | None) -> int:
    return 0 if (currency or "KRW").upper() in _WHOLE else 2


def fmt_money(amount: float | int | None, currency: str | None = "KRW", sign: bool = False,
              unit: bool = False) -> str:
    """``1234567.8`` -> ``1,234,568`` (KRW) or ``1,234,567.80`` (USDT); ``None`` -> ``–``.
    ``sign``: a leading ``+`` on gains; ``unit``: the currency code after the amount."""
    if amount is None:
        return "–"
    x = float(amount)
    digits = decimals(currency)
    text = f"{x:{'+' if sign else ''},.{digits}f}"
    if text.lstrip("+-").strip("0.,") == "":  # -0 and +0 read as 0
        text = ("+" if sign else "") + f"{0:,.{digits}f}"
    return f"{text} {currency.upper()}" if unit and currency else text


def fmt_price(price: float | int | None, currency: str | None = "KRW") -> str:
    """A price: KRW whole (KRX ticks are whole won); a coin's price keeps its own precision
    (a 0.00001234 token is not 0.00) with at least the currency's cents."""
    if price is None:
        return "–"
    x = float(price)
    if decimals(currency) == 0:
        # whole ticks; an average of fills may carry a fraction of a won
        return f"{x:,.0f}" if x.is_integer() else f"{x:,.2f}".rstrip("0").rstrip(".")
    whole, _, frac = f"{x:,.8f}".rstrip("0").partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def fmt_qty(qty: float | int | None) -> str:
    """A quantity: whole shares as ``85``, a coin quantity as ``0.0123`` (no float noise)."""
    if qty is None:
        return "–"
    return f"{float(qty):,.8f}".rstrip("0").rstrip(".")


__all__ = ["currency_of", "report_currency", "decimals", "fmt_money", "fmt_price", "fmt_qty"]
