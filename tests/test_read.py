from __future__ import annotations

import datetime as dt
from pathlib import Path

import lakes
import pyarrow as pa

from r2d2.lake.discover import discover
from r2d2.lake.read import read_table
from r2d2.profile.profiler import profile_tables


def _profiles(spark, root: Path):
    d = discover([str(root)])
    assert not d.errors, d.errors
    out = profile_tables(d.tables, spark_factory=lambda: spark)
    assert all(o.profile for o in out), [o.error for o in out]
    return {Path(o.location).name: o.profile for o in out}


def _rows(df):
    return sorted((tuple(r) for r in df.collect()), key=repr)


def test_read_all_formats(spark, tmp_path: Path) -> None:
    lakes.partitioned(
        tmp_path / "pq",
        {"a": [1, 2, 3], "year": ["2020", "2021", None], "c": ["1.50", "x", "y"]},
        ["year", "c"],
    )
    (tmp_path / "pq" / "stray.txt").write_text("ignored")
    lakes.delta(tmp_path / "dl", {"a": [9], "p": ["gone"]}, partition_by=["p"])
    lakes.delta(tmp_path / "dl", {"a": [1, 2], "p": ["a b", "c"]}, mode="overwrite", partition_by=["p"])
    lakes.delta(tmp_path / "empty", pa.table({"a": pa.array([], pa.int64())}))
    lakes.csv(tmp_path / "cs", 'a,s,t\n1,"",2020-01-01 00:00:00\n2,x,\n')
    lakes.parquet(tmp_path / "ts", {"t": pa.array([dt.datetime(2020, 1, 1)], pa.timestamp("ms", tz="UTC"))})
    p = _profiles(spark, tmp_path)

    df = read_table(spark, p["pq"])
    assert df.columns == ["a", "year", "c"]
    assert dict((f.name, f.dataType.simpleString()) for f in df.schema.fields) == {
        "a": "bigint",
        "year": "int",
        "c": "string",
    }
    assert _rows(df) == sorted([(1, 2020, "1.50"), (2, 2021, "x"), (3, None, "y")], key=repr)

    df = read_table(spark, p["dl"])
    assert df.columns == ["a", "p"] and _rows(df) == [(1, "a b"), (2, "c")]
    assert read_table(spark, p["empty"]).count() == 0

    df = read_table(spark, p["cs"])
    assert df.columns == ["a", "s", "t"]
    rows = sorted(df.collect())
    assert rows[0]["s"] is None and rows[1]["t"] is None and rows[1]["s"] == "x"
    assert read_table(spark, p["ts"]).count() == 1


def test_local_frame_is_a_local_relation_with_its_types(spark) -> None:
    """Mappings broadcast by stage 3 and verification: typed values, and planned as a local relation
    (no RDD of pickled rows, so reading it runs no Spark job and no Python worker)."""
    import pyarrow as pa

    from r2d2.engine.local import local_frame

    df = local_frame(spark, [("file:/a b", 7, 1), ("file:/c", 2**40, 0)],
                     [("__file", pa.string()), ("tid", pa.int64()), ("col", pa.int32())])
    assert [tuple(r) for r in df.orderBy("tid").collect()] == [("file:/a b", 7, 1), ("file:/c", 2**40, 0)]
    assert [(f.name, f.dataType.simpleString()) for f in df.schema.fields] == [
        ("__file", "string"), ("tid", "bigint"), ("col", "int")]
    assert "LocalTableScan" in df._jdf.queryExecution().executedPlan().toString()
    empty = local_frame(spark, [], [("tid", pa.int64())])
    assert empty.count() == 0 and empty.schema.fields[0].dataType.simpleString() == "bigint"


