"""Parsing and validating daily-bar CSV files (pure: reads one file, touches no database).

A bar file is ``<SYMBOL>.csv`` with a header row containing ``date,open,high,low,close,volume``
(other columns ignored, any order, case-insensitive; ``date`` is ``YYYY-MM-DD``).  A file without
a header whose first row starts with a date and has at least six columns is read in that
standard order (``date,open,high,low,close,volume,...``): that is how KRX files are published.

Rows that cannot be trading days are skipped and counted by reason (``SKIP_REASONS``); they are
never stored: a date the market was closed (given its calendar), a date after the market's
current date, an absurd number, a price outside ``[low, high]`` by more than rounding explains.
Rows whose open or close lies just outside ``[low, high]`` are kept but flagged: real published
data (adjusted prices rounded separately) has them, and they are still trading days.  Off-grid
prices (KRX ticks) are kept: adjusted prices are rarely on the grid.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED = ("date", "open", "high", "low", "close", "volume")
PRICES = ("open", "high", "low", "close")
SECTORS_FILE = "sectors.csv"

# No market quotes anything near these (a KRX share is at most a few million won, a coin a few
# hundred thousand USDT); beyond them a number is a typo or an overflow (1e308), and sums of them
# would be inf.
MAX_PRICE = 1e12
MAX_VOLUME = 1e18
# Adjusted prices rounded separately put open or close up to a tick or so outside [low, high]
# (about 0.1% in the KRX sample, a few % for very cheap shares): kept and flagged.  Beyond
# this, no rounding explains it.
OUTSIDE_TOLERANCE = 0.05

# Why a row was skipped; checked in this order, the first that applies is counted.
SKIP_REASONS = {
    "bad_date": "date missing or not a real YYYY-MM-DD date",
    "not_trading_day": "the market was closed that day (weekend or holiday of its calendar)",
    "future_date": "the date is after the market's current date",
    "missing_value": "a price or the volume is empty",
    "non_numeric": "a price or the volume is not a number",
    "absurd_value": f"a price above {MAX_PRICE:.0e} or a volume above {MAX_VOLUME:.0e}",
    "price_not_positive": "a price is zero or negative (holiday or halt row)",
    "high_below_low": "high is below low",
    "outside_range": "open or close outside [low, high] by more than rounding explains",
    "negative_volume": "volume is negative",
    "duplicate_date": "the date appeared earlier in the file (the first row is kept)",
}
FLAG_REASONS = {
    "open_close_outside_range": "open or close outside [low, high] (kept)",
}
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MAX_EXAMPLES = 5


class CsvFormatError(Exception):
    """A file that is not a bar file at all (no usable header). ``str()`` names the file."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass
class ParsedBars:
    """The good rows of one file and what was wrong with the rest."""

    symbol: str
    path: str
    bars: pd.DataFrame                      # date (str), open, high, low, close, volume; ascending
    rows_read: int = 0
    headerless: bool = False
    skipped: Counter = field(default_factory=Counter)
    flagged: Counter = field(default_factory=Counter)
    after_asof: int = 0
    examples: list[dict] = field(default_factory=list)  # first few bad rows: line, reason, row

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def symbol_of(path: str | Path) -> str:
    return Path(path).name[: -len(".csv")] if Path(path).name.lower().endswith(".csv") else Path(path).stem


# A symbol as both markets write them: upper-case letters and digits (KRX 005930, Bybit
# BTCUSDT), maybe with . - _ (BRK.B).  A space, brackets or lower case is no symbol: a Finder
# duplicate "005930 (1).csv", a "notes.csv" or a "copy of" would otherwise be imported as one.
_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,31}$")
_DUPLICATE_RE = re.compile(r"^(.+?)(?:\s*\(\d+\)|\s+copy(?:\s+\d+)?|\s+\d+)$", re.IGNORECASE)


def symbol_problem(symbol: str, market: str | None = None) -> str | None:
    """Why a bar file named ``<symbol>.csv`` is no symbol of ``market`` (None: it may be one).

    The reason says what the file probably is: a duplicate of another file, a KRX code that lost
    its leading zeros, or not a symbol at all."""
    if market == "krx" and symbol.isdigit() and len(symbol) < 6:
        return f"not a KRX code (6 digits; did you mean {symbol.zfill(6)}?)"
    if _SYMBOL_RE.match(symbol):
        return None
    dup = _DUPLICATE_RE.match(symbol)
    if dup and _SYMBOL_RE.match(dup.group(1).strip()):
        return f"a copy of {dup.group(1).strip()}.csv, not a symbol"
    return "not a symbol (upper-case letters and digits, like 005930 or BTCUSDT)"


def bar_files(directory: str | Path) -> list[Path]:
    """The bar files of a directory (``*.csv`` except ``sectors.csv``), sorted by name."""
    d = Path(directory)
    return sorted(p for p in d.iterdir()
                  if p.is_file() and p.name.lower().endswith(".csv") and p.name.lower() != SECTORS_FILE)


