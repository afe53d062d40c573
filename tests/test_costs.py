"""One ``Costs``, built once from the config and seen alike by the guard, the engine and the
paper broker."""

from __future__ import annotations

import pytest

from pipeline.brokers_factory import make_broker
from pipeline.config import from_dict
from risk.params import costs_of, from_settings
from sennot.costs import Costs


@pytest.mark.parametrize("raw, expected", [
    ({}, Costs(0.00015, 0.0020, 0.0)),                                  # KRX: the 0.20% sell tax
    ({"market": "bybit"}, Costs(0.00015, 0.0, 0.0)),                    # Bybit: no sell tax
    ({"costs": {"commission": 0.001, "sell_tax": 0.003, "slippage_bps": 25}}, Costs(0.001, 0.003, 0.0025)),
    ({"market": "bybit", "costs": {"sell_tax": 0.001}}, Costs(0.00015, 0.001, 0.0)),
])
def test_costs_from_the_config(raw, expected):
    assert costs_of(from_dict(raw)) == expected


def test_the_paper_broker_and_the_guard_get_the_same_costs(tmp_config):
    from db import open_db
    from pipeline.config import load

    s = load(tmp_config(costs={"commission": 0.0007, "slippage_bps": 12.5}))
    db = open_db(s.db_path, market=s.market, mode=s.mode, create=True, capital=s.capital)
    try:
        broker = make_broker(s, db)
        _, guard_costs = from_settings(s)
        assert broker.costs == guard_costs == Costs(0.0007, 0.0020, 12.5 / 10000)
        assert type(broker.costs) is Costs
    finally:
        db.close()
