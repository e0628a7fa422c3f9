"""Read one data file of a profiled table with pyarrow: the profile's columns, typed as profiled.

The reader of file-level work (stage 3, CSV profiling, rebuilds): it runs on the driver or in a Spark
Python worker, so it imports pyarrow, the lake's filesystem layer and the error types only. Rules, the
same for every path that reads a table:

* Parquet: the named columns of the file (a missing one is an error naming it); INT96 timestamps at
  microsecond precision, as Spark reads them.
* Delta: a data file of the snapshot, read as Parquet against the log's schema: a column an older
  file lacks (added later) reads as nulls, as the Delta reader gives it; a narrower physical type is
  cast to the log's. With column mapping, columns are read by their physical names and named by
  their logical ones; rows a deletion vector removed are skipped (both from the log,
  :func:`r2d2.lake.delta.read_layout`).
* CSV (the CSV rule): a header row naming the table's columns; an empty field, quoted or not, is null
  for every type; a value that does not parse, or a row with the wrong number of fields, fails the
  file. Timestamps without a zone are UTC wall clock, with a zone are instants.
* Partition columns (hive ``key=value`` folders, Delta partition values) are constant per file: the
  raw value cast from text to the profiled type; ``None`` is null.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from r2d2.errors import TableReadError
from r2d2.lake import fs as lakefs

BATCH_ROWS = 1 << 16  # rows per batch handed to the caller: bounded memory for any file size
CSV_BLOCK = 1 << 20
TRUE_VALUES = ["true", "True", "TRUE"]
FALSE_VALUES = ["false", "False", "FALSE"]
_SIMPLE_TYPES: dict[str, pa.DataType] = {
    "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
    "uint8": pa.uint8(), "uint16": pa.uint16(), "uint32": pa.uint32(), "uint64": pa.uint64(),
    "halffloat": pa.float16(), "float": pa.float32(), "double": pa.float64(), "bool": pa.bool_(),
    "string": pa.string(), "large_string": pa.large_string(), "string_view": pa.string_view(),
    "binary": pa.binary(), "large_binary": pa.large_binary(), "binary_view": pa.binary_view(),
    "date32[day]": pa.date32(), "date64[ms]": pa.date64(),
}
_TIMESTAMP = re.compile(r"timestamp\[(s|ms|us|ns)(?:, tz=(.+))?\]$")
_DECIMAL = re.compile(r"decimal(?:32|64|128|256)\((\d+), (-?\d+)\)$")
_FIXED = re.compile(r"fixed_size_binary\[(\d+)\]$")
_ZONE_ERROR = re.compile(r"In CSV column #(\d+): .*expected no zone offset")


def arrow_type(physical_type: str) -> pa.DataType | None:
    """The Arrow type of a profile's type string (``str(pa.DataType)``), or None for nested types."""
    if physical_type in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[physical_type]
    if m := _TIMESTAMP.match(physical_type):
        return pa.timestamp(m.group(1), tz=m.group(2))
    if m := _DECIMAL.match(physical_type):
        precision, scale = int(m.group(1)), int(m.group(2))
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    if m := _FIXED.match(physical_type):
        return pa.binary(int(m.group(1)))
    return None


@dataclass(frozen=True)
class FileRead:
    """One data file of a table, as a work item names it (picklable, no profile needed)."""

    location: str  # the table (named in errors)
    path: str  # the file: an absolute path or a URI
    format: str  # parquet | csv | delta
    partition: tuple[tuple[str, str | None], ...] = ()  # partition column -> raw value
    physical: tuple[tuple[str, str], ...] = ()  # logical -> physical column name (Delta column mapping)
    deleted: tuple[int, ...] = ()  # positions of deleted rows (Delta deletion vector), sorted


@dataclass(frozen=True)
class ReadColumn:
    name: str
    physical_type: str


def file_reads(profile: object) -> list[FileRead]:
    """The files of a :class:`~r2d2.types.TableProfile`, in order."""
    location: str = profile.location  # type: ignore[attr-defined]
    fmt: str = profile.format  # type: ignore[attr-defined]
    files = profile.files  # type: ignore[attr-defined]
    if fmt != "delta" or not files or profile.delta_plain:  # type: ignore[attr-defined]
        # (a plain Delta snapshot's files are read as they are: its log is not opened again)
        return [FileRead(location, lakefs.join(location, f.path), fmt, tuple(f.partition)) for f in files]
    from r2d2.lake.delta import read_layout

    layout = read_layout(location, profile.delta_version)  # type: ignore[attr-defined]
    physical = tuple(sorted(layout.physical.items()))
    return [FileRead(location, lakefs.join(location, f.path), fmt, tuple(f.partition), physical,
                     layout.deleted.get(f.path, ())) for f in files]


