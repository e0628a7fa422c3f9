"""Run a Python function over many small work items: on the driver, or in one Spark job.

The unit of work is an item (a data file, say), not a table: a lake holds thousands of small tables,
and per-table Spark plans cost more than the work. Both paths run the same function on the same
items, so their results are the same:

* :func:`map_local`: a thread pool on the driver (pyarrow and numpy release the GIL in their loops),
  for small work — no Spark session needed at all;
* :func:`map_forked`: worker processes forked from the driver, for small work whose Python around the
  loops would hold one GIL for every thread (one core each, nothing shared); :func:`forked_workers`
  forks them before the caller starts threads, :func:`results_as_done` hands them work later;
* :func:`map_spark`: one job over ``spark.range(tasks)``; task ``k`` runs the items assigned to it
  (balanced by weight, e.g. bytes), so the physical plan has one branch however many items there are,
  and it runs unchanged on a cluster. Results come back pickled through ``collect``;
* :func:`items_frame`: the same job as a DataFrame of Arrow batches, for results Spark should
  aggregate or write (row hashes) rather than collect.

A failing item becomes an :class:`ItemFailure` with a one-line reason (``map_*``); the others go on.
"""

from __future__ import annotations

import ctypes
import heapq
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from r2d2.errors import describe
from r2d2.forking import can_fork
from r2d2.lake.fs import with_storage_options

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class ItemFailure(Generic[T]):
    item: T
    message: str


def _attempt(fn: Callable[[T], R], item: T) -> R | ItemFailure[T]:
    try:
        return fn(item)
    except Exception as exc:
        return ItemFailure(item, describe(exc))


def map_local(items: Sequence[T], fn: Callable[[T], R], *, threads: int) -> list[R | ItemFailure[T]]:
    """``fn`` of each item, in order, on a pool of ``threads`` driver threads."""
    if threads <= 1 or len(items) <= 1:
        return [_attempt(fn, it) for it in items]
    with ThreadPoolExecutor(threads, thread_name_prefix="r2d2-item") as pool:
        return list(pool.map(lambda it: _attempt(fn, it), items))


# The function and items of the running forked pool (:func:`map_forked`): set just before the workers fork, they
# reach the children through the fork itself, so neither needs to be picklable (closures are not).
_forked: list[tuple[Callable[[Any], Any], Sequence[Any]]] = []
_fork_lock = threading.Lock()


def _in_child(parent: int) -> None:
    """Set up a forked worker: it dies with the process that forked it (a killed scan or detect leaves
    no worker behind) and leaves Ctrl-C to that process, which stops the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def _fork_pool(processes: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"),
                               initializer=_in_child, initargs=(os.getpid(),))


def _stop_forked(pool: ProcessPoolExecutor) -> None:
    """End the workers of a pool whose forking failed part way: they were never told to stop, and the
    interpreter would wait for them at exit."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()
        process.join()


def _answer(fn: Callable[[T], R], item: T) -> tuple[bool, Any]:
    """What a worker sends back for one item: (True, result) or (False, the one-line reason)."""
    try:
        return True, fn(item)
    except Exception as exc:
        return False, describe(exc)


def _run_forked(index: int) -> tuple[bool, Any]:
    fn, items = _forked[0]
    return _answer(fn, items[index])


UNSTARTED = "a worker process died before this item started"


def _died(exc: BaseException) -> str:
    return f"its worker process died: {describe(exc)}"


def map_forked(items: Sequence[T], fn: Callable[[T], R], *, processes: int,
               alone: bool = False) -> list[R | ItemFailure[T]]:
    """``fn`` of each item, in order, in ``processes`` worker processes forked from this one
    (:func:`can_fork` must hold); results come back pickled. An item that raises fails alone. A worker
    that dies (killed, out of memory, crashed) breaks the pool: every item not finished then fails with
    that reason, and the pool stops its other workers, so a caller retries those items; with ``alone``,
    each item gets a pool of its own, and a death fails only that item."""
    if not can_fork():
        raise RuntimeError("cannot fork worker processes here: other threads are running")
    if alone:
        return [res for item in items for res in _forked_pool([item], fn, 1)]
    if processes <= 1 or len(items) <= 1:
        return [_attempt(fn, it) for it in items]
    return _forked_pool(items, fn, processes)


