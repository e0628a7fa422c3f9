"""Spark's Python worker daemon for stage 3, with the modules its workers use imported once, before it
forks (the compiled loops included: loading them costs about 0.4 s a process).

Spark starts Python workers by forking this daemon, and stops them after a minute idle; a new worker
then imports what the task needs. pyarrow imports pandas on its first conversion to or from numpy,
so a stage-3 worker paid about 0.5 s (pandas 0.2 s, pyarrow and numpy, the MinHash module) before
its first batch, on each core, every time a run came after an idle minute. Imported here, they are
shared by every fork. ``Settings.spark_worker_daemon`` names it (the engine knows no algorithm); the
engine sets it as ``spark.python.daemon.module`` for local masters only (:mod:`r2d2.engine.spark`): on
a cluster the executors' Python may not have R2D2 installed, and a daemon that fails to start would
fail every Python task.
"""

import numpy  # noqa: F401
import pandas  # noqa: F401
import pyarrow  # noqa: F401
import pyspark.worker  # noqa: F401
from pyspark.daemon import manager

import r2d2.containment.minhash  # noqa: F401
from r2d2.containment import compiled

compiled.warm()  # compiled loops loaded once, shared by every forked worker

if __name__ == "__main__":
    manager()
