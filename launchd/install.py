"""Writing and removing the plists, and the exact ``launchctl`` commands to (un)load them.

qtx never runs ``launchctl`` itself: loading a daemon needs root, and the operator should see
what is loaded.  ``plan`` is pure (what would be written), ``install``/``uninstall`` act on a
directory.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from launchd import plists, schedule


@dataclass
class Plan:
    target: plists.Target
    directory: Path
    jobs: list[plists.Generated]
    warnings: list[str] = field(default_factory=list)
    uid: int = 0

    @property
    def final_dir(self) -> Path:
        """Where launchd must find the files (daemons: always /Library/LaunchDaemons)."""
        return plists.DAEMONS_DIR if self.target.daemon else self.directory

    def paths(self) -> list[Path]:
        return [self.directory / j.filename for j in self.jobs]

    def load_commands(self) -> list[str]:
        t = self.target
        cmds = []
        if t.daemon and self.directory != plists.DAEMONS_DIR:
            # Staged elsewhere (--dir): daemons must be root-owned files in /Library/LaunchDaemons.
            cmds += [f"sudo install -m 0644 -o root -g wheel {p} {plists.DAEMONS_DIR}/"
                     for p in self.paths()]
        labels = [j.label for j in self.jobs]
        # bootout first so a re-install replaces the loaded job (an error means "not loaded").
        cmds += [c + " 2>/dev/null || true" for c in plists.bootout_commands(labels, t.daemon, self.uid)]
        cmds += plists.bootstrap_commands([self.final_dir / j.filename for j in self.jobs],
                                          t.daemon, self.uid)
        return cmds

    def check_commands(self) -> list[str]:
        t = self.target
        sudo = "sudo " if t.daemon else ""
        dom = plists.domain(t.daemon, self.uid)
        return [f"{sudo}launchctl print {dom}/{t.label('telegram')}",
                f"{sudo}launchctl list | grep {t.prefix}"]

    def to_dict(self) -> dict:
        t = self.target
        return {
            "mode": "daemon" if t.daemon else "agent",
            "market": t.market, "qtx_mode": t.mode,
            "directory": str(self.directory), "local_zone": t.local_zone,
            "jobs": [{"name": j.name, "label": j.label, "path": str(self.directory / j.filename),
                      "plist": j.plist} for j in self.jobs],
            "warnings": self.warnings,
            "load_commands": self.load_commands(),
            "check_commands": self.check_commands(),
        }


def env_file_warnings(path: Path | None) -> list[str]:
    if path is None:
        return ["no secrets file: jobs get no QTX_ENV_FILE (secrets must then come from the "
                "environment launchd gives them, which is nearly empty)"]
    try:
        st = path.stat()
    except FileNotFoundError:
        return [f"secrets file {path} does not exist yet: create it with KEY=value lines and "
                f"`chmod 600 {path}` (qtx refuses any other mode)"]
    if stat.S_IMODE(st.st_mode) & 0o077:
        return [f"secrets file {path} is mode {stat.S_IMODE(st.st_mode):04o}: run `chmod 600 {path}`"]
    return []


def plan(target: plists.Target, directory: Path | None = None, uid: int | None = None) -> Plan:
    jobs = plists.build(target)
    warnings = schedule.zone_warnings(target.market, target.local_zone, target.on)
    warnings += env_file_warnings(target.env_file)
    return Plan(target, directory or plists.default_dir(target.daemon), jobs, warnings,
                os.getuid() if uid is None else uid)


def _stale(directory: Path, prefix: str, keep: set[str]) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob(f"{prefix}*.plist") if p.name not in keep)


def install(p: Plan, chown_to: tuple[int, int] | None = None) -> dict:
    """Write every plist (0644) into ``p.directory``, remove stale ones of the same market/mode,
    create the logs directory; return what was done and the commands to run."""
    p.directory.mkdir(parents=True, exist_ok=True)
    if not os.access(p.directory, os.W_OK):
        raise PermissionError(f"cannot write to {p.directory}" + (
            " (daemons: run with sudo, or stage with --dir and copy as the printed commands say)"
            if p.target.daemon else ""))
    logs = p.target.logs
    logs.mkdir(parents=True, exist_ok=True)
    if chown_to is not None:  # sudo install: the jobs run as the user, who must own the logs
        os.chown(logs, *chown_to)
    written = []
    for j in p.jobs:
        dest = p.directory / j.filename
        tmp = dest.with_suffix(".plist.tmp")
        tmp.write_bytes(j.dumps())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)  # atomic: launchd never sees half a file
        written.append(str(dest))
    removed = []
    stale = _stale(p.directory, p.target.prefix, {j.filename for j in p.jobs})
    for s in stale:
        s.unlink()
        removed.append(str(s))
    d = p.to_dict()
    d.update(written=written, removed=removed, logs=str(logs))
    d["load_commands"] = ([c + " 2>/dev/null || true" for c in plists.bootout_commands(
        [Path(r).stem for r in removed], p.target.daemon, p.uid)] + d["load_commands"])
    return d


def known_labels(market: str, mode: str) -> list[str]:
    names = [j.stage for j in schedule.jobs_for(market)] + ["telegram", "catchup"]
    return [f"com.qtx.{market}.{mode}.{n}" for n in names]


def uninstall(directory: Path, prefix: str, daemon: bool, uid: int,
              labels: list[str] | None = None) -> dict:
    """Remove every ``<prefix>*.plist`` in ``directory``; return the bootout commands (for the
    removed files and for ``labels``, which may be loaded even when their file is gone)."""
    found = _stale(directory, prefix, set())
    labels = list(dict.fromkeys([f.stem for f in found] + list(labels or [])))
    for f in found:
        f.unlink()
    return {"directory": str(directory), "removed": [str(f) for f in found],
            # bootout by label works after the file is gone.
            "unload_commands": plists.bootout_commands(labels, daemon, uid)}
