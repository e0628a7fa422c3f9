"""Arrow types (as in profiles) -> Spark types, for the readers that need an explicit Spark schema."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:  # pyspark is imported when a Spark type is asked for, not with this module
    from pyspark.sql import types as T


@functools.cache
def _simple() -> dict[str, T.DataType]:
    from pyspark.sql import types as T

    return {
        "int8": T.ByteType(),
        "int16": T.ShortType(),
        "int32": T.IntegerType(),
        "int64": T.LongType(),
        "float": T.FloatType(),
        "double": T.DoubleType(),
        "bool": T.BooleanType(),
        "string": T.StringType(),
        "large_string": T.StringType(),
        "binary": T.BinaryType(),
        "date32[day]": T.DateType(),
    }


def spark_type_of(physical_type: str) -> T.DataType:
    """Spark type of a simple Arrow type string (timestamps: with a zone -> TIMESTAMP, else TIMESTAMP_NTZ)."""
    from pyspark.sql import types as T

    simple = _simple()
    if physical_type in simple:
        return simple[physical_type]
    if physical_type.startswith("timestamp["):
        return T.TimestampType() if "tz=" in physical_type else T.TimestampNTZType()
    raise ValueError(f"no Spark type for {physical_type}")


def spark_type_of_arrow(dtype: pa.DataType) -> T.DataType:
    """Spark type of any Arrow type (nested included), as pyspark maps them."""
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import from_arrow_type

    if pa.types.is_timestamp(dtype):
        return T.TimestampType() if dtype.tz else T.TimestampNTZType()
    return from_arrow_type(dtype, prefer_timestamp_ntz=True)


def struct_of(fields: list[tuple[str, T.DataType]]) -> T.StructType:
    from pyspark.sql import types as T

    return T.StructType([T.StructField(name, dtype, True) for name, dtype in fields])


def quoted(name: str) -> str:
    """A column name as a Spark SQL identifier: any name is safe (dots, spaces, backticks)."""
    return "`" + name.replace("`", "``") + "`"


def qcol(name: str):
    """A Spark column by exact name (dots and backticks in names are quoted)."""
    from pyspark.sql import functions as F

    return F.col(quoted(name))
