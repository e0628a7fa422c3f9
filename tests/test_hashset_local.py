"""Stage 3's hash set counted on the driver (small batches) equals the one Spark's aggregation writes."""

from __future__ import annotations

from pathlib import Path

import lakes
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from r2d2.containment.sketch_job import SketchRequest, _entry_bytes, _write_hash_set
from r2d2.lake.discover import discover
from r2d2.profile.profiler import profile_tables

KEYS = ["tid", "col", "a", "b", "cnt"]


def _content(path: str) -> tuple[pa.Table, pa.Table]:
    """(row-set entries, signature entries) of a hash-set dataset, in one order whatever wrote it."""
    table = ds.dataset(path, format="parquet").to_table()
    order = [(k, "ascending") for k in KEYS]
    sets = table.filter(pc.field("col") < 0).select(KEYS).sort_by(order)
    sigs = table.filter(pc.field("col") >= 0).select([*KEYS, "sig"]).sort_by(order)
    return sets, sigs


def _sorted_by_table(path: str) -> bool:
    tids = ds.dataset(path, format="parquet").to_table(columns=["tid", "col"])
    keys = list(zip(tids.column("tid").to_pylist(), tids.column("col").to_pylist(), strict=True))
    return keys == sorted(keys)


def test_driver_aggregation_writes_the_same_hash_set_as_spark(spark, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    # Same schema (one shared scan, where only some tables keep a projection set), duplicate rows
    # (counts above 1), nulls, an empty table, and a table of another schema.
    for i, n in enumerate((4000, 700, 0, 900)):
        x = rng.integers(0, 300, n)
        lakes.parquet(tmp_path / "lake" / f"t{i}", {"x": x, "y": np.where(x % 7 == 0, None, x % 5)})
    lakes.parquet(tmp_path / "lake" / "u", {"z": rng.integers(0, 50, 2000), "w": rng.random(2000)})
    found = discover([str(tmp_path / "lake")])
    by_name = {Path(o.location).name: o.profile for o in profile_tables(found.tables, spark_factory=lambda: spark)}
    reqs = [SketchRequest(1, by_name["t0"], ("x", "y"), rowset=True, projections=(("x",),)),
            SketchRequest(2, by_name["t1"], ("x", "y"), rowset=True),
            SketchRequest(3, by_name["t2"], ("x", "y"), rowset=True, projections=(("x",),)),
            SketchRequest(4, by_name["t3"], ("x", "y"), rowset=False, projections=(("y",), ("x",))),
            SketchRequest(5, by_name["u"], ("z", "w"), rowset=True)]
    size = _entry_bytes(reqs)
    assert size > 0
    by_spark = _write_hash_set(spark, reqs, tmp_path / "hs", num_perm=16, seed=1, local_bytes=size - 1)
    on_driver = _write_hash_set(spark, reqs, tmp_path / "hs", num_perm=16, seed=1, local_bytes=size)
    assert len(list(Path(by_spark).glob("*.parquet"))) >= 1
    assert [p.name for p in Path(on_driver).iterdir()] == ["part-00000.parquet"]  # one file, no leftovers
    assert not list((tmp_path / "hs").glob("*-raw"))  # the map output is removed once counted
    sets, sigs = _content(by_spark)
    l_sets, l_sigs = _content(on_driver)
    assert l_sets.equals(sets)
    assert sets.num_rows > 0 and pc.max(sets.column("cnt")).as_py() > 1  # duplicates were counted
    assert {(-1, 1), (-2, 1), (-2, 4), (-3, 4), (-1, 5)} <= set(zip(sets.column("col").to_pylist(),
                                                                    sets.column("tid").to_pylist(), strict=True))
    # Partial signatures: one row each on both paths, but which rows depends on Spark's batching.
    merged = {}
    for table in (sigs, l_sigs):
        per_set: dict[tuple[int, int], np.ndarray] = {}
        for tid, col, sig in zip(table.column("tid").to_pylist(), table.column("col").to_pylist(),
                                 table.column("sig").to_pylist(), strict=True):
            part = np.frombuffer(sig, dtype=np.uint32)
            per_set[(tid, col)] = part if (tid, col) not in per_set else np.minimum(per_set[(tid, col)], part)
        merged[id(table)] = per_set
    a, b = merged.values()
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert set(l_sigs.column("cnt").to_pylist()) == {1}
    assert _sorted_by_table(on_driver)
