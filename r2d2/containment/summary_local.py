"""Stage 3's summary of a hash set on the driver, with Arrow: signatures, counts, threshold samples.

The same three results as the two Spark jobs of :mod:`r2d2.containment.sketch_spark`: merged MinHash
signatures per (table, column), ``(rows, distinct rows)`` of every row set, and every hash at or
under each set's sample limit (the threshold samples the probe relies on). Used for hash sets of at
most ``Settings.local_hashset_bytes``, read back or still in memory after a driver-side aggregation;
``tests/test_summary_local.py`` checks both paths agree.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from r2d2.containment.sketches import ERROR
from r2d2.lake import fs as lakefs

Counts = dict[tuple[int, int], tuple[int, int]]
Summary = tuple[dict[tuple[int, int], np.ndarray], Counts, list[tuple[int, int, int, int]]]


def summarize(source: str | pa.Table, limit_of: Callable[[int], int]) -> Summary:
    """``(signatures, counts, samples)`` of a hash set (a dataset path, or the table itself);
    ``limit_of(distinct)`` is a set's sample limit."""
    table = source if isinstance(source, pa.Table) else lakefs.dataset(source).to_table(
        columns=["tid", "col", "a", "b", "sig", "cnt"])
    col = table.column("col")
    parts = table.filter(pc.greater_equal(col, 0))
    signatures: dict[tuple[int, int], np.ndarray] = {}
    for tid, c, sig in zip(parts.column("tid").to_pylist(), parts.column("col").to_pylist(),
                           parts.column("sig").to_pylist(), strict=True):
        part = np.frombuffer(sig, dtype=np.uint32)
        key = (tid, c)
        signatures[key] = part if key not in signatures else np.minimum(signatures[key], part)
    sets = table.filter(pc.and_(pc.less(col, 0), pc.not_equal(col, ERROR)))
    tid, c, a, b, cnt = (sets.column(n).to_numpy() for n in ("tid", "col", "a", "b", "cnt"))
    if len(tid) > 1 and not _grouped(tid, c):  # a set split over files (a Spark-written dataset)
        order = np.lexsort((c, tid))
        tid, c, a, b, cnt = tid[order], c[order], a[order], b[order], cnt[order]
    starts = np.flatnonzero(np.concatenate(([True], (tid[1:] != tid[:-1]) | (c[1:] != c[:-1])))) if len(tid) else \
        np.empty(0, np.int64)
    lengths = np.diff(np.append(starts, len(tid)))
    rows = np.add.reduceat(cnt, starts) if len(starts) else np.empty(0, np.int64)
    counts: Counts = {}
    limits = np.empty(len(starts), np.int64)
    for i, (t, k, r, d) in enumerate(zip(tid[starts].tolist(), c[starts].tolist(), rows.tolist(),
                                          lengths.tolist(), strict=True)):
        counts[(t, k)] = (r, d)
        limits[i] = limit_of(d)
    picked = a <= np.repeat(limits, lengths)
    samples = list(zip(tid[picked].tolist(), c[picked].tolist(), a[picked].tolist(), b[picked].tolist(),
                       strict=True))
    return signatures, counts, samples


def _grouped(tid: np.ndarray, col: np.ndarray) -> bool:
    """Whether each ``(tid, col)`` set is one run (sorted by table and set, as the driver writes it)."""
    return bool(np.all((tid[1:] > tid[:-1]) | ((tid[1:] == tid[:-1]) & (col[1:] >= col[:-1]))))
