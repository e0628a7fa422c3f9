"""Stage 3's summary read on the driver equals the two Spark jobs' answer on a real hash set."""

from __future__ import annotations

from pathlib import Path

import lakes
import numpy as np

from r2d2.containment.sketch_job import SketchRequest, _collect_samples, _collect_summary, _write_hash_set, sample_limit
from r2d2.containment.summary_local import summarize
from r2d2.lake.discover import discover
from r2d2.profile.profiler import profile_tables


def test_driver_summary_equals_spark_summary(spark, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    for i, n in enumerate((3000, 50, 0)):
        columns = {"x": rng.integers(0, 400, n), "y": rng.integers(0, 3, n).astype(np.int32)}
        lakes.parquet(tmp_path / "lake" / f"t{i}", columns)
    found = discover([str(tmp_path / "lake")])
    by_name = {Path(o.location).name: o.profile for o in profile_tables(found.tables, spark_factory=lambda: spark)}
    profiles = [by_name[f"t{i}"] for i in range(3)]
    reqs = [SketchRequest(i + 1, p, ("x", "y"), rowset=True, projections=((("x",),) if i == 0 else ()))
            for i, p in enumerate(profiles)]
    path = _write_hash_set(spark, reqs, tmp_path / "hs", num_perm=16, seed=1)
    k = 20  # small: samples hold a fraction of the 3000-row table's set
    sigs, counts = _collect_summary(spark, path)
    samples = _collect_samples(spark, path, counts, k)
    l_sigs, l_counts, l_samples = summarize(path, lambda d: sample_limit(d, k))
    assert l_counts == counts and counts[(1, -1)][0] == 3000 and (1, -2) in counts
    assert sorted(l_samples) == sorted(samples) and 0 < len(samples) < sum(d for _, d in counts.values())
    assert sigs.keys() == l_sigs.keys() and len(sigs) == 4  # x and y of the two non-empty tables
    for key, sig in sigs.items():
        assert np.array_equal(sig, l_sigs[key])
