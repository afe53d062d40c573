"""``qtx backtest``: the trading rules over stored bars, with the configured costs and limits."""

from __future__ import annotations

import csv
import errno
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from db import DB
from db import market as market_db
from pipeline.config import Settings
from pipeline.engine import SimResult, simulate
from pipeline.feeds.corporate_actions import universe_filter
from pipeline.history import load_market, strategy_of
from pipeline.read.metrics import summary
from risk.params import from_settings

TRADE_COLUMNS = ["date", "symbol", "side", "qty", "price", "fee", "reason"]
EQUITY_COLUMNS = ["date", "cash", "equity", "drawdown", "positions", "buy_blocked", "size_multiplier"]


class OutsideTheBars(ValueError):
    """``--start``/``--end`` leave no decision date among the stored bars (bad usage)."""


def _outside(db: DB, start: str | None, end: str | None) -> OutsideTheBars | None:
    """The error for a window with no decision date, or None when no bar is stored at all."""
    from db import bars as bars_db

    st = bars_db.bar_stats(db)
    if not st["bars"]:
        return None
    return OutsideTheBars(f"no decision date from {start or 'the first bar'} to {end or 'the last bar'}: "
                          f"the stored bars run {st['first_date']} .. {st['last_date']}")


def run(db: DB, settings: Settings, start: str | None = None, end: str | None = None,
        progress: Callable[[int, int], None] | None = None) -> tuple[SimResult, dict]:
    market = load_market(db, end)
    if not market.symbols:
        raise _outside(db, start, end) or ValueError(
            f"no bars stored in {db.path}; run `qtx collect` (or `qtx init --demo`) first")
    rp, costs = from_settings(settings)
    res = simulate(market, strategy_of(settings), rp, costs, settings.capital, start, end,
                   universe_filter(db, settings), progress)
    if not res.equity:
        raise _outside(db, start, end) or ValueError(f"no decision date from {start} to {end}")
    per_year = 365.0 if settings.market == "bybit" else 252.0
    # The verdicts as counted in the loop: a dict per verdict only to count them cost 0.07 s.
    stats = summary(res.trades, res.equity, res.capital, (), res.exits, per_year)
    if "rejections" in stats:
        stats["rejections"] = dict(sorted((k, v) for k, v in res.verdict_counts.items() if k != "approved"))
        stats["approved"] = res.verdict_counts.get("approved", 0)
    stats["symbols"] = len(market.symbols)
    stats["synthetic"] = "synthetic" in market_db.bar_sources(db)
    stats["open_orders"] = res.open_orders
    stats["cancelled"] = len(res.cancelled)
    return res, stats


def fmt(x) -> str:
    """Numbers as CSV text: whole numbers without a fraction, others at full precision."""
    if isinstance(x, float):
        return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)
    return str(x)


@contextmanager
def replacing(path: str | Path, mode: str = "w", **open_kw) -> Iterator[IO]:
    """Write ``path`` through a temporary file in the same folder, renamed over it once
    complete: a kill or an error mid-write leaves the previous file as it was, never a
    truncated one (a kill may leave the hidden ``.name.*.tmp`` behind, never a half ``name``)."""
    path = Path(path)
    if not path.parent.is_dir():  # name the file asked for, not the temporary one
        raise FileNotFoundError(errno.ENOENT, "no such folder for", str(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_kw) as f:
            # mkstemp makes it 0600; keep the mode of the file it replaces, else the usual 0644.
            os.fchmod(f.fileno(), stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644)
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_trades(res: SimResult, path: str | Path) -> None:
    with replacing(path, newline="") as f:
        w = csv.writer(f)
        w.writerow(TRADE_COLUMNS)
        for t in res.trades:
            w.writerow([t.date, t.symbol, t.side, fmt(t.qty), fmt(t.price), fmt(t.fee), t.reason])


def write_equity(res: SimResult, path: str | Path) -> None:
    with replacing(path, newline="") as f:
        w = csv.writer(f)
        w.writerow(EQUITY_COLUMNS)
        for e in res.equity:
            w.writerow([e.date, fmt(e.cash), fmt(e.equity), fmt(e.drawdown), e.positions,
                        e.buy_blocked, fmt(e.size_multiplier)])


def write_chart(dates: list[str], equity: list[float], drawdown: list[float], path: str | Path,
                title: str = "qtx equity", **kw) -> None:
    """Equity and drawdown as a PNG (headless): ``pipeline.read.chart.write_chart``."""
    from pipeline.read.chart import write_chart as draw

    draw(dates, equity, drawdown, path, title=title, **kw)
