"""Hash sets a detect has just written on the driver, kept in memory for its verification.

Stage 3's driver tasks (:mod:`r2d2.containment.tablework`) write every row set they count to the run's
hash-set dataset, and exact verification in the same detect reads most of them straight back: on a
lake of small tables, reading, decoding and splitting those Parquet files cost more than comparing
the sets. So a task also hands its sets here, and :func:`r2d2.containment.exact_local.exact_stats`
takes what is kept before it reads the dataset for the rest. The arrays are the very ones written,
so the answers cannot differ.

Nothing is kept unless a detect asked for it (:func:`keeping`, on the driver): a Spark worker or a
process outside a detect keeps nothing. A worker process forked from the driver keeps what its task
wrote and hands it over with the task's result (:func:`handover`), for the driver to keep. At most
``limit`` bytes are kept (a part that does not fit is read back as before), and everything is dropped
when the detect ends.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager

import numpy as np

Set = tuple[np.ndarray, np.ndarray, np.ndarray]  # (a, b, cnt) of one row set

_lock = threading.Lock()
_kept: dict[str, dict[tuple[int, int], Set]] = {}  # dataset path -> (tid, col) -> set
_state = {"limit": 0, "bytes": 0}


@contextmanager
def keeping(limit: int) -> Iterator[None]:
    """Keep up to ``limit`` bytes of the hash sets written while the block runs; drop them after it."""
    with _lock:
        _state["limit"], _state["bytes"] = max(0, limit), 0
        _kept.clear()
    try:
        yield
    finally:
        with _lock:
            _state["limit"], _state["bytes"] = 0, 0
            _kept.clear()


def active() -> bool:
    return _state["limit"] > 0


def keep(path: str, sets: Mapping[tuple[int, int], Set]) -> bool:
    """Keep the sets of one part of the dataset at ``path`` (every set the part covers, empty ones
    too), all or none; False when they do not fit."""
    size = sum(a.nbytes + b.nbytes + c.nbytes for a, b, c in sets.values())
    with _lock:
        if _state["bytes"] + size > _state["limit"]:
            return False
        _state["bytes"] += size
        _kept.setdefault(path, {}).update(sets)
    return True


def handover(path: str) -> dict[tuple[int, int], Set]:
    """The sets kept here for the dataset at ``path``, no longer kept here (a forked worker returns them
    to the driver, whose :func:`keep` decides again whether they fit)."""
    with _lock:
        sets = _kept.pop(path, {})
        _state["bytes"] -= sum(a.nbytes + b.nbytes + c.nbytes for a, b, c in sets.values())
    return sets


def take(path: str, wanted: Collection[tuple[int, int]]) -> tuple[dict[tuple[int, int], Set], set[tuple[int, int]]]:
    """The kept sets among ``wanted`` of the dataset at ``path``, and the keys still to be read."""
    with _lock:
        kept = _kept.get(path, {})
        found = {key: kept[key] for key in wanted if key in kept}
    return found, set(wanted) - set(found)
