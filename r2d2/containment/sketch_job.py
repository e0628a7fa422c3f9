"""Stage 3: content sketches of many tables, each table read once, file by file.

Every table that reaches the content stages is read once: each of its data files is a work item
(:mod:`r2d2.containment.filework`) that reads the file with pyarrow and hashes it with numpy — 32-bit
value hashes of the wanted columns, turned into partial MinHash signatures right away, and 128-bit
row hashes over the full row (children, and parents compared on all their columns) and over each
projection a candidate edge compares a parent on. The counted row hashes form a *hash set* in the
work folder (:mod:`r2d2.containment.sketches`), which the probe and exact verification use without
reading the table again.

Small work runs on the driver (threads; no Spark at all): when the files to read total at most
``local_read_bytes`` and every table's row hashes fit ``local_bytes`` of driver memory. Larger work
runs as Spark jobs, one per batch of tables, over the same work items
(:mod:`r2d2.containment.sketch_spark`). The hash sets hold the same rows whichever path made them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from pyspark.sql import SparkSession

from r2d2.containment import arrow_hash as ah
from r2d2.containment import minhash as mh
from r2d2.containment.filework import ENTRY_SCHEMA, FileWork, TableWork, file_entries
from r2d2.containment.hashset_local import ENTRY_BYTES, aggregate, write
from r2d2.containment.sketches import (
    ROW,
    ProjectionSet,
    SketchOutcome,
    SketchRequest,
    TableSketch,
    projection_codes,
    sample_limit,
)
from r2d2.containment.summary_local import Summary, summarize
from r2d2.engine.batch import run_isolating
from r2d2.engine.items import map_local
from r2d2.lake.arrow_read import ReadColumn, file_reads
from r2d2.types import Column, TableProfile

__all__ = ["compute_sketches", "entry_bytes", "plan_works", "read_bytes"]


def _ordered(profile: TableProfile) -> list[Column]:
    """Supported columns by key: the column order of every row hash and of value-column codes."""
    return sorted(profile.supported_columns, key=lambda c: c.key)


def plan_works(batch: Sequence[SketchRequest]) -> list[FileWork]:
    """One work item per data file of each table of ``batch``."""
    codes = projection_codes(batch)
    works: list[FileWork] = []
    for req in batch:
        profile = req.profile
        by_name = {c.name: c for c in profile.columns}
        ordered = _ordered(profile)
        wanted = {n.lower() for n in req.columns}
        values = [c for c in ordered if c.key in wanted]
        rowsets = [(ROW, ordered)] if req.rowset else []
        rowsets += [(codes[names], [by_name[n] for n in names]) for names in req.projections]
        read = [c for c in ordered if c in values or any(c in cols for _, cols in rowsets)]
        index = {c.name: i for i, c in enumerate(read)}
        table = TableWork(
            req.table_id,
            tuple(ReadColumn(c.name, c.physical_type) for c in read),
            tuple(ah.ColumnSpec(c.family.value, c.unit) for c in read),
            tuple(index[c.name] for c in values),
            tuple((code, tuple(index[c.name] for c in cols)) for code, cols in rowsets))
        for i, (item, entry) in enumerate(zip(file_reads(profile), profile.files, strict=True)):
            works.append(FileWork(table, item, i, entry.size))
    return works


def _read_names(req: SketchRequest) -> set[str]:
    names = {c.name for c in req.profile.supported_columns} if req.rowset else set(req.columns)
    names.update(n for p in req.projections for n in p)
    return names


def read_bytes(req: SketchRequest) -> int:
    return req.profile.scan_bytes(sorted(_read_names(req)))


def entry_bytes(req: SketchRequest) -> int:
    """Driver memory the table's row-set entries take in Arrow: one entry per row and row set (a
    table of unknown row count, CSV say, is taken to have a row per two bytes: an upper bound)."""
    rows = req.profile.num_rows if req.profile.num_rows is not None else req.profile.num_bytes // 2
    return ENTRY_BYTES * rows * (int(req.rowset) + len(req.projections))


@dataclass(frozen=True)
class _Batch:
    requests: Sequence[SketchRequest]
    path: str
    size: int  # bytes of the hash-set dataset
    summary: Summary
    failures: dict[int, str]
    jobs: int


def _new_path(work_dir: Path) -> str:
    from r2d2.containment.sketch_spark import new_path

    return new_path(work_dir)


def _local_batch(batch: Sequence[SketchRequest], work_dir: Path, *, perms: mh.Perms, sample_k: int,
                 threads: int) -> _Batch:
    works = plan_works(batch)
    parts = map_local(works, lambda w: file_entries(w, perms), threads=threads)
    entries = pa.Table.from_batches([p for p in parts if isinstance(p, pa.RecordBatch)], schema=ENTRY_SCHEMA)
    table, failures = aggregate(entries)
    path = _new_path(work_dir)
    write(table, path)
    size = sum(p.stat().st_size for p in Path(path).glob("*.parquet"))
    return _Batch(batch, path, size, summarize(table, lambda d: sample_limit(d, sample_k)), failures, 0)


def _local_batches(requests: Sequence[SketchRequest], cap: int) -> list[list[SketchRequest]]:
    """Consecutive batches whose row-set entries take at most ``cap`` bytes each (or one table)."""
    out: list[list[SketchRequest]] = [[]]
    size = 0
    for req in requests:
        need = entry_bytes(req)
        if out[-1] and size + need > cap:
            out.append([])
            size = 0
        out[-1].append(req)
        size += need
    return [b for b in out if b]


def compute_sketches(
    requests: Sequence[SketchRequest],
    *,
    spark_factory: Callable[[], SparkSession],
    work_dir: Path,
    num_perm: int,
    seed: int,
    sample_k: int,
    batch_size: int,
    local_bytes: int = 0,
    local_read_bytes: int = 0,
    threads: int = 1,
) -> SketchOutcome:
    """Sketch every requested table; tables whose read fails are reported in ``failures``.

    On the driver when the reads total at most ``local_read_bytes`` and each table's row hashes take
    at most ``local_bytes`` (module docstring); else Spark jobs of ``batch_size`` tables, counted on
    the driver when a batch's entries take at most a quarter of ``local_bytes``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    perms = mh.permutations(num_perm, seed, cache_dir=work_dir.parent / "minhash")
    requests = sorted(requests, key=lambda r: r.table_id)
    local = (sum(read_bytes(r) for r in requests) <= local_read_bytes
             and all(entry_bytes(r) <= local_bytes for r in requests))
    batches: list[_Batch] = []
    failures: dict[int, str] = {}
    if local:
        def job(batch: Sequence[SketchRequest]) -> _Batch:
            return _local_batch(batch, work_dir, perms=perms, sample_k=sample_k, threads=threads)

        for chunk in _local_batches(requests, local_bytes):
            # A failing file fails its table (an error entry); a batch failing as a whole (its
            # hash set cannot be written, say) is split like a failed Spark job.
            outcome = run_isolating(chunk, job, batch_size=len(chunk))
            batches += outcome.results
            failures.update({req.table_id: msg for req, msg in outcome.failures})
    elif requests:
        batches, failures = _spark_batches(spark_factory(), requests, work_dir, perms=perms, sample_k=sample_k,
                                           batch_size=batch_size, local_bytes=local_bytes)
    sketches: dict[int, TableSketch] = {}
    bytes_read = jobs = 0
    for b in batches:
        failures.update(b.failures)
        jobs += b.jobs
        drawn = _drawn(b)
        for req in b.requests:
            if req.table_id not in b.failures:
                bytes_read += read_bytes(req)
                sketches[req.table_id] = _sketch(req, b, drawn, num_perm=num_perm, sample_k=sample_k)
    return SketchOutcome(sketches, failures, bytes_read, jobs, local=local)


