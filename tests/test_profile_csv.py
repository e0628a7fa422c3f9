from __future__ import annotations

from pathlib import Path

import lakes

from r2d2.engine.items import map_local
from r2d2.errors import TableReadError
from r2d2.lake.discover import discover
from r2d2.profile.csv import file_stats, profile_csv_tables
from r2d2.profile.profiler import profile_tables
from r2d2.types import Family, TableProfile


def test_csv_batch_with_failures(spark, tmp_path: Path) -> None:
    lakes.csv(
        tmp_path / "good",
        'i,f,s,b,d,ts\n3,1.5,"x",true,2020-01-02,2020-01-01 00:00:01\n'
        '1,NaN,"",false,,\n,2.5,zz,,1970-01-01,2020-01-01 00:00:00\n',
    )
    lakes.csv(tmp_path / "good", "i,f,s,b,d,ts\n7,0.5,a,true,2020-01-01,\n", name="part-1.csv")
    lakes.csv(tmp_path / "ragged", "a,b\n1,2\n3\n")
    lakes.csv(tmp_path / "badlate", "a\n1\n", name="part-0.csv")  # the schema comes from this file
    lakes.csv(tmp_path / "badlate", "a\n2\nnotanumber\n", name="part-1.csv")
    lakes.csv(tmp_path / "noheader", "1,2\n3,4\n")
    lakes.csv(tmp_path / "empty", "")
    d = discover([str(tmp_path)])
    tables = sorted(d.tables, key=lambda t: t.location)
    results = profile_csv_tables(tables, lambda works: map_local(works, file_stats, threads=2))
    res = {Path(t.location).name: r for t, r in zip(tables, results, strict=True)}
    good = res["good"]
    assert isinstance(good, TableProfile), good
    assert good.num_rows == 4 and good.data_read and good.bytes_read == good.num_bytes
    fams = {c.name: c.family for c in good.columns}
    assert fams == {
        "i": Family.INTEGER,
        "f": Family.FLOAT,
        "s": Family.STRING,
        "b": Family.BOOLEAN,
        "d": Family.DATE,
        "ts": Family.TIMESTAMP,
    }
    st = good.stats
    assert (st["i"].min, st["i"].max, st["i"].null_count) == (1, 7, 1)
    assert (st["f"].min, st["f"].max, st["f"].null_count) == (0.5, 2.5, 0)
    assert (st["s"].min, st["s"].max, st["s"].null_count) == ("a", "zz", 1)  # quoted "" is null
    assert st["d"].min == 0 and st["d"].null_count == 1
    assert st["ts"].min == 1577836800 * 10**9 and st["ts"].max == 1577836801 * 10**9 and st["ts"].min_exact
    for name in ("ragged", "badlate", "noheader", "empty"):
        assert isinstance(res[name], TableReadError), name
        assert str(tmp_path / name) in str(res[name]) and "\n" not in str(res[name])
    assert "header" in str(res["noheader"])


def test_profile_tables_mixed(spark, tmp_path: Path) -> None:
    lakes.parquet(tmp_path / "pq", {"a": [1, 2]})
    lakes.csv(tmp_path / "c", "a\n1\n")
    lakes.parquet(tmp_path / "broken", {"a": [1]})
    (tmp_path / "broken" / "part-0.parquet").write_bytes(b"")
    tables = discover([str(tmp_path)]).tables
    out = {Path(o.location).name: o for o in profile_tables(tables, spark_factory=lambda: spark)}
    assert out["pq"].profile.num_rows == 2 and out["c"].profile.num_rows == 1
    assert out["broken"].profile is None and "part-0.parquet" in out["broken"].error


def test_no_spark_without_csv(tmp_path: Path) -> None:
    lakes.parquet(tmp_path / "pq", {"a": [1, 2]})

    def factory():
        raise AssertionError("Spark must not start")

    (o,) = profile_tables(discover([str(tmp_path)]).tables, spark_factory=factory)
    assert o.profile is not None and o.error is None


