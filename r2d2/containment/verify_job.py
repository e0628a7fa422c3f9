"""Stages 4 and 5: row probe and exact verification, batched over parents.

Each parent is compared on one or more distinct child column sets ("groups"); a group's parent
row hashes, with counts, normally come from the hash sets stage 3 wrote while it read the parent
(full rows, or the projection). Only a group stage 3 did not hash (a failed or stale cache) scans
the parent again: once per batch for all its groups, grouped and written to the work folder.

The probe runs on the driver, with no Spark job: stage 3 kept a *threshold sample* of every row-hash
set S, ``sample(S) = {h in S : a(h) <= limit(S)}`` (all of them, about 2k). If child C is contained
in parent P (projected), every hash of C is a hash of P; so every h in sample(C) with
``a(h) <= min(limit(C), limit(P))`` is in P with ``a(h) <= limit(P)``, hence in sample(P). One such
h missing from sample(P) proves non-containment: the probe cannot drop a true edge. (It checks about
2k · |C| / |P| hashes: fewer when the child is much smaller than the parent.)

Exact verification left-joins each surviving child's full row-hash set with its group's parent
hashes: zero missing rows means contained; comparing counts gives the multiset flag.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from r2d2.containment.candidates import Candidate, Pair
from r2d2.containment.exact_local import PairStats, TooLargeForDriver, exact_stats
from r2d2.containment.sketches import ROW, TableSketch
from r2d2.engine.batch import chunked, short_error
from r2d2.engine.local import local_frame
from r2d2.lake import fs as lakefs
from r2d2.lake.read import group_key, groupable, read_table, read_tagged
from r2d2.types import TableProfile

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class PairResult:
    candidate: Candidate
    stage: str  # "probe" or "exact"
    contained: bool
    multiset: bool | None
    evidence: dict


class Failure(NamedTuple):
    """A pair that could not be verified: why, and the table to name for it."""

    candidate: Candidate
    error: str
    table: int  # the parent, or the table whose set holds the child's rows (when that set is unreadable)


@dataclass(frozen=True)
class VerifyOutcome:
    results: list[PairResult]
    failures: list[Failure]
    probe_bytes: int  # lake bytes (parents scanned again)
    exact_bytes: int
    jobs: int
    probe_seconds: float = 0.0
    exact_seconds: float = 0.0
    exact_hashset_bytes: int = 0  # bytes of R2D2's own hash sets read (the probe reads none)
    # (distinct child rows, rows missing from the parent) of every pair measured that is not contained
    overlaps: dict[Pair, tuple[int, int]] = field(default_factory=dict)
    # tables whose stored row sets proved unreadable (the caller drops them: the next run makes them again)
    unreadable: set[int] = field(default_factory=set)


def _dataset_bytes(path: str) -> int:
    return lakefs.tree_bytes(path, ".parquet")


def _group_key(c: Candidate) -> tuple[int, tuple[str, ...]]:
    return c.pair.parent, tuple(parent_name for _, parent_name in c.column_map)


def covers_all(profile: TableProfile, names: Sequence[str]) -> bool:
    """Whether hashing ``profile`` on ``names`` is its full row hash (the hash stage 3 can keep)."""
    return sorted(n.lower() for n in names) == sorted(c.key for c in profile.supported_columns)


def reusable_rowset(profile: TableProfile, names: Sequence[str], sketch: TableSketch | None) -> bool:
    return sketch is not None and sketch.rowset_path is not None and covers_all(profile, names)


def stored_set(profile: TableProfile, names: Sequence[str], sketch: TableSketch | None) -> tuple[str, int, int] | None:
    """``(dataset, col code, bytes)`` of the row set stage 3 wrote for ``profile`` over ``names``."""
    if sketch is None:
        return None
    if reusable_rowset(profile, names, sketch):
        assert sketch.rowset_path is not None
        return sketch.rowset_path, ROW, sketch.rowset_bytes
    ps = sketch.projections.get(tuple(names))
    return (ps.path, ps.code, ps.bytes) if ps is not None else None


@dataclass(frozen=True)
class _ParentHashes:
    frame: DataFrame  # (gid, a, b, pcnt)
    scanned_bytes: int  # lake bytes read to build groups stage 3 did not hash
    hashset_bytes: int  # bytes of hash sets the frame reads
    stored: tuple[tuple[str, tuple[int, ...]], ...] = ()  # stage 3's hash-set datasets it reads, and for which tables


def _parent_hashes(spark: SparkSession, groups: Mapping[int, tuple[int, tuple[str, ...]]],
                   profiles: Mapping[int, TableProfile], sketches: Mapping[int, TableSketch],
                   out: str) -> _ParentHashes:
    """Each group's parent rows hashed on the group's columns, with counts.

    Groups stage 3 hashed are read from its hash sets (no scan). Otherwise a parent is scanned once
    per batch whatever the number of its groups, and same-schema Parquet parents projected on the
    same columns share one scan of all their files; those hashes are grouped and written once.
    """
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    from r2d2.containment import hashing

    stored: dict[str, list[tuple[int, int, int]]] = {}  # dataset -> (tid, code, gid)
    shared: dict[object, list[int]] = {}
    hashset_bytes = scanned_bytes = 0
    for gid, (parent, names) in groups.items():
        profile = profiles[parent]
        found = stored_set(profile, names, sketches.get(parent))
        if found is not None:
            stored.setdefault(found[0], []).append((parent, found[1], gid))
            hashset_bytes += found[2]
            continue
        key = (group_key(profile), names) if groupable(profile) else ("single", parent)
        shared.setdefault(key, []).append(gid)
    parts = []
    for path, entries in stored.items():
        mapping = local_frame(spark, entries, [("tid", pa.int64()), ("col", pa.int32()), ("gid", pa.int64())])
        tids = sorted({tid for tid, _, _ in entries})  # pushed down: row groups of other tables are skipped
        parts.append(spark.read.parquet(lakefs.spark_path(path)).where(F.col("tid").isin(tids))
                     .join(F.broadcast(mapping), ["tid", "col"])
                     .selectExpr("gid", "a", "b", "cnt AS pcnt"))
    frames = []
    for gids in shared.values():
        parent, names = groups[gids[0]]
        profile = profiles[parent]
        scanned_bytes += profile.scan_bytes(names)
        by_name = {c.name: c for c in profile.columns}
        if len(gids) > 1 and groupable(profile):
            df = read_tagged(spark, [(profiles[groups[g][0]], {"__gid": g}) for g in gids])
            h1, h2 = hashing.row_hashes(df, [by_name[n] for n in names])
            frames.append(df.selectExpr("CAST(`__gid` AS BIGINT) AS gid", f"{h1} AS a", f"{h2} AS b", "1L AS w"))
            continue
        df = read_table(spark, profile)
        # One scan of this parent for all of its groups (distinct child column sets).
        entries_sql = []
        for gid in gids:
            h1, h2 = hashing.row_hashes(df, [by_name[n] for n in groups[gid][1]])
            entries_sql.append(f"named_struct('gid', {gid}L, 'a', {h1}, 'b', {h2})")
        frames.append(df.selectExpr(f"explode(array({', '.join(entries_sql)})) AS e")
                      .selectExpr("e.gid AS gid", "e.a AS a", "e.b AS b", "1L AS w"))
    if frames:
        grouped = reduce(DataFrame.unionAll, frames).groupBy("gid", "a", "b").agg(F.sum("w").alias("pcnt"))
        path = lakefs.join(out, f"ph-{uuid.uuid4().hex}")
        grouped.write.parquet(lakefs.spark_path(path))
        hashset_bytes += _dataset_bytes(path)
        parts.append(spark.read.parquet(lakefs.spark_path(path)))
    read = tuple((path, tuple(sorted({tid for tid, _, _ in entries}))) for path, entries in stored.items())
    return _ParentHashes(reduce(DataFrame.unionAll, parts), scanned_bytes, hashset_bytes, read)


def verify(
    spark_factory: Callable[[], SparkSession],
    candidates: Sequence[Candidate],
    *,
    profiles: Mapping[int, TableProfile],
    sketches: Mapping[int, TableSketch],
    work_dir: str,
    batch_size: int,
    local_bytes: int = 0,
    overlap: Sequence[Candidate] = (),
    measure_pruned: bool = False,
) -> VerifyOutcome:
    """Probe, then exactly verify, every candidate; parents batched ``batch_size`` groups per job.

    A batch whose hash sets total at most ``local_bytes`` is verified on the driver with Arrow
    (no Spark job, and no session is started for it); larger ones, and parents stage 3 did not hash,
    by a Spark join.

    Overlap: the pairs of ``overlap`` (ruled out before, for containment) and, with ``measure_pruned``,
    the candidates the probe rules out are measured exactly too, on the same hash sets in the same
    pass; ``VerifyOutcome.overlaps`` has the counts of every measured pair that is not contained.
    """
    work_dir = str(work_dir)
    lakefs.makedirs(work_dir)
    by_group: dict[tuple[int, tuple[str, ...]], list[Candidate]] = {}
    for cand in candidates:
        by_group.setdefault(_group_key(cand), []).append(cand)
    results: list[PairResult] = []
    failures: list[Failure] = []
    unreadable: set[int] = set()
    probe_bytes = exact_bytes = jobs = exact_hs = 0
    probe_seconds = exact_seconds = 0.0
    t0 = time.perf_counter()
    alive: dict[tuple[int, tuple[str, ...]], list[Candidate]] = {}
    for key, cands in by_group.items():
        passed = _probe(key, cands, profiles, sketches, results)
        if passed:
            alive[key] = passed
    probe_seconds += time.perf_counter() - t0
    extra: dict[tuple[int, tuple[str, ...]], list[Candidate]] = {}  # measured for overlap only
    for cand in [*overlap, *(r.candidate for r in results if measure_pruned and r.stage == "probe")]:
        extra.setdefault(_group_key(cand), []).append(cand)
    measured = {key: [*alive.get(key, ()), *extra.get(key, ())] for key in {*alive, *extra}}
    deciding = {c.pair for cands in alive.values() for c in cands}
    overlaps: dict[Pair, tuple[int, int]] = {}
    work = deque(_batches(measured, profiles, sketches, local_bytes, batch_size))
    while work:
        keys, on_driver = work.popleft()
        groups = dict(enumerate(keys))
        t1 = time.perf_counter()
        pairs = [(gid, c) for gid, key in groups.items() for c in measured[key]]
        local = _local_sets(groups, pairs, profiles, sketches) if on_driver else None
        if local is not None:
            try:
                stats = exact_stats([(g, c.pair.child) for g, c in pairs], local[0], local[1])
            except (OSError, pa.ArrowException, TooLargeForDriver):  # a set gone missing (or too large here):
                # Spark re-scans what it must, in its batches
                work.extendleft(reversed([(part, False) for part in chunked(keys, batch_size)]))
                continue
            else:
                _record(pairs, stats, results, deciding, overlaps)
                exact_hs += local[2]
                exact_seconds += time.perf_counter() - t1
                continue
        spark = spark_factory()
        try:
            ph = _parent_hashes(spark, groups, profiles, sketches, work_dir)
            stats, unread = _children_stats(spark, pairs, ph, sketches, deciding, failures, unreadable)
        except Exception as exc:  # the parents' rows: isolate the parent(s) that fail
            if len(keys) > 1:  # isolate the failing parent(s), by Spark batches half as large (0: never on the driver)
                sub = verify(spark_factory, [c for k in keys for c in alive.get(k, ())], profiles=profiles,
                             sketches=sketches, work_dir=work_dir, batch_size=max(1, len(keys) // 2),
                             local_bytes=0, overlap=[c for k in keys for c in extra.get(k, ())])
                results += [r for r in sub.results if r.stage != "probe"]  # probed here already
                failures += sub.failures
                unreadable |= sub.unreadable
                overlaps.update(sub.overlaps)
                probe_bytes, exact_bytes, jobs = (probe_bytes + sub.probe_bytes,
                                                  exact_bytes + sub.exact_bytes, jobs + sub.jobs)
                exact_seconds += sub.exact_seconds
                exact_hs += sub.exact_hashset_bytes
                continue
            parent, names = keys[0]
            stored = stored_set(profiles[parent], names, sketches.get(parent))
            if stored is not None and unreadable_set(stored[0], (parent,)) is not None:
                unreadable.add(parent)  # not a failure of Spark's, or of the lake: its stored set is damaged
            failures += [Failure(c, short_error(exc), parent) for c in alive.get(keys[0], ())]
            continue
        jobs += 1 if ph.scanned_bytes else 0
        exact_bytes += ph.scanned_bytes
        exact_hs += ph.hashset_bytes + sum(sketches[c].rowset_bytes for c in {c.pair.child for _, c in pairs})
        _record(pairs, stats, results, deciding, overlaps, unread=unread)
        exact_seconds += time.perf_counter() - t1
        jobs += 1
    return VerifyOutcome(results, failures, probe_bytes, exact_bytes, jobs, probe_seconds, exact_seconds, exact_hs,
                         overlaps, unreadable)


def unreadable_set(path: str, tids: Sequence[int]) -> str | None:
    """Why the rows of tables ``tids`` in the hash-set dataset ``path`` cannot be read, by Arrow on the
    driver (None: they can). At least what Spark reads for them: every file's footer, the row groups
    whose ids span theirs (beyond a few values, Spark pushes an ``IN`` down as a range). Only called
    after a failure: it tells a damaged or missing set from a failure of Spark itself."""
    span = (pc.field("tid") >= min(tids)) & (pc.field("tid") <= max(tids))
    try:
        for _ in lakefs.dataset(path).to_batches(columns=["tid", "col", "a", "b", "cnt"], filter=span):
            pass
    except (OSError, pa.ArrowException) as exc:
        return short_error(exc)
    return None


def _children_stats(spark: SparkSession, pairs: list[tuple[int, Candidate]], parents: _ParentHashes,
                    sketches: Mapping[int, TableSketch], deciding: Collection[Pair], failures: list[Failure],
                    unreadable: set[int]) -> tuple[dict[int, PairStats], set[int]]:
    """:func:`_exact` of ``pairs``, and the indexes of the pairs it could not measure.

    When it fails, the sets it read are checked: a parent's set that cannot be read (a damaged file
    Spark only meets at the join) re-raises, for the caller to isolate that parent; children whose
    sets cannot be read are left out (their deciding pairs added to ``failures``, their tables to
    ``unreadable``) and the other pairs measured without them. Any other failure re-raises."""
    try:
        return _exact(spark, pairs, parents.frame, sketches), set()
    except Exception:
        if any(unreadable_set(path, tids) is not None for path, tids in parents.stored):
            raise
        children: dict[str, set[int]] = {}  # dataset -> tables whose rows the children are
        for _, cand in pairs:
            sketch = sketches[cand.pair.child]
            if sketch.rowset_path is not None:
                children.setdefault(sketch.rowset_path, set()).add(sketch.table_id)
        damaged = {path: why for path, tids in sorted(children.items())
                   if (why := unreadable_set(path, sorted(tids))) is not None}
        if not damaged:
            raise
    unread: set[int] = set()
    for i, (_, cand) in enumerate(pairs):
        sketch = sketches[cand.pair.child]
        if sketch.rowset_path in damaged:
            unread.add(i)
            unreadable.add(sketch.table_id)
            if cand.pair in deciding:  # a pair measured for overlap only just goes unmeasured
                failures.append(Failure(cand, damaged[sketch.rowset_path], sketch.table_id))
    rest = [i for i in range(len(pairs)) if i not in unread]
    stats = _exact(spark, [pairs[i] for i in rest], parents.frame, sketches) if rest else {}
    return {rest[j]: found for j, found in stats.items()}, unread


def _parent_sample(profile: TableProfile, names: Sequence[str],
                   sketch: TableSketch | None) -> tuple[int, frozenset[tuple[int, int]]] | None:
    """``(limit, hashes)`` of the threshold sample of the parent's set over ``names``, if stage 3 kept one."""
    if sketch is None:
        return None
    if reusable_rowset(profile, names, sketch) and sketch.sample_limit is not None:
        return sketch.sample_limit, frozenset(sketch.sample)
    ps = sketch.projections.get(tuple(names))
    return (ps.limit, frozenset(ps.sample)) if ps is not None else None


