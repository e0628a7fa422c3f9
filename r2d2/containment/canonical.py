"""Canonical values and hashes, as Spark column expressions.

The same logical value must hash the same whatever file format, writer or physical type it came
from (DESIGN, containment semantics). Each supported column becomes a tuple of *canonical
components*, chosen by the column's type family (from the profile) and its physical Spark type:

========== ===================================================================================
integer    ``bigint`` (any width; Spark reads uint8..uint32 as wider signed types)
float      ``double``; every NaN becomes the one NaN; -0.0 becomes 0.0
decimal    plain string without trailing fractional zeros ("1.50" and "1.500" → "1.5")
string     the string; binary: the bytes; boolean: the boolean
date       days since 1970-01-01 as ``bigint``
timestamp  (microseconds since the epoch, nanoseconds within the microsecond) as two ``bigint``:
           exact for every unit, and an instant whether or not the writer recorded a zone
           (the session time zone is UTC, so zone-less values are read as UTC wall clock)
========== ===================================================================================

Row hashes are 128 bits: two xxhash64 over ``(is_null, components...)`` for each column in a fixed
order, the second one seeded differently by a leading constant. Spark's hash functions skip nulls,
so the explicit ``is_null`` flag keeps ``(null, 1)`` and ``(1, null)`` apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column as SparkColumn
from pyspark.sql import functions as F
from pyspark.sql import types as T

from r2d2.errors import DetectionError
from r2d2.types import Column, Family

_SECOND_HASH_SALT = 0x5BD1E9955BD1E995  # seeds the second half of the 128-bit row hash
_MASK32 = 0xFFFFFFFF


def components(col: SparkColumn, column: Column, spark_type: T.DataType) -> list[SparkColumn]:
    """Canonical components of one column's values (see the module docstring)."""
    family = column.family
    if family is Family.INTEGER:
        return [col.cast("bigint")]
    if family is Family.FLOAT:
        dbl = col.cast("double")
        return [F.when(F.isnan(dbl), F.lit(float("nan"))).when(dbl == 0.0, F.lit(0.0)).otherwise(dbl)]
    if family is Family.DECIMAL:
        text = col.cast("string")
        # Spark renders decimals in plain notation; strip fractional trailing zeros, then "-0" → "0".
        text = F.regexp_replace(text, r"(\.[0-9]*?)0+$", "$1")
        text = F.regexp_replace(text, r"\.$", "")
        return [F.when(text == "-0", F.lit("0")).otherwise(text)]
    if family in (Family.STRING, Family.BINARY, Family.BOOLEAN):
        return [col]
    if family is Family.DATE:
        return [F.unix_date(col.cast("date")).cast("bigint")]
    if family is Family.TIMESTAMP:
        if isinstance(spark_type, T.LongType | T.IntegerType):
            # Raw integers: Parquet nanosecond timestamps read with nanosAsLong, unit from the profile.
            unit = column.unit or "ns"
            per_micro = {"ns": 1000}.get(unit)
            if per_micro is None:
                scale = {"us": 1, "ms": 1000, "s": 1_000_000}[unit]
                return [col.cast("bigint") * F.lit(scale), F.lit(0).cast("bigint")]
            sub = F.pmod(col, F.lit(per_micro))
            return [((col - sub) / F.lit(per_micro)).cast("bigint"), sub.cast("bigint")]
        ts = col.cast("timestamp")
        return [F.unix_micros(ts), F.lit(0).cast("bigint")]
    raise DetectionError(f"column {column.name!r} of family {family} cannot be hashed")


def _flagged(parts: Sequence[tuple[SparkColumn, Sequence[SparkColumn]]]) -> list[SparkColumn]:
    args: list[SparkColumn] = []
    for raw, comps in parts:
        args.append(raw.isNull())
        args.extend(comps)
    return args


def row_hash(parts: Sequence[tuple[SparkColumn, Sequence[SparkColumn]]]) -> tuple[SparkColumn, SparkColumn]:
    """The two 64-bit halves of a row's 128-bit hash over ``(raw column, components)`` pairs.

    ``parts`` must be in the same order on every table compared (sorted by column key).
    """
    args = _flagged(parts)
    return F.xxhash64(*args), F.xxhash64(F.lit(_SECOND_HASH_SALT), *args)


def value_hash32(comps: Sequence[SparkColumn]) -> SparkColumn:
    """A 32-bit hash (as ``bigint`` in [0, 2^32)) of one non-null canonical value, for MinHash."""
    return F.xxhash64(*comps).bitwiseAND(F.lit(_MASK32))
