"""Trading costs: the one type the risk guard, the engine, the fill model and the paper broker
share (built once from the config by ``risk.params.costs_of``).

It lives here, in the lowest layer, because ``brokers/`` may import only plain types and
``risk/`` only ``sennot`` types: both can import it from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Costs:
    commission: float = 0.00015  # of the fill notional, both sides
    sell_tax: float = 0.0020     # of the fill notional, SELLs only (0 on Bybit)
    slippage: float = 0.0        # a fraction of the open: slippage_bps / 10000