def sniff_header(first_line: str, path: str | Path) -> tuple[bool, list[str] | None]:
    """``(headerless, columns)`` for a file whose first line is ``first_line``.

    ``columns`` is the header (lower-cased, stripped) when there is one.  Raises
    ``CsvFormatError`` when the first line is neither a usable header nor a standard data row.
    """
    line = first_line.lstrip("\ufeff").strip()
    if not line:
        raise CsvFormatError(path, "empty file (expected a header row with date,open,high,low,close,volume)")
    fields = [f.strip() for f in next(csv.reader([line]))]
    cols = [f.lower() for f in fields]
    missing = [c for c in REQUIRED if c not in cols]
    if not missing:
        return False, cols
    if _DATE_RE.match(fields[0]) and len(fields) >= len(REQUIRED):
        return True, None
    raise CsvFormatError(
        path, f"header must contain {','.join(REQUIRED)} (missing: {','.join(missing)}; "
              f"first line: {line[:80]!r})")


@dataclass(frozen=True)
class MarketDays:
    """What the market's calendar says about a row's date: ``is_session`` (a trading day, e.g.
    ``pipeline.calendar.sessions(settings).is_session``) and ``today`` (the market's current
    date, YYYY-MM-DD).  Either may be None: not checked."""

    is_session: Callable[[str], bool] | None = None
    today: str | None = None


def parse_file(path: str | Path, asof: str | None = None, symbol: str | None = None,
               days: MarketDays | None = None) -> ParsedBars:
    """Read one bar file and validate every row (see ``SKIP_REASONS``)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    return parse_text(text, path=path, asof=asof, symbol=symbol or symbol_of(path), days=days)


def parse_text(text: str, *, path: str | Path = "<text>", asof: str | None = None,
               symbol: str = "?", days: MarketDays | None = None) -> ParsedBars:
    first_line = text.split("\n", 1)[0]
    headerless, cols = sniff_header(first_line, path)
    try:
        return _parse(text, path, asof, symbol, headerless, days)
    except pd.errors.ParserError as err:
        raise CsvFormatError(path, f"cannot be read as CSV: {str(err).strip()[:200]}") from None


def _parse(text: str, path: str | Path, asof: str | None, symbol: str, headerless: bool,
           days: MarketDays | None = None) -> ParsedBars:
    # Let the C parser type the numbers (fast path); a column with any non-numeric text comes
    # back as text and is checked value by value.  Only empty cells count as missing here.
    opts = dict(keep_default_na=False, na_values=[""], skip_blank_lines=True)
    if headerless:
        raw = pd.read_csv(io.StringIO(text), header=None, usecols=range(len(REQUIRED)),
                          dtype={0: object}, **opts)
        raw.columns = list(REQUIRED)
        first_data_line = 1
    else:
        raw = pd.read_csv(io.StringIO(text), header=0, dtype=object, nrows=0)
        names = {str(c).strip().lower(): c for c in reversed(list(raw.columns))}
        use = [names[k] for k in REQUIRED]
        raw = pd.read_csv(io.StringIO(text), header=0, usecols=use, dtype={names["date"]: object},
                          **opts)
        raw = raw.rename(columns={v: k for k, v in names.items() if k in REQUIRED})[list(REQUIRED)]
        first_data_line = 2
    # Bad rows are reported exactly as written, with their real line numbers.
    lines = [(no, ln) for no, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    return validate(raw, path=str(path), symbol=symbol, asof=asof, headerless=headerless,
                    first_data_line=first_data_line, lines=lines if headerless else lines[1:],
                    days=days)


_NA_TOKENS = {"", "nan", "na", "n/a", "null", "none", "-"}
_CODES = list(SKIP_REASONS)  # reason code i + 1 <-> SKIP_REASONS key i


def _numbers(col: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(values, missing, non_numeric)`` of one price/volume column."""
    if col.dtype.kind in "iuf":
        v = col.to_numpy(dtype=float)
        return v, np.isnan(v), np.isinf(v)
    n = len(col)
    v = np.full(n, np.nan)
    missing = np.zeros(n, bool)
    bad = np.zeros(n, bool)
    for i, x in enumerate(col.to_numpy(dtype=object)):
        if x is None or (isinstance(x, float) and np.isnan(x)):
            missing[i] = True
            continue
        t = str(x).strip()
        if t.lower() in _NA_TOKENS:
            missing[i] = True
            continue
        try:
            f = float(t)
        except ValueError:
            bad[i] = True
            continue
        if np.isfinite(f):
            v[i] = f
        else:
            bad[i] = True
    return v, missing, bad


