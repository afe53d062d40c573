"""The plain-numbers CSV reader (the fast one) must read every file it takes exactly as the
general reader (pandas' parser and a value-by-value check) does, and leave every other file to
it: same bars to the bit, same skips by reason, flags, examples and as-of counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.config import from_dict
from pipeline.feeds.csv_bars import MarketDays, bar_files, judge, read_text
from pipeline.schedule.calendar import sessions
from tests.test_collect_csv import CRAFTED, GOOD

DAYS = MarketDays(sessions(from_dict({})).is_session, "2024-06-28")


def _same(text: str, asof: str | None = None, days: MarketDays | None = DAYS, *, plain: bool) -> None:
    fast, general = read_text(text, path="X.csv", symbol="X"), read_text(text, path="X.csv", symbol="X", fast=False)
    a, b = judge(fast, asof=asof, days=days), judge(general, asof=asof, days=days)
    assert np.array_equal(a.days, b.days)
    assert np.array_equal(a.values.view(np.int64), b.values.view(np.int64))  # to the bit
    assert (a.rows_read, a.headerless, a.skipped, a.flagged, a.after_asof, a.examples) == \
           (b.rows_read, b.headerless, b.skipped, b.flagged, b.after_asof, b.examples)
    if plain is not None:
        from pipeline.feeds import csv_bars

        header = None if fast.headerless else csv_bars.sniff_header(text.split("\n", 1)[0], "X.csv")[1]
        assert (csv_bars._read_plain(text, "X.csv", "X", fast.headerless, header) is not None) == plain


PLAIN = [
    GOOD,
    GOOD.replace("\n", "\r\n"),
    "Volume,Close,Adj Close,Low,High,Open,Date\n1000,105,104.5,90,110,100,2024-01-02\n",
    "2024-01-02,100,110,90,105,1000,0.01\n2024-01-03,0,0,0,0,0,0\n",  # headerless, a zero row
    "date,open,high,low,close,volume\n2024-01-03,1e2,+110,90,105.000,1.5e3\n2024-01-02,100,110,90,105,1000\n"
    "2024-01-02,101,111,91,106,1000\n2024-01-06,100,110,90,105,1000\n2024-01-01,100,110,90,105,1000\n"
    "2024-07-01,100,110,90,105,1000\n2024-01-08,100,90,110,100,1000\n2024-01-09,120,118,95,100,2000\n"
    "2024-01-10,1e308,1e308,90,105,1000\n2024-01-11,1e309,1,1,1,1\n2024-01-12,100,110,90,105,-1\n",
]
GENERAL = [
    CRAFTED,
    GOOD + "\n2024-01-04,110,115,108,112,900\n",          # a blank line inside
    GOOD + "2024-01-04,110,115,108,112,900\r2024-01-05,110,115,108,112,900\n",  # a lone CR
    GOOD + "2024-01-04,110,115,108,112\n",                # a short row
    GOOD + '2024-01-04,"110",115,108,112,900\n',          # quotes
    GOOD + "2024-01-04, 110,115,108,112,900\n",           # a space
    GOOD + "2024-01-04,-,115,108,112,900\n",              # a dash for missing
    GOOD + "1601-01-04,110,115,108,112,900\n",            # a date pandas cannot hold
    GOOD + "2024-02-30,110,115,108,112,900\n",            # no such day
    GOOD + "2024-01-4,110,115,108,112,900\n2024-01-055,110,115,108,112,900\n",  # 9 and 11 characters
    GOOD + "2024-01-04,110,115,108,112,900,7\n2024-01-05,110,115,108,112\n",    # ragged, as many fields
    "date,open,high,low,close,volume,name\n2024-01-02,100,110,90,105,1000,Samsung\n",
]


@pytest.mark.parametrize("text", PLAIN)
@pytest.mark.parametrize("asof", [None, "2024-01-03"])
def test_plain_files_read_fast_as_the_general_reader_reads_them(text, asof):
    _same(text, asof, plain=True)
    _same(text, asof, days=None, plain=True)


@pytest.mark.parametrize("text", GENERAL)
def test_other_files_are_left_to_the_general_reader(text):
    _same(text, plain=False)


def test_random_plain_files(tmp_path):
    rng = np.random.default_rng(3)
    for _ in range(40):
        n = int(rng.integers(1, 300))
        days = np.sort(rng.choice(np.arange(np.datetime64("2023-01-01"), np.datetime64("2024-12-31")), n))
        days[rng.random(n) < 0.05] = days[0]  # repeats
        px = np.round(rng.lognormal(3, 1, (4, n)), int(rng.integers(0, 7)))
        px[:, rng.random(n) < 0.03] = 0.0
        vol = rng.integers(-2, 10**7, n)
        rows = [f"{d},{o!r},{h!r},{lo!r},{c!r},{v}"
                for d, o, h, lo, c, v in zip(days.astype(str).tolist(), *px.tolist(), vol.tolist(), strict=True)]
        _same("date,open,high,low,close,volume\n" + "\n".join(rows) + "\n", asof="2024-06-01", plain=True)


def test_published_files_read_fast_as_the_general_reader_reads_them(shared_data):
    files = [p for sub in ("us", "krx", "crypto", "krx-raw") for p in bar_files(shared_data / sub)
             if (shared_data / sub).is_dir()][::3]
    assert files
    for p in files:
        _same(Path(p).read_text(encoding="utf-8-sig"), plain=True)


def test_a_file_judged_once_gives_each_dates_bars_as_judging_it_as_of_that_date():
    text = PLAIN[-1] + "2024-01-15,120,118,95,100,2000\n2024-01-16,100,110,90,105,1000\n"
    raw = read_text(text, path="X.csv", symbol="X")
    full = judge(raw, days=DAYS)
    for asof in ("2023-12-31", "2024-01-02", "2024-01-09", "2024-01-15", "2024-06-01", None):
        a, b = full.upto(asof), judge(raw, asof=asof, days=DAYS)
        assert np.array_equal(a.days, b.days) and np.array_equal(a.values, b.values) and list(a.dates) == list(b.dates)
        assert (a.rows_read, a.skipped, a.flagged, a.after_asof, a.examples) == \
               (b.rows_read, b.skipped, b.flagged, b.after_asof, b.examples), asof
    assert full.flagged != full.upto("2024-01-14").flagged  # the flags follow the date too
