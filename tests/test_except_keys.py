"""Containment except generated key columns: a renumbered row number or surrogate key is left out."""

from __future__ import annotations

from pathlib import Path

import lakes
import pyarrow as pa
import pyarrow.parquet as pq

from r2d2.catalog import EdgeFilter, open_catalog
from r2d2.config import load_settings
from r2d2.containment.keys import generated_keys
from r2d2.containment.pipeline import detect
from r2d2.lake.discover import discover
from r2d2.profile.profiler import profile_tables
from r2d2.scan import scan


def _no_spark():
    raise AssertionError("small tables: no Spark")


def _lake(root: Path) -> None:
    n = 500
    names = [f"n{i % 37}" for i in range(n)]
    values = [i * 3 % 101 for i in range(n)]
    lakes.parquet(root / "parent", pa.table({"rownames": list(range(1, n + 1)), "name": names, "v": values}))
    picked = [i for i in range(n) if i % 5 == 0]
    # the filter renumbers its row numbers 1..m: contained except `rownames`
    lakes.parquet(root / "renumbered", pa.table({"rownames": list(range(1, len(picked) + 1)),
                                                 "name": [names[i] for i in picked], "v": [values[i] for i in picked]}))
    # a child with a generated index the parent lacks: contained except `idx`
    lakes.parquet(root / "indexed", pa.table({"idx": list(range(len(picked))), "name": [names[i] for i in picked]}))
    # a row not in the parent: no containment except the key either
    lakes.parquet(root / "other", pa.table({"rownames": [1, 2], "name": ["n1", "zz"], "v": [3, 3]}))
    # the parent's first 100 rows with one value changed: an overlap of 99%
    lakes.parquet(root / "near", pa.table({"rownames": list(range(1, 101)), "name": names[:100],
                                           "v": [*values[:99], (values[99] + 1) % 101]}))
    # the same with a value beyond the parent's max: min-max rules the pair out before any overlap
    # is measured (it is sound for containment, not for overlap: documented)
    lakes.parquet(root / "far", pa.table({"rownames": list(range(1, 101)), "name": names[:100],
                                          "v": [*values[:99], 1000]}))


def test_generated_keys_from_metadata(tmp_path: Path) -> None:
    _lake(tmp_path)
    outcomes = profile_tables(discover([str(tmp_path)]).tables, spark_factory=_no_spark)
    keys = {Path(o.location).name: generated_keys(o.profile) for o in outcomes if o.profile}
    assert keys == {"parent": ("rownames",), "renumbered": ("rownames",), "indexed": ("idx",),
                    "other": ("rownames",), "near": ("rownames",), "far": ("rownames",)}


def test_containment_except_the_key_is_reported_and_only_then(tmp_path: Path) -> None:
    _lake(tmp_path / "lake")
    settings = load_settings(home=tmp_path / "home")
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [str(tmp_path / "lake")], spark_factory=_no_spark)
    result = detect(catalog, settings, _no_spark)
    # the views' rows are hashed by stage 3's one read of each table: the pass itself reads nothing
    assert result.stage("except").bytes_read == 0 and result.stage("minhash").tables_read <= 6  # once each
    parent = str(tmp_path / "lake" / "parent")
    excepts = {(Path(e.parent).name, Path(e.child).name): e for e in result.edges if e.except_columns}
    # (`indexed` holds names only, all of which `near` has too)
    assert set(excepts) == {("parent", "renumbered"), ("parent", "indexed"), ("renumbered", "indexed"),
                            ("near", "indexed"), ("far", "indexed")}
    assert excepts[("parent", "renumbered")].except_columns == ("rownames",)
    assert excepts[("parent", "indexed")].except_columns == ("idx",)
    assert all(e.relation == "contains" and e.to_json()["except_columns"] for e in excepts.values())
    # no exact containment among them: the keys differ
    assert not [e for e in result.edges if e.parent == parent and not e.except_columns and e.relation != "overlaps"]
    stored = {(Path(e.parent_location).name, Path(e.child_location).name): e for e in
              catalog.list_edges(EdgeFilter(state="verified")) if e.except_columns}
    assert set(stored) == set(excepts) and not any(e.deletable for e in stored.values())
    assert {k: e.except_columns for k, e in stored.items()} == {k: e.except_columns for k, e in excepts.items()}
    again = detect(catalog, settings, _no_spark)  # nothing changed: nothing is read again
    assert {(e.parent, e.child, e.except_columns) for e in again.edges if e.except_columns} == {
        (e.parent, e.child, e.except_columns) for e in excepts.values()}
    assert again.stage("except").bytes_read == 0 and again.stage("minhash").bytes_read == 0
    overlaps = {(Path(e.parent).name, Path(e.child).name): e.fraction for e in result.edges
                if e.relation == "overlaps"}
    # parent ⊇ far and near ⊇ far are not measured: far's 1000 is beyond their max (min-max)
    assert overlaps == {("parent", "near"): 0.99, ("far", "near"): 0.99}


