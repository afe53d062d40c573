"""launchd property lists for one market and mode, built from the templates with ``plistlib``.

Jobs (label ``com.qtx.<market>.<mode>.<name>``): each scheduled stage on its calendar, the
``telegram`` listener (RunAtLoad + KeepAlive) and ``catchup`` (once at load: after a power cut
launchd does not replay calendar jobs missed while the Mac was off).

Every job runs ``<abs qtx> --config <abs config> <command>`` with absolute paths, a fixed PATH,
``QTX_CONFIG`` and ``QTX_ENV_FILE`` (the path of a 0600 secrets file qtx loads at start;
secret values are never written into a plist), and its own log files.
"""

from __future__ import annotations

import plistlib
from dataclasses import dataclass, field
from datetime import date, time
from importlib import resources
from pathlib import Path

from launchd import schedule

AGENTS_DIR = Path("~/Library/LaunchAgents")
DAEMONS_DIR = Path("/Library/LaunchDaemons")
# Stages that must not be throttled: they race the opening auction.
URGENT_STAGES = ("execute", "reconcile", "sync")


@dataclass
class Target:
    """Everything a plist needs, all paths absolute."""

    market: str
    mode: str
    qtx: Path
    config: Path
    workdir: Path
    logs: Path
    daemon: bool = True
    user: str | None = None  # daemons: the account the jobs run as
    home: str | None = None
    env_file: Path | None = None
    local_zone: str = "UTC"
    on: date = field(default_factory=date.today)
    late_open: dict[date, time] = field(default_factory=dict)
    extra_path: tuple[str, ...] = ()

    def label(self, name: str) -> str:
        return f"com.qtx.{self.market}.{self.mode}.{name}"

    @property
    def prefix(self) -> str:
        return f"com.qtx.{self.market}.{self.mode}."


@dataclass
class Generated:
    name: str  # stage, "telegram" or "catchup"
    label: str
    plist: dict

    @property
    def filename(self) -> str:
        return f"{self.label}.plist"

    def dumps(self) -> bytes:
        return plistlib.dumps(self.plist, fmt=plistlib.FMT_XML, sort_keys=True)


def template(name: str) -> dict:
    with resources.files("launchd").joinpath("templates", f"{name}.plist").open("rb") as f:
        return plistlib.load(f)


def _env(t: Target) -> dict[str, str]:
    dirs = [str(t.qtx.parent), *t.extra_path, "/usr/local/bin", "/opt/homebrew/bin",
            "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
    env = {
        "PATH": ":".join(dict.fromkeys(dirs)),
        "QTX_CONFIG": str(t.config),
        "QTX_LAUNCHD": "1",  # tells the stage runner it was fired by the schedule
        "PYTHONUNBUFFERED": "1",
        "LANG": "en_US.UTF-8",
    }
    if t.env_file is not None:
        env["QTX_ENV_FILE"] = str(t.env_file)
    if t.home:
        env["HOME"] = t.home
    return env


def _base(t: Target, kind: str, name: str, args: list[str]) -> dict:
    p = template(kind)
    p.update({
        "Label": t.label(name),
        "ProgramArguments": [str(t.qtx), "--config", str(t.config), *args],
        "WorkingDirectory": str(t.workdir),
        "EnvironmentVariables": _env(t),
        "StandardOutPath": str(t.logs / f"{name}.out.log"),
        "StandardErrorPath": str(t.logs / f"{name}.err.log"),
    })
    if t.daemon:
        if not t.user:
            raise ValueError("a LaunchDaemon needs the user name the jobs run as")
        p["UserName"] = t.user
        p["GroupName"] = "staff"
        p["InitGroups"] = True
    return p


def build(t: Target) -> list[Generated]:
    """The plists for ``t``: stages in schedule order, then the listener and the catch-up job."""
    local = schedule.zone(t.local_zone)
    out: list[Generated] = []
    by_stage: dict[str, list[schedule.Job]] = {}
    for job in schedule.jobs_for(t.market):  # a stage may fire several times a day (sync)
        by_stage.setdefault(job.stage, []).append(job)
    for stage, jobs in by_stage.items():
        p = _base(t, "stage", stage, [stage, *jobs[0].args])
        p["StartCalendarInterval"] = [e for job in jobs for e in schedule.calendar_entries(
            t.market, job, local, t.on, t.late_open if t.market == "krx" else None)]
        if stage in URGENT_STAGES:
            p["ProcessType"] = "Standard"
        out.append(Generated(stage, p["Label"], p))
    out.append(Generated("telegram", t.label("telegram"),
                         _base(t, "listener", "telegram", ["telegram"])))
    out.append(Generated("catchup", t.label("catchup"),
                         _base(t, "catchup", "catchup", ["launchd", "catchup"])))
    return out


def default_dir(daemon: bool) -> Path:
    return DAEMONS_DIR if daemon else AGENTS_DIR.expanduser()


def domain(daemon: bool, uid: int) -> str:
    return "system" if daemon else f"gui/{uid}"


def bootstrap_commands(paths: list[Path], daemon: bool, uid: int) -> list[str]:
    sudo = "sudo " if daemon else ""
    return [f"{sudo}launchctl bootstrap {domain(daemon, uid)} {p}" for p in paths]


def bootout_commands(labels: list[str], daemon: bool, uid: int) -> list[str]:
    sudo = "sudo " if daemon else ""
    return [f"{sudo}launchctl bootout {domain(daemon, uid)}/{lab}" for lab in labels]
