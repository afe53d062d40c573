"""A day with many more candidates than free slots is vetted on its strongest first
(engine._vet_top): the trades, equity rows, verdicts and their counts must be exactly those of
vetting every candidate."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from pipeline import engine
from pipeline.market import from_frames
from risk.params import RiskParams
from sennot import create
from sennot.costs import Costs


def _market(n_symbols: int, n_days: int, seed: int):
    rng = np.random.default_rng(seed)
    days = np.arange(np.datetime64("2020-01-01"), np.datetime64("2020-01-01") + int(n_days * 1.5))
    days = days[np.is_busday(days)][:n_days].astype(str)
    common = np.cumsum(rng.normal(0.0008, 0.01, n_days))  # one market: entries come in crowds
    frames = {}
    for i in range(n_symbols):
        close = np.round(1_000 * np.exp(common + np.cumsum(rng.normal(0, 0.01, n_days))))
        high = close + np.round(close * 0.01)
        # a few exact strength ties: equal volumes on the same days
        vol = rng.integers(1, 6, n_days).astype(float) * 1_000
        frames[f"S{i:03d}"] = {"date": days, "open": close, "high": high, "low": close - 1, "close": close,
                               "volume": vol}
    return from_frames(frames, {f"S{i:03d}": f"sec{i % 7}" for i in range(n_symbols)})


def _run(m, top: bool, monkeypatch, **risk):
    with monkeypatch.context() as mp:
        if not top:
            mp.setattr(engine, "_vet_top", lambda *a, **k: None)
        return engine.simulate(m, create(), RiskParams(**risk), Costs(), 100_000_000)


@pytest.mark.parametrize("seed,risk", [(1, {}), (2, {"max_positions": 3}), (3, {"max_positions": 12, "sector_cap": 0.2})])
def test_vetting_the_strongest_first_changes_nothing(monkeypatch, seed, risk):
    m = _market(150, 400, seed)
    calls = []
    real = engine._vet_top

    def counting(*a, **k):
        out = real(*a, **k)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(engine, "_vet_top", counting)
    fast = _run(m, True, monkeypatch, **risk)
    assert sum(calls) >= 3, "the market must have days the shortcut takes"
    full = _run(m, False, monkeypatch, **risk)
    assert [t.to_dict() for t in fast.trades] == [t.to_dict() for t in full.trades] and fast.trades
    assert [e.to_dict() for e in fast.equity] == [e.to_dict() for e in full.equity]
    assert fast.verdicts == full.verdicts
    assert fast.verdict_counts == full.verdict_counts == Counter(v["reason"] for v in full.verdicts)
