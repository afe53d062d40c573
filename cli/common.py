"""What every command shares: the config and database it works on, exit codes, --json output.

Exit codes (interfaces.md): 0 done (also "nothing to do", "outside market hours"), 1 failed,
2 bad usage or bad config.  With ``--json`` a command prints exactly one JSON document on
stdout; logs and progress go to stderr.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import typer

from pipeline.config import ConfigError, Settings, load
from pipeline.schedule.stage import StageBusy
from pipeline.workspace import (
    DB,
    BrokerError,
    DatabaseError,
    MissingKeys,
    explain_database_error,
    open_database,
)


class _LazyConsole:
    """A rich ``Console`` made when first used: a ``--json`` run draws nothing for people and
    so never loads rich (0.05 s of CPU on each scheduled start)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console = None

    @property
    def console(self):
        """The Console itself, for rich's ``Progress`` and ``Live`` (they enter it as a context)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    @property
    def made(self) -> bool:
        """Whether rich has drawn (or been asked to draw) anything on this stream yet."""
        return self._console is not None

    @property
    def is_terminal(self) -> bool:
        """Whether output goes to a terminal; a pipe or a log file is told without loading rich
        (rich says the same when the stream is no tty and no FORCE_TERMINAL/TTY_COMPATIBLE)."""
        if self._console is None and not any(v in os.environ for v in ("FORCE_TERMINAL", "TTY_COMPATIBLE")):
            stream = sys.stderr if self._options.get("stderr") else sys.stdout
            try:
                if not stream.isatty():
                    return False
            except (AttributeError, ValueError):  # a replaced or closed stream: ask rich
                pass
        return self.console.is_terminal

    def __getattr__(self, name: str) -> Any:  # what the proxy lacks: the Console's own
        return getattr(self.console, name)


# Rich output for people goes to stdout; logs and progress to stderr.
out = _LazyConsole()
err = _LazyConsole(stderr=True)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_quiet = False  # --quiet: no progress lines


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    return _quiet


def progress_bar(label: str):
    """The progress bar of long work on a terminal (stderr, gone when done): ``label``, the bar,
    done/total, what is being done (the task's description) and the time taken.  Rich loads here."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                    TimeElapsedColumn(), console=err.console, transient=True)


def progress_line(message: str) -> None:
    """One line per stage of long work on stderr, terminal or not (a log file under launchd
    shows how far a replay or an import got); ``--quiet`` silences it."""
    if _quiet:
        return
    if not err.made:  # nothing drawn with rich yet: a plain line, without loading it
        print(message, file=sys.stderr, flush=True)
    else:
        err.print(message, highlight=False, markup=False, soft_wrap=True)


@dataclass
class AppContext:
    config_path: str | None = None
    _settings: Settings | None = field(default=None, repr=False)
    _db: DB | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load(self.config_path)
        return self._settings

    @property
    def db(self) -> DB:
        if self._db is None:
            s = self.settings
            self._db = open_database(s)
        return self._db

    def __post_init__(self) -> None:
        global _current
        _current = self  # the workspace of the command running now: named in error messages

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def ctx_of(ctx: typer.Context) -> AppContext:
    obj = ctx.find_root().obj
    if obj is None:
        obj = AppContext()
        ctx.find_root().obj = obj
    return obj


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record, so a CLI invoked
    several times in one process (tests) never writes to a stream that was swapped out."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


_verbose = False  # --verbose: a failure also prints its traceback


def setup_logging(verbose: bool = False) -> None:
    global _verbose
    _verbose = verbose
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)


