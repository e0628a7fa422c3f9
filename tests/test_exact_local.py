"""Exact verification on the driver (Arrow) gives the same answers as the reference and as Spark."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from r2d2.containment.candidates import Candidate, Pair
from r2d2.containment.exact_local import exact_stats
from r2d2.containment.sketches import ROW, TableSketch
from r2d2.containment.verify_job import _exact

# few distinct a / b values so that sets overlap, and (a, b) pairs share an `a`
_HASH = st.tuples(st.integers(0, 6), st.integers(0, 2))
_SET = st.dictionaries(_HASH, st.integers(1, 3), max_size=12)  # (a, b) -> count
PARENT, CHILD1, CHILD2, OTHER = 1, 2, 3, 4
PROJ = -2
# (gid, child): group 0 is the parent's projection, group 1 its full rows
PAIRS = [(0, CHILD1), (1, CHILD2), (0, CHILD2)]


def _write(path: Path, sets: dict[tuple[int, int], dict[tuple[int, int], int]]) -> str:
    """A hash-set dataset in stage 3's layout, two files, with a partial-signature row for realism."""
    rows = [(tid, col, a, b, None, cnt) for (tid, col), s in sorted(sets.items()) for (a, b), cnt in sorted(s.items())]
    rows.append((PARENT, 0, 7, 0, b"\x00" * 8, 1))
    half = len(rows) // 2
    schema = pa.schema([("tid", pa.int64()), ("col", pa.int32()), ("a", pa.int64()), ("b", pa.int64()),
                        ("sig", pa.binary()), ("cnt", pa.int64())])
    path.mkdir(parents=True)
    for i, part in enumerate((rows[:half], rows[half:])):
        pq.write_table(pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in part], schema),
                       path / f"part-{i}.parquet")
    (path / "_SUCCESS").write_text("")  # as Spark leaves it: must be ignored
    return str(path)


def _reference(parent: dict, child: dict) -> tuple[int, int, int] | None:
    if not child:
        return None
    missing = sum(1 for h in child if h not in parent)
    over = sum(1 for h, c in child.items() if c > parent.get(h, 0))
    return len(child), missing, over


def _sets(proj, full, c1, c2, other):
    return {(PARENT, PROJ): proj, (PARENT, ROW): full, (CHILD1, ROW): c1, (CHILD2, ROW): c2, (OTHER, ROW): other}


@settings(max_examples=150, deadline=None)
@given(proj=_SET, full=_SET, c1=_SET, c2=_SET, other=_SET)
def test_local_exact_matches_reference(proj, full, c1, c2, other) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp) / "hs", _sets(proj, full, c1, c2, other))
        stats = exact_stats(PAIRS, {0: (path, PARENT, PROJ), 1: (path, PARENT, ROW)},
                            {CHILD1: (path, CHILD1, ROW), CHILD2: (path, CHILD2, ROW)})
    groups = {0: proj, 1: full}
    children = {CHILD1: c1, CHILD2: c2}
    for i, (gid, child) in enumerate(PAIRS):
        assert stats.get(i) == _reference(groups[gid], children[child])


@settings(max_examples=12, deadline=None)
@given(proj=_SET, full=_SET, c1=_SET, c2=_SET, other=_SET)
def test_local_exact_matches_spark(spark, proj, full, c1, c2, other) -> None:
    from pyspark.sql import functions as F

    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp) / "hs", _sets(proj, full, c1, c2, other))
        local = exact_stats(PAIRS, {0: (path, PARENT, PROJ), 1: (path, PARENT, ROW)},
                            {CHILD1: (path, CHILD1, ROW), CHILD2: (path, CHILD2, ROW)})
        mapping = spark.createDataFrame([(PARENT, PROJ, 0), (PARENT, ROW, 1)], "tid long, col int, gid long")
        parent = (spark.read.parquet(path).join(F.broadcast(mapping), ["tid", "col"])
                  .selectExpr("gid", "a", "b", "cnt AS pcnt"))
        sketches = {c: TableSketch(c, f"fp{c}", rowset_path=path) for c in (CHILD1, CHILD2)}
        cands = [(gid, Candidate(Pair(PARENT, child), (("x", "x"),))) for gid, child in PAIRS]
        by_spark = _exact(spark, cands, parent, sketches)
    assert {i: s for i, s in by_spark.items() if s[0]} == local


def test_missing_hash_set_is_reported_not_raised(spark, tmp_path: Path) -> None:
    """A hash set deleted behind the catalog's back: the driver path gives up, the Spark path fails
    too, and the pair comes back as a failure naming the reason — verification itself does not raise."""
    from r2d2.containment.verify_job import verify
    from r2d2.types import Column, Family, TableProfile

    def profile(tid: int) -> TableProfile:
        return TableProfile(location=f"{tmp_path}/t{tid}", format="parquet", fingerprint=f"fp{tid}",
                            columns=(Column(name="x", physical_type="int64", family=Family.INTEGER),),
                            stats={}, num_rows=1, num_bytes=1, files=())

    gone = str(tmp_path / "hs-gone")
    sketches = {t: TableSketch(t, f"fp{t}", rowset_path=gone) for t in (PARENT, CHILD1)}
    cand = Candidate(Pair(PARENT, CHILD1), (("x", "x"),))
    out = verify(lambda: spark, [cand], profiles={PARENT: profile(PARENT), CHILD1: profile(CHILD1)}, sketches=sketches,
                 work_dir=tmp_path / "work", batch_size=8, local_bytes=256 << 20)
    assert out.results == []
    assert [(f.candidate, f.table) for f in out.failures] == [(cand, PARENT)]
    assert "hs-gone" in out.failures[0].error or "PATH_NOT_FOUND" in out.failures[0].error


