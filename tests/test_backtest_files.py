"""``backtest --trades-out/--equity-out/--chart`` (and the report's chart) replace their file
whole or not at all: a failure (or a kill) mid-write leaves the previous file as it was."""

from __future__ import annotations

import os
import stat
from types import SimpleNamespace

import pytest

from pipeline.stages import backtest as bt


class _Boom(RuntimeError):
    pass


class _Trade:
    """A trade row that fails while being written (the injected fault)."""

    date, symbol, side, qty, price, fee = "2026-01-05", "AAA", "BUY", 1.0, 10.0, 0.01

    def __init__(self, fail: bool = False):
        self.fail = fail

    @property
    def reason(self):
        if self.fail:
            raise _Boom("killed mid-write")
        return "breakout"


class _Day:
    date, cash, equity, drawdown, positions, buy_blocked, size_multiplier = (
        "2026-01-05", 100.0, 100.0, 0.0, 0, 0, 1.0)


def _leftovers(folder, name):
    return [p.name for p in folder.iterdir() if p.name != name]


def test_trades_and_equity_files_are_replaced_whole_or_not_at_all(tmp_path):
    trades, equity = tmp_path / "trades.csv", tmp_path / "equity.csv"
    good = SimpleNamespace(trades=[_Trade()] * 3, equity=[_Day()] * 3)
    bt.write_trades(good, trades)
    bt.write_equity(good, equity)
    before = trades.read_bytes(), equity.read_bytes()
    assert before[0].count(b"\n") == 4 and before[1].count(b"\n") == 4

    # Thousands of rows are buffered out before the fault: written in place, they would be on disk.
    bad = SimpleNamespace(trades=[_Trade()] * 5000 + [_Trade(fail=True)],
                          equity=[_Day()] * 5000 + [None])
    with pytest.raises(_Boom):
        bt.write_trades(bad, trades)
    with pytest.raises(AttributeError):
        bt.write_equity(bad, equity)
    assert (trades.read_bytes(), equity.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["equity.csv", "trades.csv"]  # no temp left

    bigger = SimpleNamespace(trades=[_Trade()] * 5000, equity=[_Day()] * 5000)
    bt.write_trades(bigger, trades)
    assert trades.read_bytes().count(b"\n") == 5001


def test_a_replaced_file_keeps_its_mode_and_a_new_one_is_0644(tmp_path):
    old = tmp_path / "trades.csv"
    old.write_text("x")
    os.chmod(old, 0o640)
    bt.write_trades(SimpleNamespace(trades=[_Trade()]), old)
    assert stat.S_IMODE(old.stat().st_mode) == 0o640
    new = tmp_path / "new.csv"
    bt.write_trades(SimpleNamespace(trades=[_Trade()]), new)
    assert stat.S_IMODE(new.stat().st_mode) == 0o644


def test_a_chart_that_fails_mid_write_leaves_the_previous_png(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    png = tmp_path / "eq.png"
    dates, eq, dd = ["2026-01-05", "2026-01-06", "2026-01-07"], [100.0, 101.0, 99.0], [0.0, 0.0, -0.02]
    bt.write_chart(dates, eq, dd, png)
    before = png.read_bytes()
    assert before[:8] == b"\x89PNG\r\n\x1a\n"

    real = Figure.savefig

    def half_then_die(self, fname, *a, **kw):
        real(self, fname, *a, **kw)  # the whole image goes out ...
        if hasattr(fname, "truncate"):
            fname.truncate(100)  # ... then it is cut short, as by a kill
        else:
            with open(fname, "r+b") as fh:
                fh.truncate(100)
        raise _Boom("killed mid-write")

    monkeypatch.setattr(Figure, "savefig", half_then_die)
    with pytest.raises(_Boom):
        bt.write_chart(dates, [1.0, 2.0, 3.0], dd, png)
    assert png.read_bytes() == before
    assert _leftovers(tmp_path, "eq.png") == []


def test_a_missing_folder_is_named_in_the_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope/trades.csv"):
        bt.write_trades(SimpleNamespace(trades=[]), tmp_path / "nope" / "trades.csv")