def read_file(item: FileRead, columns: Sequence[ReadColumn], *, batch_rows: int = BATCH_ROWS) -> Iterator[pa.Table]:
    """The file's rows as tables with exactly ``columns`` (names and types as profiled), in batches."""
    parts = {k.lower(): v for k, v in item.partition}
    data = [c for c in columns if c.name.lower() not in parts]
    shown = lakefs.printable(item.path)
    try:
        if item.format == "csv":
            batches = _csv(item, data, batch_rows)
        else:
            batches = _parquet(item, data, batch_rows, lenient=item.format == "delta")
        for batch in batches:
            yield _with_partitions(batch, columns, parts, item)
    except TableReadError:
        raise
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TableReadError(f"{item.location}: cannot read {item.format} file {shown}: {reason}",
                             location=item.location, path=item.path) from exc


def read_all(item: FileRead, columns: Sequence[ReadColumn]) -> pa.Table:
    """The whole file as one table (small files)."""
    tables = list(read_file(item, columns))
    if not tables:
        return pa.table({c.name: pa.array([], _type(c)) for c in columns})
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _type(c: ReadColumn) -> pa.DataType:
    t = arrow_type(c.physical_type)
    if t is None:
        raise TableReadError(f"column {c.name!r} of type {c.physical_type} cannot be read as a flat column")
    return t


def _open(path: str, binary: bool = True):
    fs, p = lakefs.resolve(path)
    return fs.open_input_file(p) if binary else fs.open_input_stream(
        p, compression="gzip" if p.lower().endswith(".gz") else None)


def _parquet(item: FileRead, data: Sequence[ReadColumn], batch_rows: int, *, lenient: bool) -> Iterator[pa.Table]:
    physical = dict(item.physical)
    with _open(item.path) as handle:
        pf = pq.ParquetFile(handle, coerce_int96_timestamp_unit="us")
        names = set(pf.schema_arrow.names)
        present = [c for c in data if physical.get(c.name, c.name) in names]
        missing = [c for c in data if physical.get(c.name, c.name) not in names]
        if missing and not lenient:
            raise TableReadError(
                f"{item.location}: file {lakefs.printable(item.path)} has no column {missing[0].name!r} "
                f"(the table was profiled with it; re-scan the table)", location=item.location, path=item.path)
        rows = pf.metadata.num_rows
        if rows == 0:
            return
        wanted = [physical.get(c.name, c.name) for c in present]
        logical = {physical.get(c.name, c.name): c.name for c in present}
        skip = _Deleted(item.deleted)
        if rows <= batch_rows and wanted:  # a small file in one read: cheaper than a batch iterator
            table = skip.apply(_renamed(pf.read(columns=wanted, use_threads=False), logical))
            yield _conform(table, data, table.num_rows)
            return
        for batch in pf.iter_batches(batch_size=batch_rows, columns=wanted, use_threads=False):
            table = pa.Table.from_batches([batch]) if wanted else pa.table({"__n": pa.nulls(batch.num_rows)})
            table = skip.apply(_renamed(table, logical))
            yield _conform(table, data, table.num_rows)


def _renamed(table: pa.Table, logical: dict[str, str]) -> pa.Table:
    if all(logical.get(n, n) == n for n in table.column_names):
        return table
    return table.rename_columns([logical.get(n, n) for n in table.column_names])


class _Deleted:
    """Drops the rows of a deletion vector from consecutive batches of one file."""

    def __init__(self, positions: Sequence[int]) -> None:
        import numpy as np

        self.positions = np.asarray(positions, dtype=np.int64)
        self.offset = 0

    def apply(self, table: pa.Table) -> pa.Table:
        import numpy as np

        n = table.num_rows
        start, self.offset = self.offset, self.offset + n
        if not len(self.positions):
            return table
        lo, hi = np.searchsorted(self.positions, [start, start + n])
        if lo == hi:
            return table
        keep = np.ones(n, dtype=bool)
        keep[self.positions[lo:hi] - start] = False
        return table.filter(pa.array(keep))


