"""Durations as users write them: ``30s``, ``5m``, ``2h``, ``7d``, ``1h30m``, ``250ms``, ``1.5``
(seconds), or ``inf`` for no limit. Parsed by pytimeparse2; negative durations are refused."""

from __future__ import annotations

import math

import pytimeparse2

UNLIMITED = ("inf", "none", "unlimited")


def seconds(text: str) -> float:
    """Seconds of the duration ``text``; ``ValueError`` naming it when it is not one."""
    t = text.strip().lower()
    if t in UNLIMITED:
        return math.inf
    value = pytimeparse2.parse(t)
    if value is None or value < 0:
        raise ValueError(f"{text!r} is not a duration (e.g. 30s, 5m, 2h, 7d, 1.5 for seconds, inf)")
    return float(value)
