"""Stage 3's hash-set aggregation on the driver, with Arrow: the same dataset a Spark shuffle writes.

Work items give entries ``(tid, col, a, b, sig, cnt)`` (:mod:`r2d2.containment.filework`). The hash set
keeps every partial signature (``col >= 0``) as it is, counts equal row-set entries (``col < 0``: one
row per distinct ``(tid, col, a, b)``, ``cnt`` summed) and is sorted by ``(tid, col)``; a failed item's
``col = ERROR`` entry fails its table, whose entries are left out. On the driver this takes about
0.1 s for 700,000 entries, where a Spark shuffle and sort cost about 0.4 s of scheduling alone;
:mod:`r2d2.containment.sketch_spark` does the same with Spark for batches too large for the driver
(``tests/test_hashset_local.py`` checks the two agree).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from r2d2.containment.sketches import ERROR

ENTRY_BYTES = 40  # bytes of one hash-set entry in Arrow memory (4 int columns, a null signature)
ROW_GROUP_BYTES = 4 << 20  # bytes per Parquet row group of a hash set: readers of a few sets skip the rest
SCHEMA = pa.schema([("tid", pa.int64()), ("col", pa.int32()), ("a", pa.int64()), ("b", pa.int64()),
                    ("sig", pa.binary()), pa.field("cnt", pa.int64(), nullable=False)])


def aggregate(entries: pa.Table) -> tuple[pa.Table, dict[int, str]]:
    """``(hash set, failures)``: the counted, sorted hash set of good tables, and ``tid -> reason``."""
    col = entries.column("col")
    errors = entries.filter(pc.equal(col, ERROR))
    failures: dict[int, str] = {}
    for tid, msg in zip(errors.column("tid").to_pylist(), errors.column("sig").to_pylist(), strict=True):
        failures.setdefault(int(tid), bytes(msg).decode("utf-8", "replace"))
    if failures:
        entries = entries.filter(pc.invert(pc.is_in(entries.column("tid"), pa.array(sorted(failures), pa.int64()))))
        col = entries.column("col")
    signatures = entries.filter(pc.greater_equal(col, 0)).select(["tid", "col", "a", "b", "sig", "cnt"])
    rows = entries.filter(pc.less(col, 0))
    tid, c, a, b, cnt = _count(*(_np(rows.column(n)) for n in ("tid", "col", "a", "b", "cnt")))
    sets = pa.Table.from_arrays([pa.array(tid), pa.array(c), pa.array(a), pa.array(b),
                                 pa.nulls(len(tid), pa.binary()), pa.array(cnt)], schema=SCHEMA)
    table = pa.concat_tables([signatures.cast(SCHEMA), sets])
    order = np.lexsort((table.column("col").to_numpy(), table.column("tid").to_numpy()))
    return table.take(pa.array(order)), failures


def _np(column: pa.ChunkedArray) -> np.ndarray:
    return column.to_numpy()


_MIX_TID = np.uint64(0x9E3779B97F4A7C15)
_MIX_COL = np.uint64(0xC2B2AE3D27D4EB4F)


def _count(tid: np.ndarray, col: np.ndarray, a: np.ndarray, b: np.ndarray,
           cnt: np.ndarray) -> tuple[np.ndarray, ...]:
    """Distinct ``(tid, col, a, b)`` with summed ``cnt``, in order of first appearance.

    Rows are grouped by one 64-bit key, ``a`` mixed with the set's ``(tid, col)`` (a hash table on
    one integer key is several times faster than on four), and every row is then checked against
    its group's first row: when two different rows ever share a key (a 64-bit coincidence), the
    exact four-key grouping is used instead, so the answer never depends on the shortcut."""
    if not len(a):
        return tid, col, a, b, cnt
    with np.errstate(over="ignore"):
        key = a.view(np.uint64) ^ (tid.view(np.uint64) * _MIX_TID + col.astype(np.int64).view(np.uint64) * _MIX_COL)
    codes, _ = pd.factorize(key, sort=False)
    seen = np.maximum.accumulate(codes)
    first = np.flatnonzero(np.concatenate(([True], codes[1:] > seen[:-1])))  # codes come in order of appearance
    rep = first[codes]
    if not (np.array_equal(tid[rep], tid) and np.array_equal(col[rep], col) and np.array_equal(a[rep], a)
            and np.array_equal(b[rep], b)):
        grouped = (pa.table({"tid": tid, "col": col, "a": a, "b": b, "cnt": cnt})
                   .group_by(["tid", "col", "a", "b"], use_threads=False).aggregate([("cnt", "sum")]))
        return tuple(_np(grouped.column(n)) for n in ("tid", "col", "a", "b", "cnt_sum"))
    counts = np.bincount(codes, weights=cnt, minlength=len(first)).astype(np.int64)  # exact below 2^53 rows
    return tid[first], col[first], a[first], b[first], counts


def write(table: pa.Table, path: str) -> None:
    """Write a hash set as one Parquet file (uncompressed: row hashes are random bits)."""
    Path(path).mkdir(parents=True)
    pq.write_table(table, str(Path(path) / "part-00000.parquet"), compression="none",
                   row_group_size=max(1, ROW_GROUP_BYTES // ENTRY_BYTES))


def aggregate_hash_set(raw: str, path: str) -> dict[int, str]:
    """Aggregate the entries written at ``raw`` (Parquet) into the hash set at ``path``; the failures."""
    entries = ds.dataset(raw, format="parquet").to_table(columns=["tid", "col", "a", "b", "sig", "cnt"])
    table, failures = aggregate(entries)
    write(table, path)
    return failures