def _conform(table: pa.Table, data: Sequence[ReadColumn], rows: int) -> pa.Table:
    """``data`` columns in order, each of its profiled type (absent ones as nulls)."""
    arrays, fields = [], []
    for c in data:
        t = _type(c)
        if c.name in table.column_names:
            col = table.column(c.name)
            if col.type != t:
                col = col.cast(t)
        else:
            col = pa.nulls(rows, t)
        arrays.append(col)
        fields.append(pa.field(c.name, t))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields)) if fields else pa.table({"__n": pa.nulls(rows)})


def _csv(item: FileRead, data: Sequence[ReadColumn], batch_rows: int) -> Iterator[pa.Table]:
    types = {c.name: _type(c) for c in data}
    # Timestamps are read as wall clock first; a column whose values carry a zone offset is read
    # again as instants (a file is retried only while none of its rows went out).
    attempt = {name: (pa.timestamp(t.unit) if pa.types.is_timestamp(t) else t) for name, t in types.items()}
    while True:
        sent = False
        try:
            for table in _csv_read(item, data, attempt, batch_rows):
                sent = True
                yield table
            return
        except pa.ArrowInvalid as exc:
            m = _ZONE_ERROR.search(str(exc))
            name = _csv_header(item)[int(m.group(1))] if m is not None else None
            if name is None or name not in types or attempt[name] == types[name]:
                raise
            if sent:
                raise TableReadError(
                    f"{item.location}: CSV column {name!r} of {lakefs.printable(item.path)} mixes timestamps "
                    f"with and without a zone offset", location=item.location, path=item.path) from exc
            attempt[name] = types[name]


def _csv_header(item: FileRead) -> list[str]:
    # (each reader is closed before its stream: its read-ahead must not outlive the file it reads)
    with _open(item.path, binary=False) as stream, pacsv.open_csv(
            stream, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK),
            convert_options=pacsv.ConvertOptions(column_types={}, strings_can_be_null=True)) as reader:
        return list(reader.schema.names)


def _csv_read(item: FileRead, data: Sequence[ReadColumn], types: dict[str, pa.DataType],
              batch_rows: int) -> Iterator[pa.Table]:
    with _open(item.path, binary=False) as stream, pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(block_size=CSV_BLOCK),
        convert_options=pacsv.ConvertOptions(
            column_types=types, null_values=[""], strings_can_be_null=True,
            quoted_strings_can_be_null=True, true_values=TRUE_VALUES, false_values=FALSE_VALUES,
            include_columns=[c.name for c in data] or None),
    ) as reader:
        header = reader.schema.names
        missing = [c.name for c in data if c.name not in header]
        if missing:
            raise TableReadError(f"{item.location}: CSV file {lakefs.printable(item.path)} has no column "
                                 f"{missing[0]!r} in its header", location=item.location, path=item.path)
        buffered: list[pa.RecordBatch] = []
        rows = 0
        for batch in reader:
            buffered.append(batch)
            rows += batch.num_rows
            if rows >= batch_rows:
                yield _conform(pa.Table.from_batches(buffered), data, rows)
                buffered, rows = [], 0
        if rows:
            yield _conform(pa.Table.from_batches(buffered), data, rows)


def _with_partitions(table: pa.Table, columns: Sequence[ReadColumn], parts: dict[str, str | None],
                     item: FileRead) -> pa.Table:
    if not parts:
        return table.select([c.name for c in columns]) if "__n" not in table.column_names else table
    n = table.num_rows
    arrays, fields = [], []
    for c in columns:
        t = _type(c)
        key = c.name.lower()
        if key in parts:
            raw = parts[key]
            if raw is None:
                arrays.append(pa.nulls(n, t))
            else:
                try:
                    # text -> naive timestamp -> the zone: partition timestamps are UTC wall clock
                    via = pa.timestamp(t.unit) if pa.types.is_timestamp(t) else t
                    value = pa.array([raw], pa.string()).cast(via).cast(t)[0]
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise TableReadError(
                        f"{item.location}: partition value {c.name}={raw!r} of {lakefs.printable(item.path)} "
                        f"is not a {c.physical_type}", location=item.location, path=item.path) from exc
                arrays.append(pa.repeat(value, n))
        else:
            arrays.append(table.column(c.name))
        fields.append(pa.field(c.name, t))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