def validate(raw: pd.DataFrame, *, path: str, symbol: str, asof: str | None = None,
             headerless: bool = False, first_data_line: int = 2,
             lines: list[tuple[int, str]] | None = None, days: MarketDays | None = None) -> ParsedBars:
    """Validate columns ``date,open,high,low,close,volume`` into good bars + counts by reason."""
    n = len(raw)
    dates = np.array([x.strip() if isinstance(x, str) else "" for x in raw["date"].to_numpy(dtype=object)],
                     dtype=object)
    code = np.zeros(n, np.int8)  # 0: good so far; else 1 + index in _CODES (the first check wins)

    def mark(mask: np.ndarray, reason: str) -> None:
        code[(code == 0) & mask] = _CODES.index(reason) + 1

    shaped = np.array([bool(_DATE_RE.match(d)) for d in dates], dtype=bool)
    parsed = pd.to_datetime(pd.Series(np.where(shaped, dates, None), dtype=object),
                            format="%Y-%m-%d", errors="coerce")
    mark(~shaped | parsed.isna().to_numpy(), "bad_date")
    days = days or MarketDays()
    if days.is_session is not None:
        real = code == 0
        closed = {d for d in set(dates[real].tolist()) if not days.is_session(d)}
        if closed:
            mark(real & np.isin(dates, list(closed)), "not_trading_day")
    if days.today is not None:
        mark((code == 0) & (dates > days.today), "future_date")

    cols = {}
    missing = np.zeros(n, bool)
    bad = np.zeros(n, bool)
    for c in (*PRICES, "volume"):
        cols[c], m, b = _numbers(raw[c])
        missing |= m
        bad |= b
    mark(missing, "missing_value")
    mark(bad, "non_numeric")
    o, h, lo, c, vol = (cols[k] for k in ("open", "high", "low", "close", "volume"))
    with np.errstate(invalid="ignore"):
        mark((o > MAX_PRICE) | (h > MAX_PRICE) | (lo > MAX_PRICE) | (c > MAX_PRICE)
             | (vol > MAX_VOLUME), "absurd_value")
        mark((o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0), "price_not_positive")
        mark(h < lo, "high_below_low")
        top, bottom = h * (1 + OUTSIDE_TOLERANCE), lo * (1 - OUTSIDE_TOLERANCE)
        mark((o > top) | (c > top) | (o < bottom) | (c < bottom), "outside_range")
        mark(vol < 0, "negative_volume")
    seen: set[str] = set()
    dup = np.zeros(n, bool)
    for i in np.flatnonzero(code == 0):  # among good rows, a repeated date keeps the first
        if dates[i] in seen:
            dup[i] = True
        seen.add(dates[i])
    mark(dup, "duplicate_date")

    ok = code == 0
    with np.errstate(invalid="ignore"):
        outside = ok & ((o < lo) | (o > h) | (c < lo) | (c > h))
    after = 0
    keep = ok
    if asof:
        late = ok & (dates > asof)
        after = int(late.sum())
        keep = ok & ~late
        outside &= ~late
    order = np.argsort(dates[keep], kind="stable")
    good = pd.DataFrame({"date": dates[keep][order].astype(str), "open": o[keep][order],
                         "high": h[keep][order], "low": lo[keep][order], "close": c[keep][order],
                         "volume": vol[keep][order]})

    skipped = Counter({_CODES[k - 1]: int(v) for k, v in zip(*np.unique(code[code > 0], return_counts=True), strict=True)})
    flagged = Counter()
    if outside.any():
        flagged["open_close_outside_range"] = int(outside.sum())
    examples = []
    for i in np.flatnonzero(code > 0)[:_MAX_EXAMPLES]:
        if lines is not None and i < len(lines):
            line_no, row = lines[i][0], lines[i][1][:200]
        else:
            line_no, row = int(i) + first_data_line, ",".join(str(raw.iat[i, j]) for j in range(len(REQUIRED)))
        examples.append({"line": line_no, "reason": _CODES[code[i] - 1], "row": row})
    return ParsedBars(symbol=symbol, path=path, bars=good, rows_read=n, headerless=headerless,
                      skipped=skipped, flagged=flagged, after_asof=after, examples=examples)


def parse_sectors(path: str | Path) -> dict[str, str]:
    """``symbol -> sector`` from a ``symbol,sector`` CSV (header required)."""
    path = Path(path)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader, [])]
        if "symbol" not in header or "sector" not in header:
            raise CsvFormatError(path, "header must contain symbol,sector")
        si, ci = header.index("symbol"), header.index("sector")
        out: dict[str, str] = {}
        for row in reader:
            if len(row) > max(si, ci) and row[si].strip():
                sector = row[ci].strip()
                out[row[si].strip()] = sector
    return out


def read_dates(directory: str | Path) -> list[str]:
    """The union of the trading days in a folder of bar files (what a replay steps through)."""
    dates: set[str] = set()
    for p in bar_files(directory):
        dates.update(str(d) for d in parse_file(p).bars["date"])
    return sorted(dates)
