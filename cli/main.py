"""The ``qtx`` command line: Typer commands only, each a few lines over a pipeline function."""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from cli.common import AppContext, setup_logging

app = typer.Typer(
    name="qtx",
    help=(
        "qtx: a personal quantitative trading system. The Sennot strategy decides, the risk "
        "layer vets, a broker adapter (paper, Bybit, Kiwoom) places orders, SQLite records "
        "everything, and Telegram supervises.\n\n"
        "The config is found from --config, then $QTX_CONFIG, then ./qtx.yaml. Exit codes: "
        "0 done (also nothing to do / outside market hours), 1 failed, 2 bad usage or config."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[str | None, typer.Option(
        "--config", "-c", help="Path to qtx.yaml (default: $QTX_CONFIG, then ./qtx.yaml).",
        envvar=None,
    )] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")] = False,
) -> None:
    setup_logging(verbose)
    ctx.obj = AppContext(config_path=config)
    # Secrets from the 0600 file launchd points at ($QTX_ENV_FILE), before anything needs them.
    from cli.common import EXIT_USAGE, err, fail
    from pipeline.config import ConfigError
    from pipeline.envfile import load_from_environment

    try:
        load_from_environment(warn=lambda m: err.print(f"warning: {m}", highlight=False))
    except ConfigError as e:
        fail(str(e), EXIT_USAGE)


# Each command module registers itself on ``app`` when imported.
COMMAND_MODULES = [
    "cli.cmd_init",
    "cli.cmd_collect",
    "cli.cmd_status",
    "cli.cmd_backtest",
    "cli.cmd_stages",
    "cli.cmd_telegram",
    "cli.cmd_launchd",
    "cli.cmd_doctor",
    "cli.cmd_mcp",
]

for _mod in COMMAND_MODULES:
    importlib.import_module(_mod)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
