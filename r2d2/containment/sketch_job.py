"""Stage 3 work: content sketches of many tables in few Spark jobs, each table read once.

One job per batch reads every table of the batch (same-schema Parquet tables share one scan of all
their files). Each row becomes 32-bit value hashes of the wanted columns and, for children, its
128-bit row hash. A Python step (Arrow batches, numpy) turns the value hashes of each batch into
partial MinHash signatures right away — values are never shuffled — and passes the row hashes on;
Spark counts the row hashes and writes a small *hash set* to the work folder: ``(tid, col, a, b,
cnt, sig)`` where ``col >= 0`` rows are partial signatures of column ``col`` (merged by element-wise
minimum on the driver) and ``col = -1`` rows are distinct row hashes ``(a, b)`` with their counts.
The row hash sets stay on disk for the probe and exact verification, so no child is read again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
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
    rowset_bytes: int = 0  # bytes of that dataset taken by this table's row hashes


@dataclass(frozen=True)
class SketchOutcome:
    sketches: dict[int, TableSketch]
    failures: dict[int, str]
    bytes_read: int
    jobs: int


def _hash_columns(df: DataFrame, profile: TableProfile, columns: Sequence[str], child: str) -> list[str]:
    """SQL of ``(tid, child, h1, h2, vals)``: the row hash (children only) and the value hashes."""
    wanted = {n.lower() for n in columns}
    cols = [c for c in hashing.ordered_columns(profile) if c.key in wanted]
    values = hashing.value_hashes(df, cols)
    h1, h2 = hashing.row_hashes(df, hashing.ordered_columns(profile))
    return [
        "CAST(`__tid` AS BIGINT) AS tid",
        f"CAST({child} AS INT) AS child",
        f"CASE WHEN {child} = 1 THEN {h1} END AS h1",
        f"CASE WHEN {child} = 1 THEN {h2} END AS h2",
        f"array({', '.join(values)}) AS vals" if values else "CAST(array() AS ARRAY<BIGINT>) AS vals",
    ]


def _table_hashes(spark: SparkSession, req: SketchRequest) -> DataFrame:
    df = read_table(spark, req.profile).selectExpr(f"{req.table_id} AS `__tid`", "*")
    return df.selectExpr(*_hash_columns(df, req.profile, req.columns, "1" if req.rowset else "0"))


def _group_hashes(spark: SparkSession, reqs: Sequence[SketchRequest]) -> DataFrame:
    """Hashes of several same-schema tables from one scan of all their files."""
    df = read_tagged(spark, [(r.profile, {"__tid": r.table_id, "__child": int(r.rowset)}) for r in reqs])
    return df.selectExpr(*_hash_columns(df, reqs[0].profile, reqs[0].columns, "`__child`"))


_HASH_SET_SCHEMA = "tid long, col int, a long, b long, sig binary"


def _sketch_rows(num_perm: int, seed: int):
    """mapInArrow body: per Arrow batch, the MinHash partial signature of each (table, column) and
    the row hashes of child rows. Signatures are merged later (element-wise minimum); row hashes are
    counted by Spark. Values never leave the JVM except as 32-bit hashes, and are never shuffled."""
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        part = ctx.partitionId() if ctx is not None else 0
        for n, batch in enumerate(batches):
            tid = batch.column("tid").to_numpy(zero_copy_only=False)
            out_tid, out_col, out_a, out_b, out_sig = [], [], [], [], []
            vals = batch.column("vals")
            for t in np.unique(tid):
                rows = np.flatnonzero(tid == t)
                sub = vals.take(pa.array(rows))
                width = sub.value_lengths()[0].as_py() if len(sub) else 0
                flat = sub.flatten()  # row-major: width values per row, nulls kept
                hashes = flat.fill_null(0).to_numpy()
                present = flat.is_valid().to_numpy(zero_copy_only=False)
                for c in range(width):
                    column = hashes[c::width][present[c::width]].astype(np.uint32)
                    sig = mh.signature(np.unique(column), num_perm=num_perm, seed=seed)
                    out_tid.append(int(t))
                    out_col.append(c)
                    out_a.append((part << 32) | n)  # unique per partial: Spark never merges two
                    out_b.append(0)
                    out_sig.append(sig.tobytes())
            child = batch.column("h1").is_valid()
            rows_tid = tid[child.to_numpy(zero_copy_only=False)]
            # filter before converting: a null would turn the 64-bit hashes into floats
            h1 = batch.column("h1").filter(child).to_numpy()
            h2 = batch.column("h2").filter(child).to_numpy()
            yield pa.RecordBatch.from_pydict({
                "tid": pa.array(np.concatenate([np.asarray(out_tid, np.int64), rows_tid.astype(np.int64)])),
                "col": pa.array(np.concatenate([np.asarray(out_col, np.int32),
                                                np.full(len(rows_tid), ROW, np.int32)])),
                "a": pa.array(np.concatenate([np.asarray(out_a, np.int64), h1.astype(np.int64)])),
                "b": pa.array(np.concatenate([np.asarray(out_b, np.int64), h2.astype(np.int64)])),
                "sig": pa.array(out_sig + [None] * len(rows_tid), pa.binary()),
            })
    return run


def _write_hash_set(spark: SparkSession, batch: Sequence[SketchRequest], out: Path, *,
                    num_perm: int, seed: int) -> str:
    groups: dict[object, list[SketchRequest]] = {}
    for req in batch:
        key = group_key(req.profile) if groupable(req.profile) else ("single", req.table_id)
        groups.setdefault(key, []).append(req)
    frames = [_table_hashes(spark, g[0]) if len(g) == 1 else _group_hashes(spark, g) for g in groups.values()]
    scanned = reduce(DataFrame.unionAll, frames).mapInArrow(_sketch_rows(num_perm, seed), _HASH_SET_SCHEMA)
    grouped = scanned.groupBy("tid", "col", "a", "b").agg(F.count(F.lit(1)).alias("cnt"),
                                                          F.first("sig").alias("sig"))
    path = str(out / f"hs-{uuid.uuid4().hex}")
    grouped.sortWithinPartitions("tid", "col").write.parquet(path)
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


def _collect_minhash(spark: SparkSession, path: str) -> dict[int, np.ndarray]:
    rows = spark.read.parquet(path).where(F.col("col") >= 0).select("tid", "col", "sig").collect()
    merged: dict[int, np.ndarray] = {}
    for row in rows:
        gid = (row["tid"] << _GROUP_SHIFT) | row["col"]
        sig = np.frombuffer(row["sig"], dtype=np.uint32)
        prev = merged.get(gid)
        merged[gid] = sig.copy() if prev is None else np.minimum(prev, sig)
    return merged


def _collect_samples(spark: SparkSession, path: str, k: int) -> tuple[dict[int, tuple[int, int]], list]:
    """Each child's counts ``tid -> (rows, distinct rows)`` and its bottom-k row hashes (by ``a``).

    No sort of whole tables: a first job counts, then only hashes below a per-table threshold
    (expected 2k rows, since row hashes are uniform) are collected and the k smallest kept. If the
    threshold lets fewer than k through, the sample is the bottom of what exists below it: still a
    deterministic set of the child's rows, so the probe stays sound.
    """
    rows = spark.read.parquet(path).where(F.col("col") == ROW)
    counts = {r["tid"]: (int(r["rows"]), int(r["distinct_rows"])) for r in rows.groupBy("tid").agg(
        F.sum("cnt").alias("rows"), F.count(F.lit(1)).alias("distinct_rows")).collect()}
    if not counts:
        return counts, []
    span = 1 << 64
    limits = [(tid, min((1 << 63) - 1, -(1 << 63) + (span * 2 * k) // max(distinct, 1)))
              for tid, (_, distinct) in counts.items()]
    limit_df = spark.createDataFrame(limits, "tid long, limit long")
    picked = rows.join(F.broadcast(limit_df), "tid").where(F.col("a") <= F.col("limit")).select("tid", "a", "b")
    return counts, picked.collect()


def _dataset_bytes(path: str) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*.parquet"))


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
        return batch, _write_hash_set(spark, batch, work_dir, num_perm=num_perm, seed=seed)

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
        signatures = _collect_minhash(spark, path)
        for gid, sig in signatures.items():
            tid, col = gid >> _GROUP_SHIFT, gid & ((1 << _GROUP_SHIFT) - 1)
            cols = [c for c in order[tid] if c.key in wanted[tid]]
            sketches[tid].minhash[cols[col].key] = sig
        for req in batch:  # columns with no non-null value have the empty signature
            for key in wanted[req.table_id]:
                sketches[req.table_id].minhash.setdefault(key, mh.empty_signature(num_perm))
        if any(req.rowset for req in batch):
            counts, picked = _collect_samples(spark, path, sample_k)
            size, entries = _dataset_bytes(path), sum(d for _, d in counts.values()) or 1
            for tid, (rows, distinct) in counts.items():
                sketches[tid].rows, sketches[tid].distinct_rows = rows, distinct
                sketches[tid].rowset_bytes = size * distinct // entries  # this child's share of the file
            for row in picked:
                sketches[row["tid"]].sample.append((row["a"], row["b"]))
            jobs += 2
        jobs += 1
    for sk in sketches.values():
        sk.sample = sorted(sk.sample)[:sample_k]
        if sk.rowset_path is not None and sk.rows is None:
            sk.rows, sk.distinct_rows = 0, 0
    return SketchOutcome(sketches, failures, bytes_read, jobs)
