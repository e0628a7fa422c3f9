"""Canonical hashing: the same logical value hashes the same whatever its physical type."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from r2d2.containment import hashing
from r2d2.lake.discover import discover
from r2d2.profile.parquet import profile_parquet


def _hashes(spark, tmp_path: Path, name: str, table: pa.Table) -> list[tuple[int, int]]:
    folder = tmp_path / name
    folder.mkdir()
    pq.write_table(table, folder / "part-0.parquet")
    (found,) = discover([str(folder)]).tables
    profile = profile_parquet(found)
    from r2d2.lake.read import read_table

    df = read_table(spark, profile)
    h1, h2 = hashing.row_hashes(df, hashing.ordered_columns(profile))
    return [(r[0], r[1]) for r in df.selectExpr(h1, h2).collect()]


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (pa.array([1, -2, None], pa.int32()), pa.array([1, -2, None], pa.int64())),
        (pa.array([1, 2], pa.uint8()), pa.array([1, 2], pa.int16())),
        (pa.array([0.0, float("nan"), 1.5], pa.float64()), pa.array([-0.0, float("nan"), 1.5], pa.float64())),
        (pa.array([0.5, 2.0], pa.float32()), pa.array([0.5, 2.0], pa.float64())),
        (pa.array([decimal.Decimal("1.50"), decimal.Decimal("-0.00")], pa.decimal128(10, 2)),
         pa.array([decimal.Decimal("1.500"), decimal.Decimal("0.000")], pa.decimal128(12, 3))),
        (pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, 6000)], pa.timestamp("ms")),
         pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, 6000)], pa.timestamp("us"))),
        (pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, 7)], pa.timestamp("us", tz="UTC")),
         pa.array([1704164645000007000], pa.timestamp("ns", tz="UTC"))),
        (pa.array([dt.datetime(1969, 12, 31, 23, 59, 59, 999999)], pa.timestamp("us")),
         pa.array([-1000], pa.timestamp("ns"))),
        (pa.array([dt.date(2020, 2, 29)], pa.date32()), pa.array([dt.date(2020, 2, 29)], pa.date64())),
        (pa.array(["a", None, "é"], pa.string()), pa.array(["a", None, "é"], pa.large_string())),
    ],
    ids=["int32-int64", "uint8-int16", "float-zero-nan", "float32-64", "decimal-scale", "ts-ms-us",
         "ts-us-ns", "ts-negative", "date32-64", "string-large"],
)
def test_same_value_same_hash(spark, tmp_path: Path, left: pa.Array, right: pa.Array) -> None:
    a = _hashes(spark, tmp_path, "a", pa.table({"x": left}))
    b = _hashes(spark, tmp_path, "b", pa.table({"X": right}))  # names match case-insensitively
    assert a == b


def test_null_position_matters(spark, tmp_path: Path) -> None:
    # Spark's hash functions skip nulls: (1, null) and (null, 1) must still hash apart.
    a = _hashes(spark, tmp_path, "a", pa.table({"x": pa.array([1], pa.int64()), "y": pa.array([None], pa.int64())}))
    b = _hashes(spark, tmp_path, "b", pa.table({"x": pa.array([None], pa.int64()), "y": pa.array([1], pa.int64())}))
    c = _hashes(spark, tmp_path, "c", pa.table({"x": pa.array([1], pa.int64()), "y": pa.array([1], pa.int64())}))
    assert len({*a, *b, *c}) == 3


def test_nanosecond_precision_is_kept(spark, tmp_path: Path) -> None:
    a = _hashes(spark, tmp_path, "a", pa.table({"t": pa.array([1, 2, 1001], pa.timestamp("ns"))}))
    assert len(set(a)) == 3


def test_null_hashes_the_same_whatever_the_timestamp_unit(spark, tmp_path: Path) -> None:
    # Found by the property test: a null must hash alike for every physical type of its family.
    a = _hashes(spark, tmp_path, "a", pa.table({"t": pa.array([None], pa.timestamp("us", tz="UTC"))}))
    b = _hashes(spark, tmp_path, "b", pa.table({"t": pa.array([None], pa.timestamp("ns", tz="UTC"))}))
    c = _hashes(spark, tmp_path, "c", pa.table({"t": pa.array([None], pa.timestamp("ms"))}))
    assert a == b == c
