"""pyarrow reads + numpy hashes give the very bits of Spark's reader + Spark SQL hashes, on every family.

Each table is profiled, then hashed twice: by Spark (``read_table`` and the SQL of
:mod:`r2d2.containment.hashing`) and file by file with :mod:`r2d2.lake.arrow_read` and
:mod:`r2d2.containment.arrow_hash`. The multisets of ``(row hash a, b, value hashes...)`` must be equal:
that is what makes stage 3's hash sets independent of the path that made them.
"""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lakes import csv, delta, partitioned
from strategies import tables
from test_detect_properties import _arrow

from r2d2.containment import arrow_hash as ah
from r2d2.containment import hashing
from r2d2.lake.arrow_read import ReadColumn, file_reads, read_file
from r2d2.lake.discover import discover
from r2d2.lake.read import read_table
from r2d2.profile.profiler import profile_tables
from r2d2.types import TableProfile

_counter = itertools.count()


def _profile(spark, folder: Path) -> TableProfile:
    (found,) = discover([str(folder)]).tables
    (outcome,) = profile_tables([found], spark_factory=lambda: spark)
    assert outcome.profile is not None, outcome.error
    return outcome.profile


def _spark_hashes(spark, profile: TableProfile) -> collections.Counter:
    cols = hashing.ordered_columns(profile)
    df = read_table(spark, profile)
    h1, h2 = hashing.row_hashes(df, cols)
    return collections.Counter(tuple(r) for r in df.selectExpr(h1, h2, *hashing.value_hashes(df, cols)).collect())


def _arrow_hashes(profile: TableProfile) -> collections.Counter:
    cols = hashing.ordered_columns(profile)
    out: collections.Counter = collections.Counter()
    for item in file_reads(profile):
        for t in read_file(item, [ReadColumn(c.name, c.physical_type) for c in cols], batch_rows=3):
            canons = [ah.canon(ah.ColumnSpec(c.family.value, c.unit), t.column(c.name)) for c in cols]
            a, b = ah.row_hashes(canons, t.num_rows)
            values = [ah.value_hashes(c).to_pylist() for c in canons]
            for i in range(t.num_rows):
                out[(int(a[i]), int(b[i]), *(v[i] for v in values))] += 1
    return out


def _same(spark, folder: Path) -> None:
    profile = _profile(spark, folder)
    expected = _spark_hashes(spark, profile)
    assert expected, "the table must have rows"
    assert _arrow_hashes(profile) == expected


def _parquet(tmp_path: Path, table: pa.Table) -> Path:
    folder = tmp_path / f"t{next(_counter)}"
    folder.mkdir()
    pq.write_table(table, folder / "part-0.parquet")
    return folder


D = decimal.Decimal
COLUMNS = {
    "int8": pa.array([1, -2, None, 127], pa.int8()),
    "uint32": pa.array([0, 4_000_000_000, None], pa.uint32()),
    "int64": pa.array([-(2**63), 2**63 - 1, 0, None], pa.int64()),
    "double": pa.array([0.0, -0.0, float("nan"), float("inf"), -1.5, None], pa.float64()),
    "float": pa.array([0.5, -0.0, float("nan"), None], pa.float32()),
    "decimal-small": pa.array([D("1.50"), D("-0.01"), D("0.0000001"), D("0"), D("-12345678.9000"), None],
                              pa.decimal128(15, 7)),
    "decimal-scale0": pa.array([D("100"), D("-5"), None], pa.decimal128(5, 0)),
    "decimal-18": pa.array([D("-0.0001"), D("99999999999999.9999"), D("-99999999999999.9999"), D("10.0000"),
                            D("0.1000"), D("-7"), None], pa.decimal128(18, 4)),
    "decimal-wide": pa.array([D("1E-20"), D("123456789012345678.5"), D("-3.10"), None], pa.decimal128(38, 20)),
    "string": pa.array(["a", "", None, "é🙂", "x" * 70, "y" * 2000]),
    "binary": pa.array([b"\x00\xff", b"", None, bytes(range(40))], pa.binary()),
    "bool": pa.array([True, False, None]),
    "date": pa.array([dt.date(2020, 2, 29), dt.date(1900, 1, 1), None], pa.date32()),
    "ts-s": pa.array([0, -1, 1_700_000_000, None], pa.timestamp("s")),
    "ts-ms": pa.array([1, -1001, None], pa.timestamp("ms", tz="UTC")),
    "ts-us": pa.array([1, -1, None], pa.timestamp("us", tz="Europe/Paris")),
    "ts-ns": pa.array([1704164645000007001, -1, -1000, None], pa.timestamp("ns")),
}


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_each_type(spark, tmp_path: Path, name: str) -> None:
    _same(spark, _parquet(tmp_path, pa.table({name: COLUMNS[name]})))