def emit_json(data: Any) -> None:
    """The one JSON document a --json command prints."""
    sys.stdout.write(json.dumps(data, indent=2, default=_json_default, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _json_default(o: Any) -> Any:
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


def date_option(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> str | None:
    """The one date parser of every command (``callback=date_option`` on a date option): a
    real ``YYYY-MM-DD`` date, not after the market's current date (by ``windows_gate.now()``,
    which honours ``$QTX_NOW``), or exit 2 naming the option and the reason."""
    if value is None:
        return None
    try:
        return check_date_text(value, _market_today(ctx))
    except ValueError as e:
        raise typer.BadParameter(str(e), ctx=ctx, param=param) from None


def check_date(value: str | None, option: str = "--asof") -> str | None:
    """A real YYYY-MM-DD date or exit 2 naming the option (for dates not declared with
    ``callback=date_option``; the future is judged there, where the market is known)."""
    if value is None:
        return None
    try:
        return check_date_text(value)
    except ValueError as e:
        fail(f"{option}: {e}", EXIT_USAGE)


def check_date_text(value: str, today: str | None = None) -> str:
    """``value`` as an ISO date, or ``ValueError`` saying why not (impossible, a word, the
    future)."""
    from datetime import date

    text = value.strip()
    if not (len(text) == 10 and text[4] == "-" and text[7] == "-"):
        raise ValueError(f"{value!r} is not a date: write YYYY-MM-DD, e.g. 2024-01-31")
    try:
        d = date.fromisoformat(text).isoformat()
    except ValueError as e:
        raise ValueError(f"{value!r} is not a real date ({e})") from None
    if today is not None and d > today:
        raise ValueError(f"{d} is in the future (the market's date is {today})")
    return d


def _market_today(ctx: typer.Context) -> str | None:
    """The market's current date, when the config can be read (a bad config is reported by
    the command itself, with its own message)."""
    from pipeline.schedule import calendar as cal
    from pipeline.schedule.gate import now

    app_ctx = ctx.find_root().obj
    if not isinstance(app_ctx, AppContext):
        return None
    try:
        market = app_ctx.settings.market
        return cal.market_date(market, now()).isoformat()
    except ConfigError:
        return None


def check_range(start: str | None, end: str | None) -> None:
    """``--start`` after ``--end`` is bad usage (exit 2), not an empty result."""
    if start and end and start > end:
        fail(f"--start {start} is after --end {end}", EXIT_USAGE)


def output_file(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> str | None:
    """``callback=output_file`` on an option naming a file qtx writes: a folder, a missing or
    unwritable folder is exit 2 before any work is done (not a traceback after a long run)."""
    import os
    from pathlib import Path

    if value is None:
        return None
    p = Path(value).expanduser()
    if p.is_dir():
        raise typer.BadParameter(f"{value} is a folder: give a file name in it", ctx=ctx, param=param)
    parent = p.parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise typer.BadParameter(f"{parent} {what}", ctx=ctx, param=param)
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise typer.BadParameter(f"{p if p.exists() else parent} is not writable", ctx=ctx, param=param)
    return value


def fail(message: str, code: int = EXIT_FAILED) -> None:
    # soft_wrap: a message naming a long path stays on one line (greppable, not folded at 80).
    # The message is text, never markup: "[mcp]" or "[8050:...]" must print as written.
    from rich.markup import escape

    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def guarded(fn: Callable[[], Any]) -> Any:
    """Run a command body, turning known errors into clear messages and exit codes.

    A foreseeable failure is named where it happens (ConfigError, DatabaseError, BrokerError,
    ...); what is left is caught last so no traceback reaches the operator: one line naming
    the error, exit 1, and the traceback only with ``--verbose``."""
    try:
        return fn()
    except ConfigError as e:
        fail(str(e), EXIT_USAGE)
    except DatabaseError as e:
        fail(str(e), e.exit_code)
    except StageBusy as e:  # another run of the stage is at work: nothing to do, exit 0
        err.print(str(e), highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_OK) from None
    except MissingKeys as e:  # a setup problem, named: exit 2
        fail(str(e), EXIT_USAGE)
    except BrokerError as e:  # the broker refused or could not be reached: one line, exit 1
        fail(f"broker: {e}", EXIT_FAILED)
    except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # noqa: BLE001 - the last resort: one line, never a traceback
        db_err = explain_database_error(e, _database_path())
        if db_err is not None:
            _traceback_if_verbose()
            fail(str(db_err), db_err.exit_code)
        if isinstance(e, OSError) and e.filename:  # a file qtx was told to read or write
            _traceback_if_verbose()
            fail(f"{e.filename}: {e.strerror or e}", EXIT_FAILED)
        _traceback_if_verbose()
        hint = "" if _verbose else " (run with --verbose for the traceback)"
        fail(f"{type(e).__name__}: {e}{hint}", EXIT_FAILED)


_current: AppContext | None = None


def _database_path() -> str | None:
    """The database the running command works on, to name it in a message."""
    obj = _current
    if obj is None:
        return None
    if obj._db is not None:
        return str(obj._db.path)
    try:
        return str(obj._settings.db_path) if obj._settings is not None else None
    except Exception:  # noqa: BLE001 - only for a message
        return None


def _traceback_if_verbose() -> None:
    if _verbose:
        import traceback

        traceback.print_exc(file=sys.stderr)
