"""The equity chart (issue 13): the universe's buy-and-hold series, the warm-up date, money on
the axis, and a PNG written for a short and a long period."""

from __future__ import annotations

import pytest

from pipeline.read import chart


def test_buy_and_hold_is_equal_weight_from_the_first_date():
    closes = {
        "A": (["2026-01-05", "2026-01-06", "2026-01-07"], [100.0, 110.0, 120.0]),
        "B": (["2026-01-05", "2026-01-07"], [50.0, 25.0]),          # no bar on the 6th: last close
        "C": (["2026-01-06", "2026-01-07"], [10.0, 99.0]),          # listed later: not bought
        "D": (["2026-01-02"], [40.0]),                              # before the first date: held flat
    }
    got = chart.buy_and_hold(["2026-01-05", "2026-01-06", "2026-01-07"], closes, 900.0)
    # 300 in each of A, B and D at their closes on (or before) the 5th.
    assert got == pytest.approx([900.0, 300 * 1.1 + 300 + 300, 300 * 1.2 + 300 * 0.5 + 300])
    assert chart.buy_and_hold(["2020-01-01"], closes, 900.0) == [None]
    assert chart.buy_and_hold([], closes, 900.0) == []


def test_first_actionable_is_when_a_symbol_has_its_warm_up_bars():
    dates = {"A": ["d1", "d2", "d3", "d4"], "B": ["d0", "d1", "d2"], "C": ["d3"]}
    assert chart.first_actionable(dates, 3) == "d2"   # B's third bar
    assert chart.first_actionable(dates, 1) == "d0"
    assert chart.first_actionable(dates, 9) is None


def test_money_ticks_are_whole_numbers_with_separators():
    assert chart.thousands(100_000_000) == "100,000,000"
    assert chart.thousands(1_234.5) == "1,234"  # rounded: an axis tick, not a balance
    assert chart.thousands(12.5) == "12.50"


@pytest.mark.parametrize("n", [10, 2600])  # ten days and about ten years
def test_the_chart_is_written_with_real_numbers_and_dates(tmp_path, n, monkeypatch):
    from datetime import date, timedelta

    from matplotlib.figure import Figure

    dates = [(date(2016, 1, 4) + timedelta(days=k)).isoformat() for k in range(n)]
    equity = [1e8 * (1 + 0.0003 * k) for k in range(n)]
    dd = [0.0] * n
    seen = {}
    real = Figure.savefig

    def keep(self, *a, **kw):
        ax = self.axes[0]
        self.canvas.draw()
        seen["offset"] = ax.yaxis.get_offset_text().get_text()
        seen["yticks"] = [t.get_text() for t in ax.get_yticklabels()]
        seen["ylabel"] = ax.get_ylabel()
        seen["title"] = ax.get_title()
        seen["xticks"] = [t.get_text() for t in self.axes[1].get_xticklabels()]
        seen["legend"] = [t.get_text() for t in ax.get_legend().get_texts()]
        return real(self, *a, **kw)

    monkeypatch.setattr(Figure, "savefig", keep)
    png = tmp_path / "eq.png"
    chart.write_chart(dates, equity, dd, png, title="t", currency="KRW", capital=1e8,
                      warmup_until=dates[n // 3], benchmark=[1e8] * n)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert seen["offset"] == "" and seen["ylabel"] == "equity (KRW)"
    assert any("," in t and "e" not in t for t in seen["yticks"] if t), seen["yticks"]
    assert f"{dates[0]} – {dates[-1]}" in seen["title"] and "total return +" in seen["title"]
    assert len([t for t in seen["xticks"] if t]) >= 3, seen["xticks"]
    assert "warm-up (no entries yet)" in seen["legend"] and any("buy and hold" in t for t in seen["legend"])