def test_all_types_in_one_row_hash(spark, tmp_path: Path) -> None:
    n = 3
    _same(spark, _parquet(tmp_path, pa.table({k: v.slice(0, n) for k, v in COLUMNS.items()})))


def test_csv_rule(spark, tmp_path: Path) -> None:
    folder = tmp_path / "c"
    csv(folder, 'id,name,score,ok,day,at\n1,"a, b",1.5,true,2024-01-01,2024-01-01 00:00:00\n'
                '2,"",,False,,2024-02-03T04:05:06.123456\n3,x,-0.0,,2024-03-01,\n', name="a.csv")
    csv(folder, 'id,name,score,ok,day,at\n4,"q""uote",NaN,TRUE,2024-01-02,2024-01-01 00:00:01\n', name="b.csv")
    _same(spark, folder)


def test_csv_timestamps_with_a_zone(spark, tmp_path: Path) -> None:
    folder = tmp_path / "z"
    csv(folder, "id,at\n1,2024-01-01T00:00:00Z\n2,2024-06-01 03:04:05+02:00\n3,\n")
    _same(spark, folder)


def test_hive_partitions(spark, tmp_path: Path) -> None:
    table = pa.table({"x": [1, 2, 3, 4], "region": ["eu", "us", None, "eu"], "year": [2023, 2024, 2024, 7]})
    _same(spark, partitioned(tmp_path / "h", table, ["region", "year"]))


def test_delta_partitions(spark, tmp_path: Path) -> None:
    table = pa.table({"x": [1, 2, 3], "day": pa.array([dt.date(2024, 1, 1), None, dt.date(2024, 1, 2)]),
                      "tag": ["a", "b", "a"]})
    _same(spark, delta(tmp_path / "d", table, partition_by=["day", "tag"]))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), precision=st.integers(1, 18))
def test_decimal_text_is_pythons_plain_decimal(data: st.DataObject, precision: int) -> None:
    """The compiled decimal text (precision <= 18) is what Python's ``decimal`` writes once the trailing
    fractional zeros are stripped (that rule is checked against Spark's CAST above)."""
    scale = data.draw(st.integers(0, precision))
    bound = 10**precision - 1
    unscaled = data.draw(st.lists(st.one_of(st.integers(-bound, bound), st.sampled_from([0, bound, -bound, 1, -1])),
                                  max_size=30))
    values = [D(v).scaleb(-scale) for v in unscaled]
    arr = pa.array([*values, None], pa.decimal128(precision, scale)).slice(data.draw(st.integers(0, 1)))
    expected = [ah._plain_decimal(v) for v in values][len(values) - len(arr) + 1:]
    assert ah._decimal_text(arr).to_pylist()[:-1] == expected


def test_decimal_text_past_the_precision_is_written_as_python_writes_it() -> None:
    """A scale beyond the precision, and values a writer let past the precision (2^63: its low 64 bits
    are int64's minimum; 10^18), go around the compiled loop, whose buffers assume they cannot occur."""
    def decimals(precision: int, scale: int, *low_high: int) -> pa.Array:  # from (low, high) 64-bit words
        words = np.array(low_high, np.int64).tobytes()
        return pa.Array.from_buffers(pa.decimal128(precision, scale), len(low_high) // 2, [None, pa.py_buffer(words)])

    assert ah._decimal_text(decimals(5, 7, 123, 0, -100, -1)).to_pylist() == ["0.0000123", "-0.00001"]
    arr = decimals(18, 2, -(2**63), 0, 10**18, 0, -(10**18), -1, 5, 0)
    assert ah._decimal_text(arr).to_pylist() == ["92233720368547758.08", "10000000000000000", "-10000000000000000",
                                                 "0.05"]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(table=tables(min_rows=1, max_rows=8, max_columns=5))
def test_random_tables(spark, tmp_path: Path, table) -> None:
    _same(spark, _parquet(tmp_path, _arrow(table)))