def test_header_only_csv_is_a_zero_row_table(tmp_path: Path) -> None:
    """A CSV file with a header and no rows is a table with columns and zero rows, not an internal error
    (it once failed with "int() argument must be ... not 'NoneType'"); a scan records it as active."""
    from r2d2.catalog import open_catalog
    from r2d2.scan import scan

    lakes.csv(tmp_path / "lake" / "headers", "id,name,amount\n")
    lakes.csv(tmp_path / "lake" / "twofiles", "id,name\n", name="part-0.csv")
    lakes.csv(tmp_path / "lake" / "twofiles", "id,name\n", name="part-1.csv")
    d = discover([str(tmp_path / "lake")])
    tables = sorted(d.tables, key=lambda t: t.location)
    results = profile_csv_tables(tables, lambda works: map_local(works, file_stats, threads=2))
    for result in results:
        assert isinstance(result, TableProfile), result
        assert result.num_rows == 0 and result.columns
    assert [c.name for c in results[0].columns] == ["id", "name", "amount"]

    def no_spark():
        raise AssertionError("a small CSV is profiled on the driver")

    catalog = open_catalog(f"sqlite:///{tmp_path / 'c.sqlite'}")
    summary = scan(catalog, [str(tmp_path / "lake")], spark_factory=no_spark)
    assert summary.failed == 0, summary.errors
    assert {t.num_rows for t in catalog.list_tables(status="active")} == {0}


def test_csv_rounds_stream_and_stop_when_the_caller_stops(tmp_path: Path, monkeypatch) -> None:
    """CSV tables are profiled in a background thread, round by round: each round's outcomes reach the
    caller while the Parquet footers are still being read, every table gets one outcome, and a caller
    that stops early (an interrupted scan) stops the rounds not yet started."""
    import threading
    import time

    from r2d2.profile import csv as csv_profile
    from r2d2.profile.profiler import iter_profile_tables

    for i in range(12):
        lakes.csv(tmp_path / "lake" / f"c{i:02d}", f"x,y\n{i},a\n")
    for i in range(3):
        lakes.parquet(tmp_path / "lake" / f"p{i}", {"x": [i]})
    tables = discover([str(tmp_path / "lake")]).tables
    calls: list[int] = []
    real = csv_profile.profile_csv_tables

    def slow(chunk, run):
        calls.append(len(chunk))
        time.sleep(0.05)
        return real(chunk, run)

    monkeypatch.setattr(csv_profile, "profile_csv_tables", slow)

    def no_spark():
        raise AssertionError("local CSV profiling must not start Spark")

    every = list(iter_profile_tables(tables, spark_factory=no_spark, csv_batch=1))
    assert sorted(o.location for o in every) == sorted(t.location for t in tables)
    assert all(o.profile is not None for o in every) and calls == [1] * 12

    calls.clear()
    outcomes = iter_profile_tables([t for t in tables if t.format == "csv"], spark_factory=no_spark, csv_batch=1)
    first = next(outcomes)
    assert first.profile is not None
    outcomes.close()
    for thread in threading.enumerate():
        if thread.name == "r2d2-csv":
            thread.join(timeout=10)
    assert len(calls) < 12  # the rounds after the one in progress never started


def test_a_round_whose_job_fails_whole_fails_only_the_table_that_fails_alone(tmp_path: Path) -> None:
    """The engine loses a whole round's job over one table (its worker crashed on that file, as a Spark
    job does after its task fails): the round is bisected, that table is an error naming it, and every
    other table of the round is profiled."""
    import queue
    import threading

    from r2d2.profile.profiler import _csv_rounds

    for i in range(5):
        lakes.csv(tmp_path / f"t{i}", f"a\n{i}\n")
    tables = sorted(discover([str(tmp_path)]).tables, key=lambda t: t.location)
    poisoned = str(tmp_path / "t3")

    def run(works):
        if any(w.table.location == poisoned for w in works):
            raise RuntimeError("Python worker exited unexpectedly (crashed)")
        return map_local(works, file_stats, threads=1)

    rounds: queue.Queue = queue.Queue()
    _csv_rounds(tables, run, 5, threading.Event(), rounds)
    outcomes = {Path(o.location).name: o for o in rounds.get()}
    assert rounds.get() is None
    assert {n for n, o in outcomes.items() if o.profile is not None} == {"t0", "t1", "t2", "t4"}
    assert outcomes["t3"].error.startswith(poisoned) and "crashed" in outcomes["t3"].error
