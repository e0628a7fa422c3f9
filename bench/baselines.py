"""Exact containment baselines without R2D2's pruning, to benchmark detection against.

Both baselines use R2D2's canonical row hash (:mod:`r2d2.containment.hashing`, 128 bits as two
``xxhash64``) and start from the schema stage only (:func:`r2d2.containment.schema_graph.schema_candidates`):
no min-max, MinHash, probe or transitive pruning. Both return the same edge shape as ``detect``:
:class:`r2d2.containment.report.EdgeOut`, a duplicate pair reported once with the lexicographically
smaller location as parent, in a :class:`bench.result.BaselineResult` whose ``bytes_read`` is the sum
of the scanned columns' bytes (:func:`r2d2.containment.hashing.column_bytes`), per table scan.

* :func:`hash_join_all` — "the strongest exact method without pruning". Every table in a schema
  candidate is read once (same-schema plain Parquet tables share one scan of their files, as in
  R2D2), and hashed once per distinct projection it needs: for a table ``T`` and each distinct column
  set ``S`` of its schema-compatible children, ``T`` projected on ``S``; for a child, its own full
  column set. Hash sets ``(sid, tid, a, b, cnt)`` are written per batch of tables; containment is then
  one batched join *within each schema-compatible group* (``sid``): every child's distinct row hashes
  joined on ``(sid, a, b)`` with every other group member's projected hashes, counted per
  ``(child, parent)``. ``missing = child distinct rows - found``; contained iff ``missing == 0``;
  multiset iff no child row count exceeds the parent's. Pairs that share no row never appear in the
  join (their missing count is the child's distinct row count, so they are not contained).
* :func:`naive_pairwise` — every schema-compatible pair verified by its own Spark jobs: the child's
  row hashes ``left_anti`` joined with the parent's projected row hashes (one job, stops at the first
  missing row); when nothing is missing, a second job compares row counts for the multiset flag.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import reduce
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from bench.result import BaselineResult, edge_set
from r2d2.containment import hashing
from r2d2.containment.candidates import Candidate
from r2d2.containment.report import EdgeOut
from r2d2.lake.read import group_key, groupable, read_table, read_tagged
from r2d2.types import Column, Family, TableProfile

__all__ = ["BaselineResult", "edge_set", "hash_join_all", "naive_pairwise"]


# --------------------------------------------------------------------------- shared helpers


def _schema_id(profile: TableProfile) -> tuple[tuple[str, Family], ...]:
    """A child's column set: sorted (key, family) of its (all supported) columns."""
    return tuple(sorted((c.key, c.family) for c in profile.supported_columns))


def _same_columns(a: TableProfile, b: TableProfile) -> bool:
    # the rule of r2d2.containment.pipeline._relation
    return ({c.key for c in a.supported_columns} == {c.key for c in b.supported_columns}
            and len(a.columns) == len(b.columns))


def _to_edges(contained: Mapping[tuple[int, int], bool], profiles: Mapping[int, TableProfile]) -> list[EdgeOut]:
    """(parent, child) → multiset, into edges; duplicates once, smaller location as parent."""
    out: list[EdgeOut] = []
    for (parent, child), multiset in contained.items():
        p, c = profiles[parent], profiles[child]
        duplicate = (child, parent) in contained and _same_columns(p, c)
        if duplicate and p.location > c.location:
            continue
        out.append(EdgeOut(p.location, c.location, "duplicate" if duplicate else "contains", True,
                           bool(multiset), "baseline"))
    return sorted(out, key=lambda e: (e.parent, e.child))


def _projection(profile: TableProfile, names: Sequence[str]) -> list[Column]:
    by_name = {c.name: c for c in profile.columns}
    return [by_name[n] for n in names]


# --------------------------------------------------------------------------- hash join


