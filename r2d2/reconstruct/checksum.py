"""Order-independent content checksum of a table, as a multiset of rows.

Each row hashes to the canonical 128-bit row hash (:func:`r2d2.containment.hashing.row_hashes` over
*all* columns, ordered by key), so the checksum does not depend on file format, writer, physical
type, column order or row order. The halves ``(a, b)`` are combined with ``bit_xor`` and with an exact
sum (as decimals: Spark 4 is ANSI and a 64-bit sum would overflow), together with the row count. A
row repeated k times adds k·h to the sums, so two tables with the same checksum have (up to hash
collisions) the same multiset of rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from r2d2.containment import hashing
from r2d2.errors import ReconstructError
from r2d2.types import Column, Family

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame

DEC = "decimal(20,0)"


@dataclass(frozen=True)
class Checksum:
    rows: int
    xor_a: int
    xor_b: int
    sum_a: int
    sum_b: int

    @property
    def text(self) -> str:
        return (f"rows={self.rows};xor={self.xor_a & (2**64 - 1):016x}{self.xor_b & (2**64 - 1):016x};"
                f"sum={self.sum_a}:{self.sum_b}")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {k: str(v) for k, v in asdict(self).items()}
        data["rows"] = self.rows
        data["text"] = self.text
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checksum:
        return cls(int(data["rows"]), int(data["xor_a"]), int(data["xor_b"]), int(data["sum_a"]),
                   int(data["sum_b"]))


def hash_columns(columns: Sequence[Column]) -> list[Column]:
    """All columns ordered by key; refuses a table with a column that cannot be hashed."""
    bad = [c.name for c in columns if c.family is Family.UNSUPPORTED]
    if bad:
        raise ReconstructError(f"column {bad[0]!r} has an unsupported type: no exact checksum possible")
    return sorted(columns, key=lambda c: c.key)


def with_row_hash(df: DataFrame, columns: Sequence[Column]) -> DataFrame:
    """``df`` plus columns ``__a``/``__b``: the canonical row hash over ``columns`` (ordered by key)."""
    from pyspark.sql import functions as F
    h1, h2 = (F.expr(h) for h in hashing.row_hashes(df, hash_columns(columns)))
    return df.withColumns({"__a": h1, "__b": h2})


def _aggs(a: SparkColumn, b: SparkColumn, weight: SparkColumn, keep: SparkColumn, prefix: str) -> list[SparkColumn]:
    """Checksum aggregates over rows where ``keep``, each row counted ``weight`` times."""
    from pyspark.sql import functions as F
    odd = keep & (weight % 2 == 1)
    return [
        F.sum(F.when(keep, weight)).alias(f"{prefix}rows"),
        F.bit_xor(F.when(odd, a)).alias(f"{prefix}xa"),
        F.bit_xor(F.when(odd, b)).alias(f"{prefix}xb"),
        F.sum(F.when(keep, a.cast(DEC) * weight.cast(DEC))).alias(f"{prefix}sa"),
        F.sum(F.when(keep, b.cast(DEC) * weight.cast(DEC))).alias(f"{prefix}sb"),
    ]


def grouped_aggs(keep: SparkColumn, prefix: str, *, distinct: bool = False) -> list[SparkColumn]:
    """Checksum aggregates over a grouped hash frame ``(a, b, cnt, ...)``; ``distinct`` counts each row once."""
    from pyspark.sql import functions as F
    weight = F.lit(1).cast("bigint") if distinct else F.col("cnt")
    return _aggs(F.col("a"), F.col("b"), weight, keep, prefix)


def from_row(row: Any, prefix: str) -> Checksum:
    def num(key: str) -> int:
        value = row[f"{prefix}{key}"]
        return int(value) if value is not None else 0

    return Checksum(num("rows"), num("xa"), num("xb"), num("sa"), num("sb"))


def grouped_hashes(df: DataFrame, columns: Sequence[Column]) -> DataFrame:
    """``(a, b, cnt)``: each distinct canonical row hash of ``df`` over ``columns`` with its count."""
    from pyspark.sql import functions as F
    hashed = with_row_hash(df, columns)
    return hashed.groupBy(F.col("__a").alias("a"), F.col("__b").alias("b")).agg(F.count(F.lit(1)).alias("cnt"))


def checksum_of_grouped(grouped: DataFrame) -> Checksum:
    from pyspark.sql import functions as F
    return from_row(grouped.agg(*grouped_aggs(F.lit(True), "")).first(), "")


def table_checksum(df: DataFrame, columns: Sequence[Column]) -> Checksum:
    """The checksum of ``df`` (one pass, no shuffle of rows)."""
    from pyspark.sql import functions as F
    hashed = with_row_hash(df, columns)
    row = hashed.agg(*_aggs(F.col("__a"), F.col("__b"), F.lit(1).cast("bigint"), F.lit(True), "")).first()
    return from_row(row, "")