def _forked_pool(items: Sequence[T], fn: Callable[[T], R], processes: int) -> list[R | ItemFailure[T]]:
    with _fork_lock:
        _forked.append((fn, items))
        try:
            out: list[R | ItemFailure[T]] = []
            # The pool forks all its workers at the first submit, before it starts its own threads.
            pool = _fork_pool(min(processes, len(items)))
            try:
                futures = []
                try:
                    for i in range(len(items)):
                        futures.append(pool.submit(_run_forked, i))
                except BrokenProcessPool:  # a worker died while the items were being handed out
                    pass
                except OSError:  # no memory or processes left to fork (at the first submit): run them here
                    _stop_forked(pool)
                    return [_attempt(fn, it) for it in items]
                for i, item in enumerate(items):
                    try:
                        if i >= len(futures):
                            raise BrokenProcessPool(UNSTARTED)
                        ok, value = futures[i].result()
                    except BrokenProcessPool as exc:
                        out.append(ItemFailure(item, _died(exc)))
                        continue
                    out.append(value if ok else ItemFailure(item, value))
            finally:  # interrupted (Ctrl-C reaches only this process): the items not started are dropped
                pool.shutdown(wait=True, cancel_futures=True)
            return out
        finally:
            _forked.clear()


def _nothing() -> None:
    return None


def _run_chunk(fn: Callable[[T], R], items: Sequence[T]) -> list[tuple[bool, Any]]:
    return [_answer(fn, item) for item in items]


@contextmanager
def forked_workers(processes: int) -> Iterator[ProcessPoolExecutor | None]:
    """``processes`` worker processes forked now, for :func:`results_as_done` later; None when this
    process may not fork (:func:`can_fork`), cannot (the fork fails) or one process is asked. Fork them
    before the caller starts threads or native libraries of its own (a Delta log reader's runtime,
    Arrow's pools): a child then inherits no lock another thread holds. Leaving cancels the work not
    started."""
    if processes <= 1 or not can_fork():
        yield None
        return
    pool = _fork_pool(processes)
    try:
        try:
            pool.submit(_nothing).result()  # the pool forks all its workers at the first submit
        except (OSError, BrokenProcessPool):  # no memory or processes left to fork: the caller's own process
            _stop_forked(pool)
            yield None
        else:
            yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def results_as_done(pool: ProcessPoolExecutor, items: Sequence[T], fn: Callable[[T], R], *,
                    chunk: int = 32) -> Iterator[tuple[int, R | ItemFailure[T]]]:
    """``(index, fn(item))`` of every item, in the order they finish, in the workers of ``pool``
    (:func:`forked_workers`); ``fn`` and the items are pickled, ``chunk`` items to a round trip. The
    items are handed out now, so the workers start while the caller does other work before it reads
    the results. An item that raises fails alone; a worker that dies (or a chunk that cannot travel
    between the processes) fails the items not finished."""
    futures: dict[Future[list[tuple[bool, Any]]], range] = {}
    unsent: list[int] = []
    for start in range(0, len(items), max(1, chunk)):
        part = range(start, min(start + chunk, len(items)))
        try:
            futures[pool.submit(_run_chunk, fn, [items[i] for i in part])] = part
        except BrokenProcessPool:  # a worker died while the chunks were being handed out
            unsent += part
    return _as_done(items, futures, unsent)


def _as_done(items: Sequence[T], futures: dict[Future[list[tuple[bool, Any]]], range],
             unsent: list[int]) -> Iterator[tuple[int, Any]]:
    for index in unsent:
        yield index, ItemFailure(items[index], UNSTARTED)
    for fut in as_completed(futures):
        try:
            answers = fut.result()
        except BrokenProcessPool as exc:
            for index in futures[fut]:
                yield index, ItemFailure(items[index], _died(exc))
            continue
        except Exception as exc:  # the chunk or its answer could not be pickled
            for index in futures[fut]:
                yield index, ItemFailure(items[index], describe(exc))
            continue
        for index, (ok, value) in zip(futures[fut], answers, strict=True):
            yield index, (value if ok else ItemFailure(items[index], value))


def balanced(weights: Sequence[int], tasks: int) -> list[list[int]]:
    """Item indexes per task, heaviest first to the least loaded task (LPT); no empty task."""
    tasks = max(1, min(tasks, len(weights)))
    heap = [(0, k) for k in range(tasks)]
    out: list[list[int]] = [[] for _ in range(tasks)]
    for i in sorted(range(len(weights)), key=lambda i: -weights[i]):
        load, k = heapq.heappop(heap)
        out[k].append(i)
        heapq.heappush(heap, (load + max(1, weights[i]), k))
    return [sorted(part) for part in out if part]


