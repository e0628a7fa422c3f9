"""Exact verification of small hash sets on the driver, with Arrow and numpy instead of a Spark join.

Same question and same answer as the Spark path in :mod:`r2d2.containment.verify_job`: for every
pair, look up each of the child's distinct full-row hashes (with counts) among its group's parent
hashes on the 128-bit hash, and count the child rows with no parent match (``missing``) and those
whose count exceeds the parent's (``over``). Both read the same hash sets that stage 3 wrote; only
the engine differs. A Spark shuffle join costs about a microsecond per row and a few seconds per job
on a small cluster, so when the sets of a batch are small (``Settings.local_hashset_bytes``) the
driver is several times faster. Large batches stay on Spark: they would not fit the driver's
memory. ``tests/test_exact_local.py`` checks both paths agree, on sets with colliding ``a`` halves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from r2d2.containment import compiled, hashset_memo
from r2d2.lake import fs as lakefs

# (distinct child rows, rows missing from the parent, rows whose count exceeds the parent's)
PairStats = tuple[int, int, int]


def _read(path: str, wanted: Iterable[tuple[int, int]]) -> pa.Table:
    """Rows ``(tid, col, a, b, cnt)`` of a hash-set dataset for (at least) the ``(tid, col)`` sets wanted.

    The filters prune row groups (sets are written sorted by tid, col); rows of other sets that pass
    them are ignored."""
    tids = sorted({t for t, _ in wanted})
    cols = sorted({c for _, c in wanted})
    return lakefs.dataset(path).to_table(
        columns=["tid", "col", "a", "b", "cnt"],
        filter=pc.field("tid").isin(tids) & pc.field("col").isin(cols))


_Set = tuple[np.ndarray, np.ndarray, np.ndarray]  # (a, b, cnt) of one row set
_EMPTY: _Set = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64))


def _split_sets(rows: pa.Table) -> dict[tuple[int, int], _Set]:
    """The rows of a dataset as ``(tid, col) -> (a, b, cnt)``.

    No sort: the rows of a set are gathered from the runs where ``(tid, col)`` stays the same, in any
    order. Each file of a hash set is sorted by ``(tid, col)``, so a set is a few runs (one per file
    holding part of it)."""
    tid = rows.column("tid").to_numpy()
    col = rows.column("col").to_numpy()
    a, b, cnt = (rows.column(n).to_numpy() for n in ("a", "b", "cnt"))
    cuts = np.flatnonzero((tid[1:] != tid[:-1]) | (col[1:] != col[:-1])) + 1
    runs: dict[tuple[int, int], list[slice]] = {}
    for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(tid)], strict=True):
        if hi > lo:
            runs.setdefault((int(tid[lo]), int(col[lo])), []).append(slice(lo, hi))

    def take(arr: np.ndarray, parts: list[slice]) -> np.ndarray:
        return arr[parts[0]] if len(parts) == 1 else np.concatenate([arr[r] for r in parts])

    return {key: (take(a, parts), take(b, parts), take(cnt, parts)) for key, parts in runs.items()}


MAX_PARENT_ROWS = (1 << 31) - 1  # the table's slots hold row numbers as int32 (half the memory of int64)


class TooLargeForDriver(ValueError):
    """A parent set with 2**31 rows or more (``local_hashset_bytes`` set past 80 GB): Spark verifies it."""


class _Parent:
    """A parent set prepared for lookups: an open-addressing table on its 128-bit hashes (a compiled
    loop, built once and reused for every child compared with this parent; 64-bit coincidences of
    ``a`` are told apart by ``b``)."""

    def __init__(self, rows: _Set) -> None:
        self.a, self.b, self.cnt = (np.ascontiguousarray(x, dtype=np.int64) for x in rows)
        if len(self.a) > MAX_PARENT_ROWS:
            raise TooLargeForDriver(f"a hash set of {len(self.a):,} rows is too large to verify on the driver")
        cap = 1
        while cap < 2 * len(self.a):
            cap <<= 1
        self.slots = np.empty(cap, np.int32)
        compiled.kernels().index_pairs(self.a, self.b, self.slots)

    def compare(self, child: _Set) -> PairStats:
        """``(child rows, missing, over)``: each child hash looked up among the parent's."""
        ca, cb, ccnt = (np.ascontiguousarray(x, dtype=np.int64) for x in child)
        out = np.zeros(2, np.int64)
        compiled.kernels().probe_pairs(self.slots, self.a, self.b, self.cnt, ca, cb, ccnt, out)
        return len(ca), int(out[0]), int(out[1])


def read_set(path: str, tid: int, col: int) -> _Set:
    """``(a, b, cnt)`` of one row set of a hash-set dataset (empty arrays when it has none)."""
    return _split_sets(_read(path, [(tid, col)])).get((tid, col), _EMPTY)


def exact_stats(pairs: Sequence[tuple[int, int]],
                parent_sets: Mapping[int, tuple[str, int, int]],
                child_sets: Mapping[int, tuple[str, int, int]]) -> dict[int, PairStats]:
    """Stats of each pair ``i`` of ``pairs[i] = (gid, child)``.

    ``parent_sets[gid] = (dataset, tid, col)`` locates the parent hashes of group ``gid``;
    ``child_sets[child] = (dataset, tid, col)`` the child's rows (its own full row set, or for a
    table derived from another, a projection set of that one). A pair whose child has no row
    (an empty set) is absent from the result, as in the Spark path. Each dataset is read once for
    both sides (a table's set often serves as a parent and as a child), and each child hash is looked
    up in its parent set's hash table (built once per parent) instead of joining (pair, hash) rows.
    """
    wanted: dict[str, set[tuple[int, int]]] = {}
    for path, tid, col in parent_sets.values():
        wanted.setdefault(path, set()).add((tid, col))
    for _, child in pairs:
        if child in child_sets:
            path, tid, col = child_sets[child]
            wanted.setdefault(path, set()).add((tid, col))
    sets: dict[tuple[str, int, int], _Set] = {}
    for path in sorted(wanted):
        kept, unread = hashset_memo.take(path, wanted[path])  # sets this detect has just written
        sets.update({(path, *key): rows for key, rows in kept.items()})
        if unread:
            sets.update({(path, *key): rows for key, rows in _split_sets(_read(path, unread)).items()})
    parents: dict[int, _Parent] = {}
    stats: dict[int, PairStats] = {}
    for i, (gid, child) in enumerate(pairs):
        if child not in child_sets:
            continue
        kid = sets.get(child_sets[child], _EMPTY)
        if not len(kid[0]):
            continue
        if gid not in parents:
            parents[gid] = _Parent(sets.get(parent_sets[gid], _EMPTY) if gid in parent_sets else _EMPTY)
        stats[i] = parents[gid].compare(kid)
    return stats