def hash_join_all(spark: SparkSession, profiles: Mapping[int, TableProfile], candidates_schema: Sequence[Candidate],
                  *, work_dir: Path, batch_tables: int = 128, join_partitions: int = 64) -> BaselineResult:
    """All schema candidates decided by one read per table and a hash join per schema group."""
    t0 = time.perf_counter()
    work = Path(work_dir) / f"hashjoin-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True, exist_ok=True)
    # schema-compatible groups: one id per distinct child column set
    sids: dict[tuple, int] = {}
    child_sid: dict[int, int] = {}
    # per table: sid -> parent column names of that projection (sorted by child key)
    projections: dict[int, dict[int, tuple[str, ...]]] = {}
    for cand in candidates_schema:
        child = cand.pair.child
        if child not in child_sid:
            key = _schema_id(profiles[child])
            sid = child_sid[child] = sids.setdefault(key, len(sids))
            projections.setdefault(child, {})[sid] = tuple(
                c.name for c in hashing.ordered_columns(profiles[child]))
        sid = child_sid[child]
        projections.setdefault(cand.pair.parent, {}).setdefault(sid, tuple(n for _, n in cand.column_map))
    wanted = {(c.pair.parent, c.pair.child) for c in candidates_schema}

    # scan units: same-schema plain Parquet tables share one scan, with the union of their projections
    units: dict[object, list[int]] = {}
    for tid in sorted(projections):
        p = profiles[tid]
        units.setdefault((group_key(p), "g") if groupable(p) else ("single", tid), []).append(tid)
    unit_list = list(units.values())
    jobs = 0
    bytes_read = 0
    n_projections = 0
    paths: list[str] = []

    def frame(tids: list[int]) -> DataFrame:
        proj: dict[int, tuple[str, ...]] = {}
        for tid in tids:
            proj.update(projections[tid])
        first = profiles[tids[0]]
        if len(tids) > 1:
            df = read_tagged(spark, [(profiles[t], {"tid": t}) for t in tids])
            tid_sql = "tid"
        else:
            df = read_table(spark, first)
            tid_sql = f"{tids[0]}L"
        entries = []
        for sid, names in sorted(proj.items()):
            h1, h2 = hashing.row_hashes(df, _projection(first, names))
            entries.append(f"named_struct('sid', {sid}L, 'a', {h1}, 'b', {h2})")
        return (df.selectExpr(f"CAST({tid_sql} AS BIGINT) AS tid", f"explode(array({', '.join(entries)})) AS e")
                .selectExpr("e.sid AS sid", "tid", "e.a AS a", "e.b AS b"))

    # batches of about `batch_tables` tables (a scan unit is never split)
    batches: list[list[list[int]]] = [[]]
    size = 0
    for unit in unit_list:
        if size and size + len(unit) > batch_tables:
            batches.append([])
            size = 0
        batches[-1].append(unit)
        size += len(unit)
    try:
        for batch in batches:
            if not batch:
                continue
            union = reduce(DataFrame.unionAll, [frame(u) for u in batch])
            path = str(work / f"hs-{len(paths):04d}")
            union.groupBy("sid", "tid", "a", "b").agg(F.count(F.lit(1)).alias("cnt")).write.parquet(path)
            paths.append(path)
            jobs += 1
            for unit in batch:
                cols: set[str] = set()
                for tid in unit:
                    for names in projections[tid].values():
                        cols.update(names)
                for tid in unit:
                    n_projections += len(projections[tid])
                    bytes_read += profiles[tid].scan_bytes(sorted(cols))
        t_hash = time.perf_counter() - t0

        # containment: each child's distinct rows joined with its group's hash sets
        old = spark.conf.get("spark.sql.shuffle.partitions")
        spark.conf.set("spark.sql.shuffle.partitions", str(join_partitions))
        try:
            hs = spark.read.parquet(*paths)
            childmap = spark.createDataFrame(sorted(child_sid.items()), "tid long, sid long")
            kids = hs.join(F.broadcast(childmap), ["tid", "sid"]).select(
                "sid", F.col("tid").alias("child"), "a", "b", F.col("cnt").alias("ccnt"))
            distinct = {r["child"]: int(r["n"]) for r in kids.groupBy("child").agg(F.count(F.lit(1)).alias("n"))
                        .collect()}
            jobs += 1
            par = hs.select("sid", F.col("tid").alias("parent"), "a", "b", F.col("cnt").alias("pcnt"))
            found = (kids.join(par, ["sid", "a", "b"]).where(F.col("child") != F.col("parent"))
                     .groupBy("child", "parent")
                     .agg(F.count(F.lit(1)).alias("found"),
                          F.sum(F.when(F.col("ccnt") > F.col("pcnt"), 1).otherwise(0)).alias("over"))
                     .collect())
            jobs += 1
        finally:
            spark.conf.set("spark.sql.shuffle.partitions", old)
        contained: dict[tuple[int, int], bool] = {}
        for r in found:
            pair = (int(r["parent"]), int(r["child"]))
            if pair in wanted and int(r["found"]) == distinct.get(pair[1], -1):
                contained[pair] = int(r["over"]) == 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    edges = _to_edges(contained, profiles)
    return BaselineResult(edges, time.perf_counter() - t0, bytes_read, jobs, stats={
        "tables_read": len(projections), "scan_units": len(unit_list), "batches": len(paths),
        "groups": len(sids), "projections_hashed": n_projections, "pairs": len(wanted),
        "pairs_sharing_a_row": len(found), "hash_seconds": round(t_hash, 3)})


# --------------------------------------------------------------------------- naive pairwise


def naive_pairwise(spark: SparkSession, profiles: Mapping[int, TableProfile], candidates: Sequence[Candidate],
                   *, threads: int = 1) -> BaselineResult:
    """Every candidate pair verified by its own Spark anti-join (1 job; 2 when contained)."""
    t0 = time.perf_counter()

    def hashes(profile: TableProfile, names: Sequence[str]) -> DataFrame:
        df = read_table(spark, profile)
        h1, h2 = hashing.row_hashes(df, _projection(profile, names))
        return df.selectExpr(f"{h1} AS a", f"{h2} AS b")

    def one(cand: Candidate) -> tuple[Candidate, bool, bool | None, int, int]:
        child, parent = profiles[cand.pair.child], profiles[cand.pair.parent]
        cnames = [c.name for c in hashing.ordered_columns(child)]
        pnames = [n for _, n in cand.column_map]
        ch, ph = hashes(child, cnames), hashes(parent, pnames)
        read = child.scan_bytes(cnames) + parent.scan_bytes(pnames)
        if ch.join(ph, ["a", "b"], "left_anti").limit(1).count() > 0:
            return cand, False, None, read, 1
        cc = ch.groupBy("a", "b").agg(F.count(F.lit(1)).alias("c"))
        pc = ph.groupBy("a", "b").agg(F.count(F.lit(1)).alias("p"))
        over = cc.join(pc, ["a", "b"]).where(F.col("c") > F.col("p")).limit(1).count()
        return cand, True, over == 0, 2 * read, 2

    if threads > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            outcomes = list(pool.map(one, candidates))
    else:
        outcomes = [one(c) for c in candidates]
    contained = {(c.pair.parent, c.pair.child): bool(ms) for c, ok, ms, _, _ in outcomes if ok}
    edges = _to_edges(contained, profiles)
    return BaselineResult(edges, time.perf_counter() - t0, sum(o[3] for o in outcomes), sum(o[4] for o in outcomes),
                          stats={"pairs": len(candidates), "contained_pairs": len(contained), "threads": threads})
