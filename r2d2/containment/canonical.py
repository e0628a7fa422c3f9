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
from typing import TYPE_CHECKING

from r2d2.errors import DetectionError
from r2d2.lake.sparkschema import quoted as ident  # any column name is safe in SQL text
from r2d2.types import Column, Family

if TYPE_CHECKING:
    from pyspark.sql import types as T

# Expressions are built as Spark SQL text and sent in one ``selectExpr`` call: building them with
# the Column API costs one Py4J round trip per operator, which dominated planning for many tables.

_SECOND_HASH_SALT = 0x5BD1E9955BD1E995  # seeds the second half of the 128-bit row hash
_MASK32 = 0xFFFFFFFF


def _zero_unless_null(c: str) -> str:
    # Every component of a null value must be null (hashing skips it): a bare literal would make a
    # null hash differently depending on the physical type (found by tests/test_detect_properties).
    return f"CASE WHEN {c} IS NULL THEN NULL ELSE 0L END"


def components(name: str, column: Column, spark_type: T.DataType) -> list[str]:
    """Canonical components (Spark SQL expressions) of one column's values (module docstring)."""
    c = ident(name)
    family = column.family
    if family is Family.INTEGER:
        return [f"CAST({c} AS BIGINT)"]
    if family is Family.FLOAT:
        d = f"CAST({c} AS DOUBLE)"
        return [f"CASE WHEN isnan({d}) THEN CAST('NaN' AS DOUBLE) WHEN {d} = 0.0D THEN 0.0D ELSE {d} END"]
    if family is Family.DECIMAL:
        # Spark renders decimals in plain notation; strip fractional trailing zeros, then "-0" -> "0".
        text = f"regexp_replace(regexp_replace(CAST({c} AS STRING), '([.][0-9]*?)0+$', '$1'), '[.]$', '')"
        return [f"CASE WHEN {text} = '-0' THEN '0' ELSE {text} END"]
    if family in (Family.STRING, Family.BINARY, Family.BOOLEAN):
        return [c]
    if family is Family.DATE:
        return [f"CAST(unix_date(CAST({c} AS DATE)) AS BIGINT)"]
    if family is Family.TIMESTAMP:
        from pyspark.sql import types as T

        if isinstance(spark_type, T.LongType | T.IntegerType):
            # Raw integers: Parquet nanosecond timestamps read with nanosAsLong, unit from the profile.
            unit = column.unit or "ns"
            if unit == "ns":
                return [f"CAST(({c} - pmod({c}, 1000L)) div 1000L AS BIGINT)", f"CAST(pmod({c}, 1000L) AS BIGINT)"]
            scale = {"us": 1, "ms": 1000, "s": 1_000_000}[unit]
            return [f"CAST({c} AS BIGINT) * {scale}L", _zero_unless_null(c)]
        return [f"unix_micros(CAST({c} AS TIMESTAMP))", _zero_unless_null(c)]
    raise DetectionError(f"column {column.name!r} of family {family} cannot be hashed")


def _flagged(parts: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
    args: list[str] = []
    for name, comps in parts:
        args.append(f"({ident(name)} IS NULL)")
        args.extend(comps)
    return args


def row_hash(parts: Sequence[tuple[str, Sequence[str]]]) -> tuple[str, str]:
    """SQL of the two 64-bit halves of a row's 128-bit hash over ``(column name, components)`` pairs.

    ``parts`` must be in the same order on every table compared (sorted by column key).
    """
    args = ", ".join(_flagged(parts))
    return f"xxhash64({args})", f"xxhash64({_SECOND_HASH_SALT}L, {args})"


def value_hash32(name: str, comps: Sequence[str]) -> str:
    """SQL of a 32-bit hash (``bigint`` in [0, 2^32)) of a column's value; null where the value is."""
    return f"CASE WHEN {ident(name)} IS NOT NULL THEN xxhash64({', '.join(comps)}) & {_MASK32}L END"
