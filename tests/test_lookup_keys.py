"""The catalog query a lookup's except-keys test starts from: the tables that could be its children once
their generated keys are left out (``keyed_children``) equal a brute force over the active profiles,
on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import lakes

from r2d2.catalog import open_catalog
from r2d2.scan import scan


def _no_spark() -> None:
    raise AssertionError("Parquet scans need no Spark")


def test_keyed_children_equal_a_brute_force(catalog_url: str, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lakes.beyond(lake)
    lakes.parquet(lake / "load_id", {"load_id": [7, 8], "city": ["c1", "c2"]})  # an integer column outside
    lakes.parquet(lake / "note", {"note": ["x", "y"], "city": ["c1", "c2"]})  # a string column outside
    lakes.parquet(lake / "elsewhere", {"other": [1, 2]})  # shares no column
    catalog = open_catalog(catalog_url)
    scan(catalog, [str(lake)], spark_factory=_no_spark)
    profiles = {t.id: t.profile for t in catalog.list_tables(status="active") if t.profile is not None}
    assert len(profiles) == 8
    for profile in profiles.values():
        terms = {(c.key, c.family.value) for c in profile.supported_columns}
        brute = {tid for tid, other in profiles.items()
                 if any((c.key, c.family.value) in terms for c in other.columns)
                 and all((c.key, c.family.value) in terms or c.family.value == "integer" for c in other.columns)}
        assert catalog.keyed_children(terms) == brute, profile.location
    city = {("city", "string")}
    by_location = {p.location: tid for tid, p in profiles.items()}
    assert catalog.keyed_children(city) == {by_location[str(lake / n)] for n in ("child", "renum", "load_id")}
    assert catalog.keyed_children(set()) == set()
