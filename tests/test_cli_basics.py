"""CLI basics: help everywhere, `qtx init` (round trip, no overwrite), --json shapes."""

from __future__ import annotations

import json
import re

import pytest
import typer.main
import yaml

from cli.main import app
from pipeline.config import Settings, as_dict, from_dict, load
from pipeline.init_project import PROFILE_EXAMPLES, config_text


def _walk(cmd, ctx, path=()):
    yield list(path), cmd
    # Typer may use its own vendored click: walk by duck typing, not isinstance. The root
    # group loads its commands lazily (cli.main.COMMANDS): ask it, do not read .commands.
    if hasattr(cmd, "list_commands"):
        for name in sorted(cmd.list_commands(ctx)):
            sub = cmd.get_command(ctx, name)
            yield from _walk(sub, type(ctx)(sub, parent=ctx, info_name=name), (*path, name))


_ROOT = typer.main.get_command(app)
COMMANDS = list(_walk(_ROOT, _ROOT.context_class(_ROOT)))


def test_the_foundation_commands_are_registered():
    names = {tuple(p) for p, _ in COMMANDS}
    assert {("init",), ("collect",), ("status",)} <= names


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) or "qtx" for p, _ in COMMANDS])
def test_every_command_has_help(path, cmd, run_cli):
    assert (cmd.help or "").strip(), f"`qtx {' '.join(path)}` has no help text"
    for p in cmd.params:
        if p.param_type_name in ("option", "argument") and p.name != "help":
            assert (getattr(p, "help", None) or "").strip(), f"`qtx {' '.join(path)}`: {p.name} has no help"
    code, out, _ = run_cli([*path, "--help"])
    assert code == 0 and "Usage" in out


def _keys(d, prefix=""):
    for k, v in d.items():
        yield f"{prefix}{k}"
        if isinstance(v, dict) and k not in ("profiles", "params", "late_open", "stage_periods_hours"):
            yield from _keys(v, f"{prefix}{k}.")


def test_init_config_round_trips_to_defaults(tmp_path, run_cli):
    code, out, _ = run_cli(["init", tmp_path / "proj", "--json"])
    assert code == 0
    cfg = tmp_path / "proj" / "qtx.yaml"
    s = load(cfg)
    assert as_dict(s) == as_dict(Settings())
    # Every key of Settings is written (so the file documents everything) ...
    written = set(_keys(yaml.safe_load(cfg.read_text())))
    expected = set(_keys(as_dict(Settings())))
    assert expected <= written
    # ... with a comment for the keys interfaces.md names.
    text = cfg.read_text()
    for key in ("market", "mode", "capital", "symbols", "exclude", "min_price", "min_avg_value",
                "commission", "sell_tax", "slippage_bps", "max_positions", "sector_cap",
                "daily_loss_limit", "drawdown_limit", "drawdown_size_multiplier", "token_env",
                "allowed_chat_ids", "base_url", "category", "endpoint", "api_key_env", "api_secret_env"):
        assert re.search(rf"^\s*{key}: .*  # \S", text, re.M), key


def test_init_bybit_config(tmp_path):
    s = from_dict(yaml.safe_load(config_text("bybit")))
    assert as_dict(s) == as_dict(Settings(market="bybit"))
    assert s.costs.sell_tax == 0.0


def test_commented_profile_examples_are_valid():
    body = "\n".join(line[2:] for line in PROFILE_EXAMPLES.splitlines())
    raw = yaml.safe_load(body)
    assert set(raw["profiles"]) == {"cautious", "aggressive"}
    for name in raw["profiles"]:
        s = from_dict({**raw, "profile": name})
        assert s.profile == name
    assert from_dict({**raw, "profile": "cautious"}).risk.max_positions == 5


def test_init_refuses_to_overwrite_without_force(tmp_path, run_cli):
    proj = tmp_path / "proj"
    assert run_cli(["init", proj])[0] == 0
    cfg = proj / "qtx.yaml"
    cfg.write_text(cfg.read_text() + "# my edit\n")
    code, out, err = run_cli(["init", proj, "--demo"])
    assert code == 2 and "--force" in err and str(cfg) in err
    assert cfg.read_text().endswith("# my edit\n")
    # The database alone also blocks (config deleted, data kept).
    cfg.unlink()
    code, _, err = run_cli(["init", proj])
    assert code == 2 and "qtx-krx-paper.sqlite" in err
    assert not cfg.exists()
    # --force replaces both, starting from an empty database.
    assert run_cli(["init", proj, "--demo", "--force"])[0] == 0
    code, out, _ = run_cli(["init", proj, "--force", "--json"])
    assert code == 0
    code, out, _ = run_cli(["--config", cfg, "status", "--json"])
    assert json.loads(out)["data"]["bars"] == 0


def test_init_json_shape(tmp_path, run_cli):
    code, out, _ = run_cli(["init", tmp_path / "p", "--market", "bybit", "--json"])
    assert code == 0
    d = json.loads(out)
    assert set(d) >= {"config", "database", "market", "mode", "schema_version", "demo"}
    assert d["market"] == "bybit" and d["mode"] == "paper" and d["demo"] is None
    assert d["database"].endswith("qtx-bybit-paper.sqlite")
    assert run_cli(["init", tmp_path / "q", "--market", "nyse"])[0] == 2


def test_demo_then_status_json(tmp_path, run_cli):
    code, out, _ = run_cli(["init", tmp_path, "--demo", "--json"])
    assert code == 0
    demo = json.loads(out)["demo"]
    assert demo["source"] == "synthetic" and demo["symbols"] == 36 and demo["bars_new"] == demo["bars"]
    code, out, _ = run_cli(["--config", tmp_path / "qtx.yaml", "status", "--json"])
    assert code == 0
    st = json.loads(out)
    assert st["config"] == str((tmp_path / "qtx.yaml").resolve())
    assert (st["market"], st["mode"], st["profile"]) == ("krx", "paper", None)
    assert st["database"]["schema_version"] >= 1 and st["database"]["path"].endswith(".sqlite")
    data = st["data"]
    assert data["source"] == "synthetic" and data["symbols"] == 36
    assert data["bars"] >= 36 * 750 and data["bars_by_source"] == {"synthetic": data["bars"]}
    assert data["first_date"] < data["last_date"]
    assert set(st["runs"]) >= {"collect", "signal", "execute", "report", "reconcile"}
    assert st["runs"]["collect"] is None


def test_status_text_says_synthetic(tmp_path, run_cli):
    run_cli(["init", tmp_path, "--demo"])
    code, out, _ = run_cli(["--config", tmp_path / "qtx.yaml", "status"])
    assert code == 0 and "synthetic" in out and "krx / paper" in out


def test_status_without_database_is_exit_2(tmp_config, run_cli):
    code, out, err = run_cli(["--config", tmp_config(), "status"])
    assert code == 2 and "qtx init" in err and out == ""


def test_an_error_message_prints_its_brackets_as_written(capsys):
    import typer

    from cli.common import fail

    try:
        fail("Kiwoom kt10000: [8050:지정단말기 인증에 실패했습니다] install '.[mcp]'", 2)
    except typer.Exit as e:
        assert e.exit_code == 2
    err = capsys.readouterr().err
    assert "[8050:" in err and ".[mcp]" in err
