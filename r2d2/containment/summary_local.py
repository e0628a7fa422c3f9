"""Stage 3's summary of a small hash set, read on the driver with Arrow instead of two Spark jobs.

The same three results as :func:`r2d2.containment.sketch_job._collect_summary` and
``_collect_samples``: merged MinHash signatures per (table, column), ``(rows, distinct rows)`` of
every row set, and every hash at or under each set's sample limit (the threshold samples the probe
relies on). Used when the dataset is at most ``Settings.local_hashset_bytes``, where the two Spark
jobs (about a second or more each) cost more than reading the file. ``tests/test_summary_local.py``
checks both paths agree.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

Counts = dict[tuple[int, int], tuple[int, int]]


def summarize(path: str, limit_of: Callable[[int], int]) -> tuple[dict[tuple[int, int], np.ndarray], Counts,
                                                                    list[tuple[int, int, int, int]]]:
    """``(signatures, counts, samples)`` of a hash-set dataset; ``limit_of(distinct)`` is a set's sample limit."""
    table = ds.dataset(path, format="parquet").to_table(columns=["tid", "col", "a", "b", "sig", "cnt"])
    parts = table.filter(pc.field("col") >= 0)
    signatures: dict[tuple[int, int], np.ndarray] = {}
    for tid, col, sig in zip(parts.column("tid").to_pylist(), parts.column("col").to_pylist(),
                             parts.column("sig").to_pylist(), strict=True):
        part = np.frombuffer(sig, dtype=np.uint32)
        key = (tid, col)
        signatures[key] = part if key not in signatures else np.minimum(signatures[key], part)
    sets = table.filter(pc.field("col") < 0).select(["tid", "col", "a", "b", "cnt"])
    agg = sets.group_by(["tid", "col"]).aggregate([("cnt", "sum"), ("cnt", "count")])
    counts: Counts = {(t, c): (r, d) for t, c, r, d in zip(
        agg.column("tid").to_pylist(), agg.column("col").to_pylist(), agg.column("cnt_sum").to_pylist(),
        agg.column("cnt_count").to_pylist(), strict=True)}
    limits = pa.table({"tid": agg.column("tid"), "col": agg.column("col"),
                       "limit": pa.array([limit_of(d) for d in agg.column("cnt_count").to_pylist()], pa.int64())})
    picked = sets.join(limits, ["tid", "col"], join_type="inner")
    picked = picked.filter(pc.less_equal(picked.column("a"), picked.column("limit")))
    samples = list(zip(picked.column("tid").to_pylist(), picked.column("col").to_pylist(),
                       picked.column("a").to_pylist(), picked.column("b").to_pylist(), strict=True))
    return signatures, counts, samples
