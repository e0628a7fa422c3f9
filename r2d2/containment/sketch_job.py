"""Stage 3 work: content sketches of many tables in few Spark jobs, each table read once.

One job per batch reads every table of the batch and writes a small *hash set* to the work folder:
``(tid, col, a, b, cnt)`` where ``col >= 0`` rows are distinct 32-bit value hashes of column ``col``
(``a``) and ``col = -1`` rows are distinct 128-bit row hashes ``(a, b)`` with their row counts
(children only). Two cheap jobs over that hash set then give the column MinHash signatures and each
child's bottom-k row sample and counts. The row hash sets stay on disk for exact verification, so
no table is read again for stage 5.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from r2d2.containment import hashing
from r2d2.containment import minhash as mh
from r2d2.engine.batch import run_isolating
from r2d2.lake.read import group_key, groupable, read_table, read_tagged
from r2d2.types import TableProfile

ROW = -1  # `col` value of row-hash entries in a hash set
_GROUP_SHIFT = 16  # group key = tid << 16 | col  (tables have < 65,536 columns)


@dataclass(frozen=True)
class SketchRequest:
    """What stage 3 needs of one table: MinHash of ``columns``; a row set when it is a child."""

    table_id: int
    profile: TableProfile
    columns: tuple[str, ...]
    rowset: bool


@dataclass
class TableSketch:
    table_id: int
    fingerprint: str
    minhash: dict[str, np.ndarray] = field(default_factory=dict)  # column key → signature
    sample: list[tuple[int, int]] = field(default_factory=list)  # bottom-k row hashes, sorted
    rows: int | None = None
    distinct_rows: int | None = None
    rowset_path: str | None = None  # hash-set dataset holding this table's row hashes


@dataclass(frozen=True)
class SketchOutcome:
    sketches: dict[int, TableSketch]
    failures: dict[int, str]
    bytes_read: int
    jobs: int


def _hash_entries(df: DataFrame, profile: TableProfile, columns: Sequence[str], rowset: str | None) -> str:
    """SQL exploding each row into its value hashes and (when ``rowset`` is a condition) its row hash."""
    wanted = {n.lower() for n in columns}
    cols = [c for c in hashing.ordered_columns(profile) if c.key in wanted]
    entries = [f"named_struct('col', {i}, 'a', {v}, 'b', 0L)"
               for i, v in enumerate(hashing.value_hashes(df, cols))]
    if rowset is not None:
        h1, h2 = hashing.row_hashes(df, hashing.ordered_columns(profile))
        entries.append(f"named_struct('col', {ROW}, 'a', CASE WHEN {rowset} THEN {h1} END, 'b', {h2})")
    return f"explode(array({', '.join(entries)})) AS e"


def _finish(exploded: DataFrame) -> DataFrame:
    return exploded.selectExpr("CAST(tid AS BIGINT) AS tid", "CAST(e.col AS INT) AS col", "e.a AS a", "e.b AS b",
                               ).where("a IS NOT NULL")


def _table_hashes(spark: SparkSession, req: SketchRequest) -> DataFrame:
    df = read_table(spark, req.profile)
    entries = _hash_entries(df, req.profile, req.columns, "true" if req.rowset else None)
    return _finish(df.selectExpr(f"{req.table_id} AS tid", entries))


def _group_hashes(spark: SparkSession, reqs: Sequence[SketchRequest]) -> DataFrame:
    """Hashes of several same-schema tables from one scan of all their files."""
    df = read_tagged(spark, [(r.profile, {"tid": r.table_id, "child": int(r.rowset)}) for r in reqs])
    rowset = "child = 1" if any(r.rowset for r in reqs) else None
    return _finish(df.selectExpr("tid", _hash_entries(df, reqs[0].profile, reqs[0].columns, rowset)))


def _write_hash_set(spark: SparkSession, batch: Sequence[SketchRequest], out: Path) -> str:
    groups: dict[object, list[SketchRequest]] = {}
    for req in batch:
        key = group_key(req.profile) if groupable(req.profile) else ("single", req.table_id)
        groups.setdefault(key, []).append(req)
    frames = [_table_hashes(spark, g[0]) if len(g) == 1 else _group_hashes(spark, g) for g in groups.values()]
    union = reduce(DataFrame.unionAll, frames)
    grouped = union.groupBy("tid", "col", "a", "b").agg(F.count(F.lit(1)).alias("cnt"))
    path = str(out / f"hs-{uuid.uuid4().hex}")
    grouped.write.parquet(path)
    return path


def _align_groups(requests: Sequence[SketchRequest]) -> list[SketchRequest]:
    """Give tables that share a scan the same columns, and order them so batches keep groups together."""
    union: dict[object, set[str]] = {}
    for req in requests:
        if groupable(req.profile):
            union.setdefault(group_key(req.profile), set()).update(req.columns)
    aligned = []
    for req in requests:
        if groupable(req.profile):
            cols = union[group_key(req.profile)]
            req = SketchRequest(req.table_id, req.profile,
                                tuple(c.name for c in req.profile.columns if c.name in cols), req.rowset)
        aligned.append(req)
    return sorted(aligned, key=lambda r: (repr(group_key(r.profile)) if groupable(r.profile) else "~", r.table_id))


def _minhash_partials(num_perm: int, seed: int):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            tid = batch.column("tid").to_numpy().astype(np.int64)
            col = batch.column("col").to_numpy().astype(np.int64)
            hashes = batch.column("a").to_numpy().astype(np.uint32)
            ids, sigs = mh.grouped_signatures((tid << _GROUP_SHIFT) | col, hashes,
                                              num_perm=num_perm, seed=seed)
            yield pa.RecordBatch.from_pydict({
                "gid": pa.array(ids, pa.int64()),
                "sig": pa.array([s.tobytes() for s in sigs], pa.binary()),
            })
    return run


def _collect_minhash(spark: SparkSession, path: str, num_perm: int, seed: int) -> dict[int, np.ndarray]:
    rows = (spark.read.parquet(path).where(F.col("col") >= 0).select("tid", "col", "a")
            .mapInArrow(_minhash_partials(num_perm, seed), "gid long, sig binary").collect())
    merged: dict[int, np.ndarray] = {}
    for row in rows:
        sig = np.frombuffer(row["sig"], dtype=np.uint32)
        prev = merged.get(row["gid"])
        merged[row["gid"]] = sig.copy() if prev is None else np.minimum(prev, sig)
    return merged


def _collect_samples(spark: SparkSession, path: str, k: int) -> list:
    rows = spark.read.parquet(path).where(F.col("col") == ROW)
    by_tid = Window.partitionBy("tid")
    ranked = rows.select(
        "tid", "a", "b",
        F.row_number().over(by_tid.orderBy("a", "b")).alias("rn"),
        F.count(F.lit(1)).over(by_tid).alias("distinct_rows"),
        F.sum("cnt").over(by_tid).alias("rows"),
    )
    return ranked.where(F.col("rn") <= k).collect()


def compute_sketches(
    spark: SparkSession,
    requests: Sequence[SketchRequest],
    *,
    work_dir: Path,
    num_perm: int,
    seed: int,
    sample_k: int,
    batch_size: int,
) -> SketchOutcome:
    """Sketch every requested table; tables whose read fails are reported in ``failures``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    jobs = 0

    requests = _align_groups(requests)

    def job(batch: Sequence[SketchRequest]) -> tuple[Sequence[SketchRequest], str]:
        nonlocal jobs
        jobs += 1
        return batch, _write_hash_set(spark, batch, work_dir)

    outcome = run_isolating(list(requests), job, batch_size=batch_size)
    failures = {req.table_id: msg for req, msg in outcome.failures}
    sketches: dict[int, TableSketch] = {}
    bytes_read = 0
    for batch, path in outcome.results:
        for req in batch:
            names = [c.name for c in req.profile.supported_columns] if req.rowset else list(req.columns)
            bytes_read += hashing.column_bytes(req.profile, names)
            sketches[req.table_id] = TableSketch(req.table_id, req.profile.fingerprint,
                                                 rowset_path=path if req.rowset else None)
        order = {req.table_id: hashing.ordered_columns(req.profile) for req in batch}
        wanted = {req.table_id: {n.lower() for n in req.columns} for req in batch}
        signatures = _collect_minhash(spark, path, num_perm, seed)
        for gid, sig in signatures.items():
            tid, col = gid >> _GROUP_SHIFT, gid & ((1 << _GROUP_SHIFT) - 1)
            cols = [c for c in order[tid] if c.key in wanted[tid]]
            sketches[tid].minhash[cols[col].key] = sig
        for req in batch:  # columns with no non-null value have the empty signature
            for key in wanted[req.table_id]:
                sketches[req.table_id].minhash.setdefault(key, mh.empty_signature(num_perm))
        if any(req.rowset for req in batch):
            for row in _collect_samples(spark, path, sample_k):
                sk = sketches[row["tid"]]
                sk.sample.append((row["a"], row["b"]))
                sk.rows, sk.distinct_rows = int(row["rows"]), int(row["distinct_rows"])
            jobs += 1
        jobs += 1
    for sk in sketches.values():
        sk.sample.sort()
        if sk.rowset_path is not None and sk.rows is None:
            sk.rows, sk.distinct_rows = 0, 0
    return SketchOutcome(sketches, failures, bytes_read, jobs)
