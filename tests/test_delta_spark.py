"""Delta through delta-spark (the jars `make jars` fetched, on the test session): deletion vectors and
column mapping read, not refused; stage 3's pyarrow reader, the Delta data source and the delta-rs
fallback read the same rows; a child of a table with deletion vectors is found exactly and rebuilt from
its pinned version (time travel) after the parent moved on."""

from __future__ import annotations

import lakes
import pyarrow as pa
import pytest

from r2d2.catalog import open_catalog
from r2d2.config import load_settings
from r2d2.containment.pipeline import detect
from r2d2.engine import delta_source_available
from r2d2.lake.arrow_read import ReadColumn, file_reads, read_file
from r2d2.lake.read import _read_delta_files, read_table
from r2d2.reconstruct import recipe as rcp
from r2d2.reconstruct.rebuild import rebuild_and_verify
from r2d2.scan import scan


def _rows(df) -> list[tuple]:
    return sorted(tuple(r) for r in df.collect())


def _arrow_rows(profile) -> list[tuple]:
    cols = [ReadColumn(c.name, c.physical_type) for c in profile.columns]
    tables = [t for item in file_reads(profile) for t in read_file(item, cols)]
    return sorted(tuple(r.values()) for t in tables for r in t.to_pylist())


@pytest.fixture(scope="module")
def delta_lake(spark, tmp_path_factory: pytest.TempPathFactory):
    assert delta_source_available(spark), "the delta-spark jars (make jars) are not on the session"
    root = tmp_path_factory.mktemp("dv")
    lake = root / "lake"
    dv = str(lake / "dv_parent")
    (spark.range(0, 400).selectExpr("id", "id % 7 AS g", "concat('n', CAST(id AS STRING)) AS name")
     .coalesce(2).write.format("delta").option("delta.enableDeletionVectors", "true").save(dv))
    spark.sql(f"DELETE FROM delta.`{dv}` WHERE g = 3")
    cm = str(lake / "cm_table")
    (spark.range(0, 120).selectExpr("id", "id % 4 AS part", "concat('n', CAST(id AS STRING)) AS name")
     .write.format("delta").partitionBy("part").option("delta.columnMapping.mode", "name")
     .option("delta.minReaderVersion", "2").option("delta.minWriterVersion", "5").save(cm))
    spark.sql(f"ALTER TABLE delta.`{cm}` RENAME COLUMN name TO label")
    spark.range(0, 50).selectExpr("id", "id * 3 AS triple").write.format("delta").save(str(lake / "plain"))
    live = [i for i in range(400) if i % 7 != 3]
    child = pa.table({"id": [i for i in live if i % 7 in (1, 2)], "name": [f"n{i}" for i in live if i % 7 in (1, 2)]})
    lakes.parquet(lake / "child", child)
    ghost = pa.table({"id": [3, 10, 1], "name": ["n3", "n10", "n1"]})  # 3 and 10: deleted rows of the parent
    lakes.parquet(lake / "ghost", ghost)
    settings = load_settings(home=root / "home", spark_master="local[2]")
    catalog = open_catalog(settings.resolved_catalog_url)
    summary = scan(catalog, [str(lake)], spark_factory=lambda: spark)
    assert summary.failed == 0, summary.errors
    return root, lake, settings, catalog


def test_deletion_vectors_and_column_mapping_are_read(delta_lake, spark) -> None:
    _, lake, _, catalog = delta_lake
    dv = catalog.get_table(str(lake / "dv_parent")).profile
    assert dv.num_rows == 400 - len([i for i in range(400) if i % 7 == 3])
    assert _arrow_rows(dv) == _rows(read_table(spark, dv)) == _rows(_read_delta_files(spark, dv))
    cm = catalog.get_table(str(lake / "cm_table")).profile
    assert [c.name for c in cm.columns] == ["id", "part", "label"] and cm.num_rows == 120
    assert _arrow_rows(cm) == _rows(read_table(spark, cm)) == _rows(_read_delta_files(spark, cm))
    assert (7, 3, "n7") in _arrow_rows(cm)
    assert not dv.delta_plain and not cm.delta_plain  # their readers need the log's layout


def test_a_plain_delta_table_is_read_without_opening_its_log_again(delta_lake, spark) -> None:
    from r2d2.lake import delta

    _, lake, _, catalog = delta_lake
    plain = catalog.get_table(str(lake / "plain")).profile
    assert plain.delta_plain and plain.num_rows == 50
    delta._layouts.clear()
    assert _arrow_rows(plain) == _rows(read_table(spark, plain)) == [(i, 3 * i) for i in range(50)]
    assert delta._layouts == {}  # no snapshot was opened to read it


def test_child_of_a_table_with_deletion_vectors_is_found_exactly(delta_lake, spark) -> None:
    _, lake, settings, catalog = delta_lake
    result = detect(catalog, settings, lambda: spark)
    edges = {(e.parent, e.child) for e in result.edges}
    assert (str(lake / "dv_parent"), str(lake / "child")) in edges
    assert (str(lake / "dv_parent"), str(lake / "ghost")) not in edges  # its rows 3 and 10 were deleted


def test_rebuilt_from_the_pinned_version_after_the_parent_changed(delta_lake, spark) -> None:
    root, lake, _, catalog = delta_lake
    parent = catalog.get_table(str(lake / "dv_parent")).profile
    child = catalog.get_table(str(lake / "child")).profile
    pin = rcp.pin_parent(parent)
    recipe = rcp.build_recipe(spark, child, pin, work=str(root / "work"), store=str(root / "store"))
    assert recipe["parent"]["delta_version"] == parent.delta_version == 1
    spark.sql(f"DELETE FROM delta.`{lake / 'dv_parent'}` WHERE g = 1")  # version 2: child rows gone
    rebuild_and_verify(spark, recipe, str(root / "rebuilt"))  # raises unless the checksum matches
    assert rcp.pinned_parent_problem(pin) is None
