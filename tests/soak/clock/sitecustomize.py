"""The soak's wall clock for a whole ``qtx`` process (loaded through PYTHONPATH, soak only).

``QTX_NOW`` moves the stage windows and the adapters; but qtx also reads the wall clock for its
``runs`` rows, order and outbox times, the boot-time catch-up and the listener's heartbeat, and
those must agree with the windows, as they do on a real Mac where there is one clock.  When
``QTX_SOAK_CLOCK`` names a file holding ``<simulated ISO time> <real epoch seconds>``, qtx's own
modules see ``datetime.now()`` (and ``date.today()``) answer the simulated time plus the real
seconds elapsed since that epoch.  The file is read again when it changes, so a resident
listener follows the driver's clock as it jumps.

Only qtx's packages get the simulated classes (their ``datetime``/``date`` names are swapped as
each module is imported): libraries keep the real ones, since C extensions (pandas) check the
exact type, and their timers, rate limiters and sleeps must keep real seconds anyway.
Without ``QTX_SOAK_CLOCK`` this module does nothing.
"""

from __future__ import annotations

import os

_PATH = os.environ.get("QTX_SOAK_CLOCK")
QTX_PACKAGES = {"cli", "sennot", "risk", "brokers", "db", "pipeline", "control", "launchd"}

if _PATH:
    import datetime as _dt
    import sys
    import time as _time

    _real_datetime, _real_date = _dt.datetime, _dt.date
    _state: dict = {"mtime": None, "offset": 0.0}

    def _offset() -> float:
        """Seconds to add to the real clock (cached until the file changes)."""
        try:
            mtime = os.stat(_PATH).st_mtime_ns
        except OSError:
            return _state["offset"]
        if mtime != _state["mtime"]:
            try:
                with open(_PATH, encoding="utf-8") as f:
                    sim, real = f.read().split()
                _state.update(mtime=mtime,
                              offset=_real_datetime.fromisoformat(sim).timestamp() - float(real))
            except (OSError, ValueError):
                pass  # caught mid-rewrite: keep the last reading
        return _state["offset"]

    def _now_ts() -> float:
        return _time.time() + _offset()

    class _Meta(type):
        # A datetime made anywhere else (pandas, sqlite, a library) is still a datetime.
        def __instancecheck__(cls, obj):
            return isinstance(obj, _real_datetime)

        def __subclasscheck__(cls, sub):
            return issubclass(sub, _real_datetime)

    class SoakDatetime(_real_datetime, metaclass=_Meta):
        @classmethod
        def now(cls, tz=None):
            return _real_datetime.fromtimestamp(_now_ts(), tz)

        @classmethod
        def utcnow(cls):
            return _real_datetime.fromtimestamp(_now_ts(), _dt.UTC).replace(tzinfo=None)

        @classmethod
        def today(cls):
            return cls.now()

    class _DateMeta(type):
        def __instancecheck__(cls, obj):
            return isinstance(obj, _real_date)

        def __subclasscheck__(cls, sub):
            return issubclass(sub, _real_date)

    class SoakDate(_real_date, metaclass=_DateMeta):
        @classmethod
        def today(cls):
            return _real_datetime.fromtimestamp(_now_ts()).date()

    def _patch(module) -> None:
        g = module.__dict__
        if g.get("datetime") is _real_datetime:
            g["datetime"] = SoakDatetime
        if g.get("date") is _real_date:
            g["date"] = SoakDate

    class _Loader:
        def __init__(self, inner):
            self.inner = inner

        def create_module(self, spec):
            return self.inner.create_module(spec)

        def exec_module(self, module):
            self.inner.exec_module(module)
            _patch(module)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    class _Finder:
        """Wraps the loader of every qtx module so its clock names are swapped once loaded."""

        def find_spec(self, name, path, target=None):
            if name.partition(".")[0] not in QTX_PACKAGES:
                return None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _Loader(spec.loader)
                    return spec
            return None

    sys.meta_path.insert(0, _Finder())
