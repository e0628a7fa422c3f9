"""Small driver-side tables (id mappings, per-set limits) as Spark DataFrames, without a Spark job.

``spark.createDataFrame`` on a Python list builds an RDD of pickled rows: every read of it (each
broadcast of a file -> table-id mapping, say) is a Spark job with Python workers, about a second
once the workers have idled out. From an Arrow table Spark builds a local relation instead, which a
broadcast reads on the driver with no job and no worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def arrow_rows(rows: Sequence[Sequence[object]], fields: Sequence[tuple[str, pa.DataType]]) -> pa.Table:
    """``rows`` (tuples in the order of ``fields``: name and Arrow type) as an Arrow table."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in fields]
    return pa.table({name: pa.array(list(values), type=dtype)
                     for (name, dtype), values in zip(fields, columns, strict=True)})


def local_frame(spark: SparkSession, rows: Sequence[Sequence[object]],
                fields: Sequence[tuple[str, pa.DataType]]) -> DataFrame:
    """``rows`` (tuples in the order of ``fields``: name and Arrow type) as a local-relation DataFrame."""
    return spark.createDataFrame(arrow_rows(rows, fields))
