"""`lookup`: one table against the catalog gives what a full detect reports for it, without registering it."""

from __future__ import annotations

from pathlib import Path

import lakes
import pytest

from r2d2.catalog import open_catalog
from r2d2.config import load_settings
from r2d2.containment.pipeline import detect
from r2d2.gen.lake import LakeSpec, generate_lake
from r2d2.lookup import lookup
from r2d2.scan import scan


def _no_spark():
    raise AssertionError("a lookup of a small table must not start Spark")


@pytest.fixture(scope="module")
def full(spark, tmp_path_factory: pytest.TempPathFactory):
    """The small generated lake, scanned and detected whole."""
    root = tmp_path_factory.mktemp("lookup")
    lake = generate_lake(root / "lake", LakeSpec.small(), seed=21)
    settings = load_settings(home=root / "home", spark_master="local[2]")
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [str(lake.root)], spark_factory=lambda: spark)
    return root, lake, detect(catalog, settings, lambda: spark)


def _expected(result, location: str) -> set[tuple[str, str, bool | None]]:
    out = set()
    for e in result.edges:  # every relation: exact containments, overlaps, containments except keys
        if location not in (e.parent, e.child):
            continue
        other = e.child if e.parent == location else e.parent
        role = "duplicate" if e.relation == "duplicate" else ("child" if e.parent == location else "parent")
        out.add((other, role, e.multiset))
    return out


def test_lookup_equals_full_detect_without_registering(spark, full, tmp_path: Path) -> None:
    _, lake, everything = full
    names = ("sales/base", "sales/csv_full", "sales/delta_subset", "sales/filter", "sales/copy",
             "f0000/near_extra_row", "f0000/team_copy_b")
    picked = [loc for loc in sorted(lake.tables) if loc.endswith(names)]
    assert len(picked) == len(names)
    settings = load_settings(home=tmp_path / "home", spark_master="local[2]")
    catalog = open_catalog(settings.resolved_catalog_url)
    others = [loc for loc in sorted(lake.tables) if loc not in picked]
    scan(catalog, others, spark_factory=lambda: spark)
    detect(catalog, settings, lambda: spark)  # fills the cache the lookups use
    tables_before = catalog.count_tables()
    roles = set()
    for location in picked:
        found = lookup(catalog, settings, location, spark_factory=_no_spark)
        got = {(m.location, m.role, m.multiset) for m in found.matches}
        roles |= {m.role for m in found.matches}
        # what a detect of the whole lake reports for it, among the tables this catalog has
        expected = {e for e in _expected(everything, location) if e[0] not in picked}
        assert got == expected, location
        assert found.table_id is None and not found.registered and not found.errors
    assert catalog.count_tables() == tables_before  # nothing registered
    assert roles == {"duplicate", "parent", "child"}  # the picked tables cover every kind of answer


def test_register_adds_the_table_and_a_known_table_is_looked_up_by_its_id(spark, full, tmp_path: Path) -> None:
    _, lake, everything = full
    target = next(loc for loc in sorted(lake.tables) if loc.endswith("sales/filter"))
    settings = load_settings(home=tmp_path / "home", spark_master="local[2]")
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [loc for loc in sorted(lake.tables) if loc != target], spark_factory=lambda: spark)
    registered = lookup(catalog, settings, target, spark_factory=_no_spark, register=True)
    assert registered.registered and registered.table_id == catalog.get_table(target).id
    again = lookup(catalog, settings, target, spark_factory=_no_spark)
    assert again.table_id == registered.table_id and not again.registered
    assert {(m.location, m.role) for m in again.matches} == {(m.location, m.role) for m in registered.matches}
    assert {(m.location, m.role, m.multiset) for m in again.matches} == _expected(everything, target)