def _probe(key: tuple[int, tuple[str, ...]], cands: list[Candidate], profiles: Mapping[int, TableProfile],
           sketches: Mapping[int, TableSketch], results: list[PairResult]) -> list[Candidate]:
    """The candidates of one group that the threshold samples cannot rule out (module docstring)."""
    parent, names = key
    found = _parent_sample(profiles[parent], names, sketches.get(parent))
    if found is None:
        return list(cands)  # nothing to look up: exact verification decides
    limit_p, hashes_p = found
    survivors = []
    for cand in cands:
        child = sketches[cand.pair.child]
        if child.sample_limit is None:
            survivors.append(cand)
            continue
        limit = min(limit_p, child.sample_limit)
        checked = [h for h in child.sample if h[0] <= limit]
        missing = sum(1 for h in checked if h not in hashes_p)
        if missing:
            results.append(PairResult(cand, "probe", False, None, {"checked": len(checked), "missing": missing}))
        else:
            survivors.append(cand)
    return survivors


def _exact(spark: SparkSession, pairs: list[tuple[int, Candidate]], parent_hashes: DataFrame,
           sketches: Mapping[int, TableSketch]) -> dict[int, PairStats]:
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    # A child's rows are stored under its sketch's table id: its own, or the source of a derived table.
    mapping = local_frame(spark, [(i, gid, sketches[cand.pair.child].table_id) for i, (gid, cand) in enumerate(pairs)],
                          [("pair", pa.int64()), ("gid", pa.int64()), ("tid", pa.int64())])
    by_set: dict[tuple[str, int], set[int]] = {}  # (dataset, col) -> children whose rows are there
    for _, c in pairs:
        sk = sketches[c.pair.child]
        if sk.rowset_path is not None:
            by_set.setdefault((sk.rowset_path, sk.rowset_code), set()).add(sk.table_id)
    # Each child's rows from its own set only: an older set of a changed table may still be on disk,
    # in a dataset another child's set lives in, and must not be read with it.
    rows = reduce(DataFrame.unionAll, [
        spark.read.parquet(lakefs.spark_path(path)).where((F.col("col") == code) & F.col("tid").isin(sorted(tids)))
        .select("tid", "a", "b", "cnt") for (path, code), tids in sorted(by_set.items())])
    joined = rows.join(F.broadcast(mapping), "tid").join(parent_hashes, ["gid", "a", "b"], "left")
    stats = joined.groupBy("pair").agg(
        F.count(F.lit(1)).alias("distinct_rows"),
        F.sum(F.when(F.col("pcnt").isNull(), 1).otherwise(0)).alias("missing"),
        F.sum(F.when(F.col("cnt") > F.coalesce(F.col("pcnt"), F.lit(0)), 1).otherwise(0)).alias("over"),
    ).collect()
    return {r["pair"]: (int(r["distinct_rows"]), int(r["missing"]), int(r["over"])) for r in stats}


