"""The Spark schema of a Parquet file, read from its footer on the driver.

``spark.read.parquet(path)`` infers the schema with a one-task Spark job per read (about 0.1 s, and
longer when jobs queue). Stage 3 builds dozens of reads per batch, and a small incremental run is
made mostly of such fixed costs. Here Spark's own code does the same work on the driver: the
Parquet footer reader, then ``ParquetFileFormat.readSchemaFromFooter`` with a converter configured
from the session's SQL settings (binary as string, INT96, timestamp NTZ inference, nanoseconds as
long), which is what schema inference runs inside its job. These are internal Spark classes, so
any failure falls back to inference; ``tests/test_read.py`` checks that the two agree on every
Parquet file of its lakes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructType

_PARQUET = "org.apache.spark.sql.execution.datasources.parquet"
# Each attribute step of ``jvm.org.apache...`` is a Py4J reflection round trip (about 0.25 ms): a
# batch reading dozens of footers spent more on naming classes than on reading. Classes are looked
# up once per gateway, by their full names (one round trip each).
_classes: dict[int, tuple[object, dict[str, Any]]] = {}  # id(jvm view) -> (the view, name -> class)


def _jclass(jvm: Any, name: str) -> Any:
    entry = _classes.get(id(jvm))
    if entry is None or entry[0] is not jvm:  # a new session's gateway
        entry = _classes[id(jvm)] = (jvm, {})
    found = entry[1].get(name)
    if found is None:
        found = entry[1][name] = getattr(jvm, name)
    return found


def parquet_schema(spark: SparkSession, path: str) -> StructType:
    """The schema Spark infers for the Parquet file ``path`` (a local path or a Hadoop URI)."""
    from py4j.protocol import Py4JError
    from pyspark.sql.types import StructType

    jvm = spark._jvm
    if jvm is None:  # no JVM on this side (Spark Connect): inference it is
        return spark.read.parquet(path).schema
    try:
        jpath = _jclass(jvm, "org.apache.hadoop.fs.Path")(path)
        skip_row_groups = _jclass(jvm, "org.apache.parquet.format.converter.ParquetMetadataConverter").SKIP_ROW_GROUPS
        meta = _jclass(jvm, "org.apache.parquet.hadoop.ParquetFileReader").readFooter(
            spark._jsc.hadoopConfiguration(), jpath, skip_row_groups)
        footer = _jclass(jvm, "org.apache.parquet.hadoop.Footer")(jpath, meta)
        converter = _jclass(jvm, f"{_PARQUET}.ParquetToSparkSchemaConverter")(
            spark._jsparkSession.sessionState().conf())
        found = _jclass(jvm, f"{_PARQUET}.ParquetFileFormat").readSchemaFromFooter(footer, converter)
        return StructType.fromJson(json.loads(found.json()))
    except Py4JError:
        # Not this Spark's internals, or the footer cannot be read here: Spark's inference decides
        # (and raises its own error for an unreadable file).
        return spark.read.parquet(path).schema