def task_count(spark: SparkSession, total_weight: int, *, weight_per_task: int, items: int) -> int:
    """Enough tasks for the work (``weight_per_task`` each), at least one wave over the cores."""
    cores = max(1, spark.sparkContext.defaultParallelism)
    wanted = max(cores, -(-total_weight // max(1, weight_per_task)))
    return max(1, min(items, -(-wanted // cores) * cores))


def _task_frame(spark: SparkSession, parts: list[list[int]]) -> DataFrame:
    return spark.range(len(parts), numPartitions=len(parts))


def map_spark_isolating(spark_factory: Callable[[], SparkSession], items: Sequence[T], fn: Callable[[T], R], *,
                        weights: Sequence[int], weight_per_task: int) -> list[R | ItemFailure[T]]:
    """:func:`map_spark`; when its job fails as a whole (a worker that died on an item, an executor
    lost, the JVM gone), the items are bisected (:func:`~r2d2.engine.batch.run_isolating`) down to those
    that fail alone: each of those an :class:`ItemFailure` naming the job's error, the others computed.
    Each job runs on ``spark_factory()`` of its moment (:func:`~r2d2.engine.spark.get_spark`: a new
    session once the JVM exited)."""
    from r2d2.engine.batch import run_isolating

    def job(indexes: Sequence[int]) -> list[tuple[int, R | ItemFailure[T]]]:
        got = map_spark(spark_factory(), [items[i] for i in indexes], fn, weights=[weights[i] for i in indexes],
                        weight_per_task=weight_per_task)
        return list(zip(indexes, got, strict=True))

    done = run_isolating(range(len(items)), job, batch_size=max(1, len(items)))
    out: dict[int, R | ItemFailure[T]] = {i: res for part in done.results for i, res in part}
    out.update((i, ItemFailure(items[i], message)) for i, message in done.failures)
    return [out[i] for i in range(len(items))]


def map_spark(spark: SparkSession, items: Sequence[T], fn: Callable[[T], R], *, weights: Sequence[int],
              weight_per_task: int) -> list[R | ItemFailure[T]]:
    """``fn`` of each item, in order, computed by one Spark job (results pickled back)."""

    if not items:
        return []
    parts = balanced(weights, task_count(spark, sum(weights), weight_per_task=weight_per_task, items=len(items)))
    fn = with_storage_options(fn)  # type: ignore[assignment]  # the workers open the same stores
    chosen = [[items[i] for i in part] for part in parts]

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pickle as pk

        import pyarrow as arrow

        for batch in batches:
            for k in batch.column("id").to_pylist():
                out = [pk.dumps(_attempt(fn, it)) for it in chosen[k]]
                yield arrow.RecordBatch.from_pydict({"k": arrow.array([k] * len(out), arrow.int64()),
                                                     "j": arrow.array(range(len(out)), arrow.int64()),
                                                     "payload": arrow.array(out, arrow.binary())})

    rows = _task_frame(spark, parts).mapInArrow(run, "k long, j long, payload binary").collect()
    results: list[R | ItemFailure[T] | None] = [None] * len(items)
    for row in rows:
        results[parts[row["k"]][row["j"]]] = pickle.loads(row["payload"])
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:  # never expected: a task that returned fewer rows than items
        raise RuntimeError(f"{len(missing)} work items returned no result")
    return results  # type: ignore[return-value]


def items_frame(spark: SparkSession, items: Sequence[T], fn: Callable[[T], Iterator[pa.RecordBatch]],
                schema: object, *, weights: Sequence[int], weight_per_task: int) -> DataFrame:
    """A DataFrame of the Arrow batches ``fn`` yields for each item (one Spark job when acted on);
    ``schema``: a DDL string or a ``StructType``.

    An item that raises fails the job: callers isolate it (:func:`r2d2.engine.batch.run_isolating`)."""
    if not items:
        raise ValueError("items_frame needs at least one item")
    parts = balanced(weights, task_count(spark, sum(weights), weight_per_task=weight_per_task, items=len(items)))
    fn = with_storage_options(fn)  # type: ignore[assignment]
    chosen = [[items[i] for i in part] for part in parts]

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for k in batch.column("id").to_pylist():
                for it in chosen[k]:
                    yield from fn(it)

    return _task_frame(spark, parts).mapInArrow(run, schema)  # type: ignore[arg-type]
