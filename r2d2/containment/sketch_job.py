"""Stage 3: content sketches of many tables, each table read once, file by file.

Every table that reaches the content stages is read once: each of its data files is a work item
(:mod:`r2d2.containment.filework`) that reads the file with pyarrow and hashes it with numpy — 32-bit
value hashes of the wanted columns, turned into partial MinHash signatures right away, and 128-bit
row hashes over the full row (children, and parents compared on all their columns) and over each
projection a candidate edge compares a parent on. The counted row hashes form a *hash set* in the
work folder (:mod:`r2d2.containment.sketches`), which the probe and exact verification use without
reading the table again.

A table whose row hashes fit ``local_bytes`` is counted whole by one task
(:mod:`r2d2.containment.tablework`): tasks run in driver threads, without Spark at all, when the files
to read total at most ``local_read_bytes``, else as one Spark job over the tasks; the few tables too
large for one task are counted by a Spark shuffle over their file work items
(:mod:`r2d2.containment.sketch_spark`). The hash sets hold the same rows whichever path made them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow.parquet as pq

from r2d2.containment import arrow_hash as ah
from r2d2.containment import compiled, hashset_memo
from r2d2.containment import minhash as mh
from r2d2.containment.filework import FileWork, TableWork
from r2d2.containment.hashset_local import ENTRY_BYTES, SCHEMA, new_path, seal
from r2d2.containment.hashset_memo import Placed
from r2d2.containment.sketches import (
    ROW,
    ProjectionSet,
    RowSample,
    SketchOutcome,
    SketchRequest,
    TableSketch,
    projection_codes,
    sample_limit,
)
from r2d2.containment.summary_local import Summary
from r2d2.containment.tablework import TableSummary, TableTask, part_name, run_group
from r2d2.engine.batch import run_isolating
from r2d2.engine.items import ItemFailure, balanced, map_forked, map_local
from r2d2.forking import can_fork
from r2d2.lake import fs as lakefs
from r2d2.lake.arrow_read import ReadColumn, file_reads
from r2d2.types import Column, TableProfile

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["compute_sketches", "entry_bytes", "plan_works", "read_bytes"]


def _ordered(profile: TableProfile) -> list[Column]:
    """Supported columns by key: the column order of every row hash and of value-column codes."""
    return sorted(profile.supported_columns, key=lambda c: c.key)


def plan_works(batch: Sequence[SketchRequest]) -> list[FileWork]:
    """One work item per data file of each table of ``batch``."""
    return [work for task in plan_tasks(batch) for work in task.files]


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


GROUP_BYTES = 32 << 20  # file bytes per group of tables (one part file each)
# At least this many groups per driver thread: small groups keep every thread busy to the end and let
# one thread's hashing overlap another's reads (2,500-table lake, 2 threads: stage 3 took 6.6-7.3 s
# with 4 groups, 5.0-5.6 s with 16-24); each group still holds dozens of small tables, hashed together.
GROUPS_PER_THREAD = 8
# Tasks on the driver in threads need numba's kernels (they release the GIL; the ahead-of-time ones do
# not), whose loading costs 0.5-0.75 s the first time: up to this many file bytes, one thread with the
# ahead-of-time kernels finishes first (about 65 MB/s: a second thread would save half of 0.5 s at most).
# Local files only: on an object store the threads hide each read's latency.
SERIAL_BYTES = 32 << 20


def plan_tasks(batch: Sequence[SketchRequest]) -> list[TableTask]:
    """One task per table of ``batch``, with a work item per data file (projection codes are shared
    by the batch, which is one dataset)."""
    codes = projection_codes(batch)
    tasks = []
    for req in batch:
        table = plan_table(req, codes)
        files = zip(file_reads(req.profile), req.profile.files, strict=True)
        tasks.append(TableTask(table, tuple(FileWork(table, item, i, entry.size)
                                            for i, (item, entry) in enumerate(files))))
    return tasks


def plan_table(req: SketchRequest, codes: dict[tuple[str, ...], int]) -> TableWork:
    profile = req.profile
    by_name = {c.name: c for c in profile.columns}
    ordered = _ordered(profile)
    wanted = {n.lower() for n in req.columns}
    values = [c for c in ordered if c.key in wanted]
    rowsets = [(ROW, ordered)] if req.rowset else []
    rowsets += [(codes[names], [by_name[n] for n in names]) for names in req.projections]
    read = [c for c in ordered if c in values or any(c in cols for _, cols in rowsets)]
    index = {c.name: i for i, c in enumerate(read)}
    return TableWork(
        req.table_id,
        tuple(ReadColumn(c.name, c.physical_type) for c in read),
        tuple(ah.ColumnSpec(c.family.value, c.unit) for c in read),
        tuple(index[c.name] for c in values),
        tuple((code, tuple(index[c.name] for c in cols)) for code, cols in rowsets))


def _start_dataset(path: str) -> None:
    """The dataset folder with an empty part that carries the schema: readers of a run whose tables
    had no row at all still find a (zero-row) hash set."""
    from r2d2.lake import fs as lakefs

    fs, where = lakefs.resolve(path)
    fs.create_dir(where, recursive=True)
    with fs.open_output_stream(lakefs.join(where, "part-schema.parquet")) as out:
        pq.write_table(SCHEMA.empty_table(), out)


Group = tuple[int, list[TableTask]]  # (part number, tables)


def _drop_part(path: str, part: int) -> None:
    """Delete the part file of a group that failed, if it wrote one (a worker may have died during or
    after the write): its tables are retried into other parts, and a set must not be there twice."""
    lakefs.remove(lakefs.join(path, part_name(part)))


def _forked(numbered: list[Group], run: Callable[[Group], list[TableSummary]], path: str, *,
            processes: int, alone: bool) -> list[list[TableSummary] | ItemFailure[Group]]:
    """The groups in worker processes forked from the driver: the Python around each table and column
    holds the GIL, so two threads reach 1.4x one, two processes nearly 2x, and they use the
    ahead-of-time kernels (no numba to import). Each returns the sets it kept for verification with
    its summaries (where they are in memory shared with the driver), and the driver keeps them
    (:mod:`r2d2.containment.hashset_memo`)."""

    def in_worker(item: Group) -> tuple[list[TableSummary], dict[tuple[int, int], hashset_memo.Set | Placed]]:
        hashset_memo.handover(path)  # what this worker holds already (the driver's, from the fork): not this item's
        try:
            summaries = run(item)
        except BaseException:
            hashset_memo.handover(path)  # a failed group's sets are not handed to a later group's result
            raise
        return summaries, hashset_memo.handover(path)

    results: list[list[TableSummary] | ItemFailure[Group]] = []
    with hashset_memo.shared():
        for res in map_forked(numbered, in_worker, processes=processes, alone=alone):
            if isinstance(res, ItemFailure):
                results.append(res)
                continue
            summaries, sets = res
            if sets:
                hashset_memo.keep(path, sets)
            results.append(summaries)
    return results


def _whole_tables(tasks: Sequence[TableTask], path: str, *, spark_factory: Callable[[], SparkSession] | None,
                  perms: mh.Perms, sample_k: int, threads: int) -> tuple[list[TableSummary], int]:
    """Run the tasks in groups, on the driver (``spark_factory`` None: in forked worker processes when
    this process may fork, else in threads) or as one Spark job; the summaries and the Spark jobs run."""
    from r2d2.engine.items import map_spark_isolating

    _start_dataset(path)
    weights = [max(1, t.size) for t in tasks]
    wanted = max(threads * GROUPS_PER_THREAD, -(-sum(weights) // GROUP_BYTES))
    groups = [[tasks[i] for i in part] for part in balanced(weights, wanted)]
    numbered = list(enumerate(groups))

    def run(item: Group) -> list[TableSummary]:
        part, group = item
        return run_group(group, path, part, perms=perms, sample_k=sample_k)

    local = _all_local(path, tasks)

    def dispatch(items: list[Group], *, retry: bool = False) -> list[list[TableSummary] | ItemFailure[Group]]:
        if spark_factory is not None:
            return map_spark_isolating(spark_factory, items, run, weights=[sum(t.size for t in g) for _, g in items],
                                       weight_per_task=GROUP_BYTES)
        # Forked only for local files: an object store's client runs native threads of its own, which a
        # forked child would inherit as dead. Retried tables each get a worker of their own: one that
        # dies again fails only its table.
        if threads > 1 and (len(items) > 1 or retry) and local and can_fork():
            return _forked(items, run, path, processes=threads, alone=retry)
        if threads > 1 and len(items) > 1:
            if local and compiled.threads_need_loading() and sum(t.size for _, g in items for t in g) <= SERIAL_BYTES:
                return map_local(items, run, threads=1)  # cheaper than loading numba for a second thread
            compiled.for_threads()
        return map_local(items, run, threads=threads)

    summaries: list[TableSummary] = []
    retry: list[TableTask] = []
    for (part, group), res in zip(numbered, dispatch(numbered), strict=True):
        if isinstance(res, ItemFailure):  # the group as a whole failed (its part file, its worker...)
            _drop_part(path, part)  # whatever it wrote, whole or cut short: its tables are redone alone
            retry += group
        else:
            summaries += res
    jobs = 0 if spark_factory is None else 1
    if retry:  # one table per group (a worker's death may have failed a group that was fine): only the
        # tables that fail alone are reported
        alone = list(enumerate(([t] for t in retry), start=len(numbered)))
        for (part, group), res in zip(alone, dispatch(alone, retry=True), strict=True):
            if isinstance(res, ItemFailure):
                _drop_part(path, part)
            summaries += ([TableSummary(group[0].table.tid, failure=res.message)]
                          if isinstance(res, ItemFailure) else res)
        jobs += 0 if spark_factory is None else 1
    seal(path)
    return summaries, jobs


def _all_local(path: str, tasks: Sequence[TableTask]) -> bool:
    """Whether the hash-set dataset and every file to read are on local disks (not an object store)."""
    return not lakefs.is_object_store(path) and not any(
        lakefs.is_object_store(f.file.path) for t in tasks for f in t.files)


def compute_sketches(
    requests: Sequence[SketchRequest],
    *,
    spark_factory: Callable[[], SparkSession],
    work_dir: str | Path,
    num_perm: int,
    seed: int,
    sample_k: int,
    batch_size: int,
    local_bytes: int = 0,
    local_read_bytes: int = 0,
    threads: int = 1,
    cache_dir: Path | None = None,
    local_master: bool = False,
) -> SketchOutcome:
    """Sketch every requested table; tables whose read fails are reported in ``failures``.

    A table whose row hashes take at most ``local_bytes`` is counted whole by a task; these tasks run on
    the driver when their reads total at most ``local_read_bytes``, else in one Spark job.
    Larger tables go through Spark jobs of ``batch_size`` tables and a shuffle.

    ``local_master``: Spark's executors would run on this machine's cores (a ``local[N]`` master), so
    tasks over local files run on the driver whatever their reads total: in forked workers, or threads
    when the process cannot fork (the hashing loops release the GIL), without a Spark job around them
    (1,000-table lake, 335 MB to read, in threads: stage 3 in 5.7-6.3 s instead of 7.7-8.3, and exact
    verification finds the sets in memory). ``local_read_bytes`` 0 still means Spark always."""
    work_dir = str(work_dir)  # a local path or a URI (a cluster's executors write there)
    lakefs.makedirs(work_dir)
    perms = mh.permutations(num_perm, seed, cache_dir=cache_dir)
    requests = sorted(requests, key=lambda r: r.table_id)
    whole = [r for r in requests if entry_bytes(r) <= local_bytes]
    large = [r for r in requests if entry_bytes(r) > local_bytes]
    # Decided for the whole tables alone: a few large tables in Spark must not send the many small ones
    # there too (one Spark job over thousands of small tasks costs more than the driver's threads).
    sketches: dict[int, TableSketch] = {}
    failures: dict[int, str] = {}
    bytes_read = jobs = 0
    local = False
    if whole:
        path = new_path(work_dir)
        tasks = plan_tasks(whole)
        driver = local_master and local_read_bytes > 0 and _all_local(path, tasks)
        local = driver or sum(read_bytes(r) for r in whole) <= local_read_bytes
        summaries, jobs = _whole_tables(tasks, path, spark_factory=None if local else spark_factory,
                                        perms=perms, sample_k=sample_k, threads=threads)
        codes = projection_codes(whole)
        by_id = {r.table_id: r for r in whole}
        for s in summaries:
            req = by_id[s.tid]
            if s.failure is not None:
                failures[s.tid] = s.failure
                continue
            bytes_read += read_bytes(req)
            sketches[s.tid] = _sketch(req, s, path, codes, num_perm=num_perm, sample_k=sample_k)
    if large:
        batches, failed = _spark_batches(spark_factory, large, work_dir, perms=perms, sample_k=sample_k,
                                         batch_size=batch_size, local_bytes=local_bytes)
        failures.update(failed)
        for b in batches:
            failures.update(b.failures)
            jobs += b.jobs
            codes = projection_codes(b.requests)
            by_table = _split(b)
            for req in b.requests:
                if req.table_id not in b.failures:
                    bytes_read += read_bytes(req)
                    sketches[req.table_id] = _sketch(req, by_table[req.table_id], b.path, codes,
                                                     num_perm=num_perm, sample_k=sample_k)
    return SketchOutcome(sketches, failures, bytes_read, jobs, local=local)


@dataclass(frozen=True)
class _Batch:
    requests: Sequence[SketchRequest]
    path: str
    size: int  # bytes of the hash-set dataset
    summary: Summary
    failures: dict[int, str]
    jobs: int


def _split(b: _Batch) -> dict[int, TableSummary]:
    """A shuffled batch's summary, table by table."""
    signatures, counts, picked = b.summary
    by_id = {req.table_id: TableSummary(req.table_id) for req in b.requests}
    for (tid, col), sig in signatures.items():
        by_id[tid].signatures[col] = sig
    for (tid, col), (rows, distinct) in counts.items():
        by_id[tid].counts[col] = (rows, distinct)
        by_id[tid].bytes += ENTRY_BYTES * distinct
    drawn: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for tid, col, a, bb in picked:
        drawn.setdefault((tid, col), []).append((a, bb))
    for (tid, col), pairs in drawn.items():
        by_id[tid].samples[col] = np.asarray(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    return by_id


def _spark_batches(spark_factory: Callable[[], SparkSession], requests: Sequence[SketchRequest], work_dir: str, *,
                   perms: mh.Perms, sample_k: int, batch_size: int,
                   local_bytes: int) -> tuple[list[_Batch], dict[int, str]]:
    from r2d2.containment.sketch_spark import dataset_bytes, run_batch
    from r2d2.engine.warm import warm_python_workers
    from r2d2.errors import DetectionError

    warm = warm_python_workers(spark_factory(), ["r2d2.containment.minhash"])  # while the first batch is planned

    def job(batch: Sequence[SketchRequest]) -> _Batch:
        # A failing file is a failed table (an error entry), not a failed job; a job that fails
        # anyway (an executor lost, a set unreadable, the JVM gone) is split and retried by run_isolating,
        # each part on the session of the moment (a new one if the JVM exited).
        path = new_path(work_dir)
        try:
            summary, failed, jobs = run_batch(spark_factory(), plan_works(batch), path, perms=perms, sample_k=sample_k,
                                              local_bytes=local_bytes)
            seal(path)
        except Exception as exc:
            from r2d2.engine.batch import short_error

            raise DetectionError(f"hash set {path}: {short_error(exc)}") from exc
        return _Batch(batch, path, dataset_bytes(path), summary, failed, jobs)

    try:
        outcome = run_isolating(list(requests), job, batch_size=batch_size)
    finally:
        warm.join()
    return outcome.results, {req.table_id: msg for req, msg in outcome.failures}


def _sketch(req: SketchRequest, s: TableSummary, path: str, codes: dict[tuple[str, ...], int], *,
            num_perm: int, sample_k: int) -> TableSketch:
    tid = req.table_id
    sk = TableSketch(tid, req.profile.fingerprint, rowset_path=path if req.rowset else None)
    wanted = {n.lower() for n in req.columns}
    cols = [c for c in _ordered(req.profile) if c.key in wanted]
    for i, c in enumerate(cols):  # a column with no non-null value has the empty signature
        sig = s.signatures.get(i)
        sk.minhash[c.key] = sig if sig is not None else mh.empty_signature(num_perm)
    if req.rowset:  # an empty table has empty row sets: distinct 0, limit ALL
        rows, distinct = s.counts.get(ROW, (0, 0))
        sk.rows, sk.distinct_rows = rows, distinct
        sk.rowset_bytes = ENTRY_BYTES * distinct
        sk.sample, sk.sample_limit = RowSample(s.samples.get(ROW)), sample_limit(distinct, sample_k)
    for proj in req.projections:
        code = codes[proj]
        distinct = s.counts.get(code, (0, 0))[1]
        sk.projections[proj] = ProjectionSet(path, code, ENTRY_BYTES * distinct, sample_limit(distinct, sample_k),
                                             RowSample(s.samples.get(code)))
    return sk