def test_a_damaged_or_missing_hash_set_is_told_from_a_readable_one(tmp_path: Path) -> None:
    """What verification checks after a failure, on the driver: the rows of some tables of a readable
    set; of one whose second file is damaged (Spark would only meet it at the join, reading every
    footer, whichever tables it wants), and of one gone."""
    from r2d2.containment.verify_job import unreadable_set

    path = _write(tmp_path / "hs", _sets({(1, 1): 1}, {(2, 2): 1}, {(3, 3): 1}, {(4, 4): 2}, {(5, 5): 1}))
    assert unreadable_set(path, [PARENT]) is None and unreadable_set(path, [CHILD1, OTHER]) is None
    last = sorted(Path(path).glob("*.parquet"))[-1]
    last.write_bytes(last.read_bytes()[:-20])  # cut short: no footer
    assert unreadable_set(path, [PARENT]) and unreadable_set(path, [OTHER])
    assert unreadable_set(str(tmp_path / "gone"), [PARENT])


def test_an_unreadable_row_group_counts_for_the_tables_whose_id_range_spans_it(tmp_path: Path) -> None:
    """Spark pushes a long ``IN`` down as a range of table ids, so it reads every row group whose ids fall
    between the lowest and the highest it wants: a damaged row group of a table in between fails it. The
    driver's check reads the same span; one without it is readable."""
    from r2d2.containment.verify_job import unreadable_set

    schema = pa.schema([("tid", pa.int64()), ("col", pa.int32()), ("a", pa.int64()), ("b", pa.int64()),
                        ("sig", pa.binary()), ("cnt", pa.int64())])
    rows = [{"tid": t, "col": ROW, "a": t, "b": t, "sig": None, "cnt": 1} for t in (1, 2, 3)]
    folder = tmp_path / "hs"
    folder.mkdir()
    part = folder / "part-0.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema), part, row_group_size=1, compression="none")
    middle = pq.ParquetFile(part).metadata.row_group(1)
    data = bytearray(part.read_bytes())
    for j in range(middle.num_columns):  # the pages of table 2's row group, not the footer
        chunk = middle.column(j)
        start = chunk.dictionary_page_offset or chunk.data_page_offset
        data[start:start + chunk.total_compressed_size] = b"\xff" * chunk.total_compressed_size
    part.write_bytes(bytes(data))
    assert unreadable_set(str(folder), [1]) is None and unreadable_set(str(folder), [3]) is None
    assert unreadable_set(str(folder), [2])
    assert unreadable_set(str(folder), [1, 3])  # as Spark reads them: tables 1 to 3


def test_colliding_a_halves_are_resolved_by_b(tmp_path: Path) -> None:
    """Two parent hashes sharing their first 64 bits: each child hash matches the one with its `b`,
    with that row's count (the hash-table path would only see the first of the two)."""
    sets = {(PARENT, ROW): {(5, 1): 1, (5, 2): 3, (9, 0): 1},
            (CHILD1, ROW): {(5, 2): 2, (9, 0): 2},  # (5, 2) within the parent's count, (9, 0) over it
            (CHILD2, ROW): {(5, 3): 1}}  # same `a` as two parent rows, no `b` matches
    path = _write(tmp_path / "hs", sets)
    stats = exact_stats([(1, CHILD1), (1, CHILD2)], {1: (path, PARENT, ROW)},
                        {CHILD1: (path, CHILD1, ROW), CHILD2: (path, CHILD2, ROW)})
    assert stats == {0: (2, 0, 1), 1: (1, 1, 1)}


def test_a_parent_set_too_large_for_the_driver_is_verified_by_spark(spark, tmp_path: Path, monkeypatch) -> None:
    """Past the driver's limit on a parent set's rows, the batch goes to Spark, with the same answers."""
    from r2d2.containment import exact_local
    from r2d2.containment.verify_job import verify
    from r2d2.types import Column, Family, TableProfile

    path = _write(tmp_path / "hs", {(PARENT, ROW): {(1, 1): 1, (2, 2): 1, (3, 3): 2},
                                    (CHILD1, ROW): {(1, 1): 1, (3, 3): 2}, (CHILD2, ROW): {(4, 4): 1}})

    def profile(tid: int) -> TableProfile:
        return TableProfile(location=f"{tmp_path}/t{tid}", format="parquet", fingerprint=f"fp{tid}",
                            columns=(Column(name="x", physical_type="int64", family=Family.INTEGER),),
                            stats={}, num_rows=3, num_bytes=1, files=())

    profiles = {t: profile(t) for t in (PARENT, CHILD1, CHILD2)}
    sketches = {t: TableSketch(t, f"fp{t}", rowset_path=path, rows=3, distinct_rows=3, rowset_bytes=120)
                for t in (PARENT, CHILD1, CHILD2)}
    cands = [Candidate(Pair(PARENT, c), (("x", "x"),)) for c in (CHILD1, CHILD2)]

    def run():
        out = verify(lambda: spark, cands, profiles=profiles, sketches=sketches, work_dir=tmp_path / "work",
                     batch_size=8, local_bytes=256 << 20)
        return {r.candidate.pair.child: r.contained for r in out.results}, out.jobs

    on_driver, driver_jobs = run()
    monkeypatch.setattr(exact_local, "MAX_PARENT_ROWS", 2)  # the parent's 3 rows are now too many
    by_spark, spark_jobs = run()
    assert on_driver == by_spark == {CHILD1: True, CHILD2: False}
    assert driver_jobs == 0 and spark_jobs > 0
