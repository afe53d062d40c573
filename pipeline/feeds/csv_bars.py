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
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from db.bar_blocks import date_texts, day_numbers, real_days

if TYPE_CHECKING:  # pandas only for files the fast reader leaves to it, and for ``.bars``
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
    dates: np.ndarray                       # the good rows' YYYY-MM-DD dates, ascending
    days: np.ndarray                        # the same as int64 YYYYMMDD
    values: np.ndarray                      # (5, n): open, high, low, close, volume
    rows_read: int = 0
    headerless: bool = False
    skipped: Counter = field(default_factory=Counter)
    flagged: Counter = field(default_factory=Counter)
    after_asof: int = 0
    # first few bad rows: line, reason, row (a function until asked: it may need the file's lines)
    examples_of: Callable[[], list[dict]] | None = field(default=None, repr=False)
    outside: np.ndarray | None = field(default=None, repr=False)  # per good row: flagged

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def __len__(self) -> int:
        return int(self.days.size)

    def upto(self, asof: str | None) -> ParsedBars:
        """These bars as ``judge(..., asof=asof)`` gives them: the good rows after ``asof`` go
        to ``after_asof`` (skips and examples do not depend on the date)."""
        if not asof:
            return self
        k = int(np.searchsorted(self.days, day_numbers([asof])[0], side="right"))
        if k == len(self):
            return self
        outside = self.outside[:k]
        flagged = Counter({"open_close_outside_range": int(outside.sum())} if outside.any() else {})
        return ParsedBars(self.symbol, self.path, self.dates[:k], self.days[:k], self.values[:, :k],
                          self.rows_read, self.headerless, self.skipped, flagged,
                          self.after_asof + len(self) - k, self.examples_of, outside)

    @cached_property
    def examples(self) -> list[dict]:
        return self.examples_of() if self.examples_of else []

    @property
    def bars(self) -> pd.DataFrame:
        """The good rows as a DataFrame: date (str), open, high, low, close, volume."""
        import pandas as pd

        return pd.DataFrame({"date": self.dates, **dict(zip(REQUIRED[1:], self.values, strict=True))})


@dataclass
class RawBars:
    """A bar file read and checked row by row, before the market's calendar and an as-of date
    are applied (``judge``): what a replay keeps of each file, so it reads every file once.

    ``code`` holds, per row, the first skip reason that the row itself decides (1 + index in
    ``SKIP_REASONS``; 0: none): every reason but the calendar's, the as-of date and repeats."""

    symbol: str
    path: str
    headerless: bool
    dates: np.ndarray       # the dates as written, YYYY-MM-DD ("" where bad)
    days: np.ndarray        # the same as int64 YYYYMMDD (0 where bad)
    values: np.ndarray      # (5, n) floats (NaN where missing or not a number)
    code: np.ndarray        # int8
    first_data_line: int
    text: str = field(repr=False)  # for the bad rows' line numbers and text, when asked
    plain: bool = False     # read by the plain reader: no blank line, row i is on line first_data_line + i

    def line(self, i: int) -> tuple[int, str]:
        """The line number and text of data row ``i`` (blank lines are not rows)."""
        lines = self.__dict__.get("_lines")
        if lines is None:
            if self.plain:  # row i is line first_data_line + i; rows end in \n or \r\n only
                head = self.text.split("\n", 1)[0].rstrip("\r")
                rows = self.text.split("\n") if head.isprintable() else self.text.splitlines()
                lines = rows[self.first_data_line - 1:]
            else:
                lines = [(no, ln) for no, ln in enumerate(self.text.splitlines(), 1)
                         if ln.strip()][(0 if self.headerless else 1):]
            self.__dict__["_lines"] = lines
        if i < len(lines):
            if self.plain:
                return i + self.first_data_line, lines[i].rstrip("\r")[:200]
            return lines[i][0], lines[i][1][:200]
        return i + self.first_data_line, ""


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
    ``pipeline.schedule.calendar.sessions(settings).is_session``) and ``today`` (the market's current
    date, YYYY-MM-DD).  Either may be None: not checked."""

    is_session: Callable[[str], bool] | None = None
    today: str | None = None
    # YYYYMMDD -> closed, for the dates asked so far (an import asks each date once, not per file)
    _known: dict = field(default_factory=lambda: {"days": np.empty(0, np.int64), "closed": np.empty(0, bool)},
                         compare=False, repr=False)

    def closed(self, days: np.ndarray) -> np.ndarray:
        """Which of the distinct, ascending ``days`` (YYYYMMDD) the market was closed on."""
        known, closed = self._known["days"], self._known["closed"]
        at = np.minimum(np.searchsorted(known, days), max(known.size - 1, 0))
        hit = (known[at] == days) if known.size else np.zeros(days.size, bool)
        if not hit.all():
            new = days[~hit]
            shut = np.array([not self.is_session(d) for d in date_texts(new).tolist()], dtype=bool)
            both = np.concatenate([known, new])
            order = np.argsort(both, kind="stable")
            self._known["days"], self._known["closed"] = both[order], np.concatenate([closed, shut])[order]
            return self.closed(days)
        return closed[at]


def parse_file(path: str | Path, asof: str | None = None, symbol: str | None = None,
               days: MarketDays | None = None) -> ParsedBars:
    """Read one bar file and validate every row (see ``SKIP_REASONS``)."""
    return judge(read_file(path, symbol), asof=asof, days=days)


def read_file(path: str | Path, symbol: str | None = None) -> RawBars:
    """Read one bar file and check each row on its own (``RawBars``); ``judge`` does the rest."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    return read_text(text, path=path, symbol=symbol or symbol_of(path))


