"""Detection on real data: TPC-H (tpchgen-cli, SF 0.01) with derived tables of known truth."""

from __future__ import annotations

from pathlib import Path

from r2d2.catalog import open_catalog
from r2d2.config import load_settings
from r2d2.containment.pipeline import detect
from r2d2.gen.evaluate import as_truth, score
from r2d2.gen.tpch import generate_tpch_lake
from r2d2.scan import scan


def test_tpch_derived_tables_are_found_exactly(spark, tmp_path: Path) -> None:
    lake = generate_tpch_lake(tmp_path / "tpch", scale_factor=0.01)
    settings = load_settings(home=tmp_path / "home", spark_master="local[2]")
    catalog = open_catalog(settings.resolved_catalog_url)
    summary = scan(catalog, [str(lake.root)], spark_factory=lambda: spark)
    assert summary.failed == 0, summary.errors
    result = detect(catalog, settings, lambda: spark)
    s = score(as_truth(result.edges), lake.truth)
    assert (s.false_positives, s.false_negatives, s.wrong_flags) == ([], [], [])
    found = {(e.parent, e.child) for e in result.edges}
    for parent, child in lake.planted:
        assert (parent, child) in found or (child, parent) in found
    # the derived tables are the only redundancy: the base TPC-H tables contain nothing of each other
    assert len(lake.planted) >= 5