def test_the_optimizer_never_deletes_on_overlaps_or_key_exceptions(tmp_path: Path) -> None:
    import shutil

    from r2d2.optimize.stored import build_problem

    _lake(tmp_path / "lake")
    shutil.copytree(tmp_path / "lake" / "renumbered", tmp_path / "lake" / "renumbered_copy")  # a true duplicate
    settings = load_settings(home=tmp_path / "home")
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [str(tmp_path / "lake")], spark_factory=_no_spark)
    result = detect(catalog, settings, _no_spark)
    assert any(e.except_columns for e in result.edges) and any(e.relation == "overlaps" for e in result.edges)
    built = build_problem(catalog)
    names = {t.id: Path(t.location).name for t in built.problem.tables}
    # only the duplicate's two directions: no overlap and no containment except a key
    assert {(names[e.parent], names[e.child]) for e in built.problem.edges} == {
        ("renumbered", "renumbered_copy"), ("renumbered_copy", "renumbered")}


def test_a_table_that_cannot_be_read_is_reported_once_and_the_pass_goes_on(tmp_path: Path) -> None:
    """Stage 3 reads the views' tables too: one whose file broke after the scan is an error naming it
    (once), takes part in no edge, and the other key exceptions are still found."""
    _lake(tmp_path / "lake")
    settings = load_settings(home=tmp_path / "home")
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [str(tmp_path / "lake")], spark_factory=_no_spark)
    broken = tmp_path / "lake" / "renumbered"
    for f in broken.glob("*.parquet"):
        f.write_bytes(b"PAR1 not parquet any more")
    result = detect(catalog, settings, _no_spark)
    assert [e["location"] for e in result.errors] == [str(broken)]
    excepts = {(Path(e.parent).name, Path(e.child).name) for e in result.edges if e.except_columns}
    assert excepts == {("parent", "indexed"), ("near", "indexed"), ("far", "indexed")}


def _excepts(result) -> set[tuple[str, str, tuple[str, ...]]]:
    return {(Path(e.parent).name, Path(e.child).name, e.except_columns) for e in result.edges if e.except_columns}


def _pairs_of(catalog, name: str) -> tuple[int, int]:
    """(view pairs of the except pass, those with the table ``name`` at one end or the other)."""
    from r2d2.containment.except_pass import plan_views

    profiles = dict(catalog.active_profiles())
    plan = plan_views(profiles)
    tid = next(t for t, p in profiles.items() if Path(p.location).name == name)
    return len(plan.kept), sum(1 for p in plan.kept if tid in (p.parent, plan.views[p.child][0]))


def _rewrite(path: Path, table: pa.Table) -> None:
    for old in path.glob("*.parquet"):
        old.unlink()
    lakes.parquet(path, table)


