"""Config validation: every bad config is exit code 2 with a message naming file, key, problem."""

from __future__ import annotations

import pytest
import yaml

from pipeline.config import ConfigError, Settings, from_dict, load

BAD_CONFIGS = [
    # (id, yaml text, key path named, words of the problem)
    ("unknown_key", "risk:\n  max_positon: 5\n", "risk.max_positon", "unknown key"),
    ("unknown_top_key", "markets: krx\n", "markets", "unknown key"),
    ("wrong_type", "capital: lots\n", "capital", "valid number"),
    ("wrong_type_int", "risk: {max_positions: many}\n", "risk.max_positions", "valid integer"),
    ("sector_cap_above_1", "risk: {sector_cap: 1.5}\n", "risk.sector_cap", "less than or equal to 1"),
    ("negative_commission", "costs: {commission: -0.001}\n", "costs.commission", "greater than or equal to 0"),
    ("unknown_profile", "profile: nope\nprofiles: {cautious: {risk: {max_positions: 4}}}\n",
     "profile", "unknown profile 'nope'"),
    ("bad_profile_body", "profiles:\n  wild:\n    risk: {sector_cap: 3}\n",
     "profiles.wild.risk.sector_cap", "less than or equal to 1"),
    ("profile_not_mapping", "profiles:\n  wild: 5\n", "profiles.wild", "mapping"),
    ("unknown_market", "market: nyse\n", "market", "'krx' or 'bybit'"),
    ("unknown_mode", "mode: real\n", "mode", "'paper' or 'live'"),
    ("positive_loss_limit", "risk: {daily_loss_limit: 0.03}\n", "risk.daily_loss_limit", "less than or equal to 0"),
]


@pytest.mark.parametrize("text,key,problem", [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_exit_2_naming_file_key_problem(tmp_config, run_cli, text, key, problem):
    cfg = tmp_config(text=text)
    code, stdout, stderr = run_cli(["--config", cfg, "status"])
    assert code == 2
    assert stdout == ""
    assert str(cfg) in stderr
    assert f"{key}:" in stderr
    assert problem in stderr


def test_bad_yaml_names_file_and_line(tmp_config, run_cli):
    cfg = tmp_config(text="market: krx\nrisk: {sector_cap: 0.5\ncosts: {}\n")
    code, _, stderr = run_cli(["--config", cfg, "status"])
    assert code == 2
    assert str(cfg) in stderr and "not valid YAML" in stderr and "line " in stderr


def test_duplicate_section_is_refused(tmp_config):
    # PyYAML would keep only the second `risk:` and silently drop max_positions.
    cfg = tmp_config(text="risk:\n  max_positions: 3\nrisk:\n  sector_cap: 0.5\n")
    with pytest.raises(ConfigError, match="duplicate key 'risk'"):
        load(cfg)


def test_top_level_must_be_mapping(tmp_config, run_cli):
    cfg = tmp_config(text="- krx\n- paper\n")
    code, _, stderr = run_cli(["--config", cfg, "status"])
    assert code == 2 and "mapping" in stderr and str(cfg) in stderr
    with pytest.raises(ConfigError, match="mapping"):
        from_dict(["krx"])  # type: ignore[arg-type]


def test_missing_config_is_exit_2(tmp_path, run_cli):
    missing = tmp_path / "nowhere" / "qtx.yaml"
    code, _, stderr = run_cli(["--config", missing, "status"])
    assert code == 2
    assert str(missing) in stderr and "not found" in stderr


def test_config_found_from_env_then_cwd(tmp_path, tmp_config, monkeypatch):
    cfg = tmp_config(risk={"max_positions": 3})
    monkeypatch.setenv("QTX_CONFIG", str(cfg))
    assert load().risk.max_positions == 3
    monkeypatch.delenv("QTX_CONFIG")
    monkeypatch.chdir(tmp_path)
    assert load().risk.max_positions == 3
    assert load(cfg).config_path == str(cfg.resolve())


def test_empty_file_means_defaults(tmp_config):
    s = load(tmp_config(text=""))
    assert s.model_dump() == Settings().model_dump()


def test_profile_overrides_on_top(tmp_config):
    text = yaml.safe_dump({
        "profile": "cautious",
        "risk": {"max_positions": 8, "sector_cap": 0.4},
        "profiles": {"cautious": {"risk": {"max_positions": 4}}, "aggressive": {"risk": {"max_positions": 12}}},
    })
    s = load(tmp_config(text=text))
    assert s.profile == "cautious"
    assert s.risk.max_positions == 4
    assert s.risk.sector_cap == 0.4  # untouched keys keep the base value


def test_market_default_sell_tax():
    assert from_dict({"market": "krx"}).costs.sell_tax == pytest.approx(0.0020)
    assert from_dict({"market": "bybit"}).costs.sell_tax == 0.0
    assert from_dict({"market": "krx", "costs": {"sell_tax": 0.0018}}).costs.sell_tax == pytest.approx(0.0018)


def test_relative_database_resolves_against_config(tmp_path, tmp_config):
    sub = tmp_path / "conf"
    sub.mkdir()
    cfg = sub / "qtx.yaml"
    cfg.write_text("database: db/x.sqlite\n")
    assert load(cfg).db_path == sub.resolve() / "db" / "x.sqlite"
    assert load(tmp_config()).db_path == tmp_path.resolve() / "data" / "qtx-krx-paper.sqlite"


def test_symbols_stay_text():
    s = from_dict({"universe": {"symbols": [5930, "035720"]}})
    assert s.universe.symbols == ["5930", "035720"]
