"""Stage 3's job shape (sizes the Spark job is given)."""

from __future__ import annotations

from r2d2.containment.sketch_job import REDUCE_BYTES, _reduce_tasks


def test_stage3_reduce_tasks_fill_whole_waves() -> None:
    assert _reduce_tasks(12 << 20, 8, 2) == 2  # small batch: one task per core
    assert _reduce_tasks(int(2.2 * REDUCE_BYTES), 8, 2) == 4  # 3 needed: a second full wave
    assert _reduce_tasks(100 * REDUCE_BYTES, 8, 2) == 8  # capped by the session's shuffle partitions
    assert _reduce_tasks(5 * REDUCE_BYTES, 200, 4) == 8
    assert _reduce_tasks(0, 8, 0) == 1
