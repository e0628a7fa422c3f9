"""End-to-end detection on generated lakes with planted truth: precision and recall 1.0."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import lakes
import pytest

from r2d2.catalog import EdgeFilter, open_catalog
from r2d2.config import load_settings
from r2d2.containment.pipeline import detect
from r2d2.gen.evaluate import as_truth, score, score_kinds
from r2d2.gen.lake import LakeSpec, generate_lake
from r2d2.scan import scan


@pytest.fixture(scope="module")
def lake_run(spark, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("detect")
    lake = generate_lake(root / "lake", LakeSpec.small(), seed=11)
    settings = load_settings(home=root / "home", spark_master="local[2]", spark_batch_tables=16)
    catalog = open_catalog(settings.resolved_catalog_url)
    summary = scan(catalog, [str(lake.root)], spark_factory=lambda: spark)
    result = detect(catalog, settings, lambda: spark)
    return lake, settings, catalog, summary, result


def test_scan_finds_every_generated_table(lake_run) -> None:
    lake, _, _, summary, _ = lake_run
    assert summary.found == len(lake.tables)
    assert summary.failed == 0, summary.errors


def test_edges_equal_planted_truth(lake_run) -> None:
    lake, _, _, _, result = lake_run
    s = score(as_truth(result.edges), lake.truth)
    assert s.false_positives == []
    assert s.false_negatives == []
    assert s.wrong_flags == []
    assert s.precision == 1.0 and s.recall == 1.0


def test_overlaps_and_key_exceptions_equal_planted_truth(lake_run) -> None:
    """The generator's overlaps (exact fractions) and containments except generated keys (same
    columns) are found, and nothing else of either kind: every overlap at least τ that the truth
    holds is measured (the lake keeps changed rows inside the parents' bounds), the one below τ is
    not reported."""
    lake, _, _, _, result = lake_run
    s = score_kinds(as_truth(result.edges), lake.truth)
    assert s.overlaps.false_positives == [] and s.overlaps.false_negatives == []
    assert s.excepts.false_positives == [] and s.excepts.false_negatives == [] and s.excepts.wrong_flags == []
    assert s.perfect and s.exact == score(as_truth(result.edges), lake.truth)
    assert len(lake.truth.overlaps) > 10 and len(lake.truth.excepts) > 10
    found = {(e.parent, e.child): e for e in result.edges}
    for parent, child, fraction in lake.overlaps:
        if fraction >= 0.9:
            assert found[(parent, child)].relation == "overlaps" and found[(parent, child)].fraction == fraction
        else:
            assert (parent, child) not in found  # 15% of the rows changed: below τ, no edge
    for parent, child, keys in lake.excepts:
        edge = found[(parent, child)]
        assert edge.relation == "contains" and edge.except_columns == keys
        assert edge.to_json()["except_columns"] == list(keys)


def test_near_misses_are_rejected(lake_run) -> None:
    lake, _, _, _, result = lake_run
    contained = {(e.parent, e.child) for e in result.edges if e.relation != "overlaps" and not e.except_columns}
    assert lake.near_misses
    for parent, child in lake.near_misses:
        assert (parent, child) not in contained


def test_near_misses_of_one_row_are_overlaps_with_their_exact_fraction(lake_run) -> None:
    """A near miss that differs from its parent in one row (one changed value, one extra row) is not
    contained, but nearly: it is reported as ``overlaps`` with the exact share of its distinct rows
    found in the parent, and such an edge is never a containment."""
    import pyarrow.parquet as pq

    lake, _, catalog, _, result = lake_run
    overlaps = {(e.parent, e.child): e for e in result.edges if e.relation == "overlaps"}
    # The catalog's records (what `r2d2 edges` and GET /edges show) carry the same fractions.
    stored = {(e.parent_location, e.child_location): e for e in catalog.list_edges(EdgeFilter(relation="overlaps"))}
    assert {k: e.fraction for k, e in stored.items()} == {k: e.fraction for k, e in overlaps.items()}
    assert not any(e.deletable for e in stored.values())
    for case in ("near_miss_same_stats", "near_miss_extra_row"):
        parent, child = lake.cases[case]
        edge = overlaps[(parent, child)]
        rows = pq.read_table(child).num_rows  # distinct rows: the generator writes no repeated row here
        assert edge.fraction == pytest.approx((rows - 1) / rows) and edge.multiset is None
        assert edge.to_json()["fraction"] == edge.fraction and "except_columns" not in edge.to_json()
    assert all(e.fraction is None and "fraction" not in e.to_json() for e in result.edges if e.relation != "overlaps")


def test_funnel_shrinks_and_metadata_stages_read_nothing(lake_run) -> None:
    _, _, _, _, result = lake_run
    names = [s.name for s in result.stages]
    assert names == ["schema", "minmax", "minhash", "probe", "exact", "except"]
    for stage in result.stages:
        assert stage.candidates_out <= stage.candidates_in, stage
    assert result.stage("schema").bytes_read == 0
    assert result.stage("minmax").bytes_read == 0
    assert result.stage("minhash").bytes_read > 0
    # every earlier stage pruned something on this lake (it plants a near miss for each)
    assert result.stage("minmax").candidates_out < result.stage("minmax").candidates_in
    assert result.stage("minhash").candidates_out < result.stage("minhash").candidates_in


def test_content_stages_read_each_table_at_most_once(lake_run) -> None:
    """Stage 3 hashes parents on their children's projections while it reads them, so the probe
    (threshold samples, on the driver) and exact verification (R2D2's hash sets) never read a lake
    table again."""
    _, _, catalog, _, result = lake_run
    assert result.stage("probe").bytes_read == 0
    assert result.stage("probe").jobs == 0
    assert result.stage("exact").bytes_read == 0
    assert result.stage("exact").hashset_bytes > 0
    pruned = catalog.list_edges(EdgeFilter(state="pruned", stage="probe"))
    assert pruned and all(e.evidence["missing"] > 0 for e in pruned)
    profiles = dict(catalog.active_profiles())
    reached = {t for e in catalog.list_edges() if e.stage not in ("schema", "minmax")
               for t in (e.parent_id, e.child_id)}
    assert 0 < result.stage("minhash").bytes_read <= sum(profiles[t].num_bytes for t in reached)


def test_json_has_exactly_the_documented_shape(lake_run) -> None:
    _, _, _, _, result = lake_run
    data = json.loads(json.dumps(result.to_json()))
    assert set(data) == {"edges", "stages", "errors"}
    for edge in data["edges"]:
        assert {"parent", "child", "relation", "verified", "multiset"} <= set(edge)
        assert edge["relation"] in ("contains", "duplicate", "overlaps")
        assert ("fraction" in edge) == (edge["relation"] == "overlaps")
        assert "except_columns" not in edge or (edge["relation"] == "contains" and edge["except_columns"])
    assert {e["relation"] for e in data["edges"]} == {"contains", "duplicate", "overlaps"}
    for stage in data["stages"]:
        assert {"name", "candidates_in", "candidates_out", "seconds", "bytes_read"} <= set(stage)
    dup_pairs = [frozenset((e["parent"], e["child"])) for e in data["edges"] if e["relation"] == "duplicate"]
    assert len(dup_pairs) == len(set(dup_pairs))  # each duplicate pair reported once


def test_edges_are_stored_with_evidence(lake_run) -> None:
    _, _, catalog, _, result = lake_run
    stored = catalog.list_edges(EdgeFilter(state="verified")) + catalog.list_edges(EdgeFilter(state="inferred"))
    assert len({(e.parent_location, e.child_location) for e in stored}) >= len(result.edges)
    pruned = catalog.list_edges(EdgeFilter(state="pruned"))
    assert {e.stage for e in pruned} >= {"minmax", "minhash"}
    assert all(e.evidence for e in pruned)


def test_rerun_reuses_everything(lake_run, spark) -> None:
    """Nothing changed: no content stage reads anything, min-max examines only the pairs it kept (those
    it ruled out are settled, but for the ones the except pass found contained), and no stored decision
    is written again."""
    _, settings, catalog, _, first = lake_run
    edges = catalog.list_edges(EdgeFilter(include_stale=True))
    stored = {e.id: (e.state, e.stage, e.run_id, e.evidence) for e in edges}
    again = detect(catalog, settings, lambda: spark)
    assert again.pairs_reexamined == 0
    assert again.pairs_reused == first.pairs_reused + first.pairs_reexamined
    assert again.stage("minhash").bytes_read == 0
    minmax = again.stage("minmax")
    assert minmax.candidates_out == first.stage("minmax").candidates_out
    assert 0 <= minmax.reexamined - minmax.candidates_out <= sum(1 for e in edges if e.except_columns)
    assert minmax.reused == minmax.candidates_in - minmax.reexamined > 0
    assert {e.id: (e.state, e.stage, e.run_id, e.evidence)
            for e in catalog.list_edges(EdgeFilter(include_stale=True))} == stored
    assert as_truth(again.edges) == as_truth(first.edges)


def test_metadata_pruned_pair_of_an_earlier_decision_version_is_decided_again(spark, tmp_path: Path) -> None:
    """A pair min-max ruled out is settled only for the decision version that stored it: one stored by
    an earlier release (or with its version damaged) is pruned again and stored with the current one."""
    import sqlalchemy as sa

    from r2d2.catalog.db import get_engine, json_dumps
    from r2d2.containment.hashversion import DECISION_VERSION

    settings, catalog = _parent_child_bad_lake(spark, tmp_path)
    detect(catalog, settings, lambda: spark)
    pruned = [e for e in catalog.list_edges() if (e.state, e.stage) == ("pruned", "minmax")]
    assert len(pruned) >= 2
    old, damaged = pruned[0], pruned[1]
    with get_engine(settings.resolved_catalog_url).begin() as conn:
        for edge, version in ((old, DECISION_VERSION - 1), (damaged, "x")):
            conn.execute(sa.text("UPDATE edges SET evidence = :e WHERE id = :i"), {
                "i": edge.id, "e": json_dumps({"reason": "an earlier release's", "decision_version": version})})
    again = detect(catalog, settings, lambda: spark)
    assert again.stage("minmax").reexamined == again.stage("minmax").candidates_out + 2
    after = {e.id: e for e in catalog.list_edges()}
    for edge in (old, damaged):
        assert after[edge.id].evidence == edge.evidence
        assert after[edge.id].evidence["decision_version"] == DECISION_VERSION
        assert after[edge.id].run_id == again.run_id
    assert all(after[e.id].run_id == e.run_id for e in pruned[2:])


def test_incremental_after_adding_tables(spark, tmp_path: Path) -> None:
    lake = generate_lake(tmp_path / "lake", LakeSpec.small(), seed=5)
    settings = load_settings(home=tmp_path / "home", spark_master="local[2]")
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [str(lake.root)], spark_factory=lambda: spark)
    detect(catalog, settings, lambda: spark)
    # Add a copy of one parquet table: only pairs involving it may be re-examined.
    source = next(loc for loc, fmt in sorted(lake.tables.items()) if fmt == "parquet")
    copy = Path(source).parent / "zz_added_copy"
    shutil.copytree(source, copy)
    summary = scan(catalog, [str(lake.root)], spark_factory=lambda: spark)
    assert summary.new == 1 and summary.unchanged == len(lake.tables)
    result = detect(catalog, settings, lambda: spark)
    profiles = dict(catalog.active_profiles())
    new_id = next(tid for tid, p in profiles.items() if p.location == str(copy))
    stored = catalog.list_edges(EdgeFilter(include_stale=False))
    involving = [e for e in stored if new_id in (e.parent_id, e.child_id) and e.stage not in ("minmax",)]
    assert 0 < result.pairs_reexamined <= len(involving)
    assert any(e.relation == "duplicate" and str(copy) in (e.parent, e.child) for e in result.edges)
    # only the copy is read (its relatives' row sets and projections are cached)
    assert 0 < result.stage("minhash").bytes_read <= profiles[new_id].num_bytes
    assert result.stage("probe").bytes_read == 0


def _parent_child_bad_lake(spark, tmp_path: Path):
    """Three scanned Parquet tables: ``parent`` holds ``child`` and ``bad`` (row subsets)."""
    lakes.parent_child_bad(tmp_path / "lake")
    settings = load_settings(home=tmp_path / "home", spark_master="local[2]")
    catalog = open_catalog(settings.resolved_catalog_url)
    assert scan(catalog, [str(tmp_path / "lake")], spark_factory=lambda: spark).failed == 0
    return settings, catalog


@pytest.mark.parametrize("master", ["local[2]", "spark://cluster:7077"])
def test_stage_three_stays_on_the_driver_under_a_local_master(spark, tmp_path: Path, master: str) -> None:
    """Reads beyond ``local_read_bytes`` go to a Spark job on a cluster, but stay on the driver under a
    local master (its executors would share the driver's cores): same edges either way. The session
    is the test run's; only the configured master differs."""
    settings, catalog = _parent_child_bad_lake(spark, tmp_path)
    settings = settings.model_copy(update={"spark_master": master, "local_read_bytes": 1000})
    result = detect(catalog, settings, lambda: spark)
    assert result.stage("minhash").jobs == (0 if master.startswith("local") else 1)
    assert result.stage("minhash").bytes_read > 1000
    found = {(Path(e.parent).name, Path(e.child).name) for e in result.edges if e.relation == "contains"}
    assert found == {("parent", "child"), ("parent", "bad"), ("child", "bad")}


def test_unreadable_table_is_reported_and_the_rest_completes(spark, tmp_path: Path) -> None:
    import os

    settings, catalog = _parent_child_bad_lake(spark, tmp_path)
    # Corrupt the data pages of one table behind the catalog's back (same size and mtime, so the
    # fingerprint does not change): only reading its data can find out.
    bad = tmp_path / "lake" / "bad" / "part-0.parquet"
    stat = bad.stat()
    raw = bytearray(bad.read_bytes())
    raw[4:200] = b"\xff" * 196
    bad.write_bytes(bytes(raw))
    os.utime(bad, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    result = detect(catalog, settings, lambda: spark)
    errors = {e["location"]: e["error"] for e in result.errors}
    assert str(tmp_path / "lake" / "bad") in errors
    assert errors[str(tmp_path / "lake" / "bad")]
    found = {(e.parent, e.child) for e in result.edges}
    assert (str(tmp_path / "lake" / "parent"), str(tmp_path / "lake" / "child")) in found
    assert not any(str(tmp_path / "lake" / "bad") in pair for pair in found)


def test_group_failing_as_a_whole_is_retried_table_by_table(spark, tmp_path: Path, monkeypatch) -> None:
    """Stage 3 counts tables in groups, each writing one part file. A group that fails as a whole
    after its files were read (fault injected when a group holding the bad table counts its rows) is retried one
    table per group: the bad table alone is reported, named with the reason, and detection completes."""
    from r2d2.containment import tablework

    settings, catalog = _parent_child_bad_lake(spark, tmp_path)
    settings = settings.model_copy(update={"local_threads": 1})  # one group holds all three tables
    bad_id = next(t for t, p in catalog.active_profiles() if p.location.endswith("/bad"))
    real = tablework.count_sets

    def flaky(tid, col, a, b):
        if bad_id in set(tid.tolist()):
            raise OSError("simulated unwritable part file")
        return real(tid, col, a, b)

    monkeypatch.setattr(tablework, "count_sets", flaky)
    result = detect(catalog, settings, lambda: spark)
    errors = {e["location"]: e["error"] for e in result.errors}
    bad = str(tmp_path / "lake" / "bad")
    assert list(errors) == [bad]
    assert "simulated unwritable part file" in errors[bad]
    found = {(e.parent, e.child) for e in result.edges}
    assert (str(tmp_path / "lake" / "parent"), str(tmp_path / "lake" / "child")) in found
    assert not any(bad in pair for pair in found)


@pytest.mark.parametrize("path", ["tasks", "shuffle"])
def test_unreadable_file_fails_its_table_without_failing_the_batch(spark, tmp_path: Path, path: str) -> None:
    """A data file that cannot be read in stage 3 (corrupted after the scan) fails its table, not the
    Spark job (whole-table tasks, or file items counted by a shuffle): one job, the table reported
    with its file, the others decided."""
    settings, catalog = _parent_child_bad_lake(spark, tmp_path)
    update = {"local_read_bytes": 0} if path == "tasks" else {"local_read_bytes": 0, "local_hashset_bytes": 0}
    settings = settings.model_copy(update=update)
    bad = tmp_path / "lake" / "bad"
    data = next(bad.glob("*.parquet"))
    stat = data.stat()
    data.write_bytes(b"not parquet".ljust(stat.st_size, b"\0"))
    import os

    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same fingerprint: the scan keeps its profile
    result = detect(catalog, settings, lambda: spark)
    errors = {e["location"]: e["error"] for e in result.errors}
    assert list(errors) == [str(bad)] and data.name in errors[str(bad)]
    assert result.stage("minhash").jobs == (1 if path == "tasks" else 3)  # shuffle: count, summary, samples
    found = {(e.parent, e.child) for e in result.edges}
    assert (str(tmp_path / "lake" / "parent"), str(tmp_path / "lake" / "child")) in found


def test_deleted_hash_sets_are_rebuilt_not_trusted(spark, tmp_path: Path) -> None:
    """A cached sketch whose hash-set dataset is gone (work folder wiped) is recomputed by reading
    the table again; verification never reads a missing dataset and the edges stay right."""
    lake = generate_lake(tmp_path / "lake", LakeSpec.small(), seed=5)
    settings = load_settings(home=tmp_path / "home", spark_master="local[2]")
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [str(lake.root)], spark_factory=lambda: spark)
    first = detect(catalog, settings, lambda: spark)
    shutil.rmtree(settings.work_dir / "hashsets")
    source = next(loc for loc, fmt in sorted(lake.tables.items()) if fmt == "parquet" and loc.endswith("/base"))
    copy = Path(source).parent / "zz_added_copy"
    shutil.copytree(source, copy)
    scan(catalog, [str(lake.root)], spark_factory=lambda: spark)
    again = detect(catalog, settings, lambda: spark)
    assert again.errors == first.errors
    profiles = dict(catalog.active_profiles())
    new_id = next(tid for tid, p in profiles.items() if p.location == str(copy))
    # more than the copy is read: its relatives' row sets had to be rebuilt
    assert again.stage("minhash").bytes_read > profiles[new_id].num_bytes
    found = {(e.parent, e.child) for e in again.edges}
    assert {(e.parent, e.child) for e in first.edges} <= found
    assert any(str(copy) in (e.parent, e.child) and e.relation == "duplicate" for e in again.edges)


def test_spark_paths_find_the_same_edges(lake_run, spark, tmp_path: Path) -> None:
    """With ``local_hashset_bytes=0`` stage 3's summary and exact verification run as Spark jobs
    instead of on the driver: the same edges, with the same multiset flags, overlap fractions and
    columns left out."""
    lake, _, _, _, first = lake_run
    settings = load_settings(home=tmp_path / "home", spark_master="local[2]", spark_batch_tables=16,
                             local_hashset_bytes=0)
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [str(lake.root)], spark_factory=lambda: spark)
    result = detect(catalog, settings, lambda: spark)
    assert result.stage("exact").jobs > 0 and first.stage("exact").jobs == 0
    assert [(e.parent, e.child, e.relation, e.multiset, e.fraction, e.except_columns) for e in result.edges] == [
        (e.parent, e.child, e.relation, e.multiset, e.fraction, e.except_columns) for e in first.edges]
    assert any(e.fraction for e in first.edges) and any(e.except_columns for e in first.edges)


@pytest.mark.parametrize("local_bytes", [0, 256 << 20], ids=["spark", "driver"])
def test_changed_child_is_verified_on_its_new_rows_only(spark, tmp_path: Path, local_bytes: int) -> None:
    """A changed table's old row set can still be on disk, in a dataset that an unchanged table's
    cached set lives in. Verifying both against a new parent in one batch must read the changed
    table's new rows only (the old ones are not in the new parent: they would be reported missing)."""
    import lakes
    import pyarrow as pa

    def ids(values: list[int]) -> pa.Table:
        return pa.table({"id": pa.array(values, pa.int64()), "v": pa.array([f"v{i}" for i in values])})

    root = tmp_path / "lake"
    lakes.parquet(root / "p1", ids(list(range(1, 11))))
    lakes.parquet(root / "x", ids(list(range(1, 6))))
    lakes.parquet(root / "y", ids([2, 3, 4]))
    settings = load_settings(home=tmp_path / "home", spark_master="local[2]", local_hashset_bytes=local_bytes)
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [str(root)], spark_factory=lambda: spark)
    first = detect(catalog, settings, lambda: spark)
    assert {(Path(e.parent).name, Path(e.child).name) for e in first.edges} == {("p1", "x"), ("p1", "y"), ("x", "y")}
    (root / "x" / "part-0.parquet").unlink()
    lakes.parquet(root / "x", ids(list(range(20, 26))), name="part-1.parquet")
    lakes.parquet(root / "p2", ids([2, 3, 4, *range(20, 26)]))
    scan(catalog, [str(root)], spark_factory=lambda: spark)
    again = detect(catalog, settings, lambda: spark)
    assert {(Path(e.parent).name, Path(e.child).name) for e in again.edges} == {
        ("p1", "y"), ("p2", "x"), ("p2", "y")}


def test_caller_heap_is_frozen_only_while_detect_runs(spark, tmp_path: Path, monkeypatch) -> None:
    import gc

    settings, catalog = _parent_child_bad_lake(spark, tmp_path)
    assert gc.get_freeze_count() == 0
    seen: list[int] = []
    detect(catalog, settings, lambda: spark, progress=lambda _msg: seen.append(gc.get_freeze_count()))
    assert seen and min(seen) > 0  # the objects alive before detect sat out its collections
    assert gc.get_freeze_count() == 0  # and were handed back

    def fail(*_args, **_kwargs):
        raise RuntimeError("stage 3 broke")

    monkeypatch.setattr("r2d2.containment.pipeline.compute_sketches", fail)
    (tmp_path / "lake" / "child" / "part-0.parquet").touch()  # changed: stage 3 must run again
    scan(catalog, [str(tmp_path / "lake")], spark_factory=lambda: spark)
    with pytest.raises(RuntimeError, match="stage 3 broke"):
        detect(catalog, settings, lambda: spark)
    assert gc.get_freeze_count() == 0  # handed back on failure too


def test_exact_sets_over_the_driver_budget_are_verified_in_byte_packed_batches(
        lake_run, spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the hash sets to verify outgrow ``local_hashset_bytes``, exact verification still runs on the
    driver, in batches packed to that budget (each batch reads its datasets once), not in Spark-sized
    batches of groups: several driver batches, none over the budget, and the same edges as one pass."""
    from r2d2.containment import verify_job

    lake, _, _, _, first = lake_run
    stored = sum(f.stat().st_size for f in (lake_run[1].work_dir / "hashsets").rglob("*.parquet"))
    budget = stored // 3
    batches: list[int] = []  # bytes of each batch verified on the driver
    real = verify_job._local_sets

    def spy(groups, pairs, profiles, sketches):
        found = real(groups, pairs, profiles, sketches)
        if found is not None:
            batches.append(found[2])
        return found

    monkeypatch.setattr(verify_job, "_local_sets", spy)
    # A Spark batch would hold every group: one batch over the budget, verified by a Spark join.
    settings = load_settings(home=tmp_path / "home", spark_master="local[2]", spark_batch_tables=10_000,
                             local_hashset_bytes=budget)
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [str(lake.root)], spark_factory=lambda: spark)
    result = detect(catalog, settings, lambda: spark)
    assert result.stage("exact").jobs == 0
    assert len(batches) >= 2 and max(batches) <= budget
    assert [(e.parent, e.child, e.relation, e.multiset, e.fraction, e.except_columns) for e in result.edges] == [
        (e.parent, e.child, e.relation, e.multiset, e.fraction, e.except_columns) for e in first.edges]


def test_a_driver_batch_that_fails_twice_is_isolated_on_spark(
        lake_run, spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A driver batch whose sets cannot be read (gone since stage 3) goes to Spark; when Spark fails on
    one parent too, the batch is split in Spark batches down to that parent (not retried on the driver
    forever): its candidates are reported as errors, every other edge is still found."""
    from r2d2.containment import verify_job

    lake, _, _, _, first = lake_run
    parent = next(e.parent for e in first.edges if e.stage == "exact")

    def vanished(*args, **kwargs):
        raise OSError("hash set gone")

    real_hashes = verify_job._parent_hashes

    def failing(spark, groups, profiles, sketches, out):
        if any(profiles[p].location == parent for p, _ in groups.values()):
            raise RuntimeError("cannot read the parent")
        return real_hashes(spark, groups, profiles, sketches, out)

    monkeypatch.setattr(verify_job, "exact_stats", vanished)
    monkeypatch.setattr(verify_job, "_parent_hashes", failing)
    settings = load_settings(home=tmp_path / "home", spark_master="local[2]", spark_batch_tables=16)
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [str(lake.root)], spark_factory=lambda: spark)
    result = detect(catalog, settings, lambda: spark)
    assert {e["location"] for e in result.errors} == {parent}
    assert result.stage("exact").jobs > 0
    kept = {(e.parent, e.child, e.relation) for e in first.edges if e.parent != parent and e.stage == "exact"}
    assert kept and kept <= {(e.parent, e.child, e.relation) for e in result.edges}


@pytest.mark.parametrize("damage", ["dataset", "late"])
def test_a_hash_set_unreadable_at_verification_is_one_error_and_rebuilt_next_run(
        spark, tmp_path: Path, damage: str) -> None:
    """The parent's cached hash set breaks between stage 3 and verification (a disk, a cleaner): the
    pair it fails is no exact edge and no stored decision, the parent is named once, the other stored
    verdicts stand; the next detect hashes the parent again instead of trusting the same set again.
    ``late``: one file of the parent's dataset breaks that Spark only opens when its tasks run (at the
    join, where the children's sets are read too): the failure is still the parent's."""
    import pyarrow.parquet as pq

    from r2d2.containment.sketch_cache import ROWSAMPLE

    settings, catalog = _parent_child_bad_lake(spark, tmp_path)
    lake = tmp_path / "lake"
    first = _exact_edges(detect(catalog, settings, lambda: spark))
    assert first == {("parent", "child"), ("parent", "bad"), ("child", "bad")}
    child = pq.read_table(lake / "child")  # loses row 0: checked again against the parent, and holds no `bad`
    pq.write_table(child.slice(1), lake / "child" / "part-0.parquet")
    scan(catalog, [str(lake)], spark_factory=lambda: spark)
    profiles = dict(catalog.active_profiles())
    parent_id = next(t for t, p in profiles.items() if p.location == str(lake / "parent"))
    stored = catalog.get_sketches(parent_id, profiles[parent_id].fingerprint, ROWSAMPLE)
    sets = Path(stored[""][1]["rowset_path"])

    files = sorted(sets.rglob("*.parquet"))  # part-00000, -00001, -00002 (a table each), part-schema
    if damage == "late":
        files = files[1:2]  # neither the file Spark infers the schema from nor the parent's rows' own

    def break_sets(message: str) -> None:
        if message.startswith("minhash:") and "pairs left" in message:
            for f in files:
                f.write_bytes(b"\0" * f.stat().st_size)  # sizes kept: only reading tells

    broken = detect(catalog, settings, lambda: spark, progress=break_sets)
    assert [e["location"] for e in broken.errors] == [str(lake / "parent")]
    assert _exact_edges(broken) == {("parent", "bad")}
    rebuilt = detect(catalog, settings, lambda: spark)
    assert rebuilt.errors == [] and rebuilt.pairs_reexamined == 1
    assert _exact_edges(rebuilt) == first - {("child", "bad")}


def _exact_edges(result) -> set[tuple[str, str]]:
    """(parent, child) names of the exact containments (not those except generated keys, nor overlaps)."""
    return {(Path(e.parent).name, Path(e.child).name) for e in result.edges
            if not e.except_columns and e.relation != "overlaps"}


@pytest.mark.parametrize(("path", "lost"), [("driver", "a file"), ("driver", "every file"), ("tasks", "a file"),
                                           ("shuffle", "a file")])
def test_a_hash_set_that_lost_files_is_made_again_not_read_short(spark, tmp_path: Path, path: str,
                                                                 lost: str) -> None:
    """A cleaner removed part of the work folder: a cached set whose files are not all there any more
    would read as a set with fewer rows (the parent lacking the rows of its child: a true edge lost, and
    that decision reused). Stage 3 sees it against the dataset's manifest and hashes the parent again,
    whichever path wrote the set (the driver, whole-table Spark tasks, a Spark shuffle)."""
    import pyarrow.parquet as pq

    from r2d2.containment.sketch_cache import ROWSAMPLE

    settings, catalog = _parent_child_bad_lake(spark, tmp_path)
    settings = settings.model_copy(update={"driver": {}, "tasks": {"local_read_bytes": 0},
                                           "shuffle": {"local_read_bytes": 0, "local_hashset_bytes": 0}}[path])
    lake = tmp_path / "lake"
    first = _exact_edges(detect(catalog, settings, lambda: spark))
    child = pq.read_table(lake / "child")  # loses a row: checked again against the parent's cached set
    pq.write_table(child.slice(1), lake / "child" / "part-0.parquet")
    scan(catalog, [str(lake)], spark_factory=lambda: spark)
    profiles = dict(catalog.active_profiles())
    parent_id = next(t for t, p in profiles.items() if p.location == str(lake / "parent"))
    sets = Path(catalog.get_sketches(parent_id, profiles[parent_id].fingerprint, ROWSAMPLE)[""][1]["rowset_path"])
    parts = sorted(sets.glob("part-*.parquet"))
    holding = [f for f in parts if parent_id in pq.read_table(f, columns=["tid"]).column("tid").to_pylist()]
    assert holding
    for f in holding[:1] if lost == "a file" else parts:
        f.unlink()
    again = detect(catalog, settings, lambda: spark)
    assert again.errors == []
    assert _exact_edges(again) == first - {("child", "bad")}
    # the child (changed), the parent, and `bad` where its sets shared the dataset that lost files
    assert again.stage("minhash").tables_read >= 2


def test_decisions_of_an_earlier_release_are_checked_once_more(spark, tmp_path: Path) -> None:
    """Content decisions and except-keys verdicts stored without this release's decision version (those
    of a release whose stored decisions could be wrong while the fingerprints stayed) are checked again
    once, on the cached sketches; then they are reused as before."""
    import sqlalchemy as sa

    settings, catalog = _parent_child_bad_lake(spark, tmp_path)
    first = detect(catalog, settings, lambda: spark)
    assert first.pairs_reexamined > 0 and first.stage("except").reexamined > 0
    engine = sa.create_engine(settings.resolved_catalog_url)
    with engine.begin() as conn:  # as an earlier release stored them
        conn.execute(sa.text("UPDATE edges SET evidence = json_remove(evidence, '$.decision_version')"))
        conn.execute(sa.text("UPDATE sketches SET meta = json_remove(meta, '$.decision_version') "
                             "WHERE kind = 'except'"))
    engine.dispose()
    again = detect(catalog, settings, lambda: spark)
    assert (again.pairs_reexamined, again.pairs_reused) == (first.pairs_reexamined, 0)
    assert (again.stage("except").reexamined, again.stage("except").reused) == (first.stage("except").reexamined, 0)
    assert again.stage("minhash").bytes_read == 0  # the sketches were kept
    assert _exact_edges(again) == _exact_edges(first)
    last = detect(catalog, settings, lambda: spark)
    assert (last.pairs_reexamined, last.stage("except").reexamined) == (0, 0)
