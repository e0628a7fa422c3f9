"""The process's Spark session, created on first use (never at import time).

The master comes from settings (``local[*]`` by default); any cluster URL works. Settings that make
results reproducible across writers are fixed here: the session time zone is UTC (timestamps without
a zone are wall-clock UTC), and Parquet nanosecond timestamps are read as raw longs so that no
precision is lost (the canonicaliser knows their unit from the profile).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING

from r2d2.config import Settings, get_settings
from r2d2.errors import EngineError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_lock = threading.Lock()
_session: SparkSession | None = None

_DELTA_SOURCE_CLASS = "org.apache.spark.sql.delta.sources.DeltaDataSource"

BASE_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.files.ignoreMissingFiles": "false",
    "spark.ui.showConsoleProgress": "false",
    # Generated classes without the codegen stage id in their names: tables of the same schema hash
    # with the same code, and Spark's compile cache can then serve every one after the first.
    "spark.sql.codegen.useIdInClassName": "false",
    "spark.driver.extraJavaOptions": "-Dio.netty.tryReflectionSetAccessible=true",
}


def _build(settings: Settings) -> SparkSession:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers must run the same interpreter (and packages) as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - pyspark is a hard dependency
        raise EngineError("pyspark is not installed: pip install 'pyspark==4.2.0'") from exc
    master = effective_master(settings)
    builder = SparkSession.builder.appName("r2d2")
    if master is not None:
        builder = builder.master(master)
    conf = dict(BASE_CONF)
    conf["spark.sql.shuffle.partitions"] = str(settings.spark_shuffle_partitions)
    conf["spark.driver.memory"] = settings.spark_driver_memory
    if master is not None and master.startswith("local"):
        conf.setdefault("spark.ui.enabled", "false")
        conf.setdefault("spark.driver.host", os.environ["SPARK_LOCAL_IP"])
        # Workers run this driver's interpreter, which has R2D2: fork them with its imports done.
        conf.setdefault("spark.python.daemon.module", "r2d2.engine.pydaemon")
    conf.update(settings.spark_conf)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        raise EngineError(f"cannot start Spark (master {master or 'from spark-submit'}): {exc}") from exc
    session.sparkContext.setLogLevel("ERROR")
    return session


def effective_master(settings: Settings) -> str | None:
    """The master to set: the configured one; else none under spark-submit (it set one); else local[*]."""
    if settings.spark_master:
        return settings.spark_master
    return None if os.environ.get("PYSPARK_GATEWAY_PORT") else "local[*]"


def get_spark(settings: Settings | None = None) -> SparkSession:
    """Return the process's Spark session, creating it on first call."""
    global _session
    with _lock:
        if _session is None or _session.sparkContext._jsc is None:
            _session = _build(settings or get_settings())
        return _session


def stop_spark() -> None:
    """Stop the session if one was started."""
    global _session
    with _lock:
        if _session is not None:
            _session.stop()
            _session = None


def delta_source_available(spark: SparkSession) -> bool:
    """Whether the session can read Delta through the Delta data source (delta-spark jars)."""
    try:
        jvm = spark.sparkContext._jvm
        assert jvm is not None
        jvm.java.lang.Class.forName(
            _DELTA_SOURCE_CLASS, False, jvm.Thread.currentThread().getContextClassLoader()
        )
    except Exception:
        return False
    return True