def test_schema_neighbours_are_the_tables_the_schema_stage_pairs_it_with(catalog_url: str, tmp_path: Path) -> None:
    """The SQL answer (possible parents: every column of the table, by key and family; possible children:
    no column outside it) equals a brute force over the active profiles, on SQLite and PostgreSQL; a
    table gone from the lake is in neither."""
    import itertools
    import shutil

    import lakes
    import pyarrow as pa

    cols = {"id": pa.array([1, 2], pa.int64()), "Name": pa.array(["a", "b"]), "v": pa.array([1.5, 2.5]),
            "d": pa.array([1, 2], pa.int32()).cast(pa.date32())}
    schemas = [("id",), ("id", "Name"), ("Name", "id"), ("id", "Name", "v"), ("v",), ("Name", "v", "d"), ("d",)]
    for k, names in enumerate(schemas):
        lakes.parquet(tmp_path / "lake" / f"t{k}", pa.table({n: cols[n] for n in names}))
    lakes.parquet(tmp_path / "lake" / "v_as_string", pa.table({"v": ["x"], "id": [1]}))  # another family
    lakes.parquet(tmp_path / "lake" / "gone", pa.table({"id": [1]}))
    catalog = open_catalog(catalog_url)
    scan(catalog, [str(tmp_path / "lake")], spark_factory=_no_spark)
    shutil.rmtree(tmp_path / "lake" / "gone")
    scan(catalog, [str(tmp_path / "lake")], spark_factory=_no_spark)
    profiles = dict(catalog.active_profiles())
    assert len(profiles) == len(schemas) + 1

    def terms(tid: int) -> set[tuple[str, str]]:
        return {(c.key, c.family.value) for c in profiles[tid].supported_columns}

    for tid in profiles:
        parents, children = catalog.schema_neighbours(terms(tid))
        assert parents == {p for p in profiles if terms(tid) <= terms(p)}, profiles[tid].location
        assert children == {c for c in profiles if terms(c) <= terms(tid)}, profiles[tid].location
    gone = catalog.get_table(str(tmp_path / "lake" / "gone")).id
    assert gone not in set(itertools.chain(*catalog.schema_neighbours({("id", "integer")})))
    assert catalog.schema_neighbours(set()) == (set(), set())


def test_lookup_of_a_missing_path_is_an_error(tmp_path: Path) -> None:
    from r2d2.errors import R2D2Error

    settings = load_settings(home=tmp_path / "home")
    catalog = open_catalog(settings.resolved_catalog_url)
    with pytest.raises(R2D2Error, match="no such file"):
        lookup(catalog, settings, str(tmp_path / "nothing"), spark_factory=_no_spark)


def test_damaged_hash_sets_fail_their_own_tables_only_and_are_rebuilt_next_time(spark, tmp_path: Path) -> None:
    """``big`` and ``low`` are hashed by one detect (one dataset), ``high`` by a later one (another); the
    first dataset is then damaged on disk (its sizes kept: stage 3 takes it as whole). A lookup of a copy
    of ``big`` (the parent of all three, and a child of ``big``) names ``big`` and ``low`` once each,
    claims nothing about them (not even a containment except keys) and still finds ``high``; the next
    lookup hashes them again."""
    import pyarrow as pa

    from r2d2.containment.sketch_cache import ROWSAMPLE

    data = pa.table({"id": pa.array(range(1000), pa.int64()), "name": [f"n{i}" for i in range(1000)]})
    for name, rows in (("big", data), ("copy", data), ("low", data.slice(0, 300)), ("high", data.slice(500, 200))):
        lakes.parquet(tmp_path / "lake" / name, rows)
    settings = load_settings(home=tmp_path / "home", spark_master="local[2]")
    catalog = open_catalog(settings.resolved_catalog_url)
    loc = {n: str(tmp_path / "lake" / n) for n in ("big", "copy", "low", "high")}
    for names in (("big", "low"), ("high",)):
        scan(catalog, [loc[n] for n in names], spark_factory=_no_spark)
        detect(catalog, settings, _no_spark)

    def dataset(name: str) -> Path:
        table = catalog.get_table(loc[name])
        return Path(catalog.get_sketches(table.id, table.fingerprint, ROWSAMPLE)[""][1]["rowset_path"])

    assert dataset("big") == dataset("low") != dataset("high")
    for f in dataset("big").rglob("*.parquet"):
        f.write_bytes(b"\0" * f.stat().st_size)  # the same size: the manifest does not tell it (a bad disk)
    broken = lookup(catalog, settings, loc["copy"], spark_factory=lambda: spark)
    assert sorted(e["location"] for e in broken.errors) == [loc["big"], loc["low"]]
    assert {(m.location, m.role, m.except_columns) for m in broken.matches} == {(loc["high"], "child", ())}
    again = lookup(catalog, settings, loc["copy"], spark_factory=_no_spark)
    assert again.errors == []
    assert {(m.location, m.role, m.except_columns) for m in again.matches} == {
        (loc["big"], "duplicate", ()), (loc["low"], "child", ()), (loc["high"], "child", ())}