def test_verdicts_are_reused_until_one_of_the_two_tables_changes(tmp_path: Path) -> None:
    """A second detect verifies no (parent, view) pair again; after a table changes (as a parent, then
    as a child), exactly the pairs with that table at one end are checked again, and the answer is what
    a fresh catalog finds."""
    lake = tmp_path / "lake"
    _lake(lake)
    settings = load_settings(home=tmp_path / "home")
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [str(lake)], spark_factory=_no_spark)
    first = detect(catalog, settings, _no_spark)
    checked = first.stage("except").reexamined
    assert (checked, 0) == (_pairs_of(catalog, "parent")[0], first.stage("except").reused) and checked > 0
    again = detect(catalog, settings, _no_spark)
    assert (again.stage("except").reused, again.stage("except").reexamined) == (checked, 0)
    assert _excepts(again) == _excepts(first)
    assert ("parent", "renumbered", ("rownames",)) in _excepts(first)

    def fresh(home: str) -> set[tuple[str, str, tuple[str, ...]]]:
        fresh_settings = load_settings(home=tmp_path / home)
        fresh_catalog = open_catalog(fresh_settings.resolved_catalog_url)
        scan(fresh_catalog, [str(lake)], spark_factory=_no_spark)
        return _excepts(detect(fresh_catalog, fresh_settings, _no_spark))

    # the parent loses a row `renumbered` holds (its min-max statistics stay the same): as a parent too,
    # its stored verdicts are stale
    table = pq.read_table(lake / "parent")
    _rewrite(lake / "parent", pa.concat_tables([table.slice(0, 250), table.slice(251)]))
    scan(catalog, [str(lake)], spark_factory=_no_spark)
    total, touching = _pairs_of(catalog, "parent")
    changed = detect(catalog, settings, _no_spark)
    assert (changed.stage("except").reexamined, changed.stage("except").reused) == (touching, total - touching)
    assert 0 < touching < total
    assert ("parent", "renumbered", ("rownames",)) not in _excepts(changed)
    assert _excepts(changed) == fresh("fresh1")

    # `indexed` gains a name nobody has: no longer contained except its key, anywhere
    table = pq.read_table(lake / "indexed")
    extra = pa.table({"idx": [table.num_rows], "name": ["zz"]}).cast(table.schema)
    _rewrite(lake / "indexed", pa.concat_tables([table, extra]))
    scan(catalog, [str(lake)], spark_factory=_no_spark)
    total, touching = _pairs_of(catalog, "indexed")
    changed = detect(catalog, settings, _no_spark)
    assert (changed.stage("except").reexamined, changed.stage("except").reused) == (touching, total - touching)
    assert not [e for e in _excepts(changed) if e[1] == "indexed"]
    assert _excepts(changed) == fresh("fresh2")


def test_a_damaged_stored_verdict_is_checked_again(tmp_path: Path) -> None:
    """A stored verdict that does not read as one (here, ``contained`` not a boolean) is no verdict:
    the detect checks the pair again instead of failing or trusting it."""
    from r2d2.containment.except_cache import EXCEPT

    _lake(tmp_path / "lake")
    settings = load_settings(home=tmp_path / "home")
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [str(tmp_path / "lake")], spark_factory=_no_spark)
    first = detect(catalog, settings, _no_spark)
    checked = first.stage("except").reexamined
    profiles = dict(catalog.active_profiles())
    stored = catalog.get_sketches_many({t: p.fingerprint for t, p in profiles.items()}, (EXCEPT,))
    assert sum(len(rows) for rows in stored.values()) == checked
    catalog.put_sketches_many([(t, profiles[t].fingerprint, kind, {k: (payload, {**meta, "contained": "yes"})
                                                                    for k, (payload, meta) in rows.items()})
                               for (t, kind), rows in stored.items()])
    again = detect(catalog, settings, _no_spark)
    assert (again.stage("except").reexamined, again.stage("except").reused) == (checked, 0)
    assert _excepts(again) == _excepts(first)


