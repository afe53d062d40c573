"""Config details that protect real money: KRX codes stay text, live mode needs a per-order
notional cap, and the first live run of a database must be confirmed."""

from __future__ import annotations

import pytest

from pipeline.config import ConfigError, load


def test_krx_codes_with_leading_zeros_stay_text(tmp_config):
    cfg = tmp_config(text="universe:\n  symbols: [000660, 005930, 035420]\n  exclude: [000100]\n")
    s = load(cfg)
    assert s.universe.symbols == ["000660", "005930", "035420"]
    assert s.universe.exclude == ["000100"]


def test_plain_numbers_still_read_as_numbers(tmp_config):
    s = load(tmp_config(text="capital: 5000000\nrisk: {max_positions: 10}\n"))
    assert s.capital == 5_000_000 and s.risk.max_positions == 10


def test_live_mode_without_a_notional_cap_is_refused(tmp_config):
    with pytest.raises(ConfigError) as e:
        load(tmp_config(market="bybit", mode="live"))
    assert "max_order_notional" in str(e.value) and "qtx.yaml" in str(e.value)


def test_live_cli_refuses_without_cap_with_exit_2(tmp_config, run_cli):
    cfg = tmp_config(market="bybit", mode="live")
    code, _, err = run_cli(["--config", cfg, "execute"])
    assert code == 2 and "max_order_notional" in err


def test_first_live_run_needs_confirmation(tmp_path, tmp_config, run_cli, monkeypatch):
    from db import open_db

    cfg = tmp_config(market="bybit", mode="live", risk={"max_order_notional": 1000},
                     bybit={"endpoint": "http://127.0.0.1:9"})
    s = load(cfg)
    open_db(s.db_path, market="bybit", mode="live", create=True).close()
    monkeypatch.setenv("QTX_BYBIT_KEY", "k")
    monkeypatch.setenv("QTX_BYBIT_SECRET", "s")
    # No terminal and no --yes: refused before anything is sent.
    code, _, err = run_cli(["--config", cfg, "execute", "--asof", "2026-01-05"])
    assert code == 2 and "--yes" in err
    db = open_db(s.db_path, market="bybit", mode="live")
    assert "live_confirmed" not in db.meta()
    db.close()
    # --yes confirms once and the answer is kept (the broker is unreachable: the run fails
    # after confirming, which is fine here).
    run_cli(["--config", cfg, "execute", "--asof", "2026-01-05", "--yes"], allow_exception=True)
    db = open_db(s.db_path, market="bybit", mode="live")
    assert db.meta().get("live_confirmed") == "yes"
    assert db.scalar("SELECT COUNT(*) FROM events WHERE kind = 'live_confirmed'") == 1
    db.close()
