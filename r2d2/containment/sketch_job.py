"""Stage 3 work: content sketches of many tables in few Spark jobs, each table read once.

One job per batch reads every table of the batch (same-schema Parquet tables share one scan of all
their files). Each row becomes flat columns: 32-bit value hashes of the wanted columns and 128-bit
row hashes:
over all columns for children (and for parents compared on all their columns), and over each
*projection* a candidate edge compares a parent on (one per distinct child column set). A Python
step (Arrow batches, numpy) turns the value hashes of each batch into partial MinHash signatures
right away — values are never shuffled — and passes the row hashes on; Spark counts the row hashes
(or, for a small batch, the driver: :mod:`r2d2.containment.hashset_local`) and writes a small
*hash set* to the work folder: ``(tid, col, a, b, cnt, sig)`` where ``col >= 0``
rows are partial signatures of column ``col`` (merged by element-wise minimum on the driver),
``col = -1`` rows are distinct full-row hashes ``(a, b)`` with their counts, and ``col <= -2`` rows
the same for one projection. The hash sets stay on disk for the probe and exact verification, so no
table that reaches the content stages is read more than once.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import reduce
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from r2d2.containment import hashing
from r2d2.containment import minhash as mh
from r2d2.containment.hashset_local import ENTRY_BYTES, aggregate_hash_set
from r2d2.containment.summary_local import summarize
from r2d2.engine.batch import run_isolating, short_error
from r2d2.engine.local import local_frame
from r2d2.engine.warm import warm_python_workers
from r2d2.errors import DetectionError
from r2d2.lake.read import group_key, groupable, read_table, read_tagged
from r2d2.types import TableProfile

HASHSET_ROW_GROUP = 4 << 20  # bytes per Parquet row group of a hash set
ROW = -1  # `col` value of full-row hash entries in a hash set; projections use -2, -3, ...


@dataclass(frozen=True)
class SketchRequest:
    """What stage 3 needs of one table: MinHash of ``columns``; a row set when it is a child; and
    a row set per projection (column names, in the hash order verification uses) it is a parent on."""

    table_id: int
    profile: TableProfile
    columns: tuple[str, ...]
    rowset: bool
    projections: tuple[tuple[str, ...], ...] = ()


ALL = (1 << 63) - 1  # a sample limit that takes every hash


@dataclass(frozen=True)
class ProjectionSet:
    """Where a table's row hashes over one projection are (dataset, ``col`` code, bytes taken), and
    its threshold sample: every hash of the set whose ``a`` is at most ``limit``."""

    path: str
    code: int
    bytes: int = 0
    limit: int = ALL
    sample: tuple[tuple[int, int], ...] = ()


@dataclass
class TableSketch:
    table_id: int
    fingerprint: str
    minhash: dict[str, np.ndarray] = field(default_factory=dict)  # column key → signature
    sample: list[tuple[int, int]] = field(default_factory=list)  # every row hash with a <= sample_limit, sorted
    sample_limit: int | None = None  # None: no sample (not a child, or an old cache entry)
    rows: int | None = None
    distinct_rows: int | None = None
    rowset_path: str | None = None  # hash-set dataset holding this table's row hashes
    rowset_bytes: int = 0  # bytes of that dataset taken by this table's row hashes
    projections: dict[tuple[str, ...], ProjectionSet] = field(default_factory=dict)


@dataclass(frozen=True)
class SketchOutcome:
    sketches: dict[int, TableSketch]
    failures: dict[int, str]
    bytes_read: int
    jobs: int


def _hash_columns(df: DataFrame, reqs: Sequence[SketchRequest], codes: Mapping[tuple[str, ...], int],
                  shared: bool) -> tuple[list[str], int, list[int]]:
    """SQL of ``([tid], v0.., r1a, r1b, r2a, r2b, ..)``, the number of ``v`` columns and the row-set
    codes: one 32-bit value hash
    column per wanted column, and the two halves of each row hash a table needs (full row: code
    ``ROW``, column ``r1a``/``r1b``; projection code ``-n``: ``rNa``/``rNb``).

    Flat columns, not arrays of structs: Arrow hands them to Python as plain buffers. ``shared``:
    ``df`` holds several same-schema tables tagged by ``__tid`` and, per row set, ``__wN`` (1 when
    the row's table keeps set ``-N``): a set kept by only some of them is null for the others.
    Table ids are never literals in this SQL (a single table's id is added by the Python step):
    Spark inlines literals into generated code, so every table would compile its own plan, while
    same-schema tables now share one.
    """
    profile = reqs[0].profile
    wanted = {n.lower() for n in reqs[0].columns}
    by_name = {c.name: c for c in profile.columns}
    values = hashing.value_hashes(df, [c for c in hashing.ordered_columns(profile) if c.key in wanted])
    hashed = _rowsets(reqs, codes)
    names_of = {code: names for names, code in codes.items()}
    out = [*(["CAST(`__tid` AS BIGINT) AS tid"] if shared else []), *(f"{v} AS v{i}" for i, v in enumerate(values))]
    for code, tids in hashed.items():
        cols = hashing.ordered_columns(profile) if code == ROW else [by_name[n] for n in names_of[code]]
        h1, h2 = hashing.row_hashes(df, cols)
        if shared and len(tids) < len(reqs):
            guard = f"`__w{-code}` = 1"
            h1, h2 = f"CASE WHEN {guard} THEN {h1} END", f"CASE WHEN {guard} THEN {h2} END"
        out += [f"{h1} AS r{-code}a", f"{h2} AS r{-code}b"]
    return out, len(values), list(hashed)


def _rowsets(reqs: Sequence[SketchRequest], codes: Mapping[tuple[str, ...], int]) -> dict[int, list[int]]:
    """Row-set code -> the tables of ``reqs`` that keep it (full rows first, then projections)."""
    hashed: dict[int, list[int]] = {}
    for req in reqs:
        if req.rowset:
            hashed.setdefault(ROW, []).append(req.table_id)
        for names in req.projections:
            hashed.setdefault(codes[names], []).append(req.table_id)
    return dict(sorted(hashed.items(), reverse=True))


def _frame(spark: SparkSession, reqs: Sequence[SketchRequest], codes: Mapping[tuple[str, ...], int], *,
           num_perm: int, seed: int) -> DataFrame:
    """One scan unit (a table, or same-schema tables sharing one scan) as hash-set entries."""
    single = reqs[0].table_id if len(reqs) == 1 else None
    if single is not None:
        df = read_table(spark, reqs[0].profile)
    else:
        keeps = _rowsets(reqs, codes)
        df = read_tagged(spark, [(r.profile, {"__tid": r.table_id, **{
            f"__w{-code}": int(r.table_id in tids) for code, tids in keeps.items()}}) for r in reqs])
    exprs, width, rowsets = _hash_columns(df, reqs, codes, shared=single is None)
    perms = mh.permutations(num_perm, seed)
    return df.selectExpr(*exprs).mapInArrow(_sketch_rows(width, rowsets, perms, single), _HASH_SET_SCHEMA)


_HASH_SET_SCHEMA = "tid long, col int, a long, b long, sig binary"


def _sketch_rows(width: int, rowsets: Sequence[int], perms: mh.Perms, table_id: int | None = None):
    """mapInArrow body: per Arrow batch, the MinHash partial signature of each (table, column) and
    the row hashes of every row set (``table_id``: the batches are one table's, with no ``tid``
    column). Signatures are merged later (element-wise minimum); row hashes are counted by Spark.
    Values never leave the JVM except as 32-bit hashes, and are never shuffled.

    A closure pickled by value: a worker imports only the modules it names (numpy, pyarrow and the
    numpy-only :mod:`r2d2.containment.minhash`), not this module and its driver-side imports."""
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        part = ctx.partitionId() if ctx is not None else 0
        for n, batch in enumerate(batches):
            tid = (np.full(batch.num_rows, table_id, np.int64) if table_id is not None
                   else batch.column("tid").to_numpy())
            out_tid: list[int] = []
            out_col: list[int] = []
            out_sig: list[bytes] = []
            for c in range(width):
                values = batch.column(f"v{c}")  # bigint hashes in [0, 2^32), null for null values
                if values.null_count:
                    present = values.is_valid().to_numpy(zero_copy_only=False)
                    ids, sigs = mh.grouped_signatures(tid[present], values.fill_null(0).to_numpy()[present]
                                                      .astype(np.uint32), perms)
                else:
                    ids, sigs = mh.grouped_signatures(tid, values.to_numpy().astype(np.uint32), perms)
                out_tid.extend(ids.tolist())
                out_col.extend([c] * len(ids))
                out_sig.extend(sig.tobytes() for sig in sigs)
            tids, cols = [np.asarray(out_tid, np.int64)], [np.asarray(out_col, np.int32)]
            # `a` of a partial is unique per (batch, partition): Spark never merges two partials
            a_parts, b_parts = [np.full(len(out_tid), (part << 32) | n, np.int64)], [np.zeros(len(out_tid), np.int64)]
            for code in rowsets:
                h1, h2 = batch.column(f"r{-code}a"), batch.column(f"r{-code}b")
                keep = h1.is_valid().to_numpy(zero_copy_only=False)  # null: a table not keeping this set
                tids.append(tid[keep])
                cols.append(np.full(int(keep.sum()), code, np.int32))
                a_parts.append(h1.fill_null(0).to_numpy()[keep])
                b_parts.append(h2.fill_null(0).to_numpy()[keep])
            rows = sum(len(t) for t in tids[1:])
            yield pa.RecordBatch.from_pydict({
                "tid": pa.array(np.concatenate(tids)), "col": pa.array(np.concatenate(cols)),
                "a": pa.array(np.concatenate(a_parts)), "b": pa.array(np.concatenate(b_parts)),
                "sig": pa.array(out_sig + [None] * rows, pa.binary()),
            })
    return run


def projection_codes(batch: Sequence[SketchRequest]) -> dict[tuple[str, ...], int]:
    """``col`` code of every distinct projection of a batch: -2, -3, ..."""
    names = sorted({p for req in batch for p in req.projections})
    return {p: ROW - 1 - i for i, p in enumerate(names)}


PLAN_THREADS = 4  # threads building a batch's DataFrames (driver-side planning, mostly waiting on the JVM)
REDUCE_BYTES = 32 << 20  # lake bytes per reduce task of the hash-set aggregation
ARROW_BATCH_ROWS = 50_000  # rows per Arrow batch into the Python step: fewer, larger numpy calls


def _write_hash_set(spark: SparkSession, batch: Sequence[SketchRequest], out: Path, *,
                    num_perm: int, seed: int, local_bytes: int = 0) -> str:
    """Write the batch's hash set; returns its path. Counted by Spark, or on the driver when its
    entries take at most ``local_bytes`` (:mod:`r2d2.containment.hashset_local`)."""
    groups: dict[object, list[SketchRequest]] = {}
    for req in batch:
        key = group_key(req.profile) if groupable(req.profile) else ("single", req.table_id)
        groups.setdefault(key, []).append(req)
    codes = projection_codes(batch)
    # Building a frame is driver work (file listing, a footer read, analysis of long SQL expressions,
    # ~0.2 s each): done by a few threads at once, it no longer adds up over the batch's scan units.
    with ThreadPoolExecutor(PLAN_THREADS) as pool:
        frames = list(pool.map(lambda g: _frame(spark, g, codes, num_perm=num_perm, seed=seed), groups.values()))
    entries = reduce(DataFrame.unionAll, frames)
    path = str(out / f"hs-{uuid.uuid4().hex}")
    if _entry_bytes(batch) <= local_bytes:
        raw = f"{path}-raw"  # named hs-*: swept by detect's garbage collection if a crash leaves it
        try:
            with arrow_batch_rows(spark, ARROW_BATCH_ROWS):
                entries.write.option("compression", "none").parquet(raw)
            aggregate_hash_set(raw, path, row_group_bytes=HASHSET_ROW_GROUP)
        finally:
            shutil.rmtree(raw, ignore_errors=True)
        return path
    # `sig` is part of the key, not an aggregate: a binary aggregation buffer (first(sig)) forces a
    # sort-based aggregation of every row hash; as a key it keeps the hash aggregation (each partial
    # signature is already unique by its `a`).
    keys = ("tid", "col", "a", "b", "sig")
    # The aggregation reuses this partitioning, so it is the only shuffle.
    parts = _reduce_tasks(sum(req.profile.num_bytes for req in batch),
                          int(spark.conf.get("spark.sql.shuffle.partitions") or 8),
                          spark.sparkContext.defaultParallelism)
    grouped = entries.repartition(parts, *keys).groupBy(*keys).agg(F.count(F.lit(1)).alias("cnt"))
    # Sorted by table and small row groups: a later run that needs a few tables' sets skips the rest
    # of the file through row-group statistics on `tid` (verification filters on it). Uncompressed:
    # row hashes are random bits, and compressing them only costs time.
    writer = (grouped.sortWithinPartitions("tid", "col").write.option("parquet.block.size", HASHSET_ROW_GROUP)
              .option("compression", "none"))
    with arrow_batch_rows(spark, ARROW_BATCH_ROWS):
        writer.parquet(path)
    return path


def _entry_bytes(batch: Sequence[SketchRequest]) -> int:
    """Driver memory the batch's row-set entries take in Arrow: one entry per row and row set (a
    table of unknown row count, CSV say, is taken to have a row per two bytes: an upper bound)."""
    return ENTRY_BYTES * sum((req.profile.num_rows if req.profile.num_rows is not None else req.profile.num_bytes // 2)
                             * (int(req.rowset) + len(req.projections)) for req in batch)


def _reduce_tasks(size: int, most: int, cores: int) -> int:
    """Reduce tasks for a batch of ``size`` lake bytes: as many as its size calls for (a small
    incremental batch: one per core), not the session's fixed count, since each task costs a file
    and scheduling; and a whole number of waves over the cores (3 tasks on 2 cores would run the
    last one alone, as long as the first two)."""
    cores = max(1, cores)
    needed = max(cores, -(-size // REDUCE_BYTES))
    return max(1, min(most, -(-needed // cores) * cores))


@contextmanager
def arrow_batch_rows(spark: SparkSession, rows: int) -> Iterator[None]:
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    old = spark.conf.get(key) or "10000"  # 10000: Spark's default
    spark.conf.set(key, str(rows))
    try:
        yield
    finally:
        spark.conf.set(key, old)


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
            req = replace(req, columns=tuple(c.name for c in req.profile.columns if c.name in cols))
        aligned.append(req)
    return sorted(aligned, key=lambda r: (repr(group_key(r.profile)) if groupable(r.profile) else "~", r.table_id))


Counts = dict[tuple[int, int], tuple[int, int]]  # (tid, col) -> (rows, distinct rows)


def _collect_summary(spark: SparkSession, path: str) -> tuple[dict[tuple[int, int], np.ndarray], Counts]:
    """One job over a hash set: the partial MinHash signatures, merged per (table, column), and the
    counts ``(tid, col) -> (rows, distinct rows)`` of every row set (full rows and projections)."""
    rows = spark.read.parquet(path).groupBy("tid", "col").agg(
        F.sum("cnt").alias("rows"), F.count(F.lit(1)).alias("distinct_rows"),
        F.collect_list("sig").alias("sigs")).collect()  # sig is null on row-set entries: not collected
    merged: dict[tuple[int, int], np.ndarray] = {}
    counts: dict[tuple[int, int], tuple[int, int]] = {}
    for row in rows:
        if row["col"] < 0:
            counts[(row["tid"], row["col"])] = (int(row["rows"]), int(row["distinct_rows"]))
            continue
        sigs = [np.frombuffer(sig, dtype=np.uint32) for sig in row["sigs"]]
        merged[(row["tid"], row["col"])] = np.minimum.reduce(sigs)
    return merged, counts


def sample_limit(distinct: int, k: int) -> int:
    """Threshold on ``a`` that keeps about ``2k`` of ``distinct`` uniform row hashes (all if fewer)."""
    return min(ALL, -(1 << 63) + ((1 << 64) * 2 * k) // max(distinct, 1))


def _collect_samples(spark: SparkSession, path: str, counts: Mapping[tuple[int, int], tuple[int, int]],
                     k: int) -> list[tuple[int, int, int, int]]:
    """Each row set's threshold sample: every hash ``(tid, col, a, b)`` with ``a <= sample_limit``.

    No sort of whole tables: with the distinct counts known, only hashes below each set's threshold
    (about 2k of them, since row hashes are uniform) are collected. A threshold sample holds *every*
    hash of its set below the limit, which is what makes the probe sound from both sides (see
    :mod:`r2d2.containment.verify_job`).
    """
    if not counts:
        return []
    sets = spark.read.parquet(path).where(F.col("col") < 0)
    limits = [(tid, col, sample_limit(distinct, k)) for (tid, col), (_, distinct) in counts.items()]
    limit_df = local_frame(spark, limits, [("tid", pa.int64()), ("col", pa.int32()), ("limit", pa.int64())])
    picked = (sets.join(F.broadcast(limit_df), ["tid", "col"]).where(F.col("a") <= F.col("limit"))
              .select("tid", "col", "a", "b"))
    return [(r["tid"], r["col"], r["a"], r["b"]) for r in picked.collect()]


_Summary = tuple[dict[tuple[int, int], np.ndarray], Counts, list[tuple[int, int, int, int]], int]


def _summarize(spark: SparkSession, path: str, size: int, k: int, local_bytes: int) -> _Summary:
    """Signatures, row-set counts, threshold samples and Spark jobs run: a small hash set is read on
    the driver (:mod:`r2d2.containment.summary_local`), a large one by two Spark jobs."""
    if size <= local_bytes:
        return (*summarize(path, lambda distinct: sample_limit(distinct, k)), 0)
    signatures, counts = _collect_summary(spark, path)
    if not any(col < 0 for _, col in counts):
        return signatures, counts, [], 1
    return signatures, counts, _collect_samples(spark, path, counts, k), 2


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
    local_bytes: int = 0,
) -> SketchOutcome:
    """Sketch every requested table; tables whose read fails are reported in ``failures``.

    A batch's hash set of at most ``local_bytes`` is summarised on the driver (no Spark job), and a
    batch whose row-set entries take at most a quarter of it in memory is counted there too (no
    shuffle): reading, counting and sorting it takes about four times its size."""
    work_dir.mkdir(parents=True, exist_ok=True)
    jobs = 0
    warm = warm_python_workers(spark) if requests else None  # while the driver plans the first batch

    requests = _align_groups(requests)

    def job(batch: Sequence[SketchRequest]) -> tuple[Sequence[SketchRequest], str, int, _Summary]:
        # Reading the hash set back is part of the batch's work: when it fails, the batch is split
        # and retried like a failed write, and only the tables that still fail are reported.
        nonlocal jobs
        jobs += 1
        path = _write_hash_set(spark, batch, work_dir, num_perm=num_perm, seed=seed, local_bytes=local_bytes // 4)
        size = _dataset_bytes(path)
        try:
            summary = _summarize(spark, path, size, sample_k, local_bytes)
        except Exception as exc:
            raise DetectionError(f"hash set {path} could not be read back: {short_error(exc)}") from exc
        jobs += summary[3]
        return batch, path, size, summary

    try:
        outcome = run_isolating(list(requests), job, batch_size=batch_size)
    finally:
        if warm is not None:
            warm.join()  # long done by now: no job of this call outlives it
    failures = {req.table_id: msg for req, msg in outcome.failures}
    sketches: dict[int, TableSketch] = {}
    bytes_read = 0
    for batch, path, size, (signatures, counts, picked, _) in outcome.results:
        codes = projection_codes(batch)
        for req in batch:
            names = {c.name for c in req.profile.supported_columns} if req.rowset else set(req.columns)
            names.update(n for p in req.projections for n in p)
            bytes_read += hashing.column_bytes(req.profile, sorted(names))
            sketches[req.table_id] = TableSketch(req.table_id, req.profile.fingerprint,
                                                 rowset_path=path if req.rowset else None)
        order = {req.table_id: hashing.ordered_columns(req.profile) for req in batch}
        wanted = {req.table_id: {n.lower() for n in req.columns} for req in batch}
        for (tid, col), sig in signatures.items():
            cols = [c for c in order[tid] if c.key in wanted[tid]]
            sketches[tid].minhash[cols[col].key] = sig
        for req in batch:  # columns with no non-null value have the empty signature
            for key in wanted[req.table_id]:
                sketches[req.table_id].minhash.setdefault(key, mh.empty_signature(num_perm))
        if any(req.rowset or req.projections for req in batch):
            entries = sum(d for _, d in counts.values()) or 1
            drawn: dict[tuple[int, int], list[tuple[int, int]]] = {}
            for tid, col, a, b in picked:
                drawn.setdefault((tid, col), []).append((a, b))
            for req in batch:  # an empty table has empty (absent) row sets: distinct 0, limit ALL
                tid = req.table_id
                if req.rowset:
                    rows, distinct = counts.get((tid, ROW), (0, 0))
                    sk = sketches[tid]
                    sk.rows, sk.distinct_rows = rows, distinct
                    sk.rowset_bytes = size * distinct // entries  # this set's share of the dataset
                    sk.sample, sk.sample_limit = sorted(drawn.get((tid, ROW), [])), sample_limit(distinct, sample_k)
                for proj in req.projections:
                    distinct = counts.get((tid, codes[proj]), (0, 0))[1]
                    sketches[tid].projections[proj] = ProjectionSet(
                        path, codes[proj], size * distinct // entries, sample_limit(distinct, sample_k),
                        tuple(sorted(drawn.get((tid, codes[proj]), []))))
    return SketchOutcome(sketches, failures, bytes_read, jobs)
