"""Exact verification of small hash sets on the driver, with Arrow instead of a Spark join.

Same question and same answer as the Spark path in :mod:`r2d2.containment.verify_job`: for every
pair, left-join the child's distinct full-row hashes (with counts) to its group's parent hashes on
the 128-bit hash and count the child rows with no parent match (``missing``) and those whose count
exceeds the parent's (``over``). Both read the same hash sets that stage 3 wrote; only the engine
differs. A Spark shuffle join costs about a microsecond per row and a few seconds per job on a
small cluster, so when the sets of a batch are small (``Settings.local_hashset_bytes``) Arrow's
multi-threaded hash join on the driver is several times faster. Large batches stay on Spark: they
would not fit the driver's memory. ``tests/test_exact_local.py`` checks both paths agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

# (distinct child rows, rows missing from the parent, rows whose count exceeds the parent's)
PairStats = tuple[int, int, int]


def _read(path: str, wanted: Sequence[tuple[int, int]]) -> pa.Table:
    """Rows ``(tid, col, a, b, cnt)`` of a hash-set dataset for the ``(tid, col)`` pairs wanted."""
    tids = sorted({t for t, _ in wanted})
    cols = sorted({c for _, c in wanted})
    # tid / col filters prune row groups (sets are written sorted by tid, col); the join keeps exactly `wanted`
    table = ds.dataset(path, format="parquet").to_table(
        columns=["tid", "col", "a", "b", "cnt"],
        filter=pc.field("tid").isin(tids) & pc.field("col").isin(cols))
    keys = pa.table({"tid": pa.array([t for t, _ in wanted], pa.int64()),
                     "col": pa.array([c for _, c in wanted], pa.int32())})
    return table.join(keys, ["tid", "col"], join_type="inner")


def exact_stats(pairs: Sequence[tuple[int, int]],
                parent_sets: Mapping[int, tuple[str, int, int]],
                child_sets: Mapping[int, tuple[str, int]]) -> dict[int, PairStats]:
    """Stats of each pair ``i`` of ``pairs[i] = (gid, child)``.

    ``parent_sets[gid] = (dataset, tid, col)`` locates the parent hashes of group ``gid``;
    ``child_sets[child] = (dataset, col)`` the child's full row set. A pair whose child has no row
    (an empty set) is absent from the result, as in the Spark path.
    """
    parents = []
    by_path: dict[str, list[tuple[int, int, int]]] = {}
    for gid, (path, tid, col) in parent_sets.items():
        by_path.setdefault(path, []).append((tid, col, gid))
    for path, entries in by_path.items():
        rows = _read(path, [(t, c) for t, c, _ in entries])
        gids = pa.table({"tid": pa.array([t for t, _, _ in entries], pa.int64()),
                         "col": pa.array([c for _, c, _ in entries], pa.int32()),
                         "gid": pa.array([g for _, _, g in entries], pa.int64())})
        parents.append(rows.join(gids, ["tid", "col"], join_type="inner")
                       .select(["gid", "a", "b", "cnt"]).rename_columns(["gid", "a", "b", "pcnt"]))
    kids = []
    by_child_path: dict[str, list[tuple[int, int]]] = {}
    for child, (path, col) in child_sets.items():
        by_child_path.setdefault(path, []).append((child, col))
    pair_map = pa.table({"pair": pa.array(range(len(pairs)), pa.int64()),
                         "gid": pa.array([g for g, _ in pairs], pa.int64()),
                         "tid": pa.array([c for _, c in pairs], pa.int64())})
    for path, sets in by_child_path.items():
        rows = _read(path, sets).select(["tid", "a", "b", "cnt"])
        kids.append(rows.join(pair_map, "tid", join_type="inner").select(["pair", "gid", "a", "b", "cnt"]))
    if not kids:
        return {}
    child = pa.concat_tables(kids)
    parent = pa.concat_tables(parents) if parents else pa.table({
        "gid": pa.array([], pa.int64()), "a": pa.array([], pa.int64()), "b": pa.array([], pa.int64()),
        "pcnt": pa.array([], pa.int64())})
    joined = child.join(parent, ["gid", "a", "b"], join_type="left outer")
    pcnt = joined.column("pcnt")
    missing = pc.cast(pc.is_null(pcnt), pa.int64())
    over = pc.cast(pc.greater(joined.column("cnt"), pc.fill_null(pcnt, 0)), pa.int64())
    stats = (pa.table({"pair": joined.column("pair"), "missing": missing, "over": over})
             .group_by("pair").aggregate([("pair", "count"), ("missing", "sum"), ("over", "sum")]))
    return {p: (n, m, o) for p, n, m, o in zip(stats.column("pair").to_pylist(), stats.column("pair_count").to_pylist(),
                                              stats.column("missing_sum").to_pylist(),
                                              stats.column("over_sum").to_pylist(), strict=True)}
