"""Fault injection: ``R2D2_FAULT=<command>:<step>:<n>`` SIGKILLs the process the n-th time the named
step of the named command is reached (e.g. ``apply:moved:2``); with a fourth field ``stop``
(``apply:intent:1:stop``) the process SIGSTOPs itself there instead, holding what it holds, until it
gets SIGCONT. Read here only; used by crash and lock tests.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "R2D2_FAULT"
_hits: Counter[tuple[str, str]] = Counter()


def _target() -> tuple[str, str, int, signal.Signals] | None:
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return None
    parts = raw.split(":")
    if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "stop"):
        return None
    command, step, n = parts[:3]
    try:
        return command, step, int(n), signal.SIGSTOP if len(parts) == 4 else signal.SIGKILL
    except ValueError:
        return None


def fault_point(command: str, step: str) -> None:
    """A named step of ``command`` was reached: die (SIGKILL, no cleanup) or stop here if the fault says so."""
    target = _target()
    if target is None:
        return
    _hits[(command, step)] += 1
    if target[:2] == (command, step) and _hits[(command, step)] == target[2]:
        os.kill(os.getpid(), target[3])
