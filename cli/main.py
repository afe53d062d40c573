"""The ``qtx`` command line: Typer commands only, each a few lines over a pipeline function.

Commands are listed in ``COMMANDS`` and imported only when they run: launchd and Telegram
start ``qtx`` many times a day, and importing every command module (pandas, the engine, the
brokers) for each of them cost most of a cold start. ``qtx --help`` lists the commands from
the registry's one-line help without importing any (a test keeps that help equal to the first
sentence of each command's docstring).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:  # typer carries its own click; the standalone one is not loaded at run time
    import click

# name -> (module, attribute, one-line help). The attribute is the command's function, or a
# Typer app for a command with subcommands (launchd). Order is the order --help lists them.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("cli.cmd_init", "init",
             "Write a commented qtx.yaml (every key at its default) and create the database."),
    "collect": ("cli.cmd_collect", "collect",
                "Import daily bars: one collect stage run (locked, recorded in runs)."),
    "signal": ("cli.cmd_stages", "signal", "Decide for the latest stored bar (or --asof)."),
    "execute": ("cli.cmd_stages", "execute",
                "Vet the pending signals with the risk guard and send the approved orders."),
    "sync": ("cli.cmd_stages", "sync_fills",
             "Record the broker's new fills and the states of qtx's open orders."),
    "report": ("cli.cmd_stages", "report", "The daily report and equity chart."),
    "reconcile": ("cli.cmd_stages", "reconcile",
                  "Compare the broker with the database and repair what differs."),
    "replay": ("cli.cmd_stages", "replay",
               "Run the daily pipeline as of each past decision date in turn."),
    "backtest": ("cli.cmd_backtest", "backtest",
                 "Run the Sennot rules and the risk layer over the stored bars."),
    "status": ("cli.cmd_status", "status",
               "Show the config, database, stored bars, trading state and last runs."),
    "positions": ("cli.cmd_status", "positions_cmd",
                  "Open positions: quantity, prices, P&L, days held, stop and trailing levels."),
    "analysis": ("cli.cmd_status", "analysis_cmd",
                 "Sennot summary (Telegram's /analysis)."),
    "telegram": ("cli.cmd_telegram", "telegram_cmd", "Run the Telegram listener."),
    "launchd": ("cli.cmd_launchd", "launchd_app", "The macOS schedule."),
    "doctor": ("cli.cmd_doctor", "doctor",
               "Check everything an unattended machine needs and say what to do about each "
               "problem."),
    "mcp": ("cli.cmd_mcp", "mcp_cmd",
            "Serve the Model Context Protocol on stdin/stdout for an AI assistant."),
}


class _AsGiven:
    """The conversion of a ``str`` or ``bool`` parameter: a value that already has its type,
    or none, as it is; anything else through typer's own conversion."""

    @staticmethod
    def coerce(value, param, ctx):
        if value is None or isinstance(value, param.type_descriptor.annotation):
            return value
        param._runtime_param = None  # typer builds its converter on the next line
        return param.get_runtime_param().coerce(value, param=param, ctx=ctx)


class _PlainParams:
    """Takes ``str`` and ``bool`` values as given instead of through typer's conversion.

    Typer (0.2x) converts each parameter's value, an unset option's and the help flag's too,
    with a pydantic TypeAdapter it builds on first use: importing pydantic and building one
    cost about 0.2 s of CPU on each qtx start, more than a scheduled command's own work. Text
    from argv is already a ``str``, a flag already a ``bool``. Other types keep typer's
    conversion and its error messages; on a typer without these internals nothing changes."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        for p in params:
            d = getattr(p, "type_descriptor", None)
            unconverted = getattr(p, "_runtime_param", False) is None  # typer built none yet
            if (unconverted and d is not None and d.annotation in (str, bool)
                    and d.parameter_info.parser is None and p.nargs == 1 and not p.multiple):
                p._runtime_param = _AsGiven
        return params


class _Command(_PlainParams, TyperCommand):
    pass


def load_command(name: str) -> click.Command:
    """Import the command's module and build its click command."""
    import typer.main as tm
    from typer.models import CommandInfo

    module, attr, _help = COMMANDS[name]
    obj = getattr(importlib.import_module(module), attr)
    if isinstance(obj, typer.Typer):
        cmd = tm.get_group(obj)
        cmd.name = name
        return cmd
    return tm.get_command_from_info(CommandInfo(name=name, callback=obj, cls=_Command),
                                    pretty_exceptions_short=True, rich_markup_mode=None)


class LazyGroup(_PlainParams, TyperGroup):
    """The root group: commands come from ``COMMANDS``, each imported when it runs."""

    def __init__(self, **attrs) -> None:
        attrs["commands"] = {}  # the registry is the one list (decorators elsewhere are inert)
        super().__init__(**attrs)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        if cmd_name not in self.commands:
            self.commands[cmd_name] = load_command(cmd_name)
        return self.commands[cmd_name]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # From the registry: listing the commands imports none of them.
        with formatter.section("Commands"):
            formatter.write_dl([(name, h) for name, (_m, _a, h) in COMMANDS.items()])


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("qtx")
        except PackageNotFoundError:  # run from a checkout that was never installed
            v = "unknown"
        typer.echo(f"qtx {v}")
        raise typer.Exit()


app = typer.Typer(
    name="qtx",
    cls=LazyGroup,
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
    # Plain click help: it rewraps docstrings to the terminal, shows flags without a metavar,
    # and does not import rich's markdown machinery on every start.
    rich_markup_mode=None,
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[str | None, typer.Option(
        "--config", "-c", help="Path to qtx.yaml (default: $QTX_CONFIG, then ./qtx.yaml).",
        envvar=None,
    )] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress lines on stderr (warnings and errors still show).")] = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    from cli.common import EXIT_USAGE, AppContext, err, fail, set_quiet, setup_logging
    from pipeline.config import ConfigError
    from pipeline.envfile import load_from_environment

    setup_logging(verbose)
    set_quiet(quiet)
    ctx.obj = AppContext(config_path=config)
    # Secrets from the 0600 file launchd points at ($QTX_ENV_FILE), before anything needs them.
    try:
        load_from_environment(warn=lambda m: err.print(f"warning: {m}", highlight=False))
    except ConfigError as e:
        fail(str(e), EXIT_USAGE)


def run() -> int | str | None:
    """The command line as ``qtx`` runs it; returns the exit code typer's ``sys.exit`` carries."""
    # OpenBLAS starts a thread per core when numpy loads (0.34 -> 0.17 s CPU for `import numpy`
    # on a 2-core VM, more on more cores); qtx does no BLAS work. The operator's own setting wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        app()
    except SystemExit as done:
        return done.code
    return 0


def main() -> NoReturn:
    """The ``qtx`` script."""
    leave(run())


def leave(code: int | str | None) -> NoReturn:
    """End the process once the command is done, without the interpreter's teardown.

    Freeing every module and array one by one is about a tenth of a backtest's CPU time (0.15 s
    on the US market), and nothing is left to do by then: every stage commits or rolls back its
    own transactions and closes its files, and a process killed at any line is safe by design.
    What is still buffered (output, log handlers) is flushed first."""
    import logging

    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"), as Python would print it
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (`| head`), a closed stream
            pass
    os._exit(code)


if __name__ == "__main__":
    main()
