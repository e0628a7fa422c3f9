"""`calibrate`: time real rebuilds on the current engine and fit the latency model.

A calibration rebuild is what a restore does — read the parent through the lake reader, select rows,
project columns, write Parquet through the same cast-and-write path as :mod:`.rebuild` — on a
projection (the first half of the columns) and a selection (``min <= c <= midpoint`` on the first
integer column with exact statistics, else every row) of real tables of the catalog, spread over
their sizes; when the catalog has fewer than two usable sizes, of tables generated for the purpose.
Each rebuild is timed twice (after one unmeasured warm-up) and the faster run kept.
``scan_bytes`` is measured as the plan estimates it (bytes of the projected columns). The fit is
:meth:`ThroughputModel.fit` (non-negative least squares of ``seconds = overhead + bytes / rate``).
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute
import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from r2d2.catalog import Catalog
from r2d2.config import Settings
from r2d2.optimize.model import ThroughputModel
from r2d2.reconstruct.rebuild import write_rebuilt
from r2d2.reconstruct.recipe import column_json
from r2d2.types import Family, TableProfile

MIN_ROWS, MAX_ROWS = 20_000, 2_000_000  # generated tables span two decades of sizes
REPEATS = 2  # each rebuild is timed twice; the faster run is kept (less scheduling noise)


def generated_rows(samples: int) -> list[int]:
    return sorted({int(round(n, -3)) for n in np.geomspace(MIN_ROWS, MAX_ROWS, max(2, samples))})


def calibration_recipe(profile: TableProfile, work: Path) -> tuple[dict[str, Any], int]:
    """A recipe rebuilding a projection + selection of ``profile``, and the bytes it scans."""
    cols = list(profile.supported_columns)
    chosen = cols[: max(1, (len(cols) + 1) // 2)]
    selection: dict[str, Any] = {"kind": "all", "distinct": False}
    for c in cols:
        st = profile.stats.get(c.key)
        if c.family is Family.INTEGER and st and st.min_exact and st.max_exact and st.min is not None:
            selection = {"kind": "predicate", "column": c.name, "family": str(c.family), "min": st.min,
                         "max": (int(st.min) + int(st.max)) // 2, "nulls": False, "distinct": False}
            if c not in chosen:
                chosen.append(c)
            break
    recipe = {"child": {"location": profile.location, "format": "parquet",
                        "columns": [column_json(c) for c in chosen]},
              "parent": {"profile": profile.to_json()},
              "projection": [{"child": c.name, "parent": c.name} for c in chosen],
              "selection": selection, "store": str(work)}
    return recipe, profile.scan_bytes([c.name for c in chosen])


def time_rebuild(spark: SparkSession, profile: TableProfile, work: Path) -> tuple[int, float]:
    """(bytes scanned, seconds) of one calibration rebuild of ``profile``."""
    recipe, scan = calibration_recipe(profile, work)
    target = work / f"rebuilt-{uuid.uuid4().hex[:8]}"
    t0 = time.perf_counter()
    write_rebuilt(spark, recipe, target)
    seconds = time.perf_counter() - t0
    shutil.rmtree(target, ignore_errors=True)
    return scan, seconds


def generate_tables(folder: Path, rows: Sequence[int], seed: int = 1) -> list[TableProfile]:
    """Parquet tables of the given row counts (ids, a category, an amount, a text), profiled."""
    from r2d2.lake.discover import discover
    from r2d2.profile.profiler import profile_tables

    rng = np.random.default_rng(seed)
    for n in rows:
        d = folder / f"t{n:09d}"
        d.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({
            "id": np.arange(n, dtype=np.int64),
            "cat": rng.integers(0, 100, n),
            "amount": np.round(rng.uniform(0, 1000, n), 2),
            "note": pa.compute.binary_join_element_wise(
            "n", pa.compute.cast(pa.array(rng.integers(0, 1_000_000, n)), pa.string()), ""),
        }), d / "part-0.parquet")
    found = discover([str(folder)])
    outcomes = profile_tables(found.tables, spark_factory=lambda: None)  # type: ignore[arg-type,return-value]
    return sorted((o.profile for o in outcomes if o.profile is not None), key=lambda p: p.num_bytes)


def catalog_tables(catalog: Catalog, samples: int) -> list[TableProfile]:
    usable = [r.profile for r in catalog.list_tables(status="active", order="bytes")
              if r.profile is not None and r.format in ("parquet", "delta") and (r.num_rows or 0) > 0
              and r.profile.supported_columns]
    usable.sort(key=lambda p: p.num_bytes)
    if len({p.num_bytes for p in usable}) < 2:
        return []
    idx = np.unique(np.linspace(0, len(usable) - 1, min(samples, len(usable))).round().astype(int))
    return [usable[i] for i in idx]


def calibrate(catalog: Catalog, settings: Settings, spark_factory: Callable[[], SparkSession], *,
              samples: int = 6, source: str = "auto", say: Callable[[str], None] = lambda _m: None,
              ) -> tuple[ThroughputModel, list[dict[str, Any]], int]:
    """Time rebuilds, fit and store the model; returns (model, samples, calibration id)."""
    work = settings.work_dir / f"calibrate-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        profiles = catalog_tables(catalog, samples) if source in ("auto", "catalog") else []
        origin = "catalog"
        if not profiles:
            if source == "catalog":
                from r2d2.errors import PlanError

                raise PlanError("the catalog has fewer than two usable tables of different sizes")
            origin = "generated"
            profiles = generate_tables(work / "lake", generated_rows(samples))
        spark = spark_factory()
        time_rebuild(spark, profiles[0], work)  # warm-up (JIT, first job), not measured
        measured: list[dict[str, Any]] = []
        for p in profiles:
            runs = [time_rebuild(spark, p, work) for _ in range(REPEATS)]
            scan, seconds = runs[0][0], min(r[1] for r in runs)
            say(f"  {p.location}: {scan} bytes in {seconds:.2f} s")
            measured.append({"location": p.location, "bytes": scan, "seconds": seconds, "source": origin})
        model = ThroughputModel.fit([(int(m["bytes"]), float(m["seconds"])) for m in measured])
        cid = catalog.add_calibration(engine=f"spark {spark.version} {settings.spark_master}",
                                      bytes_per_s=model.bytes_per_s, overhead_s=model.overhead_s,
                                      samples=measured)
        return model, measured, cid
    finally:
        shutil.rmtree(work, ignore_errors=True)