def test_a_hash_set_unreadable_at_verification_is_reported_and_rebuilt_next_run(spark, tmp_path: Path) -> None:
    """The cached hash sets of the parents of ``indexed``'s view break after stage 3 of a detect (here,
    between stage 3 and verification): the pairs that could not be verified are errors naming each
    parent, never edges, and the other verdicts stand. The next detect hashes those parents again and
    finds what a detect of the same lake always found."""
    from r2d2.containment.sketch_cache import PROJECTION

    lake = tmp_path / "lake"
    _lake(lake)
    settings = load_settings(home=tmp_path / "home")
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [str(lake)], spark_factory=_no_spark)
    first = _excepts(detect(catalog, settings, lambda: spark))
    parents = {p for p, c, _ in first if c == "indexed"}
    assert parents == {"parent", "renumbered", "near", "far"}
    # `indexed` loses a row: its pairs are checked again, on the parents' cached sets (one name each)
    table = pq.read_table(lake / "indexed")
    _rewrite(lake / "indexed", table.slice(1))
    scan(catalog, [str(lake)], spark_factory=_no_spark)
    profiles = dict(catalog.active_profiles())
    ids = {Path(p.location).name: tid for tid, p in profiles.items()}
    cached = catalog.get_sketches_many({ids[n]: profiles[ids[n]].fingerprint for n in parents}, (PROJECTION,))
    paths = {meta["rowset_path"] for (_, _), items in cached.items() for _, meta in items.values()}
    assert paths

    def break_sets(message: str) -> None:
        if message.startswith("minhash:") and "pairs left" in message:
            for path in paths:
                for f in Path(path).rglob("*.parquet"):
                    f.write_bytes(b"\0" * f.stat().st_size)  # sizes kept: only reading tells

    broken = detect(catalog, settings, lambda: spark, progress=break_sets)
    failed = {Path(e["location"]).name: e["error"] for e in broken.errors}
    assert set(failed) == parents
    assert all("indexed" in error and "idx" in error for error in failed.values())
    assert _excepts(broken) == {e for e in first if e[1] != "indexed"}  # nothing claimed, the rest stands
    rebuilt = detect(catalog, settings, lambda: spark)
    assert rebuilt.errors == []
    assert _excepts(rebuilt) == first


def test_a_pair_settled_by_min_max_is_stored_again_when_the_except_pass_decides_it(tmp_path: Path) -> None:
    """A pair min-max ruled out stays settled while its tables are unchanged: later runs neither prune
    nor store it again. Unless such a run decides it otherwise: with the except pass turned on, the
    containment except keys that min-max could not see is found and stored in its place."""
    lake = tmp_path / "lake"
    _lake(lake)
    # rows of the parent numbered past the parent's own numbers: min-max rules the pair out (a max above
    # the parent's), but the parent holds them except `rownames`
    rows = pq.read_table(lake / "parent").slice(0, 50)
    lakes.parquet(lake / "shifted", rows.set_column(0, "rownames", pa.array(range(1001, 1051), pa.int64())))
    settings = load_settings(home=tmp_path / "home", except_keys=False)
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [str(lake)], spark_factory=_no_spark)
    first = detect(catalog, settings, _no_spark)

    def pair(parent: str, child: str):
        return next(e for e in catalog.list_edges() if (Path(e.parent_location).name, Path(e.child_location).name)
                    == (parent, child))

    assert (pair("parent", "shifted").state, pair("parent", "shifted").stage) == ("pruned", "minmax")
    assert not _excepts(first)
    runs = {e.id: e.run_id for e in catalog.list_edges()}
    again = detect(catalog, settings, _no_spark)
    assert again.stage("minmax").reused == again.stage("minmax").candidates_in - again.stage("minmax").candidates_out
    assert again.stage("minmax").reused > 0
    assert {e.id: e.run_id for e in catalog.list_edges()} == runs  # nothing stored again

    on = settings.model_copy(update={"except_keys": True})
    found = detect(catalog, on, _no_spark)
    assert found.stage("minmax").reused > 0
    assert ("parent", "shifted", ("rownames",)) in _excepts(found)
    stored = pair("parent", "shifted")
    assert (stored.state, stored.stage, stored.except_columns) == ("verified", "exact", ("rownames",))
    assert _excepts(detect(catalog, on, _no_spark)) == _excepts(found)
