"""Write a real-shaped lake's table in its format, and the content a reader gets back from it.

:func:`as_written` converts a generated table into what its format stores, so that the truth is
computed on what readers see:

* Parquet (plain or hive): unchanged (hive partition values read back as int32 or strings: the
  same type family, since only letters-only categories and small non-negative integers partition);
* Delta: timestamps in microseconds (Delta has no other unit; delta-rs would truncate silently),
  fixed-size binary as binary;
* CSV (the CSV rule of DESIGN.md): integers as int64, floats as float64, timestamps as microsecond
  UTC instants -- the types a CSV reader infers back; decimal, binary and nested columns have no
  CSV form and must not reach a CSV table.

:func:`write_table` writes one table into its own folder: Parquet and CSV files split by row ranges,
hive ``key=value`` folders, or a Delta table (one append per data file, optionally over an earlier,
overwritten version that stays on disk but is not part of the current snapshot).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import deltalake
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from r2d2.gen.truth import canonical_family
from r2d2.lake.csv import infer_schema
from r2d2.types import FileEntry

__all__ = ["Format", "TableOut", "as_written", "lake_format", "write_table"]

Format = Literal["parquet", "hive", "csv", "delta"]


@dataclass
class TableOut:
    """A table ready to write: its content as its format stores it (see :func:`as_written`)."""

    folder: Path
    fmt: Format
    data: pa.Table
    files: int = 1
    partition: str | None = None  # hive or Delta partition column
    stale: pa.Table | None = None  # Delta: an earlier version, overwritten
    row_group_size: int | None = None


def lake_format(fmt: Format) -> str:
    """The format discovery reports (``GeneratedLake.tables``): hive tables are Parquet."""
    return "parquet" if fmt == "hive" else fmt


def _cast(t: pa.Table, convert: Callable[[pa.DataType], pa.DataType]) -> pa.Table:
    fields = [pa.field(f.name, convert(f.type)) for f in t.schema]
    if all(a.type == b.type for a, b in zip(fields, t.schema, strict=True)):
        return t
    return pa.Table.from_arrays([c.cast(f.type, safe=False) for c, f in zip(t.columns, fields, strict=True)],
                                schema=pa.schema(fields))


def _delta_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz=t.tz)
    if pa.types.is_fixed_size_binary(t):
        return pa.binary()
    return t


def _csv_type(t: pa.DataType) -> pa.DataType:
    family = canonical_family(t)
    if family in ("decimal", "binary") or family is None:
        raise ValueError(f"generator bug: a {t} column cannot be written to CSV")
    if family == "integer":
        return pa.int64()
    if family == "float":
        return pa.float64()
    if family == "timestamp":
        return pa.timestamp("us", tz="UTC")
    return t


def as_written(data: pa.Table, fmt: Format) -> pa.Table:
    """``data`` as format ``fmt`` stores it (values equal under DESIGN.md's semantics when lossless)."""
    if fmt == "delta":
        return _cast(data, _delta_type)
    if fmt == "csv":
        out = _cast(data, _csv_type)
        if out.num_columns == 1:  # a null is a blank line there, and CSV readers (pyarrow, Spark) skip those
            out = out.filter(pc.is_valid(out.column(0)))
        return out
    return data


def _bounds(n: int, files: int) -> np.ndarray:
    return np.linspace(0, n, max(1, min(files, n)) + 1).astype(int) if n else np.array([0, 0])


def write_table(t: TableOut) -> None:
    """Write ``t`` into ``t.folder`` (created)."""
    t.folder.mkdir(parents=True, exist_ok=True)
    data, folder = t.data, t.folder
    if t.fmt == "delta":
        mode: Literal["overwrite", "append"] = "overwrite"
        parts = [t.partition] if t.partition else None
        if t.stale is not None:
            deltalake.write_deltalake(str(folder), t.stale, mode="overwrite", partition_by=parts)
        b = _bounds(data.num_rows, t.files)
        for k in range(len(b) - 1):
            deltalake.write_deltalake(str(folder), data.slice(b[k], b[k + 1] - b[k]), mode=mode, partition_by=parts)
            mode = "append"
        return
    if t.fmt == "hive":
        assert t.partition is not None
        pq.write_to_dataset(data, str(folder), partition_cols=[t.partition], basename_template="part-{i}.parquet")
        return
    b = _bounds(data.num_rows, t.files)
    for k in range(len(b) - 1):
        part = data.slice(b[k], b[k + 1] - b[k])
        if t.fmt == "csv":
            pacsv.write_csv(part, folder / f"part-{k:05d}.csv")
        else:
            pq.write_table(part, folder / f"part-{k:05d}.parquet", row_group_size=t.row_group_size)
    if t.fmt == "csv" and data.num_rows:
        _check_csv(t)


def _check_csv(t: TableOut) -> None:
    """Every row reads back, and the types the CSV rule infers from the first file keep every column's
    family."""
    rows = sum(pacsv.read_csv(f).num_rows for f in t.folder.glob("*.csv"))
    if rows != t.data.num_rows:
        raise RuntimeError(f"generator bug: {t.folder} reads back {rows} rows, {t.data.num_rows} written")
    first = sorted(t.folder.glob("*.csv"))[0]
    inferred = infer_schema(str(t.folder), FileEntry(first.name, first.stat().st_size, 0))
    for f in t.data.schema:
        got = inferred.field(f.name).type
        if canonical_family(got) != canonical_family(f.type):
            raise RuntimeError(f"generator bug: CSV column {f.name} of {t.folder} reads back as {got}, "
                               f"written as {f.type}")
