"""Named points where tests can kill the real process (``QTX_FAULT=<name>``).

A checkpoint costs one environment lookup.  It exists so crash tests can stop ``execute`` at an
exact line with SIGKILL, as a power cut would, and prove that a rerun neither loses nor
doubles an order.
"""

from __future__ import annotations

import os
import signal


def checkpoint(name: str) -> None:
    if os.environ.get("QTX_FAULT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
