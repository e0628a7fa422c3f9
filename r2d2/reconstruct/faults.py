"""Fault injection: ``R2D2_FAULT=<command>:<step>:<n>`` SIGKILLs the process the n-th time the named
step of the named command is reached (e.g. ``apply:moved:2``). Read here only; used by crash tests.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "R2D2_FAULT"
_hits: Counter[tuple[str, str]] = Counter()


def _target() -> tuple[str, str, int] | None:
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return None
    parts = raw.split(":")
    if len(parts) != 3:
        return None
    command, step, n = parts
    try:
        return command, step, int(n)
    except ValueError:
        return None


def fault_point(command: str, step: str) -> None:
    """A named step of ``command`` was reached: die here (SIGKILL, no cleanup) if the fault says so."""
    target = _target()
    if target is None:
        return
    _hits[(command, step)] += 1
    if target[:2] == (command, step) and _hits[(command, step)] == target[2]:
        os.kill(os.getpid(), signal.SIGKILL)
