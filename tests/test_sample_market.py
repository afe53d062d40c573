"""The synthetic sample market: deterministic, KRX-like, and rich enough to fire every rule."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.feeds import sample_market as sm


@pytest.fixture(scope="module")
def market():
    return sm.generate()


def test_deterministic_and_seeded(market):
    again = sm.generate()
    assert all(market[s].equals(again[s]) for s in market)
    other = sm.generate(seed=8)
    assert not market["SYN001"].equals(other["SYN001"])


def test_shape_sectors_and_dates(market):
    assert len(market) == 36 and list(market)[:2] == ["SYN001", "SYN002"]
    secs = sm.sectors()
    assert len(set(secs.values())) == 6 and all(v.startswith("Synthetic ") for v in secs.values())
    assert all(sum(1 for v in secs.values() if v == name) == 6 for name in set(secs.values()))
    for df in market.values():
        assert len(df) >= 750
        assert list(df.columns) == ["date", "open", "high", "low", "close", "volume"]
        assert df["date"].is_monotonic_increasing and df["date"].is_unique
        assert df["date"].iloc[0] == "2023-01-02"


def test_prices_are_valid_krx_ticks(market):
    for df in market.values():
        o, h, lo, c, v = (df[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
        assert (lo > 0).all() and (v > 0).all()
        assert (h >= np.maximum(o, c)).all() and (lo <= np.minimum(o, c)).all()
        for col in (o, h, lo, c):
            ticks = np.array([sm.krx_tick(x) for x in col])
            assert (col % ticks == 0).all()


def test_tick_table():
    assert [sm.krx_tick(p) for p in (1999, 2000, 4999, 5000, 19999, 20000, 49999, 50000, 199999,
                                     200000, 499999, 500000)] == [1, 5, 5, 10, 10, 50, 50, 100, 100,
                                                                  500, 500, 1000]
    assert sm.round_to_tick(12345) == 12350 and sm.round_to_tick(12344, "down") == 12340


def test_regimes_are_present(market):
    spikes = drops = runs = 0
    for df in market.values():
        c = df["close"].to_numpy(float)
        v = df["volume"].to_numpy(float)
        mean20 = np.convolve(v, np.ones(20) / 20, "valid")[:-1]  # mean of the 20 bars before
        spikes += int((v[20:] > 1.5 * mean20).sum())
        r = c[1:] / c[:-1] - 1
        drops += int((c[3:] / c[:-3] - 1 <= -0.05).sum())
        runs += int((c[5:] / c[:-5] - 1 >= 0.07).sum())
        assert r.min() > -0.3 and r.max() < 0.3  # inside the KRX daily limit
    assert spikes > 36 and drops > 36 and runs > 36


def test_every_sennot_rule_fires(market):
    """A one-position-per-symbol walk through the real rules hits every entry and exit."""
    rules = pytest.importorskip("sennot.rules")
    from sennot.params import SennotParams
    from sennot.types import PositionView, SymbolBars

    p = SennotParams()
    entries, exits = set(), set()
    for sym, df in market.items():
        b = SymbolBars(sym, df["date"].to_numpy(str),
                       *(df[k].to_numpy(float) for k in ("open", "high", "low", "close", "volume")))
        e = rules.entry_table(b, p)
        for name in ("breakout", "golden_cross", "pullback"):
            if (getattr(e, name) & e.trend).any():
                entries.add(name)
        pos, i = None, 0
        while i < len(b) - 1:
            if pos is None and e.buy[i]:
                pos = PositionView(sym, 100, float(b.open[i + 1]), i + 1, None)
                i += 1
                continue
            if pos is not None:
                d = rules.exit_decision(pos, b.close, i, p)
                if d:
                    exits.add(d.rule)
                    pos = (PositionView(sym, pos.qty - d.qty, pos.entry_price, pos.entry_index, i)
                           if d.arm else None)
            i += 1
    assert entries == {"breakout", "golden_cross", "pullback"}
    assert exits == {"stop_loss", "trailing_stop", "take_profit", "time_exit"}


def test_load_into_is_idempotent(qtx_db):
    first = sm.load_into(qtx_db, n_symbols=3, n_days=300)
    second = sm.load_into(qtx_db, n_symbols=3, n_days=300)
    n = len(sm.krx_dates("2023-01-02", 300))  # the KRX trading days of 300 business days
    assert 280 < n < 300
    assert first["bars_new"] == 3 * n and second["bars_new"] == 0
    assert qtx_db.scalar("SELECT COUNT(*) FROM bars WHERE source = 'synthetic'") == 3 * n
    assert qtx_db.scalar("SELECT COUNT(*) FROM instruments WHERE sector LIKE 'Synthetic %'") == 3


def test_bars_follow_the_krx_calendar(market):
    """No bar on a weekend or a KRX holiday (Christmas, Seollal, Chuseok): the demo's market
    moves on the days the real one does."""
    from datetime import date

    from pipeline.schedule.calendar import closure_reason, trading_days

    dates = market["SYN001"]["date"].tolist()
    assert "2023-12-25" not in dates and "2024-12-25" not in dates and "2024-02-09" not in dates
    assert [d for d in dates if closure_reason("krx", date.fromisoformat(d))] == []
    first, last = date.fromisoformat(dates[0]), date.fromisoformat(dates[-1])
    assert dates == [d.isoformat() for d in trading_days("krx", first, last)]  # none missing
    assert all(df["date"].tolist() == dates for df in market.values())
