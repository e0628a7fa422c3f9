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
import pyarrow.dataset as ds

from r2d2.containment.sketches import ERROR

Counts = dict[tuple[int, int], tuple[int, int]]
Summary = tuple[dict[tuple[int, int], np.ndarray], Counts, list[tuple[int, int, int, int]]]


def summarize(source: str | pa.Table, limit_of: Callable[[int], int]) -> Summary:
    """``(signatures, counts, samples)`` of a hash set (a dataset path, or the table itself);
    ``limit_of(distinct)`` is a set's sample limit."""
    table = source if isinstance(source, pa.Table) else ds.dataset(source, format="parquet").to_table(
        columns=["tid", "col", "a", "b", "sig", "cnt"])
    col = table.column("col")
    parts = table.filter(pc.greater_equal(col, 0))
    signatures: dict[tuple[int, int], np.ndarray] = {}
    for tid, c, sig in zip(parts.column("tid").to_pylist(), parts.column("col").to_pylist(),
                           parts.column("sig").to_pylist(), strict=True):
        part = np.frombuffer(sig, dtype=np.uint32)
        key = (tid, c)
        signatures[key] = part if key not in signatures else np.minimum(signatures[key], part)
    sets = table.filter(pc.and_(pc.less(col, 0), pc.not_equal(col, ERROR))).select(["tid", "col", "a", "b", "cnt"])
    agg = sets.group_by(["tid", "col"], use_threads=False).aggregate([("cnt", "sum"), ("cnt", "count")])
    distinct = agg.column("cnt_count").to_pylist()
    counts: Counts = {(t, c): (r, d) for t, c, r, d in zip(
        agg.column("tid").to_pylist(), agg.column("col").to_pylist(), agg.column("cnt_sum").to_pylist(),
        distinct, strict=True)}
    limits = pa.table({"tid": agg.column("tid"), "col": agg.column("col"),
                       "limit": pa.array([limit_of(d) for d in distinct], pa.int64())})
    picked = sets.join(limits, ["tid", "col"], join_type="inner", use_threads=False)
    picked = picked.filter(pc.less_equal(picked.column("a"), picked.column("limit")))
    samples = list(zip(picked.column("tid").to_pylist(), picked.column("col").to_pylist(),
                       picked.column("a").to_pylist(), picked.column("b").to_pylist(), strict=True))
    return signatures, counts, samples
