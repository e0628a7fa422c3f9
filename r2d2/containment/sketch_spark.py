"""Stage 3 for tables too large to count in one task: a Spark job over their file work items, a shuffle.

The job's input is ``spark.range(tasks)``; each task reads and hashes its share of the batch's files
with :func:`r2d2.containment.filework.work_entries` (balanced by bytes), so the plan has one branch
however many tables the batch holds. Spark counts the entries into the hash set (sorted by table,
small row groups): the same row sets a whole-table task writes (:mod:`r2d2.containment.tablework`),
plus the partial signatures, merged by the summary (on the driver when the set is small, else by two
Spark jobs).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from r2d2.containment import minhash as mh
from r2d2.containment.filework import FileWork, work_entries
from r2d2.containment.hashset_local import ROW_GROUP_BYTES
from r2d2.containment.sketches import ERROR, sample_limit
from r2d2.containment.summary_local import Counts, Summary, summarize
from r2d2.engine.items import items_frame
from r2d2.engine.local import local_frame
from r2d2.lake import fs as lakefs

ENTRIES = "tid long, col int, a long, b long, sig binary, cnt long"
TASK_BYTES = 64 << 20  # file bytes per task
REDUCE_BYTES = 32 << 20  # lake bytes per reduce task of the hash-set aggregation
ARROW_BATCH_ROWS = 50_000  # rows per Arrow batch between the JVM and Python: fewer, larger numpy calls


@contextmanager
def arrow_batch_rows(spark: SparkSession, rows: int) -> Iterator[None]:
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    old = spark.conf.get(key) or "10000"  # 10000: Spark's default
    spark.conf.set(key, str(rows))
    try:
        yield
    finally:
        spark.conf.set(key, old)


def reduce_tasks(size: int, most: int, cores: int) -> int:
    """Reduce tasks for a batch of ``size`` lake bytes: as many as its size calls for (a small
    batch: one per core), not the session's fixed count, since each task costs a file and
    scheduling; and a whole number of waves over the cores."""
    cores = max(1, cores)
    needed = max(cores, -(-size // REDUCE_BYTES))
    return max(1, min(most, -(-needed // cores) * cores))


def run_batch(spark: SparkSession, works: Sequence[FileWork], path: str, *, perms: mh.Perms, sample_k: int,
              local_bytes: int) -> tuple[Summary, dict[int, str], int]:
    """Hash set of the batch at ``path``: ``(summary, failures, Spark jobs)``; a written hash set of
    at most ``local_bytes`` is summarised on the driver."""
    frame = items_frame(spark, works, lambda w: work_entries(w, perms), ENTRIES,
                        weights=[w.size for w in works], weight_per_task=TASK_BYTES)
    limit = _limit(sample_k)
    with arrow_batch_rows(spark, ARROW_BATCH_ROWS):
        keys = ("tid", "col", "a", "b", "sig")  # sig a key, not an aggregate: keeps a hash aggregation
        parts = reduce_tasks(sum(w.size for w in works), int(spark.conf.get("spark.sql.shuffle.partitions") or 8),
                             spark.sparkContext.defaultParallelism)
        grouped = frame.repartition(parts, *keys).groupBy(*keys).agg(F.sum("cnt").alias("cnt"))
        (grouped.sortWithinPartitions("tid", "col").write.option("parquet.block.size", ROW_GROUP_BYTES)
         .option("compression", "none").parquet(lakefs.spark_path(path)))
    if dataset_bytes(path) <= local_bytes:  # two Spark jobs cost more than reading it here
        return summarize(path, limit), _failures(path), 1
    signatures, counts, errors = _collect_summary(spark, path)
    samples = _collect_samples(spark, path, counts, sample_k) if counts else []
    return (signatures, counts, samples), errors, 3 if counts else 2


def _limit(k: int):
    return lambda distinct: sample_limit(distinct, k)


def dataset_bytes(path: str) -> int:
    return lakefs.tree_bytes(path, ".parquet")


def _failures(path: str) -> dict[int, str]:
    rows = lakefs.dataset(path).to_table(columns=["tid", "sig"], filter=pc.field("col") == ERROR)
    return {int(t): bytes(m).decode("utf-8", "replace")
            for t, m in zip(rows.column("tid").to_pylist(), rows.column("sig").to_pylist(), strict=True)}


def _collect_summary(spark: SparkSession, path: str) -> tuple[dict[tuple[int, int], np.ndarray], Counts,
                                                                   dict[int, str]]:
    """One job: merged signatures per (table, column), ``(rows, distinct rows)`` per row set, failures."""
    rows = spark.read.parquet(lakefs.spark_path(path)).groupBy("tid", "col").agg(
        F.sum("cnt").alias("rows"), F.count(F.lit(1)).alias("distinct_rows"),
        F.collect_list("sig").alias("sigs")).collect()  # sig is null on row-set entries: not collected
    merged: dict[tuple[int, int], np.ndarray] = {}
    counts: Counts = {}
    errors: dict[int, str] = {}
    for row in rows:
        if row["col"] == ERROR:
            errors[int(row["tid"])] = bytes(row["sigs"][0]).decode("utf-8", "replace")
        elif row["col"] < 0:
            counts[(row["tid"], row["col"])] = (int(row["rows"]), int(row["distinct_rows"]))
        else:
            merged[(row["tid"], row["col"])] = np.minimum.reduce(
                [np.frombuffer(sig, dtype=np.uint32) for sig in row["sigs"]])
    return merged, counts, errors


def _collect_samples(spark: SparkSession, path: str, counts: Mapping[tuple[int, int], tuple[int, int]],
                     k: int) -> list[tuple[int, int, int, int]]:
    """Each row set's threshold sample: every hash ``(tid, col, a, b)`` with ``a <= sample_limit``
    (about 2k of them, since row hashes are uniform: no sort of whole tables)."""
    sets = spark.read.parquet(lakefs.spark_path(path)).where((F.col("col") < 0) & (F.col("col") != ERROR))
    limits = [(tid, col, sample_limit(distinct, k)) for (tid, col), (_, distinct) in counts.items()]
    limit_df = local_frame(spark, limits, [("tid", pa.int64()), ("col", pa.int32()), ("limit", pa.int64())])
    picked = (sets.join(F.broadcast(limit_df), ["tid", "col"]).where(F.col("a") <= F.col("limit"))
              .select("tid", "col", "a", "b"))
    return [(r["tid"], r["col"], r["a"], r["b"]) for r in picked.collect()]
