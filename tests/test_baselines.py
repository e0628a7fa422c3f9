"""The benchmark's exact baselines (bench/baselines.py) find exactly the generator's truth.

``tests/test_detect.py`` checks that R2D2's ``detect`` equals the same truth on the same lake, so
baselines equal to the truth give the benchmark's "identical edges" comparison a tested footing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from r2d2.catalog import open_catalog
from r2d2.config import load_settings
from r2d2.containment.schema_graph import schema_candidates
from r2d2.gen.lake import LakeSpec, generate_lake
from r2d2.gen.truth import Truth
from r2d2.scan import scan

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.baselines import edge_set, hash_join_all, naive_pairwise

# naive pairwise costs Spark jobs per pair: check it on a few case-family tables covering the
# hard cases (copy, int widths, CSV, repeated rows, a near miss)
NAIVE_TABLES = ("base", "copy", "int32", "csv_subset", "dup_rows", "near_extra_row")


@pytest.fixture(scope="module")
def small(spark, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("baselines")
    lake = generate_lake(root / "lake", LakeSpec.small(), seed=11)
    settings = load_settings(home=root / "home", spark_master="local[2]")
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [str(lake.root)], spark_factory=lambda: spark)
    profiles = dict(catalog.active_profiles())
    candidates, _ = schema_candidates(profiles)
    return lake, profiles, candidates, root


def _truth_set(truth: Truth) -> set[tuple[str, str, str, bool]]:
    return {(e.parent, e.child, e.relation, e.multiset) for e in truth.edges}


def test_hash_join_all_equals_truth(spark, small) -> None:
    """On the case family (every hard case: CSV, Delta, hive, int widths, NaN, repeats, near misses);
    the snapshot families only repeat them, at a cost of one Spark branch per table."""
    lake, profiles, candidates, root = small
    family = str(Path(lake.root) / "sales") + "/"
    ids = {tid for tid, p in profiles.items() if p.location.startswith(family)}
    sub = [c for c in candidates if c.pair.parent in ids and c.pair.child in ids]
    result = hash_join_all(spark, {t: profiles[t] for t in ids}, sub, work_dir=root / "work", join_partitions=4)
    assert result.stats["tables_read"] <= len(ids)
    want = {e for e in _truth_set(lake.truth) if e[0].startswith(family) and e[1].startswith(family)}
    assert len(want) > 20
    assert edge_set(result.edges) == want


def test_naive_pairwise_equals_truth(spark, small) -> None:
    lake, profiles, candidates, _ = small
    keep = {str(Path(lake.root) / "sales" / n) for n in NAIVE_TABLES}
    ids = {tid for tid, p in profiles.items() if p.location in keep}
    assert len(ids) == len(NAIVE_TABLES)
    sub = [c for c in candidates if c.pair.parent in ids and c.pair.child in ids]
    result = naive_pairwise(spark, profiles, sub, threads=2)
    want = {e for e in _truth_set(lake.truth) if e[0] in keep and e[1] in keep}
    assert want  # base ⊇ copy (duplicate), int32, csv_subset, ...
    assert edge_set(result.edges) == want
