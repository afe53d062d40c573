"""The soak's market: real KRX daily bars from ``shared/data/krx`` when present, else the
synthetic sample market, as whole-won integer bars on qtx's KRX calendar."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pipeline.schedule import calendar as cal

SHARED_KRX = Path(__file__).resolve().parents[3] / "shared" / "data" / "krx"
N_SYMBOLS = 16
SECTORS = ("전기전자", "화학", "운수장비", "금융업", "서비스업", "유통업")
WARMUP = 300  # bars before the first simulated day (the trend filter needs 240)

Bar = tuple[int, int, int, int, int]  # open, high, low, close, volume


@dataclass
class Market:
    source: str                       # "krx" (real bars) or "synthetic"
    bars: dict[str, dict[str, Bar]]   # symbol -> date -> bar
    sectors: dict[str, str]
    dates: list[str]                  # every session date with bars, ascending

    def rows_upto(self, symbol: str, last: str) -> list[tuple]:
        return [(d, *b) for d, b in sorted(self.bars[symbol].items()) if d <= last]

    def bar(self, symbol: str, d: str) -> Bar | None:
        return self.bars[symbol].get(d)


def _read_csv(path: Path) -> dict[str, Bar]:
    out: dict[str, Bar] = {}
    with path.open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            try:
                o, h, lo, c = (int(round(float(r[k]))) for k in ("open", "high", "low", "close"))
                v = int(float(r["volume"]))
            except (KeyError, ValueError):
                continue
            if min(o, h, lo, c) > 0:
                out[r["date"]] = (o, h, lo, c, v)
    return out


def _real(n: int) -> Market | None:
    files = sorted(SHARED_KRX.glob("[0-9]*.csv")) if SHARED_KRX.is_dir() else []
    series = {p.stem: _read_csv(p) for p in files}
    series = {s: b for s, b in series.items() if len(b) > WARMUP + 60}
    if len(series) < 4:
        return None
    # The symbols that trade up to the latest date most of them share.
    ends = sorted(max(b) for b in series.values())
    end = ends[len(ends) // 2]
    chosen = sorted(s for s, b in series.items() if max(b) >= end)[:n]
    bars = {s: {d: b for d, b in series[s].items() if d <= end} for s in chosen}
    return _finish("krx", bars)


def _synthetic(n: int) -> Market:
    from pipeline.feeds import sample_market

    raw = sample_market.generate(seed=7, n_symbols=n, n_days=520, start="2023-06-01")
    bars = {}
    for i, (_, df) in enumerate(sorted(raw.items())):
        rows = df[["date", "open", "high", "low", "close", "volume"]].itertuples(index=False)
        # KRX codes are six digits; the generator's prices are already whole won on the tick grid.
        bars[f"9{i + 1:05d}"] = {r[0]: tuple(int(x) for x in r[1:]) for r in rows}
    return _finish("synthetic", bars)


def _finish(source: str, bars: dict[str, dict[str, Bar]]) -> Market:
    # Only days qtx's calendar knows as sessions (a file's stray holiday row is not a session).
    keep = {d for b in bars.values() for d in b if cal.is_trading_day("krx", date.fromisoformat(d))}
    bars = {s: {d: v for d, v in b.items() if d in keep} for s, b in bars.items()}
    sectors = {s: SECTORS[i % len(SECTORS)] for i, s in enumerate(sorted(bars))}
    return Market(source, bars, sectors, sorted(keep))


def load(n: int = N_SYMBOLS, prefer_real: bool = True) -> Market:
    return (_real(n) if prefer_real else None) or _synthetic(n)
