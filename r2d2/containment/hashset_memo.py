"""Hash sets a detect has just written on the driver, kept in memory for its verification.

Stage 3's driver tasks (:mod:`r2d2.containment.tablework`) write every row set they count to the run's
hash-set dataset, and exact verification in the same detect reads most of them straight back: on a
lake of small tables, reading, decoding and splitting those Parquet files cost more than comparing
the sets. So a task also hands its sets here, and :func:`r2d2.containment.exact_local.exact_stats`
takes what is kept before it reads the dataset for the rest. The arrays are the very ones written,
so the answers cannot differ.

Nothing is kept unless a detect asked for it (:func:`keeping`, on the driver): a Spark worker or a
process outside a detect keeps nothing. A worker process forked from the driver keeps what its task
wrote and hands it over with the task's result (:func:`handover`), for the driver to keep. Forked
while :func:`shared` runs, a worker copies its sets into memory the driver mapped before the fork and
hands over only where they are: pickling them through a pipe cost a fifth of stage 3 (1,000-table lake:
0.9 s of 4.5). At most ``limit`` bytes are kept (a part that does not fit is read back as before), and
everything is dropped when the detect ends.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import NamedTuple, cast

import numpy as np

Set = tuple[np.ndarray, np.ndarray, np.ndarray]  # (a, b, cnt) of one row set


class Placed(NamedTuple):
    """A set a forked worker copied into the shared memory: ``rows`` values of ``a``, then of ``b``,
    then of ``cnt`` (int64), from byte ``offset``."""

    offset: int
    rows: int


class _Arena:
    """Anonymous memory shared with the processes forked after it is made (``MAP_SHARED``), filled
    from the start by whichever of them takes the next bytes."""

    def __init__(self, size: int) -> None:
        self.owner = os.getpid()
        self.size = size
        self.memory = mmap.mmap(-1, max(size, 1))
        self.used = multiprocessing.get_context("fork").Value("q", 0)  # shared, with its own lock

    def reserve(self, size: int) -> int | None:
        """The offset of ``size`` bytes no one else has, or None when they are not left."""
        with self.used.get_lock():
            offset = self.used.value
            if offset + size > self.size:
                return None
            self.used.value = offset + size
        return offset

    def place(self, sets: Mapping[tuple[int, int], Set]) -> dict[tuple[int, int], Placed] | None:
        offset = self.reserve(sum(_bytes(s) for s in sets.values()))
        if offset is None:
            return None
        out = {}
        for key, (a, b, cnt) in sets.items():
            n = len(a)
            np.frombuffer(self.memory, np.int64, 3 * n, offset).reshape(3, n)[:] = (a, b, cnt)
            out[key] = Placed(offset, n)
            offset += 24 * n
        return out

    def view(self, placed: Placed) -> Set:
        values = np.frombuffer(self.memory, np.int64, 3 * placed.rows, placed.offset).reshape(3, placed.rows)
        values.flags.writeable = False
        return values[0], values[1], values[2]


_lock = threading.Lock()
_kept: dict[str, dict[tuple[int, int], Set | Placed]] = {}  # dataset path -> (tid, col) -> set
_state = {"limit": 0, "bytes": 0}
_arena: list[_Arena] = []


def _bytes(s: Set | Placed) -> int:
    return 24 * s.rows if isinstance(s, Placed) else sum(x.nbytes for x in s)


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


@contextmanager
def shared() -> Iterator[None]:
    """Workers forked while the block runs hand their sets over through shared memory (as much as the
    limit leaves room for); the driver's views keep it mapped after the block."""
    if not active():
        yield
        return
    try:
        arena = _Arena(max(0, _state["limit"] - _state["bytes"]))
    except OSError:  # no memory to map that much: the workers pickle their sets back instead
        yield
        return
    with _lock:
        _arena[:] = [arena]
    try:
        yield
    finally:
        with _lock:
            _arena.clear()  # (the memory itself lives as long as a view of it)


def _forked_worker() -> _Arena | None:
    return _arena[0] if _arena and _arena[0].owner != os.getpid() else None


def keep(path: str, sets: Mapping[tuple[int, int], Set | Placed]) -> bool:
    """Keep the sets of one part of the dataset at ``path`` (every set the part covers, empty ones
    too), all or none; False when they do not fit. In a worker forked during :func:`shared`, they are
    copied into the shared memory; sets placed there by a worker are kept as views of it."""
    arena = _forked_worker()
    if arena is not None:
        placed = arena.place(cast(Mapping[tuple[int, int], Set], sets))  # a worker's sets are arrays
        if placed is None:
            return False
        sets = placed
    size = sum(_bytes(s) for s in sets.values())
    with _lock:
        if arena is None and _state["bytes"] + size > _state["limit"]:
            return False
        if arena is None and _arena:  # the driver: what workers placed becomes views of the memory
            sets = {key: _arena[0].view(s) if isinstance(s, Placed) else s for key, s in sets.items()}
        _state["bytes"] += size
        _kept.setdefault(path, {}).update(sets)
    return True


def handover(path: str) -> dict[tuple[int, int], Set | Placed]:
    """The sets kept here for the dataset at ``path``, no longer kept here (a forked worker returns them
    to the driver, whose :func:`keep` decides again whether they fit)."""
    with _lock:
        sets = _kept.pop(path, {})
        _state["bytes"] -= sum(_bytes(s) for s in sets.values())
    return sets


def take(path: str, wanted: Collection[tuple[int, int]]) -> tuple[dict[tuple[int, int], Set], set[tuple[int, int]]]:
    """The kept sets among ``wanted`` of the dataset at ``path``, and the keys still to be read."""
    with _lock:
        kept = _kept.get(path, {})
        found = {key: kept[key] for key in wanted if key in kept}
    return cast(dict[tuple[int, int], Set], found), set(wanted) - set(found)  # the driver's: arrays only
