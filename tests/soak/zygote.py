"""A warmed-up parent that forks each ``qtx`` job (``python -m tests.soak.zygote``).

Starting the interpreter and importing qtx takes 1-3 s on the 2-core machine, longer than most
stages run; a soak fires hundreds of jobs.  This process imports ``cli.main`` once (under the
soak clock) and forks a child per job: a separate process with its own pid, environment,
database connection, stage lock and file descriptors, running the real entry point
(``cli.main.main``) with the job's argv, and killable with SIGKILL like any launchd job.
``--exec`` in the driver runs the installed ``qtx`` script instead.

Protocol (one JSON object a line): in ``{"argv": [...], "env": {...}, "log": path}``; out
``{"pid": n}`` at the fork, then ``{"pid": n, "exit": code}`` (code < 0: killed by that signal).
"""

from __future__ import annotations

import json
import os
import sys

# What the stages import lazily (a child would import them again on every job).
PRELOAD = ("pipeline.stages.collect", "pipeline.stages.signal", "pipeline.stages.execute", "pipeline.stages.sync",
           "pipeline.stages.report", "pipeline.stages.reconcile", "pipeline.schedule.catchup", "brokers.kiwoom",
           "pipeline.brokers_factory", "matplotlib.pyplot", "control.listener")


def main() -> None:
    import importlib

    import cli.main  # noqa: F401 - the imports this process exists to pay once

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # a module renamed by its owner: the child imports what it needs anyway

    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                fd = os.open(req["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                nul = os.open(os.devnull, os.O_RDONLY)
                os.dup2(nul, 0)
                os.environ.clear()
                os.environ.update(req["env"])
                sys.argv = ["qtx", *req["argv"]]
                code = 0
                try:
                    cli.main.main()
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                except BaseException:  # noqa: BLE001 - a crash is exit 1, as for the script
                    import traceback

                    traceback.print_exc()
                    code = 1
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(locals().get("code", 1))
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"pid": pid, "exit": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    main()
