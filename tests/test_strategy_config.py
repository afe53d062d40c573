"""The strategy's name and params are checked when the config loads: a typo is a config error
(exit 2) naming the key, for every command that reads the config, never a traceback later."""

from __future__ import annotations

import pytest

from pipeline.config import ConfigError, from_dict

# Every command that loads the config (``init`` writes one instead), with arguments that would
# otherwise let it run.
COMMANDS = [
    ["status"], ["signal"], ["execute"], ["sync"], ["report"], ["reconcile"], ["backtest"], ["positions"],
    ["analysis"], ["collect", "--source", "csv", "--path", "."], ["replay"], ["telegram", "--drain"],
    ["launchd", "print"], ["launchd", "catchup", "--dry-run"], ["doctor"], ["mcp"],
]


def test_every_command_is_listed():
    from cli.main import COMMANDS as REGISTRY
    from cli.main import load_command

    names = set()
    for name in REGISTRY:  # the registry, with a group's subcommands (launchd print, ...)
        subs = getattr(load_command(name), "commands", None) or {}
        names |= {f"{name} {s}" for s in subs} if subs else {name}
    listed = {" ".join(a for a in c if not a.startswith("-") and a != ".").removesuffix(" csv") for c in COMMANDS}
    # install and uninstall act on the machine's launchd folders: print stands for them.
    assert names - listed == {"init", "launchd install", "launchd uninstall"}


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_strategy_param_typo_fails_every_command(args, tmp_config, tmp_path, run_cli):
    cfg = tmp_config(database=str(tmp_path / "q.sqlite"), strategy={"params": {"stop_los": 0.05}})
    code, out, err = run_cli(["--config", cfg, *args])
    assert code == 2, (out, err)
    assert f"{cfg}: strategy.params.stop_los: unknown parameter of strategy sennot (known: trend_sma," in err
    assert "Traceback" not in err + out


@pytest.mark.parametrize("args", [["status"], ["signal"], ["backtest"]], ids=lambda a: a[0])
def test_an_unknown_strategy_fails_naming_the_key(args, tmp_config, tmp_path, run_cli):
    cfg = tmp_config(database=str(tmp_path / "q.sqlite"), strategy={"name": "senot"})
    code, out, err = run_cli(["--config", cfg, *args])
    assert code == 2
    assert "strategy.name: unknown strategy 'senot' (known: sennot" in err


@pytest.mark.parametrize("params, key, problem", [
    ({"trend_sma": "long"}, "strategy.params.trend_sma", "must be a whole number (got 'long')"),
    ({"stop_loss": 1.2}, "strategy.params.stop_loss", "must be between 0 and 1 (got 1.2)"),
    ({"fast_sma": 30}, "strategy.params.fast_sma", "must be shorter than slow_sma (got 30 >= 20)"),
])
def test_wrong_types_and_ranges_name_the_key(params, key, problem):
    with pytest.raises(ConfigError) as err:
        from_dict({"strategy": {"params": params}}, "qtx.yaml")
    assert (err.value.key, err.value.problem) == (key, problem)
    assert str(err.value) == f"qtx.yaml: {key}: {problem}"


def test_a_profile_is_checked_under_its_own_key():
    raw = {"strategy": {"params": {"stop_loss": 0.05}},
           "profiles": {"wide": {"strategy": {"params": {"take_proft": 0.1}}}}}
    with pytest.raises(ConfigError) as err:
        from_dict(raw, "qtx.yaml")
    assert err.value.key == "profiles.wide.strategy.params.take_proft"
    # A mistake in the base is the base's, even with profiles defined.
    raw = {"strategy": {"params": {"stop_los": 0.05}}, "profiles": {"calm": {"risk": {"max_positions": 4}}}}
    with pytest.raises(ConfigError) as err:
        from_dict(raw, "qtx.yaml")
    assert err.value.key == "strategy.params.stop_los"


def test_good_params_load():
    s = from_dict({"strategy": {"name": "sennot", "params": {"trend_sma": 120, "stop_loss": 0.05}}})
    assert s.strategy.params == {"trend_sma": 120, "stop_loss": 0.05}
