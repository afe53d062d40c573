"""Shared fixtures for every qtx test.

- ``tmp_config(**overrides)``: write a ``qtx.yaml`` in ``tmp_path`` and return its path.
  Keyword arguments are top-level keys (nested ones as dicts: ``risk={"max_positions": 5}``);
  ``tmp_config(text="...")`` writes raw YAML instead; ``name=`` picks another file name.
  The database defaults to ``tmp_path/data/qtx-<market>-<mode>.sqlite``.
- ``qtx_settings``: the loaded ``Settings`` of a default ``tmp_config()``.
- ``qtx_db``: a fresh database for ``qtx_settings`` (closed after the test).
- ``run_cli(args, env=None, input=None)``: invoke ``qtx`` in-process with Typer's CliRunner;
  returns ``(exit_code, stdout, stderr)`` (stdout and stderr kept apart). An exception other
  than SystemExit is re-raised so a crash shows its traceback; pass ``allow_exception=True``
  to get exit code 1 instead.
- ``shared_data``: the ``shared/data`` folder next to the repository, or skip with a reason.
- ``repo_root``: the repository root; ``qtx_bin``: the installed ``qtx`` entry point, and
  ``subprocess_env(**extra)``: a clean environment, for tests that need a real subprocess.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

# Fixtures that live next to their helpers (the local Bot API server: ``fake``).
pytest_plugins = ["tests.telegram_helpers"]

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


class CliResult(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def tmp_config(tmp_path: Path) -> Callable[..., Path]:
    def make(*, text: str | None = None, name: str = "qtx.yaml", **overrides: Any) -> Path:
        path = tmp_path / name
        if text is None:
            text = yaml.safe_dump(overrides, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return make


@pytest.fixture
def qtx_settings(tmp_config):
    from pipeline.config import load

    return load(tmp_config())


@pytest.fixture
def qtx_db(qtx_settings) -> Iterator[Any]:
    from db import open_db

    s = qtx_settings
    db = open_db(s.db_path, market=s.market, mode=s.mode, create=True, capital=s.capital)
    yield db
    db.close()


@pytest.fixture
def run_cli(monkeypatch) -> Callable[..., CliResult]:
    from typer.testing import CliRunner

    from cli.main import app

    # The config must come from the test, never from the developer's environment.
    monkeypatch.delenv("QTX_CONFIG", raising=False)

    def invoke(args: Sequence[str], env: dict[str, str] | None = None, input: str | None = None,
               allow_exception: bool = False) -> CliResult:
        runner = CliRunner()
        res = runner.invoke(app, [str(a) for a in args], env=env, input=input)
        if res.exception is not None and not isinstance(res.exception, SystemExit) and not allow_exception:
            raise res.exception
        return CliResult(res.exit_code, res.stdout, res.stderr)

    return invoke


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared market data not present at {SHARED_DATA} (only on the dev machine)")
    return SHARED_DATA


@pytest.fixture
def qtx_bin() -> str:
    exe = Path(sys.executable).parent / "qtx"
    if exe.exists():
        return str(exe)
    found = shutil.which("qtx")
    if not found:
        pytest.skip("the qtx entry point is not installed (run make install)")
    return found


def _subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "QTX_CONFIG"}
    env.update(extra)
    return env


@pytest.fixture
def subprocess_env() -> Callable[..., dict[str, str]]:
    """``subprocess_env(**extra)``: the environment for a ``qtx`` subprocess (ours without
    QTX_CONFIG, so the developer's own config never leaks in), plus ``extra``."""
    return _subprocess_env
