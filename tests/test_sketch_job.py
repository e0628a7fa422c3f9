"""Stage 3's job shape: work items per file, task and reduce sizes."""

from __future__ import annotations

from pathlib import Path

import lakes

from r2d2.containment.sketch_job import plan_works
from r2d2.containment.sketch_spark import REDUCE_BYTES, reduce_tasks
from r2d2.containment.sketches import ROW, SketchRequest
from r2d2.engine.items import balanced
from r2d2.lake.discover import discover
from r2d2.profile.profiler import profile_tables


def test_stage3_reduce_tasks_fill_whole_waves() -> None:
    assert reduce_tasks(12 << 20, 8, 2) == 2  # small batch: one task per core
    assert reduce_tasks(int(2.2 * REDUCE_BYTES), 8, 2) == 4  # 3 needed: a second full wave
    assert reduce_tasks(100 * REDUCE_BYTES, 8, 2) == 8  # capped by the session's shuffle partitions
    assert reduce_tasks(5 * REDUCE_BYTES, 200, 4) == 8
    assert reduce_tasks(0, 8, 0) == 1


def test_tasks_are_balanced_by_weight() -> None:
    weights = [100, 1, 1, 1, 50, 50]
    parts = balanced(weights, 2)
    assert sorted(i for p in parts for i in p) == list(range(6))
    assert sorted(sum(weights[i] for i in p) for p in parts) == [101, 102]
    assert balanced([5, 5], 8) == [[0], [1]]  # never more tasks than items, never an empty one


def test_one_work_item_per_file_with_the_columns_each_needs(tmp_path: Path) -> None:
    lakes.parquet(tmp_path / "t", {"B": [1, 2], "a": ["x", "y"], "c": [1.5, 2.5]}, name="p0.parquet")
    lakes.parquet(tmp_path / "t", {"B": [3], "a": ["z"], "c": [0.5]}, name="p1.parquet")
    (profile,) = [o.profile for o in profile_tables(discover([str(tmp_path / "t")]).tables,
                                                     spark_factory=lambda: None)]  # type: ignore[arg-type,return-value]
    assert profile is not None
    works = plan_works([SketchRequest(7, profile, ("c",), rowset=True, projections=(("a",), ("B", "a")))])
    assert [(w.index, Path(w.file.path).name) for w in works] == [(0, "p0.parquet"), (1, "p1.parquet")]
    table = works[0].table
    assert table.tid == 7 and works[1].table is table
    names = [c.name for c in table.columns]
    assert names == ["a", "B", "c"]  # by key: the order of every row hash
    assert [names[i] for i in table.values] == ["c"]
    sets = {code: [names[i] for i in cols] for code, cols in table.rowsets}
    assert sets == {ROW: ["a", "B", "c"], -2: ["B", "a"], -3: ["a"]}  # projections keep their hash order
