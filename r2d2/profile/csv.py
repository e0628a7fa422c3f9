"""Profile CSV tables: each file read once with pyarrow (CSV has no footer), file by file.

The CSV rule is :mod:`r2d2.lake.arrow_read`'s, shared with every other read of a CSV table. A table's
columns come from the first block of its first file (:func:`r2d2.lake.csv.infer_schema`); each file
then gives its row count and, per column, the null count, min and max (NaN left out), computed with
Arrow kernels; a table's statistics are their exact aggregate. The unit of work is a file: the first
file of every table (with the schema inference) in one round, the other files of many-file tables in
a second, each round run by the caller's executor (driver threads for small work, one Spark job for
large). A file that fails fails its table with the file's reason; the other tables go on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from r2d2.errors import TableReadError
from r2d2.lake.arrow_read import FileRead, ReadColumn, read_file
from r2d2.lake.csv import infer_schema
from r2d2.lake.discover import DiscoveredTable
from r2d2.lake.fs import join
from r2d2.profile.families import column_of
from r2d2.profile.parquet import unsupported_issues
from r2d2.profile.partitions import partition_columns
from r2d2.profile.stats import Bound, StatsAccumulator, canonical
from r2d2.types import Column, ColumnStats, Family, FileEntry, TableProfile, stat_order_key

_Cols = tuple[Column, ...]


@dataclass(frozen=True)
class CsvFileWork:
    """One CSV file of a table; ``columns`` None: infer them from this file (a table's first file)."""

    table: DiscoveredTable
    file: FileEntry
    columns: _Cols | None = None


@dataclass
class CsvFileStats:
    columns: _Cols
    rows: int = 0
    nulls: dict[str, int] = field(default_factory=dict)  # column key -> nulls
    low: dict[str, Any] = field(default_factory=dict)  # column key -> canonical min (absent: none)
    high: dict[str, Any] = field(default_factory=dict)


def columns_of(table: DiscoveredTable, first: FileEntry) -> _Cols:
    """The table's columns: data columns from the CSV header of ``first``, then partition columns."""
    schema = infer_schema(table.location, first)
    parts = partition_columns(table.files, table.partition_columns)
    keys = {c.key for c in parts}
    return tuple([column_of(f) for f in schema if f.name.lower() not in keys] + parts)


def _value(c: Column, scalar: pa.Scalar) -> Any:
    if not scalar.is_valid:
        return None
    if c.family is Family.TIMESTAMP:
        return canonical(c.family, scalar.cast(pa.int64()).as_py(), scalar.type.unit)
    if c.family is Family.DATE:
        return canonical(c.family, scalar.cast(pa.int32()).as_py())
    return canonical(c.family, scalar.as_py())


def _extreme(family: Family, a: Any, b: Any, pick: Callable[..., Any]) -> Any:
    if a is None or b is None:
        return b if a is None else a
    return pick(a, b, key=lambda v: stat_order_key(family, v))


def file_stats(work: CsvFileWork) -> CsvFileStats:
    """Read one file: rows, nulls, min and max per column (runs on the driver or in a worker)."""
    t = work.table
    cols = work.columns if work.columns is not None else columns_of(t, work.file)
    out = CsvFileStats(cols)
    item = FileRead(t.location, join(t.location, work.file.path), "csv", tuple(work.file.partition))
    for batch in read_file(item, [ReadColumn(c.name, c.physical_type) for c in cols]):
        out.rows += batch.num_rows
        for c in cols:
            arr = batch.column(c.name)
            out.nulls[c.key] = out.nulls.get(c.key, 0) + arr.null_count
            if not c.family.comparable or arr.null_count == len(arr):
                continue
            mm = pc.min_max(arr)  # NaN is left out, unless every value is NaN: then no bound (None)
            out.low[c.key] = _extreme(c.family, out.low.get(c.key), _value(c, mm["min"]), min)
            out.high[c.key] = _extreme(c.family, out.high.get(c.key), _value(c, mm["max"]), max)
    return out


def _profile(table: DiscoveredTable, parts: Sequence[CsvFileStats]) -> TableProfile:
    cols = parts[0].columns
    stats: dict[str, ColumnStats] = {}
    for c in cols:
        acc = StatsAccumulator(c.family)
        for p in parts:
            nulls = p.nulls.get(c.key, 0)
            lo, hi = p.low.get(c.key), p.high.get(c.key)
            if lo is None or hi is None:  # only nulls and NaN (or not comparable): bounds no value
                acc.add_nulls(nulls)
                if not c.family.comparable:
                    acc.min_unknown = acc.max_unknown = True
                continue
            acc.add(rows=p.rows, nulls=nulls, low=Bound(lo, True), high=Bound(hi, True))
        stats[c.key] = acc.result()
    size = sum(f.size for f in table.files)
    return TableProfile(
        location=table.location, format="csv", fingerprint=table.fingerprint, columns=cols, stats=stats,
        num_rows=sum(p.rows for p in parts), num_bytes=size, files=table.files,
        partition_columns=table.partition_columns, data_read=True, bytes_read=size,
        issues=unsupported_issues(table.location, cols))


Runner = Callable[[Sequence[CsvFileWork]], list[Any]]  # file_stats of each, or an ItemFailure


def profile_csv_tables(tables: Sequence[DiscoveredTable], run: Runner) -> list[TableProfile | TableReadError]:
    """One result (profile or error) per table, in order; ``run`` maps :func:`file_stats` over work items."""
    from r2d2.engine.items import ItemFailure

    results: list[TableProfile | TableReadError | None] = [None] * len(tables)
    firsts: list[tuple[int, CsvFileWork]] = []
    for i, t in enumerate(tables):
        if not t.files:
            results[i] = TableReadError(f"{t.location}: no data file", location=t.location)
        else:
            firsts.append((i, CsvFileWork(t, t.files[0])))
    done: dict[int, list[CsvFileStats]] = {}
    rest: list[tuple[int, CsvFileWork]] = []
    for (i, _), res in zip(firsts, run([w for _, w in firsts]), strict=True):
        if isinstance(res, ItemFailure):
            results[i] = TableReadError(_located(tables[i], res.message), location=tables[i].location)
            continue
        done[i] = [res]
        rest += [(i, CsvFileWork(tables[i], f, res.columns)) for f in tables[i].files[1:]]
    for (i, _), res in zip(rest, run([w for _, w in rest]), strict=True):
        if i not in done:
            continue  # an earlier file of the table failed
        if isinstance(res, ItemFailure):
            results[i] = TableReadError(_located(tables[i], res.message), location=tables[i].location)
            del done[i]
        else:
            done[i].append(res)
    for i, parts in done.items():
        results[i] = _profile(tables[i], parts)
    return [r for r in results if r is not None]


def _located(table: DiscoveredTable, message: str) -> str:
    return message if table.location in message else f"{table.location}: {message}"


def weight(work: CsvFileWork) -> int:
    return max(1, work.file.size)
