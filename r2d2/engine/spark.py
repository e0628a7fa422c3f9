"""The process's Spark session, created on first use (never at import time).

The master comes from settings (``local[*]`` by default); any cluster URL works.

The user's Spark settings win. R2D2's defaults (:data:`DEFAULT_CONF`, shuffle partitions, driver
memory, the jars folder, ``R2D2_SPARK_CONF``) are set on a session R2D2 builds itself. Under
spark-submit (or in a process that already has a session), every setting the user gave — ``--conf``,
``spark-defaults.conf``, the builder — stays: a default is applied only to a key the user left unset.
Only the settings R2D2's results depend on (:data:`REQUIRED_CONF`: the session time zone is UTC —
timestamps without a zone are wall-clock UTC — and Parquet nanosecond timestamps read as raw longs,
whose unit the canonicaliser knows from the profile) are set on R2D2's session whatever was given;
they are runtime SQL settings of that session.

Jars: the folder ``make jars`` fills (delta-spark and its storage jar, hadoop-aws and the AWS SDK
bundle, Google's GCS connector) goes on the driver and executor class path of a session R2D2 builds;
a cluster's workers need the same folder at the same path (the Docker image has it), or the user
passes ``--packages``.
Object-store options (:func:`r2d2.lake.fs.hadoop_options`) are set on the session's Hadoop
configuration, again only where the user set nothing.

A session whose JVM exited (killed, out of memory) answers every call with a refused connection: the
next :func:`get_spark` starts a new one, at most :data:`RESTARTS` times in a process, so that a batch
that failed with it is retried (its callers bisect failing batches) instead of every remaining batch
failing. Under spark-submit the JVM is not this process's to restart.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from r2d2.config import LOCAL_DRIVER_MEMORY, LOCAL_SHUFFLE_PARTITIONS, Settings, get_settings
from r2d2.errors import EngineError
from r2d2.lake import fs as lakefs

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("r2d2.engine.spark")

_lock = threading.Lock()
_session: SparkSession | None = None
# Sessions started again after their JVM exited: at most RESTARTS within RESTART_WINDOW_S (a JVM that
# keeps exiting is not started for ever; a server recovers once the window has passed).
RESTARTS = 3
RESTART_WINDOW_S = 3600.0
JVM_EXIT_WAIT_S = 30.0  # a JVM that stopped answering, given this long to exit before it is restarted
_restarted: list[float] = []  # monotonic times of the restarts

_DELTA_SOURCE_CLASS = "org.apache.spark.sql.delta.sources.DeltaDataSource"

REQUIRED_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
}

DEFAULT_CONF: dict[str, str] = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.files.ignoreMissingFiles": "false",
    "spark.ui.showConsoleProgress": "false",
    # Generated classes without the codegen stage id in their names: tables of the same schema hash
    # with the same code, and Spark's compile cache can then serve every one after the first.
    "spark.sql.codegen.useIdInClassName": "false",
    "spark.driver.extraJavaOptions": "-Dio.netty.tryReflectionSetAccessible=true",
}


PROJECT_JARS = Path(__file__).resolve().parents[2] / "jars"


def jars_dir(settings: Settings) -> Path | None:
    """The folder of Spark jars to put on a session R2D2 builds (None when there is none)."""
    folder = settings.spark_jars_dir or PROJECT_JARS
    return folder if folder.is_dir() and any(folder.glob("*.jar")) else None


# gs:// through Google's connector (the jar ``make jars`` fetches). Hadoop 3.5's core-default.xml names
# its own GCS filesystem (not shipped with pyspark) and gives sizes as "64m", which the connector reads
# as plain longs: both are replaced on a session R2D2 builds (a user's own setting still wins).
GCS_CONNECTOR_CONF = {
    "fs.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem",
    "fs.AbstractFileSystem.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFS",
    "fs.gs.block.size": str(64 << 20),
    "fs.gs.rewrite.max.chunk.size": str(512 << 20),
    "fs.gs.outputstream.buffer.size": str(8 << 20),
    "fs.gs.inputstream.inplace.seek.limit": str(8 << 20),
    "fs.gs.inputstream.min.range.request.size": str(2 << 20),
}


def wanted_conf(settings: Settings, master: str | None, *, own: bool = True) -> dict[str, str]:
    """R2D2's settings for a session: its defaults, then ``R2D2_SPARK_CONF``, then the required ones.
    ``own``: a session R2D2 builds itself (else sizing defaults are left to the user's Spark)."""
    conf = dict(DEFAULT_CONF)
    if own or settings.spark_shuffle_partitions:
        conf["spark.sql.shuffle.partitions"] = str(settings.spark_shuffle_partitions or LOCAL_SHUFFLE_PARTITIONS)
    if own or settings.spark_driver_memory:
        conf["spark.driver.memory"] = settings.spark_driver_memory or LOCAL_DRIVER_MEMORY
    if own and master is not None and master.startswith("local"):
        conf["spark.ui.enabled"] = "false"
        conf["spark.driver.host"] = os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")
        if settings.spark_worker_daemon:  # workers run this driver's interpreter: fork them with imports done
            conf["spark.python.daemon.module"] = settings.spark_worker_daemon
    jars = jars_dir(settings) if own else None
    if jars is not None:
        conf["spark.driver.extraClassPath"] = f"{jars}/*"
        conf["spark.executor.extraClassPath"] = f"{jars}/*"
        if any(jars.glob("delta-spark_*.jar")):  # Delta's SQL (DELETE, time travel by SQL) needs both
            conf["spark.sql.extensions"] = "io.delta.sql.DeltaSparkSessionExtension"
            conf["spark.sql.catalog.spark_catalog"] = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
        if any(jars.glob("gcs-connector-*.jar")):
            conf.update({f"spark.hadoop.{k}": v for k, v in GCS_CONNECTOR_CONF.items()})
    conf.update(settings.spark_conf)
    conf.update(REQUIRED_CONF)
    return conf


def _user_conf() -> dict[str, str]:
    """Settings already given to this process's Spark: spark-submit's ``--conf`` and defaults file
    (system properties of the JVM it started), or those of a running context."""
    from pyspark import SparkConf, SparkContext

    active = SparkContext._active_spark_context
    if active is not None:
        return dict(active.getConf().getAll())
    if os.environ.get("PYSPARK_GATEWAY_PORT"):  # under spark-submit: the JVM holds its settings
        SparkContext._ensure_initialized()  # connects to spark-submit's JVM, so SparkConf() loads them
        return dict(SparkConf().getAll())
    return {}


def _build(settings: Settings) -> SparkSession:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers must run the same interpreter (and packages) as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - pyspark is a hard dependency
        raise EngineError("pyspark is not installed: pip install 'pyspark==4.2.0'") from exc
    given = _user_conf()
    master = effective_master(settings) if not given else settings.spark_master
    builder = SparkSession.builder.appName("r2d2")
    if master is not None and "spark.master" not in given:
        builder = builder.master(master)
    conf = wanted_conf(settings, master, own=not given)
    for key, value in conf.items():
        if key not in given:
            builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        raise EngineError(f"cannot start Spark (master {master or 'from spark-submit'}): {exc}") from exc
    for key, value in REQUIRED_CONF.items():
        session.conf.set(key, value)
    apply_storage_options(session, lakefs.storage_options())
    session.sparkContext.setLogLevel("ERROR")
    return session


def apply_storage_options(spark: SparkSession, options: Mapping[str, Mapping[str, str]]) -> None:
    """Set the object-store options on the session's Hadoop configuration (s3a, gs), where the user set
    nothing (``spark.hadoop.*`` settings or site files win over everything but Hadoop's own defaults).
    Values are never logged."""
    hconf = spark.sparkContext._jsc.hadoopConfiguration()

    def unset(key: str) -> bool:  # nothing set, or only Hadoop's own default (core-default.xml)
        sources = hconf.getPropertySources(key) if hconf.get(key) is not None else None
        return sources is None or all(str(s) == "core-default.xml" for s in sources)

    wanted = lakefs.hadoop_options(options)
    endpoint_keys = ("fs.s3a.endpoint", "fs.s3a.path.style.access", "fs.s3a.connection.ssl.enabled")
    own_endpoint = "fs.s3a.endpoint" in wanted and not hconf.get("fs.s3a.endpoint")
    for key, value in wanted.items():
        if key in endpoint_keys:
            if own_endpoint:  # these go together (Hadoop's defaults are set for AWS itself)
                hconf.set(key, value)
        elif key != "fs.s3a.aws.credentials.provider" and unset(key):
            hconf.set(key, value)


def effective_master(settings: Settings) -> str | None:
    """The master to set: the configured one; else none under spark-submit (it set one); else local[*]."""
    if settings.spark_master:
        return settings.spark_master
    return None if os.environ.get("PYSPARK_GATEWAY_PORT") else "local[*]"


def get_spark(settings: Settings | None = None) -> SparkSession:
    """Return the process's Spark session, creating it on first call."""
    global _session
    with _lock:
        if _session is not None and (code := jvm_exit_code(_session, probe=True)) is not None:
            now = time.monotonic()
            _restarted[:] = [t for t in _restarted if now - t < RESTART_WINDOW_S]
            if len(_restarted) >= RESTARTS:
                raise EngineError(f"Spark's JVM exited (code {code}) and was started again {len(_restarted)} "
                                  f"times in the last {RESTART_WINDOW_S / 60:.0f} minutes: not again (why it "
                                  "exits is in the driver's log; too little spark.driver.memory?)")
            _restarted.append(now)
            log.warning("Spark's JVM exited (code %s): starting a new session (%d of at most %d in %.0f minutes)",
                        code, len(_restarted), RESTARTS, RESTART_WINDOW_S / 60)
            _forget(_session)
            _session = None
        if _session is None or _session.sparkContext._jsc is None:
            _session = _build(settings or get_settings())
        return _session


def jvm_exit_code(session: SparkSession, *, probe: bool = False) -> int | None:
    """The exit code of the JVM this process started for ``session``, or None while it runs (or when
    the JVM is not this process's: under spark-submit). ``probe``: ask the JVM too (two Py4J calls),
    and when it does not answer, wait for it to exit (a JVM's sockets close before it has exited: a job
    that failed with it can be retried before it is seen gone)."""
    from py4j.protocol import Py4JNetworkError

    proc = getattr(getattr(session.sparkContext, "_gateway", None), "proc", None)
    if proc is None:
        return None
    code: int | None = proc.poll()
    jsc = session.sparkContext._jsc
    if code is not None or not probe or jsc is None:
        return code
    try:
        jsc.sc().isStopped()
        return None
    except (OSError, Py4JNetworkError):  # no connection: the JVM is exiting (or stuck: left to the jobs)
        with contextlib.suppress(subprocess.TimeoutExpired):
            return proc.wait(timeout=JVM_EXIT_WAIT_S)
        return None


def _forget(session: SparkSession) -> None:
    """Drop what pyspark keeps of a session whose JVM exited, so that the next one starts a JVM (pyspark
    would otherwise reuse the dead gateway: its ``stop`` gives up at the first call to the JVM)."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    sc = session.sparkContext
    with contextlib.suppress(Exception):  # the JVM it tells is gone
        sc.stop()
    server = getattr(sc, "_accumulatorServer", None)
    if server is not None:  # its thread would serve a closed socket for ever
        with contextlib.suppress(Exception):
            server.shutdown()
            server.server_close()
        sc._accumulatorServer = None  # type: ignore[assignment]
    gateway = SparkContext._gateway
    if gateway is not None:
        with contextlib.suppress(Exception):
            gateway.shutdown()
    sc._jsc = None
    SparkContext._gateway = None
    SparkContext._jvm = None
    SparkContext._active_spark_context = None
    SparkSession._instantiatedSession = None
    SparkSession._activeSession = None


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
