"""Secrets for unattended runs: a ``KEY=value`` file readable only by its owner.

A LaunchDaemon cannot read the login keychain and a plist must never hold secret values, so
launchd jobs carry only ``QTX_ENV_FILE=/path/to/qtx.env``; qtx calls ``load_env_file`` at start.
The file must be a regular file owned by the running user with no group/other permission bits
(0600 or 0400).  Values are never logged or returned; only the names that were set.

Format: one ``KEY=value`` per line; blank lines and ``#`` comments ignored; an optional
``export`` prefix; values may be wrapped in single or double quotes (taken literally).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import MutableMapping
from pathlib import Path

from pipeline.config import ConfigError

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_private(path: Path) -> None:
    """Refuse anything but a regular file of ours that nobody else can read or write."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(path, None, "secrets file does not exist (QTX_ENV_FILE)") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(path, None, "secrets file is not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise ConfigError(path, None, f"secrets file must be mode 0600 (is {mode:04o}); "
                                      f"run: chmod 600 {path}")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise ConfigError(path, None, "secrets file is owned by another user")


def parse_env(text: str, path: Path | str = "<env>") -> dict[str, str]:
    out: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            # Say where, never what: the line may be a pasted secret.
            raise ConfigError(path, f"line {n}", "expected KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key] = value
    return out


def load_env_file(path: str | Path, environ: MutableMapping[str, str] | None = None,
                  override: bool = False) -> list[str]:
    """Set the file's variables in ``environ`` (default ``os.environ``); return the names set.

    Variables already set win unless ``override``, so a one-off ``QTX_X=... qtx ...`` still works.
    """
    p = Path(path).expanduser()
    check_private(p)
    env = os.environ if environ is None else environ
    values = parse_env(p.read_text(encoding="utf-8"), p)
    set_names = []
    for k, v in values.items():
        if override or k not in env:
            env[k] = v
            set_names.append(k)
    return set_names


def load_from_environment(var: str = "QTX_ENV_FILE", environ: MutableMapping[str, str] | None = None,
                          warn=None) -> list[str]:
    """What the CLI calls at start: load the file named by ``$QTX_ENV_FILE``, if any.

    A file that does not exist is only a warning (``warn(message)``): a paper setup may have no
    secrets, and whatever needs one fails later naming it.  A file others can read is an error.
    """
    env = os.environ if environ is None else environ
    path = env.get(var)
    if not path:
        return []
    p = Path(path).expanduser()
    if not p.exists():
        if warn is not None:
            warn(f"{var}={p}: no such file; continuing without it")
        return []
    return load_env_file(p, env)