def parse_text(text: str, *, path: str | Path = "<text>", asof: str | None = None,
               symbol: str = "?", days: MarketDays | None = None, fast: bool = True) -> ParsedBars:
    return judge(read_text(text, path=path, symbol=symbol, fast=fast), asof=asof, days=days)


def read_text(text: str, *, path: str | Path = "<text>", symbol: str = "?", fast: bool = True) -> RawBars:
    """``fast``: try the plain-numbers reader first (``_read_plain``); files it does not take,
    and every file with ``fast=False``, go through pandas' parser and a value-by-value check."""
    first_line = text.split("\n", 1)[0]
    headerless, cols = sniff_header(first_line, path)
    raw = _read_plain(text, path, symbol, headerless, cols) if fast else None
    if raw is not None:
        return raw
    import pandas as pd

    try:
        return _read_frame(text, path, symbol, headerless)
    except pd.errors.ParserError as err:
        raise CsvFormatError(path, f"cannot be read as CSV: {str(err).strip()[:200]}") from None


# ---------------------------------------------------------------------------- the plain reader

# A plain file: numbers and YYYY-MM-DD dates only, one row per line, every row as wide as the
# first.  Nearly every real file is one; anything else (quotes, spaces, text, empty cells, a
# blank line, a ragged row, a bad date) is left to the general reader, so both give the same.
_PLAIN = b"0123456789.,+-eE\r\n"
# Dates pandas can hold (the general reader's bad_date beyond them): kept well inside.
_PLAIN_DAYS = (1900_01_01, 2199_12_31)


def _read_plain(text: str, path: str | Path, symbol: str, headerless: bool,
                header: list[str] | None) -> RawBars | None:
    body = text if headerless else text.split("\n", 1)[1] if "\n" in text else ""
    try:
        raw = body.encode("ascii")
    except UnicodeEncodeError:
        return None
    if raw.translate(None, _PLAIN) or raw.count(b"\r") != raw.count(b"\r\n"):
        return None
    body = body.replace("\r", "").rstrip("\n")
    if not body or body.startswith("\n") or "\n\n" in body:  # no rows, or a blank line
        return None
    rows = body.count("\n") + 1
    width = body[:body.find("\n")].count(",") + 1 if rows > 1 else body.count(",") + 1
    fields = body.replace("\n", ",").split(",")  # row-major: the lines' fields one after the other
    if len(fields) != width * rows:
        return None
    if headerless:
        where = list(range(len(REQUIRED)))
        if width < len(REQUIRED):
            return None
    else:
        if '"' in text.split("\n", 1)[0] or len(header) != width:
            return None
        where = [header.index(c) for c in REQUIRED]  # the first column of each name, as pandas
    texts = fields[where[0]::width]
    # the dates' characters as a (rows, 10) array, read from one joined text (every date is
    # 10 characters when the commas fall every 11th)
    joined = np.frombuffer((",".join(texts) + ",").encode("ascii"), np.uint8)
    if joined.size != 11 * len(texts) or not (joined[10::11] == 44).all():
        return None
    days = _plain_days(joined.reshape(-1, 11)[:, :10])
    if days is None:
        return None
    dates = np.array(texts, dtype="U10")  # the dtype given: 2-3x cheaper than numpy finding it
    try:
        values = np.array([fields[k::width] for k in where[1:]], dtype=float)
    except ValueError:
        return None
    code = np.zeros(rows, np.int8)
    missing = np.zeros(rows, bool)
    _check_values(code, values, missing, ~np.isfinite(values).all(axis=0))
    return RawBars(symbol, str(path), headerless, dates, days, values, code, 1 if headerless else 2, text,
                   plain=True)


_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9]


_DAY_WEIGHTS = np.array([10**k for k in range(7, -1, -1)], dtype=np.int32)


