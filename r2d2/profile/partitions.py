"""Hive partition columns: types inferred like Spark (integers, else strings) and exact statistics.

A partition value is the same for every row of a file, so min/max over the files that have rows and
null counts (rows of files whose value is ``__HIVE_DEFAULT_PARTITION__``) are exact.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pyarrow as pa

from r2d2.profile.stats import Bound, StatsAccumulator, canonical
from r2d2.types import Column, ColumnStats, Family, FileEntry

_INT = re.compile(r"-?\d+")
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


def partition_type(values: Sequence[str | None]) -> pa.DataType:
    present = [v for v in values if v is not None]
    if present and all(_INT.fullmatch(v) for v in present):
        ints = [int(v) for v in present]
        if all(_INT32[0] <= i <= _INT32[1] for i in ints):
            return pa.int32()
        if all(_INT64[0] <= i <= _INT64[1] for i in ints):
            return pa.int64()
    return pa.string()


def partition_columns(files: Sequence[FileEntry], names: Sequence[str]) -> list[Column]:
    cols = []
    for i, name in enumerate(names):
        dtype = partition_type([f.partition[i][1] for f in files if len(f.partition) > i])
        family = Family.INTEGER if pa.types.is_integer(dtype) else Family.STRING
        cols.append(Column(name=name, physical_type=str(dtype), family=family, nullable=True))
    return cols


def typed_value(column: Column, raw: str | None) -> object:
    if raw is None:
        return None
    return int(raw) if column.family is Family.INTEGER else raw


def partition_stats(
    columns: Sequence[Column], files: Sequence[FileEntry], rows: Sequence[int | None]
) -> dict[str, ColumnStats]:
    """Exact statistics of partition columns from path values; ``rows[i]`` = rows of ``files[i]``."""
    out = {}
    for i, col in enumerate(columns):
        acc = StatsAccumulator(col.family)
        for f, n in zip(files, rows, strict=True):
            raw = f.partition[i][1] if len(f.partition) > i else None
            if raw is None:  # a null partition: all its rows are null, it bounds nothing
                acc.add_nulls(n)
                continue
            bound = Bound(canonical(col.family, typed_value(col, raw)), n is not None)
            acc.add(rows=n, nulls=0, low=bound, high=bound)
        out[col.key] = acc.result()
    return out
