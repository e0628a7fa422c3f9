"""Column-sketch baseline: containment as data-discovery tools find it (LSH Ensemble over column values).

Tools that search lakes for joinable or contained tables (LSH Ensemble, Aurum, JOSIE-style indexes)
sketch each *column's* set of distinct values and index the sketches for containment queries; a
table is reported inside another when each of its columns is found (approximately) contained in the
same-named column of the other. They never pair values up into rows, so a table whose columns hold
the right values in the wrong combinations (R2D2's "row pairing" near miss) is a false positive, and
approximate sketches can miss or invent containments at the margins. This module does exactly that,
so the suite can report its precision and recall against the generator's truth:

1. every table in a schema candidate is read once with Spark (same-schema plain Parquet tables
   share one scan, as in :mod:`bench.baselines`); each value is hashed with R2D2's canonical 32-bit
   value hash (:func:`r2d2.containment.hashing.value_hashes`), so equal values hash equally whatever
   the file format;
2. per column, in Python workers (``mapInArrow``; values never leave the executors): a MinHash
   signature in datasketch's ``affine32`` format (:func:`r2d2.containment.minhash.signature`) and a
   HyperLogLog register array in datasketch's layout, both merged on the driver (min / max);
3. every parent column is indexed in a :class:`datasketch.MinHashLSHEnsemble` (key = table id and
   column key, size = the HyperLogLog distinct count); every child column is a query. The ensemble
   is tuned for recall (false-negative weight 0.95): with datasketch's default equal weights it picks
   5-8 rows per band, and a child column whose parent column has twice its distinct values (Jaccard
   0.5, containment 1) is then found only about a third of the time (measured on random sets,
   128 permutations); the tool would look broken for a reason that is not the method's;
4. a schema candidate P ⊇ C (same names case-insensitively, same type family: the schema stage) is
   reported when every column of C returned P's same-named column. Both directions → ``duplicate``.

Nulls are ignored (value sets, as the tools do). A child column without a value matches any
same-named column. The ``multiset`` flag cannot be known from column sets: it is guessed from row
counts (child rows ≤ parent rows).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from functools import reduce

import numpy as np
import pyarrow as pa
from datasketch import HyperLogLog, LeanMinHash, MinHashLSHEnsemble
from pyspark.sql import DataFrame, SparkSession

from bench.baselines import BaselineResult, _to_edges
from r2d2.containment import hashing
from r2d2.containment import minhash as mh
from r2d2.containment.candidates import Candidate
from r2d2.lake.read import group_key, groupable, read_table, read_tagged
from r2d2.types import TableProfile

__all__ = ["column_sketch_baseline"]

_HLL_P = 12  # 4,096 registers: ~1.6% standard error on distinct counts
_SIZE_GRID = 1.05  # sizes rounded to a 5% log grid (see _grid)
_OUT_SCHEMA = "tid long, col int, sig binary, hll binary"


def _hll_registers(hashes: np.ndarray, p: int = _HLL_P) -> np.ndarray:
    """datasketch ``HyperLogLog(p)`` registers of 32-bit ``hashes`` (what ``update`` would give with an
    identity hash function), vectorised."""
    idx = (hashes & np.uint32((1 << p) - 1)).astype(np.intp)
    bits = hashes >> np.uint32(p)
    bit_length = np.frexp(bits.astype(np.float64))[1]  # exact for integers below 2^53; 0 for 0
    rank = ((32 - p) - bit_length + 1).astype(np.int8)
    reg = np.zeros(1 << p, dtype=np.int8)
    np.maximum.at(reg, idx, rank)
    return reg


def _sketch_partition(num_perm: int, seed: int):
    """mapInArrow body: per (table, column) of the partition, one MinHash signature and one HLL
    register array, emitted once at the end of the partition (partials are merged on the driver)."""
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        sigs: dict[tuple[int, int], np.ndarray] = {}
        regs: dict[tuple[int, int], np.ndarray] = {}
        for batch in batches:
            tid = batch.column("tid").to_numpy(zero_copy_only=False)
            vals = batch.column("vals")
            for t in np.unique(tid):
                sub = vals.take(pa.array(np.flatnonzero(tid == t)))
                width = sub.value_lengths()[0].as_py() if len(sub) else 0
                flat = sub.flatten()  # row-major: `width` values per row, nulls kept
                hashes = flat.fill_null(0).to_numpy()
                present = flat.is_valid().to_numpy(zero_copy_only=False)
                for c in range(width):
                    col = np.unique(hashes[c::width][present[c::width]].astype(np.uint32))
                    key = (int(t), c)
                    sig = mh.signature(col, num_perm=num_perm, seed=seed)
                    reg = _hll_registers(col)
                    if key in sigs:
                        np.minimum(sigs[key], sig, out=sigs[key])
                        np.maximum(regs[key], reg, out=regs[key])
                    else:
                        sigs[key], regs[key] = sig, reg
        if sigs:
            keys = sorted(sigs)
            yield pa.RecordBatch.from_pydict({
                "tid": pa.array([k[0] for k in keys], pa.int64()),
                "col": pa.array([k[1] for k in keys], pa.int32()),
                "sig": pa.array([sigs[k].tobytes() for k in keys], pa.binary()),
                "hll": pa.array([regs[k].tobytes() for k in keys], pa.binary()),
            })
    return run


def _value_frame(spark: SparkSession, profiles: Mapping[int, TableProfile], unit: Sequence[int]) -> DataFrame:
    """``(tid, vals)``: one array of 32-bit value hashes per row, every supported column in key order."""
    first = profiles[unit[0]]
    if len(unit) > 1:
        df = read_tagged(spark, [(profiles[t], {"tid": t}) for t in unit])
        tid_sql = "tid"
    else:
        df = read_table(spark, first)
        tid_sql = f"{unit[0]}L"
    values = hashing.value_hashes(df, hashing.ordered_columns(first))
    return df.selectExpr(f"CAST({tid_sql} AS BIGINT) AS tid", f"array({', '.join(values)}) AS vals")


def _grid(size: int) -> int:
    """``size`` rounded to the nearest point of a 5% log grid. datasketch's optimal partitioning of the
    ensemble is quadratic (in Python) in the number of *distinct* sizes, so thousands of exact sizes
    would dominate the run; the HyperLogLog sizes carry ~1.6% error anyway."""
    return max(1, round(_SIZE_GRID ** round(np.log(size) / np.log(_SIZE_GRID))))


def column_sketch_baseline(spark: SparkSession, profiles: Mapping[int, TableProfile],
                           candidates_schema: Sequence[Candidate], *, threshold: float = 0.9,
                           num_perm: int = 128, seed: int = 1, num_part: int = 16, m: int = 8,
                           fn_weight: float = 0.95, batch_tables: int = 128) -> BaselineResult:
    """Schema candidates decided by LSH Ensemble containment queries over column sketches."""
    t0 = time.perf_counter()
    tables = sorted({c.pair.parent for c in candidates_schema} | {c.pair.child for c in candidates_schema})
    units: dict[object, list[int]] = {}
    for tid in tables:
        p = profiles[tid]
        units.setdefault((group_key(p), "g") if groupable(p) else ("single", tid), []).append(tid)
    batches: list[list[list[int]]] = [[]]
    size = 0
    for unit in units.values():  # batches of about `batch_tables` tables; a scan unit is never split
        if size and size + len(unit) > batch_tables:
            batches.append([])
            size = 0
        batches[-1].append(unit)
        size += len(unit)

    sigs: dict[tuple[int, int], np.ndarray] = {}
    regs: dict[tuple[int, int], np.ndarray] = {}
    bytes_read = jobs = 0
    for batch in batches:
        if not batch:
            continue
        union = reduce(DataFrame.unionAll, [_value_frame(spark, profiles, u) for u in batch])
        for row in union.mapInArrow(_sketch_partition(num_perm, seed), _OUT_SCHEMA).collect():
            key = (int(row["tid"]), int(row["col"]))
            sig = np.frombuffer(row["sig"], dtype=np.uint32)
            reg = np.frombuffer(row["hll"], dtype=np.int8)
            sigs[key] = np.minimum(sigs[key], sig) if key in sigs else sig.copy()
            regs[key] = np.maximum(regs[key], reg) if key in regs else reg.copy()
        jobs += 1
        for unit in batch:
            for tid in unit:
                bytes_read += profiles[tid].scan_bytes([c.name for c in profiles[tid].supported_columns])
    t_sketch = time.perf_counter() - t0

    # (table id, column key) -> (LeanMinHash, distinct-count estimate); no entry for a column without values
    sketches: dict[tuple[int, str], tuple[LeanMinHash, int]] = {}
    for tid in tables:
        for c, col in enumerate(hashing.ordered_columns(profiles[tid])):
            partial = sigs.get((tid, c))
            if partial is None or bool(np.all(partial == mh.EMPTY)):
                continue
            est = HyperLogLog(reg=regs[(tid, c)].copy()).count()
            lean = LeanMinHash(seed=seed, hashvalues=partial, scheme=mh.SCHEME)
            sketches[(tid, col.key)] = (lean, _grid(round(est)))

    t1 = time.perf_counter()
    parents = {c.pair.parent for c in candidates_schema}
    entries = [(key, lean, n) for key, (lean, n) in sketches.items() if key[0] in parents]
    ensemble = MinHashLSHEnsemble(threshold=threshold, num_perm=num_perm, num_part=num_part, m=m,
                                  weights=(round(1.0 - fn_weight, 6), fn_weight))
    if entries:
        ensemble.index(entries)
    t_index = time.perf_counter() - t1

    hits: dict[tuple[int, str], set[tuple[int, str]] | None] = {}  # None: a child column without values

    def found(child: int, key: str) -> set[tuple[int, str]] | None:
        if (child, key) not in hits:
            sk = sketches.get((child, key))
            hits[(child, key)] = None if sk is None or not entries else set(ensemble.query(sk[0], sk[1]))
        return hits[(child, key)]

    contained: dict[tuple[int, int], bool] = {}
    for cand in candidates_schema:
        parent, child = cand.pair.parent, cand.pair.child
        ok = True
        for child_key, parent_name in cand.column_map:
            got = found(child, child_key)
            if got is not None and (parent, parent_name.lower()) not in got:
                ok = False
                break
        if ok:
            cp, pp = profiles[child], profiles[parent]
            contained[(parent, child)] = (cp.num_rows or 0) <= (pp.num_rows or 0)
    edges = _to_edges(contained, profiles)
    return BaselineResult(edges, time.perf_counter() - t0, bytes_read, jobs, stats={
        "tables_read": len(tables), "scan_units": len(units), "batches": sum(1 for b in batches if b),
        "columns_sketched": len(sketches), "columns_indexed": len(entries), "queries": len(hits),
        "pairs": len(candidates_schema), "pairs_reported": len(contained),
        "sketch_seconds": round(t_sketch, 3), "index_seconds": round(t_index, 3),
        "threshold": threshold, "num_perm": num_perm, "num_part": num_part, "m": m, "fn_weight": fn_weight,
        "hll_p": _HLL_P, "size_grid": _SIZE_GRID})