def _plain_days(chars: np.ndarray) -> np.ndarray | None:
    """``YYYYMMDD`` of ``(n, 10)`` date characters that are all real ``YYYY-MM-DD`` dates inside
    ``_PLAIN_DAYS``, else None."""
    digits = chars[:, _DIGITS]
    if not (((digits >= 48) & (digits <= 57)).all() and (chars[:, 4] == 45).all() and (chars[:, 7] == 45).all()):
        return None
    days = ((digits.astype(np.int32) - 48) @ _DAY_WEIGHTS).astype(np.int64)
    if not (real_days(days).all() and days.min() >= _PLAIN_DAYS[0] and days.max() <= _PLAIN_DAYS[1]):
        return None
    return days


# ---------------------------------------------------------------------------- the general reader

def _read_frame(text: str, path: str | Path, symbol: str, headerless: bool) -> RawBars:
    import pandas as pd

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
    n = len(raw)
    dates = np.array([x.strip() if isinstance(x, str) else "" for x in raw["date"].to_numpy(dtype=object)],
                     dtype=object)
    code = np.zeros(n, np.int8)
    shaped = np.array([bool(_DATE_RE.match(d)) for d in dates], dtype=bool)
    parsed = pd.to_datetime(pd.Series(np.where(shaped, dates, None), dtype=object),
                            format="%Y-%m-%d", errors="coerce")
    good_date = shaped & ~parsed.isna().to_numpy()
    code[~good_date] = _code("bad_date")
    days = np.zeros(n, np.int64)
    texts = np.where(good_date, dates, "").astype("U10")
    if good_date.any():
        days[good_date] = day_numbers(texts[good_date])
    values = np.empty((5, n))
    missing = np.zeros(n, bool)
    bad = np.zeros(n, bool)
    for i, c in enumerate((*PRICES, "volume")):
        values[i], m, b = _numbers(raw[c])
        missing |= m
        bad |= b
    _check_values(code, values, missing, bad)
    return RawBars(symbol, str(path), headerless, texts, days, values, code, first_data_line, text)


_NA_TOKENS = {"", "nan", "na", "n/a", "null", "none", "-"}
_CODES = list(SKIP_REASONS)  # reason code i + 1 <-> SKIP_REASONS key i


def _code(reason: str) -> int:
    return _CODES.index(reason) + 1


def _numbers(col) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(values, missing, non_numeric)`` of one price/volume column (a pandas Series)."""
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


def _check_values(code: np.ndarray, values: np.ndarray, missing: np.ndarray, bad: np.ndarray) -> None:
    """Mark, where no earlier reason is marked, the checks a row's numbers decide alone."""
    def mark(mask: np.ndarray, reason: str) -> None:
        code[(code == 0) & mask] = _code(reason)

    mark(missing, "missing_value")
    mark(bad, "non_numeric")
    o, h, lo, c, vol = values
    with np.errstate(invalid="ignore"):
        mark((o > MAX_PRICE) | (h > MAX_PRICE) | (lo > MAX_PRICE) | (c > MAX_PRICE)
             | (vol > MAX_VOLUME), "absurd_value")
        mark((o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0), "price_not_positive")
        mark(h < lo, "high_below_low")
        top, bottom = h * (1 + OUTSIDE_TOLERANCE), lo * (1 - OUTSIDE_TOLERANCE)
        mark((o > top) | (c > top) | (o < bottom) | (c < bottom), "outside_range")
        mark(vol < 0, "negative_volume")


# ---------------------------------------------------------------------------- the verdict