def _record(pairs: list[tuple[int, Candidate]], stats: Mapping[int, PairStats], results: list[PairResult],
            deciding: set[Pair], overlaps: dict[Pair, tuple[int, int]], *, unread: Collection[int] = ()) -> None:
    """Containment results of the ``deciding`` pairs; the counts of every measured pair not contained.
    A pair absent from ``stats`` has no child row; those of ``unread`` were not measured (no result)."""
    for i, (_, cand) in enumerate(pairs):
        if i in unread:
            continue
        distinct, missing, over = stats.get(i, (0, 0, 0))
        if missing:
            overlaps[cand.pair] = (distinct, missing)
        if cand.pair in deciding:
            evidence = {"distinct_rows": distinct, "missing": missing, "rows_over_count": over}
            results.append(PairResult(cand, "exact", missing == 0, over == 0 if missing == 0 else None, evidence))


_Groups = Mapping[tuple[int, tuple[str, ...]], Sequence[Candidate]]
_SetKey = tuple[str, int, int]  # (dataset, table id, col code)


def _parent_set(key: tuple[int, tuple[str, ...]], profiles: Mapping[int, TableProfile],
                sketches: Mapping[int, TableSketch]) -> tuple[_SetKey, int] | None:
    """Where stage 3 stored a group's parent set, and its bytes (None: not stored)."""
    parent, names = key
    found = stored_set(profiles[parent], names, sketches.get(parent))
    return None if found is None else ((found[0], parent, found[1]), found[2])


