"""The floor: the bare cost of reading every table once with Spark, all supported columns decoded.

Any detection method that looks at all content must at least do this, so the suite reports it
next to each method. Every active table is read once with its profile's reader
(:func:`r2d2.lake.read.read_table`); same-schema plain Parquet tables are read by one scan of all
their files, as R2D2 and the baselines do (no tagging join: the floor needs no table ids). Rows are
materialised into Spark's ``noop`` sink, which decodes every selected column and writes nothing.
Bytes read are counted like :mod:`bench.baselines` (:meth:`r2d2.types.TableProfile.scan_bytes`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from pyspark.sql import DataFrame, SparkSession

from bench.baselines import BaselineResult
from r2d2.lake import fs as lakefs
from r2d2.lake.read import group_key, groupable, read_table
from r2d2.lake.sparkschema import qcol
from r2d2.types import TableProfile

__all__ = ["read_all_floor"]


def _frame(spark: SparkSession, profiles: Mapping[int, TableProfile], unit: Sequence[int]) -> DataFrame | None:
    first = profiles[unit[0]]
    cols = [qcol(c.name) for c in first.supported_columns]
    if not cols:
        return None
    if len(unit) == 1:
        return read_table(spark, first).select(*cols)
    files = [lakefs.join(profiles[t].location, f.path) for t in unit for f in profiles[t].files]
    schema = read_table(spark, first).schema  # the schema the profile's reader gives this group
    return spark.read.schema(schema).parquet(*files).select(*cols)


def read_all_floor(spark: SparkSession, profiles: Mapping[int, TableProfile], *,
                   threads: int = 2) -> BaselineResult:
    """Read every table of ``profiles`` once, one noop action per scan unit; no edges."""
    t0 = time.perf_counter()
    units: dict[object, list[int]] = {}
    for tid in sorted(profiles):
        p = profiles[tid]
        units.setdefault((group_key(p), "g") if groupable(p) else ("single", tid), []).append(tid)
    frames: list[tuple[DataFrame, list[int]]] = []
    for unit in units.values():
        df = _frame(spark, profiles, unit)
        if df is not None:
            frames.append((df, unit))

    # Frames differ in schema, so they cannot be unioned into one job: each is its own noop action,
    # submitted from `threads` threads so that Spark's per-job overhead overlaps with other scans.
    def run(item: tuple[DataFrame, list[int]]) -> int:
        df, unit = item
        df.write.format("noop").mode("overwrite").save()
        return sum(profiles[t].scan_bytes([c.name for c in profiles[t].supported_columns]) for t in unit)

    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        bytes_read = sum(pool.map(run, frames))
    return BaselineResult([], time.perf_counter() - t0, bytes_read, len(frames), stats={
        "tables_read": sum(len(u) for _, u in frames), "scan_units": len(units), "threads": threads,
        "skipped_no_columns": len(units) - len(frames)})
