"""A lake shaped like a real one: thousands of mostly small tables, in many schemas and formats.

:func:`generate_real_lake` writes ``spec.tables`` tables (2,500 by default) and returns a
:class:`~r2d2.gen.lake.GeneratedLake` whose truth is complete and exact, so that
:func:`r2d2.gen.evaluate.score` and every caller of :func:`~r2d2.gen.lake.generate_lake` work unchanged.

Shape (defaults): table sizes log-normal around a 20 KB median, plus a few tables of tens of MB
(one per 800 tables); about 7% CSV, 9% Delta and 8% hive-partitioned Parquet tables, the rest plain
Parquet; about 1.5 data files per table (most tables one file, some several, hive tables one per
partition, Delta tables one per append). Schemas use every type family (int8..int64, float32/64 with
NaN and -0.0, decimals, short and long strings, binary, booleans, dates, timestamps in ms/us/ns with
and without a zone, nulls, a few nested columns). The families and the planted relations are
described in :mod:`r2d2.gen.real_plan`, the schemas and values in :mod:`r2d2.gen.real_schema`, the
derivations in :mod:`r2d2.gen.real_derive`, the formats in :mod:`r2d2.gen.real_write`.

Truth: each family's tables use the family's own column-name prefix, so a table can only contain a
table of its own family; within a family the truth is :func:`~r2d2.gen.truth.exact_oracle` over the
tables as their formats store them (:func:`~r2d2.gen.real_write.as_written`), so accidental
containments are included. Every planted relation is checked to hold and every near miss not to.

``GeneratedLake.cases`` maps each derivation (``copy``, ``projection``, ``filter``, ``projection_filter``,
``chain_a``/``_b``/``_c``, ``rollup``, ``rerun``, ``repeats``, ``near_changed``, ``near_extra_row``,
``near_repaired``, ``near_shifted``) to a flat list of (parent, child) pairs: parent, child, parent, child,
...; ``planted`` holds every pair that must be contained (a chain's links and their transitive pairs),
``near_misses`` every (source, near miss) pair.

Layout: ``<root>/<domain>/<dataset>/<table>/`` for a family's tables, ``<root>/teams/<team>/<table>/``
for team copies and ``<root>/<domain>/misc/<table>/`` for single tables: one table per folder.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from r2d2.gen.lake import GeneratedLake
from r2d2.gen.real_derive import (
    copy_variant,
    near_changed,
    near_extra_row,
    near_repaired,
    near_shifted,
    projection,
    rerun,
    row_filter,
    subset_with_repeats,
)
from r2d2.gen.real_plan import MIN_SOURCE_ROWS, FamilyPlan, TablePlan, plan_lake
from r2d2.gen.real_schema import ColumnSpec, bytes_per_row, file_overhead, sample_schema, snapshot_table
from r2d2.gen.real_write import Format, TableOut, as_written, lake_format, write_table
from r2d2.gen.truth import ExpectedEdge, Truth, exact_oracle

__all__ = ["RealLakeSpec", "generate_real_lake"]

_CSV_BYTES_FACTOR = 2.5  # a CSV file takes about this many times the bytes of the same rows in Parquet
_MIN_CSV_ROWS = 30  # so that no CSV column is all null (it would read back as strings)
_CONTAINED_ROLES = ("copy", "projection", "filter", "projection_filter", "chain_a", "chain_b", "chain_c",
                    "rerun", "repeats")


@dataclass(frozen=True, kw_only=True)
class RealLakeSpec:
    """What :func:`generate_real_lake` writes. Shares are fractions of all tables."""

    tables: int = 2500
    median_bytes: int = 20_000  # median on-disk size of a daily table
    sigma: float = 1.5  # log-normal shape of table sizes
    big_tables: int | None = None  # tables of tens of MB; None: one per 800 tables
    big_bytes: tuple[int, int] = (10_000_000, 60_000_000)
    csv_share: float = 0.07
    delta_share: float = 0.09
    hive_share: float = 0.08
    related_share: float = 0.25  # tables in families with planted relations (sources, derived, near misses)
    singleton_share: float = 0.12  # tables with a schema of their own
    workers: int = 0  # threads; 0 = os.cpu_count()

    def __post_init__(self) -> None:
        if self.tables < 10:
            raise ValueError(f"tables must be >= 10, got {self.tables}")
        if not 1_000 <= self.median_bytes <= 10**9:
            raise ValueError(f"median_bytes must be in [1000, 1e9], got {self.median_bytes}")
        if not 0.0 <= self.sigma <= 4.0:
            raise ValueError(f"sigma must be in [0, 4], got {self.sigma}")
        if self.big_tables is not None and self.big_tables < 0:
            raise ValueError(f"big_tables must be >= 0 or None, got {self.big_tables}")
        lo, hi = self.big_bytes
        if not 0 < lo <= hi:
            raise ValueError(f"big_bytes must be (low, high) with 0 < low <= high, got {self.big_bytes}")
        shares = {"csv_share": self.csv_share, "delta_share": self.delta_share, "hive_share": self.hive_share,
                  "related_share": self.related_share, "singleton_share": self.singleton_share}
        for name, value in shares.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.csv_share + self.delta_share + self.hive_share > 1.0:
            raise ValueError("csv_share + delta_share + hive_share must be <= 1")
        if self.related_share + self.singleton_share > 1.0:
            raise ValueError("related_share + singleton_share must be <= 1")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")

    @property
    def big(self) -> int:
        return round(self.tables / 800) if self.big_tables is None else self.big_tables


@dataclass
class _FamilyOut:
    formats: dict[str, str] = field(default_factory=dict)
    truth: Truth = field(default_factory=Truth)
    cases: dict[str, list[str]] = field(default_factory=dict)
    planted: list[tuple[str, str]] = field(default_factory=list)
    near: list[tuple[str, str]] = field(default_factory=list)
    bytes: int = 0


class _Family:
    """Builds one family: its tables' content, then writes them and computes its truth."""

    def __init__(self, root: Path, plan: FamilyPlan) -> None:
        self.root = root
        self.plan = plan
        self.rng = np.random.default_rng(plan.seed)
        self.schema: tuple[ColumnSpec, ...] = sample_schema(
            self.rng, plan.prefix, csv_safe=plan.csv_safe, parquet_only=plan.parquet_only,
            nested=plan.kind != "rich", width=plan.width)
        self.key = self.schema[0].name
        self.partitionable = {c.name.lower(): c for c in self.schema if c.partitionable}
        self.next_id = int(self.rng.integers(1, 10**6))
        self.data: list[pa.Table] = []

    def _rows(self, t: TablePlan) -> int:
        if t.empty:
            return 0
        per_row = bytes_per_row(self.schema) * (_CSV_BYTES_FACTOR if t.fmt == "csv" else 1.0)
        rows = int((t.target_bytes - file_overhead(self.schema) * t.files) / per_row)
        if self.plan.kind == "rich":
            rows = max(rows, MIN_SOURCE_ROWS)
        return max(rows, _MIN_CSV_ROWS if t.fmt == "csv" else 1)

    def _snapshot(self, t: TablePlan) -> pa.Table:
        n = self._rows(t)
        table = snapshot_table(self.schema, self.rng, n, day=t.day, id_start=self.next_id)
        self.next_id += n
        return table

    def _keep(self, fmt: Format) -> str | None:
        return next(iter(self.partitionable.values())).name if fmt == "hive" and self.partitionable else None

    def _derive(self, t: TablePlan) -> pa.Table:
        rng, schema, key = self.rng, self.schema, self.key
        src = self.data[t.sources[0]]
        role = t.role
        if role == "copy":
            return copy_variant(src, rng)
        if role == "projection":
            return projection(src, rng, keep=self._keep(t.fmt))
        if role in ("filter", "chain_a"):
            return src.take(row_filter(src, rng, schema))
        if role in ("projection_filter", "chain_b", "chain_c"):
            sub = src.take(row_filter(src, rng, schema))
            return projection(sub, rng, keep=self._keep(t.fmt)) if sub.num_columns > 1 else sub
        if role == "rollup":
            return pa.concat_tables([self.data[i] for i in t.sources])
        if role == "rerun":
            return rerun(src, rng)
        if role == "repeats":
            return subset_with_repeats(src, rng, row_filter(src, rng, schema))
        if role == "near_changed":
            return near_changed(src, rng, schema, key)
        if role == "near_extra_row":
            return near_extra_row(src, rng, schema, key, row_filter(src, rng, schema))
        if role == "near_repaired":
            return near_repaired(src, rng, schema, key)
        if role == "near_shifted":
            return near_shifted(src, key)
        raise ValueError(f"unknown role {role!r}")

    def _out(self, t: TablePlan, data: pa.Table) -> TableOut:
        fmt = t.fmt
        by_lower = {n.lower(): n for n in data.column_names}
        parts = [by_lower[k] for k in self.partitionable if k in by_lower]
        partition = None
        # a partition column must leave another column in the files: Parquet files without columns
        # keep no row count (pyarrow writes them with zero rows)
        can_partition = bool(parts) and data.num_rows > 0 and data.num_columns > 1
        if fmt == "hive":
            if can_partition:
                partition = parts[0]
            else:
                fmt = "parquet"
        elif fmt == "delta" and can_partition and self.rng.random() < 0.25:
            strings = [p for p in parts if pa.types.is_string(data.schema.field(p).type)]
            partition = strings[0] if strings else None
        written = as_written(data, fmt)
        stale = None
        if fmt == "delta" and t.stale and data.num_rows:
            stale = written.slice(0, max(1, data.num_rows // 2))
        big = data.num_rows > 100_000 and self.rng.random() < 0.5
        return TableOut(self.root / t.path, fmt, written, files=t.files, partition=partition, stale=stale,
                        row_group_size=65_536 if big else None)

    def build(self) -> _FamilyOut:
        result = _FamilyOut()
        outs: list[TableOut] = []
        ancestors: list[list[int]] = []
        for t in self.plan.tables:
            data = self._snapshot(t) if t.role == "snapshot" else self._derive(t)
            out = self._out(t, data)
            # Tables derived from this one start from the rows its readers see (a one-column CSV file
            # drops its null rows: blank lines), so that what is planted below holds as read.
            self.data.append(out.data if out.data.num_rows != data.num_rows else data)
            ancestors.append(ancestors[t.sources[0]] + [t.sources[0]] if t.role in _CONTAINED_ROLES else [])
            outs.append(out)
        locs = [str(o.folder) for o in outs]
        for o, loc in zip(outs, locs, strict=True):
            write_table(o)
            result.formats[loc] = lake_format(o.fmt)
            result.bytes += _folder_bytes(o.folder)
        for i, t in enumerate(self.plan.tables):
            if t.role == "snapshot":
                continue
            rollup = t.role == "rollup"
            pairs = [(locs[i], locs[s]) for s in t.sources] if rollup else [(locs[t.sources[0]], locs[i])]
            for parent, child in pairs:
                result.cases.setdefault(t.role, []).extend([parent, child])
            if t.role.startswith("near_"):
                result.near += pairs
            else:  # a chain's tables are also planted under every earlier link
                result.planted += pairs if rollup else [(locs[a], locs[i]) for a in ancestors[i]]
        if len(outs) > 1:
            result.truth = exact_oracle({loc: o.data for loc, o in zip(locs, outs, strict=True)})
        for a, b in result.planted:
            if not result.truth.holds(a, b):
                raise RuntimeError(f"generator bug: planted edge {a} ⊇ {b} does not hold")
        for a, b in result.near:
            if result.truth.holds(a, b):
                raise RuntimeError(f"generator bug: near miss {a} ⊇ {b} holds")
        return result


def _folder_bytes(folder: Path) -> int:
    total = 0
    for base, _, files in os.walk(folder):
        total += sum(os.path.getsize(os.path.join(base, f)) for f in files)
    return total


def generate_real_lake(root: str | Path, spec: RealLakeSpec | None = None, *, seed: int) -> GeneratedLake:
    """Write a real-shaped lake under ``root`` (created; must be empty or absent) with its complete truth."""
    t0 = time.perf_counter()
    spec = spec or RealLakeSpec()
    root = Path(root).resolve()
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    plans = plan_lake(rng, tables=spec.tables, median_bytes=spec.median_bytes, sigma=spec.sigma,
                      big_tables=spec.big, big_bytes=spec.big_bytes, related_share=spec.related_share,
                      singleton_share=spec.singleton_share,
                      shares={"csv": spec.csv_share, "delta": spec.delta_share, "hive": spec.hive_share,
                              "parquet": 1.0 - spec.csv_share - spec.delta_share - spec.hive_share})
    # heaviest families first, so that a big table does not start last and run alone
    order = sorted(range(len(plans)), key=lambda i: -sum(t.target_bytes for t in plans[i].tables))
    with ThreadPoolExecutor(max_workers=spec.workers or os.cpu_count() or 1) as pool:
        futures = {i: pool.submit(lambda p: _Family(root, p).build(), plans[i]) for i in order}
        results = [futures[i].result() for i in range(len(plans))]
    lake = GeneratedLake(root=root, tables={}, truth=Truth(), bytes=0)
    edges: set[ExpectedEdge] = set()
    for r in results:
        lake.tables.update(r.formats)
        edges |= r.truth.edges
        for k, v in r.cases.items():
            lake.cases.setdefault(k, []).extend(v)
        lake.planted += r.planted
        lake.near_misses += r.near
        lake.bytes += r.bytes
    lake.truth = Truth(frozenset(edges))
    lake.seconds = time.perf_counter() - t0
    return lake
