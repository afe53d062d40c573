"""``qtx launchd print|install|uninstall|catchup``: the macOS schedule."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from cli.common import EXIT_FAILED, EXIT_USAGE, ctx_of, emit_json, err, fail, guarded, out

launchd_app = typer.Typer(
    help=("The macOS schedule.\n\nlaunchd jobs for the configured market and mode (collect, signal, "
          "report, reconcile, execute with its retry, and the fill syncs, at their market times converted to the Mac's zone, the Telegram listener kept alive, "
          "and a catch-up job run at boot). Daemons (--daemon, the default) start at boot "
          "without a login and are recommended for an unattended Mac; agents (--agent) start "
          "after the user logs in. qtx writes the plists and prints the launchctl commands; it "
          "never runs launchctl itself."),
    no_args_is_help=True,
    rich_markup_mode=None,  # plain click help, like the root (cli.main)
)

DAEMON_HELP = "LaunchDaemons (boot, no login; the default) or LaunchAgents (after login)."
TZ_HELP = "The Mac's time zone to convert to (IANA name; default: the system's)."
QTX_HELP = "Absolute path of the qtx executable the jobs run (default: this installation's)."
ENV_HELP = ("The 0600 secrets file (KEY=value lines) the jobs load through QTX_ENV_FILE "
            "(default: ~/.config/qtx/qtx.env of the user the jobs run as).")
USER_HELP = "Daemons: the account the jobs run as (default: $SUDO_USER, else the current user)."
JSON_HELP = "Print one JSON document on stdout."


def _user() -> str:
    import getpass

    return os.environ.get("SUDO_USER") or getpass.getuser()


def _home(user: str) -> str:
    import pwd

    try:
        return pwd.getpwnam(user).pw_dir
    except KeyError:
        return str(Path.home())


def _uid(user: str) -> int:
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return os.getuid()


def _target(ctx: typer.Context, daemon: bool, tz: str | None, qtx: str | None,
            env_file: str | None, no_env_file: bool, user: str | None):
    from launchd import plists, schedule
    from pipeline.schedule.calendar import calendar_conf

    s = ctx_of(ctx).settings
    if not s.config_path:
        fail("no config file: pass --config", EXIT_USAGE)
    zone_name = tz or schedule.local_zone_name() or "UTC"
    try:
        schedule.zone(zone_name)
    except ValueError as e:
        fail(str(e), EXIT_USAGE)
    exe = Path(qtx).expanduser().absolute() if qtx else schedule.which_qtx()
    if exe is None:
        fail("cannot find the qtx executable: pass --qtx /abs/path/to/qtx", EXIT_USAGE)
    who = user or _user()
    home = _home(who)
    env = None if no_env_file else Path(env_file or f"{home}/.config/qtx/qtx.env").expanduser().absolute()
    try:
        conf = calendar_conf(s)
    except ValueError as e:
        fail(str(e), EXIT_USAGE)
    return plists.Target(
        market=s.market, mode=s.mode, qtx=exe, config=Path(s.config_path).absolute(),
        workdir=s.base_dir, logs=s.base_dir / "logs", daemon=daemon,
        user=who if daemon else None, home=home, env_file=env, local_zone=zone_name,
        on=date.today(), late_open=dict(conf.late_open)), who


def _warn(warnings: list[str]) -> None:
    for w in warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False)


def _commands(title: str, cmds: list[str]) -> None:
    out.print(f"\n# {title}")
    for c in cmds:
        out.print(c, highlight=False, markup=False, soft_wrap=True)


@launchd_app.command("print")
def print_cmd(
    ctx: typer.Context,
    daemon: Annotated[bool, typer.Option("--daemon/--agent", help=DAEMON_HELP)] = True,
    tz: Annotated[str | None, typer.Option("--tz", help=TZ_HELP)] = None,
    qtx: Annotated[str | None, typer.Option("--qtx", help=QTX_HELP)] = None,
    env_file: Annotated[str | None, typer.Option("--env-file", help=ENV_HELP)] = None,
    no_env_file: Annotated[bool, typer.Option("--no-env-file", help="Do not reference a secrets file.")] = False,
    user: Annotated[str | None, typer.Option("--user", help=USER_HELP)] = None,
    dir_: Annotated[str | None, typer.Option("--dir", help="Show paths in this directory.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Show the plists `install` would write (nothing is written), the warnings about the
    Mac's time zone, and the launchctl commands."""
    from launchd import install

    def body():
        t, who = _target(ctx, daemon, tz, qtx, env_file, no_env_file, user)
        p = install.plan(t, Path(dir_).expanduser().absolute() if dir_ else None, _uid(who))
        if json_out:
            emit_json(p.to_dict())
            _warn(p.warnings)
            return
        for j in p.jobs:
            out.print(f"<!-- {p.directory / j.filename} -->", highlight=False, markup=False)
            out.print(j.dumps().decode(), highlight=False, markup=False, soft_wrap=True)
        _commands("load with", p.load_commands())
        _commands("check with", p.check_commands())
        _warn(p.warnings)

    guarded(body)


