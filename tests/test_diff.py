"""`diff`: exact counts of a child's rows missing from a parent, and those rows shown."""

from __future__ import annotations

from pathlib import Path

import lakes
import pyarrow as pa
import pytest

from r2d2.catalog import open_catalog
from r2d2.config import load_settings
from r2d2.containment.diff import diff
from r2d2.errors import DetectionError
from r2d2.scan import scan


def _no_spark():
    raise AssertionError("diff of small tables must not start Spark")


def test_diff_counts_and_shows_the_missing_rows(tmp_path: Path) -> None:
    ids = list(range(1, 1001))
    lakes.parquet(tmp_path / "lake" / "parent", pa.table({"id": ids, "name": [f"n{i}" for i in ids],
                                                          "extra": [i * 2 for i in ids]}))
    child_ids = [*range(1, 101), 5000, 5001, 5002]
    child = pa.table({"NAME": [f"n{i}" for i in child_ids], "id": pa.array(child_ids, pa.int32())})
    lakes.parquet(tmp_path / "lake" / "child", pa.concat_tables([child, child.slice(100, 1)]))  # 5000 twice
    lakes.parquet(tmp_path / "lake" / "other", {"zzz": [1]})
    settings = load_settings(home=tmp_path / "home")
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [str(tmp_path / "lake")], spark_factory=_no_spark)
    out = diff(catalog, settings, str(tmp_path / "lake" / "parent"), str(tmp_path / "lake" / "child"),
               limit=2, spark_factory=_no_spark)
    assert (out.distinct_rows, out.missing) == (103, 3)
    assert out.fraction == pytest.approx(100 / 103)
    assert len(out.rows) == 2 and all(r["id"] >= 5000 and r["NAME"] == f"n{r['id']}" for r in out.rows)
    everything = diff(catalog, settings, str(tmp_path / "lake" / "parent"), str(tmp_path / "lake" / "child"),
                      limit=20, spark_factory=_no_spark)
    assert sorted(r["id"] for r in everything.rows) == [5000, 5001, 5002]  # each missing row once
    assert everything.to_json()["fraction"] == out.fraction
    with pytest.raises(DetectionError, match="not every column"):
        diff(catalog, settings, str(tmp_path / "lake" / "other"), str(tmp_path / "lake" / "child"),
             spark_factory=_no_spark)
