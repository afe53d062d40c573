"""Config validation: every bad config is exit code 2 with a message naming file, key, problem."""

from __future__ import annotations

import pytest
import yaml

from pipeline.config import ConfigError, Settings, as_dict, from_dict, load, replace

BAD_CONFIGS = [
    # (id, yaml text, key path named, words of the problem)
    ("unknown_key", "risk:\n  max_positon: 5\n", "risk.max_positon", "unknown key"),
    ("unknown_top_key", "markets: krx\n", "markets", "unknown key"),
    ("wrong_type", "capital: lots\n", "capital", "must be a number (got 'lots')"),
    ("wrong_type_int", "risk: {max_positions: many}\n", "risk.max_positions", "must be a whole number (got 'many')"),
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
    ("nested_unknown_key", "profiles:\n  calm:\n    telegram: {tokn_env: X}\n", "profiles.calm.telegram.tokn_env",
     "unknown key"),
    ("list_item_wrong", "telegram: {allowed_chat_ids: [12, abc]}\n", "telegram.allowed_chat_ids.1",
     "must be a whole number (got 'abc')"),
    ("list_not_a_list", "universe: {exclude: 005930}\n", "universe.exclude", "must be a list (got '005930')"),
    ("section_not_mapping", "risk: 5\n", "risk", "must be a mapping of keys (got 5)"),
    ("null_number", "capital: null\n", "capital", "must be a number (got null)"),
    ("year_key_not_a_year", "costs: {sell_tax_by_year: {soon: 0.001}}\n", "costs.sell_tax_by_year",
     "key 'soon' must be a whole number"),
    ("mapping_value_wrong", "costs: {sell_tax_by_year: {2025: 0.001, 2026: high}}\n", "costs.sell_tax_by_year.2026",
     "must be a number (got 'high')"),
    ("choice_of_wrong_type", "kiwoom: {exchange: 5}\n", "kiwoom.exchange", "must be 'KRX', 'NXT' or 'SOR' (got 5)"),
    # Where the file is comes from loading it, never from the YAML.
    ("config_path_in_yaml", "config_path: /etc/qtx.yaml\n", "config_path", "unknown key"),
]


@pytest.mark.parametrize("text,key,problem", [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_exit_2_naming_file_key_problem(tmp_config, run_cli, text, key, problem):
    cfg = tmp_config(text=text)
    code, stdout, stderr = run_cli(["--config", cfg, "status"])
    assert code == 2
    assert stdout == ""
    assert stderr.strip().count("\n") == 0 and "Traceback" not in stderr  # one line
    assert f"{cfg}: {key}: " in stderr
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
    assert as_dict(s) == as_dict(Settings())


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


def test_settings_are_read_only_and_replace_makes_a_checked_copy(tmp_config):
    s = load(tmp_config(risk={"max_positions": 3}))
    with pytest.raises(AttributeError):
        s.risk.max_positions = "many"  # type: ignore[misc]
    live = replace(s, mode="live", risk=replace(s.risk, max_order_notional=1000))
    assert (live.mode, live.risk.max_order_notional, live.risk.max_positions) == ("live", 1000, 3)
    assert live.config_path == s.config_path and live.db_path.name == "qtx-krx-live.sqlite"
    assert (s.mode, s.risk.max_order_notional) == ("paper", None)  # the original is untouched
    with pytest.raises(ConfigError) as err:
        replace(s.risk, sector_cap=2)
    assert (err.value.key, err.value.problem) == ("sector_cap", "must be less than or equal to 1 (got 2)")
    with pytest.raises(ConfigError, match="risk.max_order_notional: required in live mode"):
        replace(s, mode="live")
    with pytest.raises(ConfigError, match="strategy.params.stop_los: unknown parameter"):
        replace(s, strategy={"params": {"stop_los": 0.1}})
    with pytest.raises(ConfigError, match="universe.bogus: unknown key"):
        replace(s, universe={"bogus": 1})


def test_as_dict_loads_back_to_the_same_settings(tmp_config):
    s = load(tmp_config(market="bybit", universe={"symbols": ["BTCUSDT"]}, costs={"sell_tax_by_year": {2025: 0.001}},
                        calendar={"late_open": {"2026-11-19": "10:00"}}))
    d = as_dict(s)
    assert "config_path" not in d and d["costs"]["sell_tax_by_year"] == {2025: 0.001}
    assert as_dict(from_dict(d)) == d


YAML_TEXTS = [
    "universe:\n  symbols: [000660, 005930, 5930, 0, 0x1F, 1_000, 017, 1e5, 1.5e3, .inf, 08]\n",
    "calendar:\n  late_open: {2026-11-19: 10:00, 2026-11-20: 9:30}\n  extra_holidays: [2026-12-31]\n",
    "a: yes\nb: no\nc: on\nd: ~\ne: 2026-01-01 10:00:00\nf: !!str 5\ng: &x 1\nh: *x\ni: |\n  text\n",
    "\ufeffmarket: krx\r\nmode: paper\r\n",
]


@pytest.mark.parametrize("market", ["krx", "bybit"])
def test_libyaml_and_the_python_parser_read_the_same_values(market):
    from pipeline import config
    from pipeline.init_project import config_text

    if config._Loader is config._PyLoader:
        pytest.skip("PyYAML without libyaml: one parser only")
    for text in [config_text(market), *YAML_TEXTS]:
        assert yaml.load(text, Loader=config._Loader) == yaml.load(text, Loader=config._PyLoader), text


def test_a_tab_is_named_in_the_yaml_error(tmp_config):
    with pytest.raises(ConfigError) as err:
        load(tmp_config(text="risk:\n\tmax_positions: 3\n"))
    assert "line 2, column 1: found character '\\t' that cannot start any token" in str(err.value)