def test_footer_schema_is_what_spark_infers(spark, tmp_path: Path) -> None:
    """The driver-side footer read gives Spark's own inferred schema, type by type (nanosecond and
    zone-less timestamps, decimals, unsigned and small ints, nested, dictionary strings, and a file
    Spark wrote with its schema in the footer); an unreadable file still fails with Spark's error."""
    import pytest
    from pyspark.errors import AnalysisException

    from r2d2.lake.footer_schema import parquet_schema

    table = pa.table({
        "ns": pa.array([1, None], pa.timestamp("ns")),
        "ms_tz": pa.array([1, 2], pa.timestamp("ms", tz="Europe/Paris")),
        "us": pa.array([1, 2], pa.timestamp("us")),
        "d": pa.array([dt.date(2020, 1, 1), None]),
        "dec": pa.array([None, None], pa.decimal128(20, 3)),
        "u32": pa.array([1, 2], pa.uint32()),
        "i8": pa.array([1, 2], pa.int8()),
        "f": pa.array([1.5, None], pa.float32()),
        "s": pa.array(["a", "b"]).dictionary_encode(),
        "b": pa.array([b"x", None]),
        "flag": pa.array([True, None]),
        "l": pa.array([[1], None], pa.list_(pa.int64())),
        "st": pa.array([{"x": 1}, None], pa.struct([("x", pa.int32())])),
        "Mixed Case.name": pa.array([1, 2]),
    })
    files = [lakes.parquet(tmp_path / "arrow", table, name="a.parquet") / "a.parquet"]
    written = tmp_path / "spark"
    spark.createDataFrame([(1, "x", dt.datetime(2020, 1, 1))], "id int, s string, t timestamp").write.parquet(
        str(written))
    files += sorted(written.glob("*.parquet"))
    for path in files:
        assert parquet_schema(spark, str(path)) == spark.read.parquet(str(path)).schema, path
    with pytest.raises(AnalysisException, match=r"missing\.parquet"):
        parquet_schema(spark, str(tmp_path / "missing.parquet"))


def test_a_profile_column_gone_from_the_file_fails_the_read(spark, tmp_path: Path) -> None:
    """A file rewritten behind a stale profile: the read names the missing column instead of
    returning nulls for it (the schema comes from the footer only when every profile column is there)."""
    import pytest
    from pyspark.errors import AnalysisException

    from r2d2.lake.read import read_tagged

    lakes.parquet(tmp_path / "t1", {"x": [1, 2], "y": ["a", "b"]})
    lakes.parquet(tmp_path / "t2", {"x": [3], "y": ["c"]})
    profiles = _profiles(spark, tmp_path)
    for name in ("t1", "t2"):
        lakes.parquet(tmp_path / name, {"x": [1], "renamed": ["z"]})  # same file name, new schema
    with pytest.raises(AnalysisException, match="`y`"):
        read_table(spark, profiles["t1"]).collect()
    with pytest.raises(AnalysisException, match="`y`"):
        read_tagged(spark, [(profiles["t1"], {"tid": 1}), (profiles["t2"], {"tid": 2})]).collect()


def test_a_corrupted_file_of_a_plain_delta_table_fails_its_read_naming_table_and_file(spark, tmp_path: Path) -> None:
    """A plain Delta table's files are read without its log: a data file corrupted after the scan still
    fails the read with the table and the file named, and no log is opened for it."""
    import pytest

    from r2d2.errors import TableReadError
    from r2d2.lake import delta
    from r2d2.lake.arrow_read import ReadColumn, file_reads, read_file

    lakes.delta(tmp_path / "dl", {"a": [1, 2, 3]})
    profile = _profiles(spark, tmp_path)["dl"]
    assert profile.delta_plain
    data = next((tmp_path / "dl").glob("*.parquet"))
    data.write_bytes(b"not parquet".ljust(data.stat().st_size, b"\0"))
    delta._layouts.clear()
    with pytest.raises(TableReadError) as caught:
        [t for item in file_reads(profile) for t in read_file(item, [ReadColumn("a", "int64")])]
    assert str(tmp_path / "dl") in str(caught.value) and data.name in str(caught.value)
    assert delta._layouts == {}
