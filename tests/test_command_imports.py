"""What the scheduled commands import (issue 14): launchd and Telegram start `qtx status` and
`qtx signal` many times a day, and most of a cold start is imports.  Each command runs through
the `qtx` entry point in its own process on a small demo workspace; the probe then lists what
was loaded.  A module named here costs a scheduled run CPU it does not need:

- rich: only drawing for people needs it (0.05 s); `--json` prints one JSON document.
- pydantic (and typer's `_adapters`, which builds a pydantic TypeAdapter for each option
  value): 0.2 s; qtx's options are text and flags.
- importlib.metadata: 0.05 s; only a strategy plugin or the holidays version check asked it.
- click: typer carries its own; the standalone one was a second copy.
- brokers.base: status only catches the brokers' errors (brokers.errors).
- hashlib (OpenSSL, 6 ms): only a client order id for a long symbol needs a digest.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer

_PROBE = """
import json, os, sys
sys.argv = ["qtx", *sys.argv[1:]]
from cli.main import run
code = run() or 0
with open(os.environ["PROBE_OUT"], "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules),
               "openblas": os.environ.get("OPENBLAS_NUM_THREADS")}, f)
"""

NOT_FOR_JSON = ("rich", "pydantic", "typer._adapters", "importlib.metadata", "click", "pandas",
                "holidays", "matplotlib", "hashlib")


def _run(args, tmp_path: Path, env: dict[str, str]) -> tuple[dict, str]:
    out = tmp_path / "probe.json"
    p = subprocess.run([sys.executable, "-c", _PROBE, *map(str, args)], capture_output=True,
                       text=True, timeout=300, env=dict(env, PROBE_OUT=str(out)))
    assert out.exists(), p.stderr
    probe = json.loads(out.read_text())
    assert probe["code"] == 0, p.stderr
    return probe, p.stdout


def _loaded(probe: dict, names) -> list[str]:
    return [m for m in probe["modules"]
            if any(m == n or m.startswith(n + ".") for n in names)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    from pipeline.init_project import init_project

    ws = tmp_path_factory.mktemp("imports")
    made = init_project(ws, market="krx", demo=True)
    return Path(made["config"]), made["demo"]["last_date"]


@pytest.fixture
def env(subprocess_env) -> dict[str, str]:
    e = subprocess_env()
    e.pop("OPENBLAS_NUM_THREADS", None)
    return e


def test_status_json_loads_no_rich_pydantic_metadata_nor_broker_interface(demo, tmp_path, env):
    cfg, last = demo
    probe, stdout = _run(["--config", cfg, "status", "--json"], tmp_path, env)
    assert json.loads(stdout)["data"]["last_date"] == last
    assert _loaded(probe, (*NOT_FOR_JSON, "brokers.base", "numpy")) == []
    assert "brokers.errors" in probe["modules"]  # the probe sees what status does load


def test_signal_json_loads_no_rich_pydantic_metadata_nor_the_collect_command(demo, tmp_path, env):
    cfg, last = demo
    probe, stdout = _run(["--config", cfg, "signal", "--asof", last, "--json"], tmp_path, env)
    assert json.loads(stdout)["date"] == last
    # nor the backtest stage (its file writing and metrics): the market loaders are pipeline.history
    assert _loaded(probe, (*NOT_FOR_JSON, "cli.cmd_collect", "pipeline.stages.backtest", "tempfile")) == []
    assert "numpy" in probe["modules"]  # signal does compute: the probe sees a heavy import


def test_the_plain_status_still_draws_with_rich(demo, tmp_path, env):
    probe, stdout = _run(["--config", demo[0], "status"], tmp_path, env)
    assert "market / mode" in stdout and "last runs" in stdout
    assert "rich.table" in probe["modules"]


def test_help_loads_no_rich_pydantic_nor_click(tmp_path, env):
    probe, stdout = _run(["--help"], tmp_path, env)
    assert "Usage: qtx" in stdout
    assert _loaded(probe, ("rich", "pydantic", "typer._adapters", "click", "importlib.metadata")) == []


def test_openblas_runs_one_thread_unless_the_operator_says_otherwise(demo, tmp_path, env):
    cfg, last = demo
    args = ["--config", cfg, "signal", "--asof", last, "--json"]
    probe, _ = _run(args, tmp_path, env)
    assert probe["openblas"] == "1"
    probe, _ = _run(args, tmp_path, dict(env, OPENBLAS_NUM_THREADS="3"))
    assert probe["openblas"] == "3"


def test_text_and_flags_are_taken_as_given_and_other_values_still_converted():
    """The entry point's shortcut past typer's conversion (cli.main._PlainParams) gives what
    typer would: text as typed, flags as bools; a non-text default is still converted by
    typer and a number still checked by it."""
    import typer.main as tm
    from typer.models import CommandInfo

    from cli.main import _AsGiven, _Command

    seen = {}

    def cmd(name: str = typer.Option("x", "--name"), tag: str = typer.Option(7, "--tag"),
            flag: bool = typer.Option(False, "--flag"), n: int = typer.Option(1, "--n", min=1)):
        seen.update(name=name, tag=tag, flag=flag, n=n)

    click_cmd = tm.get_command_from_info(CommandInfo(name="t", callback=cmd, cls=_Command),
                                         pretty_exceptions_short=True, rich_markup_mode=None)
    click_cmd.main(["--name", "  spaced ", "--flag", "--n", "3"], standalone_mode=False)
    assert seen == {"name": "  spaced ", "tag": "7", "flag": True, "n": 3}
    converters = {p.name: p._runtime_param for p in click_cmd.params}
    assert converters["name"] is _AsGiven and converters["flag"] is _AsGiven
    assert converters["tag"] is not _AsGiven and converters["n"] is not _AsGiven  # typer's own
    with pytest.raises(typer.BadParameter, match="greater than or equal to 1"):
        click_cmd.main(["--n", "0"], standalone_mode=False)


def test_the_script_leaves_without_teardown_yet_says_and_writes_everything(demo, tmp_path, env, qtx_bin):
    """`qtx` ends with os._exit once the command is done (the interpreter's teardown was a tenth
    of a backtest): output piped to a file, files written and exit codes are as before."""
    config, _ = demo
    trades = tmp_path / "trades.csv"
    p = subprocess.run([qtx_bin, "--config", str(config), "backtest", "--json", "--trades-out", str(trades)],
                       capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)  # the whole document, flushed before leaving
    assert summary["fills"] > 0 and len(trades.read_text().splitlines()) == summary["fills"] + 1
    bad = subprocess.run([qtx_bin, "--config", str(tmp_path / "missing.yaml"), "status"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode == 2 and "config file not found" in bad.stderr
    said = subprocess.run([sys.executable, "-c", "from cli.main import leave; print('x', end=''); leave('why')"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert (said.returncode, said.stdout, said.stderr.strip()) == (1, "x", "why")


def test_backtest_json_off_a_terminal_loads_no_rich(demo, tmp_path, env):
    config, _ = demo
    probe, stdout = _run(["--config", config, "backtest", "--json"], tmp_path, env)
    assert _loaded(probe, ("rich", "pydantic", "typer._adapters")) == []
    assert json.loads(stdout)["fills"] > 0
