"""Stage 3 writes the same hash set whichever path made it: driver only, Spark counting on the driver,
Spark counting with a shuffle (and Spark's summary jobs); the sketches built on them are equal too."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import lakes
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from r2d2.containment.sketch_job import compute_sketches, entry_bytes
from r2d2.containment.sketches import ERROR, SketchRequest
from r2d2.lake.discover import discover
from r2d2.profile.profiler import profile_tables

PATHS = {"driver": (1 << 30, 1 << 30), "spark-collect": (0, 1 << 30), "spark-shuffle": (0, 0)}


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
    rows: list[tuple] = []
    for path in sorted(paths):
        t = ds.dataset(path, format="parquet").to_table(columns=["tid", "col", "a", "b", "sig", "cnt"])
        rows += zip(*(t.column(n).to_pylist() for n in t.column_names), strict=True)
    return sorted(rows, key=lambda r: (r[0], r[1], r[2], r[3], r[4] or b""))


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
    assert content and max(r[5] for r in content) > 1  # duplicates were counted
    assert {r[1] for r in content} >= {-1, -2, -3, 0, 1} and ERROR not in {r[1] for r in content}
    assert sum(1 for r in content if r[0] == 4 and r[1] == -3) == 3  # CSV: distinct x of both files
    for name in ("spark-collect", "spark-shuffle"):
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


def _entries(rows: list[tuple[int, int, int, int]]) -> pa.Table:
    tid, col, a, b = (list(x) for x in zip(*rows, strict=True))
    n = len(rows)
    return pa.table({"tid": pa.array(tid, pa.int64()), "col": pa.array(col, pa.int32()),
                     "a": pa.array(a, pa.int64()), "b": pa.array(b, pa.int64()),
                     "sig": pa.nulls(n, pa.binary()), "cnt": pa.array([1] * n, pa.int64())})


def _counted(table: pa.Table) -> dict[tuple[int, int, int, int], int]:
    return {(t, c, a, b): n for t, c, a, b, n in zip(*(table.column(k).to_pylist()
                                                      for k in ("tid", "col", "a", "b", "cnt")), strict=True)}


def test_counting_is_exact_when_the_shortcut_key_collides() -> None:
    """The driver counts row hashes by one mixed 64-bit key; rows that share that key but differ
    (same ``a`` and another ``b``; or ``a`` values chosen so that two sets' keys coincide) must still
    be counted apart, and repeated rows together."""
    from r2d2.containment import hashset_local as hl

    def mix(tid: int, col: int) -> int:
        m = (tid * int(hl._MIX_TID) + (col % 2**64) * int(hl._MIX_COL)) % 2**64
        return m

    def signed(u: int) -> int:
        return u - 2**64 if u >= 2**63 else u

    a1 = 123456789
    a2 = signed((a1 ^ mix(1, -1) ^ mix(2, -1)) % 2**64)  # table 2's key equals table 1's
    rows = [(1, -1, a1, 5), (1, -1, a1, 5), (1, -1, a1, 6), (2, -1, a2, 5), (1, -2, 7, 7)]
    table, failures = hl.aggregate(_entries(rows))
    assert failures == {}
    assert _counted(table) == {(1, -1, a1, 5): 2, (1, -1, a1, 6): 1, (2, -1, a2, 5): 1, (1, -2, 7, 7): 1}
    assert table.column("tid").to_pylist() == sorted(table.column("tid").to_pylist())
    # and the shortcut itself (no collision) gives the same counts
    plain, _ = hl.aggregate(_entries([(1, -1, a1, 5), (1, -1, a1, 5), (1, -2, 7, 7)]))
    assert _counted(plain) == {(1, -1, a1, 5): 2, (1, -2, 7, 7): 1}


def test_error_entries_fail_their_table_only() -> None:
    from r2d2.containment import hashset_local as hl

    good = _entries([(1, -1, 10, 10), (2, -1, 11, 11)])
    error = pa.table({"tid": pa.array([2], pa.int64()), "col": pa.array([ERROR], pa.int32()),
                      "a": pa.array([0], pa.int64()), "b": pa.array([0], pa.int64()),
                      "sig": pa.array([b"t2: cannot read file f.parquet"]), "cnt": pa.array([1], pa.int64())})
    table, failures = hl.aggregate(pa.concat_tables([good, error]))
    assert failures == {2: "t2: cannot read file f.parquet"}
    assert _counted(table) == {(1, -1, 10, 10): 1}
