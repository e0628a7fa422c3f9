"""Python workers of the local session: forked from R2D2's daemon (imports done), warmed ahead of a job."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pyarrow as pa

from r2d2.engine.warm import warm_python_workers

HEAVY = ("numpy", "pandas", "pyarrow", "r2d2.containment.minhash")


def _probe(spark, tasks: int) -> list[tuple[int, set[str]]]:
    """``(worker pid, heavy modules it had loaded when the task began)`` of each of ``tasks`` tasks."""
    def loaded_at_entry(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import os
        import sys

        # Checked before this function touches pyarrow: what the forked worker already had.
        loaded = ",".join(m for m in ("numpy", "pandas", "pyarrow", "r2d2.containment.minhash") if m in sys.modules)
        import pyarrow

        for _ in batches:
            pass
        yield pyarrow.RecordBatch.from_pydict({"pid": pyarrow.array([os.getpid()], pyarrow.int64()),
                                               "loaded": pyarrow.array([loaded])})

    # A closure, pickled by value: workers cannot import this test module.
    rows = spark.range(tasks, numPartitions=tasks).mapInArrow(loaded_at_entry, "pid long, loaded string").collect()
    return [(r["pid"], set(filter(None, r["loaded"].split(",")))) for r in rows]


def test_local_workers_fork_from_the_daemon_with_imports_done(spark) -> None:
    assert spark.conf.get("spark.python.daemon.module") == "r2d2.containment.pydaemon"
    for pid, loaded in _probe(spark, 2):
        assert pid != os.getpid()
        assert loaded == set(HEAVY), loaded  # nothing left for the task to import


def test_warm_up_starts_the_workers_the_next_job_uses(spark) -> None:
    warm = warm_python_workers(spark, ["r2d2.containment.minhash"])
    warm.join(timeout=120)
    assert warm.thread is not None and not warm.thread.is_alive()
    assert warm.pids  # it ran, in real workers
    used = {pid for pid, _ in _probe(spark, spark.sparkContext.defaultParallelism)}
    assert used <= warm.pids  # same worker pool: the job waited for no new worker


def test_failed_warm_up_is_ignored(spark, monkeypatch) -> None:
    import r2d2.engine.warm as warm_module

    def broken(modules: tuple[str, ...], batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        raise RuntimeError("worker could not start")
        yield  # a generator, as mapInArrow expects

    monkeypatch.setattr(warm_module, "_touch", broken)  # a closure here: pickled by value, fails in the worker
    warm = warm_python_workers(spark)
    warm.join(timeout=120)
    assert warm.thread is not None and not warm.thread.is_alive()
    assert warm.pids == set()  # the failure stayed in the background thread
    assert {pid for pid, _ in _probe(spark, 2)}  # and the session still runs Python tasks


def test_a_job_lost_to_a_crashed_worker_fails_only_the_item_that_crashed_it(spark) -> None:
    """One item kills its Python worker (a segfault, the kernel's OOM killer): Spark fails the task and so
    the job. The items are bisected down to that one, an ItemFailure naming the crash; the others are
    computed by the later jobs."""
    import functools
    import operator
    import os

    from r2d2.engine.items import ItemFailure, map_spark_isolating

    items = [functools.partial(int, str(i)) for i in range(6)]
    items[3] = functools.partial(os._exit, 7)
    out = map_spark_isolating(lambda: spark, items, operator.call, weights=[1] * 6, weight_per_task=1)
    assert [r for r in out if not isinstance(r, ItemFailure)] == [0, 1, 2, 4, 5]
    assert isinstance(out[3], ItemFailure) and out[3].item is items[3] and out[3].message
