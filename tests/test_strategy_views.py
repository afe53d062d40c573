"""``positions`` and ``analysis`` show what the configured strategy says: its own levels, its
own filters with their parameters (not Sennot's defaults)."""

from __future__ import annotations

import pytest

from db import open_db
from pipeline.read import service
from tests.telegram_helpers import make_config, settings_for
from tests.test_telegram_views import _seed


@pytest.fixture
def world(tmp_path):
    def make(**params):
        path, raw = make_config(tmp_path, "http://127.0.0.1:9")
        raw["strategy"] = {"params": params}
        s = settings_for(path, raw)
        db = open_db(s.db_path, market=s.market, mode=s.mode)
        opened.append(db)
        return s, db, _seed(db)

    opened: list = []
    yield make
    for db in opened:
        db.close()


def test_positions_show_the_strategy_levels_for_its_params(world):
    s, db, days = world(stop_loss=0.05, take_profit=0.1, trailing_stop=0.02, time_exit_bars=8)
    rows = {p["symbol"]: p for p in service.positions(db, s)}
    up, down = rows["UP"], rows["DOWN"]
    # UP: entry 340 five bars before the end, not armed.
    assert up["levels"] == {"stop": 340 * 0.95, "take_profit": 340 * 1.1, "trailing_peak": None,
                            "trailing_stop": None, "time_exit_bars_left": 3}
    assert (up["stop_level"], up["take_profit_level"]) == (340 * 0.95, 340 * 1.1)
    # DOWN: armed 3 bars before the end at close 154, falling since: the peak is the arming bar's.
    assert down["levels"]["trailing_peak"] == 154.0 and down["trailing_level"] == 154.0 * 0.98
    assert down["levels"]["stop"] is None and down["levels"]["time_exit_bars_left"] is None
    # As of a date before the arming, DOWN is not armed yet.
    before = {p["symbol"]: p for p in service.positions(db, s, asof=days[-5])}["DOWN"]
    assert not before["armed"] and before["stop_level"] == 150 * 0.95 and before["trailing_level"] is None


@pytest.mark.parametrize("trend_sma, evaluated, passing, short", [
    (240, 2, 1, 1),   # UP rises above its SMA, DOWN falls below it, NEW has 10 bars
    (300, 0, 0, 3),   # 250 bars are too few for everyone
    (5, 3, 1, 0),     # NEW (flat at 10) is evaluated too: equal to its SMA is not above it
])
def test_analysis_uses_the_configured_trend_filter(world, trend_sma, evaluated, passing, short):
    params = {"trend_sma": trend_sma} if trend_sma != 240 else {}
    if trend_sma <= 20:
        params.update(fast_sma=2, slow_sma=4)
    s, db, days = world(**params)
    a = service.analysis(db, s, days=30)
    (f,) = a["filters"]
    assert f["name"] == "trend" and f["label"] == f"close > SMA({trend_sma})" and f["bars"] == trend_sma
    assert (f["date"], f["evaluated"], f["passing"], f["insufficient_history"]) == (days[-1], evaluated, passing, short)
    assert a["strategy"]["name"] == "sennot" and a["strategy"]["params"]["trend_sma"] == trend_sma
    assert [r["name"] for r in a["strategy"]["entry_rules"]] == ["breakout", "golden_cross", "pullback"]
