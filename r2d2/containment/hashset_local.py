"""Counting a row set's hashes in one process: what a Spark shuffle does for the largest tables.

A whole-table task (:mod:`r2d2.containment.tablework`) counts each row set's 128-bit hashes ``(a, b)``
itself: one row per distinct hash with its count, as the shuffle of
:mod:`r2d2.containment.sketch_spark` gives it (``tests/test_hashset_local.py`` checks both write the
same sets). About 0.06 s for 700,000 hashes, where a Spark shuffle and sort cost about 0.4 s of
scheduling alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

ENTRY_BYTES = 40  # bytes of one hash-set entry in Arrow memory (4 int columns, a null signature)
ROW_GROUP_BYTES = 4 << 20  # bytes per Parquet row group of a hash set: readers of a few sets skip the rest
SCHEMA = pa.schema([("tid", pa.int64()), ("col", pa.int32()), ("a", pa.int64()), ("b", pa.int64()),
                    ("sig", pa.binary()), pa.field("cnt", pa.int64(), nullable=False)])


def count_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct row hashes ``(a, b)`` of one row set with their counts, in order of first appearance.

    Rows are grouped by ``a`` alone (a hash table on one 64-bit key is several times faster than on
    two), then every row is checked against its group's first row: if two different hashes ever
    share an ``a`` (a 64-bit coincidence), the exact grouping on ``(a, b)`` is used instead, so the
    answer never depends on the shortcut."""
    if not len(a):
        return a, b, np.empty(0, np.int64)
    codes, _ = pd.factorize(a, sort=False)
    seen = np.maximum.accumulate(codes)
    first = np.flatnonzero(np.concatenate(([True], codes[1:] > seen[:-1])))  # codes come in order of appearance
    if not np.array_equal(b[first[codes]], b):
        grouped = pa.table({"a": a, "b": b}).group_by(["a", "b"], use_threads=False).aggregate([([], "count_all")])
        return (grouped.column("a").to_numpy(), grouped.column("b").to_numpy(),
                grouped.column("count_all").to_numpy().astype(np.int64))
    return a[first], b[first], np.bincount(codes, minlength=len(first)).astype(np.int64)