@launchd_app.command("install")
def install_cmd(
    ctx: typer.Context,
    daemon: Annotated[bool, typer.Option("--daemon/--agent", help=DAEMON_HELP)] = True,
    dir_: Annotated[str | None, typer.Option(
        "--dir", help="Write here instead of /Library/LaunchDaemons or ~/Library/LaunchAgents.")] = None,
    tz: Annotated[str | None, typer.Option("--tz", help=TZ_HELP)] = None,
    qtx: Annotated[str | None, typer.Option("--qtx", help=QTX_HELP)] = None,
    env_file: Annotated[str | None, typer.Option("--env-file", help=ENV_HELP)] = None,
    no_env_file: Annotated[bool, typer.Option("--no-env-file", help="Do not reference a secrets file.")] = False,
    user: Annotated[str | None, typer.Option("--user", help=USER_HELP)] = None,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Write the plists (0644) for the configured market and mode, remove stale ones of the same
    market and mode, create the logs directory, and print the exact launchctl bootstrap/bootout
    commands to run. Re-run after changing the config (late opens, paths) or the Mac's zone."""
    from launchd import install

    def body():
        t, who = _target(ctx, daemon, tz, qtx, env_file, no_env_file, user)
        p = install.plan(t, Path(dir_).expanduser().absolute() if dir_ else None, _uid(who))
        chown = None
        if daemon and os.geteuid() == 0 and who != "root":
            import pwd

            pw = pwd.getpwnam(who)
            chown = (pw.pw_uid, pw.pw_gid)
        try:
            res = install.install(p, chown)
        except PermissionError as e:
            fail(str(e), EXIT_FAILED)
        if json_out:
            emit_json(res)
        else:
            out.print(f"wrote {len(res['written'])} plists to {res['directory']}; logs in {res['logs']}")
            for r in res["removed"]:
                out.print(f"removed stale {r}", highlight=False)
            _commands("now run", res["load_commands"])
            _commands("check with", res["check_commands"])
        _warn(res["warnings"])

    guarded(body)


@launchd_app.command("uninstall")
def uninstall_cmd(
    ctx: typer.Context,
    daemon: Annotated[bool, typer.Option("--daemon/--agent", help=DAEMON_HELP)] = True,
    dir_: Annotated[str | None, typer.Option("--dir", help="Remove from this directory instead.")] = None,
    user: Annotated[str | None, typer.Option("--user", help=USER_HELP)] = None,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Remove this market and mode's plists and print the launchctl bootout commands that
    unload the jobs (run them too: removing a file does not stop a loaded job)."""
    from launchd import install, plists

    def body():
        s = ctx_of(ctx).settings
        directory = Path(dir_).expanduser().absolute() if dir_ else plists.default_dir(daemon)
        prefix = f"com.qtx.{s.market}.{s.mode}."
        try:
            res = install.uninstall(directory, prefix, daemon, _uid(user or _user()),
                                    install.known_labels(s.market, s.mode))
        except PermissionError as e:
            fail(f"{e} (daemons: run with sudo)", EXIT_FAILED)
        if json_out:
            emit_json(res)
            return
        out.print(f"removed {len(res['removed'])} plists from {res['directory']}")
        _commands("now run", res["unload_commands"])

    guarded(body)


@launchd_app.command("catchup")
def catchup_cmd(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say which stages would run.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Run the scheduled stages missed during downtime that are still useful, in order
    (reconcile before execute), each as its own `qtx <stage>` so each keeps its lock and
    window check; queue a Telegram message about the gap. The catch-up job runs this at boot."""
    import sys

    from launchd import schedule
    from pipeline.schedule.catchup import run_catchup
    from pipeline.schedule.gate import now

    def body():
        s = ctx_of(ctx).settings
        exe = schedule.which_qtx() or Path(sys.argv[0]).absolute()
        res = run_catchup(s, str(exe), now=now(), dry_run=dry_run)  # QTX_NOW for dry checks
        if json_out:
            emit_json(res)
        else:
            out.print(f"catch-up: {', '.join(res['stages']) or 'nothing to catch up'}"
                      + (" (dry run)" if dry_run else ""))
            for r in res["ran"]:
                out.print(f"  {r['stage']}: exit {r['exit_code']}")
        if res.get("stopped_at"):
            raise typer.Exit(EXIT_FAILED)

    guarded(body)
