"""Stages 4 and 5: row probe and exact verification, batched over parents.

Each parent is scanned once per distinct child column set ("group"): its projected 128-bit row
hashes are grouped with counts and written to the work folder. The probe joins every child's
bottom-k sample with its group's hashes — one miss proves non-containment. Exact verification
left-joins each surviving child's full row-hash set (written in stage 3) with the same parent
hashes: zero missing rows means contained; comparing counts gives the multiset flag.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from r2d2.containment import hashing
from r2d2.containment.candidates import Candidate
from r2d2.containment.sketch_job import ROW, TableSketch
from r2d2.engine.batch import chunked
from r2d2.lake.read import group_key, groupable, read_table, read_tagged
from r2d2.types import TableProfile


@dataclass(frozen=True)
class PairResult:
    candidate: Candidate
    stage: str  # "probe" or "exact"
    contained: bool
    multiset: bool | None
    evidence: dict


@dataclass(frozen=True)
class VerifyOutcome:
    results: list[PairResult]
    failures: list[tuple[Candidate, str]]
    probe_bytes: int
    exact_bytes: int
    jobs: int
    probe_seconds: float = 0.0
    exact_seconds: float = 0.0


def _dataset_bytes(path: str) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*.parquet"))


def _group_key(c: Candidate) -> tuple[int, tuple[str, ...]]:
    return c.pair.parent, tuple(parent_name for _, parent_name in c.column_map)


def covers_all(profile: TableProfile, names: Sequence[str]) -> bool:
    """Whether hashing ``profile`` on ``names`` is its full row hash (the hash stage 3 can keep)."""
    return sorted(n.lower() for n in names) == sorted(c.key for c in profile.supported_columns)


def reusable_rowset(profile: TableProfile, names: Sequence[str], sketch: TableSketch | None) -> bool:
    return sketch is not None and sketch.rowset_path is not None and covers_all(profile, names)


def _parent_hashes(spark: SparkSession, groups: Mapping[int, tuple[int, tuple[str, ...]]],
                   profiles: Mapping[int, TableProfile], sketches: Mapping[int, TableSketch], out: Path) -> str:
    """Write ``(gid, a, b, pcnt)``: each group's parent rows hashed on the group's columns, counted.

    A group on all of the parent's columns reuses the parent's row-hash set from stage 3 (no scan).
    Otherwise a parent is scanned once per batch whatever the number of its groups, and same-schema
    Parquet parents projected on the same columns share one scan of all their files.
    """
    shared: dict[object, list[int]] = {}
    frames = []
    for gid, (parent, names) in groups.items():
        profile = profiles[parent]
        sketch = sketches.get(parent)
        if reusable_rowset(profile, names, sketch):
            assert sketch is not None and sketch.rowset_path is not None
            frames.append(spark.read.parquet(sketch.rowset_path)
                          .where((F.col("col") == ROW) & (F.col("tid") == parent))
                          .selectExpr(f"{gid}L AS gid", "a", "b", "cnt AS w"))
            continue
        key = (group_key(profile), names) if groupable(profile) else ("single", parent)
        shared.setdefault(key, []).append(gid)
    for gids in shared.values():
        parent, names = groups[gids[0]]
        profile = profiles[parent]
        by_name = {c.name: c for c in profile.columns}
        if len(gids) > 1 and groupable(profile):
            df = read_tagged(spark, [(profiles[groups[g][0]], {"__gid": g}) for g in gids])
            h1, h2 = hashing.row_hashes(df, [by_name[n] for n in names])
            frames.append(df.selectExpr("CAST(`__gid` AS BIGINT) AS gid", f"{h1} AS a", f"{h2} AS b", "1L AS w"))
            continue
        df = read_table(spark, profile)
        # One scan of this parent for all of its groups (distinct child column sets).
        entries = []
        for gid in gids:
            h1, h2 = hashing.row_hashes(df, [by_name[n] for n in groups[gid][1]])
            entries.append(f"named_struct('gid', {gid}L, 'a', {h1}, 'b', {h2})")
        frames.append(df.selectExpr(f"explode(array({', '.join(entries)})) AS e")
                      .selectExpr("e.gid AS gid", "e.a AS a", "e.b AS b", "1L AS w"))
    grouped = reduce(DataFrame.unionAll, frames).groupBy("gid", "a", "b").agg(F.sum("w").alias("pcnt"))
    path = str(out / f"ph-{uuid.uuid4().hex}")
    grouped.write.parquet(path)
    return path


def verify(
    spark: SparkSession,
    candidates: Sequence[Candidate],
    *,
    profiles: Mapping[int, TableProfile],
    sketches: Mapping[int, TableSketch],
    work_dir: Path,
    batch_size: int,
) -> VerifyOutcome:
    """Probe, then exactly verify, every candidate; parents batched ``batch_size`` groups per job."""
    work_dir.mkdir(parents=True, exist_ok=True)
    by_group: dict[tuple[int, tuple[str, ...]], list[Candidate]] = {}
    for cand in candidates:
        by_group.setdefault(_group_key(cand), []).append(cand)
    results: list[PairResult] = []
    failures: list[tuple[Candidate, str]] = []
    probe_bytes = exact_bytes = jobs = 0
    probe_seconds = exact_seconds = 0.0
    for keys in chunked(list(by_group), batch_size):
        groups = dict(enumerate(keys))
        t0 = time.perf_counter()
        try:
            path = _parent_hashes(spark, groups, profiles, sketches, work_dir)
        except Exception as exc:
            if len(keys) > 1:  # isolate the failing parent(s)
                sub = verify(spark, [c for k in keys for c in by_group[k]], profiles=profiles,
                             sketches=sketches, work_dir=work_dir, batch_size=max(1, len(keys) // 2))
                results += sub.results
                failures += sub.failures
                probe_bytes, exact_bytes, jobs = (probe_bytes + sub.probe_bytes,
                                                  exact_bytes + sub.exact_bytes, jobs + sub.jobs)
                probe_seconds += sub.probe_seconds
                exact_seconds += sub.exact_seconds
                continue
            from r2d2.engine.batch import short_error

            failures += [(c, short_error(exc)) for c in by_group[keys[0]]]
            continue
        jobs += 1
        probe_bytes += sum(sketches[p].rowset_bytes if reusable_rowset(profiles[p], names, sketches.get(p))
                           else hashing.column_bytes(profiles[p], names) for p, names in keys)
        hashes_bytes = _dataset_bytes(path)
        parent_hashes = spark.read.parquet(path)
        pairs = [(gid, c) for gid, key in groups.items() for c in by_group[key]]
        survivors = _probe(spark, pairs, parent_hashes, sketches, results)
        jobs += 1
        probe_bytes += hashes_bytes
        probe_seconds += time.perf_counter() - t0
        if survivors:
            t1 = time.perf_counter()
            exact_bytes += hashes_bytes + sum(sketches[c].rowset_bytes for c in {c.pair.child for _, c in survivors})
            _exact(spark, survivors, parent_hashes, sketches, results)
            exact_seconds += time.perf_counter() - t1
            jobs += 1
    return VerifyOutcome(results, failures, probe_bytes, exact_bytes, jobs, probe_seconds, exact_seconds)


def _probe(spark: SparkSession, pairs: list[tuple[int, Candidate]], parent_hashes: DataFrame,
           sketches: Mapping[int, TableSketch], results: list[PairResult]) -> list[tuple[int, Candidate]]:
    cols: dict[str, list[int]] = {"pair": [], "gid": [], "a": [], "b": []}
    for i, (gid, cand) in enumerate(pairs):
        for a, b in sketches[cand.pair.child].sample:
            cols["pair"].append(i)
            cols["gid"].append(gid)
            cols["a"].append(a)
            cols["b"].append(b)
    table = pa.table({k: pa.array(v, pa.int64()) for k, v in cols.items()})
    samples = spark.createDataFrame(table.to_pandas())
    hits = (samples.join(parent_hashes, ["gid", "a", "b"], "left")
            .groupBy("pair").agg(F.count(F.lit(1)).alias("n"), F.count("pcnt").alias("found")).collect())
    found = {r["pair"]: (r["n"], r["found"]) for r in hits}
    survivors = []
    for i, (gid, cand) in enumerate(pairs):
        n, hit = found.get(i, (0, 0))
        if hit < n:
            results.append(PairResult(cand, "probe", False, None, {"sample": n, "missing": n - hit}))
        else:
            survivors.append((gid, cand))
    return survivors


def _exact(spark: SparkSession, pairs: list[tuple[int, Candidate]], parent_hashes: DataFrame,
           sketches: Mapping[int, TableSketch], results: list[PairResult]) -> None:
    mapping = spark.createDataFrame(
        [(i, gid, cand.pair.child) for i, (gid, cand) in enumerate(pairs)], "pair long, gid long, tid long")
    paths = sorted({p for _, c in pairs if (p := sketches[c.pair.child].rowset_path)})
    children = {c.pair.child for _, c in pairs}
    rows = (spark.read.parquet(*paths).where((F.col("col") == ROW) & F.col("tid").isin(list(children)))
            .select("tid", "a", "b", "cnt"))
    joined = rows.join(F.broadcast(mapping), "tid").join(parent_hashes, ["gid", "a", "b"], "left")
    stats = joined.groupBy("pair").agg(
        F.count(F.lit(1)).alias("distinct_rows"),
        F.sum(F.when(F.col("pcnt").isNull(), 1).otherwise(0)).alias("missing"),
        F.sum(F.when(F.col("cnt") > F.coalesce(F.col("pcnt"), F.lit(0)), 1).otherwise(0)).alias("over"),
    ).collect()
    by_pair = {r["pair"]: r for r in stats}
    for i, (_, cand) in enumerate(pairs):
        r = by_pair.get(i)
        missing = int(r["missing"]) if r else 0
        over = int(r["over"]) if r else 0
        evidence = {"distinct_rows": int(r["distinct_rows"]) if r else 0, "missing": missing,
                    "rows_over_count": over}
        results.append(PairResult(cand, "exact", missing == 0, over == 0 if missing == 0 else None, evidence))
