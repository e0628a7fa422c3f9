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

from collections.abc import Iterable, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from r2d2.engine.local import arrow_rows

# (distinct child rows, rows missing from the parent, rows whose count exceeds the parent's)
PairStats = tuple[int, int, int]


def _read(path: str, wanted: Iterable[tuple[int, int]]) -> pa.Table:
    """Rows ``(tid, col, a, b, cnt)`` of a hash-set dataset for (at least) the ``(tid, col)`` sets wanted.

    The filters prune row groups (sets are written sorted by tid, col); joins on ``(tid, col)`` then
    keep exactly the sets each side needs."""
    tids = sorted({t for t, _ in wanted})
    cols = sorted({c for _, c in wanted})
    return ds.dataset(path, format="parquet").to_table(
        columns=["tid", "col", "a", "b", "cnt"],
        filter=pc.field("tid").isin(tids) & pc.field("col").isin(cols))


def _keys(rows: Sequence[tuple[int, ...]], *names: str) -> pa.Table:
    """``(tid, col, *names)`` rows as a join table (``col`` int32 as in hash sets, the rest int64)."""
    return arrow_rows(rows, [("tid", pa.int64()), ("col", pa.int32()), *((n, pa.int64()) for n in names)])


def exact_stats(pairs: Sequence[tuple[int, int]],
                parent_sets: Mapping[int, tuple[str, int, int]],
                child_sets: Mapping[int, tuple[str, int]]) -> dict[int, PairStats]:
    """Stats of each pair ``i`` of ``pairs[i] = (gid, child)``.

    ``parent_sets[gid] = (dataset, tid, col)`` locates the parent hashes of group ``gid``;
    ``child_sets[child] = (dataset, col)`` the child's full row set. A pair whose child has no row
    (an empty set) is absent from the result, as in the Spark path. Each dataset is read once for
    both sides (a table's set often serves as a parent and as a child).
    """
    parents_at: dict[str, list[tuple[int, int, int]]] = {}  # dataset -> (tid, col, gid)
    for gid, (path, tid, col) in parent_sets.items():
        parents_at.setdefault(path, []).append((tid, col, gid))
    children_at: dict[str, list[tuple[int, int, int, int]]] = {}  # dataset -> (child tid, col, pair, gid)
    for i, (gid, child) in enumerate(pairs):
        if child in child_sets:
            path, col = child_sets[child]
            children_at.setdefault(path, []).append((child, col, i, gid))
    parents, kids = [], []
    for path in sorted(parents_at.keys() | children_at.keys()):
        p_keys, c_keys = parents_at.get(path, []), children_at.get(path, [])
        rows = _read(path, [(k[0], k[1]) for k in (*p_keys, *c_keys)])
        if p_keys:
            parents.append(rows.join(_keys(p_keys, "gid"), ["tid", "col"], join_type="inner")
                           .select(["gid", "a", "b", "cnt"]).rename_columns(["gid", "a", "b", "pcnt"]))
        if c_keys:  # one row per (pair, child hash): a child in several pairs is repeated
            kids.append(rows.join(_keys(c_keys, "pair", "gid"), ["tid", "col"], join_type="inner")
                        .select(["pair", "gid", "a", "b", "cnt"]))
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
