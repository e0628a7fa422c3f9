"""Stage 3 writes the same hash sets whichever path made them: whole-table tasks on the driver, the same
tasks in a Spark job, or file items counted by a Spark shuffle (and summarised by Spark jobs); the
sketches built on them are equal too."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import lakes
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r2d2.containment.sketch_job import compute_sketches, entry_bytes
from r2d2.containment.sketches import SketchRequest
from r2d2.lake.discover import discover
from r2d2.profile.profiler import profile_tables

PATHS = {"driver": (1 << 30, 1 << 30), "spark-tasks": (0, 1 << 30), "spark-shuffle": (0, 0)}


@pytest.fixture(scope="module")
def requests(spark, tmp_path_factory: pytest.TempPathFactory) -> list[SketchRequest]:
    root = tmp_path_factory.mktemp("hs") / "lake"
    rng = np.random.default_rng(3)
    for i, n in enumerate((4000, 700, 0)):  # duplicates (counts above 1), nulls, an empty table
        x = rng.integers(0, 300, n)
        lakes.parquet(root / f"t{i}", {"x": x, "y": np.where(x % 7 == 0, None, x % 5)})
    lakes.parquet(root / "t0", {"x": rng.integers(0, 300, 50), "y": rng.integers(0, 5, 50)}, name="part-1.parquet")
    lakes.csv(root / "c", "x,y\n1,2\n1,2\n3,\n", name="a.csv")
    lakes.csv(root / "c", "x,y\n4,5\n", name="b.csv")
    lakes.delta(root / "d", pa.table({"x": [1, 2, 3], "day": [dt.date(2024, 1, 1), None, dt.date(2024, 1, 2)]}),
                partition_by=["day"])
    lakes.partitioned(root / "h", pa.table({"x": [1, 2, 3, 4], "y": [7, 7, None, 8]}), ["y"])
    found = discover([str(root)])
    by_name = {Path(o.location).name: o.profile for o in profile_tables(found.tables, spark_factory=lambda: spark)}
    return [SketchRequest(1, by_name["t0"], ("x", "y"), rowset=True, projections=(("x",),)),
            SketchRequest(2, by_name["t1"], ("x", "y"), rowset=True),
            SketchRequest(3, by_name["t2"], ("x", "y"), rowset=True, projections=(("x",),)),
            SketchRequest(4, by_name["c"], ("x",), rowset=False, projections=(("y",), ("x",))),
            SketchRequest(5, by_name["d"], ("x", "day"), rowset=True),
            SketchRequest(6, by_name["h"], ("y",), rowset=True, projections=(("x",),))]


def _content(paths: set[str]) -> list[tuple]:
    """The row-set entries ``(tid, col, a, b, cnt)`` of the datasets, sorted (partial signatures, which
    only the shuffle path writes, are compared as merged signatures instead)."""
    rows: list[tuple] = []
    for path in sorted(paths):
        t = ds.dataset(path, format="parquet").to_table(columns=["tid", "col", "a", "b", "cnt"],
                                                        filter=ds.field("col") < 0)
        rows += zip(*(t.column(n).to_pylist() for n in t.column_names), strict=True)
    return sorted(rows)


def test_every_path_writes_the_same_hash_set(spark, tmp_path: Path, requests: list[SketchRequest]) -> None:
    assert entry_bytes(requests[0]) > 0
    got = {}
    for name, (read_bytes, local_bytes) in PATHS.items():
        out = compute_sketches(requests, spark_factory=lambda: spark, work_dir=tmp_path / name, num_perm=16, seed=1,
                               sample_k=20, batch_size=100, local_bytes=local_bytes, local_read_bytes=read_bytes,
                               threads=2)
        assert out.failures == {}
        assert out.local == (name == "driver") and (out.jobs == 0) == (name == "driver")
        paths = {sk.rowset_path for sk in out.sketches.values() if sk.rowset_path}
        paths |= {ps.path for sk in out.sketches.values() for ps in sk.projections.values()}
        got[name] = (_content(paths), out.sketches)
    content, sketches = got["driver"]
    assert content and max(r[4] for r in content) > 1  # duplicates were counted
    assert {r[1] for r in content} == {-1, -2, -3}
    assert sum(1 for r in content if r[0] == 4 and r[1] == -3) == 3  # CSV: distinct x of both files
    for name in ("spark-tasks", "spark-shuffle"):
        other_content, other = got[name]
        assert other_content == content, name
        assert other.keys() == sketches.keys()
        for tid, sk in sketches.items():
            o = other[tid]
            assert (o.rows, o.distinct_rows, o.sample, o.sample_limit) == (
                sk.rows, sk.distinct_rows, sk.sample, sk.sample_limit), (name, tid)
            assert o.minhash.keys() == sk.minhash.keys()
            assert all(np.array_equal(o.minhash[k], sk.minhash[k]) for k in sk.minhash)
            assert {p: (s.limit, s.sample) for p, s in o.projections.items()} == {
                p: (s.limit, s.sample) for p, s in sk.projections.items()}
    assert sketches[1].rows == 4050 and 0 < len(sketches[1].sample) < sketches[1].distinct_rows
    assert sketches[3].rows == 0 and sketches[3].sample == []


def test_counting_is_exact_when_two_hashes_share_a() -> None:
    """Row hashes are counted by a hash table on ``a`` alone; two different hashes sharing ``a``
    (a 64-bit coincidence, made here on purpose) must still be counted apart, and repeats together."""
    from r2d2.containment.hashset_local import count_pairs

    a = np.array([5, 5, 5, 9, 5], np.int64)
    b = np.array([1, 1, 2, 3, 1], np.int64)
    got = set(zip(*(x.tolist() for x in count_pairs(a, b)), strict=True))
    assert got == {(5, 1, 3), (5, 2, 1), (9, 3, 1)}
    plain = list(zip(*(x.tolist() for x in count_pairs(a[[0, 1, 3]], b[[0, 1, 3]])), strict=True))
    assert plain == [(5, 1, 2), (9, 3, 1)]  # no coincidence: the shortcut, in order of appearance


def _counted(rows: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int, int]]:
    """The oracle: distinct rows with their counts, in order of first appearance."""
    counts: dict[tuple[int, int, int, int], int] = {}
    for row in rows:
        counts[row] = counts.get(row, 0) + 1
    return [(*row, n) for row, n in counts.items()]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-3, 0), st.integers(-4, 4), st.integers(0, 2)),
                max_size=60),
       st.booleans())
def test_counting_matches_the_oracle_in_runs_or_not(rows: list[tuple[int, int, int, int]], grouped: bool) -> None:
    """Sets laid out one after the other (the compiled run-by-run count) or interleaved (the grouping
    over all rows) give the distinct rows, counted, in order of first appearance. Few values of ``a``
    and ``b``: every probe chain and every coincidence of ``a`` alone is met."""
    from r2d2.containment.hashset_local import count_sets

    if grouped:
        rows = sorted(rows, key=lambda r: (r[0], r[1]))  # each set in one run, rows in their order
    cols = [np.array([r[i] for r in rows], t) for i, t in enumerate((np.int64, np.int32, np.int64, np.int64))]
    got = list(zip(*(x.tolist() for x in count_sets(*cols)), strict=True))
    assert got == _counted(rows)


def test_driver_tasks_keep_the_sets_they_write_for_verification(tmp_path: Path, requests: list[SketchRequest]) -> None:
    """What a detect keeps in memory (:mod:`r2d2.containment.hashset_memo`) is what the dataset holds,
    set by set, empty sets included; a limit too small keeps nothing, and outside a detect nothing is
    kept. Verification reading from memory or from the files then answers alike."""
    from r2d2.containment import hashset_memo
    from r2d2.containment.exact_local import _read, _split_sets, exact_stats
    from r2d2.containment.sketches import ROW

    def run(work: Path):
        return compute_sketches(requests, spark_factory=_no_spark, work_dir=work, num_perm=16, seed=1, sample_k=20,
                                batch_size=100, local_bytes=1 << 30, local_read_bytes=1 << 30, threads=2)

    with hashset_memo.keeping(1 << 30):
        out = run(tmp_path / "kept")
        path = out.sketches[1].rowset_path
        assert path is not None
        every = {(tid, ROW) for tid in (1, 2, 3, 5, 6)} | {(1, -2), (3, -2)}
        kept, unread = hashset_memo.take(path, every)
        assert unread == set() and kept.keys() == every
        on_disk = _split_sets(_read(path, every))
        assert kept[(3, ROW)][0].size == 0 and (3, ROW) not in on_disk  # the empty table: no row written
        for key, (a, b, cnt) in on_disk.items():
            if key in every:
                assert sorted(zip(a.tolist(), b.tolist(), cnt.tolist(), strict=True)) == sorted(
                    zip(*(x.tolist() for x in kept[key]), strict=True)), key
        pairs = [(0, 2), (0, 1), (1, 5)]
        groups = {0: (path, 1, ROW), 1: (path, 6, ROW)}
        children = {tid: (path, tid, ROW) for tid in (1, 2, 5)}
        from_memory = exact_stats(pairs, groups, children)
    assert hashset_memo.take(path, every) == ({}, every)  # dropped when the detect ends
    assert exact_stats(pairs, groups, children) == from_memory  # the same answers, read from the files
    with hashset_memo.keeping(8):
        small = run(tmp_path / "small")
        small_path = small.sketches[1].rowset_path or ""
        kept_small, _ = hashset_memo.take(small_path, every)
        assert (1, ROW) not in kept_small and all(not len(a) for a, _, _ in kept_small.values())
        # the empty table's set from memory, the rest read from the files
        small_groups = {g: (small_path, t, c) for g, (_, t, c) in groups.items()}
        small_children = {t: (small_path, t, ROW) for t in (1, 2, 3, 5)}
        mixed = exact_stats([*pairs, (0, 3)], small_groups, small_children)
    assert mixed == exact_stats([*pairs, (0, 3)], small_groups, small_children) == from_memory  # as from files
    run(tmp_path / "outside")
    assert not hashset_memo.active()


def _no_spark():
    raise AssertionError("the driver path must not start Spark")


def test_a_sealed_hash_set_is_intact_only_with_every_file_at_its_size(tmp_path) -> None:
    import pyarrow.parquet as pq

    from r2d2.containment.hashset_local import MANIFEST, SCHEMA, intact, seal

    path = tmp_path / "hs-1"
    path.mkdir()
    for i in range(2):
        pq.write_table(SCHEMA.empty_table(), path / f"part-{i}.parquet")
    assert intact(str(path))  # not sealed (a dataset of an older release): it only has to exist
    assert not intact(str(tmp_path / "hs-gone"))
    seal(str(path))
    assert intact(str(path))
    (path / "part-1.parquet").write_bytes((path / "part-1.parquet").read_bytes() + b"x")
    assert not intact(str(path))  # another size: not the file it was sealed with
    (path / "part-1.parquet").unlink()
    assert not intact(str(path))
    (path / MANIFEST).write_bytes(b"{not json")
    assert not intact(str(path))
    (path / MANIFEST).unlink()
    (path / MANIFEST).mkdir()  # a manifest that cannot be written: a warning, the dataset left unsealed
    seal(str(path))
