"""The brute-force exact baseline: the script a user would write in an afternoon.

One process, no Spark, no hashing, no pruning beyond the schema:

1. find the tables (:func:`r2d2.lake.discover.discover`) and their columns: the first Parquet file's
   footer, the Delta log's schema, the CSV header with the types the CSV rule infers, plus hive
   partition columns (:mod:`r2d2.profile`);
2. candidate pairs: a child whose columns all have a supported type, and a parent holding each of
   them (same name case-insensitively, same type family: DESIGN.md);
3. read every table once with pyarrow (:func:`r2d2.lake.arrow_read.read_file`, the lake's reading
   rules), and turn the columns of tables in a candidate pair into canonical Python values: integers
   of any width as ``int``, floats with -0.0 as 0.0 and every NaN as one marker, decimals as
   ``Decimal`` (equal by value), dates as day numbers, timestamps of any unit and zone as nanoseconds
   since the epoch, strings, bytes, booleans, null as ``None``;
4. for each candidate pair, the child's rows (tuples over its columns, sorted by name) as a
   ``Counter``, the parent's rows projected on the same columns as another; the child is contained
   when its row set is a subset, ``multiset`` when no row is more frequent in the child.

Tables are processed one group of schema-connected tables at a time, so memory holds one group's
Python rows, never the lake's. Edges follow DESIGN.md: tables with zero rows or columns take part in
none, both directions between two tables are one ``duplicate`` edge (the smaller location as parent,
``multiset`` in that orientation). ``bytes_read`` is the data files' sizes on disk.

Reproduce::

    .venv/bin/python bench/bruteforce.py /path/to/lake [--truth truth.json] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

if __package__ in (None, ""):  # run as a script: make `bench` and `r2d2` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.result import BaselineResult
from r2d2.containment.report import EdgeOut
from r2d2.lake import fs as lakefs
from r2d2.lake.arrow_read import FileRead, ReadColumn, read_all
from r2d2.lake.discover import DiscoveredTable, discover
from r2d2.profile.csv import columns_of
from r2d2.profile.families import column_of
from r2d2.profile.partitions import partition_columns
from r2d2.types import Column, Family

__all__ = ["NAN", "bruteforce", "canonical_values", "table_columns"]

NAN = ("NaN",)  # one hashable marker for every NaN (float NaN is not equal to itself)
_NS_PER = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


# --------------------------------------------------------------------------- reading


def table_columns(table: DiscoveredTable) -> tuple[Column, ...]:
    """A discovered table's columns, as the lake's profiler sees them."""
    if table.format == "delta":
        assert table.delta_snapshot is not None
        return tuple(column_of(f) for f in table.delta_snapshot.schema)
    if table.format == "csv":
        return columns_of(table, table.files[0])
    fs, path = lakefs.resolve(lakefs.join(table.location, table.files[0].path))
    with fs.open_input_file(path) as handle:
        schema = pq.read_schema(handle)
    parts = partition_columns(table.files, table.partition_columns)
    keys = {c.key for c in parts}
    return tuple([column_of(f) for f in schema if f.name.lower() not in keys] + parts)


def read_table(table: DiscoveredTable, columns: Sequence[Column]) -> pa.Table:
    """Every row of ``table`` on ``columns`` (supported ones), read file by file."""
    wanted = [ReadColumn(c.name, c.physical_type) for c in columns]
    parts = [read_all(FileRead(table.location, lakefs.join(table.location, f.path), table.format, f.partition), wanted)
             for f in table.files]
    if not parts:  # an empty Delta table can have no data file
        return pa.table({c.name: pa.array([], pa.null()) for c in columns})
    return pa.concat_tables(parts) if len(parts) > 1 else parts[0]


# --------------------------------------------------------------------------- canonical values


def canonical_values(arr: pa.ChunkedArray | pa.Array, family: Family) -> list[Any]:
    """The column's values as canonical Python objects (see the module docstring)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    if family is Family.FLOAT:
        f = pc.fill_null(arr.cast(pa.float64()), 0.0).to_numpy(zero_copy_only=False).astype(np.float64)
        f = np.where(f == 0.0, 0.0, f)  # -0.0 -> 0.0
        out: list[Any] = f.tolist()
        for i in np.flatnonzero(np.isnan(f) & valid):
            out[i] = NAN
    elif family is Family.TIMESTAMP:
        ints = pc.fill_null(arr.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
        factor = _NS_PER[arr.type.unit]
        if factor == 1 or not ints.size or int(np.abs(ints).max()) < (2**63 - 1) // factor:
            out = (ints * factor).tolist()
        else:  # far from the epoch: Python integers do not overflow
            out = [v * factor for v in ints.tolist()]
    elif family is Family.DATE:
        out = pc.fill_null(arr.cast(pa.date32()).cast(pa.int32()), 0).to_numpy(zero_copy_only=False).tolist()
    elif family is Family.INTEGER:
        out = arr.cast(pa.int64()).to_pylist()
    else:  # decimals (Decimal is equal by value), strings, binary, booleans: Python's values are canonical
        out = arr.to_pylist()
    if family in (Family.FLOAT, Family.TIMESTAMP, Family.DATE) and not valid.all():
        for i in np.flatnonzero(~valid):
            out[i] = None
    return out


# --------------------------------------------------------------------------- candidates


def _compatible(child: dict[str, Family], parent: dict[str, Family]) -> bool:
    return all(parent.get(k) is f for k, f in child.items())


def _candidates(schemas: dict[str, tuple[Column, ...]]) -> dict[str, list[str]]:
    """child -> parents whose columns hold the child's (name case-insensitively, type family)."""
    usable: dict[str, dict[str, Family]] = {}
    for loc, cols in schemas.items():
        keys = [c.key for c in cols]
        if cols and len(set(keys)) == len(keys):  # duplicate names: no column can be matched
            usable[loc] = {c.key: c.family for c in cols if c.family is not Family.UNSUPPORTED}
    children = {loc for loc, cols in schemas.items()
                if loc in usable and all(c.family is not Family.UNSUPPORTED for c in cols)}
    # compare distinct column sets, not tables: same-schema tables share one comparison
    by_set: dict[frozenset[tuple[str, Family]], list[str]] = {}
    for loc, fams in usable.items():
        by_set.setdefault(frozenset(fams.items()), []).append(loc)
    out: dict[str, list[str]] = {}
    for cset, members in by_set.items():
        kids = [m for m in members if m in children]
        if not kids:
            continue
        child = dict(cset)
        parents = [p for pset, ps in by_set.items() if _compatible(child, dict(pset)) for p in ps]
        for kid in kids:
            out[kid] = sorted(p for p in parents if p != kid)
    return {k: v for k, v in out.items() if v}


def _groups(candidates: dict[str, list[str]]) -> list[list[str]]:
    """Connected groups of tables linked by a candidate pair (union-find)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for child, parents in candidates.items():
        for p in parents:
            parent[find(p)] = find(child)
    groups: dict[str, list[str]] = {}
    for x in parent:
        groups.setdefault(find(x), []).append(x)
    return sorted(sorted(g) for g in groups.values())


# --------------------------------------------------------------------------- containment


def _contained(group: Iterable[str], candidates: dict[str, list[str]], values: dict[str, dict[str, list[Any]]],
               rows: dict[str, int]) -> dict[tuple[str, str], bool]:
    found: dict[tuple[str, str], bool] = {}
    projected: dict[tuple[str, tuple[str, ...]], Counter] = {}
    for child in group:
        if child not in candidates or rows[child] == 0:
            continue
        keys = tuple(sorted(values[child]))
        mine = Counter(zip(*(values[child][k] for k in keys), strict=True))
        for parent in candidates[child]:
            if rows[parent] == 0:
                continue
            theirs = projected.get((parent, keys))
            if theirs is None:
                theirs = projected[(parent, keys)] = Counter(zip(*(values[parent][k] for k in keys), strict=True))
            if mine.keys() <= theirs.keys():
                found[(parent, child)] = all(theirs[r] >= n for r, n in mine.items())
    return found


def _edges(found: dict[tuple[str, str], bool]) -> list[EdgeOut]:
    out = []
    for (parent, child), multiset in found.items():
        if (child, parent) in found:  # both ways: one duplicate edge, the smaller location as parent
            if parent < child:
                out.append(EdgeOut(parent, child, "duplicate", True, multiset, "bruteforce"))
        else:
            out.append(EdgeOut(parent, child, "contains", True, multiset, "bruteforce"))
    return sorted(out, key=lambda e: (e.parent, e.child))


def bruteforce(roots: Sequence[str]) -> BaselineResult:
    """Every containment edge among the tables under ``roots``, exactly (see the module docstring)."""
    t0 = time.perf_counter()
    found_tables = discover([str(r) for r in roots])
    tables = {t.location: t for t in found_tables.tables}
    errors = [f"{e.location}: {e.message}" for e in found_tables.errors]
    schemas: dict[str, tuple[Column, ...]] = {}
    for loc, t in tables.items():
        try:
            schemas[loc] = table_columns(t)
        except Exception as exc:  # one unreadable table must not stop the run
            errors.append(f"{loc}: {exc}")
    candidates = _candidates(schemas)
    groups = _groups(candidates)
    t_schema = time.perf_counter() - t0
    grouped = {loc for g in groups for loc in g}
    rows: dict[str, int] = {}
    found: dict[tuple[str, str], bool] = {}
    bytes_read = 0

    def load(loc: str) -> pa.Table:
        nonlocal bytes_read
        cols = [c for c in schemas[loc] if c.family is not Family.UNSUPPORTED]
        table = read_table(tables[loc], cols)
        bytes_read += sum(f.size for f in tables[loc].files)
        rows[loc] = table.num_rows
        return table

    for loc in sorted(schemas):  # every table is read, even one no other table could contain or be in
        if loc not in grouped:
            load(loc)
    for group in groups:
        values: dict[str, dict[str, list[Any]]] = {}
        for loc in group:
            table = load(loc)
            if table.num_rows:
                values[loc] = {c.key: canonical_values(table.column(c.name), c.family)
                               for c in schemas[loc] if c.family is not Family.UNSUPPORTED}
        found.update(_contained(group, candidates, values, rows))
    edges = _edges(found)
    return BaselineResult(edges, time.perf_counter() - t0, bytes_read, 0, stats={
        "tables": len(tables), "tables_read": len(rows), "pairs": sum(len(v) for v in candidates.values()),
        "groups": len(groups), "largest_group": max((len(g) for g in groups), default=0),
        "schema_seconds": round(t_schema, 3), "errors": errors})


def main(argv: Sequence[str] | None = None) -> int:
    from r2d2.gen.evaluate import as_truth, score
    from r2d2.gen.truth import Truth

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("roots", nargs="+", help="lake root folders")
    ap.add_argument("--truth", type=Path, help="a truth file (Truth.save) to score the edges against")
    ap.add_argument("--json", type=Path, help="write the result (edges and figures) as JSON here")
    args = ap.parse_args(argv)
    result = bruteforce(args.roots)
    s = result.stats
    print(f"tables {s['tables']}  candidate pairs {s['pairs']}  groups {s['groups']}  edges {len(result.edges)}")
    print(f"seconds {result.seconds:.2f} (schemas {s['schema_seconds']:.2f})  bytes {result.bytes_read:,}")
    summary: dict[str, Any] = {"seconds": result.seconds, "bytes_read": result.bytes_read, "stats": s,
                               "edges": [e.to_json() for e in result.edges]}
    if args.truth:
        sc = score(as_truth(result.edges), Truth.load(args.truth))
        print(f"precision {sc.precision:.4f}  recall {sc.recall:.4f}  multiset flags wrong {len(sc.wrong_flags)}")
        summary.update(precision=sc.precision, recall=sc.recall, wrong_flags=len(sc.wrong_flags))
    for e in s["errors"]:
        print(f"skipped: {e}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    return 1 if s["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
