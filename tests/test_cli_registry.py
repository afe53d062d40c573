"""The command registry (cli.main.COMMANDS): lazy imports, help that cannot drift, --version."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer.main

from cli.main import COMMANDS, app, load_command


def first_sentence(text: str) -> str:
    """The first sentence of a help text's first paragraph, on one line."""
    para = " ".join(text.strip().split("\n\n")[0].split())
    cut = para.find(". ")
    return para if cut < 0 else para[: cut + 1]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_registry_help_is_the_first_sentence_of_the_command_help(name):
    cmd = load_command(name)
    assert COMMANDS[name][2] == first_sentence(cmd.help or ""), (
        f"cli.main.COMMANDS[{name!r}] help differs from its docstring's first sentence")


def _complete(cmd, path):
    assert (cmd.help or "").strip(), f"`qtx {path}` has no help"
    for p in cmd.params:
        if p.param_type_name in ("option", "argument") and p.name != "help":
            assert (getattr(p, "help", None) or "").strip(), f"`qtx {path}`: {p.name} has no help"
    for sub_name, sub in (getattr(cmd, "commands", None) or {}).items():
        _complete(sub, f"{path} {sub_name}")


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_registered_command_has_complete_help(name, run_cli):
    _complete(load_command(name), name)
    code, out, _ = run_cli([name, "--help"], env={"COLUMNS": "80"})
    assert code == 0 and f"Usage: qtx {name}" in " ".join(out.split())
    assert "<bool>" not in out  # a flag takes no value
    assert max(len(line) for line in out.splitlines()) <= 80


def test_top_level_help_lists_every_command_with_its_registry_help(run_cli):
    code, out, _ = run_cli(["--help"], env={"COLUMNS": "80"})
    assert code == 0
    flat = " ".join(out.split())
    for name, (_m, _a, help_) in COMMANDS.items():
        assert f"{name} {help_}" in flat
    assert max(len(line) for line in out.splitlines()) <= 80


def test_the_root_group_builds_commands_from_the_registry_only():
    group = typer.main.get_command(app)
    ctx = group.context_class(group)
    assert group.list_commands(ctx) == list(COMMANDS)
    assert group.get_command(ctx, "no-such-command") is None


_PROBE = """
import json, sys
from cli.main import app
try:
    app(sys.argv[1:], prog_name="qtx")
except SystemExit:
    pass
heavy = ("pandas", "matplotlib", "pydantic", "numpy", "holidays")
loaded = sorted(m for m in sys.modules
                if m.startswith("cli.cmd_") or m.split(".")[0] in heavy)
print(json.dumps(loaded), file=sys.stderr)
"""


def _modules_loaded(args, env) -> list[str]:
    p = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True,
                       env=env, timeout=120)
    return json.loads(p.stderr.strip().splitlines()[-1])


def test_help_imports_no_command_module_and_nothing_heavy(subprocess_env):
    assert _modules_loaded(["--help"], subprocess_env()) == []
    # A command's own help loads that command's module and no other.
    loaded = _modules_loaded(["doctor", "--help"], subprocess_env())
    assert [m for m in loaded if m.startswith("cli.cmd_")] == ["cli.cmd_doctor"]


def test_status_imports_neither_pandas_nor_matplotlib_nor_other_commands(tmp_path, subprocess_env):
    from pipeline.init_project import init_project

    init_project(tmp_path, market="krx", demo=False)
    loaded = _modules_loaded(["--config", str(tmp_path / "qtx.yaml"), "status"], subprocess_env())
    assert [m for m in loaded if m.startswith("cli.cmd_")] == ["cli.cmd_status"]
    assert not [m for m in loaded if m.split(".")[0] in ("pandas", "matplotlib")]


def test_version(run_cli):
    from importlib.metadata import version

    code, out, _ = run_cli(["--version"])
    assert code == 0 and out.strip() == f"qtx {version('qtx')}"
