"""Start a session's Python workers while the driver is still planning the job that needs them.

Spark stops Python workers after a minute idle, so a detect run that comes later than that, or in
a fresh session, finds none: the first task on each core waits for a worker to fork and load the
job's closure, about 0.3 s of wall time on top of a small incremental run's real work. A trivial
``mapInArrow`` job of one task per core, started in the background before the driver builds the
stage-3 plan, pays it in parallel; the real job's tasks then reuse those workers (same kind of
runner, same worker pool). It reads no data and writes nothing, and a failure of it is ignored:
the real job would start its own workers as before.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession


def _touch(modules: tuple[str, ...], batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    import importlib
    import os

    import pyarrow

    for name in modules:  # what the job's workers will load (the caller says: the engine knows no algorithm)
        importlib.import_module(name)
    for _ in batches:
        pass
    yield pyarrow.RecordBatch.from_pydict({"pid": pyarrow.array([os.getpid()], pyarrow.int64())})


@dataclass
class WarmUp:
    """The background warm-up: ``pids`` of the workers it ran in, once ``join`` returns (empty if it failed)."""

    pids: set[int] = field(default_factory=set)
    thread: threading.Thread | None = None

    def join(self, timeout: float | None = None) -> None:
        if self.thread is not None:
            self.thread.join(timeout)


def warm_python_workers(spark: SparkSession, modules: Sequence[str] = ()) -> WarmUp:
    """Start the warm-up job (one task per core, importing ``modules`` in each worker) in a daemon thread."""
    tasks = max(1, spark.sparkContext.defaultParallelism)
    warm = WarmUp()
    touch = partial(_touch, tuple(modules))

    def run() -> None:
        try:
            rows = spark.range(tasks, numPartitions=tasks).mapInArrow(touch, "pid long").collect()
        except Exception:  # an optimisation only: the real job starts workers itself
            return
        warm.pids.update(int(r["pid"]) for r in rows)

    warm.thread = threading.Thread(target=run, name="r2d2-warm-python-workers", daemon=True)
    warm.thread.start()
    return warm
