"""Stage 3's hash-set aggregation on the driver, with Arrow: the same dataset a Spark shuffle writes.

Work items give entries ``(tid, col, a, b, sig, cnt)`` (:mod:`r2d2.containment.filework`). The hash set
keeps every partial signature (``col >= 0``) as it is, counts equal row-set entries (``col < 0``: one
row per distinct ``(tid, col, a, b)``, ``cnt`` summed) and is sorted by ``(tid, col)``; a failed item's
``col = ERROR`` entry fails its table, whose entries are left out. On the driver this takes about
0.15 s for 400,000 entries, where a Spark shuffle and sort cost about 0.4 s of scheduling alone;
:mod:`r2d2.containment.sketch_spark` does the same with Spark for batches too large for the driver
(``tests/test_hashset_local.py`` checks the two agree).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
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
    counted = (entries.filter(pc.less(col, 0)).select(["tid", "col", "a", "b", "cnt"])
               .group_by(["tid", "col", "a", "b"], use_threads=False).aggregate([("cnt", "sum")]))
    sets = pa.Table.from_arrays(
        [counted.column("tid"), counted.column("col"), counted.column("a"), counted.column("b"),
         pa.nulls(counted.num_rows, pa.binary()), counted.column("cnt_sum")], schema=SCHEMA)
    table = pa.concat_tables([signatures.cast(SCHEMA), sets])
    order = np.lexsort((table.column("col").to_numpy(), table.column("tid").to_numpy()))
    return table.take(pa.array(order)), failures


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
