"""``qtx backtest``'s summary counts the verdicts the loop kept (no dict per verdict): the
counts must be those of the verdicts themselves."""

from __future__ import annotations

from collections import Counter

from pipeline.feeds import sample_market
from pipeline.stages import backtest as bt


def test_rejections_and_approvals_are_the_verdicts_counted(qtx_db, qtx_settings):
    sample_market.load_into(qtx_db, seed=3, n_symbols=24, n_days=500)
    res, stats = bt.run(qtx_db, qtx_settings)
    verdicts = res.verdicts
    assert len(verdicts) > 50
    want = dict(sorted(Counter(v["reason"] for v in verdicts if not v["approved"]).items()))
    assert stats["rejections"] == want and len(want) >= 2
    assert stats["approved"] == sum(1 for v in verdicts if v["approved"]) > 0
    assert stats["synthetic"] is True and stats["symbols"] == 24
