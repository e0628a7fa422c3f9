"""Synthetic lake-like optimizer problems, for benchmarks and tests (pure, seeded).

A lake is made of *families*: a root table and tables derived from earlier ones of the family by
copying them (duplicates), filtering rows and/or projecting columns, so families hold duplicate groups,
chains and siblings. A table is modelled as a set of row blocks and a set of columns; ``P`` contains
``C`` exactly when both of C's sets are subsets of P's, so the edges of a family are closed transitively
by construction and duplicates have edges both ways. Family sizes adapt so that the lake has about
``edges_per_table`` edges per table.
"""

from __future__ import annotations

import math
import random

from r2d2.optimize.model import EdgeCost, Prices, Problem, TableCost, ThroughputModel

ROW_BLOCKS = 24
COLUMNS = 10
ROW_WIDTH_BYTES = 200  # bytes per row of a root table (all columns)
HASH_BYTES_PER_ROW = 24  # row-hash recipe: 24 bytes per distinct child row
PREDICATE_RECIPE_BYTES = 256
PROJECTION_RECIPE_BYTES = 64


def lake_problem(
    n_tables: int,
    *,
    edges_per_table: float = 10.0,
    seed: int = 0,
    prices: Prices | None = None,
    throughput: ThroughputModel | None = None,
    default_latency_limit_s: float = 600.0,
    default_accesses_per_month: float = 1.0,
) -> Problem:
    """A random lake of ``n_tables`` tables with about ``edges_per_table × n_tables`` verified edges."""
    rng = random.Random(seed)
    tables: list[TableCost] = []
    edges: list[EdgeCost] = []
    family_size = 8.0
    full_rows, full_cols = (1 << ROW_BLOCKS) - 1, (1 << COLUMNS) - 1
    while len(tables) < n_tables:
        k = min(max(2, round(family_size)), n_tables - len(tables))
        edges_before = len(edges)
        root_bytes = int(10 ** rng.uniform(7, 11))  # 10 MB .. 100 GB
        members: list[tuple[int, int, int, bool]] = []  # (table id, rows mask, cols mask, by predicate)
        for m in range(k):
            if m == 0:
                rows, cols, by_pred = full_rows, full_cols, False
            else:
                _, brows, bcols, _ = (
                    members[rng.randrange(len(members))] if rng.random() < 0.5 else members[-1]
                )
                kind = rng.random()
                rows, cols = brows, bcols
                if kind < 0.2:  # duplicate of the base
                    pass
                else:
                    if kind < 0.75:  # row filter
                        rows = _drop_bits(rng, brows, 0.85)
                    if kind > 0.5:  # projection
                        cols = _drop_bits(rng, bcols, 0.8)
                by_pred = rng.random() < 0.5
            tid = len(tables)
            nbytes = _bytes_of(root_bytes, rows, cols)
            tables.append(
                _table(
                    rng, tid, f"s3://lake/f{tid}", nbytes, default_latency_limit_s, default_accesses_per_month
                )
            )
            members.append((tid, rows, cols, by_pred))
        for pid, prows, pcols, _ in members:
            for cid, crows, ccols, by_pred in members:
                if pid != cid and crows & ~prows == 0 and ccols & ~pcols == 0:
                    scan = _bytes_of(root_bytes, prows, ccols)  # parent's rows, child's columns
                    if crows == prows:
                        recipe = PROJECTION_RECIPE_BYTES
                    elif by_pred:
                        recipe = PREDICATE_RECIPE_BYTES
                    else:
                        n_rows = root_bytes // ROW_WIDTH_BYTES * crows.bit_count() // ROW_BLOCKS
                        recipe = HASH_BYTES_PER_ROW * n_rows
                    edges.append(EdgeCost(pid, cid, scan, recipe))
        # steer the next family's size towards the edges still needed per remaining table
        family_ratio = (len(edges) - edges_before) / k
        remaining = n_tables - len(tables)
        needed = (edges_per_table * n_tables - len(edges)) / remaining if remaining else edges_per_table
        step = min(1.3, max(0.75, (max(needed, 0.1) / max(family_ratio, 0.1)) ** 0.5))
        family_size = max(2.0, min(300.0, family_size * step))
    return Problem(
        tables=tuple(tables),
        edges=tuple(edges),
        prices=prices or Prices(),
        throughput=throughput or ThroughputModel(bytes_per_s=250e6, overhead_s=20.0),
    )


def _drop_bits(rng: random.Random, mask: int, keep_p: float) -> int:
    bits = [b for b in range(mask.bit_length()) if mask >> b & 1]
    kept = [b for b in bits if rng.random() < keep_p] or [rng.choice(bits)]
    if len(kept) == len(bits) and len(bits) > 1:
        kept.remove(rng.choice(kept))  # a filter or projection removes at least one block
    return sum(1 << b for b in kept)


def _bytes_of(root_bytes: int, rows: int, cols: int) -> int:
    return root_bytes * rows.bit_count() * cols.bit_count() // (ROW_BLOCKS * COLUMNS)


def _table(
    rng: random.Random, tid: int, location: str, nbytes: int, default_limit: float, default_freq: float
) -> TableCost:
    r = rng.random()
    if r < 0.2:
        freq = default_freq  # no access record: the configured default
    elif r < 0.3:
        freq = 0.0
    elif r < 0.85:
        freq = rng.uniform(0.0, 8.0)
    else:
        freq = 10 ** rng.uniform(1.5, 3.5)  # hot table
    r = rng.random()
    limit = 60.0 if r < 0.2 else (math.inf if r < 0.3 else default_limit)
    return TableCost(tid, location, nbytes, freq, limit)
