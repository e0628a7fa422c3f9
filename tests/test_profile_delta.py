from __future__ import annotations

import datetime as dt
from pathlib import Path

import lakes
import pyarrow as pa

from r2d2.lake.discover import discover
from r2d2.profile.delta import profile_delta
from r2d2.types import Family


def _profile(path: Path):
    d = discover([str(path)])
    assert not d.errors, d.errors
    (t,) = d.tables
    return profile_delta(t)


def test_snapshot_stats(tmp_path: Path) -> None:
    ts = dt.datetime(2020, 1, 1, 1, 2, 3, 456789, tzinfo=dt.UTC)

    def table(a, p, s, ts, d):
        return pa.table(
            {
                "a": pa.array(a, pa.int64()),
                "p": pa.array(p, pa.string()),
                "s": pa.array(s, pa.string()),
                "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
                "d": pa.array(d, pa.date32()),
            }
        )

    lakes.delta(tmp_path, table([100], ["x"], ["zzz"], [ts], [None]), partition_by=["p"])
    lakes.delta(
        tmp_path,
        pa.table(
            {
                "a": pa.array([1, None, 3], pa.int64()),
                "p": ["k", "k", None],
                "s": ["short", "y" * 40, None],
                "ts": pa.array([ts, None, None], pa.timestamp("us", tz="UTC")),
                "d": pa.array([dt.date(1970, 1, 2), None, None]),
            }
        ),
        mode="overwrite",
        partition_by=["p"],
    )
    p = _profile(tmp_path)
    assert p.delta_version == 1 and p.num_rows == 3 and p.num_files == 2
    a = p.stats["a"]
    assert (a.min, a.max, a.min_exact, a.max_exact, a.null_count) == (1, 3, True, True, 1)
    part = p.stats["p"]
    assert (part.min, part.max, part.min_exact, part.null_count) == ("k", "k", True, 1)
    s = p.stats["s"]
    assert s.min == "short" and s.min_exact and s.max is None  # 40-char max: maybe truncated, dropped
    t = p.stats["ts"]
    true_ns = int(ts.timestamp()) * 10**9 + 456789 * 1000
    assert t.min <= true_ns <= t.max and not t.min_exact and not t.max_exact
    assert p.stats["d"].min == 1 and p.stats["d"].min_exact
    assert p.column("ts").family is Family.TIMESTAMP


def test_empty_delta_table(tmp_path: Path) -> None:
    lakes.delta(tmp_path, pa.table({"a": pa.array([], pa.int32()), "s": pa.array([], pa.string())}))
    p = _profile(tmp_path)
    assert p.num_rows == 0 and p.files == () and [c.name for c in p.columns] == ["a", "s"]
    assert p.stats["a"].min is None and p.stats["a"].null_count == 0


def test_column_mapping_is_read_by_physical_names(tmp_path: Path) -> None:
    """A column-mapping table (an empty one written by hand: log only) is discovered, its logical
    names kept and its physical ones known (tests/test_delta_spark.py reads real ones)."""
    import json

    from r2d2.lake.delta import snapshot

    log = tmp_path / "cm" / "_delta_log"
    log.mkdir(parents=True)
    field = {
        "name": "a",
        "type": "long",
        "nullable": True,
        "metadata": {"delta.columnMapping.id": 1, "delta.columnMapping.physicalName": "col-1"},
    }
    meta = {
        "id": "x1",
        "format": {"provider": "parquet", "options": {}},
        "partitionColumns": [],
        "schemaString": json.dumps({"type": "struct", "fields": [field]}),
        "createdTime": 1,
        "configuration": {"delta.columnMapping.mode": "name", "delta.columnMapping.maxColumnId": "1"},
    }
    lines = [{"protocol": {"minReaderVersion": 2, "minWriterVersion": 5}}, {"metaData": meta}]
    (log / "00000000000000000000.json").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    d = discover([str(tmp_path)])
    assert d.errors == [] and [t.location for t in d.tables] == [str(tmp_path / "cm")]
    snap = snapshot(str(tmp_path / "cm"))
    assert snap.schema.names == ["a"] and snap.physical == {"a": "col-1"} and snap.adds == ()


def test_corrupt_log_is_one_line_error_with_the_rest_in_the_log(tmp_path: Path) -> None:
    """delta-rs errors can carry a Rust backtrace: the catalog, the run and the JSON output get the first
    line only; the whole text goes to the log file."""
    import json

    from click.testing import CliRunner
    from deltalake import DeltaTable

    from r2d2.catalog import open_catalog
    from r2d2.cli.main import cli

    lake = tmp_path / "lake"
    lakes.delta(lake / "t", pa.table({"a": [1, 2]}))
    (lake / "t" / "_delta_log" / "00000000000000000000.json").write_text('{"add": {"path": broken')
    try:
        DeltaTable(str(lake / "t"))
        raw = ""
    except Exception as exc:
        raw = str(exc).strip()
    home, url = tmp_path / "home", f"sqlite:///{tmp_path / 'c.sqlite'}"
    out = CliRunner().invoke(cli, ["--home", str(home), "--catalog", url, "scan", "--format", "json", str(lake)])
    assert out.exit_code == 1, out.output
    (error,) = json.loads(out.output)["errors"]
    assert error["location"] == str(lake / "t") and "cannot read the Delta log" in error["error"]
    assert "\n" not in error["error"] and raw.splitlines()[0] in error["error"]
    stored = open_catalog(url).get_table(str(lake / "t")).error
    assert stored == error["error"]
    run = open_catalog(url).list_runs("scan")[0]
    assert "\n" not in json.dumps(run.errors).replace("\\n", "\n")
    if "\n" in raw:  # the rest (a backtrace) is in the log, and only there
        logged = (home / "logs" / "r2d2.log").read_text()
        assert raw.splitlines()[1].strip() in logged and str(lake / "t") in logged