def judge(raw: RawBars, *, asof: str | None = None, days: MarketDays | None = None) -> ParsedBars:
    """The good bars of ``raw`` up to ``asof``, and the rest counted by reason: the row checks
    of ``read_text`` with the market's calendar (``days``) and repeated dates (the first kept)."""
    days = days or MarketDays()
    code = raw.code.copy()
    dated = code != _code("bad_date")  # the calendar's reasons come before every other
    # Nearly every file lists its dates in order, each once: then nothing needs sorting.
    dated_days = raw.days[dated]
    ascending = bool((dated_days[1:] > dated_days[:-1]).all())
    if days.is_session is not None and dated_days.size:
        if ascending:
            code[np.flatnonzero(dated)[days.closed(dated_days)]] = _code("not_trading_day")
        else:
            seen = np.unique(dated_days)
            closed = seen[days.closed(seen)]
            if closed.size:
                code[dated & np.isin(raw.days, closed)] = _code("not_trading_day")
    if days.today is not None:
        code[dated & (code != _code("not_trading_day")) & (raw.days > day_numbers([days.today])[0])] = \
            _code("future_date")
    ok = code == 0
    if ok.any() and not ascending:  # among good rows, a repeated date keeps the first
        rows = np.flatnonzero(ok)
        order = np.argsort(raw.days[rows], kind="stable")
        again = np.zeros(rows.size, bool)
        again[order[1:]] = raw.days[rows][order[1:]] == raw.days[rows][order[:-1]]
        code[rows[again]] = _code("duplicate_date")
        ok = code == 0

    o, h, lo, c = raw.values[:4]
    with np.errstate(invalid="ignore"):
        outside = ok & ((o < lo) | (o > h) | (c < lo) | (c > h))
    after = 0
    keep = ok
    if asof:
        late = ok & (raw.days > day_numbers([asof])[0])
        after = int(late.sum())
        keep = ok & ~late
        outside &= ~late
    kept = np.flatnonzero(keep)
    if not ascending:
        kept = kept[np.argsort(raw.days[kept], kind="stable")]
    outside = outside[kept]

    counts = np.bincount(code, minlength=len(_CODES) + 1)[1:].tolist()
    skipped = Counter({reason: n for reason, n in zip(_CODES, counts, strict=True) if n})
    flagged = Counter({"open_close_outside_range": int(outside.sum())} if outside.any() else {})
    bad_rows = np.flatnonzero(code > 0)[:_MAX_EXAMPLES].tolist()

    def examples() -> list[dict]:
        out = []
        for i in bad_rows:
            line_no, row = raw.line(i)
            out.append({"line": line_no, "reason": _CODES[code[i] - 1], "row": row})
        return out

    return ParsedBars(symbol=raw.symbol, path=raw.path, dates=raw.dates[kept], days=raw.days[kept],
                      values=raw.values[:, kept],
                      rows_read=int(code.size), headerless=raw.headerless, skipped=skipped,
                      flagged=flagged, after_asof=after, examples_of=examples if bad_rows else None,
                      outside=outside)


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


def _same_function(a: Callable | None, b: Callable | None) -> bool:
    """Equal functions, or the same method of equal objects (``sessions(settings).is_session``
    is a new bound method each time; bound methods compare their objects by identity)."""
    if a == b:
        return True
    return (getattr(a, "__func__", None) is not None and getattr(a, "__func__", None) is getattr(b, "__func__", None)
            and a.__self__ == b.__self__)


def read_dates(directory: str | Path) -> list[str]:
    """The union of the trading days in a folder of bar files (what a replay steps through).
    The files are read through ``CsvFolder.of``, so the replay that follows reads none again."""
    folder = CsvFolder.of(directory)
    days = [folder.judged(p).days for p in bar_files(directory)]
    return date_texts(np.unique(np.concatenate(days))).tolist() if days else []


class CsvFolder:
    """The files of one folder, each read once while it does not change (its size and time
    are checked at every use): a replay collects the same folder as of date after date."""

    _last: CsvFolder | None = None

    def __init__(self, directory: str | Path):
        self.directory = Path(directory).resolve()
        self._raw: dict[str, tuple[tuple[int, int], RawBars]] = {}
        self._judged: dict[str, tuple[RawBars, MarketDays | None, ParsedBars]] = {}
        self._days: list[MarketDays] = []

    @classmethod
    def of(cls, directory: str | Path) -> CsvFolder:
        """The folder's reader, kept for the next call about the same folder (one at a time)."""
        if cls._last is None or cls._last.directory != Path(directory).resolve():
            cls._last = CsvFolder(directory)
        return cls._last

    def read(self, path: str | Path) -> RawBars:
        """The file read and checked (``read_file``), again only if it changed since."""
        st = os.stat(path)
        stamp, key = (st.st_mtime_ns, st.st_size), os.path.abspath(path)
        hit = self._raw.get(key)
        if hit is None or hit[0] != stamp:
            hit = self._raw[key] = (stamp, read_file(path))
        return hit[1]

    def days(self, is_session: Callable[[str], bool] | None, today: str | None) -> MarketDays:
        """One ``MarketDays`` per calendar and date, kept: it remembers the dates it was asked."""
        for d in self._days:
            if _same_function(d.is_session, is_session) and d.today == today:
                return d
        self._days.append(MarketDays(is_session, today))
        return self._days[-1]

    def judged(self, path: str | Path, days: MarketDays | None = None) -> ParsedBars:
        """``judge(self.read(path), days=days)``, kept while the file and ``days`` are the same:
        a replay takes each date's bars from it with ``ParsedBars.upto``."""
        raw, key = self.read(path), os.path.abspath(path)
        hit = self._judged.get(key)
        if hit is None or hit[0] is not raw or hit[1] is not days:
            hit = self._judged[key] = (raw, days, judge(raw, days=days))
        return hit[2]