def _spark_batches(spark: SparkSession, requests: Sequence[SketchRequest], work_dir: Path, *, perms: mh.Perms,
                   sample_k: int, batch_size: int, local_bytes: int) -> tuple[list[_Batch], dict[int, str]]:
    from r2d2.containment.sketch_spark import dataset_bytes, run_batch
    from r2d2.engine.warm import warm_python_workers
    from r2d2.errors import DetectionError

    warm = warm_python_workers(spark)  # while the driver plans the first batch

    def job(batch: Sequence[SketchRequest]) -> _Batch:
        # A failing file is a failed table (an error entry), not a failed job; a job that fails
        # anyway (an executor lost, a set unreadable) is split and retried by run_isolating.
        path = _new_path(work_dir)
        collect = sum(entry_bytes(r) for r in batch) <= local_bytes // 4
        try:
            summary, failed, jobs = run_batch(spark, plan_works(batch), path, perms=perms, sample_k=sample_k,
                                              collect=collect, local_bytes=local_bytes)
        except Exception as exc:
            from r2d2.engine.batch import short_error

            raise DetectionError(f"hash set {path}: {short_error(exc)}") from exc
        return _Batch(batch, path, dataset_bytes(path), summary, failed, jobs)

    try:
        outcome = run_isolating(list(requests), job, batch_size=batch_size)
    finally:
        warm.join()
    return outcome.results, {req.table_id: msg for req, msg in outcome.failures}


def _drawn(b: _Batch) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """The batch's threshold samples by row set ``(tid, col)``, sorted."""
    out: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for tid, col, a, bb in b.summary[2]:
        out.setdefault((tid, col), []).append((a, bb))
    for sample in out.values():
        sample.sort()
    return out


def _sketch(req: SketchRequest, b: _Batch, drawn: dict[tuple[int, int], list[tuple[int, int]]], *,
            num_perm: int, sample_k: int) -> TableSketch:
    signatures, counts, _ = b.summary
    tid = req.table_id
    sk = TableSketch(tid, req.profile.fingerprint, rowset_path=b.path if req.rowset else None)
    wanted = {n.lower() for n in req.columns}
    cols = [c for c in _ordered(req.profile) if c.key in wanted]
    for i, c in enumerate(cols):  # a column with no non-null value has the empty signature
        sig = signatures.get((tid, i))
        sk.minhash[c.key] = sig if sig is not None else mh.empty_signature(num_perm)
    if not req.rowset and not req.projections:
        return sk
    entries = sum(d for _, d in counts.values()) or 1
    if req.rowset:  # an empty table has empty (absent) row sets: distinct 0, limit ALL
        rows, distinct = counts.get((tid, ROW), (0, 0))
        sk.rows, sk.distinct_rows = rows, distinct
        sk.rowset_bytes = b.size * distinct // entries  # this set's share of the dataset
        sk.sample, sk.sample_limit = drawn.get((tid, ROW), []), sample_limit(distinct, sample_k)
    codes = projection_codes(b.requests)
    for proj in req.projections:
        code = codes[proj]
        distinct = counts.get((tid, code), (0, 0))[1]
        sk.projections[proj] = ProjectionSet(b.path, code, b.size * distinct // entries,
                                             sample_limit(distinct, sample_k), tuple(drawn.get((tid, code), ())))
    return sk


