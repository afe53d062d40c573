"""The equity chart (``qtx backtest --chart`` and the daily report): equity in real numbers with
the currency on the axis, a date axis that reads right for ten days or ten years, the strategy's
warm-up shaded, the period and total return in the title, and an equal-weight buy-and-hold of
the universe to compare with.  The series are pure functions; ``write_chart`` only draws."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def buy_and_hold(dates: Sequence[str], closes: Mapping[str, tuple[Sequence[str], Sequence[float]]],
                 capital: float) -> list[float | None]:
    """Equal-weight buy-and-hold of every symbol that has a close on or before ``dates[0]``:
    ``capital / n`` in each at that close, held (no costs); its value on each of ``dates``,
    a symbol without a bar that day valued at its last close.  ``closes``: symbol -> (its
    ascending dates, its closes).  None on every date when no symbol can be bought."""
    if not dates:
        return []
    first = dates[0]
    held = []  # (its dates, its closes, shares)
    for sym_dates, sym_closes in closes.values():
        k = _last_at_or_before(sym_dates, first)
        if k is not None and sym_closes[k] > 0:
            held.append((sym_dates, sym_closes, k))
    if not held:
        return [None] * len(dates)
    each = capital / len(held)
    out: list[float | None] = []
    cursors = [k for _, _, k in held]
    for d in dates:
        total = 0.0
        for i, (sd, sc, k0) in enumerate(held):
            k = cursors[i]
            while k + 1 < len(sd) and sd[k + 1] <= d:
                k += 1
            cursors[i] = k
            total += each * sc[k] / sc[k0]
        out.append(total)
    return out


def _last_at_or_before(dates: Sequence[str], d: str) -> int | None:
    from bisect import bisect_right

    k = bisect_right(list(dates), d) - 1
    return k if k >= 0 else None


def first_actionable(closes_dates: Mapping[str, Sequence[str]], warmup: int) -> str | None:
    """The first date on which some symbol has ``warmup`` bars of its own history: before it
    the strategy cannot enter anything (its warm-up)."""
    ready = [ds[warmup - 1] for ds in closes_dates.values() if warmup >= 1 and len(ds) >= warmup]
    return min(ready) if ready else None


def market_closes(market: Any) -> dict[str, tuple[Sequence[str], Sequence[float]]]:
    """``pipeline.market.Market`` -> symbol -> (dates, closes), for ``buy_and_hold``."""
    return {s: (b.dates.tolist(), b.close.tolist()) for s, b in market.bars.items()}


def thousands(x: float, _pos: Any = None) -> str:
    """An axis tick as the operator reads money: 100,000,000 (never 1e8)."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}"


def write_chart(dates: Sequence[str], equity: Sequence[float], drawdown: Sequence[float],
                path: str | Path, title: str = "qtx equity", currency: str | None = None,
                capital: float | None = None, warmup_until: str | None = None,
                benchmark: Sequence[float | None] | None = None) -> None:
    """Equity (and ``benchmark``, the universe's buy-and-hold) over drawdown, as a PNG drawn
    headless; the bars before ``warmup_until`` shaded as the strategy's warm-up."""
    import matplotlib

    matplotlib.use("Agg")
    from datetime import date

    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    from pipeline.stages.backtest import replacing

    xs = [date.fromisoformat(d) for d in dates]
    base = capital or (equity[0] if equity else 0)
    total = (equity[-1] / base - 1) if equity and base else None
    period = f"{dates[0]} – {dates[-1]}" if dates else ""
    head = f"{title}\n{period}" + (f" · total return {total:+.2%}" if total is not None else "")

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1]})
    ax1.plot(xs, equity, color="#1f77b4", linewidth=1.3, label="strategy")
    if benchmark is not None and any(b is not None for b in benchmark):
        pts = [(x, b) for x, b in zip(xs, benchmark, strict=True) if b is not None]
        ax1.plot([p[0] for p in pts], [p[1] for p in pts], color="#7f7f7f", linewidth=1.0,
                 linestyle="--", label="buy and hold (universe, equal weight)")
    if warmup_until and xs and warmup_until > dates[0]:
        end = date.fromisoformat(min(warmup_until, dates[-1]))
        for ax in (ax1, ax2):
            ax.axvspan(xs[0], end, color="#bbbbbb", alpha=0.3, linewidth=0,
                       label="warm-up (no entries yet)" if ax is ax1 else None)
    ax1.set_title(head, fontsize=11)
    ax1.set_ylabel(f"equity ({currency})" if currency else "equity")
    ax1.ticklabel_format(style="plain", useOffset=False, axis="y")
    ax1.yaxis.set_major_formatter(FuncFormatter(thousands))
    ax1.grid(alpha=0.3)
    ax1.legend(loc="upper left", fontsize=8, frameon=False)
    ax2.fill_between(xs, [d * 100 for d in drawdown], 0, color="#d62728", alpha=0.4)
    ax2.set_ylabel("drawdown %")
    ax2.grid(alpha=0.3)
    locator = mdates.AutoDateLocator(minticks=3, maxticks=9)
    ax2.xaxis.set_major_locator(locator)
    ax2.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    fig.tight_layout()
    try:
        with replacing(path, "wb") as f:
            fig.savefig(f, format="png", dpi=110)
    finally:
        plt.close(fig)


__all__ = ["buy_and_hold", "equity_chart", "first_actionable", "market_closes", "thousands", "write_chart"]


def equity_chart(db: Any, settings: Any, dates: Sequence[str], equity: Sequence[float],
                 drawdown: Sequence[float], path: str | Path, title: str) -> None:
    """The chart of an equity series over the stored market: the currency and capital of the
    workspace, the universe's buy-and-hold over the same dates, the strategy's warm-up shaded."""
    from pipeline.history import load_market, strategy_of
    from pipeline.read.money import currency_of

    market = load_market(db, dates[-1] if dates else None)
    closes = market_closes(market)
    warmup = getattr(strategy_of(settings), "warmup", 0) or 0
    write_chart(dates, equity, drawdown, path, title=title, currency=currency_of(settings),
                capital=settings.capital,
                warmup_until=first_actionable({s: c[0] for s, c in closes.items()}, warmup),
                benchmark=buy_and_hold(dates, closes, settings.capital))