def _child_set(sketch: TableSketch) -> tuple[_SetKey, int] | None:
    """Where a child's rows are stored (under its sketch's table id: its own, or its source's), and their bytes."""
    if sketch.rowset_path is None:
        return None
    return (sketch.rowset_path, sketch.table_id, sketch.rowset_code), sketch.rowset_bytes


def _group_sets(key: tuple[int, tuple[str, ...]], cands: Sequence[Candidate], profiles: Mapping[int, TableProfile],
                sketches: Mapping[int, TableSketch]) -> dict[_SetKey, int] | None:
    """Bytes of each stored set one group reads (its parent's and its children's), or None when stage 3
    did not write one of them (then the group goes to Spark, which hashes what is missing)."""
    found = [_parent_set(key, profiles, sketches), *(_child_set(sketches[c.pair.child]) for c in cands)]
    return None if None in found else dict(f for f in found if f is not None)


def _batches(groups: _Groups, profiles: Mapping[int, TableProfile], sketches: Mapping[int, TableSketch],
             local_bytes: int, batch_size: int) -> list[tuple[Sequence[tuple[int, tuple[str, ...]]], bool]]:
    """The groups in batches ``(keys, on the driver)``: those whose sets are all stored are packed so that
    each batch's distinct sets total at most ``local_bytes`` (verified on the driver: each dataset read
    once per batch, each parent's hash table built once for all its children); the others
    ``batch_size`` to a Spark job, as is every group when ``local_bytes`` is 0.

    Packing by bytes, not by ``batch_size``, matters once the sets outgrow the driver's budget: a batch
    reads its datasets' row groups that hold any of its sets, and with scattered table ids that is most
    of them, so the number of local batches is the number of times the hash sets are read."""
    local: list[Sequence[tuple[int, tuple[str, ...]]]] = []
    spark: list[tuple[int, tuple[str, ...]]] = []
    batch: list[tuple[int, tuple[str, ...]]] = []
    seen: set[_SetKey] = set()
    total = 0
    for key in sorted(groups):
        sets = _group_sets(key, groups[key], profiles, sketches)
        if sets is None or local_bytes <= 0 or sum(sets.values()) > local_bytes:
            spark.append(key)
            continue
        extra = sum(n for k, n in sets.items() if k not in seen)
        if batch and total + extra > local_bytes:
            local.append(batch)
            batch, seen, total = [], set(), 0
            extra = sum(sets.values())
        batch.append(key)
        seen.update(sets)
        total += extra
    if batch:
        local.append(batch)
    return [(keys, True) for keys in local] + [(keys, False) for keys in chunked(spark, batch_size)]


def _local_sets(groups: Mapping[int, tuple[int, tuple[str, ...]]], pairs: list[tuple[int, Candidate]],
                profiles: Mapping[int, TableProfile], sketches: Mapping[int, TableSketch],
                ) -> tuple[dict[int, _SetKey], dict[int, _SetKey], int] | None:
    """Where every set of a driver batch is (:mod:`r2d2.containment.exact_local`), and their bytes;
    None if one is not stored after all."""
    parent_sets: dict[int, _SetKey] = {}
    child_sets: dict[int, _SetKey] = {}
    sizes: dict[_SetKey, int] = {}  # each distinct set once
    for gid, key in groups.items():
        found = _parent_set(key, profiles, sketches)
        if found is None:
            return None
        parent_sets[gid], sizes[found[0]] = found
    for child in {c.pair.child for _, c in pairs}:
        found = _child_set(sketches[child])
        if found is None:
            return None
        child_sets[child], sizes[found[0]] = found
    return parent_sets, child_sets, sum(sizes.values())
